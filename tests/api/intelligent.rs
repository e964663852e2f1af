//! Intelligent grouping: alerts join an open incident of their service when
//! they are similar enough, the message says why, new incidents carry their
//! outlier label and similar past incidents, and responders' merges and
//! splits teach the service's grouping.

use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use std::time::Duration as Wait;
use tocsin::clock::Clock;
use tocsin::domain::incident::State;

const INTELLIGENT: &str = "grouping = { mode = \"intelligent\", window = \"30m\" }\n";

async fn fire(t: &TestApp, dedup: &str, summary: &str, source: &str) {
    let body = json!({
        "routing_key": KEY, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": summary, "source": source, "severity": "error"}
    });
    assert_eq!(t.enqueue(&body).await.0, 202);
}

async fn start(fake: &FakeSlack, extra: &str) -> (TestApp, Clock) {
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let t = TestApp::start_at_with_config(
        tempfile::tempdir().unwrap(),
        Some(fake),
        clock.clone(),
        &with_api_settings(&format!("{INTELLIGENT}{extra}")),
    )
    .await;
    (t, clock)
}

/// The latest blocks Slack holds for incident `id`'s channel message.
fn message_blocks(fake: &FakeSlack, id: u64) -> String {
    let header = format!("#{id} ");
    let mut latest = String::new();
    for c in fake
        .calls("chat.postMessage")
        .into_iter()
        .chain(fake.calls("chat.update"))
    {
        let blocks = c.body["blocks"].to_string();
        if c.body["channel"] == CHANNEL && blocks.contains(&header) {
            latest = blocks;
        }
    }
    latest
}

async fn wait_for_message(fake: &FakeSlack, id: u64, text: &str) {
    let deadline = std::time::Instant::now() + Wait::from_secs(10);
    while std::time::Instant::now() < deadline {
        if message_blocks(fake, id).contains(text) {
            return;
        }
        tokio::time::sleep(Wait::from_millis(20)).await;
    }
    panic!(
        "incident #{id}'s message never said {text:?}; last: {}",
        message_blocks(fake, id)
    );
}

#[tokio::test]
async fn similar_alerts_join_and_the_message_says_why() {
    let fake = FakeSlack::start().await;
    let (t, clock) = start(&fake, "").await;
    let store = t.app().core().store.clone();
    fire(&t, "d1", "Disk 91% full on db-1.prod.internal", "db-1").await;
    clock.advance(Duration::minutes(2));
    fire(&t, "d2", "Disk 97% full on db-2.prod.internal", "db-2").await;
    fire(&t, "p1", "Payments API 5xx rate high", "lb-1").await;
    let list = store.incidents().await.unwrap();
    assert_eq!(
        list.len(),
        2,
        "the disk alerts share an incident: {list:#?}"
    );
    assert_eq!(list[0].alerts.len(), 2);
    let joined = list[0].alerts[1].similar.as_ref().unwrap();
    // {disk, <n>, full, on, <host>} shared, the sources differ: 5 / 6.
    assert_eq!(joined.score, 833);
    assert!(list[0].alerts[0].similar.is_none());
    wait_for_message(&fake, 1, "similar to #1: 0.83").await;
    // Nothing like the payments alert was seen: an anomaly, and the nearest
    // open incident is offered for a merge.
    assert_eq!(
        list[1].insight.outlier,
        Some(tocsin::domain::similarity::Outlier::Anomaly)
    );
    wait_for_message(&fake, 2, "*Anomaly:*").await;

    // Each alert resolves its own line; the last one resolves the incident.
    assert_eq!(t.enqueue(&action_body("d1", "resolve")).await.0, 202);
    assert_eq!(
        store.incident(1).await.unwrap().unwrap().state,
        State::Triggered
    );
    clock.advance(Duration::minutes(40));
    assert_eq!(t.enqueue(&action_body("d2", "resolve")).await.0, 202);
    assert_eq!(
        store.incident(1).await.unwrap().unwrap().state,
        State::Resolved
    );

    // The same kind again: a new incident (the old one is resolved) that
    // names it as what fixed it last time, and is frequent on the service.
    fire(&t, "d3", "Disk 99% full on db-3.prod.internal", "db-3").await;
    let third = store.incident(3).await.unwrap().unwrap();
    assert_eq!(third.insight.past.len(), 1, "{:?}", third.insight);
    assert_eq!(third.insight.past[0].id, 1);
    assert_eq!(
        third.insight.outlier,
        Some(tocsin::domain::similarity::Outlier::Frequent),
        "one of the service's two incidents this month was a full disk"
    );
    wait_for_message(&fake, 3, "*Similar past incidents*").await;
    wait_for_message(
        &fake,
        3,
        "resolved by the monitoring integration after 42 min",
    )
    .await;
    wait_for_message(&fake, 3, "*Frequent:*").await;
}
