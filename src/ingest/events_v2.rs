//! PagerDuty Events API v2 (`POST /v2/enqueue`): request validation and response shapes.
//!
//! Validation collects every problem so a sender sees all of them at once,
//! in PagerDuty's `{"status":"invalid event","errors":[...]}` shape.

use super::{AlertAction, AlertEvent};
use crate::domain::incident::{AlertDetails, Change, Link, Severity};
use serde_json::{json, Map, Value};

pub const MAX_SUMMARY: usize = 1024;
pub const MAX_DEDUP_KEY: usize = 255;

/// Parses one event. `gen_key` supplies a dedup key for triggers that have none.
pub fn parse(body: &[u8], gen_key: impl FnOnce() -> String) -> Result<AlertEvent, Vec<String>> {
    if let Some(why) = super::limits::too_deep(body) {
        return Err(vec![why]);
    }
    let mut v: Value =
        serde_json::from_slice(body).map_err(|e| vec![format!("body is not valid JSON: {e}")])?;
    // Taken out rather than copied: they are most of a large event.
    let custom_details = v
        .get_mut("payload")
        .and_then(Value::as_object_mut)
        .and_then(|p| p.remove("custom_details"))
        .filter(|d| !d.is_null());
    let Some(obj) = v.as_object() else {
        return Err(vec!["body must be a JSON object".into()]);
    };
    let mut errors = Vec::new();

    let routing_key = match obj.get("routing_key") {
        Some(Value::String(k)) if k.len() == 32 => Some(k.clone()),
        Some(Value::String(k)) => {
            errors.push(format!(
                "'routing_key' must be 32 characters, got {}",
                k.len()
            ));
            None
        }
        Some(_) => {
            errors.push("'routing_key' must be a string".into());
            None
        }
        None => {
            errors.push("'routing_key' is missing".into());
            None
        }
    };

    let action = match obj.get("event_action") {
        Some(Value::String(a)) if matches!(a.as_str(), "trigger" | "acknowledge" | "resolve") => {
            Some(a.clone())
        }
        Some(Value::String(a)) => {
            errors.push(format!(
                "'event_action' must be one of trigger, acknowledge, resolve; got {a:?}"
            ));
            None
        }
        Some(_) => {
            errors.push("'event_action' must be a string".into());
            None
        }
        None => {
            errors.push("'event_action' is missing".into());
            None
        }
    };

    let dedup_key = match obj.get("dedup_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) if k.is_empty() => {
            errors.push("'dedup_key' must not be empty".into());
            None
        }
        Some(Value::String(k)) if k.len() > MAX_DEDUP_KEY => {
            errors.push(format!(
                "'dedup_key' is longer than {MAX_DEDUP_KEY} characters"
            ));
            None
        }
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => {
            errors.push("'dedup_key' must be a string".into());
            None
        }
    };

    let details = match action.as_deref() {
        Some("trigger") => trigger_details(obj, &mut errors).map(|mut d| {
            d.custom_details = custom_details;
            d
        }),
        Some(_) => {
            if dedup_key.is_none() && !obj.contains_key("dedup_key") {
                errors.push("'dedup_key' is required to acknowledge or resolve".into());
            }
            None
        }
        None => None,
    };

    if !errors.is_empty() {
        return Err(errors);
    }
    let (Some(routing_key), Some(action)) = (routing_key, action) else {
        return Err(vec!["event is invalid".into()]);
    };
    let action = match action.as_str() {
        "trigger" => match details {
            Some(d) => AlertAction::Trigger(Box::new(d)),
            None => return Err(vec!["'payload' is invalid".into()]),
        },
        "acknowledge" => AlertAction::Acknowledge,
        _ => AlertAction::Resolve,
    };
    let dedup_key = match (dedup_key, &action) {
        (Some(k), _) => k,
        (None, AlertAction::Trigger(_)) => gen_key(),
        (None, _) => {
            return Err(vec![
                "'dedup_key' is required to acknowledge or resolve".into()
            ])
        }
    };
    Ok(AlertEvent {
        routing_key: routing_key.to_ascii_lowercase(),
        dedup_key,
        action,
    })
}

