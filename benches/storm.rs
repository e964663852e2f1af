//! Alert-storm and throughput benchmarks, run with `cargo bench --bench storm`:
//! 1. storm: 10,000 Events API v2 triggers over 50 dedup keys, paced evenly
//!    over 10 s, against the app with the default channel pacing (1 s) and a
//!    fake Slack that enforces Slack's 1 message/s per channel. Reports
//!    incident posts, digests, storm notices, `chat.update` calls, 429s and
//!    the delay from each incident's first 202 to the first call naming it. Run twice: all 50 keys
//!    on one service (one channel), then 50 services with 50 channels;
//! 2. durable ingest on tocsin's `/v2/enqueue`, with event rules and
//!    grouping on, beside the installed Alertmanager's `/api/v2/alerts`,
//!    same client code and concurrency: alerts/s each and the ratio,
//!    median of 3 runs.

#[path = "../tests/api/support.rs"]
#[allow(dead_code)]
mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{trigger_body, FakeSlack, TestApp};
use tocsin::clock::Clock;

const STORM_ALERTS: usize = 10_000;
const KEYS: usize = 50;
const STORM_SPAN: Duration = Duration::from_secs(10);
const STORM_CLIENTS: usize = 10;
/// How long the outbox may take to drain after the storm before the run fails.
const DRAIN_LIMIT: Duration = Duration::from_secs(240);

const TP_CLIENTS: usize = 16;
const TP_ALERTS: usize = 10_000;
const RUNS: usize = 3;

/// Alertmanager with a receiver that sends nowhere.
const NULL_RECEIVER: &str = "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n";

/// Words every storm digest and notice carries (`templates/storm.digest.j2`).
const DIGEST_MARK: &str = "each gets its own message as fast as Slack allows";

fn main() {
    let rt = support::bench_runtime();
    // `cargo bench --bench storm -- storm` or `-- throughput` runs one part.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wants = |part: &str| {
        let parts = ["storm", "throughput"];
        !args.iter().any(|a| parts.contains(&a.as_str())) || args.iter().any(|a| a == part)
    };
    rt.block_on(async {
        let mut storms = vec![];
        if wants("storm") {
            let one = storm(Layout::OneChannel).await;
            one.print("storm, 50 keys in one channel");
            storms.push(("one channel", one));
            let many = storm(Layout::ChannelPerKey).await;
            many.print("storm, 50 keys in 50 channels");
            storms.push(("50 channels", many));
        }
        let tp = if wants("throughput") {
            throughput_beside_alertmanager().await
        } else {
            None
        };

        println!();
        println!("summary");
        for (name, r) in &storms {
            println!(
                "  storm ({name}): {} posts, {} digests, {} notices, {} updates, {} × 429; first page p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {}/{KEYS} within 1 s",
                r.posts,
                r.digests,
                r.notices,
                r.updates,
                r.rate_limited,
                pct(&r.first_page_ms, 50),
                pct(&r.first_page_ms, 99),
                r.first_page_ms.last().unwrap(),
                r.within_1s(),
            );
        }
        match tp {
            Some((tocsin, am)) => println!(
                "  throughput ({TP_CLIENTS} clients, {TP_ALERTS} alerts, median of {RUNS}): tocsin {tocsin:.0} alerts/s, Alertmanager {am:.0} alerts/s, ratio {:.2}",
                tocsin / am
            ),
            None if wants("throughput") => println!("  throughput beside Alertmanager: skipped ({} not installed)", support::ALERTMANAGER),
            None => {}
        }
    });
}

#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// Every key on the test service, whose team posts to `support::CHANNEL`.
    OneChannel,
    /// Key k on service k, whose team has its own alert channel.
    ChannelPerKey,
}

fn storm_channel(k: usize) -> String {
    format!("C0STORM{k:02}")
}

fn storm_routing_key(k: usize) -> String {
    format!("{:032x}", 0x5707_0000 + k)
}

