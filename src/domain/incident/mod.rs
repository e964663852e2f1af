//! Incidents and their state machine: triggered → acknowledged → resolved.
//!
//! Pure: no I/O, no clock reads. The store applies these transitions inside a
//! compare-and-swap so a replay or a double click changes nothing.

use crate::config::{Urgency, Via};
use crate::domain::escalation::Escalation;
use crate::domain::warroom::Coordination;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::config::Severity;

pub mod trigger;

/// The most custom details an incident keeps, in bytes of compact JSON: the
/// size PagerDuty allows for a whole event. Larger ones are cut down to fit
/// when they arrive (`ingest::limits::cap_custom_details`).
pub const MAX_CUSTOM_DETAILS: usize = 512 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Triggered,
    Acknowledged,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Triggered => "triggered",
            State::Acknowledged => "acknowledged",
            State::Resolved => "resolved",
        }
    }
}

/// Who changed an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Actor {
    /// A person, by Slack user id.
    Slack { user_id: String },
    /// A monitoring tool through an integration (e.g. an Events API resolve).
    Integration { client: Option<String> },
    /// A person who pressed a key on a phone call tocsin made: config user id
    /// and, if they have one, Slack id.
    Phone {
        user: String,
        slack_id: Option<String>,
    },
    /// A script holding the API's write token, on behalf of `by` (whoever
    /// the request names; free text, kept for the record).
    Api { by: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub by: Actor,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub href: String,
    pub text: Option<String>,
}

/// What a monitoring tool told us about the alert that opened an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertDetails {
    pub summary: String,
    pub source: String,
    pub severity: Severity,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    /// Whatever else the sender said, capped at
    /// [`MAX_CUSTOM_DETAILS`] when stored. The store
    /// keeps an incident's details apart from the incident, written once
    /// (`Store::custom_details`): an incident read from the store has
    /// `None` here, so that its many rewrites never copy them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_details: Option<serde_json::Value>,
    pub links: Vec<Link>,
    pub client: Option<String>,
    pub client_url: Option<String>,
}

impl AlertDetails {
    /// A copy without the custom details, which may be most of an alert's
    /// size and are stored apart from the incident.
    pub fn without_custom_details(&self) -> AlertDetails {
        let AlertDetails {
            summary,
            source,
            severity,
            component,
            group,
            class,
            custom_details: _,
            links,
            client,
            client_url,
        } = self;
        AlertDetails {
            summary: summary.clone(),
            source: source.clone(),
            severity: *severity,
            component: component.clone(),
            group: group.clone(),
            class: class.clone(),
            custom_details: None,
            links: links.clone(),
            client: client.clone(),
            client_url: client_url.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Short human id, shown as `#42`.
    pub id: u64,
    pub service_id: String,
    pub routing_key: String,
    pub dedup_key: String,
    pub alert: AlertDetails,
    pub state: State,
    pub created_at: DateTime<Utc>,
    pub alert_count: u32,
    pub last_alert_at: DateTime<Utc>,
    pub acknowledged: Option<Stamp>,
    pub resolved: Option<Stamp>,
    /// The channel the incident is announced in, if its team has one.
    pub alert_channel: Option<String>,
    /// Escalation in progress (absent for services without a policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
    /// Everyone paged so far, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paged: Vec<Page>,
    /// An acknowledged incident pages again at this time unless resolved first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "is_high")]
    pub urgency: Urgency,
    /// Low-urgency pages waiting for the person's working hours.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Held>,
    /// Later steps of paged people's notification rules (an SMS after 5 minutes, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reminders: Vec<Reminder>,
    /// Changes to the service in the hour before the incident opened (deploys,
    /// config pushes): the first question asked in every incident.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// The alerts grouped into this incident by a grouping source (an
    /// Alertmanager group), each tracked by its own key until all resolve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<SubAlert>,
    /// The phone call this incident is about (live call routing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<CallLog>,
    /// When this alert was re-triggered soon after resolving (flap detection).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flap_times: Vec<DateTime<Utc>>,
    /// Every notification sent to a person (DM, SMS, call), for interruption counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
    /// Reopened because it flaps: kept here, nobody paged anew.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flapping: bool,
    /// Severity level, roles, room, subscribers and timeline entries.
    #[serde(default, skip_serializing_if = "Coordination::is_empty")]
    pub coord: Coordination,
    /// What intelligent grouping learned about it when it opened.
    #[serde(default, skip_serializing_if = "Insight::is_empty")]
    pub insight: Insight,
}

/// What a service with intelligent grouping knew of a new incident when it
/// opened: how usual its kind is, the open incident most like it (offered
/// as **Merge into #N**), and the resolved ones most like it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Insight {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier: Option<crate::domain::similarity::Outlier>,
    /// The most similar open incident of the service, below the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nearest: Option<Nearest>,
    /// Up to three resolved incidents with the most similar titles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub past: Vec<Past>,
}

impl Insight {
    pub fn is_empty(&self) -> bool {
        *self == Insight::default()
    }
}

/// Another incident and how similar it was, in thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nearest {
    pub id: u64,
    pub score: u16,
}

