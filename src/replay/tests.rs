//! Replays are deterministic: the same stream and config give the same
//! bytes, whatever the stream holds.

use super::*;
use crate::ingest::stream::Kind;
use proptest::prelude::*;

const CONFIG: &str = r#"
[[users]]
id = "alice"
name = "Alice"
slack_id = "U1"
time_zone = "Europe/London"
phone = "+447700900001"
notify = [{ after_minutes = 0, via = "slack" }, { after_minutes = 5, via = "sms" }]
[[users]]
id = "bob"
name = "Bob"
slack_id = "U2"
time_zone = "America/New_York"
[[teams]]
id = "t"
name = "T"
members = ["alice", "bob"]
alert_channel = "C1"
[[schedules]]
id = "s"
team = "t"
time_zone = "Europe/London"
[[schedules.layers]]
name = "daily"
start = "2026-11-02T09:00:00"
rotation = "daily"
users = ["alice", "bob"]
[[escalation_policies]]
id = "p"
repeat = 1
[[escalation_policies.levels]]
after_minutes = 0
targets = ["schedule:s"]
[[escalation_policies.levels]]
after_minutes = 10
targets = ["user:alice"]
[[services]]
id = "api"
name = "API"
team = "t"
escalation_policy = "p"
integration_key = "a0000000000000000000000000000001"
grouping = { window = "10m" }
flapping = { count = 1, window = "30m" }
[[services]]
id = "batch"
name = "Batch"
team = "t"
escalation_policy = "p"
integration_key = "a0000000000000000000000000000002"
urgency = "low"
"#;

/// (seconds after the start, service, key, trigger or resolve, severity)
fn line(at: u32, svc: bool, key: u8, resolve: bool, severity: u8) -> Received {
    let ikey = if svc {
        "a0000000000000000000000000000001"
    } else {
        "a0000000000000000000000000000002"
    };
    let severity = ["critical", "error", "warning", "info"][severity as usize % 4];
    let body = if resolve {
        serde_json::json!({"routing_key": ikey, "event_action": "resolve", "dedup_key": format!("k{key}")})
    } else {
        serde_json::json!({"routing_key": ikey, "event_action": "trigger", "dedup_key": format!("k{key}"),
            "payload": {"summary": format!("alert {key}"), "source": "h", "severity": severity}})
    };
    Received {
        received_at: "2026-11-23T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
            + Duration::seconds(at.into()),
        kind: Kind::EventsV2,
        key: ikey.into(),
        body,
    }
}

fn replayed(config: &Config, lines: &[Received]) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mappings = Arc::new(Mappings::load(config, None).unwrap());
    let (summary, _) = rt.block_on(run(config, mappings, lines)).unwrap();
    json(&[("c".into(), summary)])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn two_replays_of_a_stream_give_the_same_bytes(
        events in proptest::collection::vec(
            (0u32..2 * 86_400, any::<bool>(), 0u8..6, any::<bool>(), 0u8..4), 0..40)
    ) {
        let config = Config::parse("t.toml", CONFIG).unwrap();
        let lines: Vec<Received> = events
            .iter()
            .map(|&(at, svc, key, resolve, sev)| line(at, svc, key, resolve, sev))
            .collect();
        let a = replayed(&config, &lines);
        let b = replayed(&config, &lines);
        prop_assert_eq!(&a, &b);
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        let triggers = events.iter().filter(|e| !e.3).count();
        prop_assert_eq!(v["alerts"].as_u64(), Some(triggers as u64));
        prop_assert!(v["incidents"].as_u64().unwrap() <= triggers as u64);
    }
}

#[test]
fn an_empty_stream_replays_to_nothing() {
    let config = Config::parse("t.toml", CONFIG).unwrap();
    let v: serde_json::Value = serde_json::from_str(&replayed(&config, &[])).unwrap();
    assert_eq!(v["alerts"], 0);
    assert_eq!(v["incidents"], 0);
    assert_eq!(v["pages"], serde_json::json!({}));
}

#[test]
fn a_stream_that_is_not_the_format_names_its_line() {
    let good = line(0, true, 1, false, 0).to_line();
    let text = format!("{good}\n\n{good}\n{{\"received_at\": 1}}\n");
    let e = read_stream("s.jsonl", &text).unwrap_err().to_string();
    assert!(e.starts_with("s.jsonl:4: "), "{e}");
    assert_eq!(
        read_stream("s.jsonl", &format!("{good}\n\n{good}"))
            .unwrap()
            .len(),
        2
    );
}
