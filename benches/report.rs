//! Report benchmarks, run with `cargo bench --bench report`:
//! - `report::compute` over 10,000 incidents in 90 days for one team
//!   (target < 100 ms);
//! - `report::charts::render_all` on the resulting report (target < 300 ms).
//!
//! The fixture is generated from a fixed seed: 6 services, 8 responders in
//! London, New York and Tokyo on a weekly rotation, acks and resolves at
//! delays from seconds to hours, 1–3 notices per incident. Each figure is the
//! median of 11 runs after a warm-up.

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::hint::black_box;
use std::time::Instant;
use tocsin::config::{Config, Urgency, Via};
use tocsin::domain::escalation::Escalation;
use tocsin::domain::incident::{
    Actor, AlertDetails, Incident, Notice, Page, Severity, Stamp, State,
};
use tocsin::domain::report::{charts, compute, Input};
use tocsin::domain::schedule::Shift;

const INCIDENTS: u64 = 10_000;
const DAYS: i64 = 90;
const RUNS: usize = 11;

const USERS: [(&str, &str, &str); 8] = [
    ("ana", "Ana Lopez", "Europe/London"),
    ("ben", "Ben Carter", "America/New_York"),
    ("cho", "Cho Tanaka", "Asia/Tokyo"),
    ("dev", "Dev Patel", "Europe/London"),
    ("eli", "Eli Brooks", "America/New_York"),
    ("fay", "Fay Mori", "Asia/Tokyo"),
    ("gus", "Gus Evans", "Europe/London"),
    ("hal", "Hal Moore", "America/New_York"),
];
/// (id, escalation policy, ack target in minutes)
const SERVICES: [(&str, bool, Option<u32>); 6] = [
    ("api", true, Some(5)),
    ("web", true, Some(15)),
    ("db", true, Some(5)),
    ("queue", false, None),
    ("search", false, Some(30)),
    ("billing", true, None),
];

fn config() -> Config {
    let mut toml = String::new();
    for (id, name, tz) in USERS {
        toml += &format!("[[users]]\nid = \"{id}\"\nname = \"{name}\"\ntime_zone = \"{tz}\"\n");
    }
    let members: Vec<String> = USERS.iter().map(|u| format!("\"{}\"", u.0)).collect();
    toml += &format!(
        "[[teams]]\nid = \"pay\"\nname = \"Payments\"\nmembers = [{}]\n",
        members.join(", ")
    );
    toml += "[[escalation_policies]]\nid = \"p\"\n\
             [[escalation_policies.levels]]\nafter_minutes = 0\ntargets = [\"user:ana\"]\n\
             [[escalation_policies.levels]]\nafter_minutes = 10\ntargets = [\"user:ben\"]\n";
    for (n, (id, policy, target)) in SERVICES.iter().enumerate() {
        toml += &format!(
            "[[services]]\nid = \"{id}\"\nname = \"{id}\"\nteam = \"pay\"\n\
             integration_key = \"{:032x}\"\n",
            n + 1
        );
        if *policy {
            toml += "escalation_policy = \"p\"\n";
        }
        if let Some(t) = target {
            toml += &format!("ack_target_minutes = {t}\n");
        }
    }
    Config::parse("bench.toml", &toml).expect("bench config")
}

/// A fixed-seed generator (SplitMix64), so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Seconds spread over several orders of magnitude, `lo` to `hi`.
    fn delay(&mut self, lo: f64, hi: f64) -> i64 {
        let u = self.below(1_000_000) as f64 / 1e6;
        (lo * (hi / lo).powf(u)) as i64
    }
}

fn on_call(from: DateTime<Utc>, at: DateTime<Utc>) -> &'static str {
    USERS[((at - from).num_days() / 7) as usize % USERS.len()].0
}

