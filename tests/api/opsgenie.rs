//! The Opsgenie-compatible Alert API: requests in Opsgenie's documented
//! shapes, then the real Debian Alertmanager's `opsgenie_configs` with its
//! `api_url` pointed at tocsin.

use crate::support::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tocsin::domain::incident::{Incident, Severity, State};

async fn og(t: &TestApp, path: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
    let auth = key.map(|k| format!("GenieKey {k}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    post(
        &format!("{}{path}", t.base),
        &headers,
        body.to_string().into_bytes(),
    )
    .await
}

async fn incidents(t: &TestApp) -> Vec<Incident> {
    t.app().core().store.incidents().await.unwrap()
}

fn assert_accepted(status: u16, body: &Value) {
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["result"], "Request will be processed", "{body}");
    assert!(body["took"].is_number(), "{body}");
    assert_eq!(body["requestId"].as_str().unwrap().len(), 36, "{body}");
}

#[tokio::test]
async fn an_opsgenie_client_creates_acknowledges_notes_and_closes_an_alert() {
    let t = TestApp::start(None).await;
    let create = json!({
        "message": "CPU load on db-1 above 95%",
        "alias": "db-1-cpu",
        "description": "load average 31.2 over 5 minutes",
        "responders": [{"name": "Platform", "type": "team"}],
        "tags": ["database", "prod"],
        "details": {"host": "db-1", "metric": "load15"},
        "entity": "db-1",
        "source": "zabbix-proxy",
        "priority": "P1"
    });
    let (status, body) = og(&t, "/v2/alerts", Some(KEY), &create).await;
    assert_accepted(status, &body);
    // The same alias again is the same alert.
    let (status, body) = og(&t, "/v2/alerts", Some(KEY), &create).await;
    assert_accepted(status, &body);
    let list = incidents(&t).await;
    assert_eq!(list.len(), 1);
    let inc = &list[0];
    assert_eq!(inc.dedup_key, "db-1-cpu");
    assert_eq!(inc.alert.summary, "CPU load on db-1 above 95%");
    assert_eq!(inc.alert.severity, Severity::Critical);
    assert_eq!(inc.alert.component.as_deref(), Some("db-1"));
    assert_eq!(inc.alert.source, "zabbix-proxy");
    let details = t
        .app()
        .core()
        .store
        .custom_details(inc.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(details["details"]["metric"], "load15");
    assert_eq!(details["tags"], json!(["database", "prod"]));

    let ack = json!({"user": "Monitoring Script", "source": "AWS Lambda", "note": "Action executed via Alert API"});
    let (status, body) = og(
        &t,
        "/v2/alerts/db-1-cpu/acknowledge?identifierType=alias",
        Some(KEY),
        &ack,
    )
    .await;
    assert_accepted(status, &body);
    let inc = &incidents(&t).await[0];
    assert_eq!(inc.state, State::Acknowledged);
    assert_eq!(
        inc.coord.timeline.last().unwrap().text,
        "Monitoring Script: Action executed via Alert API"
    );

    // identifierType defaults to id: tocsin's incident number.
    let note = json!({"note": "failover to db-2 started"});
    let (status, body) = og(
        &t,
        &format!("/v2/alerts/{}/notes", inc.id),
        Some(KEY),
        &note,
    )
    .await;
    assert_accepted(status, &body);
    let inc = &incidents(&t).await[0];
    assert_eq!(
        inc.coord.timeline.last().unwrap().text,
        "failover to db-2 started"
    );

    let (status, body) = og(
        &t,
        "/v2/alerts/db-1-cpu/close?identifierType=alias",
        Some(KEY),
        &json!({"source": "zabbix-proxy"}),
    )
    .await;
    assert_accepted(status, &body);
    assert_eq!(incidents(&t).await[0].state, State::Resolved);
}

#[tokio::test]
async fn bad_requests_get_opsgenie_errors_and_change_nothing() {
    let t = TestApp::start(None).await;
    let good = json!({"message": "disk full", "alias": "disk"});
    let check = |status: u16, body: &Value, want: u16, message: &str| {
        assert_eq!(status, want, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{body}"
        );
        assert_eq!(body["requestId"].as_str().unwrap().len(), 36, "{body}");
        assert!(body["took"].is_number());
    };
    let (s, b) = og(&t, "/v2/alerts", None, &good).await;
    check(s, &b, 401, "Could not authenticate");
    let (s, b) = og(&t, "/v2/alerts", Some("not-a-known-key"), &good).await;
    check(s, &b, 401, "Could not authenticate");
    let (s, b) = og(
        &t,
        "/v2/alerts",
        Some(KEY),
        &json!({"alias": "x", "priority": "P0"}),
    )
    .await;
    check(s, &b, 422, "Request body is not processable");
    assert_eq!(b["errors"]["message"], "Message can not be empty.");
    assert!(b["errors"]["priority"].as_str().unwrap().contains("P1"));
    let (s, b) = post(
        &format!("{}/v2/alerts", t.base),
        &[("authorization", &format!("GenieKey {KEY}"))],
        b"{\"message\": ".to_vec(),
    )
    .await;
    check(s, &b, 400, "not valid JSON");
    assert!(incidents(&t).await.is_empty());

    let (s, b) = og(
        &t,
        "/v2/alerts/nope/close?identifierType=alias",
        Some(KEY),
        &json!({}),
    )
    .await;
    check(s, &b, 404, "Alert with alias [nope] does not exist");
    let (s, b) = og(
        &t,
        "/v2/alerts/nope/close?identifierType=tiny",
        Some(KEY),
        &json!({}),
    )
    .await;
    check(s, &b, 422, "not processable");
    assert!(b["errors"]["identifierType"]
        .as_str()
        .unwrap()
        .contains("alias"));

    // An incident of another service is not this key's to close.
    let (s, _) = og(&t, "/v2/alerts", Some(PAGED_KEY), &good).await;
    assert_eq!(s, 202);
    let id = incidents(&t).await[0].id;
    let (s, b) = og(&t, &format!("/v2/alerts/{id}/close"), Some(KEY), &json!({})).await;
    check(s, &b, 404, &format!("Alert with id [{id}] does not exist"));
    let (s, b) = og(
        &t,
        &format!("/v2/alerts/{id}/notes"),
        Some(PAGED_KEY),
        &json!({}),
    )
    .await;
    check(s, &b, 422, "not processable");
    assert_eq!(b["errors"]["note"], "Note can not be empty.");
    let (s, b) = og(&t, "/v2/alerts/disk/snooze", Some(PAGED_KEY), &json!({})).await;
    check(s, &b, 404, "not supported");
    let inc = &incidents(&t).await[0];
    assert_eq!(inc.state, State::Triggered);
    assert!(inc.coord.timeline.is_empty());
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
async fn the_real_alertmanager_opens_and_closes_through_its_opsgenie_receiver() {
    let t = TestApp::start(None).await;
    if !alertmanager_installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{ALERTMANAGER} is not installed; .ci/run installs it"
        );
        eprintln!(
            "skipping: {ALERTMANAGER} is not installed (apt-get install prometheus-alertmanager)"
        );
        return;
    }
    let config = format!(
        r#"
route:
  receiver: opsgenie
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: opsgenie
    opsgenie_configs:
      - api_key: {KEY}
        api_url: {}/
        priority: P2
        send_resolved: true
"#,
        t.base
    );
    let am = Alertmanager::start(&config).await;
    let fire = async |ends_at: Option<&str>| {
        let mut alert = json!({
            "labels": {"alertname": "ReplicationLag", "instance": "db-2", "severity": "critical"},
            "annotations": {"summary": "replica 40s behind"},
            "generatorURL": "http://prometheus:9090/graph?g0.expr=lag"
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
    };
    fire(None).await;
    eventually("an incident through /v2/alerts", async || {
        incidents(&t)
            .await
            .iter()
            .any(|i| i.state == State::Triggered && i.alert.summary.contains("ReplicationLag"))
    })
    .await;
    let inc = incidents(&t).await.remove(0);
    assert_eq!(inc.alert.severity, Severity::Error, "P2");
    // Alertmanager's alias is a hash of the group key.
    assert_eq!(inc.dedup_key.len(), 64, "{}", inc.dedup_key);
    fire(Some("2020-01-01T00:00:00Z")).await;
    eventually("the close with identifierType=alias", async || {
        incidents(&t).await[0].state == State::Resolved
    })
    .await;
    assert_eq!(incidents(&t).await.len(), 1);
}
