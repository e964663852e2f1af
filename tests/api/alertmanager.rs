//! Alertmanager in: its webhook payloads posted directly, then the real
//! Debian `prometheus-alertmanager` posting to tocsin through a webhook
//! receiver and through its PagerDuty receiver (`/v2/enqueue`).

use crate::support::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tocsin::domain::incident::{Incident, State};

/// A v4 notification for group `group` with `alerts` as (fingerprint, instance, firing).
fn notification(group: &str, alerts: &[(&str, &str, bool)]) -> Value {
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|(fp, instance, firing)| {
            json!({
                "status": if *firing { "firing" } else { "resolved" },
                "labels": {"alertname": group, "instance": instance, "severity": "critical"},
                "annotations": {"summary": format!("{group} on {instance}")},
                "startsAt": "2026-11-25T02:58:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": format!("http://prometheus:9090/graph?g0.expr={group}"),
                "fingerprint": fp
            })
        })
        .collect();
    let any = alerts.iter().any(|a| a["status"] == "firing");
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{group}\"}}"),
        "truncatedAlerts": 0,
        "status": if any { "firing" } else { "resolved" },
        "receiver": "tocsin",
        "groupLabels": {"alertname": group},
        "commonLabels": {"alertname": group, "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts
    })
}

async fn post_am(t: &TestApp, key: &str, body: &Value) -> (u16, Value) {
    post(
        &format!("{}/integrations/alertmanager/{key}", t.base),
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await
}

async fn incidents(t: &TestApp) -> Vec<Incident> {
    t.app().core().store.incidents().await.unwrap()
}

#[tokio::test]
async fn a_group_is_one_incident_that_resolves_when_all_its_alerts_do() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    let (status, _) = post_am(&t, KEY, &notification("DiskFull", &[("f1", "db-1", true)])).await;
    assert_eq!(status, 200);
    // The next notification of the group: a second alert fires. Same incident.
    let two = notification("DiskFull", &[("f1", "db-1", true), ("f2", "db-2", true)]);
    assert_eq!(post_am(&t, KEY, &two).await.0, 200);
    let list = incidents(&t).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].alerts.len(), 2);
    assert_eq!(
        fake.wait_for("chat.postMessage", 1, Duration::from_secs(5))
            .await
            .len(),
        1
    );
    wait_until(|| {
        fake.calls("chat.update").iter().any(|u| {
            let b = u.body["blocks"].to_string();
            b.contains("2 of 2 alerts firing") && b.contains("DiskFull on db-2")
        })
    })
    .await;
    // One resolves: still open. Both resolved: the incident resolves.
    let one = notification("DiskFull", &[("f1", "db-1", false), ("f2", "db-2", true)]);
    post_am(&t, KEY, &one).await;
    assert_eq!(incidents(&t).await[0].state, State::Triggered);
    let none = notification("DiskFull", &[("f1", "db-1", false), ("f2", "db-2", false)]);
    assert_eq!(post_am(&t, KEY, &none).await.0, 200);
    assert_eq!(incidents(&t).await[0].state, State::Resolved);
    assert_eq!(
        fake.calls("chat.postMessage").len(),
        1,
        "grouped, not posted again"
    );
    // A resolve for a group nobody knows is accepted and changes nothing.
    let stray = notification("Other", &[("f9", "x", false)]);
    assert_eq!(post_am(&t, KEY, &stray).await.0, 200);
    assert_eq!(incidents(&t).await.len(), 1);
}

#[tokio::test]
async fn unknown_keys_and_bad_payloads_are_refused_clearly() {
    let t = TestApp::start(None).await;
    let good = notification("X", &[("f1", "a", true)]);
    let (status, body) = post_am(&t, "ffffffffffffffffffffffffffffffff", &good).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown integration key"))
    );
    let mut bad = good.clone();
    bad["version"] = json!("3");
    let (status, body) = post_am(&t, KEY, &bad).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("version"),
        "{body}"
    );
    assert!(incidents(&t).await.is_empty());
}

/// Starts Debian's Alertmanager with two receivers pointing at tocsin, or
/// `None` when it is not installed (outside CI only: `.ci/run` installs it).
async fn start_alertmanager(tocsin: &str) -> Option<Alertmanager> {
    if !alertmanager_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{ALERTMANAGER} is not installed; .ci/run installs it (apt-get install prometheus-alertmanager)"
        );
        eprintln!(
            "skipping: {ALERTMANAGER} is not installed (apt-get install prometheus-alertmanager)"
        );
        return None;
    }
    let config = format!(
        r#"
route:
  receiver: webhook
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['via="pagerduty"']
      receiver: pagerduty
receivers:
  - name: webhook
    webhook_configs:
      - url: {tocsin}/integrations/alertmanager/{KEY}
        send_resolved: true
  - name: pagerduty
    pagerduty_configs:
      - routing_key: {KEY}
        url: {tocsin}/v2/enqueue
        send_resolved: true
"#
    );
    Some(Alertmanager::start(&config).await)
}

