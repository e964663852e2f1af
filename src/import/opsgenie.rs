//! Opsgenie's REST API v2 shapes (each list's `data` array): `users` (with
//! `userContacts` when fetched with `expand=contact`), `teams` (with
//! `members`, as `GET /v2/teams/{id}` returns them), `schedules` (with
//! `rotations`, `expand=rotation`), `escalations` and `integrations`.

use super::doc::{Doc, Layer, Level, Policy, Schedule, Service, Team, User, Window};
use super::json::At;
use super::ImportError;
use super::{checked_email, checked_phone, instant, local_start};
use chrono_tz::Tz;

pub(super) fn read(
    root: &At,
    doc: &mut Doc,
    new_key: &mut dyn FnMut() -> String,
) -> Result<(), ImportError> {
    for u in root.list("users")? {
        let og_id = u.str("id")?;
        let username = u.opt_str("username")?;
        let name = u
            .opt_str("fullName")?
            .or(username.clone())
            .unwrap_or_else(|| og_id.clone());
        let mut notes = vec![];
        let email = checked_email(username.clone(), &mut notes);
        let local = email.as_deref().and_then(|e| e.split('@').next());
        let id = doc.assign("user", &og_id, local.unwrap_or(&name));
        // Usernames are emails, and the API looks people up by either.
        if let Some(username) = &username {
            doc.alias("user", username, &id);
        }
        let mut phone = None;
        for c in u.list("userContacts")? {
            let method = c.opt_str("contactMethod")?.or(c.opt_str("method")?);
            if phone.is_none() && matches!(method.as_deref(), Some("sms" | "voice")) {
                // Opsgenie writes numbers as COUNTRY-NUMBER: 44-7700900003.
                let digits: String = (c.opt_str("to")?.unwrap_or_default().chars())
                    .filter(char::is_ascii_digit)
                    .collect();
                phone = checked_phone(format!("+{digits}"), &mut notes);
            }
        }
        let time_zone = u.opt_str("timeZone")?.filter(|tz| tz.parse::<Tz>().is_ok());
        notes.push("Opsgenie notification rules are not imported: tocsin DMs on Slack at once; add `notify` for SMS and calls".into());
        doc.users.push(User {
            id,
            name,
            email,
            time_zone,
            phone,
            notes,
            ..User::default()
        });
    }

    for t in root.list("teams")? {
        let og_id = t.str("id")?;
        let name = t.opt_str("name")?.unwrap_or_else(|| og_id.clone());
        let id = doc.assign("team", &og_id, &name);
        doc.alias("team", &name, &id);
        let (mut members, mut leads, mut notes) = (vec![], vec![], vec![]);
        let listed = t.list("members")?;
        for m in &listed {
            let user = m.get("user")?;
            let uid = user.opt_str("id")?;
            let found = match (&uid, user.opt_str("username")?) {
                (Some(i), _) if doc.id("user", i).is_some() => doc.id("user", i),
                (_, Some(name)) => doc.id("user", &name),
                _ => None,
            };
            match found {
                Some(u) if !members.contains(&u) => {
                    if m.opt_str("role")?.as_deref() == Some("admin") {
                        leads.push(u.clone());
                    }
                    members.push(u);
                }
                Some(_) => {}
                None => notes.push(format!(
                    "member {} is not in the export's users",
                    uid.unwrap_or_default()
                )),
            }
        }
        if listed.is_empty() {
            notes.push(
                "no members in the export (GET /v2/teams/{id} lists them): add `members`".into(),
            );
        }
        doc.teams.push(Team {
            id,
            name,
            leads,
            members,
            notes,
        });
    }

    for s in root.list("schedules")? {
        schedule(&s, doc)?;
    }
    for e in root.list("escalations")? {
        escalation(&e, doc)?;
    }
    for i in root.list("integrations")? {
        integration(&i, doc, new_key)?;
    }
    Ok(())
}

