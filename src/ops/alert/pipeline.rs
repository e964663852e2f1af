//! The stages an alert event goes through once parsed, in order: rules →
//! maintenance → grouping → commit. `Ingest::apply` composes them.
//!
//! The pure stages (`rules`, `maintenance`, `grouping`, `trigger`,
//! `urgency`, `transition_keys`, `grouped_member`) take data and return a
//! decision, with no I/O. The store is only read for what a decision needs
//! (`Ingest::apply`: is a maintenance window open? `plan`: is this alert
//! already in an open incident?), and only when it is needed; `commit` and
//! `suppress` are the only stages that write.

use super::{IngestError, Outcome};
use crate::config::{Config, Grouping, Rule, RuleAction, Service, Urgency};
use crate::domain::escalation::Escalation;
use crate::domain::incident::{
    Actor, AlertDetails, Incident, Insight, Nearest, Severity, Similar, SubAlert, Transition,
};
use crate::domain::similarity::{per_mille, Model, Outlier};
use crate::domain::warroom::{self, Room, Sev};
use crate::domain::{grouping, rules};
use crate::ingest::{limits, AlertAction, AlertEvent};
use crate::ops::Core;
use crate::store::{AlertsStopped, Changed, NewAlert, StoreError, Suppressed, Triggered};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::borrow::Cow;

#[cfg(test)]
mod tests;

/// What the service's event rules decided.
#[derive(Debug)]
pub(super) enum Ruled<'a> {
    /// Discard the event: nothing is stored.
    Drop,
    /// Page nobody. An alert that would page is recorded on the service it
    /// came to; a group in which nothing fires any more is not.
    Suppress(Option<Record<'a>>),
    /// Go on, with the rule's changes if one matched.
    Go(Routed<'a>),
}

/// An alert recorded as suppressed: on which service, and what it said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Record<'a> {
    pub(super) service: &'a str,
    pub(super) dedup_key: &'a str,
    pub(super) details: &'a AlertDetails,
}

/// An event the rules let through.
#[derive(Debug, Clone, Copy)]
pub(super) struct Routed<'a> {
    /// The service the event's integration key belongs to.
    pub(super) received: &'a Service,
    /// The service that handles it: `received`, unless a rule routed it on.
    pub(super) service: &'a Service,
    /// The matching rule, whose severity and urgency a trigger takes.
    pub(super) rule: Option<&'a Rule>,
}

/// The alert an event carries, if it carries one (a trigger or a group).
fn details(ev: &AlertEvent) -> Option<&AlertDetails> {
    match &ev.action {
        AlertAction::Trigger(d) | AlertAction::Group { details: d, .. } => Some(d),
        _ => None,
    }
}

/// The alert an event carries when it would page: a trigger, or a group in
/// which at least one alert fires.
fn paging(ev: &AlertEvent) -> Option<&AlertDetails> {
    let firing = match &ev.action {
        AlertAction::Group { alerts, .. } => alerts.iter().any(|a| a.firing),
        _ => true,
    };
    details(ev).filter(|_| firing)
}

/// Rules: the first of the receiving service's rules that matches the alert
/// drops it, suppresses it, or lets it go on (maybe to another service).
/// Acknowledge and resolve carry no fields to match and always go on.
pub(super) fn rules<'a>(
    config: &'a Config,
    received: &'a Service,
    ev: &'a AlertEvent,
    outlier: Option<Outlier>,
) -> Ruled<'a> {
    let rule = details(ev).and_then(|d| rules::first_match_labelled(&received.rules, d, outlier));
    match rule.map(|r| r.action) {
        Some(RuleAction::Drop) => return Ruled::Drop,
        Some(RuleAction::Suppress) => {
            return Ruled::Suppress(paging(ev).map(|details| Record {
                service: &received.id,
                dedup_key: &ev.dedup_key,
                details,
            }))
        }
        Some(RuleAction::Continue) | None => {}
    }
    let service = rule
        .and_then(|r| r.route.as_deref())
        .and_then(|id| config.service(id))
        .unwrap_or(received);
    Ruled::Go(Routed {
        received,
        service,
        rule,
    })
}

