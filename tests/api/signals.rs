//! Signals that are not alerts: change events shown on new incidents, and
//! heartbeat monitors that open an incident when a beat is missed.

use crate::support::*;
use chrono::{TimeZone, Utc};
use serde_json::json;
use std::time::Duration as Wait;
use tocsin::clock::Clock;

async fn change(t: &TestApp, key: &str, summary: &str, at: &str) -> (u16, serde_json::Value) {
    let body = json!({
        "routing_key": key,
        "payload": {"summary": summary, "timestamp": at, "source": "ci"},
        "links": [{"href": "https://ci.example.com/builds/7", "text": "Build 7"}]
    });
    post(
        &format!("{}/v2/change/enqueue", t.base),
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await
}

#[tokio::test]
async fn a_new_incident_lists_its_services_changes_from_the_last_hour() {
    let fake = FakeSlack::start().await;
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock).await;
    let (status, body) = change(&t, KEY, "deploy api v1.2.3", "2026-11-25T02:48:00Z").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "success");
    change(&t, KEY, "deploy api v1.2.2", "2026-11-25T01:30:00Z").await;
    change(
        &t,
        PAGED_KEY,
        "payments config push",
        "2026-11-25T02:55:00Z",
    )
    .await;
    let (status, body) = change(
        &t,
        "ffffffffffffffffffffffffffffffff",
        "x",
        "2026-11-25T02:55:00Z",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = change(&t, KEY, "", "yesterday").await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");

    assert_eq!(t.trigger("d1", "API errors").await.0, 202);
    let post = fake
        .wait_for("chat.postMessage", 1, Wait::from_secs(5))
        .await;
    let blocks = post[0].body["blocks"].to_string();
    assert!(
        blocks.contains("<https://ci.example.com/builds/7|deploy api v1.2.3> (ci), 12 min before"),
        "{blocks}"
    );
    assert!(!blocks.contains("v1.2.2"), "older than an hour: {blocks}");
    assert!(
        !blocks.contains("payments config push"),
        "another service: {blocks}"
    );
}
