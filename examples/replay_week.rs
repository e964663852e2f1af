//! A labelled noisy week of alerts for `tocsin replay`, generated from a
//! seed, so the fixture in `tests/fixtures/replay/` can be made again and
//! checked: `cargo run --example replay_week -- tests/fixtures/replay`
//! writes `alerts.jsonl` (the stream) and `labels.json` (which problem each
//! alert key belongs to). The replay test checks the committed files are
//! what this writes; `benches/replay.rs` uses it at 50,000 alerts.
//!
//! The week (Monday 2026-11-23 to Monday 2026-11-30, UTC) holds, on six
//! services that send in all four stream kinds:
//! - a flapping health check on `api` (three episodes of two hours);
//! - one outage of the core network on Wednesday that fans out into
//!   hundreds of distinct alerts on every service;
//! - recurring known noise (a cleanup job's retries, a certificate notice);
//! - low-urgency warnings on `batch` every night;
//! - test alerts people send to check an integration;
//! - two separate incidents at the same time on Thursday (`checkout`'s
//!   payment timeouts and `search`'s replica lag);
//! - ordinary problems spread over the week, each on one service.
//!
//! Every problem is labelled; two problems on one service are never within
//! an hour of each other, so a config that groups by time within a window
//! shorter than that has no excuse to merge them.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use tocsin::ingest::stream::{Kind, Received};

/// The services, their integration keys (as `tests/fixtures/replay/tocsin.toml`
/// names them) and how they send.
pub const SERVICES: [(&str, &str, Kind); 6] = [
    ("api", "a0000000000000000000000000000001", Kind::EventsV2),
    (
        "checkout",
        "a0000000000000000000000000000002",
        Kind::EventsV2,
    ),
    ("db", "a0000000000000000000000000000003", Kind::Alertmanager),
    ("search", "a0000000000000000000000000000004", Kind::Grafana),
    ("web", "a0000000000000000000000000000005", Kind::Webhook),
    ("batch", "a0000000000000000000000000000006", Kind::EventsV2),
];

/// The generated week.
pub struct Week {
    /// In received order.
    pub lines: Vec<Received>,
    /// Alert key (as the replay reports it in `dedup_keys`) → problem label.
    pub labels: BTreeMap<String, String>,
    /// Problem label → what it is (`flapping`, `outage`, `noise`,
    /// `night-warning`, `test`, `simultaneous`, `problem`).
    pub problems: BTreeMap<String, String>,
}

impl Week {
    /// The stream, one line each.
    pub fn jsonl(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            out.push_str(&l.to_line());
            out.push('\n');
        }
        out
    }

    /// The side file of labels.
    pub fn labels_json(&self) -> String {
        let v = json!({"problems": self.problems, "keys": self.labels});
        serde_json::to_string_pretty(&v).unwrap() + "\n"
    }

    /// Lines that ask for an alert (not a resolve).
    pub fn alerts(&self) -> usize {
        self.lines.iter().filter(|l| !is_resolve(l)).count()
    }
}

fn is_resolve(l: &Received) -> bool {
    l.body["event_action"] == "resolve"
        || l.body["status"] == "resolved"
        || l.body["alert_transition"] == "Recovered"
}

/// Volumes: the fixture's week is `Scale::FIXTURE`; the bench's is larger.
#[derive(Clone, Copy)]
pub struct Scale {
    /// Ordinary problems over the week.
    pub problems: usize,
    /// Most alerts one ordinary problem sends.
    pub per_problem: usize,
    /// Minutes between two of the cleanup job's noisy retries.
    pub noise_every_min: i64,
    /// Distinct alerts in the outage's fan-out.
    pub outage_alerts: usize,
}

impl Scale {
    pub const FIXTURE: Scale = Scale {
        problems: 60,
        per_problem: 12,
        noise_every_min: 20,
        outage_alerts: 420,
    };
    /// About 50,000 alerts.
    pub const BENCH: Scale = Scale {
        problems: 600,
        per_problem: 90,
        noise_every_min: 1,
        outage_alerts: 3000,
    };
}

