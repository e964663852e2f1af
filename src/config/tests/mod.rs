//! Tests of the whole file: the documented example, then one file per area,
//! each table-driven through `check`/`run`.

mod features;
mod fields;
mod people;
mod schedules;
mod services;

use super::fields::*;
use super::*;
use chrono::{Duration, NaiveDate, NaiveTime};
use chrono_tz::Tz;

const EXAMPLE: &str = r#"
[[users]]
id = "alice"                 # stable id used everywhere below
name = "Alice Example"
slack_id = "U0ALICE"
time_zone = "Europe/London"
phone = "+447700900001"
email = "a@example.com"

[[users]]
id = "bob"
name = "Bob"

[[users]]
id = "carol"
name = "Carol"
time_zone = "America/New_York"

[[teams]]
id = "platform"
name = "Platform"
leads = ["alice"]
members = ["alice", "bob", "carol"]
alert_channel = "C0PLATFORM"
stakeholder_channel = "C0EXEC"

[[schedules]]
id = "platform-primary"
team = "platform"
time_zone = "Europe/London"
[[schedules.layers]]
name = "weekly"
start = "2026-11-02T09:00:00"
rotation = "weekly"
handoff = "09:00"
users = ["alice", "bob", "carol"]
restrictions = [{ days = "mon-fri", from = "09:00", to = "18:00" }]
[[schedules.layers]]
name = "nights"
start = 2026-11-02T18:00:00
rotation = "1h30m"
users = ["bob"]
restrictions = [{ days = "mon,wed-fri", from = "22:00", to = "06:00" }, { days = "sat,sun", from = "00:00", to = "00:00" }]

[[escalation_policies]]
id = "platform-default"
repeat = 2
[[escalation_policies.levels]]
after_minutes = 0
targets = ["schedule:platform-primary"]
[[escalation_policies.levels]]
after_minutes = 15
targets = ["user:alice"]

[[services]]
id = "api"
name = "Public API"
team = "platform"
escalation_policy = "platform-default"
integration_key = "5F0C1E9A7B3D4C2E8F6A0B1C2D3E4F5A"
"#;

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

#[test]
fn full_example_parses_with_right_values() {
    let c = Config::parse("tocsin.toml", EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
    let alice = c.user("alice").unwrap();
    assert_eq!(alice.name, "Alice Example");
    assert_eq!(alice.slack_id.as_deref(), Some("U0ALICE"));
    assert_eq!(alice.time_zone, chrono_tz::Europe::London);
    assert_eq!(alice.phone.as_deref(), Some("+447700900001"));
    assert_eq!(alice.email.as_deref(), Some("a@example.com"));
    assert_eq!(c.user("bob").unwrap().time_zone, Tz::UTC);
    assert_eq!(
        c.user("carol").unwrap().time_zone,
        chrono_tz::America::New_York
    );

    let team = c.team("platform").unwrap();
    assert_eq!(team.leads, ["alice"]);
    assert_eq!(team.members, ["alice", "bob", "carol"]);
    assert_eq!(team.alert_channel.as_deref(), Some("C0PLATFORM"));
    assert_eq!(team.stakeholder_channel.as_deref(), Some("C0EXEC"));

    let s = c.schedule("platform-primary").unwrap();
    assert_eq!(s.team, "platform");
    assert_eq!(s.time_zone, chrono_tz::Europe::London);
    let weekly = &s.layers[0];
    let start = NaiveDate::from_ymd_opt(2026, 11, 2)
        .unwrap()
        .and_time(hm(9, 0));
    assert_eq!(weekly.start, start);
    assert_eq!(weekly.rotation, Rotation::Weekly);
    assert_eq!(weekly.handoff, hm(9, 0));
    assert_eq!(weekly.users, ["alice", "bob", "carol"]);
    assert_eq!(
        weekly.restrictions,
        [Restriction::daily(
            [true, true, true, true, true, false, false],
            hm(9, 0),
            hm(18, 0)
        )]
    );
    let nights = &s.layers[1];
    assert_eq!(
        nights.start.time(),
        hm(18, 0),
        "bare TOML datetime accepted"
    );
    assert_eq!(nights.handoff, hm(18, 0), "handoff defaults to start time");
    assert_eq!(nights.rotation, Rotation::Every(Duration::minutes(90)));
    assert_eq!(
        nights.restrictions[0].days,
        [true, false, true, true, true, false, false]
    );
    assert_eq!(
        nights.restrictions[1].days,
        [false, false, false, false, false, true, true]
    );

    let p = c.policy("platform-default").unwrap();
    assert_eq!(p.repeat, 2);
    assert_eq!(
        p.levels,
        [
            EscalationLevel {
                after_minutes: 0,
                targets: vec![Target::Schedule("platform-primary".into())]
            },
            EscalationLevel {
                after_minutes: 15,
                targets: vec![Target::User("alice".into())]
            },
        ]
    );

    let api = c.service("api").unwrap();
    assert_eq!(api.integration_key, "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a");
    assert_eq!(api.escalation_policy.as_deref(), Some("platform-default"));
    let by_key = c
        .service_by_key("5F0C1E9A7B3D4C2E8F6A0B1C2D3E4F5A")
        .unwrap();
    assert_eq!(by_key.id, "api");
    assert!(c
        .service_by_key("00000000000000000000000000000000")
        .is_none());
    assert_eq!(c.team_of_service("api").unwrap().id, "platform");
    assert!(c.team_of_service("nope").is_none());
}

#[test]
fn empty_file_is_empty_config() {
    assert_eq!(Config::parse("f", ""), Ok(Config::default()));
    assert_eq!(Config::parse("f", "# nothing yet\n"), Ok(Config::default()));
}

/// Parses `input` and asserts exactly `expected` errors as (line, field, message fragment).
fn check(name: &str, input: &str, expected: &[(usize, &str, &str)]) -> Result<(), String> {
    let got = match Config::parse("t.toml", input) {
        Ok(_) => Vec::new(),
        Err(ConfigErrors(errs)) => errs,
    };
    let matches = got.len() == expected.len()
        && got.iter().zip(expected).all(|(g, (line, field, msg))| {
            g.line == *line && g.field == *field && g.message.contains(msg) && g.column > 0
        });
    if matches {
        Ok(())
    } else {
        let got: Vec<String> = got.iter().map(|e| format!("  {e}")).collect();
        Err(format!(
            "{name}: expected {expected:?}, got:\n{}",
            got.join("\n")
        ))
    }
}

/// (name, input, expected errors as (line, field, message fragment)).
type Case<'a> = (&'a str, &'a str, &'a [(usize, &'a str, &'a str)]);

fn run(cases: &[Case]) {
    let failures: Vec<String> = (cases.iter())
        .filter_map(|(name, input, expected)| check(name, input, expected).err())
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// Two known users, reused by cases that need someone to reference.
const USERS: &str =
    "[[users]]\nid = \"alice\"\nname = \"A\"\n[[users]]\nid = \"bob\"\nname = \"B\"\n";

fn with_users(rest: &str) -> String {
    format!("{USERS}{rest}")
}
