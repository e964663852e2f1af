//! Users, their notification rules, and teams with their incident-channel settings.

use chrono::Duration;
use chrono_tz::Tz;
use toml::Spanned;

use super::{Checker, Known};
use crate::config::durations::parse_duration;
use crate::config::fields::{parse_day_time, parse_tz, validate_email, validate_phone};
use crate::config::levels::Sev;
use crate::config::model::{NotifyRule, RoomSettings, Team, User, Via, WeeklyReport};
use crate::config::raw::{RawNotify, RawTeam, RawUser};

/// A notification rule later than a day after the page is surely a typo.
const MAX_NOTIFY_MINUTES: u32 = 24 * 60;

impl Checker<'_> {
    pub(super) fn user(&mut self, i: usize, u: &RawUser) -> User {
        let path = format!("users[{i}]");
        let time_zone = match &u.time_zone {
            Some(tz) => {
                let field = format!("{path}.time_zone");
                self.take(parse_tz(tz.get_ref()), tz.span(), &field, Tz::UTC)
            }
            None => Tz::UTC,
        };
        self.check_optional(&u.phone, format!("{path}.phone"), validate_phone);
        self.check_optional(&u.email, format!("{path}.email"), validate_email);
        User {
            id: u.id.get_ref().clone(),
            name: u.name.clone(),
            slack_id: u.slack_id.clone(),
            time_zone,
            phone: u.phone.as_ref().map(|p| p.get_ref().clone()),
            email: u.email.as_ref().map(|e| e.get_ref().clone()),
            working_hours: (u.working_hours.iter().enumerate())
                .map(|(k, r)| self.restriction(r, &format!("{path}.working_hours[{k}]")))
                .collect(),
            notify: (u.notify.iter().enumerate())
                .filter_map(|(k, r)| self.notify_rule(u, r, &format!("{path}.notify[{k}]")))
                .collect(),
        }
    }

    fn notify_rule(
        &mut self,
        u: &RawUser,
        r: &Spanned<RawNotify>,
        path: &str,
    ) -> Option<NotifyRule> {
        let raw = r.get_ref();
        let via = match raw.via.get_ref().as_str() {
            "slack" => Via::Slack,
            "sms" => Via::Sms,
            "phone" => Via::Phone,
            other => {
                let m = format!("invalid via `{other}`: expected \"slack\", \"sms\" or \"phone\"");
                self.err(raw.via.span(), format!("{path}.via"), m);
                return None;
            }
        };
        let missing = match via {
            Via::Slack if u.slack_id.is_none() => Some("slack_id"),
            Via::Sms | Via::Phone if u.phone.is_none() => Some("phone"),
            _ => None,
        };
        if let Some(field) = missing {
            let m = format!(
                "notify via {} needs the user's `{field}`",
                raw.via.get_ref()
            );
            self.err(raw.via.span(), format!("{path}.via"), m);
        }
        if raw.after_minutes > MAX_NOTIFY_MINUTES {
            let m = format!("after_minutes is at most {MAX_NOTIFY_MINUTES} (a day)");
            self.err(r.span(), format!("{path}.after_minutes"), m);
        }
        Some(NotifyRule {
            after_minutes: raw.after_minutes,
            via,
        })
    }

    pub(super) fn team(&mut self, i: usize, t: &RawTeam, known: &Known) -> Team {
        let path = format!("teams[{i}]");
        for (j, m) in t.members.iter().enumerate() {
            self.check_ref(&known.users, "user", m, format!("{path}.members[{j}]"));
        }
        for (j, lead) in t.leads.iter().enumerate() {
            let field = format!("{path}.leads[{j}]");
            // An unknown lead is reported once, as unknown, not also as a non-member.
            if self.check_ref(&known.users, "user", lead, field.clone())
                && !t.members.iter().any(|m| m.get_ref() == lead.get_ref())
            {
                let m = format!("lead `{}` is not listed in members", lead.get_ref());
                self.err(lead.span(), field, m);
            }
        }
        Team {
            id: t.id.get_ref().clone(),
            name: t.name.clone(),
            leads: t.leads.iter().map(|l| l.get_ref().clone()).collect(),
            members: t.members.iter().map(|m| m.get_ref().clone()).collect(),
            open_to_workspace: t.open_to_workspace,
            alert_channel: t.alert_channel.clone(),
            stakeholder_channel: t.stakeholder_channel.clone(),
            working_hours: (t.working_hours.iter().enumerate())
                .map(|(k, r)| self.restriction(r, &format!("{path}.working_hours[{k}]")))
                .collect(),
            weekly_report: t.weekly_report.as_ref().and_then(|w| {
                let when = parse_day_time(w.at.get_ref());
                let (weekday, at) = self.take(
                    when.map(Some),
                    w.at.span(),
                    &format!("{path}.weekly_report.at"),
                    None,
                )?;
                let time_zone = match &w.time_zone {
                    Some(tz) => {
                        let field = format!("{path}.weekly_report.time_zone");
                        self.take(parse_tz(tz.get_ref()), tz.span(), &field, Tz::UTC)
                    }
                    None => Tz::UTC,
                };
                Some(WeeklyReport {
                    weekday,
                    at,
                    time_zone,
                })
            }),
            rooms: self.rooms(t, &path),
        }
    }

    fn rooms(&mut self, t: &RawTeam, path: &str) -> RoomSettings {
        let mut out = RoomSettings {
            channel_at: self.sev(t.channel_at.as_ref(), &format!("{path}.channel_at")),
            ..RoomSettings::default()
        };
        for (level, every) in &t.update_every {
            let field = format!("{path}.update_every.{level}");
            let Some(sev) = Sev::parse(level) else {
                let m = format!("`{level}` is not a severity level: use SEV1, SEV2, SEV3 or SEV4");
                self.err(every.span(), field, m);
                continue;
            };
            let d = parse_duration(every.get_ref()).and_then(|d| {
                if d < Duration::minutes(1) || d > Duration::days(7) {
                    Err("ask for updates at least a minute and at most 7 days apart".to_string())
                } else {
                    Ok(d)
                }
            });
            if let Ok(d) = self.take(d.map(Ok), every.span(), &field, Err(())) {
                out.update_every.push((sev, d));
            }
        }
        if let Some(a) = &t.archive_after {
            let d = parse_duration(a.get_ref()).and_then(|d| {
                if d > Duration::days(90) {
                    Err("archive within 90 days".to_string())
                } else {
                    Ok(d)
                }
            });
            let field = format!("{path}.archive_after");
            out.archive_after = self.take(d, a.span(), &field, out.archive_after);
        }
        out
    }
}
