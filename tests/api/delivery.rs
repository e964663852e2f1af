//! Delivery through what Slack does besides answering: a refused bot token,
//! replies the client cannot read, unclear outcomes and restarts (nothing
//! is posted twice); dead letters, listed and sent again by API and CLI.

use crate::support::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use tocsin::store::Outbound;

const TOKEN: &str = "delivery-test-token-0123456789abcdef";

fn notify(channel: &str, text: &str) -> Outbound {
    Outbound::Notify {
        channel: channel.into(),
        text: text.into(),
    }
}

/// Posts (as Slack received them) whose text contains `text`.
fn posts_with(fake: &FakeSlack, text: &str) -> Vec<Call> {
    fake.calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["text"].as_str().unwrap_or("").contains(text))
        .collect()
}

async fn metrics(t: &TestApp) -> String {
    get_text(&format!("{}/metrics", t.base)).await.1
}

async fn wait_async<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut cond: impl FnMut() -> F,
) {
    let end = std::time::Instant::now() + limit;
    while !cond().await {
        assert!(
            std::time::Instant::now() < end,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_holds_every_slack_message_until_auth_test_passes() {
    let fake = FakeSlack::start().await;
    fake.revoke_token_for(Duration::from_millis(1500));
    let t = TestApp::start_with(Some(&fake), &[("TOCSIN_SLACK_AUTH_PROBE_MS", "100")]).await;
    let core = t.app().core();
    for i in 1..=3 {
        assert_eq!(
            t.trigger(&format!("auth-{i}"), &format!("during the outage {i}"))
                .await
                .0,
            202
        );
    }
    core.enqueue("U0ALICE", notify("U0ALICE", "a page by DM"))
        .await
        .unwrap();
    wait_async("the gauge says so", Duration::from_secs(5), || async {
        metrics(&t).await.contains("\ntocsin_slack_auth_failing 1")
    })
    .await;
    // Once auth.test passes, everything goes out, in order, and nothing died.
    let end = std::time::Instant::now() + Duration::from_secs(15);
    while (posts_with(&fake, "during the outage").len() < 3
        || posts_with(&fake, "a page by DM").is_empty())
        && std::time::Instant::now() < end
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let posts = posts_with(&fake, "during the outage");
    assert_eq!(posts.len(), 3, "{:?}", fake.all_calls());
    for (i, p) in posts.iter().enumerate() {
        let text = p.body["text"].as_str().unwrap();
        assert!(
            text.contains(&format!("during the outage {}", i + 1)),
            "{text}"
        );
    }
    assert_eq!(posts_with(&fake, "a page by DM").len(), 1);
    assert!(core.store.dead_letters().await.unwrap().is_empty());
    wait_until_async(|| async { core.store.pending().await.unwrap().is_empty() }).await;
    assert!(metrics(&t).await.contains("\ntocsin_slack_auth_failing 0"));
    // The lanes waited instead of hammering Slack: one refused call per
    // lane in flight, then only the paced probes.
    assert!(
        fake.refused_auth() <= 3,
        "{} calls refused",
        fake.refused_auth()
    );
    let probes = fake.calls("auth.test");
    assert!(
        (2..=6).contains(&probes.len()),
        "{} probes in 1.5 s",
        probes.len()
    );
    for w in probes.windows(2) {
        assert!(w[1].at - w[0].at >= Duration::from_millis(90), "paced");
    }
    let first_post = posts[0].at;
    assert!(first_post >= *probes.iter().map(|p| &p.at).max().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_counted_and_sent_again_by_api_and_cli() {
    let fake = FakeSlack::start().await;
    for text in ["first notice", "second notice"] {
        fake.fail_when("chat.postMessage", text, Fault::Refuse("channel_not_found"));
    }
    let t = TestApp::start_with(Some(&fake), &[("TOCSIN_API_TOKEN", TOKEN)]).await;
    let core = t.app().core();
    core.enqueue("C0GONE", notify("C0GONE", "first notice"))
        .await
        .unwrap();
    core.enqueue("C0GONE", notify("C0GONE", "second notice"))
        .await
        .unwrap();
    wait_until_async(|| async { core.store.dead_letters().await.unwrap().len() == 2 }).await;
    assert!(metrics(&t).await.contains("\ntocsin_outbox_dead 2"));

    let url = format!("{}/api/v1/outbox/dead", t.base);
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(get_with(&url, None).await.0, 401);
    let (status, _, body) = get_with(&url, Some(&bearer)).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let dead = v["dead"].as_array().unwrap();
    assert_eq!(dead.len(), 2, "{body}");
    assert_eq!(dead[0]["work"]["op"], "notify");
    assert_eq!(dead[0]["work"]["text"], "first notice");
    assert_eq!(dead[0]["lane"], "C0GONE");
    let (first, second) = (
        dead[0]["id"].as_u64().unwrap(),
        dead[1]["id"].as_u64().unwrap(),
    );

    // The API sends one again; it is gone from the list once.
    let retry = |id: u64| format!("{}/api/v1/outbox/dead/{id}/retry", t.base);
    assert_eq!(post(&retry(first), &[], vec![]).await.0, 401);
    let (status, body) = post(&retry(first), &[("authorization", &bearer)], vec![]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["queued_as"].as_u64().unwrap() > second);
    wait_until(|| posts_with(&fake, "first notice").len() == 1).await;
    let (status, _) = post(&retry(first), &[("authorization", &bearer)], vec![]).await;
    assert_eq!(status, 404);

    // The CLI, beside the server that holds the store, asks the server.
    let cli = |args: &[&str]| {
        let addr = t.base.trim_start_matches("http://");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
            .args(args)
            .env("TOCSIN_CONFIG", t.dir.path().join("tocsin.toml"))
            .env("TOCSIN_DATA", t.dir.path().join("data"))
            .env("TOCSIN_LISTEN", addr)
            .env("TOCSIN_API_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = tokio::task::block_in_place(|| cli(&["outbox", "list"]));
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(
        rows[0].trim_start().starts_with(&second.to_string()) && rows[0].contains("notify"),
        "{out}"
    );
    let (ok, out, err) =
        tokio::task::block_in_place(|| cli(&["outbox", "retry", &second.to_string()]));
    assert!(ok, "{err}");
    assert!(out.contains("queued again"), "{out}");
    wait_until(|| posts_with(&fake, "second notice").len() == 1).await;
    assert!(core.store.dead_letters().await.unwrap().is_empty());
    assert!(metrics(&t).await.contains("\ntocsin_outbox_dead 0"));
    let (ok, out, _) = tokio::task::block_in_place(|| cli(&["outbox", "list"]));
    assert!(ok && out.contains("no dead letters"), "{out}");
}

#[tokio::test]
async fn an_ok_reply_the_client_cannot_parse_is_success_and_the_channel_goes_on() {
    let fake = FakeSlack::start().await;
    // Every chat.update is done and answered `{"ok": true}` alone.
    fake.answer_bare("chat.update");
    let t = TestApp::start(Some(&fake)).await;
    t.trigger("bare-1", "first incident").await;
    fake.wait_for("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    assert_eq!(
        t.enqueue(&action_body("bare-1", "acknowledge")).await.0,
        202
    );
    t.trigger("bare-2", "second incident").await;
    let posts = fake
        .wait_for("chat.postMessage", 2, Duration::from_secs(5))
        .await;
    assert_eq!(posts.len(), 2, "the channel is not held up");
    let core = t.app().core();
    wait_until_async(|| async { core.store.pending().await.unwrap().is_empty() }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.calls("chat.update").len(), 1, "not retried");
    assert!(core.store.dead_letters().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_dead_letter_retry_the_store_cannot_take_is_a_503_with_the_reason() {
    let fake = FakeSlack::start().await;
    fake.fail_when(
        "chat.postMessage",
        "gone notice",
        Fault::Refuse("channel_not_found"),
    );
    let t = TestApp::start_with(Some(&fake), &[("TOCSIN_API_TOKEN", TOKEN)]).await;
    let core = t.app().core();
    core.enqueue("C0GONE", notify("C0GONE", "gone notice"))
        .await
        .unwrap();
    wait_until_async(|| async { core.store.dead_letters().await.unwrap().len() == 1 }).await;
    let id = core.store.dead_letters().await.unwrap()[0].0;
    let url = format!("{}/api/v1/outbox/dead/{id}/retry", t.base);
    let bearer = format!("Bearer {TOKEN}");
    core.store.inject_write_failure(true);
    let (status, body) = post(&url, &[("authorization", &bearer)], vec![]).await;
    core.store.inject_write_failure(false);
    // Like every store failure: the sender is told to try again.
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("flush failed"),
        "{body}"
    );
}

#[tokio::test]
async fn a_reply_that_never_parses_is_a_dead_letter_after_a_few_tries() {
    let fake = FakeSlack::start().await;
    fake.answer_garbled("chat.update");
    let t = TestApp::start(Some(&fake)).await;
    t.trigger("garbled-1", "first incident").await;
    fake.wait_for("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    assert_eq!(
        t.enqueue(&action_body("garbled-1", "acknowledge")).await.0,
        202
    );
    t.trigger("garbled-2", "second incident").await;
    let posts = fake
        .wait_for("chat.postMessage", 2, Duration::from_secs(15))
        .await;
    assert_eq!(posts.len(), 2, "the channel goes on");
    let core = t.app().core();
    let dead = core.store.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].1.op, Outbound::UpdateIncident { incident: 1 });
    assert_eq!(
        fake.calls("chat.update").len(),
        5,
        "a bounded number of tries"
    );
}

#[tokio::test]
async fn a_notice_whose_reply_was_lost_is_not_posted_twice() {
    let fake = FakeSlack::start().await;
    fake.fail_when("chat.postMessage", "Nobody responded", Fault::LoseReply);
    fake.fail_when("chat.postMessage", "Handoff", Fault::LoseReply);
    let t = TestApp::start(Some(&fake)).await;
    let core = t.app().core();
    core.enqueue(CHANNEL, notify(CHANNEL, "Nobody responded to #1"))
        .await
        .unwrap();
    core.enqueue("U0ALICE", notify("U0ALICE", "Handoff: you are on call"))
        .await
        .unwrap();
    wait_until_async(|| async { core.store.pending().await.unwrap().is_empty() }).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (notices, dms) = (
        posts_with(&fake, "Nobody responded").len(),
        posts_with(&fake, "Handoff").len(),
    );
    println!("after a lost reply: nobody-responded sent {notices} time(s), handoff DM {dms}");
    assert_eq!((notices, dms), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_on_the_wire_at_shutdown_is_not_posted_again_after_the_restart() {
    let fake = FakeSlack::start().await;
    // Slack has them, but answers only after the process has stopped.
    for text in ["Nobody responded", "Handoff"] {
        fake.fail_when(
            "chat.postMessage",
            text,
            Fault::SlowReply(Duration::from_secs(20)),
        );
    }
    let t = TestApp::start(Some(&fake)).await;
    let core = t.app().core();
    core.enqueue(CHANNEL, notify(CHANNEL, "Nobody responded to #1"))
        .await
        .unwrap();
    core.enqueue("U0ALICE", notify("U0ALICE", "Handoff: you are on call"))
        .await
        .unwrap();
    fake.wait_for("chat.postMessage", 2, Duration::from_secs(5))
        .await;
    let dir = t.stop().await;
    let t = TestApp::start_in(dir, Some(&fake), &[]).await;
    let core = t.app().core();
    wait_until_async(|| async { core.store.pending().await.unwrap().is_empty() }).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (notices, dms) = (
        posts_with(&fake, "Nobody responded").len(),
        posts_with(&fake, "Handoff").len(),
    );
    println!("after a restart: nobody-responded sent {notices} time(s), handoff DM {dms}");
    assert_eq!((notices, dms), (1, 1));
}

#[tokio::test]
async fn a_storm_digest_over_a_flaky_connection_reaches_slack_once() {
    let fake = FakeSlack::start().await;
    const LOST: usize = 5;
    for _ in 0..LOST {
        fake.fail_when("chat.postMessage", "new incidents", Fault::LoseReply);
    }
    let t = TestApp::start_with(Some(&fake), &[("TOCSIN_SLACK_CHANNEL_INTERVAL_MS", "300")]).await;
    for i in 0..6 {
        t.trigger(&format!("flaky-{i}"), &format!("shard {i} down"))
            .await;
    }
    let core = t.app().core();
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while !core.store.pending().await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < end, "not drained");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let digests = posts_with(&fake, "new incidents").len();
    println!(
        "storm digest reached Slack {digests} time(s) over a connection losing {LOST} replies"
    );
    assert_eq!(digests, 1);
    let own = fake
        .calls("chat.postMessage")
        .iter()
        .filter(|c| !c.body["metadata"]["event_payload"]["incident"].is_null())
        .count();
    assert_eq!(own, 6, "each incident's own post, once");
}

/// The test configuration plus a second team whose alerts go to `C0INFRA`.
fn two_channels() -> String {
    format!(
        "{CONFIG}\n[[teams]]\nid = \"infra\"\nname = \"Infra\"\nmembers = [\"bob\"]\nalert_channel = \"C0INFRA\"\n\n[[services]]\nid = \"db\"\nname = \"Database\"\nteam = \"infra\"\nintegration_key = \"{INFRA_KEY}\"\n"
    )
}

const INFRA_KEY: &str = "abcdefabcdefabcdefabcdefabcdef01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_each_channel_history_is_read_once_for_all_its_pending_rows() {
    const INCIDENTS: usize = 1600;
    const NOTICES: usize = 400;
    let config = two_channels();
    // A run without Slack leaves every row pending.
    let t = TestApp::start_full(
        tempfile::tempdir().unwrap(),
        None,
        &[],
        tocsin::clock::Clock::system(),
        &config,
    )
    .await;
    let mut sends = tokio::task::JoinSet::new();
    for w in 0..16 {
        let base = t.base.clone();
        sends.spawn(async move {
            for i in (w..INCIDENTS).step_by(16) {
                let mut body = trigger_body(&format!("many-{i}"), &format!("many {i}"));
                if i % 2 == 1 {
                    body["routing_key"] = json!(INFRA_KEY);
                }
                let (status, _) = post(
                    &format!("{base}/v2/enqueue"),
                    &[("content-type", "application/json")],
                    body.to_string().into_bytes(),
                )
                .await;
                assert_eq!(status, 202);
            }
        });
    }
    while let Some(r) = sends.join_next().await {
        r.unwrap();
    }
    let core = t.app().core().clone();
    let mut notices = vec![];
    for i in 0..NOTICES {
        let channel = if i % 4 == 0 { "U0ALICE" } else { "C0OPS" };
        let seq = core
            .enqueue(channel, notify(channel, &format!("notice {i}")))
            .await
            .unwrap();
        notices.push((seq, channel));
    }
    drop(core);
    let dir = t.stop().await;
    // The earlier run had posted every fourth message before it stopped.
    let fake = FakeSlack::start().await;
    let mut before = 0;
    {
        let store = tocsin::store::Store::open(&dir.path().join("data"), 16 << 20).unwrap();
        for inc in store.incidents().await.unwrap() {
            if inc.id % 4 == 0 {
                let channel = inc.alert_channel.clone().unwrap();
                let meta = json!({"event_type": "tocsin_incident",
                                  "event_payload": {"incident": inc.id.to_string()}});
                fake.add_posted(&channel, &inc.alert.summary, meta);
                before += 1;
            }
        }
        for (seq, channel) in &notices {
            if seq % 4 == 0 {
                let dm = if channel.starts_with('U') {
                    format!("D{channel}")
                } else {
                    channel.to_string()
                };
                let meta = json!({"event_type": "tocsin_message",
                                  "event_payload": {"key": format!("outbox:{seq}")}});
                fake.add_posted(&dm, "an earlier notice", meta);
                before += 1;
            }
        }
    }
    let t = TestApp::start_full(
        dir,
        Some(&fake),
        &[],
        tocsin::clock::Clock::system(),
        &config,
    )
    .await;
    let store = t.app().core().store.clone();
    let started = std::time::Instant::now();
    let mut left = store.pending().await.unwrap().len();
    while left > 0 && started.elapsed() < Duration::from_secs(240) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = store.pending().await.unwrap().len();
    }
    let history = fake.calls("conversations.history").len();
    let posts = fake.calls("chat.postMessage");
    println!(
        "restart with {} pending rows in 4 channels: {history} conversations.history calls, \
         {} posts for {} messages not yet in Slack, {left} rows left after {:?}",
        INCIDENTS + NOTICES,
        posts.len(),
        INCIDENTS + NOTICES - before,
        started.elapsed()
    );
    assert_eq!(left, 0, "not drained");
    // Nothing twice: each message is in Slack once, by its metadata.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for p in &posts {
        let payload = &p.body["metadata"]["event_payload"];
        let key = payload["incident"]
            .as_str()
            .or(payload["key"].as_str())
            .unwrap_or("?")
            .to_string();
        *seen.entry(key).or_default() += 1;
    }
    let twice = seen.values().filter(|n| **n > 1).count();
    assert_eq!(twice, 0, "messages posted twice");
    assert_eq!(posts.len(), INCIDENTS + NOTICES - before);
    // One read (one page of up to 999) per channel: C0PLATFORM, C0INFRA, C0OPS, the DM.
    assert!(history <= 4, "{history} history calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_an_earlier_run_left_are_still_looked_up_after_a_token_outage() {
    // A run without Slack leaves three posts pending.
    let t = TestApp::start(None).await;
    for i in 1..=3 {
        assert_eq!(t.trigger(&format!("left-{i}"), "left behind").await.0, 202);
    }
    let dir = t.stop().await;
    // Two of them had reached Slack; the token does not work at first.
    let fake = FakeSlack::start().await;
    for id in [1, 2] {
        let meta = json!({"event_type": "tocsin_incident",
                          "event_payload": {"incident": id.to_string()}});
        fake.add_posted(CHANNEL, "left behind", meta);
    }
    fake.revoke_token_for(Duration::from_millis(800));
    let t = TestApp::start_in(dir, Some(&fake), &[("TOCSIN_SLACK_AUTH_PROBE_MS", "100")]).await;
    let store = t.app().core().store.clone();
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !store.pending().await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < end, "not drained");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let posted: Vec<String> = fake
        .calls("chat.postMessage")
        .iter()
        .map(|c| c.body["metadata"]["event_payload"]["incident"].to_string())
        .collect();
    assert_eq!(posted, ["\"3\""], "only the one Slack did not have");
    for id in 1..=3 {
        assert!(store.messages(id).await.unwrap().post.is_some());
    }
}
