//! Schedule math benchmarks, run with `cargo bench --bench schedule`:
//! - `on_call_at` on a 3-layer schedule with restrictions and 50 overrides
//!   (target < 5 µs per lookup);
//! - `shifts` for a year of the same schedule (target < 5 ms).
//!
//! Each figure is the median of 11 timed batches after a warm-up.

use chrono::{Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use std::hint::black_box;
use std::time::Instant;
use tocsin::config::{Layer, Restriction, Rotation, Schedule};
use tocsin::domain::schedule::{on_call_at, shifts, Override};

fn schedule() -> Schedule {
    let start = NaiveDate::from_ymd_opt(2026, 1, 5)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    let users = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let weekdays = [true, true, true, true, true, false, false];
    Schedule {
        id: "bench".into(),
        team: "t".into(),
        time_zone: chrono_tz::Europe::London,
        layers: vec![
            Layer {
                name: "weekly".into(),
                start,
                rotation: Rotation::Weekly,
                handoff: t(9),
                users: users(&["a", "b", "c", "d"]),
                restrictions: vec![],
            },
            Layer {
                name: "nights".into(),
                start,
                rotation: Rotation::Daily,
                handoff: t(18),
                users: users(&["e", "f", "g"]),
                restrictions: vec![Restriction::daily(weekdays, t(18), t(8))],
            },
            Layer {
                name: "business".into(),
                start,
                rotation: Rotation::Every(Duration::hours(12)),
                handoff: t(9),
                users: users(&["h", "i"]),
                restrictions: vec![
                    Restriction::daily(weekdays, t(9), t(12)),
                    Restriction::daily(weekdays, t(13), t(17)),
                ],
            },
        ],
    }
}

fn overrides() -> Vec<Override> {
    let base = Utc.with_ymd_and_hms(2026, 1, 10, 0, 0, 0).unwrap();
    (0..50)
        .map(|i| {
            let start = base + Duration::days(i * 7) + Duration::hours(i % 24);
            Override {
                user: format!("o{i}"),
                start,
                end: start + Duration::hours(8),
            }
        })
        .collect()
}

fn median_of(batches: usize, mut f: impl FnMut() -> f64) -> f64 {
    f();
    let mut v: Vec<f64> = (0..batches).map(|_| f()).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let s = schedule();
    let o = overrides();
    let year_start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();

    const LOOKUPS: i64 = 20_000;
    let per_lookup_us = median_of(11, || {
        let t0 = Instant::now();
        for i in 0..LOOKUPS {
            // Spread instants over the year (every ~26 minutes).
            let at = year_start + Duration::seconds(i * 1577);
            black_box(on_call_at(black_box(&s), black_box(&o), at));
        }
        t0.elapsed().as_secs_f64() * 1e6 / LOOKUPS as f64
    });
    println!("on_call_at, 3 layers + restrictions + 50 overrides: median {per_lookup_us:.3} µs/lookup (target < 5 µs)");

    let year_end = year_start + Duration::days(365);
    let mut count = 0;
    let per_year_ms = median_of(11, || {
        let t0 = Instant::now();
        let list = shifts(black_box(&s), black_box(&o), year_start, year_end);
        count = list.len();
        t0.elapsed().as_secs_f64() * 1e3
    });
    println!("shifts for a year of the same schedule ({count} shifts): median {per_year_ms:.3} ms (target < 5 ms)");
}
