//! Maintenance windows: from `/oncall maintenance` and from the config file.
//! Alerts are recorded, nobody is paged, and the channel hears start and end once.

use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use std::time::Duration as Wait;
use tocsin::clock::Clock;

fn notices(fake: &FakeSlack) -> Vec<String> {
    fake.calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["channel"] == CHANNEL && c.body["blocks"].is_null())
        .map(|c| c.body["text"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn wait_notices(fake: &FakeSlack, n: usize) -> Vec<String> {
    let end = std::time::Instant::now() + Wait::from_secs(5);
    while notices(fake).len() < n && std::time::Instant::now() < end {
        tokio::time::sleep(Wait::from_millis(10)).await;
    }
    notices(fake)
}

#[tokio::test]
async fn a_window_from_slack_holds_pages_and_is_announced_once_each_way() {
    let fake = FakeSlack::start().await;
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock.clone()).await;
    let store = t.app().core().store.clone();
    let r = fake.response_url("m");
    let (_, reply) = t
        .slash("/oncall", "maintenance api 2h db upgrade", "U0BOB", &r)
        .await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("Only a lead of Platform"),
        "{reply}"
    );
    let (_, reply) = t
        .slash("/oncall", "maintenance api 2h db upgrade", "U0ALICE", &r)
        .await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("Public API is in maintenance until"),
        "{reply}"
    );
    let n = wait_notices(&fake, 1).await;
    assert_eq!(n.len(), 1);
    assert!(
        n[0].contains("Maintenance on *Public API* until") && n[0].contains("Reason: db upgrade"),
        "{n:?}"
    );

    assert_eq!(t.trigger("m1", "replica lag").await.0, 202);
    assert!(
        store.incidents().await.unwrap().is_empty(),
        "nobody is paged"
    );
    assert_eq!(
        store
            .suppressed_since("api", clock.now() - Duration::hours(1))
            .await
            .unwrap()
            .len(),
        1
    );

    clock.advance(Duration::minutes(30));
    let (_, reply) = t
        .slash("/oncall", "maintenance api end", "U0ALICE", &r)
        .await;
    assert!(reply["text"].as_str().unwrap().contains("over"), "{reply}");
    let n = wait_notices(&fake, 2).await;
    assert_eq!(n.len(), 2);
    assert!(
        n[1].contains("is over: paging resumes. 1 alert(s) arrived during it."),
        "{n:?}"
    );
    // Both changes are in the team's audit log, newest first; members may read it.
    let (_, reply) = t.slash("/oncall", "audit", "U0BOB", &r).await;
    let log = reply["text"].as_str().unwrap();
    let lines: Vec<&str> = log.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].contains("<@U0ALICE> maintenance: Public API ended early"),
        "{log}"
    );
    assert!(
        lines[1].contains("maintenance: Public API until 2026-11-25 05:00 UTC (db upgrade)"),
        "{log}"
    );

    assert_eq!(t.trigger("m2", "replica lag").await.0, 202);
    assert_eq!(store.incidents().await.unwrap().len(), 1);
    clock.advance(Duration::hours(3));
    t.app().core().engine_wake.notify_one();
    tokio::time::sleep(Wait::from_millis(200)).await;
    assert_eq!(notices(&fake).len(), 2, "announced once each way");
    let (_, reply) = t
        .slash("/oncall", "maintenance api 8d", "U0ALICE", &r)
        .await;
    assert!(
        reply["text"].as_str().unwrap().contains("At most 7 days"),
        "{reply}"
    );
}

#[tokio::test]
async fn config_windows_start_and_end_on_time_and_past_ones_stay_quiet() {
    let fake = FakeSlack::start().await;
    let config = with_api_settings(
        "maintenance = [\n  { from = \"2026-11-20T01:00:00Z\", to = \"2026-11-20T02:00:00Z\", reason = \"long ago\" },\n  \
         { from = \"2026-11-25T04:00:00Z\", to = \"2026-11-25T05:00:00Z\", reason = \"kernel patch\" },\n]\n",
    );
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let t = TestApp::start_at_with_config(
        tempfile::tempdir().unwrap(),
        Some(&fake),
        clock.clone(),
        &config,
    )
    .await;
    let step = |minutes: i64| {
        clock.advance(Duration::minutes(minutes));
        t.app().core().engine_wake.notify_one();
    };
    tokio::time::sleep(Wait::from_millis(200)).await;
    assert!(
        notices(&fake).is_empty(),
        "a window already over is not announced"
    );
    step(60);
    let n = wait_notices(&fake, 1).await;
    assert!(n[0].contains("Reason: kernel patch"), "{n:?}");
    assert_eq!(t.trigger("k1", "node reboot").await.0, 202);
    assert!(t.app().core().store.incidents().await.unwrap().is_empty());
    step(60);
    let n = wait_notices(&fake, 2).await;
    assert!(n[1].contains("is over"), "{n:?}");
}
