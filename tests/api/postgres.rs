//! The real binary on PostgreSQL (`TOCSIN_STORE=postgres://…`): each test
//! in a database of its own on the server `TOCSIN_TEST_POSTGRES` names.
//! Without one the tests skip with a message, except under `CI=true`.

use crate::crash::spawn_logged;
use crate::support::*;
use std::process::Command;
use std::time::Duration;

/// A new, empty database on the test server: its URL. `None` (after
/// saying so) when there is no server.
pub async fn fresh_database() -> Option<String> {
    let server = match std::env::var("TOCSIN_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "TOCSIN_TEST_POSTGRES must point at a PostgreSQL server under CI"
            );
            eprintln!("skipped: set TOCSIN_TEST_POSTGRES=postgres://… to run the PostgreSQL tests");
            return None;
        }
    };
    let name = format!("tocsin_{:016x}", rand::random::<u64>());
    let (client, conn) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .expect("the test server answers");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_hundred_alerts_survive_sigkill_and_reach_slack_exactly_once() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let start = |fake: FakeSlack, path: std::path::PathBuf, db: String| {
        tokio::task::spawn_blocking(move || {
            spawn_logged(
                &fake,
                &path,
                CONFIG,
                &[("RUST_LOG", "info"), ("TOCSIN_STORE", &db)],
                None,
            )
        })
    };
    let (mut child, base) = start(fake.clone(), dir.path().into(), db.clone())
        .await
        .unwrap();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..100 {
        let base = base.clone();
        sends.spawn(async move { enqueue(&base, "postgres test", &format!("alert-{i:03}")).await });
    }
    while let Some(status) = sends.join_next().await {
        assert_eq!(status.unwrap(), 202);
    }
    child.kill().unwrap(); // SIGKILL: no shutdown, no final flush.
    child.wait().unwrap();
    let before = fake.calls("chat.postMessage").len();

    let (mut child, _) = start(fake.clone(), dir.path().into(), db.clone())
        .await
        .unwrap();
    let posts = fake
        .wait_for("chat.postMessage", 100, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(posts.len(), 100);
    let after = fake.calls("chat.postMessage");
    let mut seen: Vec<String> = after
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
    assert_eq!(
        (after.len(), seen.len()),
        (100, 100),
        "every incident exactly once ({before} were posted before the kill)"
    );
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success(), "SIGTERM exits cleanly");
    let store = tocsin::store::Store::open_postgres(&db).await.unwrap();
    let incidents = store.incidents().await.unwrap();
    assert_eq!(incidents.len(), 100);
    for i in &incidents {
        assert!(store.messages(i.id).await.unwrap().post.is_some());
    }
}

/// `tocsin migrate` brings a database to this build's schema; a database
/// a newer build migrated is refused by `migrate` and `serve` alike.
#[tokio::test]
async fn migrate_applies_the_schema_and_a_newer_one_is_refused() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tocsin"))
            .args(args)
            .env("TOCSIN_STORE", &db)
            .env("TOCSIN_LISTEN", "127.0.0.1:0")
            .env("NO_COLOR", "1")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&["migrate"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("schema version 1"), "{stdout}");
    let again = run(&["migrate"]);
    assert!(again.status.success(), "migrating twice changes nothing");

    let (client, conn) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute("INSERT INTO tocsin_migrations (version) VALUES (99)")
        .await
        .unwrap();
    for args in [&["migrate"][..], &["serve"][..]] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must refuse");
        assert!(
            stderr.contains("schema version 99, this build understands up to 1"),
            "{args:?}: {stderr}"
        );
    }
}