fn trigger_details(obj: &Map<String, Value>, errors: &mut Vec<String>) -> Option<AlertDetails> {
    let Some(payload) = obj.get("payload") else {
        errors.push("'payload' is required for a trigger".into());
        return None;
    };
    let Some(p) = payload.as_object() else {
        errors.push("'payload' must be an object".into());
        return None;
    };
    let before = errors.len();
    let summary = required_str(p, "summary", errors);
    if let Some(s) = &summary {
        if s.chars().count() > MAX_SUMMARY {
            errors.push(format!(
                "'payload.summary' is longer than {MAX_SUMMARY} characters"
            ));
        }
    }
    let source = required_str(p, "source", errors);
    let severity = match p.get("severity") {
        Some(Value::String(s)) => match Severity::parse(s) {
            Some(sev) => Some(sev),
            None => {
                errors.push(format!(
                    "'payload.severity' must be one of critical, error, warning, info; got {s:?}"
                ));
                None
            }
        },
        Some(_) => {
            errors.push("'payload.severity' must be a string".into());
            None
        }
        None => {
            errors.push("'payload.severity' is missing".into());
            None
        }
    };
    if let Some(ts) = p.get("timestamp") {
        match ts.as_str() {
            Some(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {}
            _ => errors.push("'payload.timestamp' must be an ISO 8601 date-time".into()),
        }
    }
    let component = optional_str(p, "component", "payload.", errors);
    let group = optional_str(p, "group", "payload.", errors);
    let class = optional_str(p, "class", "payload.", errors);
    let client = optional_str(obj, "client", "", errors);
    let client_url = optional_str(obj, "client_url", "", errors);
    let links = links(obj, errors);
    if errors.len() > before {
        return None;
    }
    Some(AlertDetails {
        summary: summary?,
        source: source?,
        severity: severity?,
        component,
        group,
        class,
        // Filled in by `parse`, which takes them out of the body.
        custom_details: None,
        links,
        client,
        client_url,
    })
}

fn required_str(p: &Map<String, Value>, field: &str, errors: &mut Vec<String>) -> Option<String> {
    match p.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.push(format!("'payload.{field}' must not be empty"));
            None
        }
        Some(_) => {
            errors.push(format!("'payload.{field}' must be a string"));
            None
        }
        None => {
            errors.push(format!("'payload.{field}' is missing"));
            None
        }
    }
}

fn optional_str(
    p: &Map<String, Value>,
    field: &str,
    prefix: &str,
    errors: &mut Vec<String>,
) -> Option<String> {
    match p.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(format!("'{prefix}{field}' must be a string"));
            None
        }
    }
}

fn links(obj: &Map<String, Value>, errors: &mut Vec<String>) -> Vec<Link> {
    let Some(v) = obj.get("links").filter(|v| !v.is_null()) else {
        return vec![];
    };
    let Some(arr) = v.as_array() else {
        errors.push("'links' must be an array".into());
        return vec![];
    };
    let mut out = vec![];
    for (i, l) in arr.iter().enumerate() {
        match l.get("href").and_then(Value::as_str) {
            Some(href) => out.push(Link {
                href: href.to_string(),
                text: l.get("text").and_then(Value::as_str).map(str::to_string),
            }),
            None => errors.push(format!("'links[{i}].href' must be a string")),
        }
    }
    out
}