/// Maintenance: what to record instead of paging if the handling service is
/// in a maintenance window now. `None` for an event that would page nobody
/// anyway, so acknowledgements and resolves never ask for the windows.
pub(super) fn maintenance<'a>(ev: &'a AlertEvent, routed: &Routed<'a>) -> Option<Record<'a>> {
    paging(ev).map(|details| Record {
        service: &routed.service.id,
        dedup_key: &ev.dedup_key,
        details,
    })
}

/// Where a trigger lands.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Grouped<'a> {
    /// The key the incident is triggered on: the alert's own, or its group's.
    pub(super) dedup_key: Cow<'a, str>,
    /// The alerts the report carries (empty for a single ungrouped alert).
    pub(super) alerts: Vec<SubAlert>,
    /// Join the group's open incident only if its last alert came within
    /// this long, and point the alert's own key at it too.
    pub(super) join: Option<(Duration, &'a str)>,
    /// What intelligent grouping knew, kept if this opens an incident.
    pub(super) insight: Insight,
}

/// Grouping, for a single alert: on its own key when the service does not
/// group, or when the alert is already part of an open incident (`joined`:
/// a repeat refreshes it there); else on its group's key, joining the
/// group's incident while that is recent.
pub(super) fn grouping<'a>(
    ev: &'a AlertEvent,
    details: &AlertDetails,
    g: Option<&Grouping>,
    joined: bool,
    now: DateTime<Utc>,
) -> Grouped<'a> {
    let own = Cow::Borrowed(ev.dedup_key.as_str());
    let Some(g) = g else {
        return Grouped {
            dedup_key: own,
            alerts: vec![],
            join: None,
            insight: Insight::default(),
        };
    };
    let alerts = vec![grouping::member(&ev.dedup_key, details, now)];
    if joined {
        Grouped {
            dedup_key: own,
            alerts,
            join: None,
            insight: Insight::default(),
        }
    } else {
        Grouped {
            dedup_key: Cow::Owned(grouping::key(g, details)),
            alerts,
            join: Some((g.window, &ev.dedup_key)),
            insight: Insight::default(),
        }
    }
}

/// The dedup key of an incident intelligent grouping opens for the alert
/// with key `own`: its own, marked, so that resolving that one alert
/// resolves only its line while others still fire.
pub(super) fn similar_key(own: &str) -> String {
    format!("similar:{own}")
}

/// Intelligent grouping, for an alert not yet part of an open incident:
/// join the most similar of `open` (the service's open incidents within
/// the window) when it is similar enough, recording the score on the
/// alert's line; else open a group of its own, which says how usual its
/// kind is and which past incidents were like it.
pub(super) fn similar<'a>(
    ev: &'a AlertEvent,
    details: &AlertDetails,
    g: &Grouping,
    model: &Model,
    open: &[Incident],
    now: DateTime<Utc>,
) -> Result<Grouped<'a>, Option<Nearest>> {
    let tokens = grouping::tokens(details);
    let (id, score) = grouping::most_similar(model, &tokens, open)?;
    let target = open
        .iter()
        .find(|i| i.id == id)
        .map(|i| i.dedup_key.clone());
    let mut member = grouping::member(&ev.dedup_key, details, now);
    member.similar = Some(Similar {
        score: per_mille(score),
        tokens,
    });
    Ok(Grouped {
        dedup_key: Cow::Owned(target.unwrap_or_else(|| similar_key(&ev.dedup_key))),
        alerts: vec![member],
        join: Some((g.window, &ev.dedup_key)),
        insight: Insight::default(),
    })
}

/// The outlier label of the alert `ev` carries, for a service whose rules
/// look at it; `None` otherwise, without reading anything.
pub(super) async fn outlier_for_rules(
    core: &Core,
    service: &Service,
    ev: &AlertEvent,
    now: DateTime<Utc>,
) -> Result<Option<Outlier>, StoreError> {
    let Some(d) = details(ev).filter(|_| rules::use_outlier(&service.rules)) else {
        return Ok(None);
    };
    let model = Model::learn(&core.store.labels(&service.id, LABELS_LEARNED).await?);
    let since = now - Duration::days(grouping::OUTLIER_DAYS);
    let recent = core.store.recent_incidents(since, RECENT_READ).await?;
    Ok(grouping::outlier(&service.id, &model, d, &recent, now))
}

