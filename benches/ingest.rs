//! Ingest benchmarks, run with `cargo bench --bench ingest`:
//! 1. durable ingest on `/v2/enqueue` with 1, 16 and 64 concurrent keep-alive
//!    clients on loopback, once with every alert on its own dedup key (each
//!    opens an incident) and once with 50 keys (after the first 50, each alert
//!    repeats an open incident): alerts/s and p50/p99 latency, every answer a
//!    202 sent after the flush (target ≥ 5,000 alerts/s at 64 clients);
//! 2. alert received → first Slack Web API call at the fake Slack: p50/p99
//!    (targets 10 ms / 50 ms).
//!
//! Each figure is the median of several runs; everything runs on this machine.

#[path = "../tests/api/support.rs"]
#[allow(dead_code)]
mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::{Duration, Instant};
use support::{trigger_body, FakeSlack, TestApp};

/// (clients, alerts per run): one client gets fewer, it is latency-bound.
const SHAPES: &[(usize, usize)] = &[(1, 2_000), (16, 16_000), (64, 16_000)];
const RUNS: usize = 3;
const LATENCY_SAMPLES: usize = 300;
/// Dedup keys in the mostly-duplicate case.
const FEW_KEYS: usize = 50;
const TARGET: f64 = 5_000.0;

#[derive(Clone, Copy, PartialEq)]
enum Keys {
    /// Every alert its own dedup key: each opens an incident.
    Distinct,
    /// `FEW_KEYS` keys in round robin: all but the first few repeat an open incident.
    Few,
}

impl Keys {
    fn name(self) -> &'static str {
        match self {
            Keys::Distinct => "distinct keys",
            Keys::Few => "50 keys",
        }
    }
}

fn main() {
    let rt = support::bench_runtime();
    rt.block_on(async {
        let mut summary = vec![];
        for keys in [Keys::Distinct, Keys::Few] {
            for &(clients, alerts) in SHAPES {
                let mut rates = vec![];
                let mut p50s = vec![];
                let mut p99s = vec![];
                for run in 1..=RUNS {
                    let (rate, p50, p99) = throughput(clients, alerts, keys).await;
                    println!(
                        "ingest {}, {clients} clients, run {run}: {rate:.0} alerts/s, p50 {p50:.2} ms, p99 {p99:.2} ms",
                        keys.name()
                    );
                    rates.push(rate);
                    p50s.push(p50);
                    p99s.push(p99);
                }
                let spread = format!(
                    "{:.0}–{:.0}",
                    rates.iter().copied().fold(f64::INFINITY, f64::min),
                    rates.iter().copied().fold(0.0, f64::max)
                );
                summary.push(format!(
                    "  {:<13} {clients:>2} clients × {:>5} alerts: {:>5.0} alerts/s (runs {spread}), p50 {:.2} ms, p99 {:.2} ms{}",
                    keys.name(),
                    alerts / clients,
                    median(&mut rates),
                    median(&mut p50s),
                    median(&mut p99s),
                    if clients == 64 {
                        format!(", {:.2}× the target", median(&mut rates) / TARGET)
                    } else {
                        String::new()
                    }
                ));
            }
        }
        let (p50, p99) = first_slack_call().await;
        println!();
        println!("summary (median of {RUNS} runs each)");
        for line in summary {
            println!("{line}");
        }
        println!("  alert → first Slack call ({LATENCY_SAMPLES} alerts): p50 {p50:.2} ms, p99 {p99:.2} ms");
    });
}

/// `clients` clients, each on its own keep-alive connection, send `alerts`
/// triggers between them; returns alerts/s and per-request p50/p99 in ms.
async fn throughput(clients: usize, alerts: usize, keys: Keys) -> (f64, f64, f64) {
    let t = TestApp::start(None).await;
    let url = format!("{}/v2/enqueue", t.base);
    let per_client = alerts / clients;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let url = url.clone();
        tasks.spawn(async move {
            let client = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1)
                .build_http::<Full<Bytes>>();
            let mut lat = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let key = match keys {
                    Keys::Distinct => format!("c{c}-a{i}"),
                    Keys::Few => format!("k{}", (c * per_client + i) % FEW_KEYS),
                };
                let body = trigger_body(&key, "bench alert").to_string();
                let req = Request::post(&url)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                let t0 = Instant::now();
                let resp = client.request(req).await.unwrap();
                let status = resp.status();
                resp.into_body().collect().await.unwrap();
                assert_eq!(status, 202);
                lat.push(t0.elapsed());
            }
            lat
        });
    }
    let mut all: Vec<Duration> = vec![];
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap());
    }
    let elapsed = started.elapsed();
    let incidents = t.app().core().store.incidents().await.unwrap();
    let sent = clients * per_client;
    match keys {
        Keys::Distinct => assert_eq!(incidents.len(), sent),
        Keys::Few => assert_eq!(incidents.len(), FEW_KEYS.min(sent)),
    }
    assert_eq!(
        incidents
            .iter()
            .map(|i| i.alert_count as usize)
            .sum::<usize>(),
        sent,
        "every 202 is counted in the store"
    );
    t.stop().await;
    all.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (
        all.len() as f64 / elapsed.as_secs_f64(),
        ms(all[all.len() / 2]),
        ms(all[all.len() * 99 / 100]),
    )
}

/// One alert at a time: from sending the request to the fake seeing chat.postMessage.
async fn first_slack_call() -> (f64, f64) {
    let fake = FakeSlack::start().await;
    // Pacing is a deliberate delay between messages, not latency: switch it off here.
    let t = TestApp::start(Some(&fake)).await;
    let mut lat = vec![];
    for i in 0..LATENCY_SAMPLES {
        let sent = Instant::now();
        let (status, _) = t.trigger(&format!("lat-{i}"), "latency probe").await;
        assert_eq!(status, 202);
        let calls = fake
            .wait_for("chat.postMessage", i + 1, Duration::from_secs(5))
            .await;
        let arrived = calls[i].at;
        lat.push(arrived.duration_since(sent).as_secs_f64() * 1e3);
        // Let the worker finish its bookkeeping so samples do not overlap.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.stop().await;
    lat.sort_by(f64::total_cmp);
    (lat[lat.len() / 2], lat[lat.len() * 99 / 100])
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
