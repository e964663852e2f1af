//! Outgoing webhooks: which events a change to an incident is, and the
//! JSON each subscribed receiver gets. Pure: the store's follow-up asks it
//! with the incident before and after, and queues what it returns in the
//! same write, so an event is sent exactly when its change is on disk.

use crate::config::{WebhookEvent, WebhookOut};
use crate::domain::incident::{Actor, Incident, Stamp, State};
use crate::domain::notice::Outbound;
use crate::domain::warroom::EntryKind;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The payload's version: fields are only ever added under it.
pub const PAYLOAD_VERSION: u32 = 1;

/// The lane of one receiver: its deliveries keep their order, and one
/// receiver's outage holds up no other.
pub fn lane(url: &str) -> String {
    format!("webhook:{url}")
}

/// The events `new` is, coming from `old` (`None`: it just opened).
pub fn events(old: Option<&Incident>, new: &Incident) -> Vec<WebhookEvent> {
    let mut out = vec![];
    let was = old.map(|o| o.state);
    // Opened, or reopened after a resolve (it flaps): triggered again.
    if new.state == State::Triggered && was.is_none_or(|s| s == State::Resolved) {
        out.push(WebhookEvent::Triggered);
    }
    if new.state == State::Acknowledged && was != Some(State::Acknowledged) {
        out.push(WebhookEvent::Acknowledged);
    }
    if new.state == State::Resolved && was != Some(State::Resolved) {
        out.push(WebhookEvent::Resolved);
    }
    // A further level was paged (or is due now): the escalation moved on.
    let step = |i: &Incident| i.escalation.as_ref().map(|e| (e.round, e.level));
    if let (Some(o), Some(n)) = (old.and_then(step), step(new)) {
        if n > o && new.state == State::Triggered {
            out.push(WebhookEvent::Escalated);
        }
    }
    let notes = |i: &Incident| {
        i.coord
            .timeline
            .iter()
            .filter(|e| e.kind == EntryKind::Note)
            .count()
    };
    if notes(new) > old.map_or(0, notes) {
        out.push(WebhookEvent::Note);
    }
    out
}

fn actor(s: &Stamp) -> Value {
    let (via, by) = match &s.by {
        Actor::Slack { user_id } => ("slack", Some(user_id.as_str())),
        Actor::Phone { user, .. } => ("phone", Some(user.as_str())),
        Actor::Integration { client } => ("integration", client.as_deref()),
        Actor::Api { by } => ("api", Some(by.as_str())),
    };
    json!({"via": via, "by": by, "at": s.at})
}

/// The body one receiver gets for `event` on `inc`, at `at`. Documented in
/// the README ("Outgoing webhooks"); its fields only grow.
pub fn payload(event: WebhookEvent, inc: &Incident, at: DateTime<Utc>) -> Value {
    let note = (event == WebhookEvent::Note)
        .then(|| {
            inc.coord
                .timeline
                .iter()
                .rev()
                .find(|e| e.kind == EntryKind::Note)
                .map(|e| json!({"text": e.text, "by": e.by, "at": e.at}))
        })
        .flatten();
    json!({
        "version": PAYLOAD_VERSION,
        "event": event.as_str(),
        "at": at,
        "incident": {
            "id": inc.id,
            "title": inc.alert.summary,
            "service": inc.service_id,
            "state": inc.state.as_str(),
            "severity": inc.alert.severity.as_str(),
            "urgency": inc.urgency,
            "created_at": inc.created_at,
            "alert_count": inc.alert_count,
            "escalation_level": inc.escalation.as_ref().map(|e| e.level),
            "acknowledged": inc.acknowledged.as_ref().map(actor),
            "resolved": inc.resolved.as_ref().map(actor),
        },
        "note": note,
    })
}

/// The deliveries a change from `old` to `new` causes: one per event and
/// subscribed receiver.
pub fn notices(
    hooks: &[WebhookOut],
    old: Option<&Incident>,
    new: &Incident,
    at: DateTime<Utc>,
) -> Vec<(String, Outbound)> {
    if hooks.is_empty() {
        return vec![];
    }
    let mut out = vec![];
    for event in events(old, new) {
        for h in hooks.iter().filter(|h| h.events.contains(&event)) {
            out.push((
                lane(&h.url),
                Outbound::Webhook {
                    url: h.url.clone(),
                    event: event.as_str().to_string(),
                    payload: payload(event, new, at),
                },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::Transition;
    use crate::domain::warroom::Entry;
    use chrono::TimeZone;

    fn t(m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 3, m, 0).unwrap()
    }

    fn opened() -> Incident {
        let v = json!({
            "id": 7, "service_id": "api", "routing_key": "k", "dedup_key": "d",
            "alert": {"summary": "Disk full", "source": "db-1", "severity": "critical",
                      "component": null, "group": null, "class": null, "custom_details": null,
                      "links": [], "client": null, "client_url": null},
            "state": "triggered", "created_at": t(0), "alert_count": 1,
            "last_alert_at": t(0), "acknowledged": null, "resolved": null, "alert_channel": null
        });
        serde_json::from_value(v).unwrap()
    }

    fn check(old: Option<&Incident>, new: &Incident, want: &[WebhookEvent]) {
        assert_eq!(events(old, new), want);
    }

    #[test]
    fn each_change_is_the_event_it_should_be() {
        use WebhookEvent::*;
        let inc = opened();
        check(None, &inc, &[Triggered]);
        let by = Actor::Api { by: "bot".into() };
        let acked = inc
            .apply(Transition::Acknowledge, by.clone(), t(1))
            .unwrap();
        check(Some(&inc), &acked, &[Acknowledged]);
        check(Some(&acked), &acked, &[]);
        let resolved = acked.apply(Transition::Resolve, by, t(2)).unwrap();
        check(Some(&acked), &resolved, &[Resolved]);
        let mut noted = inc.clone();
        noted.coord.timeline.push(Entry {
            at: t(3),
            by: None,
            kind: EntryKind::Note,
            text: "looking".into(),
            fact: None,
        });
        check(Some(&inc), &noted, &[Note]);
        let p = payload(Note, &noted, t(3));
        assert_eq!(p["note"]["text"], "looking");
        assert_eq!(p["incident"]["id"], 7);
        assert_eq!(p["event"], "note");
    }

    #[test]
    fn only_subscribed_receivers_get_an_event() {
        let hooks = [
            WebhookOut {
                url: "http://a.example/hook".into(),
                events: vec![WebhookEvent::Resolved],
                secret: "s".repeat(16),
            },
            WebhookOut {
                url: "http://b.example/hook".into(),
                events: vec![WebhookEvent::Triggered, WebhookEvent::Resolved],
                secret: "s".repeat(16),
            },
        ];
        let n = notices(&hooks, None, &opened(), t(0));
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].0, "webhook:http://b.example/hook");
    }
}