/// A small seeded generator (SplitMix64), the same on every platform and
/// every version, unlike `rand`'s `StdRng`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

type T = chrono::DateTime<chrono::Utc>;

fn at(s: &str) -> T {
    s.parse().unwrap()
}

fn secs(t: T, s: i64) -> T {
    t + chrono::Duration::seconds(s)
}

/// One alert of an Alertmanager or Grafana group changing state.
struct GroupEvent {
    t: T,
    svc: &'static str,
    name: String,
    key: String,
    host: String,
    summary: String,
    severity: String,
    firing: bool,
}

/// How often Alertmanager sends a group that changed (its `group_interval`).
const GROUP_INTERVAL: i64 = 300;

struct Gen {
    rng: Rng,
    grouped: Vec<GroupEvent>,
    week: Week,
    /// Per service, when each labelled problem on it starts and ends.
    busy: BTreeMap<&'static str, Vec<(T, T)>>,
}

fn service(name: &str) -> (&'static str, &'static str, Kind) {
    *SERVICES.iter().find(|s| s.0 == name).unwrap()
}

impl Gen {
    fn label(&mut self, key: &str, problem: &str, kind: &str) {
        self.week
            .labels
            .insert(key.to_string(), problem.to_string());
        self.week
            .problems
            .insert(problem.to_string(), kind.to_string());
    }

    fn push(&mut self, t: T, svc: &str, body: Value) {
        let (_, key, kind) = service(svc);
        self.week.lines.push(Received {
            received_at: t,
            kind,
            key: key.to_string(),
            body,
        });
    }

    /// Marks `svc` busy with a problem from `from` to `to`.
    fn occupy(&mut self, svc: &'static str, from: T, to: T) {
        self.busy.entry(svc).or_default().push((from, to));
    }

    /// Whether a problem on `svc` from `from` to `to` keeps an hour away from
    /// every other one there.
    fn free(&self, svc: &str, from: T, to: T) -> bool {
        let hour = chrono::Duration::hours(1);
        self.busy
            .get(svc)
            .is_none_or(|b| b.iter().all(|(f, t)| to + hour <= *f || *t + hour <= from))
    }

    /// One alert firing (or, `firing` false, resolving) on `svc`, in the
    /// service's own format. `key` is the alert's identity.
    #[allow(clippy::too_many_arguments)]
    fn alert(
        &mut self,
        t: T,
        svc: &str,
        key: &str,
        summary: &str,
        severity: &str,
        host: &str,
        firing: bool,
    ) {
        let (_, ikey, kind) = service(svc);
        let body = match kind {
            Kind::EventsV2 if firing => json!({
                "routing_key": ikey,
                "event_action": "trigger",
                "dedup_key": key,
                "payload": {
                    "summary": summary,
                    "source": host,
                    "severity": severity,
                    "component": host,
                    "class": "check",
                    "custom_details": {"host": host, "env": "prod"}
                }
            }),
            Kind::EventsV2 => json!({
                "routing_key": ikey,
                "event_action": "resolve",
                "dedup_key": key
            }),
            Kind::Alertmanager | Kind::Grafana => {
                // Alertmanager and Grafana send a group's state, not single
                // alerts: gathered here, sent by `notify_groups`.
                let name = summary.split(':').next().unwrap_or(summary).to_string();
                self.grouped.push(GroupEvent {
                    t,
                    svc: service(svc).0,
                    name,
                    key: key.to_string(),
                    host: host.to_string(),
                    summary: summary.to_string(),
                    severity: severity.to_string(),
                    firing,
                });
                return;
            }
            Kind::Webhook => {
                let priority = match severity {
                    "critical" => "P1",
                    "error" => "P2",
                    "warning" => "P3",
                    _ => "P4",
                };
                json!({
                    "id": format!("{}", t.timestamp_millis()),
                    "title": format!("[{priority}] [{}] {summary}", if firing { "Triggered" } else { "Recovered" }),
                    "body": format!("{summary} on {host}"),
                    "date": format!("{}", t.timestamp_millis()),
                    "last_updated": format!("{}", t.timestamp_millis()),
                    "event_type": "query_alert_monitor",
                    "alert_id": "1000",
                    "alert_title": summary,
                    "alert_transition": if firing { "Triggered" } else { "Recovered" },
                    "alert_type": if firing { "error" } else { "success" },
                    "alert_priority": priority,
                    "alert_scope": format!("host:{host}"),
                    "aggreg_key": key,
                    "alert_cycle_key": key,
                    "hostname": host,
                    "link": "https://app.datadoghq.com/event/event?id=1",
                    "org": {"id": "1", "name": "Example"},
                    "tags": format!("env:prod,host:{host}")
                })
            }
        };
        self.push(t, svc, body);
    }

