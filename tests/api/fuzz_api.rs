//! The REST API fuzzed against its own OpenAPI document by schemathesis
//! (from PyPI), for a bounded number of cases: no 5xx, and every answer in
//! the status codes, content types, headers and schemas the document names.
//!
//! schemathesis is found at `TOCSIN_SCHEMATHESIS` or in the venv `.ci/run`
//! installs (`/opt/tocsin-ci/schemathesis`). Without it the test skips with
//! a message, except under `CI=true`, where it fails.

use crate::api_v1::{READ, WRITE};
use crate::support::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const VENV: &str = "/opt/tocsin-ci/schemathesis/bin/schemathesis";

fn schemathesis() -> Option<PathBuf> {
    let given = std::env::var_os("TOCSIN_SCHEMATHESIS").map(PathBuf::from);
    let found = given
        .or_else(|| Some(PathBuf::from(VENV)))
        .filter(|p| p.exists());
    if found.is_none() {
        let msg = "schemathesis not found (set TOCSIN_SCHEMATHESIS, or run .ci/run to install it)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("skipping: {msg}");
    }
    found
}

/// One schemathesis run with `token`, `examples` cases per operation and
/// phase: whether it passed, and what it printed.
async fn fuzz(t: &TestApp, bin: &Path, token: &str, examples: u32) -> (bool, String) {
    // schemathesis keeps a cache in its working directory: not the repository.
    let scratch = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(bin)
        .current_dir(scratch.path())
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", t.base))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
        ])
        .args(["--phases", "coverage,fuzzing"])
        .args(["--max-examples", &examples.to_string(), "--seed", "20"])
        .args(["--workers", "2", "--request-timeout", "10"])
        .args(["--generation-database", "none", "--no-color"])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), out)
        .await
        .expect("schemathesis finishes within five minutes")
        .expect("schemathesis runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_to_its_openapi_document_under_fuzzing() {
    let Some(bin) = schemathesis() else {
        return;
    };
    let fake = FakeSlack::start().await;
    let t = TestApp::start_with(
        Some(&fake),
        &[("TOCSIN_API_TOKEN", WRITE), ("TOCSIN_API_READ_TOKEN", READ)],
    )
    .await;
    // Incidents to read, acknowledge and resolve; ids 1–3 exist.
    for k in ["f1", "f2", "f3"] {
        assert_eq!(t.trigger(k, "Fuzzed").await.0, 202);
    }
    // Every operation, with the write token (the read token's refusals are
    // checked in `api_v1`).
    let (ok, text) = fuzz(&t, &bin, WRITE, 15).await;
    assert!(ok, "schemathesis found problems:\n{text}");
    assert!(text.contains(" passed"), "no case ran:\n{text}");
    // The server is still up and answering after it all.
    assert_eq!(get(&format!("{}/healthz", t.base)).await.0, 200);
}
