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

async fn enqueue(base: &str, dedup_key: &str) -> u16 {
    let body = trigger_body(dedup_key, &format!("crash test {dedup_key}"));
    post(
        &format!("{base}/v2/enqueue"),
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await
    .0
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
        sends.spawn(async move { enqueue(&base, &format!("alert-{i:03}")).await });
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
    let incidents = store.incidents().unwrap();
    assert_eq!(incidents.len(), 100);
    assert!(
        incidents.iter().all(|i| i.message.is_some()),
        "every incident knows its Slack message"
    );
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
