//! Grouping single alerts into incidents (by time and by content), and
//! flapping alerts kept in one incident.

use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use std::time::Duration as Wait;
use tocsin::clock::Clock;
use tocsin::domain::incident::State;

async fn fire(t: &TestApp, dedup: &str, component: &str) {
    let body = json!({
        "routing_key": KEY, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": format!("{component} trouble ({dedup})"), "source": "x", "severity": "error", "component": component}
    });
    assert_eq!(t.enqueue(&body).await.0, 202);
}

async fn resolve(t: &TestApp, dedup: &str) {
    assert_eq!(t.enqueue(&action_body(dedup, "resolve")).await.0, 202);
}

fn channel_posts(fake: &FakeSlack) -> usize {
    fake.calls("chat.postMessage")
        .iter()
        .filter(|c| c.body["channel"] == CHANNEL)
        .count()
}

#[tokio::test]
async fn alerts_group_by_key_within_the_window_and_resolve_together() {
    let fake = FakeSlack::start().await;
    let config = with_api_settings("grouping = { window = \"5m\", key = \"{{ component }}\" }\n");
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let t = TestApp::start_at_with_config(
        tempfile::tempdir().unwrap(),
        Some(&fake),
        clock.clone(),
        &config,
    )
    .await;
    let store = t.app().core().store.clone();
    fire(&t, "d1", "db").await;
    clock.advance(Duration::minutes(1));
    fire(&t, "d2", "db").await;
    fire(&t, "w1", "web").await;
    let list = store.incidents().await.unwrap();
    assert_eq!(
        list.len(),
        2,
        "db alerts share an incident, web has its own"
    );
    assert_eq!(list[0].alerts.len(), 2);
    assert_eq!(list[0].alert_count, 2);
    // Ten minutes after the group's last alert, a db alert starts a new group.
    clock.advance(Duration::minutes(10));
    fire(&t, "d3", "db").await;
    assert_eq!(store.incidents().await.unwrap().len(), 3);
    // A repeat of d2 stays with its group even though the window has passed.
    fire(&t, "d2", "db").await;
    assert_eq!(store.incidents().await.unwrap()[0].alert_count, 3);

    resolve(&t, "d1").await;
    assert_eq!(
        store.incidents().await.unwrap()[0].state,
        State::Triggered,
        "d2 still fires"
    );
    resolve(&t, "d2").await;
    assert_eq!(store.incidents().await.unwrap()[0].state, State::Resolved);
    assert_eq!(store.incidents().await.unwrap()[2].state, State::Triggered);

    fake.wait_for("chat.postMessage", 3, Wait::from_secs(5))
        .await;
    tokio::time::sleep(Wait::from_millis(200)).await;
    assert_eq!(channel_posts(&fake), 3, "one message per incident");
    wait_until(|| {
        fake.calls("chat.update").iter().any(|u| {
            u.body["blocks"]
                .to_string()
                .contains("0 of 2 alerts firing")
        })
    })
    .await;
}

#[tokio::test]
async fn an_alert_that_flaps_is_kept_in_one_incident_without_paging_again() {
    let fake = FakeSlack::start().await;
    let config = with_api_settings("flapping = { count = 2, window = \"30m\" }\n");
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let t = TestApp::start_at_with_config(
        tempfile::tempdir().unwrap(),
        Some(&fake),
        clock.clone(),
        &config,
    )
    .await;
    let store = t.app().core().store.clone();
    for _ in 0..3 {
        fire(&t, "f", "disk").await;
        clock.advance(Duration::minutes(2));
        resolve(&t, "f").await;
        clock.advance(Duration::minutes(2));
    }
    assert_eq!(
        store.incidents().await.unwrap().len(),
        3,
        "two re-triggers are allowed their own incident"
    );
    // The third re-trigger within 30 minutes: the last incident reopens, flapping.
    fire(&t, "f", "disk").await;
    let list = store.incidents().await.unwrap();
    assert_eq!(list.len(), 3);
    let last = list.last().unwrap();
    assert!(last.flapping);
    assert_eq!(last.state, State::Triggered);
    fake.wait_for("chat.postMessage", 3, Wait::from_secs(5))
        .await;
    wait_until(|| {
        fake.calls("chat.update").iter().any(|u| {
            u.body["blocks"]
                .to_string()
                .contains("*Flapping:* re-triggered 3 times")
        })
    })
    .await;
    assert_eq!(channel_posts(&fake), 3, "no new message for the flap");
    // Quiet for longer than the window: a new trigger is a new incident again.
    resolve(&t, "f").await;
    clock.advance(Duration::hours(1));
    fire(&t, "f", "disk").await;
    assert_eq!(store.incidents().await.unwrap().len(), 4);
    assert!(!store.incidents().await.unwrap()[3].flapping);
}
