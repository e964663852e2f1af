//! The engine: one loop that re-derives time-driven work from the store on
//! every pass, so a restart resumes exactly where the last run stopped.
//!
//! It runs escalation steps, from a due-time index the store keeps in the same
//! transactions as the incidents, and sends handoff notices. Each schedule has a cursor in the store
//! (the instant up to which notices went out); a pass computes the handoffs
//! between the cursor and now and queues their messages *together with* the
//! cursor's move, in one transaction: nothing is skipped or sent twice.

use crate::config::Urgency;
use crate::config::{Config, Schedule};
use crate::domain::escalation::{resolve_targets, Step};
use crate::domain::incident::{Held, Incident, State};
use crate::domain::notify;
use crate::domain::schedule::{on_call_at, shifts, working, Override};
use crate::ops::Core;
use crate::store::{update_lane, Outbound, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use tokio::sync::watch;

/// Longest the engine sleeps, so config-free changes (overrides) are seen soon
/// even without a wake-up.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(30);
const MIN_SLEEP: std::time::Duration = std::time::Duration::from_millis(5);
/// How far ahead "until when" is looked up.
const HORIZON_DAYS: i64 = 60;

pub async fn run(core: Core, mut shutdown: watch::Receiver<bool>) {
    loop {
        let started = std::time::Instant::now();
        let result = pass(&core).await;
        crate::metrics::global().observe(
            "tocsin_engine_tick_seconds",
            started.elapsed().as_secs_f64(),
        );
        let next = match result {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(error = %e, "engine pass failed; retrying");
                None
            }
        };
        let now = core.clock.now();
        // Work already due (the pass took a while) runs again almost at once;
        // the floor keeps a step that keeps failing from spinning the loop.
        let wait = next.map_or(MAX_SLEEP, |t| {
            (t - now)
                .to_std()
                .unwrap_or_default()
                .clamp(MIN_SLEEP, MAX_SLEEP)
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = core.engine_wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass: due escalation steps, then handoffs; returns when the next work is due.
pub async fn pass(core: &Core) -> Result<Option<DateTime<Utc>>, StoreError> {
    // Whole milliseconds, the resolution of the stored cursors and due index, so
    // a boundary is never announced from just before it and again after it.
    let now = core.clock.now();
    let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
    // Read once per pass, for escalation targets and handoffs alike.
    let mut overrides: HashMap<&str, Vec<Override>> = HashMap::new();
    for s in &core.config.schedules {
        let list = core
            .store
            .overrides(&s.id)?
            .into_iter()
            .map(|o| o.over)
            .collect();
        overrides.insert(&s.id, list);
    }
    let (mut queued, mut wrote) = escalations(core, now, &overrides)?;
    let mut next: Option<DateTime<Utc>> = core.store.next_escalation_due()?;
    for s in &core.config.schedules {
        let overrides = overrides
            .get(s.id.as_str())
            .map_or(&[][..], |v| v.as_slice());
        let current = on_call_at(s, overrides, now);
        match core.store.handoff_cursor(&s.id)? {
            // First sight of this schedule: start from now, announce nothing old.
            None => {
                core.store.advance_handoffs(&s.id, now, current, &[])?;
                wrote = true;
            }
            Some(cursor) if cursor < now => {
                let recorded = core.store.handoff_user(&s.id)?;
                let notices = handoff_notices(core, s, overrides, cursor, now, recorded.clone());
                // Nothing changed hands: leave the cursor (no write, no flush)
                // unless it is getting old enough to make the next look slow.
                let unchanged = notices.is_empty()
                    && recorded.as_ref().is_some_and(|r| r.as_deref() == current);
                if !unchanged || now - cursor > Duration::hours(1) {
                    queued |= !notices.is_empty();
                    core.store.advance_handoffs(&s.id, now, current, &notices)?;
                    wrote = true;
                }
            }
            Some(_) => {}
        }
        if let Some(first) = shifts(s, overrides, now, now + Duration::days(HORIZON_DAYS)).first() {
            if first.end < now + Duration::days(HORIZON_DAYS) {
                next = Some(next.map_or(first.end, |n| n.min(first.end)));
            }
        }
    }
    if wrote {
        core.store.durable().await?;
    }
    if queued {
        core.outbox_ready.notify_one();
    }
    match crate::ops::maintenance::announce(core, now).await {
        Ok(Some(due)) => next = Some(next.map_or(due, |n| n.min(due))),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "maintenance announcements failed; will retry"),
    }
    match crate::engine::reports::send_due(core, now).await {
        Ok(Some(due)) => next = Some(next.map_or(due, |n| n.min(due))),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "weekly reports failed; will retry"),
    }
    match crate::ops::heartbeat::check(core, now).await {
        Ok(Some(due)) => next = Some(next.map_or(due, |n| n.min(due))),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "heartbeat check failed; will retry"),
    }
    Ok(next)
}

/// Runs every escalation step due by `now`; returns (Slack work queued, anything written).
/// Each step is one transaction (incident, due index, outbox), so after a
/// crash a step has either fully happened or will run again: never twice.
fn escalations(
    core: &Core,
    now: DateTime<Utc>,
    overrides: &HashMap<&str, Vec<Override>>,
) -> Result<(bool, bool), StoreError> {
    let due = core.store.due_escalations(now)?;
    if due.is_empty() {
        return Ok((false, false));
    }
    let config = &core.config;
    let on_call = |schedule: &str| {
        let s = config.schedule(schedule)?;
        on_call_at(
            s,
            overrides.get(schedule).map_or(&[][..], |v| v.as_slice()),
            now,
        )
        .map(str::to_string)
    };
    let mut queued = false;
    for (due_at, id) in due {
        // One bad entry must not stop every other escalation: log it and go on.
        match step_one(core, id, due_at, now, &on_call) {
            Ok(q) => queued |= q,
            Err(e) => {
                tracing::error!(incident = id, error = %e, "escalation step failed; will retry")
            }
        }
    }
    Ok((queued, true))
}

fn step_one(
    core: &Core,
    id: u64,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
    on_call: &dyn Fn(&str) -> Option<String>,
) -> Result<bool, StoreError> {
    match core.store.update_incident(id, now, |inc| {
        plan_step(&core.config, inc, due_at, now, on_call)
    })? {
        Ok(_) => Ok(true),
        Err(why) => {
            // Forget the entry only if the incident moved on (acknowledged,
            // escalated, re-timed); never drop a step that is still pending.
            let pending = core.store.incident(id)?.is_some_and(|i| {
                i.next_due().map(|t| t.timestamp_millis()) == Some(due_at.timestamp_millis())
            });
            if pending {
                tracing::warn!(incident = id, %why, "escalation step not run; will retry");
            } else {
                tracing::debug!(incident = id, %why, "stale escalation entry");
                core.store.forget_due(due_at, id)?;
            }
            Ok(false)
        }
    }
}

/// What the step due at `due_at` does to `inc`: the incident after it and the
/// Slack work it causes. Pure, so the store's transaction may re-run it.
pub fn plan_step(
    config: &Config,
    inc: &Incident,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
    on_call: &dyn Fn(&str) -> Option<String>,
) -> Result<(Incident, Vec<(String, Outbound)>), String> {
    // The room's own timers: archive a resolved incident's channel, or ask
    // the commander for an update. Escalation waits for the next pass.
    if let Some(planned) = crate::domain::warroom::plan_timer(config, inc, due_at, now) {
        return Ok(planned);
    }
    // The index keeps milliseconds; the incident may hold a finer instant.
    let millis = |t: DateTime<Utc>| t.timestamp_millis();
    if inc.state == State::Acknowledged && inc.snoozed_until.map(millis) == Some(millis(due_at)) {
        let next = inc.wake(now);
        let mut ops = vec![];
        if let Some(channel) = &inc.alert_channel {
            ops.push((
                channel.clone(),
                Outbound::SnoozeOver {
                    channel: channel.clone(),
                    incident: inc.id,
                    summary: inc.alert.summary.clone(),
                },
            ));
        }
        ops.push((
            update_lane(inc),
            Outbound::UpdateIncident { incident: inc.id },
        ));
        return Ok((next, ops));
    }
    if inc.state != State::Triggered || inc.next_due().map(millis) != Some(millis(due_at)) {
        return Err("not due any more".into());
    }
    let mut next = inc.clone();
    let mut ops = vec![];
    // Pages that waited for working hours, now due.
    let (ready, waiting): (Vec<Held>, Vec<Held>) =
        next.held.drain(..).partition(|h| h.until <= now);
    next.held = waiting;
    let mut released: Vec<String> = vec![];
    for h in ready {
        if !released.contains(&h.user) {
            released.push(h.user.clone());
            notify::page(config, &mut next, &h.user, h.level, now, &mut ops);
        }
    }
    // Later steps of people's notification rules (SMS, a call) now due.
    notify::due_reminders(config, &mut next, now, &mut ops);
    let due_step = inc
        .escalation
        .as_ref()
        .filter(|e| e.next_at.is_some_and(|t| t <= now));
    if let Some(esc) = due_step {
        let (step, after) = esc.step(now).ok_or("not due yet")?;
        next.escalation = Some(after);
        match step {
            Step::Page { level, targets, .. } => {
                let people = resolve_targets(config, &targets, on_call);
                if people.is_empty() {
                    tracing::warn!(
                        incident = inc.id,
                        level,
                        "an escalation level has nobody to page"
                    );
                }
                for user in people {
                    // Low urgency waits for the person's working hours.
                    if next.urgency == Urgency::Low {
                        if let Some(start) =
                            working_start(config, inc, &user, now).filter(|t| *t > now)
                        {
                            // Once is enough: a repeat round does not queue a second page.
                            if !next.held.iter().any(|h| h.user == user) {
                                next.held.push(Held {
                                    user,
                                    level: Some(level),
                                    until: start,
                                });
                            }
                            continue;
                        }
                    }
                    notify::page(config, &mut next, &user, Some(level), now, &mut ops);
                }
            }
            Step::Exhausted if !next.held.is_empty() => {
                // People are still waiting to be paged: nobody has had the chance to answer.
                let last = next.held.iter().map(|h| h.until).max().unwrap_or(now);
                if let Some(e) = &mut next.escalation {
                    e.exhausted = false;
                    e.next_at = Some(last + e.gap());
                }
            }
            Step::Exhausted => {
                let team = config
                    .service(&inc.service_id)
                    .and_then(|s| config.team(&s.team));
                let leads = team.map(|t| t.leads.clone()).unwrap_or_default();
                let to = inc.alert_channel.iter().cloned().chain(
                    leads
                        .iter()
                        .filter_map(|lead| config.user(lead).and_then(|u| u.slack_id.clone())),
                );
                for to in to {
                    ops.push((to.clone(), nobody_responded(&next, to)));
                }
            }
        }
    }
    ops.push((
        update_lane(inc),
        Outbound::UpdateIncident { incident: inc.id },
    ));
    Ok((next, ops))
}

/// The "nobody responded" notice for `inc`, whose escalation ran out, for `to`.
pub fn nobody_responded(inc: &Incident, to: String) -> Outbound {
    let mut paged: Vec<String> = vec![];
    for p in &inc.paged {
        if !paged.contains(&p.user) {
            paged.push(p.user.clone());
        }
    }
    Outbound::NobodyResponded {
        to,
        incident: inc.id,
        summary: inc.alert.summary.clone(),
        service: inc.service_id.clone(),
        paged,
        rounds: inc.escalation.as_ref().map_or(1, |e| e.policy.repeat + 1),
    }
}

/// When `user`'s working hours next begin (now if they are working): their
/// own hours, else their team's, else Monday to Friday 09:00–18:00, in their zone.
fn working_start(
    config: &Config,
    inc: &Incident,
    user: &str,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let u = config.user(user)?;
    let team = config
        .service(&inc.service_id)
        .and_then(|s| config.team(&s.team));
    let hours = match (&u.working_hours, team.map(|t| &t.working_hours)) {
        (own, _) if !own.is_empty() => own.clone(),
        (_, Some(t)) if !t.is_empty() => t.clone(),
        _ => working::default_hours(),
    };
    working::next_working_start(&hours, u.time_zone, now)
}

/// The messages for the last handoff in `(cursor, now]`. After a long stop only
/// the latest change is announced: stale "you are on call" DMs would mislead.
fn handoff_notices(
    core: &Core,
    s: &Schedule,
    overrides: &[Override],
    cursor: DateTime<Utc>,
    now: DateTime<Utc>,
    recorded: Option<Option<String>>,
) -> Vec<(String, Outbound)> {
    let window = shifts(s, overrides, cursor, now + Duration::milliseconds(1));
    let Some(after) = window.last() else {
        return vec![];
    };
    // Compare with whoever was on call last time: this also catches an
    // override that took effect from a time already past (e.g. "today 00:00").
    let before_user = match recorded {
        Some(u) => u,
        None if window.len() > 1 => window[window.len() - 2].user.clone(),
        None => return vec![],
    };
    if before_user == after.user {
        return vec![];
    }
    if window.len() > 2 {
        tracing::info!(schedule = %s.id, changes = window.len() - 1, "announcing only the latest handoff");
    }
    let until = shifts(
        s,
        overrides,
        after.start,
        after.start + Duration::days(HORIZON_DAYS),
    )
    .first()
    .map_or(after.start + Duration::days(HORIZON_DAYS), |x| x.end);
    let config = &core.config;
    let mut out = vec![];
    if let Some(slack_id) = after
        .user
        .as_deref()
        .and_then(|u| config.user(u))
        .and_then(|u| u.slack_id.clone())
    {
        out.push((
            slack_id.clone(),
            Outbound::ShiftStarted {
                to: slack_id,
                schedule: s.id.clone(),
                outgoing: before_user.clone(),
                until,
            },
        ));
    }
    if let Some(channel) = config.team(&s.team).and_then(|t| t.alert_channel.clone()) {
        out.push((
            channel.clone(),
            Outbound::Handoff {
                channel,
                schedule: s.id.clone(),
                incoming: after.user.clone(),
                outgoing: before_user,
                until,
            },
        ));
    }
    out
}

pub mod reports;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EscalationLevel, EscalationPolicy, Target};
    use crate::domain::escalation::Escalation;
    use chrono::TimeZone;

    #[test]
    fn a_step_matches_its_index_entry_at_millisecond_precision() {
        let config = Config::parse(
            "t.toml",
            "[[users]]\nid = \"a\"\nname = \"A\"\nslack_id = \"UA\"\n",
        )
        .unwrap();
        let opened = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap()
            + Duration::nanoseconds(123_456_789);
        let policy = EscalationPolicy {
            id: "p".into(),
            repeat: 0,
            levels: vec![EscalationLevel {
                after_minutes: 0,
                targets: vec![Target::User("a".into())],
            }],
        };
        let mut inc = crate::domain::incident::tests::sample(1);
        inc.escalation = Some(Escalation::start(policy, opened));
        // What the due index gives back: the same instant, in whole milliseconds.
        let from_index = DateTime::from_timestamp_millis(opened.timestamp_millis()).unwrap();
        let (next, ops) = plan_step(&config, &inc, from_index, opened, &|_| None).unwrap();
        assert_eq!(next.paged.len(), 1);
        assert!(matches!(&ops[0].1, Outbound::PageUser { user, page: 0, .. } if user == "UA"));
        let stale = from_index - Duration::milliseconds(1);
        assert!(plan_step(&config, &inc, stale, opened, &|_| None).is_err());
    }
}
