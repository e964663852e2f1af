//! Grafana OnCall's public API v1 shapes (each list's `results` array):
//! `users`, `teams`, `schedules`, `on_call_shifts`, `escalation_chains`,
//! `escalation_policies` (the chains' steps) and `integrations`.

use super::doc::{Doc, Layer, Level, Policy, Schedule, Service, Team, User, Window};
use super::json::At;
use super::ImportError;
use super::{checked_email, naive_start};
use chrono::{Datelike, Duration, NaiveDateTime};
use chrono_tz::Tz;
use std::collections::BTreeMap;

pub(super) fn read(
    root: &At,
    doc: &mut Doc,
    new_key: &mut dyn FnMut() -> String,
) -> Result<(), ImportError> {
    let mut user_teams: Vec<(String, Vec<String>)> = vec![];
    for u in root.list("users")? {
        let g_id = u.str("id")?;
        let username = u.opt_str("username")?;
        let name = (u.opt_str("name")?)
            .or(username.clone())
            .unwrap_or_else(|| g_id.clone());
        let mut notes = vec![];
        let email = checked_email(u.opt_str("email")?, &mut notes);
        let id = doc.assign("user", &g_id, username.as_deref().unwrap_or(&name));
        let mut slack_id = None;
        for s in u.list("slack")? {
            if slack_id.is_none() {
                slack_id = s.opt_str("user_id")?;
            }
        }
        let time_zone = u.opt_str("timezone")?.filter(|tz| tz.parse::<Tz>().is_ok());
        let teams = (u.list("teams")?.iter())
            .map(|t| match t.v.as_str() {
                Some(s) => Ok(s.to_string()),
                None => Err(t.error("expected a team id")),
            })
            .collect::<Result<_, _>>()?;
        user_teams.push((id.clone(), teams));
        notes.push("Grafana OnCall notification policies are not imported: tocsin DMs on Slack at once; add `notify` for SMS and calls".into());
        doc.users.push(User {
            id,
            name,
            email,
            slack_id,
            time_zone,
            notes,
            ..User::default()
        });
    }

    for t in root.list("teams")? {
        let g_id = t.str("id")?;
        let name = t.opt_str("name")?.unwrap_or_else(|| g_id.clone());
        let id = doc.assign("team", &g_id, &name);
        let members = (user_teams.iter())
            .filter(|(_, ts)| ts.contains(&g_id))
            .map(|(u, _)| u.clone())
            .collect();
        doc.teams.push(Team {
            id,
            name,
            members,
            notes: vec!["team admins are not in the export: set `leads`".into()],
            ..Team::default()
        });
    }

    let mut shifts: BTreeMap<String, At> = BTreeMap::new();
    for s in root.list("on_call_shifts")? {
        shifts.insert(s.str("id")?, s);
    }
    for s in root.list("schedules")? {
        schedule(&s, &shifts, doc)?;
    }

    let steps = root.list("escalation_policies")?;
    for c in root.list("escalation_chains")? {
        chain(&c, &steps, doc)?;
    }

    for i in root.list("integrations")? {
        integration(&i, doc, new_key)?;
    }
    Ok(())
}

fn team_of(item: &At, doc: &mut Doc) -> Result<String, ImportError> {
    match item.opt_str("team_id")?.and_then(|t| doc.id("team", &t)) {
        Some(t) => Ok(t),
        None => Ok(doc.fallback_team()),
    }
}

fn naive(at: &At, key: &str) -> Result<Option<NaiveDateTime>, ImportError> {
    let Some(s) = at.opt_str(key)? else {
        return Ok(None);
    };
    let trimmed = s.trim_end_matches('Z');
    NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M"))
        .map(Some)
        .map_err(|_| {
            at.get(key).map_or_else(
                |e| e,
                |f| {
                    f.error(format!(
                        "`{s}` is not a local time like 2026-11-02T09:00:00"
                    ))
                },
            )
        })
}