    /// A problem on `svc`: `n` distinct alerts from `start` over `span`
    /// seconds, each resolving `resolve_after` seconds after it fired.
    #[allow(clippy::too_many_arguments)]
    fn problem(
        &mut self,
        label: &str,
        kind: &str,
        svc: &'static str,
        start: T,
        span: i64,
        n: usize,
        summary: &str,
        severity: &str,
        resolve_after: i64,
    ) {
        for i in 0..n {
            let t = secs(start, (span * i as i64) / n.max(1) as i64);
            let host = format!("{svc}-{}", self.rng.below(40));
            let key = format!("{label}-{i}");
            self.alert(
                t,
                svc,
                &key,
                &format!("{summary}: {host}"),
                severity,
                &host,
                true,
            );
            self.label(&key, label, kind);
            self.alert(
                secs(t, resolve_after),
                svc,
                &key,
                summary,
                severity,
                &host,
                false,
            );
        }
        self.occupy(svc, start, secs(start, span + resolve_after));
    }
}

/// The week, from `seed`, at `scale`.
pub fn week(seed: u64, scale: Scale) -> Week {
    let mut g = Gen {
        rng: Rng(seed),
        grouped: vec![],
        week: Week {
            lines: vec![],
            labels: BTreeMap::new(),
            problems: BTreeMap::new(),
        },
        busy: BTreeMap::new(),
    };
    let monday = at("2026-11-23T00:00:00Z");
    let day = 86_400;

    // Flapping: the load balancer's health check on api fails and recovers
    // every few minutes, in three two-hour episodes.
    for start in [
        "2026-11-24T03:10:00Z",
        "2026-11-26T15:00:00Z",
        "2026-11-28T11:30:00Z",
    ] {
        let start = at(start);
        let mut t = start;
        while t < secs(start, 7200) {
            g.alert(
                t,
                "api",
                "lb-healthz",
                "Health check /healthz failing: lb-1",
                "error",
                "lb-1",
                true,
            );
            let down = 60 + g.rng.below(120) as i64;
            g.alert(
                secs(t, down),
                "api",
                "lb-healthz",
                "Health check /healthz failing",
                "error",
                "lb-1",
                false,
            );
            t = secs(t, down + 60 + g.rng.below(180) as i64);
        }
        g.occupy("api", start, secs(start, 7500));
    }
    g.label("lb-healthz", "flapping-healthz", "flapping");

    // The outage: the core network drops on Wednesday afternoon, and every
    // service fires for its hosts, in a burst and then a long tail.
    let outage = at("2026-11-25T14:05:00Z");
    let names: Vec<&'static str> = SERVICES.iter().map(|s| s.0).collect();
    for i in 0..scale.outage_alerts {
        let svc = *g.rng.pick(&names);
        let t = secs(
            outage,
            (g.rng.below(300) + g.rng.below(900) * (i as u64 % 3 / 2)) as i64,
        );
        let host = format!("{svc}-{}", i);
        let key = format!("outage-{svc}-{i}");
        let what = *g.rng.pick(&[
            "Connection refused to upstream",
            "Packet loss above 20%",
            "Health check timed out",
            "Replication stopped",
        ]);
        g.alert(
            t,
            svc,
            &key,
            &format!("{what}: {host}"),
            "critical",
            &host,
            true,
        );
        g.label(&key, "outage-core-network", "outage");
        let end = secs(outage, 3000 + g.rng.below(600) as i64);
        g.alert(end, svc, &key, what, "critical", &host, false);
    }
    for svc in names.iter().copied() {
        g.occupy(svc, outage, secs(outage, 3600));
    }

    // Two separate incidents at the same time, on Thursday morning.
    let both = at("2026-11-26T09:30:00Z");
    g.problem(
        "checkout-payment-timeouts",
        "simultaneous",
        "checkout",
        both,
        2400,
        60,
        "Payment provider timeouts",
        "error",
        1800,
    );
    g.problem(
        "search-replica-lag",
        "simultaneous",
        "search",
        both,
        2400,
        30,
        "Index replica lag above 5 min",
        "critical",
        1500,
    );

    // Low-urgency warnings on batch every night, 01:00 to 04:00 UTC.
    for d in 0..7 {
        let night = secs(monday, d * day + 3600);
        let label = format!("night-warning-{d}");
        for i in 0..20 {
            let t = secs(night, i * 540 + g.rng.below(120) as i64);
            let key = format!("{label}-{i}");
            g.alert(
                t,
                "batch",
                &key,
                "Queue depth above 1000: batch-1",
                "warning",
                "batch-1",
                true,
            );
            g.label(&key, &label, "night-warning");
            // The queue drains by 05:00 on weeknights; at weekends nobody
            // restarts the consumer, so the warnings stay open till Monday.
            if d < 5 {
                g.alert(
                    secs(night, 4 * 3600),
                    "batch",
                    &key,
                    "Queue depth",
                    "warning",
                    "batch-1",
                    false,
                );
            }
        }
        g.occupy("batch", night, secs(night, 3 * 3600));
    }

    // Recurring known noise: the cleanup job's retries on web all week, and
    // a daily certificate notice on api.
    let mut t = monday;
    let mut n = 0;
    while t < secs(monday, 7 * day) {
        let key = format!("noise-cleanup-{n}");
        g.alert(
            t,
            "web",
            &key,
            "Disk cleanup job retried",
            "warning",
            "web-cron",
            true,
        );
        g.label(&key, "noise-cleanup", "noise");
        n += 1;
        t = secs(t, scale.noise_every_min * 60);
    }
    for d in 0..7 {
        let key = format!("noise-cert-{d}");
        g.alert(
            secs(monday, d * day + 6 * 3600),
            "api",
            &key,
            "Certificate expires in 29 days",
            "info",
            "edge",
            true,
        );
        g.label(&key, "noise-cert", "noise");
    }

    // Test alerts, a few a day on every service.
    for i in 0..35 {
        let svc = *g.rng.pick(&names);
        let t = secs(monday, g.rng.below(7 * day as u64) as i64);
        let key = format!("test-{i}");
        g.alert(
            t,
            svc,
            &key,
            "TEST alert, please ignore",
            "critical",
            "laptop",
            true,
        );
        g.label(&key, "test-alerts", "test");
    }

    // Ordinary problems, each on one service, an hour clear of any other there.
    let mut placed = 0;
    let mut tries = 0;
    while placed < scale.problems && tries < scale.problems * 50 {
        tries += 1;
        let svc = *g.rng.pick(&names[..5]);
        let start = secs(monday, g.rng.below((7 * day - 7200) as u64) as i64);
        let n = 1 + g.rng.below(scale.per_problem as u64) as usize;
        let span = 60 + g.rng.below(1200) as i64;
        let resolve_after = 300 + g.rng.below(1500) as i64;
        if !g.free(svc, start, secs(start, span + resolve_after)) {
            continue;
        }
        let what = *g.rng.pick(&[
            "High latency p99 above 2s",
            "Error rate above 5%",
            "Disk usage above 90%",
            "Pod crash looping",
            "Memory usage above 95%",
        ]);
        let sev = *g.rng.pick(&["critical", "error", "error", "warning"]);
        let label = format!("problem-{placed}-{svc}");
        g.problem(
            &label,
            "problem",
            svc,
            start,
            span,
            n,
            what,
            sev,
            resolve_after,
        );
        placed += 1;
    }
    g.notify_groups();
    g.week.lines.sort_by_key(|l| l.received_at);
    g.week
}