/// The owner team (`ownerTeam` by id or name, or `teamId`), else the fallback.
fn owner_team(item: &At, doc: &mut Doc) -> Result<String, ImportError> {
    let owner = item.get("ownerTeam")?;
    let found = if owner.is_null() {
        match item.opt_str("teamId")? {
            Some(id) => doc.id("team", &id),
            None => None,
        }
    } else {
        let by_id = owner.opt_str("id")?.and_then(|i| doc.id("team", &i));
        by_id.or(owner.opt_str("name")?.and_then(|n| doc.id("team", &n)))
    };
    Ok(found.unwrap_or_else(|| doc.fallback_team()))
}

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn hm(r: &At, h: &str, m: &str) -> Result<String, ImportError> {
    let hour = r.u64(h)?;
    let minute = r.opt_u64(m)?.unwrap_or(0);
    if hour > 24 || minute > 59 || (hour == 24 && minute > 0) {
        return Err(r
            .get(h)?
            .error(format!("{hour}:{minute:02} is not a time of day")));
    }
    // Opsgenie ends a day at 24:00; tocsin's windows end at 00:00.
    Ok(format!("{:02}:{minute:02}", hour % 24))
}

fn day(r: &At, key: &str) -> Result<&'static str, ImportError> {
    let d = r.str(key)?.to_ascii_lowercase();
    DAYS.iter()
        .position(|x| *x == d)
        .map(|i| ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][i])
        .ok_or_else(|| {
            r.get(key).map_or_else(
                |e| e,
                |f| f.error(format!("`{d}` is not a day of the week")),
            )
        })
}

fn schedule(s: &At, doc: &mut Doc) -> Result<(), ImportError> {
    let og_id = s.str("id")?;
    let name = s.opt_str("name")?.unwrap_or_else(|| og_id.clone());
    let tz_name = s.str("timezone")?;
    let tz: Tz = tz_name.parse().map_err(|_| {
        s.get("timezone")
            .map_or_else(|e| e, |f| f.error(format!("unknown time zone `{tz_name}`")))
    })?;
    let id = doc.assign("schedule", &og_id, &name);
    doc.alias("schedule", &name, &id);
    let team = owner_team(s, doc)?;
    let mut notes = vec![];
    if s.opt_bool("enabled")? == Some(false) {
        notes.push("disabled in Opsgenie".into());
    }
    let rotations = s.list("rotations")?;
    if rotations.len() > 1 {
        notes.push("Opsgenie pages everyone on call in any rotation at once; tocsin pages the last layer with someone on call, so the rotations are layers, last one first in Opsgenie's order".into());
    }
    let mut layers = vec![];
    for r in rotations.iter().rev() {
        let layer_name = r.opt_str("name")?.unwrap_or_else(|| "rotation".into());
        if let Some(end) = instant(r, "endDate")? {
            notes.push(format!("rotation {layer_name:?} ends at {end} in Opsgenie: tocsin layers do not end, so it is not imported"));
            continue;
        }
        let start = instant(r, "startDate")?.ok_or_else(|| {
            r.get("startDate")
                .map_or_else(|e| e, |f| f.error("a rotation needs its startDate"))
        })?;
        let kind = r.str("type")?;
        let length = r.opt_u64("length")?.unwrap_or(1);
        if !(1..=366).contains(&length) {
            return Err(r.get("length")?.error("a rotation length is 1 to 366"));
        }
        let rotation = match (kind.as_str(), length) {
            ("daily", 1) => "daily".to_string(),
            ("weekly", 1) => "weekly".to_string(),
            ("daily", n) => format!("{n}d"),
            ("weekly", n) => format!("{}d", n * 7),
            ("hourly", n) => format!("{n}h"),
            (other, _) => {
                return Err(r.get("type")?.error(format!(
                    "unknown rotation type `{other}`: expected daily, weekly or hourly"
                )))
            }
        };
        let mut users = vec![];
        let mut layer_notes = vec![];
        for p in r.list("participants")? {
            let kind = p.opt_str("type")?.unwrap_or_default();
            let found = match kind.as_str() {
                "user" => {
                    let by_id = p.opt_str("id")?.and_then(|i| doc.id("user", &i));
                    by_id.or(p.opt_str("username")?.and_then(|n| doc.id("user", &n)))
                }
                _ => None,
            };
            match found {
                Some(u) => users.push(u),
                None => layer_notes.push(format!(
                    "participant {} ({kind}) is not a person in the export: left out",
                    p.opt_str("name")?
                        .or(p.opt_str("username")?)
                        .unwrap_or_default()
                )),
            }
        }
        if users.is_empty() {
            notes.push(format!("rotation {layer_name:?} has nobody: not imported"));
            continue;
        }
        let mut restrictions = vec![];
        let tr = r.get("timeRestriction")?;
        if !tr.is_null() {
            match tr.str("type")?.as_str() {
                "time-of-day" => {
                    let x = tr.get("restriction")?;
                    let (from, to) = (hm(&x, "startHour", "startMin")?, hm(&x, "endHour", "endMin")?);
                    if from != to {
                        restrictions.push(Window {
                            days: Some("daily".into()),
                            from,
                            to,
                        });
                    }
                }
                "weekday-and-time-of-day" => {
                    for x in tr.list("restrictions")? {
                        let from = format!("{} {}", day(&x, "startDay")?, hm(&x, "startHour", "startMin")?);
                        let to = format!("{} {}", day(&x, "endDay")?, hm(&x, "endHour", "endMin")?);
                        restrictions.push(Window { days: None, from, to });
                    }
                }
                other => {
                    return Err(tr.get("type")?.error(format!(
                        "unknown restriction type `{other}`: expected time-of-day or weekday-and-time-of-day"
                    )))
                }
            }
        }
        let (start, moved) = local_start(tz, start);
        if moved {
            layer_notes
                .push("its start falls in a daylight-saving gap: moved an hour later".into());
        }
        layers.push(Layer {
            name: layer_name,
            start,
            rotation,
            users,
            restrictions,
            notes: layer_notes,
        });
    }
    if layers.is_empty() {
        doc.forget("schedule", &id);
        doc.skipped.push(format!(
            "schedule {name:?} ({og_id}): no current rotation with people"
        ));
        return Ok(());
    }
    doc.schedules.push(Schedule {
        id,
        name,
        team,
        time_zone: tz_name,
        layers,
        notes,
    });
    Ok(())
}

