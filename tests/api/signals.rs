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

const HB_TOKEN: &str = "c0ffee00c0ffee00c0ffee00c0ffee00";

#[tokio::test]
async fn a_missed_heartbeat_opens_one_incident_and_the_next_beat_resolves_it() {
    let config = CONFIG.replace(
        "integration_key = \"5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a\"\n",
        &format!(
            "integration_key = \"5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a\"\n\
             heartbeats = [{{ id = \"nightly-backup\", interval = \"10m\", token = \"{HB_TOKEN}\" }}]\n"
        ),
    );
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let t =
        TestApp::start_at_with_config(tempfile::tempdir().unwrap(), None, clock.clone(), &config)
            .await;
    let store = t.app().core().store.clone();
    let open = async || {
        store
            .incidents()
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.is_open())
            .collect::<Vec<_>>()
    };
    let step = |minutes: i64| {
        clock.advance(chrono::Duration::minutes(minutes));
        t.app().core().engine_wake.notify_one();
    };
    // Watching starts now; a beat within the interval keeps it quiet.
    wait_until_async(|| async { store.last_beat("nightly-backup").await.unwrap().is_some() }).await;
    step(9);
    let (status, body) = get(&format!("{}/heartbeat/{HB_TOKEN}", t.base)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ok")),
        "{body}"
    );
    assert_eq!(body["next_due"], "2026-11-25T03:19:00+00:00");
    step(9);
    tokio::time::sleep(Wait::from_millis(200)).await;
    assert!(open().await.is_empty());
    // 03:20: the beat due at 03:19 never came.
    step(2);
    wait_until_async(|| async { open().await.len() == 1 }).await;
    let inc = &open().await[0];
    assert_eq!(
        inc.alert.summary,
        "Heartbeat nightly-backup missed: no beat since 2026-11-25 03:09 UTC (expected every 10m)"
    );
    assert_eq!(inc.service_id, "api");
    // Reported once, not on every pass.
    step(30);
    tokio::time::sleep(Wait::from_millis(200)).await;
    assert_eq!(store.incidents().await.unwrap().len(), 1);
    // The job runs again: the incident resolves.
    let (status, body) = post(&format!("{}/heartbeat/{HB_TOKEN}", t.base), &[], vec![]).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("recovered")),
        "{body}"
    );
    assert!(open().await.is_empty());
    let (status, _) = get(&format!("{}/heartbeat/{}", t.base, "0".repeat(32))).await;
    assert_eq!(status, 404);
}
