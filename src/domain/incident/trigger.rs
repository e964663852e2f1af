//! What an alert does to the incident its dedup key points at: joins it,
//! reopens it because it flaps, or opens a new one. Pure: the store reads the
//! previous incident, calls [`decide`] and writes what it returns.

use super::{AlertDetails, Change, Incident, Severity, State, SubAlert};
use crate::config::Urgency;
use crate::domain::escalation::Escalation;
use chrono::{DateTime, Duration, Utc};

/// The alert as the decision needs it.
pub struct Alerted<'a> {
    pub service_id: &'a str,
    pub routing_key: &'a str,
    pub dedup_key: &'a str,
    /// The alert; a new incident keeps it without its custom details.
    pub alert: &'a AlertDetails,
    pub alert_channel: Option<&'a str>,
    /// The service's policy, snapshotted, when it has one.
    pub escalation: Option<&'a Escalation>,
    pub urgency: Urgency,
    /// The grouped alerts this report carries (empty for a single alert).
    pub alerts: &'a [SubAlert],
    /// Recent changes to the service, shown on a new incident.
    pub changes: &'a [Change],
    /// Join the open incident only if its last alert came within this long.
    pub join_within: Option<Duration>,
    /// Re-triggered `.0` times within `.1` after resolving: reopen, page nobody.
    pub flapping: Option<(u32, Duration)>,
    /// A room of its own from the start.
    pub room: Option<&'a crate::domain::warroom::Room>,
    /// What intelligent grouping knew of it, kept if it opens an incident.
    pub insight: &'a super::Insight,
}

/// What the alert does.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The previous incident is open and recent enough: counted on it, nobody paged again.
    Append(Incident),
    /// The previous incident resolved and re-triggered too often: reopened, marked flapping.
    Reopen(Incident),
    /// A new incident, without its id (the store numbers it).
    Open(Incident),
}

/// Decides what the alert `a`, arriving at `at`, does given `previous`, the
/// incident its dedup key points at (open or not), if any.
pub fn decide(previous: Option<&Incident>, a: &Alerted<'_>, at: DateTime<Utc>) -> Decision {
    if let Some(current) = previous {
        let joins = a
            .join_within
            .is_none_or(|w| at - current.last_alert_at <= w);
        if current.is_open() && joins {
            let mut next = current.with_repeat_alert(at);
            next.merge_alerts(a.alerts);
            if matches!(a.alert.severity, Severity::Critical | Severity::Error) {
                next.raise_urgency(at);
            }
            return Decision::Append(next);
        }
    }
    let flaps = flap_times(previous, a.flapping.map(|(_, w)| w), at);
    if let (Some(prev), Some((count, _))) = (previous, a.flapping) {
        if flaps.len() > count as usize {
            let mut next = prev.reopen_flapping(at, flaps);
            next.merge_alerts(a.alerts);
            return Decision::Reopen(next);
        }
    }
    Decision::Open(new_incident(a, at, flaps))
}

/// The re-triggers of `previous` within `window`, this one included, if it
/// resolved within `window`; none otherwise.
fn flap_times(
    previous: Option<&Incident>,
    window: Option<Duration>,
    at: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let (Some(prev), Some(window)) = (previous, window) else {
        return vec![];
    };
    let resolved_at = prev.resolved.as_ref().map(|s| s.at);
    if resolved_at.is_none_or(|t| at - t > window) {
        return vec![];
    }
    let mut times: Vec<DateTime<Utc>> = prev
        .flap_times
        .iter()
        .copied()
        .filter(|t| at - *t <= window)
        .collect();
    times.push(at);
    times
}

fn new_incident(a: &Alerted<'_>, at: DateTime<Utc>, flap_times: Vec<DateTime<Utc>>) -> Incident {
    Incident {
        id: 0,
        service_id: a.service_id.to_string(),
        routing_key: a.routing_key.to_string(),
        dedup_key: a.dedup_key.to_string(),
        alert: a.alert.without_custom_details(),
        state: State::Triggered,
        created_at: at,
        alert_count: 1,
        last_alert_at: at,
        acknowledged: None,
        resolved: None,
        alert_channel: a.alert_channel.map(str::to_string),
        escalation: a.escalation.cloned(),
        paged: vec![],
        snoozed_until: None,
        urgency: a.urgency,
        held: vec![],
        reminders: vec![],
        changes: a.changes.to_vec(),
        alerts: a.alerts.to_vec(),
        call: None,
        flap_times,
        notices: vec![],
        flapping: false,
        coord: crate::domain::warroom::Coordination {
            room: a.room.cloned(),
            ..Default::default()
        },
        insight: a.insight.clone(),
    }
}

#[cfg(test)]
mod tests;
