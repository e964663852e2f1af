//! Prometheus Alertmanager's webhook (`POST /integrations/alertmanager/{key}`,
//! payload version 4). One notification carries the whole state of one alert
//! group: the group (`groupKey`) is one incident, each alert in it is tracked
//! by its `fingerprint`, and the incident resolves when every alert has.

use super::{AlertAction, AlertEvent};
use crate::incident::{AlertDetails, Link, Severity, SubAlert};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// More alerts than this in one notification is refused (400), not half-read.
pub const MAX_ALERTS: usize = 1000;
const MAX_SUMMARY: usize = super::events_v2::MAX_SUMMARY;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    version: String,
    group_key: String,
    status: String,
    #[serde(default)]
    receiver: String,
    #[serde(default)]
    group_labels: BTreeMap<String, String>,
    #[serde(default)]
    common_labels: BTreeMap<String, String>,
    #[serde(default)]
    common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    external_url: String,
    #[serde(default)]
    truncated_alerts: u64,
    alerts: Vec<Alert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
    #[serde(default)]
    fingerprint: String,
}

/// Parses one notification for the service `routing_key`; `now` dates alerts
/// that carry no `startsAt`. Errors say what is wrong, for a 400.
pub fn parse(body: &[u8], routing_key: &str, now: DateTime<Utc>) -> Result<AlertEvent, String> {
    let p: Payload = serde_json::from_slice(body)
        .map_err(|e| format!("not an Alertmanager webhook payload: {e}"))?;
    if p.version != "4" {
        return Err(format!(
            "payload version {:?} is not supported; Alertmanager sends \"4\"",
            p.version
        ));
    }
    if p.alerts.len() > MAX_ALERTS {
        return Err(format!(
            "{} alerts in one notification; at most {MAX_ALERTS} (set max_alerts in the webhook_config)",
            p.alerts.len()
        ));
    }
    if p.alerts.is_empty() {
        return Err("'alerts' is empty".into());
    }
    let mut alerts = Vec::with_capacity(p.alerts.len());
    for (i, a) in p.alerts.iter().enumerate() {
        let firing = match a.status.as_str() {
            "firing" => true,
            "resolved" => false,
            other => {
                return Err(format!(
                    "alerts[{i}].status must be firing or resolved, got {other:?}"
                ))
            }
        };
        // Fingerprints are always sent; a hand-made payload without one still
        // gets a stable identity from its labels.
        let key = if a.fingerprint.is_empty() {
            hash(&format!("{:?}", a.labels))
        } else {
            a.fingerprint.clone()
        };
        alerts.push(SubAlert {
            key,
            summary: clip(&alert_summary(a), 300),
            firing,
            link: Some(a.generator_url.clone()).filter(|u| is_link(u)),
            since: a.starts_at.unwrap_or(now),
        });
    }
    let firing = alerts.iter().filter(|a| a.firing).count();
    let alertname = p
        .common_labels
        .get("alertname")
        .or_else(|| p.group_labels.get("alertname"))
        .cloned();
    let summary = p
        .common_annotations
        .get("summary")
        .cloned()
        .or_else(|| {
            alertname
                .clone()
                .map(|n| format!("{n} ({} alerts)", alerts.len()))
        })
        .unwrap_or_else(|| format!("Alertmanager group {}", p.group_key));
    let mut links = vec![];
    if is_link(&p.external_url) {
        links.push(Link {
            href: p.external_url.clone(),
            text: Some("Alertmanager".into()),
        });
    }
    let details = AlertDetails {
        summary: clip(&summary, MAX_SUMMARY),
        source: p
            .common_labels
            .get("instance")
            .or_else(|| p.common_labels.get("job"))
            .cloned()
            .unwrap_or_else(|| "alertmanager".into()),
        severity: severity(p.common_labels.get("severity")),
        component: p.common_labels.get("job").cloned(),
        group: alertname,
        class: None,
        custom_details: Some(Value::Object(Map::from_iter([
            ("receiver".to_string(), Value::from(p.receiver.clone())),
            ("status".to_string(), Value::from(p.status.clone())),
            ("firing".to_string(), Value::from(firing)),
            ("group_labels".to_string(), to_json(&p.group_labels)),
            ("common_labels".to_string(), to_json(&p.common_labels)),
            (
                "truncated_alerts".to_string(),
                Value::from(p.truncated_alerts),
            ),
        ]))),
        links,
        client: Some("Alertmanager".into()),
        client_url: None,
    };
    Ok(AlertEvent {
        routing_key: routing_key.to_string(),
        dedup_key: dedup_key(&p.group_key),
        action: AlertAction::Group {
            details: Box::new(details),
            alerts,
        },
    })
}

/// `am:` + the group key, hashed when it would not fit a dedup key.
fn dedup_key(group_key: &str) -> String {
    if group_key.len() <= 200 {
        format!("am:{group_key}")
    } else {
        format!("am:{}", hash(group_key))
    }
}

fn hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..16])
}

