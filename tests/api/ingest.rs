//! `/v2/enqueue`: PagerDuty Events API v2 compatibility and durable ingest.

use crate::support::*;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_trigger_is_accepted_and_posts_a_message_with_both_buttons() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    let (status, body) = t.trigger("disk-full", "Disk full on db-1").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        body,
        json!({"status": "success", "message": "Event processed", "dedup_key": "disk-full"})
    );

    let posts = fake.wait_for("chat.postMessage", 1, WAIT).await;
    assert_eq!(posts.len(), 1);
    let msg = &posts[0].body;
    assert_eq!(msg["channel"], CHANNEL);
    assert_eq!(
        button_labels(msg),
        ["Acknowledge", "Resolve", "Open channel"]
    );
    let text = msg["text"].as_str().unwrap();
    assert!(
        text.contains("#1") && text.contains("Disk full on db-1"),
        "{text}"
    );
    let blocks = msg["blocks"].to_string();
    for want in ["Public API", "critical", "web-1", "Dashboard"] {
        assert!(blocks.contains(want), "blocks lack {want}: {blocks}");
    }
}

#[tokio::test]
async fn a_duplicate_trigger_counts_but_posts_nothing_new() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    assert_eq!(t.trigger("cpu", "CPU high").await.0, 202);
    fake.wait_for("chat.postMessage", 1, WAIT).await;
    assert_eq!(t.trigger("cpu", "CPU high").await.0, 202);
    // The message's alert count is refreshed in place; nothing new is posted.
    let updates = fake.wait_for("chat.update", 1, WAIT).await;
    assert!(
        updates[0].body["text"]
            .as_str()
            .unwrap()
            .contains("2 alerts"),
        "{}",
        updates[0].body
    );
    assert_eq!(
        button_labels(&updates[0].body),
        ["Acknowledge", "Resolve", "Open channel"]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.calls("chat.postMessage").len(), 1);
    let open = t.app().core().store.open_incidents().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].alert_count, 2);
}

#[tokio::test]
async fn a_trigger_without_a_dedup_key_gets_one_and_is_always_new() {
    let t = TestApp::start(None).await;
    let mut body = trigger_body("x", "no key");
    body.as_object_mut().unwrap().remove("dedup_key");
    let (s1, b1) = t.enqueue(&body).await;
    let (s2, b2) = t.enqueue(&body).await;
    assert_eq!((s1, s2), (202, 202));
    let (k1, k2) = (
        b1["dedup_key"].as_str().unwrap(),
        b2["dedup_key"].as_str().unwrap(),
    );
    assert!(!k1.is_empty() && k1 != k2);
    assert_eq!(t.app().core().store.open_incidents().unwrap().len(), 2);
}

#[tokio::test]
async fn resolve_closes_the_incident_updates_the_message_and_a_new_trigger_reopens() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    t.trigger("db", "DB down").await;
    fake.wait_for("chat.postMessage", 1, WAIT).await;
    let (status, body) = t.enqueue(&action_body("db", "resolve")).await;
    assert_eq!(status, 202, "{body}");
    let updates = fake.wait_for("chat.update", 1, WAIT).await;
    assert_eq!(updates.len(), 1);
    assert!(button_labels(&updates[0].body).is_empty());
    assert!(updates[0].body["text"]
        .as_str()
        .unwrap()
        .contains("Resolved"));

    // A replayed resolve changes nothing.
    assert_eq!(t.enqueue(&action_body("db", "resolve")).await.0, 202);
    // After resolve, the same key opens a new incident.
    assert_eq!(t.trigger("db", "DB down again").await.0, 202);
    let posts = fake.wait_for("chat.postMessage", 2, WAIT).await;
    assert_eq!(posts.len(), 2);
    assert!(posts[1].body["text"].as_str().unwrap().contains("#2"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.calls("chat.update").len(), 1);
}

#[tokio::test]
async fn acknowledge_through_events_v2_updates_the_message() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    t.trigger("lat", "Latency").await;
    fake.wait_for("chat.postMessage", 1, WAIT).await;
    assert_eq!(t.enqueue(&action_body("lat", "acknowledge")).await.0, 202);
    let updates = fake.wait_for("chat.update", 1, WAIT).await;
    assert_eq!(
        button_labels(&updates[0].body),
        ["Resolve", "Snooze 1h", "Snooze 4h", "Open channel"]
    );
    // Acknowledging or resolving a key nobody knows is accepted and dropped.
    assert_eq!(
        t.enqueue(&action_body("never-seen", "acknowledge")).await.0,
        202
    );
    assert_eq!(
        t.enqueue(&action_body("never-seen", "resolve")).await.0,
        202
    );
}

#[tokio::test]
async fn bad_events_get_pagerdutys_invalid_event_shape_and_change_nothing() {
    let t = TestApp::start(None).await;
    let url = format!("{}/v2/enqueue", t.base);
    let json_ct = [("content-type", "application/json")];

    let (status, body) = post(&url, &json_ct, b"{\"routing_key\": ".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "invalid event");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{body}"
    );

    let (status, body) = t
        .enqueue(&json!({"routing_key": KEY, "event_action": "trigger", "payload": {"summary": "s", "severity": "loud"}}))
        .await;
    assert_eq!(status, 400);
    let errors = body["errors"].to_string();
    assert!(
        errors.contains("source") && errors.contains("severity"),
        "{errors}"
    );

    let mut unknown = trigger_body("k", "s");
    unknown["routing_key"] = json!("00000000000000000000000000000000");
    let (status, body) = t.enqueue(&unknown).await;
    assert_eq!(status, 400);
    assert!(
        body["errors"]
            .to_string()
            .contains("unknown integration key"),
        "{body}"
    );

    let huge = vec![b' '; 1024 * 1024 + 1];
    let (status, _) = post(&url, &json_ct, huge).await;
    assert_eq!(status, 413);

    assert!(t.app().core().store.incidents().unwrap().is_empty());
}

#[tokio::test]
async fn health_and_unknown_routes_answer_plainly() {
    let t = TestApp::start(None).await;
    assert_eq!(
        get(&format!("{}/healthz", t.base)).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(get(&format!("{}/nope", t.base)).await.0, 404);
    assert_eq!(get(&format!("{}/v2/enqueue", t.base)).await.0, 405);
}

#[tokio::test]
async fn without_slack_credentials_alerts_are_accepted_and_slack_work_waits() {
    let t = TestApp::start(None).await;
    assert_eq!(
        t.trigger("a", "queued while Slack is unconfigured").await.0,
        202
    );
    let dir = t.stop().await;
    // Restart with Slack configured: the queued message is delivered.
    let fake = FakeSlack::start().await;
    let t = TestApp::start_in(dir, Some(&fake), &[]).await;
    let posts = fake.wait_for("chat.postMessage", 1, WAIT).await;
    assert_eq!(posts.len(), 1);
    assert!(posts[0].body["text"]
        .as_str()
        .unwrap()
        .contains("queued while Slack is unconfigured"));
    drop(t);
}
