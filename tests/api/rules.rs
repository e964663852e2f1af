//! Event rules on the `api` service: drop, suppress, route to `payments`, and
//! raise severity; first match wins.

use crate::support::*;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use tocsin::clock::Clock;
use tocsin::domain::incident::{Severity, State};

fn event(dedup: &str, summary: &str, details: Value, severity: &str) -> Value {
    json!({
        "routing_key": KEY, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": summary, "source": "web-1", "severity": severity, "custom_details": details}
    })
}

#[tokio::test]
async fn rules_drop_suppress_route_and_reclassify() {
    // The rules belong to `api`, the first service in the test config.
    let config = with_api_settings(API_RULES);
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
    let t = TestApp::start_at_with_config(
        tempfile::tempdir().unwrap(),
        None,
        Clock::manual(now),
        &config,
    )
    .await;
    let store = t.app().core().store.clone();
    let by_key = async |k: &str| {
        store
            .incidents()
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.dedup_key == k)
    };

    assert_eq!(
        t.enqueue(&event("a", "[test] synthetic", json!({}), "critical"))
            .await
            .0,
        202
    );
    assert!(by_key("a").await.is_none());
    assert!(
        store.suppressed_since("api", now).await.unwrap().is_empty(),
        "dropped, not recorded"
    );

    assert_eq!(
        t.enqueue(&event(
            "b",
            "dev box down",
            json!({"env": "dev"}),
            "critical"
        ))
        .await
        .0,
        202
    );
    assert!(by_key("b").await.is_none());
    let s = store.suppressed_since("api", now).await.unwrap();
    assert_eq!((s.len(), s[0].summary.as_str()), (1, "dev box down"));

    assert_eq!(
        t.enqueue(&event(
            "c",
            "card declines up",
            json!({"team": "payments"}),
            "warning"
        ))
        .await
        .0,
        202
    );
    let routed = by_key("c").await.unwrap();
    assert_eq!(routed.service_id, "payments");
    // Its resolve, sent to `api`, follows it there.
    let (status, _) = t
        .enqueue(&json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": "c"}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(by_key("c").await.unwrap().state, State::Resolved);

    let outage = event(
        "d",
        "Checkout outage",
        json!({"customers": "250"}),
        "warning",
    );
    assert_eq!(t.enqueue(&outage).await.0, 202);
    assert_eq!(
        by_key("d").await.unwrap().alert.severity,
        Severity::Critical
    );
    // One condition short: no rule applies.
    let small = event("e", "Checkout outage", json!({"customers": 3}), "warning");
    t.enqueue(&small).await;
    assert_eq!(by_key("e").await.unwrap().alert.severity, Severity::Warning);
    assert_eq!(by_key("e").await.unwrap().service_id, "api");
}