fn alert_summary(a: &Alert) -> String {
    let name = a.labels.get("alertname").map_or("alert", String::as_str);
    let what = a
        .annotations
        .get("summary")
        .or_else(|| a.annotations.get("description"));
    let instance = a.labels.get("instance");
    match (what, instance) {
        (Some(w), Some(i)) => format!("{name} on {i}: {w}"),
        (Some(w), None) => format!("{name}: {w}"),
        (None, Some(i)) => format!("{name} on {i}"),
        (None, None) => name.to_string(),
    }
}

/// Alertmanager severities are free-form labels; the usual ones map across,
/// anything else is treated as an error (Alertmanager's own PagerDuty default).
fn severity(label: Option<&String>) -> Severity {
    match label.map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("critical" | "page" | "emergency" | "disaster") => Severity::Critical,
        Some("warning" | "warn") => Severity::Warning,
        Some("info" | "informational" | "none") => Severity::Info,
        _ => Severity::Error,
    }
}

fn is_link(u: &str) -> bool {
    u.starts_with("http://") || u.starts_with("https://")
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn to_json(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    /// What Alertmanager 0.25 posts to a webhook_config (two alerts, one resolved).
    pub const EXAMPLE: &str = r#"{
      "receiver": "tocsin",
      "status": "firing",
      "alerts": [
        {"status": "firing",
         "labels": {"alertname": "HighLatency", "instance": "api-1:9100", "job": "api", "severity": "critical"},
         "annotations": {"summary": "p99 latency above 2s"},
         "startsAt": "2026-11-25T02:58:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prometheus:9090/graph?g0.expr=latency", "fingerprint": "a1b2c3d4e5f60718"},
        {"status": "resolved",
         "labels": {"alertname": "HighLatency", "instance": "api-2:9100", "job": "api", "severity": "critical"},
         "annotations": {"summary": "p99 latency above 2s"},
         "startsAt": "2026-11-25T02:50:00Z", "endsAt": "2026-11-25T02:59:00Z",
         "generatorURL": "http://prometheus:9090/graph?g0.expr=latency", "fingerprint": "0f1e2d3c4b5a6978"}
      ],
      "groupLabels": {"alertname": "HighLatency"},
      "commonLabels": {"alertname": "HighLatency", "job": "api", "severity": "critical"},
      "commonAnnotations": {"summary": "p99 latency above 2s"},
      "externalURL": "http://alertmanager:9093",
      "version": "4",
      "groupKey": "{}:{alertname=\"HighLatency\"}",
      "truncatedAlerts": 0
    }"#;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap()
    }

    #[test]
    fn a_group_becomes_one_event_with_each_alert_by_fingerprint() {
        let ev = parse(EXAMPLE.as_bytes(), "k", now()).unwrap();
        assert_eq!(ev.dedup_key, "am:{}:{alertname=\"HighLatency\"}");
        let AlertAction::Group { details, alerts } = ev.action else {
            panic!("not a group");
        };
        assert_eq!(details.summary, "p99 latency above 2s");
        assert_eq!(details.severity, Severity::Critical);
        assert_eq!(details.links[0].href, "http://alertmanager:9093");
        let got: Vec<(&str, bool)> = alerts.iter().map(|a| (a.key.as_str(), a.firing)).collect();
        assert_eq!(
            got,
            [("a1b2c3d4e5f60718", true), ("0f1e2d3c4b5a6978", false)]
        );
        assert_eq!(
            alerts[0].summary,
            "HighLatency on api-1:9100: p99 latency above 2s"
        );
        assert_eq!(
            alerts[0].link.as_deref(),
            Some("http://prometheus:9090/graph?g0.expr=latency")
        );
    }

    #[test]
    fn bad_payloads_are_named() {
        let check = |body: &str, want: &str| {
            let e = parse(body.as_bytes(), "k", now()).unwrap_err();
            assert!(e.contains(want), "{e}");
        };
        check("{", "not an Alertmanager webhook payload");
        check(
            &EXAMPLE.replace(r#""version": "4""#, r#""version": "3""#),
            "version \"3\"",
        );
        check(
            &EXAMPLE.replace(r#""status": "resolved""#, r#""status": "gone""#),
            "alerts[1].status",
        );
        let empty: Value = {
            let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
            v["alerts"] = Value::Array(vec![]);
            v
        };
        check(&empty.to_string(), "'alerts' is empty");
        let mut many: Value = serde_json::from_str(EXAMPLE).unwrap();
        let one = many["alerts"][0].clone();
        many["alerts"] = Value::Array(vec![one; MAX_ALERTS + 1]);
        check(&many.to_string(), "at most 1000");
    }

    #[test]
    fn long_group_keys_are_hashed_to_fit() {
        let long = "x".repeat(500);
        let k = dedup_key(&long);
        assert!(k.len() < 64 && k.starts_with("am:"));
        assert_eq!(k, dedup_key(&long));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&body, "k", now());
        }

        #[test]
        fn never_panics_on_arbitrary_alert_fields(status in "\\PC{0,12}", name in "\\PC{0,40}", fp in "[a-f0-9]{0,16}") {
            let v = serde_json::json!({
                "version": "4", "groupKey": name, "status": status,
                "alerts": [{"status": status, "labels": {"alertname": name}, "fingerprint": fp}]
            });
            let _ = parse(v.to_string().as_bytes(), "k", now());
        }
    }
}
