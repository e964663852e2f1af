//! PagerDuty's REST API v2 shapes: `users` (with `contact_methods` and
//! `teams`), `teams`, `schedules` (with `schedule_layers`),
//! `escalation_policies` (with `escalation_rules`) and `services` (with
//! `integrations`, as `include[]=integrations` returns them).

use super::doc::{Doc, Layer, Level, Policy, Schedule, Service, Team, User, Window};
use super::json::At;
use super::ImportError;
use super::{checked_email, checked_phone, instant, naive_start};
use chrono::{DateTime, Duration, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;

pub(super) fn read(
    root: &At,
    doc: &mut Doc,
    new_key: &mut dyn FnMut() -> String,
) -> Result<(), ImportError> {
    let users = root.list("users")?;
    let mut user_teams: Vec<(String, Vec<String>)> = vec![];
    for u in &users {
        let pd_id = u.str("id")?;
        let name = u.opt_str("name")?.unwrap_or_else(|| pd_id.clone());
        let mut notes = vec![];
        let email = checked_email(u.opt_str("email")?, &mut notes);
        let local = email.as_deref().and_then(|e| e.split('@').next());
        let id = doc.assign("user", &pd_id, local.unwrap_or(&name));
        let mut phone = None;
        for c in u.list("contact_methods")? {
            let kind = c.opt_str("type")?.unwrap_or_default();
            if phone.is_none() && kind.starts_with("phone_contact_method")
                || phone.is_none() && kind.starts_with("sms_contact_method")
            {
                let cc = c.opt_u64("country_code")?.unwrap_or(1);
                let digits: String = (c.opt_str("address")?.unwrap_or_default().chars())
                    .filter(char::is_ascii_digit)
                    .collect();
                if !digits.is_empty() {
                    phone = checked_phone(format!("+{cc}{digits}"), &mut notes);
                }
            }
        }
        if !u.list("notification_rules")?.is_empty() {
            notes.push(
                "PagerDuty notification rules are not imported: tocsin DMs on Slack at once; \
                 add `notify` for SMS and calls"
                    .to_string(),
            );
        }
        let time_zone = u
            .opt_str("time_zone")?
            .filter(|tz| tz.parse::<Tz>().is_ok());
        let teams = (u.list("teams")?.iter())
            .map(|t| t.str("id"))
            .collect::<Result<_, _>>()?;
        user_teams.push((id.clone(), teams));
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
        let pd_id = t.str("id")?;
        let name = t
            .opt_str("name")?
            .or(t.opt_str("summary")?)
            .unwrap_or_else(|| pd_id.clone());
        let id = doc.assign("team", &pd_id, &name);
        let members = (user_teams.iter())
            .filter(|(_, ts)| ts.contains(&pd_id))
            .map(|(u, _)| u.clone())
            .collect();
        doc.teams.push(Team {
            id,
            name,
            members,
            notes: vec![
                "team roles (manager, responder) are not in the export: set `leads`".into(),
            ],
            ..Team::default()
        });
    }

    for s in root.list("schedules")? {
        schedule(&s, doc)?;
    }

    for p in root.list("escalation_policies")? {
        policy(&p, doc)?;
    }

    for s in root.list("services")? {
        service(&s, doc, new_key)?;
    }
    Ok(())
}

/// The team of an item with a `teams` list of references: its first team
/// that was imported, else the fallback team.
fn team_of(item: &At, doc: &mut Doc) -> Result<String, ImportError> {
    for t in item.list("teams")? {
        if let Some(id) = doc.id("team", &t.str("id")?) {
            return Ok(id);
        }
    }
    Ok(doc.fallback_team())
}

fn schedule(s: &At, doc: &mut Doc) -> Result<(), ImportError> {
    let pd_id = s.str("id")?;
    let name = s.opt_str("name")?.unwrap_or_else(|| pd_id.clone());
    let tz_name = s.str("time_zone")?;
    let tz: Tz = tz_name.parse().map_err(|_| {
        s.get("time_zone")
            .map_or_else(|e| e, |f| f.error(format!("unknown time zone `{tz_name}`")))
    })?;
    let id = doc.assign("schedule", &pd_id, &name);
    let team = team_of(s, doc)?;
    let mut notes = vec![];
    let mut layers = vec![];
    // PagerDuty lists the highest layer first; tocsin's later layers win.
    for l in s.list("schedule_layers")?.iter().rev() {
        let layer_name = l.opt_str("name")?.unwrap_or_else(|| "layer".into());
        if let Some(end) = instant(l, "end")? {
            notes.push(format!(
                "layer {layer_name:?} ended at {end} in PagerDuty: not imported"
            ));
            continue;
        }
        let start = instant(l, "start")?.ok_or_else(|| {
            l.get("start")
                .map_or_else(|e| e, |f| f.error("a layer needs its start"))
        })?;
        let anchor = instant(l, "rotation_virtual_start")?.unwrap_or(start);
        let turn = l.u64("rotation_turn_length_seconds")?;
        if turn == 0 || turn > 366 * 86_400 {
            let f = l.get("rotation_turn_length_seconds")?;
            return Err(f.error("a turn is between 1 second and a year"));
        }
        let mut users = vec![];
        let mut layer_notes = vec![];
        for u in l.list("users")? {
            // Both `{"user": {"id": …}}` and a bare reference appear in the wild.
            let r = if u.get("user")?.is_null() {
                u.clone()
            } else {
                u.get("user")?
            };
            let pd_user = r.str("id")?;
            match doc.id("user", &pd_user) {
                Some(id) => users.push(id),
                None => layer_notes.push(format!(
                    "user {pd_user} is not in the export's users: left out of the rotation"
                )),
            }
        }
        if users.is_empty() {
            notes.push(format!(
                "layer {layer_name:?} has nobody in the export: not imported"
            ));
            continue;
        }
        // tocsin anchors a rotation on its layer's start: begin at the turn
        // in progress when the PagerDuty layer started, its users rotated so
        // that turn's person comes first.
        let local = |t: DateTime<chrono::FixedOffset>| t.with_timezone(&tz).naive_local();
        let (anchor_local, start_local) = (local(anchor), local(start));
        let elapsed = (start_local - anchor_local).num_seconds();
        let k = elapsed.div_euclid(turn as i64);
        let (first, moved) = naive_start(tz, anchor_local + Duration::seconds(k * turn as i64));
        if moved {
            layer_notes
                .push("its start falls in a daylight-saving gap: moved an hour later".into());
        }
        let n = users.len() as i64;
        users.rotate_left(k.rem_euclid(n) as usize);
        let rotation = match turn {
            86_400 => "daily".to_string(),
            604_800 => "weekly".to_string(),
            t if t % 86_400 == 0 => format!("{}d", t / 86_400),
            t if t % 3_600 == 0 => format!("{}h", t / 3_600),
            t if t % 60 == 0 => format!("{}m", t / 60),
            t => format!("{t}s"),
        };
        let mut restrictions = vec![];
        for r in l.list("restrictions")? {
            match restriction(&r)? {
                Some(w) => restrictions.push(w),
                None => layer_notes.push(
                    "a restriction of a whole day or week or more: left out (no limit)".into(),
                ),
            }
        }
        layers.push(Layer {
            name: layer_name,
            start: first,
            rotation,
            users,
            restrictions,
            notes: layer_notes,
        });
    }
    if layers.is_empty() {
        doc.forget("schedule", &id);
        doc.skipped.push(format!(
            "schedule {name:?} ({pd_id}): no current layer with people"
        ));
        return Ok(());
    }
    let mut all_notes = notes;
    if s.list("overrides")?.iter().len() > 0 {
        all_notes.push(
            "PagerDuty overrides are not imported: add them again with /oncall override".into(),
        );
    }
    doc.schedules.push(Schedule {
        id,
        name,
        team,
        time_zone: tz_name,
        layers,
        notes: all_notes,
    });
    Ok(())
}

fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A PagerDuty restriction as a tocsin window; `None` for one that does not
/// restrict (a whole day or week).
fn restriction(r: &At) -> Result<Option<Window>, ImportError> {
    let kind = r.str("type")?;
    let tod = r.str("start_time_of_day")?;
    let from = NaiveTime::parse_from_str(&tod, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(&tod, "%H:%M"))
        .map_err(|_| {
            r.get("start_time_of_day")
                .map_or_else(|e| e, |f| f.error(format!("`{tod}` is not HH:MM:SS")))
        })?;
    let secs = r.u64("duration_seconds")?;
    if from.format("%S").to_string() != "00" {
        return Err(r
            .get("start_time_of_day")?
            .error("tocsin windows start on whole minutes"));
    }
    if secs % 60 != 0 {
        return Err(r
            .get("duration_seconds")?
            .error("tocsin windows last whole minutes"));
    }
    let end = NaiveDateTime::new(chrono::NaiveDate::MIN, from) + Duration::seconds(secs as i64);
    match kind.as_str() {
        "daily_restriction" => {
            if secs == 0 || secs >= 86_400 {
                return Ok(None);
            }
            Ok(Some(Window {
                days: Some("daily".into()),
                from: hhmm(from),
                to: hhmm(end.time()),
            }))
        }
        "weekly_restriction" => {
            if secs == 0 || secs >= 7 * 86_400 {
                return Ok(None);
            }
            let day = r.u64("start_day_of_week")?;
            if !(1..=7).contains(&day) {
                let f = r.get("start_day_of_week")?;
                return Err(f.error("a day of the week is 1 (Monday) to 7 (Sunday)"));
            }
            let start_day = (day - 1) as usize;
            let end_day =
                (start_day + (end.date() - chrono::NaiveDate::MIN).num_days() as usize) % 7;
            Ok(Some(Window {
                days: None,
                from: format!("{} {}", DAYS[start_day], hhmm(from)),
                to: format!("{} {}", DAYS[end_day], hhmm(end.time())),
            }))
        }
        other => {
            let f = r.get("type")?;
            Err(f.error(format!(
                "unknown restriction type `{other}`: expected daily_restriction or weekly_restriction"
            )))
        }
    }
}

fn policy(p: &At, doc: &mut Doc) -> Result<(), ImportError> {
    let pd_id = p.str("id")?;
    let name = p.opt_str("name")?.unwrap_or_else(|| pd_id.clone());
    let id = doc.assign("policy", &pd_id, &name);
    let mut notes = vec![];
    let mut levels = vec![];
    let mut delay_before = 0u32;
    for (i, rule) in p.list("escalation_rules")?.iter().enumerate() {
        let mut targets = vec![];
        for t in rule.list("targets")? {
            let kind = t.str("type")?;
            let tid = t.str("id")?;
            let target = match kind.trim_end_matches("_reference") {
                "user" => doc.id("user", &tid).map(|u| format!("user:{u}")),
                "schedule" => doc.id("schedule", &tid).map(|s| format!("schedule:{s}")),
                _ => None,
            };
            match target {
                Some(t) => targets.push(t),
                None => notes.push(format!(
                    "level {}: target {kind} {tid} was not imported",
                    i + 1
                )),
            }
        }
        let delay = rule.opt_u64("escalation_delay_in_minutes")?.unwrap_or(30);
        if targets.is_empty() {
            notes.push(format!(
                "level {} has no target tocsin knows: left out",
                i + 1
            ));
        } else {
            levels.push(Level {
                after_minutes: if levels.is_empty() { 0 } else { delay_before },
                targets,
            });
        }
        delay_before = u32::try_from(delay).unwrap_or(u32::MAX).min(1440);
    }
    if levels.is_empty() {
        doc.forget("policy", &id);
        doc.skipped.push(format!(
            "escalation policy {name:?} ({pd_id}): no level with a target"
        ));
        return Ok(());
    }
    let repeat = p.opt_u64("num_loops")?.unwrap_or(0).min(9) as u32;
    doc.policies.push(Policy {
        id,
        name,
        repeat,
        levels,
        notes,
    });
    Ok(())
}

fn service(s: &At, doc: &mut Doc, new_key: &mut dyn FnMut() -> String) -> Result<(), ImportError> {
    let pd_id = s.str("id")?;
    let name = s.opt_str("name")?.unwrap_or_else(|| pd_id.clone());
    let id = doc.assign("service", &pd_id, &name);
    let mut notes = vec![];
    let policy_ref = s.get("escalation_policy")?;
    let escalation_policy = if policy_ref.is_null() {
        None
    } else {
        let pid = policy_ref.str("id")?;
        let found = doc.id("policy", &pid);
        if found.is_none() {
            notes.push(format!("escalation policy {pid} was not imported"));
        }
        found
    };
    // The policy's team, when the service names none.
    let team = match s.list("teams")?.is_empty() {
        false => team_of(s, doc)?,
        true => {
            team_of_policy(doc, escalation_policy.as_deref()).unwrap_or_else(|| doc.fallback_team())
        }
    };
    let mut key = None;
    for i in s.list("integrations")? {
        let kind = i.opt_str("type")?.unwrap_or_default();
        let label = i
            .opt_str("summary")?
            .or(i.opt_str("name")?)
            .unwrap_or_else(|| kind.clone());
        let k = i.opt_str("integration_key")?;
        let usable = k
            .as_deref()
            .is_some_and(|k| k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit()));
        let used = doc
            .services
            .iter()
            .any(|s| Some(&s.integration_key) == k.as_ref());
        match (kind.as_str(), usable && !used) {
            (
                "events_api_v2_inbound_integration" | "generic_events_api_inbound_integration",
                true,
            ) if key.is_none() => {
                key = k.map(|k| k.to_ascii_lowercase());
                notes.push(format!(
                    "integration {label:?} keeps its key: point its tool at tocsin's /v2/enqueue"
                ));
            }
            ("generic_email_inbound_integration", _) => notes.push(format!(
                "email integration {label:?} ({}): mail is not imported: see \"Re-point integrations\" in the README",
                i.opt_str("integration_email")?.unwrap_or_default()
            )),
            _ => notes.push(format!(
                "integration {label:?} ({kind}): send its alerts to this service's key instead"
            )),
        }
    }
    let integration_key = key.unwrap_or_else(|| {
        notes.push("a new integration key: the service had no Events API key to keep".into());
        new_key()
    });
    let rule = s.get("incident_urgency_rule")?;
    let urgency = if rule.is_null() {
        None
    } else {
        match (
            rule.opt_str("type")?.as_deref(),
            rule.opt_str("urgency")?.as_deref(),
        ) {
            (Some("constant"), Some("low")) => Some("low"),
            (Some("constant"), _) | (None, _) => None,
            (Some(other), _) => {
                notes.push(format!(
                    "urgency rule `{other}` (support hours) is not imported: every alert is high urgency"
                ));
                None
            }
        }
    };
    doc.services.push(Service {
        id,
        name,
        team,
        escalation_policy,
        integration_key,
        urgency,
        notes,
    });
    Ok(())
}

/// The team of a schedule the policy pages first, if any.
fn team_of_policy(doc: &Doc, policy: Option<&str>) -> Option<String> {
    let p = doc
        .policies
        .iter()
        .find(|p| Some(p.id.as_str()) == policy)?;
    p.levels.iter().flat_map(|l| &l.targets).find_map(|t| {
        let id = t.strip_prefix("schedule:")?;
        doc.schedules
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.team.clone())
    })
}
