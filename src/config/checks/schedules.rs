//! Schedules with their layers and time windows, and escalation policies.

use chrono::{NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use toml::Spanned;

use super::{Checker, Known};
use crate::config::fields::{
    parse_day_time, parse_days, parse_hhmm, parse_rotation, parse_start, parse_target, parse_tz,
};
use crate::config::model::{
    EscalationLevel, EscalationPolicy, Layer, Restriction, Rotation, Schedule, Target,
};
use crate::config::raw::{RawLayer, RawPolicy, RawRestriction, RawSchedule, Str};

impl Checker<'_> {
    pub(super) fn schedule(
        &mut self,
        i: usize,
        s: &Spanned<RawSchedule>,
        known: &Known,
    ) -> Schedule {
        let path = format!("schedules[{i}]");
        let raw = s.get_ref();
        self.check_ref(&known.teams, "team", &raw.team, format!("{path}.team"));
        let tz_field = format!("{path}.time_zone");
        let time_zone = parse_tz(raw.time_zone.get_ref());
        let tz_ok = time_zone.is_ok();
        let time_zone = self.take(time_zone, raw.time_zone.span(), &tz_field, Tz::UTC);
        if raw.layers.is_empty() {
            self.err(s.span(), format!("{path}.layers"), "schedule has no layers");
        }
        let layers = (raw.layers.iter().enumerate())
            .map(|(j, l)| {
                // Skip the DST check against a placeholder zone.
                let zone = tz_ok.then_some(time_zone);
                self.layer(&format!("{path}.layers[{j}]"), l, zone, known)
            })
            .collect();
        Schedule {
            id: raw.id.get_ref().clone(),
            team: raw.team.get_ref().clone(),
            time_zone,
            layers,
        }
    }

    fn layer(&mut self, path: &str, l: &Spanned<RawLayer>, tz: Option<Tz>, known: &Known) -> Layer {
        let raw = l.get_ref();
        if raw.name.get_ref().trim().is_empty() {
            self.err(
                raw.name.span(),
                format!("{path}.name"),
                "layer name is empty",
            );
        }
        let start_field = format!("{path}.start");
        let start = match parse_start(raw.start.get_ref()) {
            Ok(start) => {
                // A start the clocks skip over has no instant to anchor the rotation on.
                if tz.is_some_and(|tz| tz.from_local_datetime(&start).earliest().is_none()) {
                    let tz = tz.map_or("", |tz| tz.name());
                    let m = format!(
                        "start {start} does not exist in {tz}: clocks skip it for daylight saving"
                    );
                    self.err(raw.start.span(), start_field, m);
                }
                start
            }
            Err(m) => {
                self.err(raw.start.span(), start_field, m);
                NaiveDateTime::MIN
            }
        };
        let rot_field = format!("{path}.rotation");
        let rotation = parse_rotation(raw.rotation.get_ref());
        let rotation = self.take(rotation, raw.rotation.span(), &rot_field, Rotation::Daily);
        let handoff = match &raw.handoff {
            Some(h) => {
                let field = format!("{path}.handoff");
                self.take(parse_hhmm(h.get_ref()), h.span(), &field, NaiveTime::MIN)
            }
            None => start.time(),
        };
        let users_field = format!("{path}.users");
        let users = match &raw.users {
            None => {
                self.err(l.span(), users_field, "layer has no users");
                Vec::new()
            }
            Some(users) if users.get_ref().is_empty() => {
                self.err(users.span(), users_field, "layer has no users");
                Vec::new()
            }
            Some(users) => {
                for (k, u) in users.get_ref().iter().enumerate() {
                    self.check_ref(&known.users, "user", u, format!("{users_field}[{k}]"));
                }
                users
                    .get_ref()
                    .iter()
                    .map(|u| u.get_ref().clone())
                    .collect()
            }
        };
        let restrictions = (raw.restrictions.iter().enumerate())
            .map(|(k, r)| self.restriction(r.get_ref(), &format!("{path}.restrictions[{k}]")))
            .collect();
        Layer {
            name: raw.name.get_ref().clone(),
            start,
            rotation,
            handoff,
            users,
            restrictions,
        }
    }

    pub(super) fn policy(
        &mut self,
        i: usize,
        p: &Spanned<RawPolicy>,
        known: &Known,
    ) -> EscalationPolicy {
        let path = format!("escalation_policies[{i}]");
        let raw = p.get_ref();
        if raw.levels.is_empty() {
            self.err(
                p.span(),
                format!("{path}.levels"),
                "escalation policy has no levels",
            );
        }
        let levels = (raw.levels.iter().enumerate())
            .map(|(j, level)| {
                let field = format!("{path}.levels[{j}].targets");
                let targets = match &level.get_ref().targets {
                    Some(t) if !t.get_ref().is_empty() => (t.get_ref().iter().enumerate())
                        .filter_map(|(k, t)| self.target(t, format!("{field}[{k}]"), known))
                        .collect(),
                    other => {
                        let span = other.as_ref().map_or(level.span(), |t| t.span());
                        self.err(span, field, "escalation level has no targets");
                        Vec::new()
                    }
                };
                EscalationLevel {
                    after_minutes: level.get_ref().after_minutes,
                    targets,
                }
            })
            .collect();
        EscalationPolicy {
            id: raw.id.get_ref().clone(),
            repeat: raw.repeat,
            levels,
        }
    }

    fn target(&mut self, t: &Str, field: String, known: &Known) -> Option<Target> {
        let target = match parse_target(t.get_ref()) {
            Ok(target) => target,
            Err(m) => {
                self.err(t.span(), field, m);
                return None;
            }
        };
        let (set, kind, id) = match &target {
            Target::User(id) => (&known.users, "user", id),
            Target::Schedule(id) => (&known.schedules, "schedule", id),
            Target::Team(id) => (&known.teams, "team", id),
        };
        if !set.contains(id.as_str()) {
            self.err(t.span(), field, format!("unknown {kind} `{id}`"));
        }
        Some(target)
    }

    /// One time window: the daily form (`days`, `from`, `to`) or the weekly
    /// form (`from = "fri 18:00"`, `to = "mon 09:00"`).
    pub(super) fn restriction(&mut self, r: &RawRestriction, p: &str) -> Restriction {
        let Some(days_raw) = &r.days else {
            // Weekly form: from = "fri 18:00", to = "mon 09:00".
            let from = parse_day_time(r.from.get_ref());
            let (fd, from) = self.take(
                from,
                r.from.span(),
                &format!("{p}.from"),
                (0, NaiveTime::MIN),
            );
            let to = parse_day_time(r.to.get_ref());
            let (td, to) = self.take(to, r.to.span(), &format!("{p}.to"), (0, NaiveTime::MIN));
            let mut days = [false; 7];
            days[fd] = true;
            let mut close_after_days = ((td + 7 - fd) % 7) as u32;
            if close_after_days == 0 && to <= from {
                close_after_days = 7;
            }
            return Restriction {
                days,
                from,
                to,
                close_after_days,
            };
        };
        let days = parse_days(days_raw.get_ref());
        let days = self.take(days, days_raw.span(), &format!("{p}.days"), [false; 7]);
        let from = parse_hhmm(r.from.get_ref());
        let from = self.take(from, r.from.span(), &format!("{p}.from"), NaiveTime::MIN);
        let to = parse_hhmm(r.to.get_ref());
        let to = self.take(to, r.to.span(), &format!("{p}.to"), NaiveTime::MIN);
        Restriction::daily(days, from, to)
    }
}