fn incidents(config: &Config, from: DateTime<Utc>) -> Vec<Incident> {
    let mut rng = Rng(42);
    let policy = config.policy("p").expect("policy").clone();
    let slack = |user: &str| Actor::Slack {
        user_id: format!("U{user}"),
    };
    (1..=INCIDENTS)
        .map(|id| {
            let (service, has_policy, _) = SERVICES[rng.below(SERVICES.len() as u64) as usize];
            let at = from + Duration::seconds(rng.below((DAYS * 86_400) as u64) as i64);
            let first = on_call(from, at);
            let second = USERS[(rng.below(USERS.len() as u64)) as usize].0;
            let ack = (rng.below(10) < 9).then(|| rng.delay(5.0, 7_200.0));
            let resolve =
                (rng.below(20) < 17).then(|| ack.unwrap_or(0) + rng.delay(60.0, 28_800.0));
            let escalated = has_policy && ack.is_none_or(|a| a > 600);
            let mut paged = vec![Page {
                user: first.into(),
                at,
                level: has_policy.then_some(0),
            }];
            let mut notices = vec![Notice {
                user: first.into(),
                via: Via::Slack,
                at,
            }];
            // An SMS half a minute later merges with the DM; a call after
            // five minutes is a second interruption.
            if rng.below(2) == 0 {
                notices.push(Notice {
                    user: first.into(),
                    via: Via::Sms,
                    at: at + Duration::seconds(30),
                });
            }
            if rng.below(4) == 0 {
                notices.push(Notice {
                    user: first.into(),
                    via: Via::Phone,
                    at: at + Duration::minutes(5),
                });
            }
            if escalated {
                let t = at + Duration::minutes(10);
                paged.push(Page {
                    user: second.into(),
                    at: t,
                    level: Some(1),
                });
                notices.push(Notice {
                    user: second.into(),
                    via: Via::Slack,
                    at: t,
                });
            }
            let severity = [
                Severity::Critical,
                Severity::Error,
                Severity::Warning,
                Severity::Info,
            ][rng.below(4) as usize];
            let stamp = |secs: i64, user: &str| Stamp {
                by: slack(user),
                at: at + Duration::seconds(secs),
            };
            Incident {
                id,
                service_id: service.into(),
                routing_key: format!("{:032x}", 1),
                dedup_key: format!("d{id}"),
                alert: AlertDetails {
                    summary: format!("{service} alert {id}"),
                    source: "bench".into(),
                    severity,
                    component: None,
                    group: None,
                    class: None,
                    custom_details: None,
                    links: vec![],
                    client: None,
                    client_url: None,
                },
                state: match (ack, resolve) {
                    (_, Some(_)) => State::Resolved,
                    (Some(_), None) => State::Acknowledged,
                    (None, None) => State::Triggered,
                },
                created_at: at,
                alert_count: 1 + rng.below(5) as u32,
                last_alert_at: at,
                acknowledged: ack.map(|s| stamp(s, first)),
                resolved: resolve.map(|s| stamp(s, first)),
                alert_channel: Some("CPAY".into()),
                escalation: has_policy.then(|| Escalation::start(policy.clone(), at)),
                paged,
                snoozed_until: None,
                urgency: Urgency::High,
                held: vec![],
                reminders: vec![],
                changes: vec![],
                alerts: vec![],
                call: None,
                flap_times: vec![],
                notices,
                flapping: false,
                coord: Default::default(),
                insight: Default::default(),
            }
        })
        .collect()
}

/// Weekly handoffs on Monday 09:00 UTC through the rotation.
fn shifts(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Shift> {
    let mut out = vec![];
    let mut start = from;
    while start < to {
        let end = (start + Duration::days(7)).min(to);
        out.push(Shift {
            user: Some(on_call(from, start).into()),
            start,
            end,
        });
        start = end;
    }
    out
}

fn median_ms(mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let config = config();
    let from = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
    let to = from + Duration::days(DAYS);
    let incidents = incidents(&config, from);
    let shifts = shifts(from, to);
    let input = Input {
        config: &config,
        team: "pay",
        from,
        to,
        incidents: &incidents,
        suppressed: 1_234,
        shifts: &shifts,
    };

    let report = compute(&input);
    assert_eq!(report.incidents, INCIDENTS as usize);
    let interruptions: u32 = report
        .responders
        .iter()
        .map(|r| r.interruptions.total())
        .sum();
    println!(
        "fixture: {} incidents, {} weeks, {} responders, {interruptions} interruptions",
        report.incidents,
        report.weekly.len(),
        report.responders.len()
    );

    let compute_ms = median_ms(|| {
        black_box(compute(black_box(&input)));
    });
    println!(
        "compute, 10,000 incidents over 90 days: median {compute_ms:.2} ms (target < 100 ms, {:.1}× under)",
        100.0 / compute_ms
    );

    let mut bytes = 0;
    let charts_ms = median_ms(|| {
        let charts = charts::render_all(black_box(&report)).expect("charts");
        bytes = charts.iter().map(|c| c.png.len()).sum();
        black_box(charts);
    });
    println!(
        "charts::render_all, 3 PNGs ({bytes} bytes): median {charts_ms:.2} ms (target < 300 ms, {:.1}× under)",
        300.0 / charts_ms
    );
}
