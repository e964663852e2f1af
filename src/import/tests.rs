//! The importers against exports in the vendors' documented shapes, and
//! broken exports: an error naming the JSON path, never a panic.

use super::*;
use crate::config::{Rotation, Target};
use proptest::prelude::*;
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/import/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn keys() -> impl FnMut() -> String {
    let mut n = 0u32;
    move || {
        n += 1;
        format!("{n:032x}")
    }
}

fn import(vendor: Vendor, text: &str) -> Result<Imported, ImportError> {
    run(vendor, text, &mut keys())
}

fn config(imported: &Imported) -> Config {
    Config::parse("imported.toml", &imported.toml).unwrap()
}

#[test]
fn pagerduty_people_teams_schedules_policies_services() {
    let out = import(Vendor::PagerDuty, &fixture("pagerduty")).unwrap();
    let c = config(&out);
    assert_eq!(c.users.len(), 5);
    let carol = c.users.iter().find(|u| u.name == "Carol Example").unwrap();
    assert_eq!(carol.id, "carol");
    assert_eq!(carol.phone.as_deref(), Some("+447700900003"));
    assert_eq!(carol.email.as_deref(), Some("carol@example.com"));
    assert_eq!(carol.slack_id, None);

    let platform = c.teams.iter().find(|t| t.id == "platform").unwrap();
    assert_eq!(platform.members.len(), 5);
    let payments = c.teams.iter().find(|t| t.id == "payments").unwrap();
    assert_eq!(payments.members, ["erin"]);

    let primary = c
        .schedules
        .iter()
        .find(|s| s.id == "platform-primary")
        .unwrap();
    assert_eq!(primary.team, "platform");
    // The ended layer is left out; the highest PagerDuty layer comes last.
    let names: Vec<&str> = primary.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["Weekly", "Nights", "Weekend days"]);
    let weekly = &primary.layers[0];
    assert_eq!(weekly.rotation, Rotation::Weekly);
    // Started mid-turn: anchored on the turn in progress, Carol's.
    assert_eq!(weekly.start.to_string(), "2026-11-16 09:00:00");
    assert_eq!(weekly.users[0], "carol");
    assert_eq!(primary.layers[1].rotation, Rotation::Daily);
    let twelve = &c
        .schedules
        .iter()
        .find(|s| s.id == "payments")
        .unwrap()
        .layers[0];
    assert_eq!(
        twelve.rotation,
        Rotation::Every(chrono::Duration::hours(12))
    );

    let policy = &c.escalation_policies[0];
    assert_eq!(policy.repeat, 2);
    assert_eq!(policy.levels[0].after_minutes, 0);
    assert_eq!(
        policy.levels[0].targets,
        [Target::Schedule("platform-primary".into())]
    );
    // The second level fires the first level's delay after it.
    assert_eq!(policy.levels[1].after_minutes, 15);
    assert_eq!(policy.levels[1].targets, [Target::User("alice".into())]);

    let api = c.services.iter().find(|s| s.id == "public-api").unwrap();
    assert_eq!(api.integration_key, "4c3a7b1e9d2f40a8b6c5d4e3f2a1b0c9");
    let pay = c.services.iter().find(|s| s.id == "payments").unwrap();
    assert_eq!(pay.integration_key, format!("{:032x}", 1));
    // No team on the service: the team of the schedule its policy pages.
    assert_eq!(pay.team, "imported");

    for note in [
        "# NOTE: layer \"Weekly (before the edit)\" ended at",
        "# NOTE: level 2: target user_reference PXGONE9 was not imported",
        "# NOTE: email integration \"Cron mail\" (cron@acme.pagerduty.com)",
        "# NOTE: integration \"CloudWatch\" (aws_cloudwatch_inbound_integration)",
        "# NOTE: urgency rule `use_support_hours`",
        "# NOTE: a new integration key",
    ] {
        assert!(out.toml.contains(note), "{note}\n{}", out.toml);
    }
    assert!(
        out.summary[0].contains("5 users, 3 teams, 2 schedules (4 layers)"),
        "{:?}",
        out.summary
    );
    assert!(out
        .summary
        .iter()
        .any(|l| l.contains("5 users have no Slack id")));
}