/// How many labelled pairs a service learns from: the latest.
pub(super) const LABELS_LEARNED: usize = 1000;
/// How many recent incidents the outlier label and past incidents read.
const RECENT_READ: usize = 5000;

/// Intelligent grouping's reads and decision: the service's open incidents
/// within the window, its labelled pairs (learned into a model), and, when
/// the alert opens a group of its own, the recent incidents its insight
/// comes from.
async fn intelligent<'a>(
    core: &Core,
    ev: &'a AlertEvent,
    details: &AlertDetails,
    service: &Service,
    g: &Grouping,
    now: DateTime<Utc>,
) -> Result<Grouped<'a>, StoreError> {
    let open: Vec<Incident> = core
        .store
        .open_incidents()
        .await?
        .into_iter()
        .filter(|i| i.service_id == service.id && now - i.last_alert_at <= g.window)
        .collect();
    let model = Model::learn(&core.store.labels(&service.id, LABELS_LEARNED).await?);
    match similar(ev, details, g, &model, &open, now) {
        Ok(grouped) => Ok(grouped),
        Err(nearest) => {
            let since = now - Duration::days(grouping::PAST_DAYS);
            let recent = core.store.recent_incidents(since, RECENT_READ).await?;
            Ok(Grouped {
                dedup_key: Cow::Owned(similar_key(&ev.dedup_key)),
                alerts: vec![grouping::member(&ev.dedup_key, details, now)],
                join: Some((g.window, &ev.dedup_key)),
                insight: grouping::insight(
                    &core.config,
                    &service.id,
                    &model,
                    details,
                    &recent,
                    now,
                    nearest,
                ),
            })
        }
    }
}

/// Urgency: a rule says; else critical and error alerts are always high;
/// else the service's.
pub(super) fn urgency(rule: Option<&Rule>, severity: Severity, service: &Service) -> Urgency {
    match (rule.and_then(|r| r.urgency), severity) {
        (Some(u), _) => u,
        (None, Severity::Critical | Severity::Error) => Urgency::High,
        _ => service.urgency,
    }
}

/// A trigger, ready for the store but for the service's recent changes,
/// which `commit` reads just before it writes.
#[derive(Debug)]
pub(super) struct Trigger<'a> {
    pub(super) service: &'a Service,
    pub(super) grouped: Grouped<'a>,
    /// The alert without its custom details (they may be most of it).
    pub(super) alert: AlertDetails,
    /// The custom details to keep: as received, or cut down to the limit.
    pub(super) custom_details: Option<Cow<'a, Value>>,
    pub(super) urgency: Urgency,
    pub(super) alert_channel: Option<String>,
    pub(super) escalation: Option<Escalation>,
    pub(super) room: Option<Room>,
    pub(super) at: DateTime<Utc>,
}

/// Everything a trigger stores that follows from the config: the rule's
/// severity, the capped custom details, urgency, channel, the policy's
/// snapshot and whether it is serious enough for a room of its own.
pub(super) fn trigger<'a>(
    config: &'a Config,
    routed: &Routed<'a>,
    details: &'a AlertDetails,
    grouped: Grouped<'a>,
    now: DateTime<Utc>,
) -> Trigger<'a> {
    let service = routed.service;
    let mut alert = details.without_custom_details();
    if let Some(severity) = routed.rule.and_then(|r| r.severity) {
        alert.severity = severity;
    }
    // Rules and grouping saw all of it; what is kept is capped.
    let received = details.custom_details.as_ref();
    let custom_details = match received.and_then(limits::cap_custom_details) {
        Some(capped) => {
            let dedup_key: &str = &grouped.dedup_key;
            tracing::warn!(service = %service.id, dedup_key, limit = limits::MAX_CUSTOM_DETAILS, "custom details cut down to the limit");
            Some(Cow::Owned(capped))
        }
        None => received.map(Cow::Borrowed),
    };
    let urgency = urgency(routed.rule, alert.severity, service);
    let alert_channel = config
        .team_of_service(&service.id)
        .and_then(|t| t.alert_channel.clone());
    // Serious enough for a channel of its own (used if this opens an incident).
    let room = warroom::wants_room(config, &service.id, Sev::from_severity(alert.severity))
        .then(|| warroom::new_room(config, &service.id));
    let escalation = service
        .escalation_policy
        .as_deref()
        .and_then(|p| config.policy(p))
        .map(|p| Escalation::start(p.clone(), now));
    Trigger {
        service,
        grouped,
        alert,
        custom_details,
        urgency,
        alert_channel,
        escalation,
        room,
        at: now,
    }
}

