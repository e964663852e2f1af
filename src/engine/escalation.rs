//! Escalation: the steps the store's due-time index says are due. One step
//! is everything due on one incident at once (a room timer, a snooze's end,
//! pages held for working hours, reminders, the next escalation level),
//! planned by [`plan_step`] and applied in one transaction with the due index
//! and the outbox: after a crash a step has either fully happened or will
//! run again, never twice.

use super::{Read, Writes};
use crate::config::{Config, Urgency};
use crate::domain::escalation::{resolve_targets, Step};
use crate::domain::incident::{Held, Incident, State};
use crate::domain::notify;
use crate::domain::schedule::working;
use crate::ops::Core;
use crate::store::{update_lane, Outbound, StoreError};
use chrono::{DateTime, Utc};

/// Runs every step due by `now`; returns when the next one is due.
pub(super) async fn run(core: &Core, read: &Read) -> Result<Option<DateTime<Utc>>, StoreError> {
    let due = core.store.due(read.now).await?;
    if !due.is_empty() {
        let mut writes = Writes::default();
        let on_call = |schedule: &str| read.on_call(core, schedule);
        for (due_at, id) in due {
            // One bad entry must not stop every other escalation: log it and go on.
            match step_one(core, id, due_at, read.now, &on_call).await {
                Ok(work) => writes.wrote(work),
                Err(e) => {
                    writes.wrote(0);
                    tracing::error!(incident = id, error = %e, "escalation step failed; will retry")
                }
            }
        }
        writes.settle(core, Ok::<(), StoreError>(()))?;
    }
    core.store.next_due().await
}

