//! Heartbeat monitors: a job (a backup, a cron, a queue consumer) calls
//! `/heartbeat/{token}` at least every `interval`. A missed interval opens an
//! incident on the monitor's service, once per miss; the next beat resolves it.
//! Checked on every engine pass, from beats kept in the store, so a restart
//! neither forgets a miss nor reports it twice.

use crate::config::{Heartbeat, Service};
use crate::domain::incident::{AlertDetails, Severity};
use crate::ingest::{AlertAction, AlertEvent};
use crate::ops::alert::{Ingest, IngestError};
use crate::ops::Core;
use chrono::{DateTime, Utc};

fn dedup_key(h: &Heartbeat) -> String {
    format!("heartbeat:{}", h.id)
}

/// What a beat did.
#[derive(Debug, PartialEq, Eq)]
pub enum Beat {
    /// Recorded; the next is due by this time.
    Recorded { next_due: DateTime<Utc> },
    /// Recorded, and it resolved the incident for a missed beat.
    Recovered { next_due: DateTime<Utc> },
}

/// Records a beat for the monitor with `token`; `None` if no monitor has it.
pub async fn beat(core: &Core, token: &str) -> Result<Option<Beat>, IngestError> {
    let Some((service, h)) = core.config.heartbeat_by_token(token) else {
        return Ok(None);
    };
    let now = core.clock.now();
    core.store.beat(&h.id, now).await?;
    let next_due = now + h.interval;
    let open = core
        .store
        .open_incident_by_key(&service.integration_key, &dedup_key(h))
        .await?;
    if open.is_none() {
        return Ok(Some(Beat::Recorded { next_due }));
    }
    let resolve = AlertEvent {
        routing_key: service.integration_key.clone(),
        dedup_key: dedup_key(h),
        action: AlertAction::Resolve,
    };
    Ingest { core: core.clone() }.apply(&resolve).await?;
    tracing::info!(heartbeat = %h.id, "heartbeat is back");
    Ok(Some(Beat::Recovered { next_due }))
}

/// What a pass does with one monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Never beat: the interval counts from now, when tocsin began watching.
    Start,
    /// Beating; the next beat is due by then.
    Due(DateTime<Utc>),
    /// Silent since the beat at `last`, and not yet reported.
    Missed { last: DateTime<Utc> },
    /// Silent, and already reported.
    Reported,
}

/// What to do with a monitor beating every `interval`, whose last beat was
/// `last` and whose last reported silence began at `alerted`, at `now`.
pub fn plan(
    interval: chrono::Duration,
    last: Option<DateTime<Utc>>,
    alerted: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Watch {
    let Some(last) = last else {
        return Watch::Start;
    };
    let due = last + interval;
    if due > now {
        Watch::Due(due)
    } else if alerted != Some(last) {
        Watch::Missed { last }
    } else {
        Watch::Reported
    }
}

/// Opens an incident for every monitor whose beat is overdue and not yet
/// reported; returns when the next beat falls due.
pub async fn check(core: &Core, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, IngestError> {
    let mut next: Option<DateTime<Utc>> = None;
    for service in &core.config.services {
        for h in &service.heartbeats {
            let last = core.store.last_beat(&h.id).await?;
            // Only a silence can have been reported: a beating monitor costs one read.
            let overdue = last.is_some_and(|l| l + h.interval <= now);
            let alerted = if overdue {
                core.store.heartbeat_alerted(&h.id).await?
            } else {
                None
            };
            match plan(h.interval, last, alerted, now) {
                Watch::Start => {
                    core.store.beat(&h.id, now).await?;
                    next = earliest(next, now + h.interval);
                }
                Watch::Due(due) => next = earliest(next, due),
                Watch::Missed { last } => missed(core, service, h, last).await?,
                Watch::Reported => {}
            }
        }
    }
    Ok(next)
}

async fn missed(
    core: &Core,
    service: &Service,
    h: &Heartbeat,
    last: DateTime<Utc>,
) -> Result<(), IngestError> {
    let every = humantime(h.interval);
    let event = AlertEvent {
        routing_key: service.integration_key.clone(),
        dedup_key: dedup_key(h),
        action: AlertAction::Trigger(Box::new(AlertDetails {
            summary: format!(
                "Heartbeat {} missed: no beat since {} (expected every {every})",
                h.id,
                last.format("%Y-%m-%d %H:%M UTC")
            ),
            source: format!("heartbeat:{}", h.id),
            severity: Severity::Error,
            component: None,
            group: None,
            class: Some("heartbeat".into()),
            custom_details: None,
            links: vec![],
            client: Some("Heartbeat monitor".into()),
            client_url: None,
        })),
    };
    Ingest { core: core.clone() }.apply(&event).await?;
    // Reported once per silence: the next beat starts a new one.
    core.store.set_heartbeat_alerted(&h.id, last).await?;
    tracing::warn!(heartbeat = %h.id, %last, "heartbeat missed");
    Ok(())
}

fn earliest(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// "25h", "90m", "2d 3h": how the interval was probably written.
fn humantime(d: chrono::Duration) -> String {
    let mins = d.num_minutes();
    let (days, hours, minutes) = (mins / 1440, mins % 1440 / 60, mins % 60);
    let mut parts = vec![];
    if days > 0 {
        parts.push(format!("{days}d"));
    }
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 || parts.is_empty() {
        parts.push(format!("{minutes}m"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_silence_is_reported_once_and_a_new_beat_starts_over() {
        use chrono::TimeZone;
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        let every = Duration::hours(1);
        assert_eq!(plan(every, None, None, t0), Watch::Start);
        assert_eq!(plan(every, Some(t0), None, t0), Watch::Due(t0 + every));
        let late = t0 + every;
        assert_eq!(
            plan(every, Some(t0), None, late),
            Watch::Missed { last: t0 }
        );
        assert_eq!(plan(every, Some(t0), Some(t0), late), Watch::Reported);
        // Beat again, then silent again: a new silence.
        let beat = late + Duration::minutes(5);
        assert_eq!(
            plan(every, Some(beat), Some(t0), beat + every),
            Watch::Missed { last: beat }
        );
    }

    #[test]
    fn intervals_read_as_written() {
        assert_eq!(humantime(Duration::hours(25)), "1d 1h");
        assert_eq!(humantime(Duration::minutes(90)), "1h 30m");
        assert_eq!(humantime(Duration::minutes(5)), "5m");
    }
}
