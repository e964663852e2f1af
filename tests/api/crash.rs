//! The real binary: SIGKILL after accepting alerts loses nothing and posts each
//! incident exactly once; SIGTERM shuts down cleanly.

use crate::support::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::sync::oneshot;

/// Starts `tocsin serve` and returns it with the address it listens on.
fn spawn_tocsin(fake: &FakeSlack, dir: &Path) -> (Child, String) {
    spawn_with(fake, dir, CONFIG)
}

fn spawn_with(fake: &FakeSlack, dir: &Path, config_text: &str) -> (Child, String) {
    spawn_logged(fake, dir, config_text, &[("RUST_LOG", "info")], None)
}

/// Starts `tocsin serve` with `extra` environment; every stderr line also
/// goes to `log` when given.
pub(crate) fn spawn_logged(
    fake: &FakeSlack,
    dir: &Path,
    config_text: &str,
    extra: &[(&str, &str)],
    log: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
) -> (Child, String) {
    let config = dir.join("tocsin.toml");
    std::fs::write(&config, config_text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .arg("serve")
        .envs(env_for(Some(fake), &dir.join("data"), &config))
        .env("NO_COLOR", "1")
        .envs(extra.iter().copied())
        .current_dir(dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match &log {
                Some(log) => log.lock().unwrap().push(line.clone()),
                None => eprintln!("tocsin: {line}"),
            }
            if let Some(addr) = line
                .split("addr=")
                .nth(1)
                .filter(|_| line.contains("listening"))
            {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        }
    });
    let addr = rx.blocking_recv().expect("tocsin printed its address");
    (child, format!("http://{addr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_alerts_survive_sigkill_and_reach_slack_exactly_once() {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (mut child, base) = tokio::task::spawn_blocking({
        let (fake, path) = (fake.clone(), path.clone());
        move || spawn_tocsin(&fake, &path)
    })
    .await
    .unwrap();

    let mut sends = tokio::task::JoinSet::new();
    for i in 0..100 {
        let base = base.clone();
        sends.spawn(async move { enqueue(&base, "crash test", &format!("alert-{i:03}")).await });
    }
    while let Some(status) = sends.join_next().await {
        assert_eq!(status.unwrap(), 202);
    }
    child.kill().unwrap(); // SIGKILL: no shutdown, no final flush.
    child.wait().unwrap();
    let before = fake.calls("chat.postMessage").len();

    let (mut child, _base) = tokio::task::spawn_blocking({
        let (fake, path) = (fake.clone(), path.clone());
        move || spawn_tocsin(&fake, &path)
    })
    .await
    .unwrap();
    let posts = fake
        .wait_for("chat.postMessage", 100, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posts_after = fake.calls("chat.postMessage");
    assert_eq!(posts.len(), 100);
    assert_eq!(
        posts_after.len(),
        100,
        "no message posted twice ({before} were posted before the kill)"
    );

    let mut seen: Vec<String> = posts_after
        .iter()
        .map(|c| {
            c.body["metadata"]["event_payload"]["incident"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 100, "every incident exactly once");

    // Stop politely and read the store: all 100 incidents are there.
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM exits cleanly: {status:?}");
    let store = tocsin::store::Store::open(&path.join("data"), 16 << 20).unwrap();
    let incidents = store.incidents().await.unwrap();
    assert_eq!(incidents.len(), 100);
    for i in &incidents {
        assert!(
            store.messages(i.id).await.unwrap().post.is_some(),
            "every incident knows its Slack message"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_survives_sigkill_on_time_without_a_duplicate_page() {
    // alice at once, bob one minute later (real time: this test takes about a minute).
    let config = CONFIG
        .replace("after_minutes = 15", "after_minutes = 1")
        .replace("repeat = 1", "repeat = 0");
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let start = |fake: FakeSlack, path: std::path::PathBuf, config: String| {
        tokio::task::spawn_blocking(move || spawn_with(&fake, &path, &config))
    };
    let (mut child, base) = start(fake.clone(), path.clone(), config.clone())
        .await
        .unwrap();
    let body = serde_json::json!({
        "routing_key": PAGED_KEY, "event_action": "trigger", "dedup_key": "kill-me",
        "payload": {"summary": "Escalation across a crash", "source": "pay-1", "severity": "critical"}
    });
    let triggered = std::time::Instant::now();
    let (status, _) = post(
        &format!("{base}/v2/enqueue"),
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 202);
    let dm_to = |who: &str| {
        fake.calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.body["channel"] == format!("D{who}"))
            .count()
    };
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while dm_to("U0ALICE") == 0 && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dm_to("U0ALICE"), 1, "{:?}", fake.all_calls());
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, _) = start(fake.clone(), path.clone(), config).await.unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(90);
    while dm_to("U0BOB") == 0 && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bob_after = triggered.elapsed();
    assert_eq!(dm_to("U0BOB"), 1, "bob is paged after the restart");
    assert!(
        bob_after >= Duration::from_secs(59) && bob_after < Duration::from_secs(75),
        "on time: {bob_after:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(dm_to("U0ALICE"), 1, "alice is not paged twice");
    assert_eq!(dm_to("U0BOB"), 1);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// What one request sent during the SIGTERM test came to.
enum Sent {
    Accepted { key: String, after_term: bool },
    Refused(u16),
    ConnectionError,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_every_request_202_or_not_at_all_and_loses_no_202() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    const CLIENTS: usize = 32;
    const BEFORE_TERM: usize = 500;

    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (mut child, base) = tokio::task::spawn_blocking({
        let (fake, path) = (fake.clone(), path.clone());
        move || spawn_with(&fake, &path, CONFIG)
    })
    .await
    .unwrap();

    let accepted = Arc::new(AtomicUsize::new(0));
    let termed = Arc::new(AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (base, accepted, termed) = (base.clone(), accepted.clone(), termed.clone());
        clients.spawn(async move {
            // Each client on its own keep-alive connection, sending until
            // the server stops answering.
            let client = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1)
                .build_http::<Full<Bytes>>();
            let mut outcomes = vec![];
            for i in 0.. {
                let key = format!("term-{c}-{i}");
                let body = trigger_body(&key, "shutdown under load").to_string();
                let req = hyper::Request::post(format!("{base}/v2/enqueue"))
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                let sent_before_term = !termed.load(Ordering::SeqCst);
                let outcome = match client.request(req).await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        match resp.into_body().collect().await {
                            Ok(_) if status == 202 => Sent::Accepted {
                                key,
                                after_term: sent_before_term && termed.load(Ordering::SeqCst),
                            },
                            Ok(_) => Sent::Refused(status),
                            Err(_) => Sent::ConnectionError,
                        }
                    }
                    Err(_) => Sent::ConnectionError,
                };
                let stop = !matches!(outcome, Sent::Accepted { .. });
                if !stop {
                    accepted.fetch_add(1, Ordering::SeqCst);
                }
                outcomes.push(outcome);
                if stop {
                    break;
                }
            }
            outcomes
        });
    }
    while accepted.load(Ordering::SeqCst) < BEFORE_TERM {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    termed.store(true, Ordering::SeqCst);
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let mut outcomes = vec![];
    while let Some(r) = clients.join_next().await {
        outcomes.extend(r.unwrap());
    }
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(
        status.success(),
        "SIGTERM under load exits cleanly: {status:?}"
    );

    let mut keys: Vec<String> = vec![];
    let (mut drained, mut errors) = (0, 0);
    for o in outcomes {
        match o {
            Sent::Accepted { key, after_term } => {
                drained += usize::from(after_term);
                keys.push(key);
            }
            // A 5xx is a "try again" that the sender honours; anything else is a bug.
            Sent::Refused(s) => assert!(s >= 500, "refused with {s}"),
            Sent::ConnectionError => errors += 1,
        }
    }
    assert!(keys.len() >= BEFORE_TERM);
    assert!(
        drained >= 1,
        "requests in flight at SIGTERM were answered, not dropped"
    );
    assert!(errors >= 1, "every client ended on a closed server");

    // The store opens cleanly and holds exactly the incidents answered 202.
    let store = tocsin::store::Store::open(&path.join("data"), 16 << 20).unwrap();
    let mut stored: Vec<String> = store
        .incidents()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.dedup_key)
        .collect();
    stored.sort();
    keys.sort();
    keys.dedup();
    assert_eq!(
        stored.len(),
        keys.len(),
        "one incident per key answered 202, nothing half-written"
    );
    assert_eq!(stored, keys);
    // Each stored incident's post went out or still waits: the outbox row was
    // written with the incident, never apart from it.
    let waiting: std::collections::HashSet<u64> = store
        .pending()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, row)| match row.op {
            tocsin::store::Outbound::PostIncident { incident, .. } => Some(incident),
            _ => None,
        })
        .collect();
    for i in store.incidents().await.unwrap() {
        assert!(
            store.messages(i.id).await.unwrap().post.is_some() || waiting.contains(&i.id),
            "incident #{} has neither its post nor a row for it",
            i.id
        );
    }
}
