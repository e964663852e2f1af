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
    let open = t.app().core().store.open_incidents().await.unwrap();
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
    assert_eq!(
        t.app().core().store.open_incidents().await.unwrap().len(),
        2
    );
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

    assert!(t.app().core().store.incidents().await.unwrap().is_empty());
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

/// `levels` nested objects; as an Events v2 trigger's `custom_details`, the
/// body nests `levels + 2` deep.
fn nested_details(levels: usize) -> serde_json::Value {
    let mut v = json!("bottom");
    for _ in 0..levels {
        v = json!({ "deeper": v });
    }
    v
}

#[tokio::test]
async fn every_ingest_limit_is_a_clear_4xx_and_stores_nothing() {
    use tocsin::ingest::limits::{MAX_DEPTH, MAX_LABELS};
    // The same service also takes generic webhooks, mapped by `datadog`.
    let config = CONFIG.replace(
        "integration_key = \"5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a\"\n",
        "integration_key = \"5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a\"\nwebhook = \"datadog\"\n",
    );
    let t = TestApp::start_full(
        tempfile::tempdir().unwrap(),
        None,
        &[],
        tocsin::clock::Clock::system(),
        &config,
    )
    .await;
    let json_ct = [("content-type", "application/json")];
    let events = format!("{}/v2/enqueue", t.base);
    let am = format!("{}/integrations/alertmanager/{KEY}", t.base);
    let webhook = format!("{}/integrations/webhook/{KEY}", t.base);
    let send = |url: &str, body: serde_json::Value| {
        let url = url.to_string();
        async move { post(&url, &json_ct, body.to_string().into_bytes()).await }
    };

    // Body size: over 1 MiB is 413 on every ingest path, declared or not.
    for url in [&events, &am, &webhook] {
        let (status, _) = post(url, &json_ct, vec![b' '; 1024 * 1024 + 1]).await;
        assert_eq!(status, 413, "{url}");
    }

    // Nesting: the payload and its details at most MAX_DEPTH deep.
    let mut deep = trigger_body("deep", "deeply nested");
    deep["payload"]["custom_details"] = nested_details(MAX_DEPTH - 1);
    let (status, body) = send(&events, deep).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "invalid event");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains(&format!("deeper than {MAX_DEPTH} levels")),
        "{body}"
    );
    let deep_am = json!({"version": "4", "groupKey": "g", "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "fingerprint": "f",
                    "annotations": {}, "x": nested_details(MAX_DEPTH)}]});
    let (status, body) = send(&am, deep_am).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("deeper than"),
        "{body}"
    );
    let (status, body) = send(&webhook, nested_details(MAX_DEPTH + 1)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("deeper than"),
        "{body}"
    );

    // Summary: PagerDuty's 1024 characters.
    let long = trigger_body("long", &"é".repeat(1025));
    let (status, body) = send(&events, long).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"].to_string().contains("longer than 1024"),
        "{body}"
    );

    // Alerts per notification: 1000.
    let one = json!({"status": "firing", "labels": {"alertname": "X"}, "fingerprint": "f"});
    let many = json!({"version": "4", "groupKey": "g", "status": "firing",
        "alerts": vec![one; 1001]});
    let (status, body) = send(&am, many).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("at most 1000"),
        "{body}"
    );

    // Labels per alert: MAX_LABELS.
    let labels = |n: usize| -> serde_json::Map<String, serde_json::Value> {
        (0..n).map(|i| (format!("l{i}"), json!("v"))).collect()
    };
    let labelled = |n: usize| {
        json!({"version": "4", "groupKey": format!("labels-{n}"), "status": "firing",
            "alerts": [{"status": "firing", "labels": labels(n), "fingerprint": format!("f{n}")}]})
    };
    let (status, body) = send(&am, labelled(MAX_LABELS + 1)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        format!(
            "alerts[0].labels has {} entries; at most {MAX_LABELS}",
            MAX_LABELS + 1
        )
    );
    assert!(t.app().core().store.incidents().await.unwrap().is_empty());

    // Right at each limit, the alert is taken.
    let (status, body) = send(&am, labelled(MAX_LABELS)).await;
    assert_eq!(status, 200, "{body}");
    let mut at_limit = trigger_body("at-limit", &"é".repeat(1024));
    at_limit["payload"]["custom_details"] = nested_details(MAX_DEPTH - 2);
    let (status, body) = send(&events, at_limit).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(t.app().core().store.incidents().await.unwrap().len(), 2);
}