/// Runs the step of incident `id` due at `due_at`; returns how much work it queued.
async fn step_one(
    core: &Core,
    id: u64,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
    on_call: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<usize, StoreError> {
    match core
        .store
        .update_incident(id, now, |inc| {
            plan_step(&core.config, inc, due_at, now, on_call)
        })
        .await?
    {
        // Every step queues at least the incident's message update.
        Ok(_) => Ok(1),
        Err(why) => {
            if still_pending(core.store.incident(id).await?.as_ref(), due_at) {
                tracing::warn!(incident = id, %why, "escalation step not run; will retry");
            } else {
                tracing::debug!(incident = id, %why, "stale escalation entry");
                core.store.forget_due(due_at, id).await?;
            }
            Ok(0)
        }
    }
}

/// Whether the index entry at `due_at` is still the incident's next due
/// time. An entry is forgotten only if the incident moved on (acknowledged,
/// escalated, re-timed); a step that is still pending is never dropped.
fn still_pending(inc: Option<&Incident>, due_at: DateTime<Utc>) -> bool {
    inc.is_some_and(|i| {
        i.next_due().map(|t| t.timestamp_millis()) == Some(due_at.timestamp_millis())
    })
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
    if let Some(planned) = snooze_over(inc, due_at, now) {
        return Ok(planned);
    }
    if inc.state != State::Triggered || inc.next_due().map(millis) != Some(millis(due_at)) {
        return Err("not due any more".into());
    }
    let mut next = inc.clone();
    let mut ops = vec![];
    release_held(config, &mut next, now, &mut ops);
    super::reminders::plan(config, &mut next, now, &mut ops);
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
                    page_or_hold(config, inc, &mut next, user, level, now, &mut ops);
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

/// The index keeps milliseconds; the incident may hold a finer instant.
fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A snooze that ends at `due_at`: the incident pages again.
fn snooze_over(
    inc: &Incident,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(Incident, Vec<(String, Outbound)>)> {
    if inc.state != State::Acknowledged || inc.snoozed_until.map(millis) != Some(millis(due_at)) {
        return None;
    }
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
    Some((next, ops))
}

/// Pages that waited for working hours and are now due, once per person.
fn release_held(config: &Config, next: &mut Incident, now: DateTime<Utc>, ops: &mut notify::Work) {
    let (ready, waiting): (Vec<Held>, Vec<Held>) =
        next.held.drain(..).partition(|h| h.until <= now);
    next.held = waiting;
    let mut released: Vec<String> = vec![];
    for h in ready {
        if !released.contains(&h.user) {
            released.push(h.user.clone());
            notify::page(config, next, &h.user, h.level, now, ops);
        }
    }
}

/// Pages `user` for escalation level `level`, or, at low urgency outside
/// their working hours, holds the page until the hours begin.
fn page_or_hold(
    config: &Config,
    inc: &Incident,
    next: &mut Incident,
    user: String,
    level: usize,
    now: DateTime<Utc>,
    ops: &mut notify::Work,
) {
    if next.urgency == Urgency::Low {
        if let Some(start) = working_start(config, inc, &user, now).filter(|t| *t > now) {
            // Once is enough: a repeat round does not queue a second page.
            if !next.held.iter().any(|h| h.user == user) {
                next.held.push(Held {
                    user,
                    level: Some(level),
                    until: start,
                });
            }
            return;
        }
    }
    notify::page(config, next, &user, Some(level), now, ops);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EscalationLevel, EscalationPolicy, Target};
    use crate::domain::escalation::Escalation;
    use chrono::{Duration, TimeZone};

    fn one_level() -> EscalationPolicy {
        EscalationPolicy {
            id: "p".into(),
            repeat: 0,
            levels: vec![EscalationLevel {
                after_minutes: 0,
                targets: vec![Target::User("a".into())],
            }],
        }
    }

    fn config() -> Config {
        Config::parse(
            "t.toml",
            "[[users]]\nid = \"a\"\nname = \"A\"\nslack_id = \"UA\"\n",
        )
        .unwrap()
    }

    #[test]
    fn a_step_matches_its_index_entry_at_millisecond_precision() {
        let config = config();
        let opened = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap()
            + Duration::nanoseconds(123_456_789);
        let mut inc = crate::domain::incident::tests::sample(1);
        inc.escalation = Some(Escalation::start(one_level(), opened));
        // What the due index gives back: the same instant, in whole milliseconds.
        let from_index = DateTime::from_timestamp_millis(opened.timestamp_millis()).unwrap();
        let (next, ops) = plan_step(&config, &inc, from_index, opened, &|_| None).unwrap();
        assert_eq!(next.paged.len(), 1);
        assert!(matches!(&ops[0].1, Outbound::PageUser { user, page: 0, .. } if user == "UA"));
        let stale = from_index - Duration::milliseconds(1);
        assert!(plan_step(&config, &inc, stale, opened, &|_| None).is_err());
    }

    #[test]
    fn an_entry_is_pending_only_while_it_is_the_incidents_next_due_time() {
        let opened = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        let mut inc = crate::domain::incident::tests::sample(1);
        inc.escalation = Some(Escalation::start(one_level(), opened));
        assert!(still_pending(Some(&inc), opened));
        assert!(!still_pending(Some(&inc), opened + Duration::minutes(1)));
        assert!(!still_pending(None, opened));
        inc.state = State::Resolved;
        assert!(!still_pending(Some(&inc), opened));
    }

    #[test]
    fn a_snooze_ends_at_its_own_time_only() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 4, 0, 0).unwrap();
        let mut inc = crate::domain::incident::tests::sample(1);
        inc.state = State::Acknowledged;
        inc.snoozed_until = Some(at);
        let (next, ops) = snooze_over(&inc, at, at).unwrap();
        assert_eq!(next.state, State::Triggered);
        assert!(matches!(&ops[0].1, Outbound::SnoozeOver { channel, .. } if channel == "C1"));
        assert!(matches!(
            &ops[1].1,
            Outbound::UpdateIncident { incident: 1 }
        ));
        assert!(snooze_over(&inc, at + Duration::minutes(1), at).is_none());
    }
}
