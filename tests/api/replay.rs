//! `tocsin replay` on the labelled noisy week in `tests/fixtures/replay/`:
//! the fixture is what its generator makes, the replay meets the targets
//! (compression, no labelled problem merged into another, no low-urgency
//! page at night) and gives the same bytes twice; `--compare` and bad input.

#[path = "../../examples/replay_week.rs"]
#[allow(dead_code)]
mod week;

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use tocsin::domain::report::{period, Period};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/replay")
        .join(name)
}

fn replay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .arg("replay")
        .args(args)
        .env_remove("TOCSIN_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_fixture_is_what_its_generator_makes() {
    let w = week::week(week::SEED, week::Scale::FIXTURE);
    let on_disk = std::fs::read_to_string(fixture("alerts.jsonl")).unwrap();
    assert!(
        on_disk == w.jsonl(),
        "tests/fixtures/replay/alerts.jsonl is stale: run `cargo run --example replay_week`"
    );
    let labels = std::fs::read_to_string(fixture("labels.json")).unwrap();
    assert!(labels == w.labels_json(), "labels.json is stale");
    let kinds: BTreeSet<String> = w.problems.values().cloned().collect();
    for kind in [
        "flapping",
        "outage",
        "noise",
        "night-warning",
        "test",
        "simultaneous",
        "problem",
    ] {
        assert!(kinds.contains(kind), "no {kind} in the week");
    }
    let outage = w
        .labels
        .values()
        .filter(|l| *l == "outage-core-network")
        .count();
    assert!(outage >= 300, "the outage fans out into {outage} alerts");
}

