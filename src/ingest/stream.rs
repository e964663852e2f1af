//! Recorded alert streams: one JSON object per line, each a payload as it
//! was received and when, so a stream can be replayed through the pipeline
//! (`tocsin replay`) and written from a store's history (`tocsin
//! export-alerts`). Other tools may write streams too:
//!
//! `{"received_at": "2026-11-30T02:14:07Z", "kind": "events_v2", "key": "<integration key>", "body": {…}}`
//!
//! `kind` is `events_v2`, `alertmanager`, `grafana` or `webhook`; `body` is
//! the payload exactly as its endpoint takes it.

use super::alertmanager::{self, Source};
use super::mappings::Mappings;
use super::{events_v2, webhook, AlertEvent};
use crate::config::Config;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which endpoint a payload came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `POST /v2/enqueue` (PagerDuty Events API v2).
    EventsV2,
    /// `POST /integrations/alertmanager/{key}`.
    Alertmanager,
    /// `POST /integrations/grafana/{key}`.
    Grafana,
    /// `POST /integrations/webhook/{key}`, mapped by the service's template.
    Webhook,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::EventsV2 => "events_v2",
            Kind::Alertmanager => "alertmanager",
            Kind::Grafana => "grafana",
            Kind::Webhook => "webhook",
        }
    }
}

/// One line of a stream: a payload and when it was received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Received {
    pub received_at: DateTime<Utc>,
    pub kind: Kind,
    /// The integration key it was sent to (for Events v2, its `routing_key`).
    pub key: String,
    pub body: Value,
}

impl Received {
    /// The line, compact JSON without a newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a received payload serialises")
    }
}

/// Reads one line; the error says what is wrong with it.
pub fn parse_line(line: &str) -> Result<Received, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Line {
        received_at: String,
        kind: Kind,
        key: String,
        body: Value,
    }
    let l: Line = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let received_at = DateTime::parse_from_rfc3339(&l.received_at)
        .map_err(|e| format!("`received_at` is not an RFC 3339 time: {e}"))?
        .with_timezone(&Utc);
    if l.key.is_empty() {
        return Err("`key` is empty".into());
    }
    Ok(Received {
        received_at,
        kind: l.kind,
        key: l.key,
        body: l.body,
    })
}

/// What a received payload asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Asked {
    /// An alert event for the pipeline.
    Event(AlertEvent),
    /// Nothing to page for (a subscription handshake, an ignored payload);
    /// the reason says which.
    Nothing(String),
}

/// The event a received payload carries, parsed as its endpoint parses it.
/// An Events v2 trigger without a dedup key gets `fallback_key`, so that a
/// replay is deterministic. `now` is when it was received.
pub fn event(
    r: &Received,
    config: &Config,
    mappings: &Mappings,
    fallback_key: impl FnOnce() -> String,
    now: DateTime<Utc>,
) -> Result<Asked, String> {
    let body = serde_json::to_vec(&r.body).expect("a JSON value serialises");
    let grouped = |source| {
        if config.service_by_key(&r.key).is_none() {
            return Err("unknown integration key".to_string());
        }
        alertmanager::parse(source, &body, &r.key, now).map(Asked::Event)
    };
    match r.kind {
        Kind::EventsV2 => events_v2::parse(&body, fallback_key)
            .map(Asked::Event)
            .map_err(|errors| errors.join("; ")),
        Kind::Alertmanager => grouped(Source::Alertmanager),
        Kind::Grafana => grouped(Source::Grafana),
        Kind::Webhook => {
            let service = config
                .service_by_key(&r.key)
                .ok_or("unknown integration key")?;
            let mapping = service
                .webhook
                .as_deref()
                .and_then(|n| mappings.get(n))
                .ok_or("this service has no webhook mapping")?;
            match webhook::apply(mapping, &service.integration_key, &r.body).0 {
                webhook::Mapped::Event(ev) => Ok(Asked::Event(ev)),
                webhook::Mapped::ConfirmSubscription { .. } => {
                    Ok(Asked::Nothing("a subscription handshake".into()))
                }
                webhook::Mapped::Ignore(why) => Ok(Asked::Nothing(why)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(line: &str, expected: Result<Kind, &str>) {
        match (parse_line(line), expected) {
            (Ok(r), Ok(kind)) => assert_eq!(r.kind, kind, "{line}"),
            (Err(e), Err(want)) => assert!(e.contains(want), "{line}: {e}"),
            (got, want) => panic!("{line}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn lines_read_as_the_format_says() {
        let body = r#""body": {"a": 1}"#;
        check(
            &format!(
                r#"{{"received_at": "2026-11-30T02:14:07Z", "kind": "events_v2", "key": "k", {body}}}"#
            ),
            Ok(Kind::EventsV2),
        );
        check(
            &format!(
                r#"{{"received_at": "2026-11-30T02:14:07+01:00", "kind": "grafana", "key": "k", {body}}}"#
            ),
            Ok(Kind::Grafana),
        );
        check(
            &format!(r#"{{"received_at": "2026-11-30", "kind": "webhook", "key": "k", {body}}}"#),
            Err("`received_at` is not an RFC 3339 time"),
        );
        check(
            &format!(
                r#"{{"received_at": "2026-11-30T02:14:07Z", "kind": "smtp", "key": "k", {body}}}"#
            ),
            Err("unknown variant `smtp`"),
        );
        check(
            r#"{"received_at": "2026-11-30T02:14:07Z", "kind": "webhook", "key": "k"}"#,
            Err("missing field `body`"),
        );
        check(
            &format!(
                r#"{{"received_at": "2026-11-30T02:14:07Z", "kind": "webhook", "key": "", {body}}}"#
            ),
            Err("`key` is empty"),
        );
        check(
            &format!(
                r#"{{"received_at": "2026-11-30T02:14:07Z", "kind": "webhook", "key": "k", "extra": 1, {body}}}"#
            ),
            Err("unknown field `extra`"),
        );
        check("", Err("EOF"));
    }

    #[test]
    fn a_line_written_reads_back_the_same() {
        let r = Received {
            received_at: "2026-11-30T02:14:07.250Z".parse().unwrap(),
            kind: Kind::Alertmanager,
            key: "0123".into(),
            body: serde_json::json!({"version": "4", "alerts": [], "x": "line\nbreak"}),
        };
        let line = r.to_line();
        assert!(!line.contains('\n'));
        assert_eq!(parse_line(&line), Ok(r));
    }

    proptest! {
        #[test]
        fn any_text_is_read_or_refused_without_panicking(s in "\\PC{0,200}") {
            let _ = parse_line(&s);
        }

        #[test]
        fn near_lines_are_read_or_refused_without_panicking(
            at in "[0-9T:Z.+-]{0,30}",
            kind in "[a-z_0-9]{0,12}",
            key in "\\PC{0,40}",
            body in "[\\[\\]{}\":,0-9a-z ]{0,60}",
        ) {
            let line = format!(
                "{{\"received_at\":{},\"kind\":{},\"key\":{},\"body\":{body}}}",
                serde_json::json!(at), serde_json::json!(kind), serde_json::json!(key)
            );
            if let Ok(r) = parse_line(&line) {
                prop_assert!(!r.key.is_empty());
                prop_assert_eq!(parse_line(&r.to_line()), Ok(r));
            }
        }
    }
}
