//! Footprint with 100,000 incidents, run with `cargo bench --bench footprint`:
//! the real binary (`tocsin serve`, default cache) is fed 100,000 distinct
//! Events API v2 triggers over loopback; then its resident memory, the data
//! directory's size, and a `GET /metrics`; then, after SIGTERM, the time from
//! starting the binary again on that directory until `/healthz` answers and
//! its memory once started (targets: RSS < 64 MiB, start-up < 1 s).
//! `TOCSIN_CACHE_MB` in the bench's environment is passed on to tocsin.
//!
//! The second part, large alerts (`cargo bench --bench footprint -- large`
//! runs only it; `-- incidents` only the first): 150 triggers of about 1 MiB
//! each (custom details holding a log excerpt and a table of metrics), sent
//! by 8 keep-alive clients to a fresh binary, once spread over 10 dedup keys
//! (each incident takes 15 alerts) and once with a key per alert. Reported:
//! the bytes received, the data directory's size after the load and after
//! SIGTERM, and the process's resident memory after the load and at its
//! peak (targets: disk ≤ 2× the bytes received, RSS < 128 MiB).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INCIDENTS: usize = 100_000;
const CLIENTS: usize = 50;
const RESTARTS: usize = 3;
const KEY: &str = "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a";

/// One service; its team has no alert channel and Slack is not configured,
/// so the store holds the incidents and no outbox backlog (in production the
/// outbox drains as Slack accepts the posts).
const CONFIG: &str = r#"
[[users]]
id = "alice"
name = "Alice Example"
slack_id = "U0ALICE"

[[teams]]
id = "platform"
name = "Platform"
members = ["alice"]

[[services]]
id = "api"
name = "Public API"
team = "platform"
integration_key = "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a"
"#;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // `cargo bench --bench footprint -- incidents` or `-- large` runs one part.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wants = |part: &str| {
        let parts = ["incidents", "large"];
        !args.iter().any(|a| parts.contains(&a.as_str())) || args.iter().any(|a| a == part)
    };
    if wants("incidents") {
        rt.block_on(many_incidents());
    }
    if wants("large") {
        rt.block_on(large_alerts());
    }
}

/// 100,000 small incidents: memory, disk, `/metrics` and restarts.
async fn many_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tocsin.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = dir.path().join("data");

    println!(
        "TOCSIN_CACHE_MB={}",
        std::env::var("TOCSIN_CACHE_MB").unwrap_or_else(|_| "(default)".into())
    );
    let (child, base) = spawn(&data, &config);
    let started = Instant::now();
    load(&base).await;
    let fed = started.elapsed();
    println!(
        "fed {INCIDENTS} incidents in {:.1} s ({:.0} alerts/s)",
        fed.as_secs_f64(),
        INCIDENTS as f64 / fed.as_secs_f64()
    );
    let loaded = Mem::of(&child);
    println!("after loading: {loaded}");
    let (took, open) = metrics(&base).await;
    assert_eq!(open, INCIDENTS as f64, "every incident is open");
    println!(
        "GET /metrics {:.1} ms; then {}",
        took.as_secs_f64() * 1e3,
        Mem::of(&child)
    );
    let stopped = stop(child);
    println!("SIGTERM → exit {:.0} ms", stopped.as_secs_f64() * 1e3);
    let (apparent, allocated) = du(&data);
    println!(
        "data directory: {:.1} MiB on disk ({:.1} MiB apparent), {:.0} bytes per incident",
        mib(allocated),
        mib(apparent),
        allocated as f64 / INCIDENTS as f64
    );

    let mut starts = vec![];
    for run in 1..=RESTARTS {
        let t0 = Instant::now();
        let (child, base) = spawn(&data, &config);
        let listening = t0.elapsed();
        healthy(&base).await;
        let up = t0.elapsed();
        let idle = Mem::of(&child);
        let (took, open) = metrics(&base).await;
        assert_eq!(open, INCIDENTS as f64);
        let scraped = Mem::of(&child);
        println!(
            "restart {run}: listening after {:.0} ms, /healthz 200 after {:.0} ms; {idle}; GET /metrics {:.1} ms, then {scraped}",
            listening.as_secs_f64() * 1e3,
            up.as_secs_f64() * 1e3,
            took.as_secs_f64() * 1e3
        );
        starts.push(up.as_secs_f64() * 1e3);
        stop(child);
    }
    starts.sort_by(f64::total_cmp);
    println!(
        "summary: {INCIDENTS} incidents; RSS after loading {}; disk {:.1} MiB; start-up to /healthz median {:.0} ms (runs {})",
        loaded,
        mib(allocated),
        starts[starts.len() / 2],
        starts
            .iter()
            .map(|s| format!("{s:.0}"))
            .collect::<Vec<_>>()
            .join(" / ")
    );
}

