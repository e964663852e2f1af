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
    wait_until_async(|| async { t.app().core().store.pending().await.unwrap().is_empty() }).await;
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
    let dead = core.store.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    wait_until_async(|| async { core.store.pending().await.unwrap().is_empty() }).await;
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
        .await
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

#[tokio::test]
async fn in_a_storm_the_latest_message_names_new_incidents_before_the_next_may_go() {
    let fake = FakeSlack::start().await;
    // Slack's own limit, and tocsin's default pacing.
    fake.enforce_channel_rate(Duration::from_secs(1));
    // The first message is slow to be answered, so the next alerts are
    // durable while it is in flight: the next message may reach Slack only
    // a second after it did, later than a second after those alerts.
    fake.fail_method(
        "chat.postMessage",
        Fault::SlowReply(Duration::from_millis(300)),
    );
    let t = TestApp::start_with(Some(&fake), &[("TOCSIN_SLACK_CHANNEL_INTERVAL_MS", "1000")]).await;
    assert_eq!(t.trigger("burst-0", "shard 0 down").await.0, 202);
    fake.wait_for("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    let mut accepted = vec![];
    for i in 1..=3 {
        let (status, _) = t
            .trigger(&format!("burst-{i}"), &format!("shard {i} down"))
            .await;
        assert_eq!(status, 202);
        accepted.push(std::time::Instant::now());
    }
    // Named by an edit of the first incident's message, soon after Slack answered it.
    let notices = || {
        fake.calls("chat.update")
            .into_iter()
            .filter(|c| c.body.to_string().contains("new incident"))
            .collect::<Vec<_>>()
    };
    wait_until(|| {
        (2..=4).all(|id| {
            notices()
                .iter()
                .any(|c| c.body.to_string().contains(&format!("#{id} [critical]")))
        })
    })
    .await;
    let store = &t.app().core().store;
    let first = store.messages(1).await.unwrap().post.unwrap();
    for (n, at) in accepted.iter().enumerate() {
        let named = format!("#{} [critical] shard {} down", n + 2, n + 1);
        let notice = notices()
            .into_iter()
            .find(|c| c.body.to_string().contains(&named))
            .unwrap();
        assert_eq!(
            notice.body["ts"],
            first.ts.as_str(),
            "the first message is edited"
        );
        assert_eq!(notice.body["channel"], CHANNEL);
        let kept = notice.body["blocks"].to_string();
        assert!(
            kept.contains("shard 0 down"),
            "the incident's own blocks stay: {kept}"
        );
        assert!(
            notice.at.duration_since(*at) < Duration::from_millis(700),
            "{named} named {:?} after its 202",
            notice.at.duration_since(*at)
        );
    }
    // The digest follows as a message of its own; an alert durable while it
    // is in flight is named by an edit of the digest, which grows.
    fake.fail_method(
        "chat.postMessage",
        Fault::SlowReply(Duration::from_millis(300)),
    );
    fake.wait_for("chat.postMessage", 2, Duration::from_secs(5))
        .await;
    assert_eq!(t.trigger("burst-4", "shard 4 down").await.0, 202);
    let accepted = std::time::Instant::now();
    wait_until(|| {
        notices()
            .iter()
            .any(|c| c.body.to_string().contains("#5 [critical]"))
    })
    .await;
    let grown = notices()
        .into_iter()
        .find(|c| c.body.to_string().contains("#5 [critical]"))
        .unwrap();
    assert_ne!(grown.body["ts"], first.ts.as_str(), "the digest is edited");
    let text = grown.body["text"].as_str().unwrap();
    assert!(text.contains("4 new incidents"), "{text}");
    for i in 1..=4 {
        assert!(
            text.contains(&format!("#{} [critical] shard {i} down", i + 1)),
            "{text}"
        );
    }
    assert!(grown.at.duration_since(accepted) < Duration::from_millis(700));
    // Then each incident's own post, all at Slack's pace: never a 429.
    let end = std::time::Instant::now() + Duration::from_secs(12);
    let posts = loop {
        let posts: Vec<_> = fake
            .calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.body["channel"] == CHANNEL)
            .collect();
        if posts
            .iter()
            .filter(|c| !c.body["metadata"].is_null())
            .count()
            == 5
        {
            break posts;
        }
        assert!(std::time::Instant::now() < end, "own posts not all sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(posts[1].body["text"]
        .as_str()
        .unwrap()
        .contains("3 new incidents"));
    for pair in posts.windows(2) {
        assert!(pair[1].at.duration_since(pair[0].at) >= Duration::from_secs(1));
    }
    assert_eq!(fake.rate_limited(), 0);
}

#[tokio::test]
async fn a_rate_limited_storm_notice_does_not_hold_back_the_channels_messages() {
    let fake = FakeSlack::start().await;
    fake.enforce_channel_rate(Duration::from_secs(1));
    fake.fail_method(
        "chat.postMessage",
        Fault::SlowReply(Duration::from_millis(300)),
    );
    // Edits are limited per workspace: this says nothing about posting.
    fake.fail_method(
        "chat.update",
        Fault::RateLimited {
            retry_after_secs: 8,
        },
    );
    let t = TestApp::start_with(Some(&fake), &[("TOCSIN_SLACK_CHANNEL_INTERVAL_MS", "1000")]).await;
    assert_eq!(t.trigger("burst-0", "shard 0 down").await.0, 202);
    let first = fake
        .wait_for("chat.postMessage", 1, Duration::from_secs(5))
        .await[0]
        .at;
    for i in 1..=2 {
        let (status, _) = t
            .trigger(&format!("burst-{i}"), &format!("shard {i} down"))
            .await;
        assert_eq!(status, 202);
    }
    let posts = fake
        .wait_for("chat.postMessage", 2, Duration::from_secs(10))
        .await;
    let digest = &posts[1];
    assert!(digest.body["text"]
        .as_str()
        .unwrap()
        .contains("2 new incidents"));
    let after = digest.at.duration_since(first);
    assert!(
        after >= Duration::from_secs(1) && after < Duration::from_secs(3),
        "the digest keeps the channel's pace, not the edit's Retry-After: {after:?}"
    );
    assert_eq!(fake.rate_limited(), 0);
}

/// A Slack outage scripted on a timetable, in front of the fake Slack:
/// first 429 with `Retry-After` to every call, then 500 to every call, then
/// every call passes through. It records each call it saw: when, which method
/// and channel, and what it answered.
///
/// The outage this plays is a minute of 429s followed by 500s. Here the 429
/// phase lasts 5 s with `Retry-After: 2`, and the 500 phase 3 s: the same
/// logic (every call refused until the phase ends, whatever it is), compressed
/// so the suite stays quick. The worker's timers are tokio's monotonic clock,
/// but the app talks over real sockets, so pausing tokio's clock is not an
/// option here.
#[derive(Clone)]
struct ScriptedOutage {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
}

#[derive(Clone, Debug)]
struct Seen {
    at: std::time::Instant,
    method: String,
    channel: String,
    status: u16,
}

impl ScriptedOutage {
    async fn start(
        upstream: &FakeSlack,
        limited: Duration,
        retry_after_secs: u64,
        broken: Duration,
    ) -> ScriptedOutage {
        use http_body_util::Full;
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let outage = ScriptedOutage {
            addr: listener.local_addr().unwrap(),
            seen: Default::default(),
        };
        let started = std::time::Instant::now();
        let upstream = upstream.addr;
        let seen = outage.seen.clone();
        tokio::spawn(async move {
            let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (client, seen) = (client.clone(), seen.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let (client, seen) = (client.clone(), seen.clone());
                        async move {
                            let phase = |t: std::time::Instant| {
                                let e = t - started;
                                if e < limited {
                                    Some(429)
                                } else if e < limited + broken {
                                    Some(500)
                                } else {
                                    None
                                }
                            };
                            Ok::<_, std::convert::Infallible>(
                                answer(req, &client, upstream, &seen, phase, retry_after_secs)
                                    .await,
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        outage
    }

    fn api_url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

type ProxyClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
>;

/// Refuses the call as the phase says, or passes it to the fake Slack.
async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    client: &ProxyClient,
    upstream: std::net::SocketAddr,
    seen: &std::sync::Mutex<Vec<Seen>>,
    phase: impl Fn(std::time::Instant) -> Option<u16>,
    retry_after_secs: u64,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use http_body_util::{BodyExt, Full};
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let at = std::time::Instant::now();
    let path = parts.uri.path().trim_start_matches("/api/").to_string();
    let query = parts.uri.query().unwrap_or("");
    // JSON bodies name the channel; GETs and forms carry it as a parameter.
    let channel = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["channel"].as_str().map(str::to_string))
        .or_else(|| {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(if bytes.is_empty() {
                query.as_bytes()
            } else {
                &bytes
            })
            .ok()
            .and_then(|f| f.into_iter().find(|(k, _)| k == "channel").map(|(_, v)| v))
        })
        .unwrap_or_default();
    let refuse = |status: u16| {
        let mut b = hyper::Response::builder()
            .status(status)
            .header("content-type", "application/json");
        if status == 429 {
            b = b.header("retry-after", retry_after_secs.to_string());
        }
        let body = if status == 429 {
            r#"{"ok":false,"error":"ratelimited"}"#
        } else {
            r#"{"ok":false,"error":"internal_error"}"#
        };
        b.body(Full::new(bytes::Bytes::from(body))).unwrap()
    };
    let (status, resp) = match phase(at) {
        Some(status) => (status, refuse(status)),
        None => {
            let mut up = hyper::Request::builder().method(parts.method).uri(format!(
                "http://{upstream}{}",
                parts.uri.path_and_query().map_or("/", |p| p.as_str())
            ));
            for (k, v) in &parts.headers {
                if k != hyper::header::HOST {
                    up = up.header(k, v);
                }
            }
            let r = client
                .request(up.body(Full::new(bytes)).unwrap())
                .await
                .unwrap();
            let status = r.status();
            let headers = r.headers().clone();
            let body = r.into_body().collect().await.unwrap().to_bytes();
            let mut out = hyper::Response::builder().status(status);
            for (k, v) in &headers {
                out = out.header(k, v);
            }
            (status.as_u16(), out.body(Full::new(body)).unwrap())
        }
    };
    seen.lock().unwrap().push(Seen {
        at,
        method: path,
        channel,
        status,
    });
    resp
}

/// The test configuration plus a second team whose alerts go to `C0INFRA`.
fn two_channel_config() -> String {
    format!(
        "{CONFIG}\n[[teams]]\nid = \"infra\"\nname = \"Infra\"\nmembers = [\"bob\"]\nalert_channel = \"C0INFRA\"\n\n[[services]]\nid = \"db\"\nname = \"Database\"\nteam = \"infra\"\nintegration_key = \"{INFRA_KEY}\"\n"
    )
}

const INFRA_KEY: &str = "abcdefabcdefabcdefabcdefabcdef01";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_429s_then_500s_every_message_arrives_in_order_and_retry_after_is_kept() {
    const RETRY_AFTER: u64 = 2;
    let fake = FakeSlack::start().await;
    let limited = Duration::from_secs(5);
    let broken = Duration::from_secs(3);
    let outage = ScriptedOutage::start(&fake, limited, RETRY_AFTER, broken).await;
    let t = TestApp::start_full(
        tempfile::tempdir().unwrap(),
        Some(&fake),
        &[("SLACK_API_URL", &outage.api_url())],
        tocsin::clock::Clock::system(),
        &two_channel_config(),
    )
    .await;
    // Three incidents per channel, interleaved, all opened during the 429s.
    for i in 1..=3 {
        for (key, channel) in [(KEY, CHANNEL), (INFRA_KEY, "C0INFRA")] {
            let mut body = trigger_body(&format!("{channel}-{i}"), &format!("{channel} alert {i}"));
            body["routing_key"] = serde_json::json!(key);
            assert_eq!(t.enqueue(&body).await.0, 202);
        }
    }
    let posts = fake
        .wait_for(
            "chat.postMessage",
            6,
            limited + broken + Duration::from_secs(20),
        )
        .await;
    assert_eq!(
        posts.len(),
        6,
        "every message is delivered after the outage"
    );
    let store = &t.app().core().store;
    wait_until_async(|| async { store.pending().await.unwrap().is_empty() }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fake.calls("chat.postMessage").len(),
        6,
        "none of them twice"
    );

    for channel in [CHANNEL, "C0INFRA"] {
        let texts: Vec<String> = posts
            .iter()
            .filter(|p| p.body["channel"] == channel)
            .map(|p| p.body["text"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(texts.len(), 3, "{channel}: {texts:?}");
        for (i, text) in texts.iter().enumerate() {
            assert!(
                text.contains(&format!("{channel} alert {}", i + 1)),
                "{channel} keeps its order: {texts:?}"
            );
        }
        let calls: Vec<Seen> = outage
            .seen()
            .into_iter()
            .filter(|s| s.channel == channel)
            .collect();
        let refused = calls.iter().filter(|s| s.status == 429).count();
        let failed = calls.iter().filter(|s| s.status == 500).count();
        assert!(
            refused >= 2 && failed >= 1,
            "{channel} went through both phases: {calls:?}"
        );
        // After each 429, the channel is left alone for the whole Retry-After.
        for w in calls.windows(2).filter(|w| w[0].status == 429) {
            let quiet = w[1].at - w[0].at;
            assert!(
                quiet >= Duration::from_secs(RETRY_AFTER),
                "{channel}: {} {quiet:?} after a 429",
                w[1].method
            );
        }
        // Recovery is prompt: backoff from the 500s is still short.
        let first_ok = calls.iter().find(|s| s.status == 200).expect("a success");
        let since_recovery = first_ok.at - calls[0].at;
        assert!(
            since_recovery < limited + broken + Duration::from_secs(5),
            "{channel} recovered {since_recovery:?} after its first call"
        );
    }
    t.stop().await;
}