/// The test configuration's people, plus one team, channel and service per key.
fn channel_per_key_config() -> String {
    let mut c = String::from(
        "[[users]]\nid = \"alice\"\nname = \"Alice Example\"\nslack_id = \"U0ALICE\"\ntime_zone = \"Europe/London\"\n",
    );
    for k in 0..KEYS {
        c += &format!(
            "\n[[teams]]\nid = \"t{k}\"\nname = \"Team {k}\"\nmembers = [\"alice\"]\nalert_channel = \"{}\"\n",
            storm_channel(k)
        );
        c += &format!(
            "\n[[services]]\nid = \"s{k}\"\nname = \"Service {k}\"\nteam = \"t{k}\"\nintegration_key = \"{}\"\n",
            storm_routing_key(k)
        );
    }
    c
}

struct StormReport {
    sent_over: Duration,
    posts: usize,
    updates: usize,
    rate_limited: usize,
    /// Storm digests that named several new incidents ahead of their posts.
    digests: usize,
    /// Edits of a channel's latest message naming new incidents sooner still.
    notices: usize,
    /// Per incident, first 202 → the first message naming it (a digest or its own post), sorted.
    first_page_ms: Vec<f64>,
    /// The same for the key that opened first in each channel.
    first_in_channel_ms: Vec<f64>,
    min_post_gap: Option<Duration>,
    min_call_gap: Option<Duration>,
    drained_after: Duration,
    /// Each incident named later than 1 s after its first 202, and why.
    late: Vec<String>,
}

impl StormReport {
    fn within_1s(&self) -> usize {
        self.first_page_ms
            .iter()
            .filter(|ms| **ms <= 1000.0)
            .count()
    }

    fn print(&self, name: &str) {
        let gap = |g: Option<Duration>| {
            g.map_or("n/a".to_string(), |g| {
                format!("{:.0} ms", g.as_secs_f64() * 1e3)
            })
        };
        let first = &self.first_in_channel_ms;
        println!("{name}:");
        println!(
            "  {STORM_ALERTS} triggers sent over {:.2} s by {STORM_CLIENTS} clients",
            self.sent_over.as_secs_f64()
        );
        println!(
            "  incident posts {} (≤ {KEYS}), storm digests {}, storm notices (chat.update) {}, other chat.update {}, 429 from the per-channel limit {}",
            self.posts, self.digests, self.notices, self.updates, self.rate_limited
        );
        println!(
            "  smallest gap in one channel: between posts {}, between any two paced calls {}",
            gap(self.min_post_gap),
            gap(self.min_call_gap)
        );
        println!(
            "  first page after first 202: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {}/{KEYS} within 1 s",
            pct(&self.first_page_ms, 50),
            pct(&self.first_page_ms, 99),
            self.first_page_ms.last().unwrap(),
            self.within_1s()
        );
        println!(
            "  first incident of each channel ({}): p50 {:.1} ms, max {:.1} ms",
            first.len(),
            pct(first, 50),
            first.last().unwrap()
        );
        println!(
            "  outbox empty {:.1} s after the first trigger",
            self.drained_after.as_secs_f64()
        );
        for l in &self.late {
            println!("  later than 1 s: {l}");
        }
    }
}