/// The services whose alerts an acknowledge or resolve may mean, in the
/// order they are tried: the receiving one, then wherever its rules route
/// triggers (an acknowledgement carries no fields to match rules on).
pub(super) fn transition_keys<'a>(config: &'a Config, received: &'a Service) -> Vec<&'a str> {
    let routed = received.rules.iter().filter_map(|r| r.route.as_deref());
    std::iter::once(received.integration_key.as_str())
        .chain(routed.filter_map(|id| config.service(id).map(|s| s.integration_key.as_str())))
        .collect()
}

/// A resolve for one alert of a grouped incident: that incident's id, when
/// `open` (the incident the key points at) has the key as one of its alerts
/// rather than as its own.
pub(super) fn grouped_member(dedup_key: &str, open: Option<&Incident>) -> Option<u64> {
    open.filter(|i| i.dedup_key != dedup_key && i.alerts.iter().any(|a| a.key == dedup_key))
        .map(|i| i.id)
}

/// How the alerts of an open incident stop firing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Stop<'a> {
    /// A group's report in which nothing fires: merged in, then resolved.
    Group(&'a [SubAlert]),
    /// One member resolved: the incident resolves with its last alert.
    Member(&'a str),
}

impl Stop<'_> {
    /// Marks `inc`'s alerts; true when the incident should resolve now.
    pub(super) fn mark(&self, inc: &mut Incident) -> bool {
        match self {
            Stop::Group(alerts) => {
                inc.merge_alerts(alerts);
                true
            }
            Stop::Member(key) => {
                for a in inc.alerts.iter_mut().filter(|a| a.key == *key) {
                    a.firing = false;
                }
                inc.all_alerts_resolved()
            }
        }
    }
}

/// The one write an event makes.
#[derive(Debug)]
pub(super) enum Write<'a> {
    /// Open, append to or reopen an incident.
    Trigger(Box<Trigger<'a>>),
    /// Acknowledge or resolve the alert on the first of `keys` that has it.
    Transition {
        keys: Vec<&'a str>,
        dedup_key: &'a str,
        transition: Transition,
    },
    /// Some alerts of this open incident stopped firing.
    Stop { incident: u64, stop: Stop<'a> },
    /// A group stopped firing and has no open incident: nothing to change.
    Nothing,
}

/// Turns an event the rules let through into its write, running the
/// grouping and trigger stages. It reads whether the alert is already part
/// of an open incident, and only when a stage needs to know.
pub(super) async fn plan<'a>(
    core: &'a Core,
    ev: &'a AlertEvent,
    routed: &Routed<'a>,
    now: DateTime<Utc>,
) -> Result<Write<'a>, StoreError> {
    let config: &'a Config = &core.config;
    let open = || {
        core.store
            .open_incident_by_key(&routed.service.integration_key, &ev.dedup_key)
    };
    let transition = |transition| Write::Transition {
        keys: transition_keys(config, routed.received),
        dedup_key: &ev.dedup_key,
        transition,
    };
    Ok(match &ev.action {
        AlertAction::Trigger(details) => {
            let g = routed.service.grouping.as_ref();
            let joined = g.is_some() && open().await?.is_some();
            let grouped = match g {
                Some(g) if g.intelligent && !joined => {
                    intelligent(core, ev, details, routed.service, g, now).await?
                }
                _ => grouping(ev, details, g, joined, now),
            };
            Write::Trigger(Box::new(trigger(config, routed, details, grouped, now)))
        }
        AlertAction::Group { details, alerts } if alerts.iter().any(|a| a.firing) => {
            let grouped = Grouped {
                dedup_key: Cow::Borrowed(&ev.dedup_key),
                alerts: alerts.clone(),
                join: None,
                insight: Insight::default(),
            };
            Write::Trigger(Box::new(trigger(config, routed, details, grouped, now)))
        }
        // Nothing in the group fires any more: record that, and resolve.
        AlertAction::Group { alerts, .. } => match open().await? {
            Some(inc) => Write::Stop {
                incident: inc.id,
                stop: Stop::Group(alerts),
            },
            None => Write::Nothing,
        },
        AlertAction::Acknowledge => transition(Transition::Acknowledge),
        AlertAction::Resolve => match grouped_member(&ev.dedup_key, open().await?.as_ref()) {
            Some(incident) => Write::Stop {
                incident,
                stop: Stop::Member(&ev.dedup_key),
            },
            None => transition(Transition::Resolve),
        },
    })
}

