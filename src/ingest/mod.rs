//! Monitoring payloads in, typed alert events out, applied to the store.
//!
//! Each wire format has a parser that turns bytes into an [`AlertEvent`] or a
//! list of precise errors; [`Ingest::apply`] is the one path into the store.

pub mod alertmanager;
pub mod events_v2;
pub mod grouping;
pub mod limits;
pub mod mappings;
pub mod rules;
pub mod webhook;

use crate::app::Core;
use crate::config::RuleAction;
use crate::config::Urgency;
use crate::escalation::Escalation;
use crate::incident::Severity;
use crate::incident::{Actor, AlertDetails, Incident, SubAlert, Transition};
use crate::store::{AlertsStopped, Changed, NewAlert, StoreError, Suppressed, Triggered};
use crate::warroom::{self, Sev};

/// What an alert asks for, independent of the format it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub routing_key: String,
    pub dedup_key: String,
    pub action: AlertAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlertAction {
    Trigger(Box<AlertDetails>),
    Acknowledge,
    Resolve,
    /// The current state of a group of alerts (an Alertmanager group): opens
    /// or updates the group's incident while any fires, resolves it when none do.
    Group {
        details: Box<AlertDetails>,
        alerts: Vec<SubAlert>,
    },
}

/// What applying an event did.
#[derive(Debug, Clone)]
pub enum Outcome {
    Triggered(Triggered),
    Changed(Changed),
    /// One alert of a grouped incident changed; the incident is still open.
    Updated(Box<Incident>),
    /// An event rule suppressed it: recorded, nobody paged.
    Suppressed,
    /// An event rule dropped it.
    Dropped,
}