#[test]
fn the_labelled_week_replays_within_its_targets_and_twice_the_same() {
    let stream = fixture("alerts.jsonl");
    let config = fixture("tocsin.toml");
    let args = [
        stream.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
    ];
    // Two runs at once: the second is the determinism check.
    let (first, second) = std::thread::scope(|s| {
        let a = s.spawn(|| replay(&args));
        let b = s.spawn(|| replay(&args));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(first.0, 0, "{}", first.2);
    assert!(first.1 == second.1, "two replays differ");
    let report: Value = serde_json::from_str(&first.1).unwrap();

    let alerts = report["alerts"].as_u64().unwrap();
    let incidents = report["incidents"].as_u64().unwrap();
    let compression = report["compression"].as_f64().unwrap();
    assert!(alerts > 1000, "{alerts} alerts");
    assert!(compression >= 0.90, "compression {compression}");
    assert!(
        (compression - (1.0 - incidents as f64 / alerts as f64)).abs() < 1e-4,
        "{compression} from {incidents}/{alerts}"
    );
    assert_eq!(report["lines"]["refused"], 0, "{}", first.2);
    assert!(
        report["lines"]["dropped"].as_u64().unwrap() >= 30,
        "test alerts dropped"
    );
    assert!(
        report["lines"]["suppressed"].as_u64().unwrap() >= 300,
        "noise suppressed"
    );

    let labels: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("labels.json")).unwrap()).unwrap();
    let label_of = |key: &str| {
        labels["keys"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} has no label"))
            .to_string()
    };
    let zone: BTreeMap<&str, chrono_tz::Tz> = [
        ("alice", chrono_tz::Europe::London),
        ("bob", chrono_tz::America::New_York),
        ("chandra", chrono_tz::Asia::Kolkata),
        ("dana", chrono_tz::Europe::Berlin),
    ]
    .into();
    let mut incidents_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut low = 0;
    let mut low_pages = 0;
    for inc in report["incidents_detail"].as_array().unwrap() {
        let keys: Vec<&str> = inc["dedup_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let problems: BTreeSet<String> = keys.iter().map(|k| label_of(k)).collect();
        assert_eq!(
            problems.len(),
            1,
            "incident {} merges distinct problems: {problems:?}",
            inc["id"]
        );
        *incidents_of
            .entry(problems.into_iter().next().unwrap())
            .or_default() += 1;
        if inc["urgency"] == "low" {
            low += 1;
            for p in inc["pages"].as_array().unwrap() {
                low_pages += 1;
                let at: DateTime<Utc> = p["at"].as_str().unwrap().parse().unwrap();
                let tz = zone[p["user"].as_str().unwrap()];
                assert_ne!(
                    period(at, tz),
                    Period::Sleep,
                    "low-urgency incident {} paged {} at night ({at})",
                    inc["id"],
                    p["user"]
                );
            }
        }
    }
    assert!(low >= 7, "{low} low-urgency incidents");
    assert!(low_pages > 0, "the weekend's warnings page on Monday");
    // The outage is one problem: an incident per service, not per host.
    let outage = incidents_of["outage-core-network"];
    assert!(
        (6..=12).contains(&outage),
        "the outage opened {outage} incidents"
    );
    assert!(incidents_of.contains_key("checkout-payment-timeouts"));
    assert!(incidents_of.contains_key("search-replica-lag"));
    assert!(incidents_of["flapping-healthz"] <= 6, "{incidents_of:?}");
    for absent in ["noise-cleanup", "noise-cert", "test-alerts"] {
        assert!(
            !incidents_of.contains_key(absent),
            "{absent} opened incidents"
        );
    }
    // Everyone the week paged appears, split by part of their day.
    let pages = report["pages"].as_object().unwrap();
    assert!(pages.contains_key("alice"), "{pages:?}");
    assert!(report["worst_night"]["pages"].as_u64().unwrap() > 0);
    assert!(report["time_to_first_page"]["count"].as_u64().unwrap() > 0);
}

/// A short stream: one Events v2 alert at 02:00 London, resolved an hour later.
const SHORT: &str = r#"{"received_at":"2026-11-24T02:00:00Z","kind":"events_v2","key":"a0000000000000000000000000000001","body":{"routing_key":"a0000000000000000000000000000001","event_action":"trigger","dedup_key":"x1","payload":{"summary":"Error rate above 5%","source":"api-1","severity":"error"}}}
{"received_at":"2026-11-24T02:01:00Z","kind":"events_v2","key":"a0000000000000000000000000000001","body":{"routing_key":"a0000000000000000000000000000001","event_action":"trigger","dedup_key":"x2","payload":{"summary":"Error rate above 5%","source":"api-2","severity":"error"}}}
{"received_at":"2026-11-24T03:00:00Z","kind":"events_v2","key":"a0000000000000000000000000000001","body":{"routing_key":"a0000000000000000000000000000001","event_action":"resolve","dedup_key":"x1"}}
"#;

#[test]
fn compare_shows_two_configs_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("alerts.jsonl");
    std::fs::write(&stream, SHORT).unwrap();
    // The same config without grouping: each alert its own incident.
    let base = std::fs::read_to_string(fixture("tocsin.toml")).unwrap();
    let ungrouped = dir.path().join("ungrouped.toml");
    std::fs::write(
        &ungrouped,
        base.replacen("grouping = { window = \"15m\" }\n", "", 1),
    )
    .unwrap();
    let config = fixture("tocsin.toml");
    let (code, out, err) = replay(&[
        stream.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--compare",
        ungrouped.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in\n{out}"))
            .split_whitespace()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
    };
    // Columns are config, then compare; read from the right.
    assert_eq!(row("incidents opened"), ["2", "1"], "{out}");
    assert_eq!(row("alerts in"), ["2", "2"], "{out}");
    let (code, out, err) = replay(&[
        stream.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--compare",
        ungrouped.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["incidents"], 1);
    assert_eq!(v["compare"]["incidents"], 2);
    assert_eq!(v["config"], config.to_str().unwrap());
    assert_eq!(v["compare"]["config"], ungrouped.to_str().unwrap());
    // Bob is on call (21:00 in New York: his evening), paged at once in
    // Slack; Alice, the next level, 20 minutes later in Slack and by SMS
    // five minutes after that, at 02:20 London: her sleep.
    let pages = &v["incidents_detail"][0]["pages"];
    let page = |i: usize| {
        let p = &pages[i];
        (
            p["at"].as_str().unwrap(),
            p["user"].as_str().unwrap(),
            p["via"].as_str().unwrap(),
        )
    };
    assert_eq!(page(0), ("2026-11-24T02:00:00Z", "bob", "slack"), "{pages}");
    assert_eq!(
        page(1),
        ("2026-11-24T02:20:00Z", "alice", "slack"),
        "{pages}"
    );
    assert_eq!(page(2), ("2026-11-24T02:25:00Z", "alice", "sms"), "{pages}");
    assert!(
        v["pages"]["alice"]["sleep"].as_u64().unwrap() >= 2,
        "{}",
        v["pages"]
    );
    assert!(
        v["pages"]["bob"]["off"].as_u64().unwrap() >= 1,
        "{}",
        v["pages"]
    );
    assert_eq!(
        v["incidents_detail"][0]["dedup_keys"],
        serde_json::json!(["x1", "x2"])
    );
}

#[test]
fn a_line_that_is_not_the_format_is_named_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("alerts.jsonl");
    let bad = SHORT.replacen("\"kind\":\"events_v2\"", "\"kind\":\"smtp\"", 2);
    std::fs::write(&stream, bad).unwrap();
    let config = fixture("tocsin.toml");
    let (code, out, err) = replay(&[
        stream.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("alerts.jsonl:1: unknown variant `smtp`"),
        "{err}"
    );
    std::fs::write(&stream, SHORT).unwrap();
    let (code, _, err) = replay(&[stream.to_str().unwrap(), "--config", "/nonexistent.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.toml"), "{err}");
}
