//! Outgoing webhooks through the outbox: each subscribed event POSTed to a
//! receiver on loopback, signed as the README says, in order, and still
//! delivered after the receiver failed for a while and after a restart.

use crate::api_v1::{call, WRITE};
use crate::support::*;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tocsin::clock::Clock;

const SECRET: &str = "whsec-0123456789abcdef";

/// One delivery the receiver got: its headers of note and the raw body.
#[derive(Debug, Clone)]
struct Delivery {
    event: String,
    id: String,
    signature: String,
    body: Vec<u8>,
}

/// A webhook receiver on loopback that answers 503 to its first `fail`
/// requests, then 200, and records what it took.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Delivery>>>,
    fail: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(fail: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            url: format!("http://{}/hooks/tocsin", listener.local_addr().unwrap()),
            got: Default::default(),
            fail: Arc::new(AtomicUsize::new(fail)),
            refused: Default::default(),
        };
        let me = r.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let me = me.clone();
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let me = me.clone();
                            async move {
                                let header = |n: &str| {
                                    req.headers()
                                        .get(n)
                                        .map(|v| v.to_str().unwrap().to_string())
                                        .unwrap_or_default()
                                };
                                let (event, id, signature) = (
                                    header("x-tocsin-event"),
                                    header("x-tocsin-delivery"),
                                    header("x-tocsin-signature"),
                                );
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                let status = if me
                                    .fail
                                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                        n.checked_sub(1)
                                    })
                                    .is_ok()
                                {
                                    me.refused.fetch_add(1, Ordering::SeqCst);
                                    503
                                } else {
                                    me.got.lock().unwrap().push(Delivery {
                                        event,
                                        id,
                                        signature,
                                        body: body.to_vec(),
                                    });
                                    200
                                };
                                Ok::<_, std::convert::Infallible>(
                                    Response::builder()
                                        .status(status)
                                        .body(Full::new(Bytes::from_static(b"{}")))
                                        .unwrap(),
                                )
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        r
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Delivery> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let d = self.deliveries();
            if d.len() >= n || Instant::now() > end {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn config(url: &str, events: &str) -> String {
    format!(
        "{CONFIG}\n[[webhooks_out]]\nurl = \"{url}\"\nevents = [{events}]\nsecret = \"{SECRET}\"\n"
    )
}

/// Checks the signature as a receiver would: HMAC-SHA256 over `v1:<t>:<body>`.
fn verify(d: &Delivery) -> Value {
    let (t, v1) = d
        .signature
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
        .unwrap_or_else(|| panic!("signature {:?}", d.signature));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("v1:{t}:").as_bytes());
    mac.update(&d.body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature verifies with the secret");
    serde_json::from_slice(&d.body).unwrap()
}

#[tokio::test]
async fn subscribed_events_are_posted_signed_and_in_order() {
    let hook = Receiver::start(0).await;
    let fake = FakeSlack::start().await;
    let clock = Clock::system();
    let text = config(
        &hook.url,
        r#""triggered", "acknowledged", "note", "resolved""#,
    );
    let t = TestApp::start_full(
        tempfile::tempdir().unwrap(),
        Some(&fake),
        &[
            ("TOCSIN_API_TOKEN", WRITE),
            ("TOCSIN_SLACK_CHANNEL_INTERVAL_MS", "1"),
        ],
        clock,
        &text,
    )
    .await;
    assert_eq!(t.trigger("w1", "Disk full").await.0, 202);
    let base = format!("{}/api/v1/incidents/1", t.base);
    let by = Some(json!({"by": "deploy-bot"}));
    assert_eq!(
        call(
            "POST",
            &format!("{base}/acknowledge"),
            Some(WRITE),
            by.clone()
        )
        .await
        .0,
        200
    );
    let note = Some(json!({"by": "deploy-bot", "text": "Cleared /var/log"}));
    assert_eq!(
        call("POST", &format!("{base}/notes"), Some(WRITE), note)
            .await
            .0,
        201
    );
    // Escalated is not subscribed: nothing is sent for it.
    assert_eq!(
        call("POST", &format!("{base}/resolve"), Some(WRITE), by)
            .await
            .0,
        200
    );

    let got = hook.wait_for(4).await;
    let events: Vec<&str> = got.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(events, ["triggered", "acknowledged", "note", "resolved"]);
    let bodies: Vec<Value> = got.iter().map(verify).collect();
    assert_eq!(bodies[0]["version"], 1);
    assert_eq!(bodies[0]["event"], "triggered");
    assert_eq!(bodies[0]["incident"]["id"], 1);
    assert_eq!(bodies[0]["incident"]["title"], "Disk full");
    assert_eq!(
        bodies[0]["incident"]["state"], "triggered",
        "as of the change"
    );
    assert_eq!(bodies[1]["incident"]["acknowledged"]["by"], "deploy-bot");
    assert_eq!(bodies[1]["incident"]["acknowledged"]["via"], "api");
    assert!(bodies[2]["note"]["text"]
        .as_str()
        .unwrap()
        .contains("Cleared /var/log"));
    assert_eq!(bodies[3]["incident"]["state"], "resolved");
    let mut ids: Vec<&str> = got.iter().map(|d| d.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 4, "each delivery has its own id");
    // A forged body fails the check a receiver makes.
    let mut forged = got[0].clone();
    forged.body = br#"{"event":"resolved"}"#.to_vec();
    assert!(std::panic::catch_unwind(|| verify(&forged)).is_err());
}

#[tokio::test]
async fn a_receiver_that_fails_then_recovers_gets_everything_even_across_a_restart() {
    // Down for the first 3 attempts.
    let hook = Receiver::start(3).await;
    // A fake Slack, so the offline sandbox (which keeps the data directory
    // open past a shutdown) stays off and the restart can reopen it.
    let fake = FakeSlack::start().await;
    let text = config(&hook.url, r#""triggered", "resolved""#);
    let env = [("TOCSIN_SLACK_CHANNEL_INTERVAL_MS", "1")];
    let t = TestApp::start_full(
        tempfile::tempdir().unwrap(),
        Some(&fake),
        &env,
        Clock::system(),
        &text,
    )
    .await;
    assert_eq!(t.trigger("w1", "Disk full").await.0, 202);
    assert_eq!(t.enqueue(&action_body("w1", "resolve")).await.0, 202);
    // The first attempt is refused; stop before the retries get through.
    let end = Instant::now() + Duration::from_secs(10);
    while hook.refused.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < end, "the receiver was never called");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dir = t.stop().await;
    // Both events are on disk; the next run delivers them, in order.
    let t = TestApp::start_full(dir, Some(&fake), &env, Clock::system(), &text).await;
    let got = hook.wait_for(2).await;
    let events: Vec<&str> = got.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(events, ["triggered", "resolved"], "{got:?}");
    assert!(hook.refused.load(Ordering::SeqCst) >= 3);
    for d in &got {
        verify(d);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.deliveries().len(), 2, "nothing is sent twice");
    drop(t);
}

#[tokio::test]
async fn tocsin_check_refuses_a_bad_webhook() {
    let bad = format!(
        "{CONFIG}\n[[webhooks_out]]\nurl = \"ftp://x\"\nevents = [\"paged\"]\nsecret = \"short\"\n"
    );
    let e = tocsin::config::Config::parse("tocsin.toml", &bad)
        .unwrap_err()
        .to_string();
    for field in [
        "webhooks_out[0].url",
        "webhooks_out[0].events[0]",
        "webhooks_out[0].secret",
    ] {
        assert!(e.contains(field), "{field} in {e}");
    }
}