#[test]
fn opsgenie_rotations_escalations_integrations() {
    let out = import(Vendor::Opsgenie, &fixture("opsgenie")).unwrap();
    let c = config(&out);
    let alice = c.users.iter().find(|u| u.id == "alice").unwrap();
    assert_eq!(alice.phone.as_deref(), Some("+447700900001"));
    let team = &c.teams[0];
    assert_eq!(
        (team.id.as_str(), team.leads.as_slice()),
        ("platform", &["alice".to_string()][..])
    );
    assert_eq!(team.members.len(), 3);
    let s = &c.schedules[0];
    assert_eq!(s.id, "platform_schedule");
    // The ended rotation is left out; Opsgenie's first rotation comes last.
    let names: Vec<&str> = s.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["Weekend", "Weekly"]);
    assert_eq!(s.layers[1].users, ["alice", "bob"]);
    assert_eq!(s.layers[1].start.to_string(), "2026-11-02 09:00:00");
    assert_eq!(s.layers[0].restrictions[0].close_after_days, 3);
    let p = &c.escalation_policies[0];
    let at: Vec<u32> = p.levels.iter().map(|l| l.after_minutes).collect();
    // Rules at 0, 5, 15 and 60 minutes from the alert: gaps of 5, 10 and 45.
    assert_eq!(at, [0, 5, 10, 45]);
    assert_eq!(p.levels[3].targets, [Target::Team("platform".into())]);
    assert_eq!(p.repeat, 2);
    assert_eq!(c.services.len(), 3);
    assert!(c.services.iter().all(|s| s.escalation_policy.as_deref()
        == Some("platform_escalation")
        || s.id == "ops-mail"));
    for note in [
        "# NOTE: participant (none) is not a person in the export: left out",
        "# NOTE: rotation \"Old\" ends at",
        "# NOTE: rule 2: notify type `next` is paged as the whole schedule",
        "# NOTE: Prometheus integration: point the tool at tocsin's Opsgenie-compatible API",
        "# NOTE: Opsgenie pages everyone on call in any rotation at once",
    ] {
        assert!(out.toml.contains(note), "{note}\n{}", out.toml);
    }
}

#[test]
fn grafana_oncall_shifts_chains_integrations() {
    let out = import(Vendor::GrafanaOnCall, &fixture("grafana-oncall")).unwrap();
    let c = config(&out);
    let slack: Vec<Option<&str>> = c.users.iter().map(|u| u.slack_id.as_deref()).collect();
    assert_eq!(slack, [Some("U0ALICE"), None, Some("U0CAROL")]);
    let s = &c.schedules[0];
    let names: Vec<&str> = s.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["Weekly rotation", "Weekday evenings"]);
    assert_eq!(s.layers[0].users, ["alice", "bob"]);
    // Started from the second person; on call 18:00 to 21:00 on weekdays.
    assert_eq!(s.layers[1].users, ["bob", "carol"]);
    let w = &s.layers[1].restrictions[0];
    assert_eq!(w.days, [true, true, true, true, true, false, false]);
    assert_eq!(w.from.to_string(), "18:00:00");
    assert_eq!(w.to.to_string(), "21:00:00");
    let team = c.teams.iter().find(|t| t.id == "platform").unwrap();
    assert!(
        team.members.contains(&"carol".to_string()),
        "{:?}",
        team.members
    );
    let p = &c.escalation_policies[0];
    assert_eq!(p.levels.len(), 2);
    assert_eq!(p.levels[1].after_minutes, 15);
    assert_eq!(p.levels[1].targets, [Target::User("alice".into())]);
    assert_eq!(p.repeat, 1);
    assert_eq!(c.services.len(), 2);
    assert!(
        out.summary.iter().any(|l| l.contains("From iCal")),
        "{:?}",
        out.summary
    );
    for note in [
        "# NOTE: 2 people share a turn in Grafana OnCall",
        "# NOTE: shift \"Cover for the offsite\" is a single event",
        "# NOTE: step `notify_user_group` has no tocsin equivalent",
        "/integrations/grafana/",
        "/integrations/alertmanager/",
    ] {
        assert!(out.toml.contains(note), "{note}\n{}", out.toml);
    }
}