/// A resolved incident like a new one: what fixed it last time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Past {
    pub id: u64,
    pub title: String,
    pub service_id: String,
    pub opened: DateTime<Utc>,
    pub resolved: Stamp,
    /// Thousandths.
    pub score: u16,
    /// The last note, update or pinned message people wrote, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Its incident channel, where the postmortem was shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

/// A change event (`POST /v2/change/enqueue`): something that changed on a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
}

/// One alert within a grouped incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubAlert {
    /// Stable identity from the source (Alertmanager's fingerprint).
    pub key: String,
    pub summary: String,
    pub firing: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub since: DateTime<Utc>,
    /// Why intelligent grouping put it here: how similar it was, and its tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similar: Option<Similar>,
}

/// An alert intelligent grouping joined to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Similar {
    /// Thousandths.
    pub score: u16,
    pub tokens: crate::domain::similarity::Tokens,
}

impl Incident {
    /// Folds a fresh report of grouped alerts into this incident: known keys
    /// take the new state, new keys are added. Returns how many newly fire.
    pub fn merge_alerts(&mut self, report: &[SubAlert]) -> usize {
        let mut newly_firing = 0;
        for a in report {
            match self.alerts.iter_mut().find(|x| x.key == a.key) {
                Some(known) => {
                    newly_firing += usize::from(a.firing && !known.firing);
                    *known = a.clone();
                }
                None => {
                    newly_firing += usize::from(a.firing);
                    self.alerts.push(a.clone());
                }
            }
        }
        newly_firing
    }

    /// Grouped, and every alert in the group has resolved.
    pub fn all_alerts_resolved(&self) -> bool {
        !self.alerts.is_empty() && self.alerts.iter().all(|a| !a.firing)
    }
}

/// A call to a routed number: who called, who was rung, who answered, the voicemail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLog {
    /// Twilio's `CallSid`.
    pub sid: String,
    pub caller: String,
    /// The number that was called.
    pub route: String,
    /// Who to ring, in order (escalation levels flattened), fixed when the call began.
    pub queue: Vec<Ring>,
    /// One per ring that ended, in order.
    pub attempts: Vec<Attempt>,
    /// When the current ring began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ringing_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    #[serde(default)]
    pub caller_hung_up: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail: Option<Voicemail>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ring {
    pub user: String,
    pub phone: String,
    pub level: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub user: String,
    /// Twilio's `DialCallStatus`: completed, answered, busy, no-answer, failed, canceled.
    pub status: String,
    pub rang_seconds: i64,
    /// How long they talked, when answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voicemail {
    pub recording_url: String,
    pub seconds: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription: Option<String>,
}

fn is_high(u: &Urgency) -> bool {
    *u == Urgency::High
}

/// A page that waits until `until` (the start of the person's working hours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub user: String,
    pub level: Option<usize>,
    pub until: DateTime<Utc>,
}

/// A notification still to come for page `page` (an index in `paged`), from
/// the person's notification rules; dropped once the incident is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub user: String,
    pub page: usize,
    pub via: Via,
    /// A later Slack notice: a short nudge, not a second DM with buttons.
    #[serde(default)]
    pub nudge: bool,
    pub at: DateTime<Utc>,
}

/// A notification that reached for a person: what interrupts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub user: String,
    pub via: Via,
    pub at: DateTime<Utc>,
}