impl Gen {
    /// Sends the Alertmanager and Grafana groups as they would: at the end
    /// of each `group_interval` in which a group changed, its firing alerts
    /// and those that resolved since the last notification.
    fn notify_groups(&mut self) {
        let mut events = std::mem::take(&mut self.grouped);
        events.sort_by(|a, b| (a.svc, &a.name, a.t).cmp(&(b.svc, &b.name, b.t)));
        let mut i = 0;
        while i < events.len() {
            let (svc, name) = (events[i].svc, events[i].name.clone());
            let mut firing: BTreeMap<String, (T, &GroupEvent)> = BTreeMap::new();
            while i < events.len() && events[i].svc == svc && events[i].name == name {
                let bucket = events[i].t.timestamp().div_euclid(GROUP_INTERVAL);
                let mut resolved: BTreeMap<String, (T, &GroupEvent)> = BTreeMap::new();
                while i < events.len()
                    && events[i].svc == svc
                    && events[i].name == name
                    && events[i].t.timestamp().div_euclid(GROUP_INTERVAL) == bucket
                {
                    let e = &events[i];
                    if e.firing {
                        firing.entry(e.key.clone()).or_insert((e.t, e));
                    } else if let Some((since, _)) = firing.remove(&e.key) {
                        resolved.insert(e.key.clone(), (since, e));
                    }
                    i += 1;
                }
                if firing.is_empty() && resolved.is_empty() {
                    continue;
                }
                let sent =
                    chrono::DateTime::from_timestamp((bucket + 1) * GROUP_INTERVAL, 0).unwrap();
                let body = group_body(svc, &name, sent, &firing, &resolved);
                self.push(sent, svc, body);
            }
        }
    }
}