/// A change that breaks an export.
type Breaker = Box<dyn Fn(&mut Value)>;

#[test]
fn broken_exports_name_the_json_path() {
    let base: Value = serde_json::from_str(&fixture("pagerduty")).unwrap();
    let cases: Vec<(Breaker, &str)> = vec![
        (Box::new(|v| v["users"] = json!({})), "users: expected an array, found an object"),
        (Box::new(|v| v["users"][2]["id"] = json!(7)), "users[2].id: expected a string, found a number"),
        (
            Box::new(|v| v["schedules"][0]["time_zone"] = json!("Mars/Olympus")),
            "schedules[0].time_zone: unknown time zone `Mars/Olympus`",
        ),
        (
            Box::new(|v| v["schedules"][0]["schedule_layers"][1]["start"] = json!("yesterday")),
            "schedules[0].schedule_layers[1].start: `yesterday` is not an ISO 8601 time",
        ),
        (
            Box::new(|v| {
                v["schedules"][0]["schedule_layers"][0]["restrictions"][0]["start_day_of_week"] =
                    json!(9)
            }),
            "schedules[0].schedule_layers[0].restrictions[0].start_day_of_week: a day of the week is 1",
        ),
        (
            Box::new(|v| v["schedules"][0]["schedule_layers"][2]["rotation_turn_length_seconds"] = json!(-5)),
            "schedules[0].schedule_layers[2].rotation_turn_length_seconds: expected a whole number of at least 0",
        ),
        (
            Box::new(|v| v["escalation_policies"][0]["escalation_rules"][0]["targets"][0] = json!("PSCHED1")),
            "escalation_policies[0].escalation_rules[0].targets[0]: expected an object, found a string",
        ),
        (Box::new(|v| *v = json!([])), "$: expected an object"),
    ];
    for (vendor, name, break_it, want) in [
        (
            Vendor::Opsgenie,
            "opsgenie",
            json!({"/schedules/0/rotations/1/timeRestriction/restrictions/0/startDay": "someday"}),
            "schedules[0].rotations[1].timeRestriction.restrictions[0].startDay: `someday` is not a day",
        ),
        (
            Vendor::Opsgenie,
            "opsgenie",
            json!({"/escalations/0/rules/3/delay/timeUnit": "fortnights"}),
            "escalations[0].rules[3].delay.timeUnit: unknown time unit `fortnights`",
        ),
        (
            Vendor::GrafanaOnCall,
            "grafana-oncall",
            json!({"/on_call_shifts/1/by_day/2": "XX"}),
            "on_call_shifts[1].by_day[2]: `XX` is not a day",
        ),
        (
            Vendor::GrafanaOnCall,
            "grafana-oncall",
            json!({"/on_call_shifts/0/start": "soon"}),
            "on_call_shifts[0].start: `soon` is not a local time",
        ),
    ] {
        let mut v: Value = serde_json::from_str(&fixture(name)).unwrap();
        for (p, x) in break_it.as_object().unwrap() {
            *v.pointer_mut(p).unwrap() = x.clone();
        }
        let e = import(vendor, &v.to_string()).unwrap_err();
        assert!(e.to_string().starts_with(want), "{e}\nwanted {want}");
    }
    for (break_it, want) in cases {
        let mut v = base.clone();
        break_it(&mut v);
        let e = import(Vendor::PagerDuty, &v.to_string()).unwrap_err();
        assert!(e.to_string().starts_with(want), "{e}\nwanted {want}");
    }
    let e = import(Vendor::PagerDuty, "{\"users\": [").unwrap_err();
    assert!(e.to_string().starts_with("$: not JSON:"), "{e}");
    // An empty export is a valid, empty config.
    let out = import(Vendor::PagerDuty, "{}").unwrap();
    assert!(config(&out).users.is_empty());
}