/// One person paged for an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Config user id.
    pub user: String,
    pub at: DateTime<Utc>,
    /// The escalation level, or `None` when a person assigned them.
    pub level: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Acknowledge,
    Resolve,
}

/// Why a transition changed nothing; replays and double clicks end here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoChange {
    #[error("incident is already acknowledged")]
    AlreadyAcknowledged,
    #[error("incident is already resolved")]
    AlreadyResolved,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.state != State::Resolved
    }

    /// The incident after `t`, or why `t` does not apply.
    pub fn apply(&self, t: Transition, by: Actor, at: DateTime<Utc>) -> Result<Incident, NoChange> {
        let mut next = self.clone();
        match (self.state, t) {
            (State::Resolved, _) => return Err(NoChange::AlreadyResolved),
            (State::Acknowledged, Transition::Acknowledge) => {
                return Err(NoChange::AlreadyAcknowledged)
            }
            (State::Triggered, Transition::Acknowledge) => {
                next.state = State::Acknowledged;
                next.acknowledged = Some(Stamp { by, at });
            }
            (_, Transition::Resolve) => {
                next.state = State::Resolved;
                next.resolved = Some(Stamp { by, at });
            }
        }
        // A person has it (or it is over): escalation stops.
        if let Some(e) = &mut next.escalation {
            e.stop();
        }
        if next.state == State::Resolved {
            next.snoozed_until = None;
        }
        // Whoever has it now, nobody else needs waking.
        next.held.clear();
        next.reminders.clear();
        Ok(next)
    }

    /// When time alone next changes this incident: its next escalation step
    /// while triggered, the end of its snooze while acknowledged, and its
    /// room's timer (an update nudge, the archive once resolved).
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        let own = match self.state {
            State::Triggered => {
                let step = self.escalation.as_ref().and_then(|e| e.next_at);
                let held = self.held.iter().map(|h| h.until).min();
                let reminder = self.reminders.iter().map(|r| r.at).min();
                step.into_iter().chain(held).chain(reminder).min()
            }
            State::Acknowledged => self.snoozed_until,
            State::Resolved => None,
        };
        own.into_iter()
            .chain(crate::domain::warroom::due(self))
            .min()
    }

    /// Made high urgency (a critical alert, or a person escalating): pages
    /// waiting for working hours are due at once.
    pub fn raise_urgency(&mut self, at: DateTime<Utc>) {
        self.urgency = Urgency::High;
        for h in &mut self.held {
            h.until = h.until.min(at);
        }
    }

    /// Acknowledged and snoozed by `by` (a Slack id) at `at`: pages again
    /// at `until` unless resolved.
    pub fn snooze(
        &self,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<Incident, String> {
        if self.state != State::Acknowledged {
            return Err(format!(
                "#{} is {}; only an acknowledged incident can be snoozed.",
                self.id,
                self.state.as_str()
            ));
        }
        let mut next = self.clone();
        next.snoozed_until = Some(until);
        next.coord.timeline.push(crate::domain::warroom::Entry {
            at,
            by: Some(by.to_string()),
            kind: crate::domain::warroom::EntryKind::Snooze,
            text: format!("snoozed until {}", until.format("%Y-%m-%d %H:%M UTC")),
            fact: None,
        });
        Ok(next)
    }

    /// The snooze ran out: triggered again, escalating from the first level.
    /// The acknowledgement it clears stays in the timeline.
    pub fn wake(&self, at: DateTime<Utc>) -> Incident {
        let mut next = self.clone();
        if let Some(ack) = &self.acknowledged {
            // A person is shown by the timeline as any author is; others by name here.
            let (by, text) = match &ack.by {
                Actor::Slack { user_id: id }
                | Actor::Phone {
                    slack_id: Some(id), ..
                } => (
                    Some(id.clone()),
                    "acknowledged before the snooze".to_string(),
                ),
                Actor::Phone { user, .. } => {
                    (None, format!("acknowledged by {user} before the snooze"))
                }
                Actor::Integration { client } => (
                    None,
                    format!(
                        "acknowledged by {} before the snooze",
                        client.as_deref().unwrap_or("the monitoring integration")
                    ),
                ),
                Actor::Api { by } => (
                    None,
                    format!("acknowledged by {by} (through the API) before the snooze"),
                ),
            };
            next.coord.timeline.push(crate::domain::warroom::Entry {
                at: ack.at,
                by,
                kind: crate::domain::warroom::EntryKind::Snooze,
                text,
                fact: None,
            });
        }
        next.coord.timeline.push(crate::domain::warroom::Entry {
            at,
            by: None,
            kind: crate::domain::warroom::EntryKind::Snooze,
            text: "over and not resolved: paging again from the first level".into(),
            fact: None,
        });
        next.state = State::Triggered;
        next.acknowledged = None;
        next.snoozed_until = None;
        if let Some(e) = &self.escalation {
            next.escalation = Some(Escalation::start(e.policy.clone(), at));
        }
        next
    }

    /// Re-triggered once too often soon after resolving: open again, marked
    /// flapping, with its escalation left stopped so nobody is paged anew.
    pub fn reopen_flapping(&self, at: DateTime<Utc>, flap_times: Vec<DateTime<Utc>>) -> Incident {
        let mut next = self.with_repeat_alert(at);
        next.state = State::Triggered;
        next.resolved = None;
        next.flapping = true;
        next.flap_times = flap_times;
        next
    }

    /// Another alert with the same dedup key arrived: count it, page nobody.
    pub fn with_repeat_alert(&self, at: DateTime<Utc>) -> Incident {
        let mut next = self.clone();
        next.alert_count = next.alert_count.saturating_add(1);
        next.last_alert_at = at;
        next
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn sample(id: u64) -> Incident {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        Incident {
            id,
            service_id: "api".into(),
            routing_key: "k".into(),
            dedup_key: format!("d{id}"),
            alert: AlertDetails {
                summary: "CPU on fire".into(),
                source: "web-1".into(),
                severity: Severity::Critical,
                component: None,
                group: None,
                class: None,
                custom_details: None,
                links: vec![],
                client: None,
                client_url: None,
            },
            state: State::Triggered,
            created_at: at,
            alert_count: 1,
            last_alert_at: at,
            acknowledged: None,
            resolved: None,
            alert_channel: Some("C1".into()),
            escalation: None,
            paged: vec![],
            snoozed_until: None,
            urgency: Urgency::High,
            held: vec![],
            reminders: vec![],
            changes: vec![],
            alerts: vec![],
            call: None,
            flap_times: vec![],
            notices: vec![],
            flapping: false,
            coord: Coordination::default(),
            insight: Insight::default(),
        }
    }

    fn alice() -> Actor {
        Actor::Slack {
            user_id: "UALICE".into(),
        }
    }

    #[test]
    fn transitions_follow_the_table() {
        use State::*;
        use Transition::*;
        let cases = [
            (Triggered, Acknowledge, Ok(Acknowledged)),
            (Triggered, Resolve, Ok(Resolved)),
            (
                Acknowledged,
                Acknowledge,
                Err(NoChange::AlreadyAcknowledged),
            ),
            (Acknowledged, Resolve, Ok(Resolved)),
            (Resolved, Acknowledge, Err(NoChange::AlreadyResolved)),
            (Resolved, Resolve, Err(NoChange::AlreadyResolved)),
        ];
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 4, 0, 0).unwrap();
        for (from, t, expected) in cases {
            let mut inc = sample(1);
            inc.state = from;
            let got = inc.apply(t, alice(), at).map(|i| i.state);
            assert_eq!(got, expected, "{from:?} + {t:?}");
        }
    }

    #[test]
    fn acknowledging_records_who_and_when() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 4, 0, 0).unwrap();
        let acked = sample(1)
            .apply(Transition::Acknowledge, alice(), at)
            .unwrap();
        assert_eq!(acked.acknowledged, Some(Stamp { by: alice(), at }));
        assert!(acked.resolved.is_none());
        assert!(acked.is_open());
    }

    #[test]
    fn a_repeat_alert_counts_without_changing_state() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 5, 0, 0).unwrap();
        let again = sample(1).with_repeat_alert(at);
        assert_eq!(again.alert_count, 2);
        assert_eq!(again.state, State::Triggered);
        assert_eq!(again.last_alert_at, at);
    }
}