const LARGE_ALERTS: usize = 150;
const LARGE_CLIENTS: usize = 8;
/// Each large trigger's body is a little under this (the HTTP cap is 1 MiB).
const LARGE_BODY: usize = 1_040_000;

/// 150 alerts of about 1 MiB, 8 at a time: disk and memory against bytes received.
async fn large_alerts() {
    for (label, keys) in [
        ("10 keys, 15 alerts each", 10),
        ("a key per alert", LARGE_ALERTS),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tocsin.toml");
        std::fs::write(&config, CONFIG).unwrap();
        let data = dir.path().join("data");
        let (child, base) = spawn(&data, &config);
        let started = Instant::now();
        let received = send_large(&base, keys).await;
        let fed = started.elapsed();
        let loaded = Mem::of(&child);
        let (_, running) = du(&data);
        let (_, open) = metrics(&base).await;
        assert_eq!(open, keys as f64, "one incident per key");
        stop(child);
        let (_, stopped) = du(&data);
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        println!(
            "large alerts, {label}: {LARGE_ALERTS} alerts, {:.1} MiB received in {:.1} s; \
             disk {:.1} MiB after the load ({:.2}× received), {:.1} MiB after SIGTERM ({:.2}×; ≤ 2×: {}); \
             after the load {loaded} (< 128 MiB: {})",
            mib(received),
            fed.as_secs_f64(),
            mib(running),
            running as f64 / received as f64,
            mib(stopped),
            stopped as f64 / received as f64,
            verdict(running.max(stopped) <= 2 * received),
            verdict(loaded.hwm_kib < 128 * 1024),
        );
    }
}

/// A trigger of about [`LARGE_BODY`] bytes for `dedup_key`: custom details
/// with a log excerpt (distinct lines) and a table of metrics.
fn large_body(i: usize, dedup_key: &str) -> Vec<u8> {
    let metrics: serde_json::Map<String, serde_json::Value> = (0..2_000)
        .map(|m| (format!("metric_{m:04}"), json!(m as f64 * 1.5 + i as f64)))
        .collect();
    let mut body = json!({
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": format!("Batch job {i} failed"), "source": "batch-1", "severity": "error",
                    "custom_details": {"metrics": metrics, "log": []}},
    });
    let base = body.to_string().len();
    let log = body["payload"]["custom_details"]["log"]
        .as_array_mut()
        .unwrap();
    let mut size = base;
    let mut n = 0;
    while size + 130 < LARGE_BODY {
        let line = format!(
            "2026-12-03T10:{:02}:{:02}.{:03}Z alert={i} line={n} worker=batch-1 step=load status=retrying reason=upstream timeout",
            n / 60 % 60,
            n % 60,
            n % 1000
        );
        size += line.len() + 3;
        log.push(json!(line));
        n += 1;
    }
    let bytes = body.to_string().into_bytes();
    assert!(bytes.len() <= LARGE_BODY, "{} bytes", bytes.len());
    bytes
}

/// Sends the large triggers, alert *i* on key `i % keys`, from
/// [`LARGE_CLIENTS`] clients; returns the bytes sent in bodies.
async fn send_large(base: &str, keys: usize) -> u64 {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..LARGE_CLIENTS {
        let url = format!("{base}/v2/enqueue");
        tasks.spawn(async move {
            let client = client();
            let mut sent = 0u64;
            for i in (c..LARGE_ALERTS).step_by(LARGE_CLIENTS) {
                let body = large_body(i, &format!("large-{}", i % keys));
                sent += body.len() as u64;
                let req = Request::post(&url)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                let resp = client.request(req).await.unwrap();
                assert_eq!(resp.status(), 202);
                resp.into_body().collect().await.unwrap();
            }
            sent
        });
    }
    let mut total = 0;
    while let Some(r) = tasks.join_next().await {
        total += r.unwrap();
    }
    total
}