const BY_DAY: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn schedule(s: &At, shifts: &BTreeMap<String, At>, doc: &mut Doc) -> Result<(), ImportError> {
    let g_id = s.str("id")?;
    let name = s.opt_str("name")?.unwrap_or_else(|| g_id.clone());
    let tz_name = s.opt_str("time_zone")?.unwrap_or_else(|| "UTC".into());
    let tz: Tz = tz_name.parse().map_err(|_| {
        s.get("time_zone")
            .map_or_else(|e| e, |f| f.error(format!("unknown time zone `{tz_name}`")))
    })?;
    let kind = s.opt_str("type")?.unwrap_or_else(|| "web".into());
    if kind == "ical" {
        doc.skipped.push(format!(
            "schedule {name:?} ({g_id}): its shifts come from an iCal feed, which tocsin does not read"
        ));
        return Ok(());
    }
    let id = doc.assign("schedule", &g_id, &name);
    let team = team_of(s, doc)?;
    let mut notes = vec![];
    let mut layers: Vec<(u64, Layer)> = vec![];
    for shift_id in s.list("shifts")? {
        let Some(sid) = shift_id.v.as_str() else {
            return Err(shift_id.error("expected a shift id"));
        };
        let Some(shift) = shifts.get(sid) else {
            notes.push(format!("shift {sid} is not in the export's on_call_shifts"));
            continue;
        };
        if let Some(layer) = layer(shift, tz, doc, &mut notes)? {
            layers.push((shift.opt_u64("level")?.unwrap_or(0), layer));
        }
    }
    // A higher level wins: it comes later.
    layers.sort_by_key(|(level, _)| *level);
    if layers.is_empty() {
        doc.forget("schedule", &id);
        doc.skipped.push(format!(
            "schedule {name:?} ({g_id}): no rotation tocsin can read"
        ));
        return Ok(());
    }
    // People on a team's schedules are its members.
    let on_it: Vec<String> = layers.iter().flat_map(|(_, l)| l.users.clone()).collect();
    if let Some(t) = doc.teams.iter_mut().find(|t| t.id == team) {
        for u in on_it {
            if !t.members.contains(&u) {
                t.members.push(u);
            }
        }
    }
    doc.schedules.push(Schedule {
        id,
        name,
        team,
        time_zone: tz_name,
        layers: layers.into_iter().map(|(_, l)| l).collect(),
        notes,
    });
    Ok(())
}