/// Parses a change event (`POST /v2/change/enqueue`): the routing key and the
/// change. `now` dates a change that carries no `payload.timestamp`.
pub fn parse_change(
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(String, Change), Vec<String>> {
    if let Some(why) = super::limits::too_deep(body) {
        return Err(vec![why]);
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|e| vec![format!("body is not valid JSON: {e}")])?;
    let Some(obj) = v.as_object() else {
        return Err(vec!["body must be a JSON object".into()]);
    };
    let mut errors = Vec::new();
    let routing_key = match obj.get("routing_key").and_then(Value::as_str) {
        Some(k) if k.len() == 32 => Some(k.to_string()),
        Some(k) => {
            errors.push(format!(
                "'routing_key' must be 32 characters, got {}",
                k.len()
            ));
            None
        }
        None => {
            errors.push("'routing_key' is missing or not a string".into());
            None
        }
    };
    let Some(p) = obj.get("payload").and_then(Value::as_object) else {
        errors.push("'payload' is missing or not an object".into());
        return Err(errors);
    };
    let summary = required_str(p, "summary", &mut errors);
    if summary
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_SUMMARY)
    {
        errors.push(format!(
            "'payload.summary' is longer than {MAX_SUMMARY} characters"
        ));
    }
    let source = optional_str(p, "source", "payload.", &mut errors);
    let at = match p.get("timestamp") {
        None | Some(Value::Null) => Some(now),
        Some(ts) => match ts.as_str().map(chrono::DateTime::parse_from_rfc3339) {
            Some(Ok(t)) => Some(t.with_timezone(&chrono::Utc)),
            // PagerDuty's own example writes the offset without a colon.
            _ => match ts
                .as_str()
                .map(|s| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
            {
                Some(Ok(t)) => Some(t.with_timezone(&chrono::Utc)),
                _ => {
                    errors.push("'payload.timestamp' must be an ISO 8601 date-time".into());
                    None
                }
            },
        },
    };
    let links = links(obj, &mut errors);
    match (routing_key, summary, at) {
        (Some(k), Some(summary), Some(at)) if errors.is_empty() => Ok((
            k,
            Change {
                summary,
                source,
                at,
                link: links.into_iter().next(),
            },
        )),
        _ => Err(errors),
    }
}

/// PagerDuty's answer to an accepted change event.
pub fn change_accepted() -> Value {
    json!({"status": "success", "message": "Change event processed"})
}

/// PagerDuty's success body.
pub fn accepted(dedup_key: &str) -> Value {
    json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key})
}

/// PagerDuty's invalid-event body.
pub fn invalid(errors: &[String]) -> Value {
    json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors})
}