impl From<AlertsStopped> for Outcome {
    fn from(s: AlertsStopped) -> Outcome {
        match s {
            AlertsStopped::Resolved(changed) => Outcome::Changed(changed),
            AlertsStopped::Firing(incident) => Outcome::Updated(Box::new(incident)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no service has this integration key")]
    UnknownKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies alert events durably, then wakes whoever drains the outbox.
#[derive(Clone)]
pub struct Ingest {
    pub core: Core,
}

impl Ingest {
    /// Applies `ev` and returns once it is durable on disk.
    pub async fn apply(&self, ev: &AlertEvent) -> Result<Outcome, IngestError> {
        let core = &self.core;
        let received = core
            .config
            .service_by_key(&ev.routing_key)
            .ok_or(IngestError::UnknownKey)?;
        let now = core.clock.now();
        // Event rules decide first: they may stop the alert, change it, or send
        // it to another service.
        let (details, rule) = match &ev.action {
            AlertAction::Trigger(d) | AlertAction::Group { details: d, .. } => {
                (Some(d), rules::first_match(&received.rules, d))
            }
            _ => (None, None),
        };
        let firing = match &ev.action {
            AlertAction::Group { alerts, .. } => alerts.iter().any(|a| a.firing),
            _ => true,
        };
        match (rule.map(|r| r.action), details) {
            (Some(RuleAction::Drop), _) => {
                tracing::debug!(service = %received.id, dedup_key = %ev.dedup_key, "dropped by an event rule");
                return Ok(Outcome::Dropped);
            }
            (Some(RuleAction::Suppress), Some(d)) => {
                if firing {
                    self.suppress(&received.id, &ev.dedup_key, d).await?;
                }
                return Ok(Outcome::Suppressed);
            }
            _ => {}
        }
        let service = rule
            .and_then(|r| r.route.as_deref())
            .and_then(|id| core.config.service(id))
            .unwrap_or(received);
        // During maintenance an alert is recorded, not paged.
        if let (Some(d), true) = (details, firing) {
            if core.store.window_at(&service.id, now)?.is_some() {
                self.suppress(&service.id, &ev.dedup_key, d).await?;
                return Ok(Outcome::Suppressed);
            }
        }
        let routing_key = service.integration_key.as_str();
        let actor = || Actor::Integration { client: None };
        // Acknowledge and resolve carry no fields to match: follow wherever
        // this service's rules may have routed the trigger.
        let by_key = |t: Transition| -> Result<Changed, StoreError> {
            let routed = received.rules.iter().filter_map(|r| r.route.as_deref());
            let keys = std::iter::once(received.integration_key.as_str()).chain(
                routed.filter_map(|id| core.config.service(id).map(|s| s.integration_key.as_str())),
            );
            let mut last = Changed::NotFound;
            for key in keys {
                last = core
                    .store
                    .transition_by_key(key, &ev.dedup_key, t, actor(), now)?;
                if !matches!(last, Changed::NotFound) {
                    break;
                }
            }
            Ok(last)
        };
        let trigger = |details: &AlertDetails,
                       alerts: &[SubAlert],
                       dedup_key: &str,
                       join: Option<(chrono::Duration, &str)>| {
            // Copied without the custom details, which may be most of it.
            let received_details = details.custom_details.as_ref();
            let mut details = details.without_custom_details();
            if let Some(severity) = rule.and_then(|r| r.severity) {
                details.severity = severity;
            }
            // Rules and grouping saw all of it; what is kept is capped.
            let capped = received_details.and_then(limits::cap_custom_details);
            if capped.is_some() {
                tracing::warn!(service = %service.id, dedup_key, limit = limits::MAX_CUSTOM_DETAILS, "custom details cut down to the limit");
            }
            // A rule says; else critical and error alerts are always high urgency.
            let urgency = match (rule.and_then(|r| r.urgency), details.severity) {
                (Some(u), _) => u,
                (None, Severity::Critical | Severity::Error) => Urgency::High,
                _ => service.urgency,
            };
            let channel = core
                .config
                .team_of_service(&service.id)
                .and_then(|t| t.alert_channel.clone());
            // Serious enough for a channel of its own (used if this opens an incident).
            let room = warroom::wants_room(
                &core.config,
                &service.id,
                Sev::from_severity(details.severity),
            )
            .then(|| warroom::new_room(&core.config, &service.id));
            core.store.trigger(&NewAlert {
                routing_key,
                service_id: &service.id,
                dedup_key,
                alert: details,
                custom_details: capped.as_ref().or(received_details),
                alert_channel: channel,
                escalation: service
                    .escalation_policy
                    .as_deref()
                    .and_then(|p| core.config.policy(p))
                    .map(|p| Escalation::start(p.clone(), now)),
                urgency,
                at: now,
                alerts: alerts.to_vec(),
                // Only a new incident shows them; an hour back is what responders ask about.
                changes: core
                    .store
                    .changes_since(&service.id, now - chrono::Duration::hours(1))?,
                join_within: join.map(|(w, _)| w),
                member_keys: join.map(|(_, m)| vec![m.to_string()]).unwrap_or_default(),
                flapping: service.flapping.map(|f| (f.count, f.window)),
                room,
            })
        };
        let outcome = match &ev.action {
            AlertAction::Trigger(details) => match &service.grouping {
                None => Outcome::Triggered(trigger(details, &[], &ev.dedup_key, None)?),
                Some(g) => {
                    let member = [grouping::member(&ev.dedup_key, details, now)];
                    // Already part of an open incident (a repeat): refresh it there.
                    let joined = core
                        .store
                        .open_incident_by_key(routing_key, &ev.dedup_key)?
                        .is_some();
                    Outcome::Triggered(if joined {
                        trigger(details, &member, &ev.dedup_key, None)?
                    } else {
                        let key = grouping::key(g, details);
                        trigger(details, &member, &key, Some((g.window, &ev.dedup_key)))?
                    })
                }
            },
            AlertAction::Group { details, alerts } if alerts.iter().any(|a| a.firing) => {
                Outcome::Triggered(trigger(details, alerts, &ev.dedup_key, None)?)
            }
            AlertAction::Group { alerts, .. } => {
                // Nothing in the group fires any more: record that, and resolve.
                match core
                    .store
                    .open_incident_by_key(routing_key, &ev.dedup_key)?
                {
                    Some(open) => core.store.alerts_stopped(open.id, actor(), now, |inc| {
                        inc.merge_alerts(alerts);
                        true
                    })?,
                    None => AlertsStopped::Resolved(Changed::NotFound),
                }
                .into()
            }
            AlertAction::Acknowledge => Outcome::Changed(by_key(Transition::Acknowledge)?),
            AlertAction::Resolve => {
                // One alert of a grouped incident resolving: mark it; the
                // incident resolves with its last alert.
                let grouped = core
                    .store
                    .open_incident_by_key(routing_key, &ev.dedup_key)?
                    .filter(|i| {
                        i.dedup_key != ev.dedup_key
                            && i.alerts.iter().any(|a| a.key == ev.dedup_key)
                    });
                match grouped {
                    Some(inc) => core
                        .store
                        .alerts_stopped(inc.id, actor(), now, |next| {
                            for a in next.alerts.iter_mut().filter(|a| a.key == ev.dedup_key) {
                                a.firing = false;
                            }
                            next.all_alerts_resolved()
                        })?
                        .into(),
                    None => Outcome::Changed(by_key(Transition::Resolve)?),
                }
            }
        };
        core.store.durable().await?;
        match &outcome {
            Outcome::Triggered(Triggered::Opened { incident, .. }) => {
                crate::metrics::incident_changed(incident, true)
            }
            Outcome::Changed(Changed::Applied { incident, .. }) => {
                crate::metrics::incident_changed(incident, false)
            }
            _ => {}
        }
        if queued_slack_work(&outcome) {
            core.outbox_ready.notify_one();
        }
        // New escalations, and raised urgency, are the engine's to act on now.
        if let Outcome::Triggered(
            Triggered::Opened { incident, .. } | Triggered::Appended { incident, .. },
        ) = &outcome
        {
            if incident.escalation.is_some() {
                core.engine_wake.notify_one();
            }
        }
        Ok(outcome)
    }
}

impl Ingest {
    /// Records an alert that pages nobody (a rule, a maintenance window), durably.
    async fn suppress(
        &self,
        service: &str,
        dedup_key: &str,
        d: &AlertDetails,
    ) -> Result<(), IngestError> {
        let s = Suppressed {
            dedup_key: dedup_key.to_string(),
            summary: d.summary.clone(),
            severity: d.severity,
            at: self.core.clock.now(),
        };
        self.core.store.add_suppressed(service, &s)?;
        self.core.store.durable().await?;
        Ok(())
    }
}

fn queued_slack_work(o: &Outcome) -> bool {
    matches!(
        o,
        Outcome::Updated(_)
            | Outcome::Triggered(
                Triggered::Opened {
                    outbox: Some(_),
                    ..
                } | Triggered::Appended {
                    outbox: Some(_),
                    ..
                }
            )
            | Outcome::Changed(Changed::Applied {
                outbox: Some(_),
                ..
            })
    )
}
