//! Intelligent grouping: alerts join an open incident of their service when
//! they are similar enough, the message says why, new incidents carry their
//! outlier label and similar past incidents, and responders' merges and
//! splits teach the service's grouping.

use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use serde_json::{json, Value};
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

/// Presses the button `(action_id, value)` as `user`, signed as Slack signs it.
async fn press(t: &TestApp, (action_id, value): (String, String), user: &str) -> u16 {
    let mut payload = click_payload(&action_id, 1, user, "http://127.0.0.1:9/unused");
    payload["actions"][0]["value"] = json!(value);
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    t.slack("/slack/interactions", &body).await.0
}

#[tokio::test]
async fn merge_and_split_regroup_and_teach_the_service() {
    let fake = FakeSlack::start().await;
    let (t, clock) = start(&fake, "").await;
    let store = t.app().core().store.clone();
    fire(&t, "d1", "Disk 91% full on db-1.prod.internal", "db-1").await;
    fire(&t, "d2", "Disk 97% full on db-2.prod.internal", "db-2").await;
    fire(&t, "q1", "Queue backlog growing on ingest-1", "mq-1").await;
    assert_eq!(store.incidents().await.unwrap().len(), 2);

    // #2 offers a merge into the incident most like it; a forged click changes nothing.
    wait_for_message(&fake, 2, "Merge into #1").await;
    let merge = button_value(&fake, 2, "Merge into #1").unwrap();
    assert_eq!(merge, ("incident_merge".to_string(), "2:1".to_string()));
    let mut payload = click_payload("incident_merge", 2, "U0ALICE", "http://127.0.0.1:9/x");
    payload["actions"][0]["value"] = json!("2:1");
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let ts = clock.now().timestamp().to_string();
    let (status, _) = t
        .slack_signed("/slack/interactions", &body, &ts, "v0=forged")
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        store.incident(2).await.unwrap().unwrap().state,
        State::Triggered
    );
    assert!(store.labels("api", 10).await.unwrap().is_empty());

    // Split the second disk alert out of #1: it opens #3 and is a label.
    wait_for_message(&fake, 1, "Split out").await;
    let split = button_value(&fake, 1, "Split out").unwrap();
    assert_eq!(split, ("alert_split".to_string(), "1:d2".to_string()));
    assert_eq!(press(&t, split.clone(), "U0ALICE").await, 200);
    let one = store.incident(1).await.unwrap().unwrap();
    assert_eq!(one.alerts.len(), 1, "{:?}", one.alerts);
    let three = store.incident(3).await.unwrap().unwrap();
    assert_eq!(three.alert.summary, "Disk 97% full on db-2.prod.internal");
    assert_eq!(three.state, State::Triggered);
    let labels = store.labels("api", 10).await.unwrap();
    assert_eq!(labels.len(), 1);
    assert!(!labels[0].same);
    // Pressed again, it changes nothing and says why.
    assert_eq!(press(&t, split, "U0ALICE").await, 200);
    assert_eq!(store.incidents().await.unwrap().len(), 3);
    assert_eq!(store.labels("api", 10).await.unwrap().len(), 1);
    // The key now points at #3: resolving it resolves #3, not #1's line.
    assert_eq!(t.enqueue(&action_body("d2", "resolve")).await.0, 202);
    assert_eq!(
        store.incident(3).await.unwrap().unwrap().state,
        State::Resolved
    );
    assert_eq!(
        store.incident(1).await.unwrap().unwrap().state,
        State::Triggered
    );

    // Learned: the same pair of hosts no longer groups.
    clock.advance(Duration::minutes(1));
    fire(&t, "d4", "Disk 98% full on db-2.prod.internal", "db-2").await;
    let four = store.incident(4).await.unwrap().unwrap();
    assert_eq!(
        four.dedup_key, "similar:d4",
        "a new incident, not a line of #1"
    );
    // A disk alert from db-1 still joins #1.
    fire(&t, "d5", "Disk 99% full on db-1.prod.internal", "db-1").await;
    assert_eq!(store.incident(1).await.unwrap().unwrap().alerts.len(), 2);

    // `/incident merge 2 1`: the queue alert becomes a line of #1, #2
    // resolves, the pair is a label, and the key follows.
    let (status, reply) = t
        .command("merge 2 1", "U0ALICE", &fake.response_url("merge"))
        .await;
    assert_eq!(status, 200);
    assert!(reply.to_string().contains("Merged #2 into #1"), "{reply}");
    assert_eq!(
        store.incident(2).await.unwrap().unwrap().state,
        State::Resolved
    );
    let one = store.incident(1).await.unwrap().unwrap();
    assert!(one.alerts.iter().any(|a| a.key == "q1"), "{:?}", one.alerts);
    let labels = store.labels("api", 10).await.unwrap();
    assert_eq!(labels.len(), 2);
    assert!(labels[1].same);
    assert_eq!(t.enqueue(&action_body("q1", "resolve")).await.0, 202);
    let one = store.incident(1).await.unwrap().unwrap();
    assert!(!one.alerts.iter().find(|a| a.key == "q1").unwrap().firing);
    // Merging a resolved incident is refused and changes nothing.
    let (_, reply) = t
        .command("merge 2 1", "U0ALICE", &fake.response_url("again"))
        .await;
    assert!(
        reply.to_string().contains("#2 is resolved already"),
        "{reply}"
    );
    assert_eq!(store.labels("api", 10).await.unwrap().len(), 2);
    // Someone tocsin does not know may not regroup.
    let (_, reply) = t
        .command("merge 4 1", "U0STRANGER", &fake.response_url("stranger"))
        .await;
    assert!(!reply.to_string().contains("Merged"), "{reply}");
    assert_eq!(
        store.incident(4).await.unwrap().unwrap().state,
        State::Triggered
    );
}
/// The `value` of the button labelled `label` in incident `id`'s message.
fn button_value(fake: &FakeSlack, id: u64, label: &str) -> Option<(String, String)> {
    let blocks: Value = serde_json::from_str(&message_blocks(fake, id)).ok()?;
    let mut found = None;
    visit(&blocks, &mut |v| {
        if v["type"] == "button" && v["text"]["text"] == label {
            found = Some((
                v["action_id"].as_str().unwrap_or_default().to_string(),
                v["value"].as_str().unwrap_or_default().to_string(),
            ));
        }
    });
    found
}