/// A fresh dedup key for a trigger that brought none: every such trigger is a new alert.
pub fn generate_dedup_key() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_events_follow_pagerduty() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T03:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let body = br#"{"routing_key": "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a",
            "payload": {"summary": "deploy api v1.2.3", "timestamp": "2020-07-17T08:42:58.315+0000",
                        "source": "ci", "custom_details": {"build": 2}},
            "links": [{"href": "https://ci.example.com/2", "text": "Build 2"}]}"#;
        let (key, c) = parse_change(body, now).unwrap();
        assert_eq!(key, "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a");
        assert_eq!(c.summary, "deploy api v1.2.3");
        assert_eq!(c.at.to_rfc3339(), "2020-07-17T08:42:58.315+00:00");
        assert_eq!(c.link.unwrap().href, "https://ci.example.com/2");
        let (_, c) = parse_change(
            br#"{"routing_key": "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a", "payload": {"summary": "x"}}"#,
            now,
        )
        .unwrap();
        assert_eq!(c.at, now);
        let e = parse_change(
            br#"{"routing_key": "short", "payload": {"timestamp": "soon"}}"#,
            now,
        )
        .unwrap_err();
        assert_eq!(
            e,
            [
                "'routing_key' must be 32 characters, got 5",
                "'payload.summary' is missing",
                "'payload.timestamp' must be an ISO 8601 date-time"
            ]
        );
    }

    const KEY: &str = "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a";

    fn parse_str(s: &str) -> Result<AlertEvent, Vec<String>> {
        parse(s.as_bytes(), || "generated".into())
    }

    /// Parses `input`; `expected` is Ok(dedup key) or the substrings each error must contain.
    fn check(input: &str, expected: Result<&str, &[&str]>) {
        match (parse_str(input), expected) {
            (Ok(ev), Ok(key)) => assert_eq!(ev.dedup_key, key, "{input}"),
            (Err(errs), Err(want)) => {
                assert_eq!(errs.len(), want.len(), "{input}: {errs:?}");
                for (e, w) in errs.iter().zip(want) {
                    assert!(e.contains(w), "{input}: {e:?} should mention {w:?}");
                }
            }
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn events_are_validated_like_pagerduty() {
        let trig = |extra: &str| {
            format!(
                r#"{{"routing_key":"{KEY}","event_action":"trigger","payload":{{"summary":"s","source":"h","severity":"critical"{extra}}}}}"#
            )
        };
        check(&trig(""), Ok("generated"));
        check(
            &format!(
                r#"{{"routing_key":"{KEY}","event_action":"trigger","dedup_key":"a","payload":{{"summary":"s","source":"h","severity":"info"}}}}"#
            ),
            Ok("a"),
        );
        check(
            &format!(r#"{{"routing_key":"{KEY}","event_action":"resolve","dedup_key":"a"}}"#),
            Ok("a"),
        );
        check(
            &format!(r#"{{"routing_key":"{KEY}","event_action":"acknowledge"}}"#),
            Err(&["dedup_key"]),
        );
        check(
            r#"{"event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"}}"#,
            Err(&["routing_key"]),
        );
        check(
            &format!(r#"{{"routing_key":"{KEY}","event_action":"explode"}}"#),
            Err(&["event_action"]),
        );
        check(
            &format!(r#"{{"routing_key":"{KEY}","event_action":"trigger"}}"#),
            Err(&["payload"]),
        );
        check(
            &trig(r#","severity":"fatal""#).replace(r#""severity":"critical","#, ""),
            Err(&["severity"]),
        );
        check(&trig(r#","timestamp":"yesterday""#), Err(&["timestamp"]));
        check(
            r#"{"routing_key":"short","event_action":"trigger","payload":{"source":"h","severity":"bad"}}"#,
            Err(&["routing_key", "summary", "severity"]),
        );
        check(
            &trig("").replace(
                r#""summary":"s""#,
                &format!(r#""summary":"{}""#, "x".repeat(1025)),
            ),
            Err(&["summary"]),
        );
        check("{not json", Err(&["not valid JSON"]));
        check("[1,2]", Err(&["object"]));
    }

    #[test]
    fn a_trigger_keeps_its_details() {
        let ev = parse_str(&format!(
            r#"{{"routing_key":"{}","event_action":"trigger","dedup_key":"k","client":"Alertmanager",
               "links":[{{"href":"http://x/1","text":"graph"}}],
               "payload":{{"summary":"Disk full","source":"db-1","severity":"warning","component":"pg","custom_details":{{"a":1}}}}}}"#,
            KEY.to_uppercase()
        ))
        .unwrap();
        assert_eq!(ev.routing_key, KEY);
        let AlertAction::Trigger(d) = ev.action else {
            panic!("not a trigger")
        };
        assert_eq!(d.summary, "Disk full");
        assert_eq!(d.severity, Severity::Warning);
        assert_eq!(d.component.as_deref(), Some("pg"));
        assert_eq!(d.client.as_deref(), Some("Alertmanager"));
        assert_eq!(d.links[0].href, "http://x/1");
        assert_eq!(d.custom_details, Some(serde_json::json!({"a": 1})));
    }

    proptest::proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(&body, || "g".into());
        }

        #[test]
        fn parsing_arbitrary_json_objects_never_panics(action in "[a-z]{0,12}", summary in ".{0,40}", sev in "[a-z]{0,9}") {
            let body = serde_json::json!({"routing_key": KEY, "event_action": action, "payload": {"summary": summary, "source": "s", "severity": sev}});
            let _ = parse(body.to_string().as_bytes(), || "g".into());
        }
    }
}