/// Any JSON value, nested a few levels, biased toward the keys the readers look for.
fn arb_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "id",
        "name",
        "type",
        "users",
        "user",
        "teams",
        "schedules",
        "schedule_layers",
        "escalation_policies",
        "escalation_rules",
        "targets",
        "services",
        "integrations",
        "time_zone",
        "start",
        "end",
        "rotation_virtual_start",
        "rotation_turn_length_seconds",
        "restrictions",
        "start_time_of_day",
        "duration_seconds",
        "start_day_of_week",
        "email",
        "integration_key",
        "num_loops",
        "escalation_delay_in_minutes",
        "contact_methods",
        "username",
        "fullName",
        "timezone",
        "rotations",
        "participants",
        "startDate",
        "endDate",
        "length",
        "timeRestriction",
        "restriction",
        "startHour",
        "endHour",
        "startDay",
        "endDay",
        "escalations",
        "rules",
        "recipient",
        "delay",
        "timeAmount",
        "timeUnit",
        "ownerTeam",
        "members",
        "role",
        "on_call_shifts",
        "shifts",
        "rolling_users",
        "frequency",
        "interval",
        "escalation_chains",
        "escalation_chain_id",
        "position",
        "duration",
        "by_day",
        "level",
        "rotation_start",
        "persons_to_notify",
        "notify_on_call_from_schedule",
        "default_route",
        "team_id",
        "slack",
        "user_id",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (0u64..700_000).prop_map(|n| json!(n)),
        prop::sample::select(vec![
            "daily_restriction",
            "weekly_restriction",
            "America/New_York",
            "2026-11-02T09:00:00Z",
            "09:00:00",
            "schedule_reference",
            "user_reference",
            "PX1",
            "",
            "events_api_v2_inbound_integration",
            "4c3a7b1e9d2f40a8b6c5d4e3f2a1b0c9",
            "weekly",
            "daily",
            "hourly",
            "user",
            "schedule",
            "team",
            "time-of-day",
            "weekday-and-time-of-day",
            "monday",
            "rolling_users",
            "recurrent_event",
            "wait",
            "notify_persons",
            "2026-11-02T09:00:00",
            "MO",
            "Europe/London",
        ])
        .prop_map(|s| json!(s)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever the export holds, an import is a config that checks or an
    /// error with a path; it never panics.
    #[test]
    fn imports_never_panic(v in arb_json()) {
        for vendor in [Vendor::PagerDuty, Vendor::Opsgenie, Vendor::GrafanaOnCall] {
            match import(vendor, &v.to_string()) {
                Ok(out) => prop_assert!(Config::parse("i.toml", &out.toml).is_ok()),
                Err(e) => {
                    prop_assert!(!e.path.is_empty());
                    prop_assert!(!e.message.contains("does not pass its own check"), "{}", e);
                }
            }
        }
    }

    /// Damaging one value of a real export gives an error naming a path in
    /// the export, or a config that checks.
    #[test]
    fn damaged_exports_fail_with_a_path(
        which in 0..3usize,
        pick in any::<prop::sample::Index>(),
        with in arb_json(),
    ) {
        let (vendor, name) = [
            (Vendor::PagerDuty, "pagerduty"),
            (Vendor::Opsgenie, "opsgenie"),
            (Vendor::GrafanaOnCall, "grafana-oncall"),
        ][which];
        let mut v: Value = serde_json::from_str(&fixture(name)).unwrap();
        let mut paths = vec![];
        collect_paths(&v, String::new(), &mut paths);
        let target = pick.get(&paths).clone();
        *pointer_mut(&mut v, &target) = with;
        match import(vendor, &v.to_string()) {
            Ok(out) => prop_assert!(Config::parse("i.toml", &out.toml).is_ok()),
            Err(e) => prop_assert!(!e.message.contains("does not pass its own check"), "{}", e),
        }
    }
}

fn collect_paths(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                collect_paths(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_paths(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn pointer_mut<'a>(v: &'a mut Value, p: &str) -> &'a mut Value {
    v.pointer_mut(p).expect("a path collected from this value")
}
