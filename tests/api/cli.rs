//! The `tocsin` command line: check, manifest, and serve refusing a bad config.

use crate::support::CONFIG;
use std::process::Command;

fn tocsin(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(args)
        .env_remove("TOCSIN_CONFIG")
        .envs(envs.iter().copied())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_a_good_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tocsin.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let (code, out, err) = tocsin(&["check", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok (2 users, 1 teams"), "{out}");
}

#[test]
fn check_reports_every_problem_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let bad = CONFIG
        .replacen(
            "time_zone = \"Europe/London\"",
            "time_zone = \"Europe/Londn\"",
            1,
        )
        .replace(
            "members = [\"alice\", \"bob\"]",
            "members = [\"alice\", \"bob\", \"zed\"]",
        )
        .replace(
            "escalation_policy = \"platform-default\"",
            "escalation_policy = \"nope\"",
        )
        .replace(
            "integration_key = \"5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a\"",
            "integration_key = \"xyz\"",
        );
    std::fs::write(&path, &bad).unwrap();
    let (code, _, err) = tocsin(&["check", "--config", path.to_str().unwrap()], &[]);
    assert_ne!(code, 0);
    let file = path.display().to_string();
    let line_of = |needle: &str| bad.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (needle, field) in [
        ("Europe/Londn", "users[0].time_zone"),
        ("\"zed\"", "teams[0].members[2]"),
        ("\"nope\"", "services[1].escalation_policy"),
        ("\"xyz\"", "services[0].integration_key"),
    ] {
        let want = format!("{file}:{}:", line_of(needle));
        assert!(
            err.lines()
                .any(|l| l.starts_with(&want) && l.contains(field)),
            "no {want} … {field} in:\n{err}"
        );
    }
    assert!(err.contains("4 problem(s)"), "{err}");
}

#[test]
fn check_compiles_webhook_mappings_and_names_the_broken_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tocsin.toml");
    let config = CONFIG.replace(
        "integration_key = \"5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a\"\n",
        "integration_key = \"5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a\"\nwebhook = \"mytool\"\n",
    );
    std::fs::write(&path, config).unwrap();
    std::fs::create_dir(dir.path().join("integrations")).unwrap();
    let mapping = dir.path().join("integrations/mytool.toml");
    std::fs::write(
        &mapping,
        "title = 'payload.name'\n\nseverity = 'payload.level =='\n",
    )
    .unwrap();
    let (code, _, err) = tocsin(&["check", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("template integrations/mytool.toml, line 3: severity:"),
        "{err}"
    );
    std::fs::write(&mapping, "title = 'payload.name'\n").unwrap();
    let (code, out, err) = tocsin(&["check", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn check_on_a_missing_file_says_so() {
    let (code, _, err) = tocsin(&["check", "--config", "/nonexistent/tocsin.toml"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/tocsin.toml"), "{err}");
}

#[test]
fn manifest_is_json_built_from_commands_and_the_public_url() {
    let (code, out, err) = tocsin(
        &["manifest"],
        &[("TOCSIN_PUBLIC_URL", "https://oncall.example.com")],
    );
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["features"]["slash_commands"][0]["command"], "/incident");
    assert_eq!(
        m["settings"]["interactivity"]["request_url"],
        "https://oncall.example.com/slack/interactions"
    );
}

#[test]
fn serve_refuses_a_bad_config_and_a_bad_listen_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[[services]]\nid = \"api\"\n").unwrap();
    let data = dir.path().join("data");
    let (code, _, err) = tocsin(
        &["serve"],
        &[
            ("TOCSIN_CONFIG", path.to_str().unwrap()),
            ("TOCSIN_DATA", data.to_str().unwrap()),
            ("TOCSIN_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("bad.toml:"), "{err}");
    let (code, _, err) = tocsin(&["serve"], &[("TOCSIN_LISTEN", "not-an-address")]);
    assert_eq!(code, 2);
    assert!(err.contains("TOCSIN_LISTEN"), "{err}");
}

#[test]
fn the_shipped_example_config_passes_check() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/tocsin.example.toml");
    let (code, out, err) = tocsin(&["check", "--config", example], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 users"), "{out}");
}

#[test]
fn oncall_prints_who_and_shift_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tocsin.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let data = dir.path().join("data");
    let env = [
        ("TOCSIN_CONFIG", path.to_str().unwrap()),
        ("TOCSIN_DATA", data.to_str().unwrap()),
    ];
    let (code, out, err) = tocsin(&["oncall", "--at", "2026-11-25T10:00:00Z"], &env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "platform-primary: Bob Example");
    let (code, out, err) = tocsin(
        &[
            "oncall",
            "--schedule",
            "platform-primary",
            "--from",
            "2026-11-20T00:00:00Z",
            "--to",
            "2026-12-01T00:00:00Z",
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().skip(2).collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(
        rows[0].starts_with("Fri 2026-11-20 00:00 GMT  Mon 2026-11-23 09:00 GMT  Alice Example"),
        "{out}"
    );
    assert!(rows[1].contains("Bob Example"), "{out}");
    let (code, _, err) = tocsin(&["oncall", "--schedule", "nope"], &env);
    assert_ne!(code, 0);
    assert!(err.contains("no schedule `nope`"), "{err}");
    let (code, _, _) = tocsin(&["oncall", "--at", "yesterday"], &env);
    assert_ne!(code, 0, "a malformed --at is refused");
}
