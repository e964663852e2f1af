//! The durable outbox: rate limits, outages, ordering, pacing.

use crate::support::*;
use std::time::Duration;

#[tokio::test]
async fn a_429_is_waited_out_and_messages_stay_in_order() {
    let fake = FakeSlack::start().await;
    fake.fail_next(&[Fault::RateLimited {
        retry_after_secs: 1,
    }]);
    let t = TestApp::start(Some(&fake)).await;
    let started = std::time::Instant::now();
    for i in 1..=3 {
        assert_eq!(
            t.trigger(&format!("k{i}"), &format!("Alert number {i}"))
                .await
                .0,
            202
        );
    }
    let posts = fake
        .wait_for("chat.postMessage", 3, Duration::from_secs(10))
        .await;
    assert_eq!(posts.len(), 3);
    assert!(
        posts[0].at.duration_since(started) >= Duration::from_millis(950),
        "Retry-After honoured"
    );
    for (i, p) in posts.iter().enumerate() {
        assert!(
            p.body["text"]
                .as_str()
                .unwrap()
                .contains(&format!("Alert number {}", i + 1)),
            "order"
        );
    }
}

#[tokio::test]
async fn messages_sent_while_slack_is_down_arrive_once_it_is_back() {
    let fake = FakeSlack::start().await;
    fake.go_down_for(Duration::from_millis(1500));
    fake.fail_next(&[Fault::ServerError]);
    let t = TestApp::start(Some(&fake)).await;
    for i in 1..=3 {
        t.trigger(&format!("d{i}"), &format!("During outage {i}"))
            .await;
    }
    let posts = fake
        .wait_for("chat.postMessage", 3, Duration::from_secs(15))
        .await;
    assert_eq!(posts.len(), 3);
    for (i, p) in posts.iter().enumerate() {
        assert!(p.body["text"]
            .as_str()
            .unwrap()
            .contains(&format!("During outage {}", i + 1)));
    }
    wait_until(|| t.app().core().store.outbox_pending().unwrap().is_empty()).await;
}

#[tokio::test]
async fn a_channel_is_paced_to_the_configured_interval() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start_with(Some(&fake), &[("TOCSIN_SLACK_CHANNEL_INTERVAL_MS", "300")]).await;
    for i in 1..=3 {
        t.trigger(&format!("p{i}"), "paced").await;
    }
    let posts = fake
        .wait_for("chat.postMessage", 3, Duration::from_secs(5))
        .await;
    assert_eq!(posts.len(), 3);
    for w in posts.windows(2) {
        assert!(
            w[1].at.duration_since(w[0].at) >= Duration::from_millis(280),
            "{:?}",
            w[1].at.duration_since(w[0].at)
        );
    }
}

#[tokio::test]
async fn default_pacing_keeps_within_slacks_one_message_per_second_per_channel() {
    let fake = FakeSlack::start().await;
    fake.enforce_channel_rate(Duration::from_secs(1));
    let t = TestApp::start_with(Some(&fake), &[("TOCSIN_SLACK_CHANNEL_INTERVAL_MS", "1000")]).await;
    for i in 1..=2 {
        t.trigger(&format!("r{i}"), "paced like Slack").await;
    }
    let posts = fake
        .wait_for("chat.postMessage", 2, Duration::from_secs(5))
        .await;
    assert_eq!(posts.len(), 2);
    assert_eq!(fake.rate_limited(), 0);
}

#[tokio::test]
async fn without_pacing_slacks_channel_limit_is_waited_out() {
    let fake = FakeSlack::start().await;
    fake.enforce_channel_rate(Duration::from_secs(1));
    let t = TestApp::start(Some(&fake)).await;
    for i in 1..=2 {
        t.trigger(&format!("u{i}"), "unpaced").await;
    }
    let posts = fake
        .wait_for("chat.postMessage", 2, Duration::from_secs(5))
        .await;
    assert_eq!(posts.len(), 2);
    assert!(fake.rate_limited() >= 1, "the fake enforces the limit");
}

#[tokio::test]
async fn a_message_slack_refuses_for_good_goes_to_dead_letters_without_blocking_others() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    let core = t.app().core();
    // The fake answers 404 under /gone/: a final refusal, not worth retrying.
    let op = tocsin::store::Outbound::Respond {
        response_url: format!("http://{}/gone/1", fake.addr),
        text: "x".into(),
        replace: false,
    };
    core.enqueue(CHANNEL, op).await.unwrap();
    t.trigger("after", "After the bad one").await;
    let posts = fake
        .wait_for("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    assert_eq!(posts.len(), 1);
    let dead = core.store.dead_letters().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    wait_until(|| core.store.outbox_pending().unwrap().is_empty()).await;
}

#[tokio::test]
async fn a_store_that_cannot_write_gets_503_never_202_and_recovers() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    let store = t.app().core().store.clone();
    store.inject_write_failure(true);
    for _ in 0..3 {
        let (status, body) = t.trigger("disk", "disk full").await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["status"], "error");
    }
    let am = serde_json::json!({"version": "4", "groupKey": "g", "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "fingerprint": "f"}]});
    let (status, _) = post(
        &format!("{}/integrations/alertmanager/{KEY}", t.base),
        &[],
        am.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 503);
    // Writing works again: the sender's retry is accepted, once per incident.
    store.inject_write_failure(false);
    let (status, _) = t.trigger("disk", "disk full").await;
    assert_eq!(status, 202);
    let open: Vec<_> = store
        .incidents()
        .unwrap()
        .into_iter()
        .filter(|i| i.dedup_key == "disk")
        .collect();
    assert_eq!(open.len(), 1, "the retries joined one incident");
    fake.wait_for("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let posts = fake
        .calls("chat.postMessage")
        .iter()
        .filter(|c| c.body["text"].as_str().unwrap_or("").contains("disk full"))
        .count();
    assert_eq!(posts, 1);
}

#[tokio::test]
async fn in_a_storm_new_incidents_are_named_at_once_then_posted_one_by_one() {
    let fake = FakeSlack::start().await;
    // Paced, as in production: one message per channel per 300 ms here.
    let t = TestApp::start_with(Some(&fake), &[("TOCSIN_SLACK_CHANNEL_INTERVAL_MS", "300")]).await;
    let started = std::time::Instant::now();
    for i in 0..6 {
        assert_eq!(
            t.trigger(&format!("storm-{i}"), &format!("shard {i} down"))
                .await
                .0,
            202
        );
    }
    let in_channel = || {
        fake.calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.body["channel"] == CHANNEL)
            .collect::<Vec<_>>()
    };
    wait_until(|| in_channel().len() >= 2).await;
    let first_two = in_channel();
    // The first new incident goes out at once; the rest are named together next.
    let digest = first_two
        .iter()
        .find(|c| c.body["text"].as_str().unwrap().contains("new incidents"))
        .expect("a digest");
    let text = digest.body["text"].as_str().unwrap();
    for i in 2..=6 {
        assert!(
            text.contains(&format!("#{i} [critical] shard {} down", i - 1)),
            "{text}"
        );
    }
    assert!(
        digest.at.duration_since(started) < Duration::from_secs(1),
        "named within a second"
    );
    // Every incident still gets its own message, paced.
    wait_until(|| {
        in_channel()
            .iter()
            .filter(|c| !c.body["metadata"].is_null())
            .count()
            == 6
    })
    .await;
    let calls = in_channel();
    for pair in calls.windows(2) {
        assert!(pair[1].at.duration_since(pair[0].at) >= Duration::from_millis(290));
    }
}
