//! A full disk: tocsin says so in `/healthz` and `/metrics`, answers 503
//! everywhere it would store something, refuses new alerts below the
//! free-space floor, and writes again by itself once space returns. Each
//! test mounts a small tmpfs of its own, which needs root.

use crate::crash::spawn_logged;
use crate::support::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (with a message saying why) where mounting is not allowed,
    /// except in CI, where the test must run: there it fails instead.
    fn mount(size_mb: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mb}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        let why = match out {
            Ok(o) if o.status.success() => return Some(Tmpfs { dir }),
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI must run the full-disk tests, but mounting a tmpfs failed: {why}");
        }
        eprintln!("SKIPPED: this test mounts a small tmpfs and needs root ({why})");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes still free on it.
    fn free(&self) -> u64 {
        let out = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(self.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Writes a filler file until the disk is full or only `leave` bytes are left.
    fn fill(&self, leave: u64) -> PathBuf {
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        for chunk in [1 << 20, 4096, 512] {
            let buf = vec![0xa5u8; chunk];
            while self.free() >= leave + chunk as u64 {
                if f.write_all(&buf).and_then(|()| f.sync_all()).is_err() {
                    break;
                }
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: the app's files may still be open while the runtime winds down.
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// An alert with a body large enough to need fresh space on disk.
fn bulky(dedup_key: &str) -> Value {
    json!({
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": format!("disk test {dedup_key}"),
            "source": "web-1",
            "severity": "critical",
            "custom_details": {"log": "x".repeat(64 * 1024)},
        },
    })
}

fn change_body() -> Vec<u8> {
    json!({"routing_key": KEY, "payload": {"summary": "deploy api v1.2.3", "source": "ci"}})
        .to_string()
        .into_bytes()
}

fn gauge(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_says_so_in_healthz_and_recovers_without_a_restart() {
    let Some(fs) = Tmpfs::mount(24) else { return };
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir_in(fs.path()).unwrap();
    let t = TestApp::start_in(dir, Some(&fake), &[]).await;
    let (status, _) = t.enqueue(&bulky("before")).await;
    assert_eq!(status, 202);
    fake.wait_for("chat.postMessage", 1, Duration::from_secs(5))
        .await;

    let filler = fs.fill(0);
    // The disk is full: the first write that needs new space fails, and every
    // write after it, as sled keeps the error.
    let mut refused = None;
    for i in 0..50 {
        let (status, body) = t.enqueue(&bulky(&format!("full-{i}"))).await;
        if status != 202 {
            refused = Some((i, status, body));
            break;
        }
    }
    let (first, status, body) = refused.expect("some write failed on a full disk");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "error");
    let (status, health) = get(&format!("{}/healthz", t.base)).await;
    println!("full disk: /healthz {status} {health}");
    assert_eq!(status, 503, "{health}");
    let reason = health["reason"].as_str().unwrap();
    assert!(reason.contains("cannot write"), "{reason}");
    let (status, body) = t.enqueue(&bulky(&format!("full-{first}"))).await;
    assert_eq!(status, 503, "still refused: {body}");
    let (status, body) = post(
        &format!("{}/v2/change/enqueue", t.base),
        &[("content-type", "application/json")],
        change_body(),
    )
    .await;
    println!("full disk: /v2/change/enqueue {status} {body}");
    assert_eq!(status, 503, "{body}");
    let (_, metrics) = get_text(&format!("{}/metrics", t.base)).await;
    assert_eq!(gauge(&metrics, "tocsin_store_writable"), 0.0);

    // Space returns: tocsin writes again on its own.
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    loop {
        let (status, _) = get(&format!("{}/healthz", t.base)).await;
        if status == 200 {
            break;
        }
        assert!(
            freed.elapsed() < Duration::from_secs(10),
            "/healthz still {status} 10 s after space was freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("recovered {:?} after space was freed", freed.elapsed());
    // The sender's retry of the refused alert is taken, once.
    let (status, body) = t.enqueue(&bulky(&format!("full-{first}"))).await;
    assert_eq!(status, 202, "{body}");
    let (status, _) = t.enqueue(&bulky(&format!("full-{first}"))).await;
    assert_eq!(status, 202);
    let (status, _) = post(
        &format!("{}/v2/change/enqueue", t.base),
        &[("content-type", "application/json")],
        change_body(),
    )
    .await;
    assert_eq!(status, 202);
    // A new incident with an escalation: the engine pages through the due
    // index and the worker sends, both on the reopened store.
    let paged = json!({"routing_key": PAGED_KEY, "event_action": "trigger",
        "dedup_key": "after", "payload": {"summary": "after the disk filled", "source": "db-1", "severity": "critical"}});
    let (status, _) = t.enqueue(&paged).await;
    assert_eq!(status, 202);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let posts = fake.calls("chat.postMessage");
        let dm = posts.iter().any(|c| c.body["channel"] == "DU0ALICE");
        let channel = posts.iter().any(|c| {
            c.body["text"]
                .as_str()
                .unwrap_or("")
                .contains("after the disk filled")
        });
        if dm && channel {
            break;
        }
        assert!(
            Instant::now() < end,
            "no page or post after recovery: {:?}",
            posts.iter().map(|c| &c.body["text"]).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, metrics) = get_text(&format!("{}/metrics", t.base)).await;
    assert_eq!(gauge(&metrics, "tocsin_store_writable"), 1.0);
    assert!(gauge(&metrics, "tocsin_store_free_bytes") > 1e6);

    // Everything answered 202 is there, and each alert once.
    let incidents = t.app().core().store.incidents().await.unwrap();
    let keys: Vec<&str> = incidents.iter().map(|i| i.dedup_key.as_str()).collect();
    for i in 0..first {
        assert!(keys.contains(&format!("full-{i}").as_str()), "{keys:?}");
    }
    for key in ["before", "after", &format!("full-{first}")] {
        assert_eq!(
            keys.iter().filter(|k| **k == key).count(),
            1,
            "{key}: {keys:?}"
        );
    }
    let before = incidents.iter().find(|i| i.dedup_key == "before").unwrap();
    let posts_before = fake
        .calls("chat.postMessage")
        .iter()
        .filter(|c| {
            c.body["text"]
                .as_str()
                .unwrap_or("")
                .contains("disk test before")
        })
        .count();
    assert_eq!(posts_before, 1, "#{} posted once", before.id);
    let _ = t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_free_space_floor_new_alerts_get_503_while_acknowledging_still_works() {
    let Some(fs) = Tmpfs::mount(48) else { return };
    let dir = tempfile::tempdir_in(fs.path()).unwrap();
    let t = TestApp::start_in(dir, None, &[("TOCSIN_MIN_FREE_MB", "16")]).await;
    let (status, _) = t.trigger("open-one", "opened with room to spare").await;
    assert_eq!(status, 202);
    let (status, _) = get(&format!("{}/healthz", t.base)).await;
    assert_eq!(status, 200);

    // 8 MiB left: plenty for sled, but under the 16 MiB floor.
    let filler = fs.fill(8 << 20);
    let (status, body) = t.trigger("refused", "a new alert below the floor").await;
    println!("below the floor: /v2/enqueue {status} {body}");
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("TOCSIN_MIN_FREE_MB"),
        "{body}"
    );
    let (status, body) = post(
        &format!("{}/v2/change/enqueue", t.base),
        &[("content-type", "application/json")],
        change_body(),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    let (status, health) = get(&format!("{}/healthz", t.base)).await;
    assert_eq!(status, 503);
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .contains("below TOCSIN_MIN_FREE_MB (16 MiB)"),
        "{health}"
    );
    // What is open can still be handled: the floor keeps room for that.
    let (status, body) = t.enqueue(&action_body("open-one", "acknowledge")).await;
    assert_eq!(status, 202, "{body}");
    let store = &t.app().core().store;
    assert!(store
        .incidents()
        .await
        .unwrap()
        .iter()
        .all(|i| i.dedup_key != "refused"));

    std::fs::remove_file(&filler).unwrap();
    let (status, body) = t.trigger("refused", "a new alert below the floor").await;
    assert_eq!(status, 202, "{body}");
    let (status, _) = get(&format!("{}/healthz", t.base)).await;
    assert_eq!(status, 200);
    let _ = t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_whose_last_flush_fails_exits_non_zero() {
    let Some(fs) = Tmpfs::mount(24) else { return };
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir_in(fs.path()).unwrap();
    let (mut child, base) = tokio::task::spawn_blocking({
        let (fake, path) = (fake.clone(), dir.path().to_path_buf());
        move || spawn_logged(&fake, &path, CONFIG, &[], None)
    })
    .await
    .unwrap();
    let (status, _) = post(
        &format!("{base}/v2/enqueue"),
        &[("content-type", "application/json")],
        bulky("kept").to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 202);
    fs.fill(0);
    let mut failed = false;
    for i in 0..50 {
        let (status, _) = post(
            &format!("{base}/v2/enqueue"),
            &[("content-type", "application/json")],
            bulky(&format!("lost-{i}")).to_string().into_bytes(),
        )
        .await;
        if status == 503 {
            failed = true;
            break;
        }
    }
    assert!(failed, "a write failed on the full disk");
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    println!("SIGTERM with a failed final flush: {status:?}");
    assert!(
        !status.success(),
        "the exit status says the flush failed: {status:?}"
    );
}
