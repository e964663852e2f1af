//! Large alerts: custom details are capped when oversized, and stored once
//! however often the incident changes.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use tocsin::ingest::limits::{json_len, MAX_CUSTOM_DETAILS, TRUNCATED_MARK};

/// Custom details of about `bytes` bytes: a log excerpt of distinct lines.
fn log_details(tag: &str, bytes: usize) -> Value {
    let lines: Vec<String> = (0..bytes / 64)
        .map(|i| format!("{tag} {i:06} worker=batch-1 status=retrying reason=timeout"))
        .collect();
    json!({"host": "db-1", "log": lines})
}

fn large_trigger(dedup_key: &str, details: Value) -> Value {
    let mut body = trigger_body(dedup_key, "Batch job failed");
    body["payload"]["custom_details"] = details;
    body
}

/// Bytes in the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                dir_bytes(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[tokio::test]
async fn oversized_custom_details_are_capped_with_a_mark_and_the_alert_is_accepted() {
    let t = TestApp::start(None).await;
    let details = log_details("over", 900 * 1024);
    let original = json_len(&details);
    assert!(original > MAX_CUSTOM_DETAILS);
    let body = large_trigger("huge", details.clone());
    assert!(body.to_string().len() < 1024 * 1024, "under the body cap");
    let (status, answer) = t.enqueue(&body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["dedup_key"], "huge");

    let store = &t.app().core().store;
    let inc = &store.open_incidents().await.unwrap()[0];
    assert_eq!(inc.alert.summary, "Batch job failed");
    let stored = store.custom_details(inc.id).await.unwrap().unwrap();
    let len = json_len(&stored);
    assert!(len <= MAX_CUSTOM_DETAILS, "{len} bytes stored");
    assert!(
        len > MAX_CUSTOM_DETAILS - 1024,
        "as much as fits is kept: {len}"
    );
    assert_eq!(
        stored[TRUNCATED_MARK],
        json!({"original_bytes": original, "limit_bytes": MAX_CUSTOM_DETAILS})
    );
    assert_eq!(stored["host"], "db-1");
    let kept = stored["log"].as_array().unwrap();
    let all = details["log"].as_array().unwrap();
    let n = kept.len();
    assert!(n > 1 && n < all.len(), "{n} of {} lines kept", all.len());
    // The leading lines, unchanged; the last kept one cut where the cap fell.
    assert!(kept[..n - 1] == all[..n - 1], "the leading lines differ");
    let cut = kept[n - 1].as_str().unwrap();
    assert!(all[n - 1].as_str().unwrap().starts_with(cut), "{cut}");

    // Within the cap, the details are kept whole and unmarked.
    let fits = log_details("fits", 400 * 1024);
    assert_eq!(t.enqueue(&large_trigger("fits", fits.clone())).await.0, 202);
    let inc = store
        .open_incident_by_key(KEY, "fits")
        .await
        .unwrap()
        .expect("opened");
    assert_eq!(store.custom_details(inc.id).await.unwrap(), Some(fits));
}

#[tokio::test]
async fn repeats_of_a_large_alert_store_its_details_once() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    let data = t.dir.path().join("data");
    let before = dir_bytes(&data);
    const ALERTS: usize = 20;
    let first = log_details("first", 400 * 1024);
    let mut received = 0;
    for i in 0..ALERTS {
        // Each repeat carries details of its own; the incident keeps the first's.
        let details = if i == 0 {
            first.clone()
        } else {
            log_details(&format!("repeat-{i}"), 400 * 1024)
        };
        let body = large_trigger("batch", details).to_string();
        received += body.len() as u64;
        let (status, answer) = post(
            &format!("{}/v2/enqueue", t.base),
            &[("content-type", "application/json")],
            body.into_bytes(),
        )
        .await;
        assert_eq!(status, 202, "{answer}");
    }
    // Slack has posted it and refreshed the count: every change is in.
    fake.wait_for("chat.postMessage", 1, std::time::Duration::from_secs(5))
        .await;
    let store = &t.app().core().store;
    let inc = store
        .open_incident_by_key(KEY, "batch")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inc.alert_count, ALERTS as u32);
    let (record, payload) = store.stored_bytes(inc.id).await.unwrap();
    let one = json_len(&first);
    assert!(
        record < 2_000,
        "the incident record holds no details: {record}"
    );
    assert!(payload >= one && payload < one + 100, "{payload} for {one}");
    let grown = dir_bytes(&data).saturating_sub(before);
    println!("{ALERTS} alerts, {received} bytes received, data directory grew {grown} bytes");
    // One copy of the details, and sled's own overhead; not one per alert.
    assert!(
        grown < 4 * one as u64,
        "data directory grew {grown} bytes for {received} received ({one} bytes of details)"
    );

    // After a restart the incident and its details read back.
    let dir = t.stop().await;
    let t = TestApp::start_in(dir, None, &[]).await;
    let store = &t.app().core().store;
    assert_eq!(
        store.incident(inc.id).await.unwrap().unwrap().alert_count,
        ALERTS as u32
    );
    assert_eq!(store.custom_details(inc.id).await.unwrap(), Some(first));
}