/// Starts `tocsin serve` on `data` and returns it once it says where it listens.
fn spawn(data: &Path, config: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .arg("serve")
        .env_clear()
        .env("TOCSIN_LISTEN", "127.0.0.1:0")
        .env("TOCSIN_DATA", data)
        .env("TOCSIN_CONFIG", config)
        .env("RUST_LOG", "info,sled=warn,hyper=warn")
        .env("NO_COLOR", "1")
        // The default page cache unless the bench is told otherwise.
        .envs(std::env::var("TOCSIN_CACHE_MB").map(|mb| ("TOCSIN_CACHE_MB", mb)))
        .current_dir(data.parent().unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = stderr.lines().map_while(Result::ok);
    let addr = lines
        .by_ref()
        .find_map(|l| {
            l.contains("listening")
                .then(|| l.split("addr=").nth(1).map(|a| a.trim().to_string()))
                .flatten()
        })
        .expect("tocsin printed its address");
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, format!("http://{addr}"))
}

/// Waits until `/healthz` answers 200, polling every millisecond.
async fn healthy(base: &str) {
    let client = client();
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let req = Request::get(format!("{base}/healthz"))
            .body(Full::default())
            .unwrap();
        if let Ok(r) = client.request(req).await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < end, "no /healthz within 30 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// `CLIENTS` keep-alive clients send `INCIDENTS` distinct triggers between them.
async fn load(base: &str) {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let url = format!("{base}/v2/enqueue");
        tasks.spawn(async move {
            let client = client();
            for i in (c..INCIDENTS).step_by(CLIENTS) {
                let body = json!({
                    "routing_key": KEY,
                    "event_action": "trigger",
                    "dedup_key": format!("footprint-{i}"),
                    "payload": {"summary": format!("Disk 91% full on db-{i}"), "source": format!("db-{i}"), "severity": "critical",
                                "custom_details": {"mount": "/var/lib/postgresql", "free_bytes": 1_234_567_890u64}},
                    "links": [{"href": "https://grafana.example.com/d/1", "text": "Dashboard"}]
                });
                let req = Request::post(&url)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body.to_string())))
                    .unwrap();
                let resp = client.request(req).await.unwrap();
                assert_eq!(resp.status(), 202);
                resp.into_body().collect().await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

/// Times one `GET /metrics` and reads `tocsin_open_incidents` from it.
async fn metrics(base: &str) -> (Duration, f64) {
    let t0 = Instant::now();
    let resp = client()
        .request(
            Request::get(format!("{base}/metrics"))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    let took = t0.elapsed();
    let open = String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| l.strip_prefix("tocsin_open_incidents "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the open-incidents gauge");
    (took, open)
}

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .build_http::<Full<Bytes>>()
}

/// SIGTERM, then waits for a clean exit; returns how long that took.
fn stop(mut child: Child) -> Duration {
    let t0 = Instant::now();
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "clean exit: {status:?}");
    t0.elapsed()
}

/// A process's resident memory now and at its peak, from /proc.
struct Mem {
    rss_kib: u64,
    hwm_kib: u64,
}

impl Mem {
    fn of(child: &Child) -> Mem {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Mem {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
        }
    }
}

impl std::fmt::Display for Mem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RSS {:.1} MiB (peak {:.1} MiB)",
            self.rss_kib as f64 / 1024.0,
            self.hwm_kib as f64 / 1024.0
        )
    }
}

/// (apparent bytes, allocated bytes as `du` counts them) of a directory tree.
fn du(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            let (a, b) = du(&entry.path());
            total.0 += a;
            total.1 += b;
        } else {
            total.0 += meta.len();
            total.1 += meta.blocks() * 512;
        }
    }
    total
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