/// A notification in Alertmanager's webhook format (version 4), or
/// Grafana's (version 1, a few fields more).
fn group_body(
    svc: &str,
    name: &str,
    sent: T,
    firing: &BTreeMap<String, (T, &GroupEvent)>,
    resolved: &BTreeMap<String, (T, &GroupEvent)>,
) -> Value {
    let (_, _, kind) = service(svc);
    let any = firing
        .values()
        .next()
        .or(resolved.values().next())
        .unwrap()
        .1;
    let alert = |(key, (since, e)): (&String, &(T, &GroupEvent)), status: &str| {
        json!({
            "status": status,
            "labels": {"alertname": name, "severity": e.severity, "job": svc, "instance": e.host},
            "annotations": {"summary": e.summary},
            "startsAt": since.to_rfc3339(),
            "endsAt": if status == "firing" { "0001-01-01T00:00:00Z".to_string() } else { sent.to_rfc3339() },
            "generatorURL": "http://prometheus.example:9090/graph",
            "fingerprint": key
        })
    };
    let alerts: Vec<Value> = firing
        .iter()
        .map(|a| alert(a, "firing"))
        .chain(resolved.iter().map(|a| alert(a, "resolved")))
        .collect();
    let status = if firing.is_empty() {
        "resolved"
    } else {
        "firing"
    };
    let mut body = json!({
        "version": if kind == Kind::Grafana { "1" } else { "4" },
        "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"),
        "status": status,
        "receiver": "tocsin",
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name, "severity": any.severity, "job": svc},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "truncatedAlerts": 0,
        "alerts": alerts
    });
    if kind == Kind::Grafana {
        body["title"] = format!("[{}] {name}", status.to_uppercase()).into();
        body["state"] = if firing.is_empty() { "ok" } else { "alerting" }.into();
        body["orgId"] = 1.into();
    }
    body
}

#[allow(dead_code)]
fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tests/fixtures/replay".into());
    let w = week(SEED, Scale::FIXTURE);
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("alerts.jsonl"), w.jsonl()).unwrap();
    std::fs::write(dir.join("labels.json"), w.labels_json()).unwrap();
    eprintln!(
        "{}: {} lines, {} alerts, {} labelled problems",
        dir.display(),
        w.lines.len(),
        w.alerts(),
        w.problems.len()
    );
}

/// The fixture's seed.
pub const SEED: u64 = 20261123;