/// Posts alerts to Alertmanager's own API, as Prometheus would.
async fn fire(am: &Alertmanager, labels: Value, ends_at: Option<&str>) {
    let mut alert = json!({
        "labels": labels,
        "annotations": {"summary": "p99 latency above 2s"},
        "generatorURL": "http://prometheus:9090/graph?g0.expr=latency"
    });
    if let Some(end) = ends_at {
        alert["endsAt"] = json!(end);
    }
    let (status, body) = post(
        &format!("{}/api/v2/alerts", am.url),
        &[("content-type", "application/json")],
        json!([alert]).to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn eventually(what: &str, cond: impl AsyncFn() -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    while !cond().await {
        assert!(
            Instant::now() < end,
            "Alertmanager → tocsin: {what} did not happen in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_real_alertmanager_opens_updates_and_resolves_incidents() {
    let t = TestApp::start(None).await;
    let Some(am) = start_alertmanager(&t.base).await else {
        return;
    };
    let api1 = json!({"alertname": "HighLatency", "instance": "api-1", "severity": "critical"});
    let api2 = json!({"alertname": "HighLatency", "instance": "api-2", "severity": "critical"});
    fire(&am, api1.clone(), None).await;
    eventually("an incident for the group", async || {
        incidents(&t)
            .await
            .iter()
            .any(|i| i.alerts.len() == 1 && i.alerts[0].firing)
    })
    .await;
    fire(&am, api2.clone(), None).await;
    eventually("the second alert joining the incident", async || {
        let list = incidents(&t).await;
        list.len() == 1 && list[0].alerts.iter().filter(|a| a.firing).count() == 2
    })
    .await;
    let inc = &incidents(&t).await[0];
    assert_eq!(inc.alert.summary, "p99 latency above 2s");
    assert!(inc.dedup_key.starts_with("am:"));
    // Ending both alerts (endsAt in the past) makes Alertmanager send a resolve.
    let past = "2020-01-01T00:00:00Z";
    fire(&am, api1, Some(past)).await;
    fire(&am, api2, Some(past)).await;
    eventually("the incident resolving", async || {
        incidents(&t).await[0].state == State::Resolved
    })
    .await;

    // The PagerDuty receiver: Alertmanager's own Events v2 client.
    let pd = json!({"alertname": "QueueStuck", "via": "pagerduty", "severity": "warning"});
    fire(&am, pd.clone(), None).await;
    eventually("an incident through /v2/enqueue", async || {
        incidents(&t)
            .await
            .iter()
            .any(|i| i.state == State::Triggered && i.alert.summary.contains("QueueStuck"))
    })
    .await;
    fire(&am, pd, Some(past)).await;
    eventually("the PagerDuty-style resolve", async || {
        incidents(&t)
            .await
            .iter()
            .filter(|i| i.alert.summary.contains("QueueStuck"))
            .all(|i| i.state == State::Resolved)
    })
    .await;
}

#[tokio::test]
async fn grafana_alerting_opens_and_resolves_through_its_own_endpoint() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    let payload = |status: &str| {
        json!({
            "receiver": "tocsin", "status": status, "orgId": 1, "version": "1",
            "groupKey": "{}/{__grafana_autogenerated__=\"true\"}:{alertname=\"HighCPU\"}",
            "title": format!("[{}:1] HighCPU Platform", status.to_uppercase()),
            "state": if status == "firing" { "alerting" } else { "ok" },
            "externalURL": "https://grafana.example.com/",
            "groupLabels": {"alertname": "HighCPU"},
            "commonLabels": {"alertname": "HighCPU", "severity": "critical"},
            "commonAnnotations": {},
            "alerts": [{
                "status": status,
                "labels": {"alertname": "HighCPU", "instance": "web-1", "severity": "critical"},
                "annotations": {"summary": "CPU above 90%"},
                "startsAt": "2026-11-25T02:55:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "57c6d9296de2ad39",
                "dashboardURL": "https://grafana.example.com/d/cpu",
                "panelURL": "https://grafana.example.com/d/cpu?viewPanel=2",
                "values": {"B": 97.3}
            }]
        })
    };
    let url = format!("{}/integrations/grafana/{KEY}", t.base);
    let send = |body: Value| {
        let url = url.clone();
        async move {
            post(
                &url,
                &[("content-type", "application/json")],
                body.to_string().into_bytes(),
            )
            .await
        }
    };
    assert_eq!(send(payload("firing")).await.0, 200);
    let posted = fake
        .wait_for("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    let blocks = posted[0].body["blocks"].to_string();
    assert!(blocks.contains("[FIRING:1] HighCPU Platform"), "{blocks}");
    assert!(
        blocks.contains("https://grafana.example.com/d/cpu?viewPanel=2|Panel"),
        "{blocks}"
    );
    assert!(
        blocks.contains("HighCPU on web-1: CPU above 90% (B=97.3)"),
        "{blocks}"
    );
    assert_eq!(send(payload("resolved")).await.0, 200);
    assert_eq!(incidents(&t).await[0].state, State::Resolved);
}