async fn storm(layout: Layout) -> StormReport {
    let fake = FakeSlack::start().await;
    fake.enforce_channel_rate(Duration::from_secs(1));
    let config = match layout {
        Layout::OneChannel => support::CONFIG.to_string(),
        Layout::ChannelPerKey => channel_per_key_config(),
    };
    // The test environment switches pacing off; put back the default of 1 s.
    let t = TestApp::start_full(
        tempfile::tempdir().unwrap(),
        Some(&fake),
        &[("TOCSIN_SLACK_CHANNEL_INTERVAL_MS", "1000")],
        Clock::system(),
        &config,
    )
    .await;
    let url = format!("{}/v2/enqueue", t.base);
    // Earliest 202 seen for each key: its incident's first alert was durable by then.
    let first_ok: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; KEYS]));
    let step = STORM_SPAN / STORM_ALERTS as u32;
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..STORM_CLIENTS {
        let (url, first_ok) = (url.clone(), first_ok.clone());
        tasks.spawn(async move {
            let client = keep_alive_client();
            // Alert j is due at start + j × step, keys in round robin.
            for j in (c..STORM_ALERTS).step_by(STORM_CLIENTS) {
                tokio::time::sleep_until(start + step * j as u32).await;
                let k = j % KEYS;
                let mut body = trigger_body(&format!("storm-{k}"), &format!("Storm key {k}"));
                if layout == Layout::ChannelPerKey {
                    body["routing_key"] = json!(storm_routing_key(k));
                }
                send(&client, &url, body.to_string(), 202).await;
                let now = Instant::now();
                let mut f = first_ok.lock().unwrap();
                f[k] = Some(f[k].map_or(now, |t| t.min(now)));
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let start = start.into_std();
    let sent_over = start.elapsed();

    let store = &t.app().core().store;
    let end = Instant::now() + DRAIN_LIMIT;
    while !store.pending().await.unwrap().is_empty() {
        assert!(
            Instant::now() < end,
            "outbox not drained in {DRAIN_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drained_after = start.elapsed();

    let incidents = store.incidents().await.unwrap();
    assert_eq!(incidents.len(), KEYS, "one incident per key");
    assert_eq!(alerts_in(&incidents), STORM_ALERTS, "every alert counted");
    let key_of: HashMap<u64, usize> = incidents
        .iter()
        .map(|i| {
            let k = i.dedup_key.trim_start_matches("storm-").parse().unwrap();
            (i.id, k)
        })
        .collect();
    let alert_channels: HashSet<String> = match layout {
        Layout::OneChannel => HashSet::from([support::CHANNEL.to_string()]),
        Layout::ChannelPerKey => (0..KEYS).map(storm_channel).collect(),
    };
    let in_alert_channel =
        |c: &&support::Call| alert_channels.contains(c.body["channel"].as_str().unwrap_or(""));
    let all: Vec<support::Call> = fake
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| in_alert_channel(&c))
        .collect();
    // Each incident's own message carries its id in metadata; a storm digest
    // names several new incidents at once, ahead of their own messages.
    let (posts, digests): (Vec<support::Call>, Vec<support::Call>) =
        all.into_iter().partition(|c| !c.body["metadata"].is_null());
    // A storm notice edits the channel's latest message to name new incidents
    // sooner than the next message may go out; the other edits refresh an
    // incident's own message.
    let (notices, updates): (Vec<support::Call>, Vec<support::Call>) = fake
        .calls("chat.update")
        .into_iter()
        .partition(|c| c.body.to_string().contains(DIGEST_MARK));
    let names = |c: &support::Call, named: &str| match c.body["text"].as_str() {
        Some(t) if c.method == "chat.postMessage" => t.contains(named),
        _ => c.body.to_string().contains(named),
    };

    let first_ok = first_ok.lock().unwrap().clone();
    // An incident's own post: its id, and when it was first named (by a
    // notice, a digest or the post itself).
    let named_at = |p: &support::Call| -> (u64, Instant) {
        let id: u64 = p.body["metadata"]["event_payload"]["incident"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("incident posts carry their id in metadata");
        let named = format!("#{id} [");
        let first = digests
            .iter()
            .chain(&notices)
            .filter(|d| names(d, &named))
            .map(|d| d.at)
            .chain(std::iter::once(p.at))
            .min()
            .expect("its own post at least");
        (id, first)
    };
    let mut first_page_ms = vec![];
    // channel → (first 202 of the channel's first key, that key's delay)
    let mut first_in_channel: BTreeMap<String, (Instant, f64)> = BTreeMap::new();
    for p in &posts {
        let (id, first) = named_at(p);
        let ok = first_ok[key_of[&id]].expect("every key was sent");
        let ms = signed_ms(first, ok);
        first_page_ms.push(ms);
        let channel = p.body["channel"].as_str().unwrap().to_string();
        let e = first_in_channel.entry(channel).or_insert((ok, ms));
        if ok < e.0 {
            *e = (ok, ms);
        }
    }
    // Why an incident was named later than 1 s: where its first 202 fell
    // against its channel's first message, and when the next one arrived.
    let mut late = vec![];
    for p in &posts {
        let (id, named_at) = named_at(p);
        let ok = first_ok[key_of[&id]].unwrap();
        let channel = p.body["channel"].as_str().unwrap();
        let mut in_channel: Vec<Instant> = posts
            .iter()
            .chain(&digests)
            .filter(|c| c.body["channel"] == channel)
            .map(|c| c.at)
            .collect();
        in_channel.sort();
        let first = in_channel[0];
        if signed_ms(named_at, ok) > 1000.0 {
            late.push(format!(
                "#{id}: first 202 at {:+.2} ms from the channel's first message, named {:.2} ms after it",
                signed_ms(ok, first),
                signed_ms(named_at, first)
            ));
        }
    }
    late.sort();
    first_page_ms.sort_by(f64::total_cmp);
    let mut first_in_channel_ms: Vec<f64> = first_in_channel.values().map(|v| v.1).collect();
    first_in_channel_ms.sort_by(f64::total_cmp);

    let channel_of = |c: &support::Call| c.body["channel"].as_str().unwrap_or("").to_string();
    let min_post_gap = min_gap(posts.iter().chain(&digests).map(|c| (channel_of(c), c.at)));
    let min_call_gap = min_gap(
        posts
            .iter()
            .chain(&digests)
            .chain(updates.iter().filter(|c| in_alert_channel(c)))
            .map(|c| (channel_of(c), c.at)),
    );
    let report = StormReport {
        sent_over,
        posts: posts.len(),
        digests: digests.len(),
        notices: notices.len(),
        updates: updates.len(),
        rate_limited: fake.rate_limited(),
        first_page_ms,
        first_in_channel_ms,
        min_post_gap,
        min_call_gap,
        drained_after,
        late,
    };
    t.stop().await;
    report
}

/// How many alerts these incidents counted between them.
fn alerts_in(incidents: &[tocsin::domain::incident::Incident]) -> usize {
    incidents.iter().map(|i| i.alert_count as usize).sum()
}

/// The smallest time between two consecutive calls in the same channel.
fn min_gap(calls: impl Iterator<Item = (String, Instant)>) -> Option<Duration> {
    let mut by_channel: HashMap<String, Vec<Instant>> = HashMap::new();
    for (channel, at) in calls {
        by_channel.entry(channel).or_default().push(at);
    }
    by_channel
        .values_mut()
        .flat_map(|ats| {
            ats.sort();
            ats.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()
        })
        .min()
}

/// `later − earlier` in ms; negative when the fake saw the post before the client saw its 202.
fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(earlier - later).as_secs_f64() * 1e3,
    }
}

fn keep_alive_client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .build_http::<Full<Bytes>>()
}

async fn send(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &str,
    body: String,
    expect: u16,
) {
    let req = Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, expect, "{}", String::from_utf8_lossy(&bytes));
}

/// `TP_CLIENTS` clients, each on its own keep-alive connection, send
/// `TP_ALERTS` distinct alerts between them; returns alerts/s and per-request
/// p50/p99 in ms.
async fn drive(url: &str, expect: u16, body: fn(usize, usize) -> String) -> (f64, f64, f64) {
    let per_client = TP_ALERTS / TP_CLIENTS;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..TP_CLIENTS {
        let url = url.to_string();
        tasks.spawn(async move {
            let client = keep_alive_client();
            let mut lat = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let t0 = Instant::now();
                send(&client, &url, body(c, i), expect).await;
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
    all.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (
        all.len() as f64 / elapsed.as_secs_f64(),
        ms(all[all.len() / 2]),
        ms(all[all.len() * 99 / 100]),
    )
}

/// Alerts share one of this many components, so grouping makes this many
/// incidents (a prime, so every component also gets alerts that are not
/// suppressed).
const TP_COMPONENTS: usize = 997;

/// The test configuration with event rules and grouping on the service the
/// throughput bench sends to: the four rules of the rules test, tried in
/// order for every alert (every tenth alert comes from `env = dev` and is
/// suppressed; the others match none), and grouping by component within
/// 10 minutes.
fn rules_and_grouping_config() -> String {
    let grouping = "grouping = { window = \"10m\", key = \"{{ component }}\" }\n";
    support::with_api_settings(&format!("{grouping}{}", support::API_RULES))
}

/// Alert `i` of client `c`: its own dedup key; every tenth from `env = dev`.
fn tocsin_body(c: usize, i: usize) -> String {
    let n = c * (TP_ALERTS / TP_CLIENTS) + i;
    let mut body = trigger_body(&format!("c{c}-a{i}"), "bench alert");
    body["payload"]["component"] = json!(format!("shard-{}", n % TP_COMPONENTS));
    body["payload"]["custom_details"] = json!({
        "env": if n.is_multiple_of(10) { "dev" } else { "prod" },
        "customers": n % 200,
    });
    body.to_string()
}

/// One alert per request, as a JSON array of one; labels as distinct as the dedup keys above.
fn alertmanager_body(c: usize, i: usize) -> String {
    json!([{
        "labels": {"alertname": "BenchAlert", "instance": format!("c{c}-a{i}"), "severity": "critical"},
        "annotations": {"summary": "bench alert"},
        "generatorURL": "https://grafana.example.com/d/1"
    }])
    .to_string()
}

/// Alternates runs (tocsin, Alertmanager, tocsin, …) so drift in the shared
/// machine's load hits both alike; returns the two medians.
async fn throughput_beside_alertmanager() -> Option<(f64, f64)> {
    if !support::alertmanager_installed() {
        println!("throughput beside Alertmanager: skipped, {} is not installed (apt install prometheus-alertmanager)", support::ALERTMANAGER);
        return None;
    }
    let (mut ours, mut theirs) = (vec![], vec![]);
    for run in 1..=RUNS {
        let t = TestApp::start_full(
            tempfile::tempdir().unwrap(),
            None,
            &[],
            Clock::system(),
            &rules_and_grouping_config(),
        )
        .await;
        let (rate, p50, p99) = drive(&format!("{}/v2/enqueue", t.base), 202, tocsin_body).await;
        let incidents = t.app().core().store.incidents().await.unwrap();
        // Every tenth alert suppressed, the rest grouped by component.
        assert_eq!(incidents.len(), TP_COMPONENTS, "one incident per component");
        assert_eq!(
            alerts_in(&incidents),
            TP_ALERTS - TP_ALERTS / 10,
            "every alert not suppressed is counted"
        );
        t.stop().await;
        println!("throughput run {run}: tocsin       {rate:>6.0} alerts/s, p50 {p50:.2} ms, p99 {p99:.2} ms");
        ours.push(rate);

        let am = support::Alertmanager::start(NULL_RECEIVER).await;
        let (rate, p50, p99) =
            drive(&format!("{}/api/v2/alerts", am.url), 200, alertmanager_body).await;
        let (status, held) = support::get(&format!("{}/api/v2/alerts", am.url)).await;
        assert_eq!(status, 200);
        assert_eq!(
            held.as_array().map(Vec::len),
            Some(TP_ALERTS),
            "Alertmanager holds every alert"
        );
        println!("throughput run {run}: Alertmanager {rate:>6.0} alerts/s, p50 {p50:.2} ms, p99 {p99:.2} ms");
        theirs.push(rate);
    }
    let (a, b) = (median(&mut ours), median(&mut theirs));
    println!(
        "throughput (median of {RUNS}, {TP_CLIENTS} clients × {} alerts): tocsin {a:.0} alerts/s, Alertmanager {b:.0} alerts/s, tocsin/Alertmanager {:.2}",
        TP_ALERTS / TP_CLIENTS,
        a / b
    );
    Some((a, b))
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: usize) -> f64 {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