fn visit(v: &Value, f: &mut impl FnMut(&Value)) {
    f(v);
    match v {
        Value::Array(items) => items.iter().for_each(|i| visit(i, f)),
        Value::Object(map) => map.values().for_each(|i| visit(i, f)),
        _ => {}
    }
}

#[tokio::test]
async fn an_event_rule_can_raise_anomalies() {
    let fake = FakeSlack::start().await;
    let rule = "[[services.rules]]\nwhen = [{ field = \"outlier\", equals = \"anomaly\" }]\nseverity = \"critical\"\n";
    let (t, clock) = start(&fake, rule).await;
    let store = t.app().core().store.clone();
    fire(&t, "d1", "Disk 91% full on db-1.prod.internal", "db-1").await;
    let first = store.incident(1).await.unwrap().unwrap();
    assert_eq!(
        first.alert.severity.as_str(),
        "critical",
        "never seen: an anomaly"
    );
    assert_eq!(t.enqueue(&action_body("d1", "resolve")).await.0, 202);
    clock.advance(Duration::hours(2));
    fire(&t, "d2", "Disk 93% full on db-1.prod.internal", "db-1").await;
    let second = store.incident(2).await.unwrap().unwrap();
    assert_eq!(
        second.alert.severity.as_str(),
        "error",
        "seen before: no rule applies"
    );
    assert_eq!(
        second.insight.outlier,
        Some(tocsin::domain::similarity::Outlier::Frequent)
    );
}