/// One on-call shift as a layer, or `None` (with a note) when it cannot be one.
fn layer(
    shift: &At,
    tz: Tz,
    doc: &Doc,
    notes: &mut Vec<String>,
) -> Result<Option<Layer>, ImportError> {
    let name = shift.opt_str("name")?.unwrap_or_else(|| "shift".into());
    let kind = shift.str("type")?;
    if kind == "single_event" {
        notes.push(format!(
            "shift {name:?} is a single event: add it again as an override"
        ));
        return Ok(None);
    }
    if shift.opt_str("until")?.is_some() {
        notes.push(format!(
            "shift {name:?} has an end (`until`): tocsin layers do not end, so it is not imported"
        ));
        return Ok(None);
    }
    let start = naive(shift, "rotation_start")?
        .or(naive(shift, "start")?)
        .ok_or_else(|| shift.error("a shift needs its start"))?;
    let first_start = naive(shift, "start")?.unwrap_or(start);
    // The shift's own zone, when it has one, read in the schedule's.
    let start = match shift.opt_str("time_zone")? {
        Some(z) => {
            let ztz: Tz = z.parse().map_err(|_| {
                shift
                    .get("time_zone")
                    .map_or_else(|e| e, |f| f.error(format!("unknown time zone `{z}`")))
            })?;
            let at = crate::import::resolve(ztz, start);
            at.with_timezone(&tz).naive_local()
        }
        None => start,
    };
    let freq = shift
        .opt_str("frequency")?
        .unwrap_or_else(|| "weekly".into());
    let interval = shift.opt_u64("interval")?.unwrap_or(1);
    if !(1..=366).contains(&interval) {
        return Err(shift.get("interval")?.error("an interval is 1 to 366"));
    }
    let (rotation, period) = match (freq.as_str(), interval) {
        ("daily", 1) => ("daily".to_string(), 86_400),
        ("weekly", 1) => ("weekly".to_string(), 604_800),
        ("daily", n) => (format!("{n}d"), n * 86_400),
        ("weekly", n) => (format!("{}d", n * 7), n * 604_800),
        ("hourly", n) => (format!("{n}h"), n * 3_600),
        ("monthly", _) => {
            notes.push(format!(
                "shift {name:?} rotates monthly, which tocsin cannot: not imported"
            ));
            return Ok(None);
        }
        (other, _) => {
            return Err(shift.get("frequency")?.error(format!(
                "unknown frequency `{other}`: expected hourly, daily, weekly or monthly"
            )))
        }
    };
    let mut layer_notes = vec![];
    let groups: Vec<Vec<String>> = match kind.as_str() {
        "rolling_users" => {
            let mut groups = vec![];
            for g in shift.list("rolling_users")? {
                let ids: Vec<String> = match g.v.as_array() {
                    Some(a) => a
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                    None => return Err(g.error("expected an array of user ids")),
                };
                groups.push(ids);
            }
            groups
        }
        "recurrent_event" => {
            let ids = (shift.list("users")?.iter())
                .map(|x| {
                    x.v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| x.error("expected a user id"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            vec![ids]
        }
        other => {
            return Err(shift.get("type")?.error(format!(
            "unknown shift type `{other}`: expected rolling_users, recurrent_event or single_event"
        )))
        }
    };
    let mut users = vec![];
    for g in &groups {
        let mapped: Vec<String> = g.iter().filter_map(|u| doc.id("user", u)).collect();
        if mapped.len() < g.len() {
            layer_notes.push("some users are not in the export's users: left out".to_string());
        }
        if mapped.len() > 1 {
            layer_notes.push(format!(
                "{} people share a turn in Grafana OnCall; tocsin puts one on call per turn: {} (the others: {})",
                mapped.len(),
                mapped[0],
                mapped[1..].join(", ")
            ));
        }
        if let Some(first) = mapped.into_iter().next() {
            users.push(first);
        }
    }
    if users.is_empty() {
        notes.push(format!("shift {name:?} has nobody: not imported"));
        return Ok(None);
    }
    let from_index = shift
        .opt_u64("start_rotation_from_user_index")?
        .unwrap_or(0);
    let n = users.len();
    users.rotate_left((from_index as usize) % n);
    // A shift shorter than its period is on call only for `duration` from its
    // start time: a window on the days it runs.
    let duration = shift.opt_u64("duration")?.unwrap_or(period);
    let mut restrictions = vec![];
    let by_day = shift.list("by_day")?;
    if duration < period || !by_day.is_empty() {
        if duration == 0 || duration % 60 != 0 {
            return Err(shift
                .get("duration")?
                .error("a shift lasts whole minutes, more than none"));
        }
        let from = first_start.time();
        let to = (first_start + Duration::seconds(duration as i64)).time();
        let hhmm = |t: chrono::NaiveTime| t.format("%H:%M").to_string();
        if duration < 86_400 && (freq == "daily" || !by_day.is_empty()) {
            let mut days = vec![];
            for d in &by_day {
                let code = d.v.as_str().unwrap_or_default().to_ascii_uppercase();
                match BY_DAY.iter().position(|x| *x == code) {
                    Some(i) => days.push(DAYS[i]),
                    None => return Err(d.error(format!("`{code}` is not a day (MO..SU)"))),
                }
            }
            let days = if days.is_empty() {
                "daily".to_string()
            } else {
                days.join(",")
            };
            restrictions.push(Window {
                days: Some(days),
                from: hhmm(from),
                to: hhmm(to),
            });
        } else if freq == "weekly" && duration < 604_800 {
            let end = first_start + Duration::seconds(duration as i64);
            let wd = |t: NaiveDateTime| DAYS[t.weekday().num_days_from_monday() as usize];
            restrictions.push(Window {
                days: None,
                from: format!("{} {}", wd(first_start), hhmm(from)),
                to: format!("{} {}", wd(end), hhmm(end.time())),
            });
        } else if duration < period {
            layer_notes.push(format!(
                "on call {} of every {} in Grafana OnCall; here the whole turn",
                duration / 60,
                period / 60
            ));
        }
    }
    let (start, moved) = naive_start(tz, start);
    if moved {
        layer_notes.push("its start falls in a daylight-saving gap: moved an hour later".into());
    }
    Ok(Some(Layer {
        name,
        start,
        rotation,
        users,
        restrictions,
        notes: layer_notes,
    }))
}

fn chain(c: &At, steps: &[At], doc: &mut Doc) -> Result<(), ImportError> {
    let g_id = c.str("id")?;
    let name = c.opt_str("name")?.unwrap_or_else(|| g_id.clone());
    let id = doc.assign("policy", &g_id, &name);
    let mut mine = vec![];
    for s in steps {
        if s.opt_str("escalation_chain_id")?.as_deref() == Some(g_id.as_str()) {
            mine.push((s.opt_u64("position")?.unwrap_or(0), s.clone()));
        }
    }
    mine.sort_by_key(|(p, _)| *p);
    let mut notes = vec![];
    let mut levels: Vec<Level> = vec![];
    let mut waited = 0u64;
    let mut repeat = 0;
    for (_, s) in &mine {
        let kind = s.str("type")?;
        let mut targets = vec![];
        match kind.as_str() {
            "wait" => {
                waited += s.opt_u64("duration")?.unwrap_or(300) / 60;
                continue;
            }
            "notify_persons" | "notify_person_next_each_time" => {
                let key = if kind == "notify_persons" {
                    "persons_to_notify"
                } else {
                    "persons_to_notify_next_each_time"
                };
                for p in s.list(key)? {
                    let uid = p.v.as_str().ok_or_else(|| p.error("expected a user id"))?;
                    match doc.id("user", uid) {
                        Some(u) => targets.push(format!("user:{u}")),
                        None => notes.push(format!("user {uid} is not in the export's users")),
                    }
                }
                if kind == "notify_person_next_each_time" {
                    notes.push("\"notify the next person each time\" pages them all here".into());
                }
            }
            "notify_on_call_from_schedule" => {
                let sid = s.str("notify_on_call_from_schedule")?;
                match doc.id("schedule", &sid) {
                    Some(x) => targets.push(format!("schedule:{x}")),
                    None => notes.push(format!("schedule {sid} was not imported")),
                }
            }
            "notify_team_members" => {
                let tid = s.str("notify_to_team_members")?;
                match doc.id("team", &tid) {
                    Some(x) => targets.push(format!("team:{x}")),
                    None => notes.push(format!("team {tid} was not imported")),
                }
            }
            "repeat_escalation" => {
                repeat = 1;
                continue;
            }
            other => {
                notes.push(format!("step `{other}` has no tocsin equivalent: left out"));
                continue;
            }
        }
        if targets.is_empty() {
            continue;
        }
        match levels.last_mut() {
            Some(l) if waited == 0 => {
                for t in targets {
                    if !l.targets.contains(&t) {
                        l.targets.push(t);
                    }
                }
            }
            _ => levels.push(Level {
                after_minutes: if levels.is_empty() {
                    0
                } else {
                    waited.min(1440) as u32
                },
                targets,
            }),
        }
        waited = 0;
    }
    if levels.is_empty() {
        doc.forget("policy", &id);
        doc.skipped.push(format!(
            "escalation chain {name:?} ({g_id}): no step that pages someone"
        ));
        return Ok(());
    }
    if repeat == 1 {
        notes.push(
            "\"repeat escalation\" repeats up to 5 times in Grafana OnCall; here once".into(),
        );
    }
    let _ = team_of(c, doc)?;
    doc.policies.push(Policy {
        id,
        name,
        repeat,
        levels,
        notes,
    });
    Ok(())
}

fn integration(
    i: &At,
    doc: &mut Doc,
    new_key: &mut dyn FnMut() -> String,
) -> Result<(), ImportError> {
    let g_id = i.str("id")?;
    let name = i.opt_str("name")?.unwrap_or_else(|| g_id.clone());
    let id = doc.assign("service", &g_id, &name);
    let team = team_of(i, doc)?;
    let mut notes = vec![];
    let route = i.get("default_route")?;
    let escalation_policy = if route.is_null() {
        None
    } else {
        match route.opt_str("escalation_chain_id")? {
            Some(c) => {
                let found = doc.id("policy", &c);
                if found.is_none() {
                    notes.push(format!("escalation chain {c} was not imported"));
                }
                found
            }
            None => None,
        }
    };
    let integration_key = new_key();
    let kind = i.opt_str("type")?.unwrap_or_else(|| "webhook".into());
    notes.push(match kind.as_str() {
        "alertmanager" | "legacy_alertmanager" => format!(
            "Alertmanager integration: its webhook_configs url becomes /integrations/alertmanager/{integration_key}"
        ),
        "grafana" | "grafana_alerting" | "legacy_grafana_alerting" => format!(
            "Grafana alerting integration: its contact point url becomes /integrations/grafana/{integration_key}"
        ),
        "inbound_email" => "email integration: mail is not imported: see \"Re-point integrations\" in the README".into(),
        other => format!(
            "{other} integration: send to /integrations/webhook/{integration_key} with a mapping (`webhook`), or the Events API with this key"
        ),
    });
    doc.services.push(Service {
        id,
        name,
        team,
        escalation_policy,
        integration_key,
        urgency: None,
        notes,
    });
    Ok(())
}
