//! `tocsin import` through the real binary: each vendor's export becomes a
//! config `tocsin check` accepts, and a PagerDuty schedule's own rendered
//! `final_schedule` is what `tocsin oncall --from --to` prints for it; and
//! people the config names by email only get their Slack id at start.

use crate::support::{FakeSlack, TestApp, CONFIG};
use chrono::{DateTime, FixedOffset};
use chrono_tz::Tz;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use tocsin::clock::Clock;

fn tocsin(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(args)
        .env_remove("TOCSIN_CONFIG")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/import/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Imports `export` into `dir/tocsin.toml` and checks it with `tocsin check`.
fn import_and_check(vendor: &str, export: &str, dir: &Path) -> (String, String) {
    let (code, toml, summary) = tocsin(&["import", vendor, export], &[]);
    assert_eq!(code, 0, "{summary}");
    let path = dir.join("tocsin.toml");
    std::fs::write(&path, &toml).unwrap();
    let (code, out, err) = tocsin(&["check", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}\n{toml}");
    assert!(out.contains(": ok ("), "{out}");
    (toml, summary)
}

#[test]
fn a_pagerduty_schedule_imports_to_the_shifts_pagerduty_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let (_, summary) = import_and_check("pagerduty", &fixture("pagerduty"), dir.path());
    assert!(
        summary.contains("imported from PagerDuty: 5 users"),
        "{summary}"
    );
    let export: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("pagerduty")).unwrap()).unwrap();
    let schedule = &export["schedules"][0];
    let tz: Tz = schedule["time_zone"].as_str().unwrap().parse().unwrap();
    let entries = schedule["final_schedule"]["rendered_schedule_entries"]
        .as_array()
        .unwrap();
    let at = |v: &Value| DateTime::<FixedOffset>::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let from = at(&entries[0]["start"]);
    let to = at(&entries[entries.len() - 1]["end"]);

    let path = dir.path().join("tocsin.toml");
    let data = dir.path().join("data");
    let env = [
        ("TOCSIN_CONFIG", path.to_str().unwrap()),
        ("TOCSIN_DATA", data.to_str().unwrap()),
    ];
    let (code, out, err) = tocsin(
        &[
            "oncall",
            "--schedule",
            "platform-primary",
            "--from",
            &from.to_rfc3339(),
            "--to",
            &to.to_rfc3339(),
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().skip(2).collect();
    let fmt = |t: DateTime<FixedOffset>| {
        t.with_timezone(&tz)
            .format("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let want: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{:<24}  {:<24}  {}",
                fmt(at(&e["start"])),
                fmt(at(&e["end"])),
                e["user"]["summary"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(rows, want, "tocsin:\n{out}");
}

#[test]
fn opsgenie_and_grafana_oncall_exports_import_to_configs_that_check() {
    let dir = tempfile::tempdir().unwrap();
    let (toml, summary) = import_and_check("opsgenie", &fixture("opsgenie"), dir.path());
    assert!(
        summary.contains("imported from Opsgenie: 3 users, 2 teams"),
        "{summary}"
    );
    assert!(toml.contains("# NOTE: Prometheus integration"), "{toml}");
    let (toml, summary) =
        import_and_check("grafana-oncall", &fixture("grafana-oncall"), dir.path());
    assert!(
        summary.contains("imported from Grafana OnCall: 3 users"),
        "{summary}"
    );
    assert!(summary.contains("From iCal"), "{summary}");
    assert!(toml.contains("slack_id = \"U0ALICE\""), "{toml}");
}

#[test]
fn a_broken_export_names_the_json_path_and_prints_no_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut export: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("pagerduty")).unwrap()).unwrap();
    export["schedules"][0]["schedule_layers"][1]["start"] = "yesterday".into();
    let path = dir.path().join("export.json");
    std::fs::write(&path, export.to_string()).unwrap();
    let (code, out, err) = tocsin(&["import", "pagerduty", path.to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("schedules[0].schedule_layers[1].start: `yesterday` is not an ISO 8601 time"),
        "{err}"
    );
    std::fs::write(&path, "{\"users\": [").unwrap();
    let (code, _, err) = tocsin(&["import", "opsgenie", path.to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("not JSON"), "{err}");
    let (code, _, err) = tocsin(&["import", "pagerduty", "/nonexistent/export.json"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read"), "{err}");
}

#[tokio::test]
async fn people_named_by_email_only_get_their_slack_id_at_start() {
    let fake = FakeSlack::start().await;
    let people = "[[users]]\nid = \"dave\"\nname = \"Dave Example\"\nemail = \"dave@example.com\"\n\n\
                  [[users]]\nid = \"zed\"\nname = \"Zed Example\"\nemail = \"zed@example.com\"\n\n[[teams]]";
    let config = CONFIG.replacen("[[teams]]", people, 1);
    let t = TestApp::start_full(
        tempfile::tempdir().unwrap(),
        Some(&fake),
        &[],
        Clock::system(),
        &config,
    )
    .await;
    let c = &t.app().core().config;
    assert_eq!(c.user("dave").unwrap().slack_id.as_deref(), Some("U0DAVE"));
    // Slack knows nobody by zed's email: zed stays without an id.
    assert_eq!(c.user("zed").unwrap().slack_id, None);
    // People with a Slack id in the config are not asked about.
    let asked: Vec<String> = fake
        .calls("users.lookupByEmail")
        .iter()
        .map(|c| c.body["email"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(asked, ["dave@example.com", "zed@example.com"]);
}