/// Commit: makes the write, waits until it is on disk, counts it, and wakes
/// the outbox worker and the engine when it gave them work.
pub(super) async fn commit(
    core: &Core,
    write: Write<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome, IngestError> {
    let actor = || Actor::Integration { client: None };
    let outcome = match write {
        Write::Trigger(t) => Outcome::Triggered(store_trigger(core, *t).await?),
        Write::Transition {
            keys,
            dedup_key,
            transition,
        } => {
            let mut last = Changed::NotFound;
            for key in keys {
                last = core
                    .store
                    .transition_by_key(key, dedup_key, transition, actor(), now)
                    .await?;
                if !matches!(last, Changed::NotFound) {
                    break;
                }
            }
            Outcome::Changed(last)
        }
        Write::Stop { incident, stop } => core
            .store
            .alerts_stopped(incident, actor(), now, |inc| stop.mark(inc))
            .await?
            .into(),
        Write::Nothing => AlertsStopped::Resolved(Changed::NotFound).into(),
    };
    match &outcome {
        Outcome::Triggered(Triggered::Opened { incident, .. }) => {
            crate::ops::counted(incident, true)
        }
        Outcome::Changed(Changed::Applied { incident, .. }) => crate::ops::counted(incident, false),
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

/// Writes a trigger, with the service's recent changes: only a new
/// incident shows them, and an hour back is what responders ask about.
async fn store_trigger(core: &Core, t: Trigger<'_>) -> Result<Triggered, StoreError> {
    let Trigger {
        service,
        grouped,
        alert,
        custom_details,
        urgency,
        alert_channel,
        escalation,
        room,
        at,
    } = t;
    let changes = core
        .store
        .changes_since(&service.id, at - Duration::hours(1))
        .await?;
    core.store
        .trigger(&NewAlert {
            routing_key: &service.integration_key,
            service_id: &service.id,
            dedup_key: &grouped.dedup_key,
            alert,
            custom_details: custom_details.as_deref(),
            alert_channel,
            escalation,
            urgency,
            at,
            alerts: grouped.alerts,
            changes,
            join_within: grouped.join.map(|(w, _)| w),
            member_keys: grouped
                .join
                .map(|(_, m)| vec![m.to_string()])
                .unwrap_or_default(),
            flapping: service.flapping.map(|f| (f.count, f.window)),
            room,
            insight: grouped.insight,
        })
        .await
}

/// Records an alert that pages nobody (a rule, a maintenance window),
/// durably. With nothing to record there is nothing to wait for.
pub(super) async fn suppress(
    core: &Core,
    record: Option<Record<'_>>,
) -> Result<Outcome, IngestError> {
    if let Some(r) = record {
        let s = Suppressed {
            dedup_key: r.dedup_key.to_string(),
            summary: r.details.summary.clone(),
            severity: r.details.severity,
            at: core.clock.now(),
        };
        core.store.add_suppressed(r.service, &s).await?;
    }
    Ok(Outcome::Suppressed)
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
