//! Prometheus Alertmanager's webhook (`POST /integrations/alertmanager/{key}`,
//! payload version 4) and Grafana alerting's (`POST /integrations/grafana/{key}`,
//! version 1), which extends the same shape. One notification carries the
//! whole state of one alert group: the group (`groupKey`) is one incident,
//! each alert in it is tracked by its `fingerprint`, and the incident resolves
//! when every alert has.

use super::{AlertAction, AlertEvent};
use crate::domain::incident::{AlertDetails, Link, Severity, SubAlert};
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
    /// Grafana: "[FIRING:2] HighCPU (…)".
    #[serde(default)]
    title: Option<String>,
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
    /// Grafana: links to the alert's dashboard and panel, and the values that fired it.
    #[serde(default, rename = "dashboardURL")]
    dashboard_url: String,
    #[serde(default, rename = "panelURL")]
    panel_url: String,
    #[serde(default)]
    values: Option<BTreeMap<String, Value>>,
}

/// Which sender a grouped notification came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Alertmanager,
    Grafana,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Alertmanager => "Alertmanager",
            Source::Grafana => "Grafana",
        }
    }

    fn version(self) -> &'static str {
        match self {
            Source::Alertmanager => "4",
            Source::Grafana => "1",
        }
    }
}

/// Parses one notification from `source` for the service `routing_key`;
/// `now` dates alerts that carry no `startsAt`. Errors say what is wrong, for a 400.
pub fn parse(
    source: Source,
    body: &[u8],
    routing_key: &str,
    now: DateTime<Utc>,
) -> Result<AlertEvent, String> {
    let name = source.name();
    if let Some(why) = super::limits::too_deep(body) {
        return Err(why);
    }
    let p: Payload = serde_json::from_slice(body)
        .map_err(|e| format!("not a valid {name} webhook payload: {e}"))?;
    if p.version != source.version() {
        return Err(format!(
            "payload version {:?} is not supported; {name} sends {:?}",
            p.version,
            source.version()
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
    let sets = [
        ("groupLabels", p.group_labels.len()),
        ("commonLabels", p.common_labels.len()),
        ("commonAnnotations", p.common_annotations.len()),
    ];
    for (what, count) in sets {
        if let Some(why) = super::limits::too_many_labels(count, || what.into()) {
            return Err(why);
        }
    }
    for (i, a) in p.alerts.iter().enumerate() {
        for (what, count) in [
            ("labels", a.labels.len()),
            ("annotations", a.annotations.len()),
        ] {
            if let Some(why) =
                super::limits::too_many_labels(count, || format!("alerts[{i}].{what}"))
            {
                return Err(why);
            }
        }
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
        // Grafana's panel is where a responder looks first; then the dashboard.
        let link = [&a.panel_url, &a.dashboard_url, &a.generator_url]
            .into_iter()
            .find(|u| is_link(u))
            .cloned();
        alerts.push(SubAlert {
            key,
            summary: clip(&alert_summary(a), 300),
            firing,
            link,
            since: a.starts_at.unwrap_or(now),
            similar: None,
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
        .or_else(|| p.title.clone().filter(|t| !t.is_empty()))
        .or_else(|| {
            alertname
                .clone()
                .map(|n| format!("{n} ({} alerts)", alerts.len()))
        })
        .unwrap_or_else(|| format!("Alertmanager group {}", p.group_key));
    let mut links = vec![];
    if let Some(first) = p.alerts.first() {
        for (url, text) in [
            (&first.dashboard_url, "Dashboard"),
            (&first.panel_url, "Panel"),
        ] {
            if is_link(url) {
                links.push(Link {
                    href: url.clone(),
                    text: Some(text.into()),
                });
            }
        }
    }
    if is_link(&p.external_url) {
        links.push(Link {
            href: p.external_url.clone(),
            text: Some(name.into()),
        });
    }
    let details = AlertDetails {
        summary: clip(&summary, MAX_SUMMARY),
        source: p
            .common_labels
            .get("instance")
            .or_else(|| p.common_labels.get("job"))
            .cloned()
            .unwrap_or_else(|| name.to_ascii_lowercase()),
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
        client: Some(name.into()),
        client_url: None,
    };
    Ok(AlertEvent {
        routing_key: routing_key.to_string(),
        dedup_key: dedup_key(source, &p.group_key),
        action: AlertAction::Group {
            details: Box::new(details),
            alerts,
        },
    })
}

/// `am:` (or `grafana:`) + the group key, hashed when it would not fit a dedup key.
fn dedup_key(source: Source, group_key: &str) -> String {
    let prefix = match source {
        Source::Alertmanager => "am",
        Source::Grafana => "grafana",
    };
    if group_key.len() <= 200 {
        format!("{prefix}:{group_key}")
    } else {
        format!("{prefix}:{}", hash(group_key))
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
    let base = match (what, instance) {
        (Some(w), Some(i)) => format!("{name} on {i}: {w}"),
        (Some(w), None) => format!("{name}: {w}"),
        (None, Some(i)) => format!("{name} on {i}"),
        (None, None) => name.to_string(),
    };
    // Grafana says what value fired it, e.g. "B=97.3".
    match a.values.as_ref().filter(|v| !v.is_empty()) {
        Some(values) => {
            let shown: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{base} ({})", shown.join(", "))
        }
        None => base,
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
        let ev = parse(Source::Alertmanager, EXAMPLE.as_bytes(), "k", now()).unwrap();
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
            let e = parse(Source::Alertmanager, body.as_bytes(), "k", now()).unwrap_err();
            assert!(e.contains(want), "{e}");
        };
        check("{", "not a valid Alertmanager webhook payload");
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

    /// What Grafana 10/11 unified alerting posts to a webhook contact point.
    pub const GRAFANA: &str = r#"{
      "receiver": "tocsin",
      "status": "firing",
      "orgId": 1,
      "alerts": [
        {"status": "firing",
         "labels": {"alertname": "HighCPU", "grafana_folder": "Platform", "instance": "web-1", "severity": "warning"},
         "annotations": {"summary": "CPU above 90% for 5 minutes"},
         "startsAt": "2026-11-25T02:55:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "https://grafana.example.com/alerting/grafana/abc/view",
         "fingerprint": "57c6d9296de2ad39",
         "silenceURL": "https://grafana.example.com/alerting/silence/new?alertmanager=grafana",
         "dashboardURL": "https://grafana.example.com/d/cpu",
         "panelURL": "https://grafana.example.com/d/cpu?viewPanel=2",
         "values": {"B": 97.3, "C": 1},
         "valueString": "[ var='B' labels={instance=web-1} value=97.3 ]"}
      ],
      "groupLabels": {"alertname": "HighCPU", "grafana_folder": "Platform"},
      "commonLabels": {"alertname": "HighCPU", "grafana_folder": "Platform", "instance": "web-1", "severity": "warning"},
      "commonAnnotations": {"summary": "CPU above 90% for 5 minutes"},
      "externalURL": "https://grafana.example.com/",
      "version": "1",
      "groupKey": "{}/{__grafana_autogenerated__=\"true\"}:{alertname=\"HighCPU\", grafana_folder=\"Platform\"}",
      "truncatedAlerts": 0,
      "title": "[FIRING:1] HighCPU Platform (web-1 warning)",
      "state": "alerting",
      "message": "**Firing**\n\nValue: B=97.3"
    }"#;

    #[test]
    fn grafana_links_the_panel_and_dashboard_and_shows_the_values() {
        let ev = parse(Source::Grafana, GRAFANA.as_bytes(), "k", now()).unwrap();
        assert!(ev.dedup_key.starts_with("grafana:{}/"));
        let AlertAction::Group { details, alerts } = ev.action else {
            panic!("not a group");
        };
        assert_eq!(details.summary, "CPU above 90% for 5 minutes");
        assert_eq!(details.severity, Severity::Warning);
        let links: Vec<(&str, Option<&str>)> = details
            .links
            .iter()
            .map(|l| (l.href.as_str(), l.text.as_deref()))
            .collect();
        assert_eq!(
            links,
            [
                ("https://grafana.example.com/d/cpu", Some("Dashboard")),
                (
                    "https://grafana.example.com/d/cpu?viewPanel=2",
                    Some("Panel")
                ),
                ("https://grafana.example.com/", Some("Grafana")),
            ]
        );
        assert_eq!(
            alerts[0].summary,
            "HighCPU on web-1: CPU above 90% for 5 minutes (B=97.3, C=1)"
        );
        assert_eq!(
            alerts[0].link.as_deref(),
            Some("https://grafana.example.com/d/cpu?viewPanel=2")
        );
        // Without a summary annotation, Grafana's title names the incident.
        let bare = GRAFANA.replace(
            r#""commonAnnotations": {"summary": "CPU above 90% for 5 minutes"}"#,
            r#""commonAnnotations": {}"#,
        );
        let AlertAction::Group { details, .. } =
            parse(Source::Grafana, bare.as_bytes(), "k", now())
                .unwrap()
                .action
        else {
            panic!("not a group");
        };
        assert_eq!(
            details.summary,
            "[FIRING:1] HighCPU Platform (web-1 warning)"
        );
        // Alertmanager's version is not Grafana's.
        let e = parse(Source::Grafana, EXAMPLE.as_bytes(), "k", now()).unwrap_err();
        assert!(e.contains("Grafana sends \"1\""), "{e}");
    }

    #[test]
    fn long_group_keys_are_hashed_to_fit() {
        let long = "x".repeat(500);
        let k = dedup_key(Source::Alertmanager, &long);
        assert!(k.len() < 64 && k.starts_with("am:"));
        assert_eq!(k, dedup_key(Source::Alertmanager, &long));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(Source::Alertmanager, &body, "k", now());
            let _ = parse(Source::Grafana, &body, "k", now());
        }

        #[test]
        fn never_panics_on_arbitrary_alert_fields(status in "\\PC{0,12}", name in "\\PC{0,40}", fp in "[a-f0-9]{0,16}") {
            let v = serde_json::json!({
                "version": "4", "groupKey": name, "status": status,
                "alerts": [{"status": status, "labels": {"alertname": name}, "fingerprint": fp}]
            });
            let _ = parse(Source::Alertmanager, v.to_string().as_bytes(), "k", now());
        }
    }
}