fn escalation(e: &At, doc: &mut Doc) -> Result<(), ImportError> {
    let og_id = e.str("id")?;
    let name = e.opt_str("name")?.unwrap_or_else(|| og_id.clone());
    let id = doc.assign("policy", &og_id, &name);
    doc.alias("policy", &name, &id);
    let team = owner_team(e, doc)?;
    doc.alias("policy-of-team", &team, &id);
    let mut notes = vec![];
    // Opsgenie counts each rule's delay from the alert; tocsin from the level before.
    let mut levels: Vec<(u64, Level)> = vec![];
    for (i, rule) in e.list("rules")?.iter().enumerate() {
        let delay = rule.get("delay")?;
        let amount = if delay.is_null() {
            0
        } else {
            delay.opt_u64("timeAmount")?.unwrap_or(0)
        };
        let minutes = match delay.is_null() {
            true => amount,
            false => match delay.opt_str("timeUnit")?.as_deref() {
                None | Some("minutes") => amount,
                Some("hours") => amount.saturating_mul(60),
                Some("days") => amount.saturating_mul(1440),
                Some(other) => {
                    return Err(delay
                        .get("timeUnit")?
                        .error(format!("unknown time unit `{other}`")))
                }
            },
        };
        if rule.opt_str("condition")?.as_deref() == Some("if-not-closed") {
            notes.push(format!("rule {}: \"if not closed\" pages until resolved in Opsgenie; tocsin stops at the acknowledgement", i + 1));
        }
        let recipient = rule.get("recipient")?;
        let kind = recipient.str("type")?;
        let rid = recipient.opt_str("id")?;
        let rname = recipient
            .opt_str("name")?
            .or(recipient.opt_str("username")?);
        let look = |k: &'static str| {
            rid.as_deref()
                .and_then(|i| doc.id(k, i))
                .or(rname.as_deref().and_then(|n| doc.id(k, n)))
        };
        let target = match kind.as_str() {
            "user" => look("user").map(|u| format!("user:{u}")),
            "schedule" => look("schedule").map(|s| format!("schedule:{s}")),
            "team" => look("team").map(|t| format!("team:{t}")),
            _ => None,
        };
        let notify = rule
            .opt_str("notifyType")?
            .unwrap_or_else(|| "default".into());
        if notify != "default" {
            notes.push(format!(
                "rule {}: notify type `{notify}` is paged as the whole {kind}",
                i + 1
            ));
        }
        let Some(target) = target else {
            notes.push(format!(
                "rule {}: recipient {kind} {} was not imported",
                i + 1,
                rname.or(rid).unwrap_or_default()
            ));
            continue;
        };
        match levels.last_mut() {
            Some((at, l)) if *at == minutes => {
                if !l.targets.contains(&target) {
                    l.targets.push(target);
                }
            }
            _ => levels.push((
                minutes,
                Level {
                    after_minutes: 0,
                    targets: vec![target],
                },
            )),
        }
    }
    levels.sort_by_key(|(at, _)| *at);
    let mut before = 0;
    let levels: Vec<Level> = levels
        .into_iter()
        .map(|(at, mut l)| {
            l.after_minutes = u32::try_from(at - before.min(at))
                .unwrap_or(u32::MAX)
                .min(1440);
            before = at;
            l
        })
        .collect();
    if levels.is_empty() {
        doc.forget("policy", &id);
        doc.skipped.push(format!(
            "escalation {name:?} ({og_id}): no rule with a recipient"
        ));
        return Ok(());
    }
    let repeat = e.get("repeat")?;
    let repeat = if repeat.is_null() {
        0
    } else {
        repeat.opt_u64("count")?.unwrap_or(0).min(9) as u32
    };
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
    let og_id = i.str("id")?;
    let name = i.opt_str("name")?.unwrap_or_else(|| og_id.clone());
    let kind = i.opt_str("type")?.unwrap_or_else(|| "API".into());
    let id = doc.assign("service", &og_id, &name);
    let team = owner_team(i, doc)?;
    let mut notes = vec![];
    if i.opt_bool("enabled")? == Some(false) {
        notes.push("disabled in Opsgenie".into());
    }
    // Responders name the escalation to run; otherwise the team's own.
    let mut policy = None;
    for r in i.list("responders")? {
        let kind = r.opt_str("type")?.unwrap_or_default();
        let rid = r.opt_str("id")?;
        let rname = r.opt_str("name")?;
        let by = |k| {
            rid.as_deref()
                .and_then(|x| doc.id(k, x))
                .or(rname.as_deref().and_then(|n| doc.id(k, n)))
        };
        let found = match kind.as_str() {
            "escalation" => by("policy"),
            "team" => by("team").and_then(|t| doc.id("policy-of-team", &t)),
            _ => None,
        };
        if policy.is_none() {
            policy = found;
        }
    }
    let escalation_policy = policy.or_else(|| doc.id("policy-of-team", &team));
    if escalation_policy.is_none() {
        notes.push("no escalation for this integration's team: set `escalation_policy`".into());
    }
    let integration_key = new_key();
    let point = match kind.as_str() {
        "API" | "Prometheus" | "Alertmanager" => format!(
            "{kind} integration: point the tool at tocsin's Opsgenie-compatible API (TOCSIN_PUBLIC_URL), API key {integration_key}"
        ),
        "Email" => "email integration: mail is not imported: see \"Re-point integrations\" in the README".into(),
        "Grafana" => format!("Grafana integration: add a webhook contact point for /integrations/grafana/{integration_key}"),
        other => format!("{other} integration: send its alerts to /integrations/webhook/{integration_key} with a mapping, or the Events API with this key"),
    };
    notes.push(point);
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
