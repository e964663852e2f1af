//! Engine benchmarks, run with `cargo bench --bench escalation`:
//! 1. 10,000 open incidents whose escalation steps fall due over 20 s: how
//!    late each step runs (target p99 < 1 s), measured from the page's
//!    recorded time against its due time;
//! 2. the cost of an idle engine pass with those 10,000 incidents open;
//! 3. restart with 10,000 steps already due: time until the engine caught up.

#[path = "../tests/api/support.rs"]
#[allow(dead_code)]
mod support;

use chrono::{DateTime, Duration, Utc};
use std::time::Instant;
use support::TestApp;
use tocsin::config::{EscalationLevel, EscalationPolicy, Target};
use tocsin::domain::escalation::Escalation;
use tocsin::domain::incident::{AlertDetails, Severity};
use tocsin::store::{NewAlert, Store};

const N: usize = 10_000;

fn policy() -> EscalationPolicy {
    EscalationPolicy {
        id: "bench".into(),
        repeat: 0,
        levels: vec![EscalationLevel {
            after_minutes: 0,
            targets: vec![Target::User("alice".into())],
        }],
    }
}

fn details() -> AlertDetails {
    AlertDetails {
        summary: "bench".into(),
        source: "bench".into(),
        severity: Severity::Critical,
        component: None,
        group: None,
        class: None,
        custom_details: None,
        links: vec![],
        client: None,
        client_url: None,
    }
}

/// Opens `N` incidents (dedup keys `{prefix}-{i}`) whose first step is due at `due(i)`.
async fn seed(store: &Store, prefix: &str, due: impl Fn(usize) -> DateTime<Utc>) {
    let now = Utc::now();
    for i in 0..N {
        let key = format!("{prefix}-{i}");
        let mut esc = Escalation::start(policy(), now);
        esc.next_at = Some(whole_millis(due(i)));
        store
            .trigger(&NewAlert {
                routing_key: support::PAGED_KEY,
                service_id: "payments",
                dedup_key: &key,
                alert: details(),
                custom_details: None,
                alert_channel: None,
                escalation: Some(esc),
                urgency: tocsin::config::Urgency::High,
                at: now,
                alerts: vec![],
                changes: vec![],
                join_within: None,
                member_keys: vec![],
                flapping: None,
                room: None,
                insight: Default::default(),
            })
            .await
            .unwrap();
    }
}

/// Due times are kept in whole milliseconds, as the engine keeps them.
fn whole_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let rt = support::bench_runtime();
    rt.block_on(async {
        // 1. Steps spread over 20 s, starting 3 s from now.
        let t = TestApp::start(None).await;
        let core = t.app().core().clone();
        let start = whole_millis(Utc::now() + Duration::seconds(3));
        let due = |i: usize| start + Duration::milliseconds((i as i64 * 20_000) / N as i64);
        let seeded = Instant::now();
        seed(&core.store, "bench", due).await;
        println!("seeded {N} incidents in {:.2} s", seeded.elapsed().as_secs_f64());
        core.engine_wake.notify_one();
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        while core.store.next_due().await.unwrap().is_some_and(|t| t <= start + Duration::seconds(20))
            && Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let mut lateness: Vec<f64> = core
            .store
            .incidents()
            .await.unwrap()
            .iter()
            .filter_map(|inc| {
                let i: usize = inc.dedup_key.strip_prefix("bench-")?.parse().ok()?;
                let paged = inc.paged.first()?.at;
                Some((paged - due(i)).num_microseconds()? as f64 / 1e3)
            })
            .collect();
        assert_eq!(lateness.len(), N, "every step ran");
        let (p50, p99, max) =
            (percentile(&mut lateness, 0.5), percentile(&mut lateness, 0.99), percentile(&mut lateness, 1.0));
        println!("step lateness over {N} steps due across 20 s: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms (target p99 < 1000 ms)");

        // 2. Idle passes: 10,000 incidents open, nothing due for a minute.
        let mut passes = vec![];
        for _ in 0..21 {
            let t0 = Instant::now();
            tocsin::engine::pass(&core).await.unwrap();
            passes.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        println!("idle engine pass with {N} open incidents: median {:.3} ms", percentile(&mut passes, 0.5));
        drop(core);
        let dir = t.stop().await;

        // 3. Restart with 10,000 steps already due.
        let store_dir = dir.path().join("data");
        {
            let store = Store::open(&store_dir, 64 << 20).unwrap();
            let now = Utc::now();
            // New dedup keys: the first batch is still open under the old ones.
            seed(&store, "restart", |i| now - Duration::seconds(1) - Duration::milliseconds(i as i64 % 1000)).await;
            store.flush().unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let restarted = Instant::now();
        let t = TestApp::start_in(dir, None, &[]).await;
        let core = t.app().core().clone();
        while core.store.next_due().await.unwrap().is_some_and(|t| t <= Utc::now()) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        println!(
            "restart with {N} steps due: caught up {:.2} s after start",
            restarted.elapsed().as_secs_f64()
        );
        drop(core);
        t.stop().await;
    });
}
