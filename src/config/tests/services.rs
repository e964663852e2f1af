//! Services, the order errors are reported in, their display, and loading a file.

use super::*;

#[test]
fn service_rules() {
    let services = |rest: &str| {
        format!(
            "[[teams]]\nid = \"t\"\nname = \"T\"\n[[escalation_policies]]\nid = \"p\"\nlevels = [{{ after_minutes = 0, targets = [\"schedule:nope\"] }}]\n{rest}"
        )
    };
    // The shared policy targets an unknown schedule on line 6, so every case expects that first.
    let p6 = (
        6,
        "escalation_policies[0].levels[0].targets[0]",
        "unknown schedule `nope`",
    );
    run(&[
        (
            "unknown team and policy",
            &services(
                "[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"u\"\nescalation_policy = \"q\"\nintegration_key = \"0123456789abcdef0123456789ABCDEF\"\n",
            ),
            &[
                p6,
                (10, "services[0].team", "unknown team `u`"),
                (
                    11,
                    "services[0].escalation_policy",
                    "unknown escalation policy `q`",
                ),
            ],
        ),
        (
            "bad integration key",
            &services(
                "[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdeg\"\n",
            ),
            &[
                p6,
                (11, "services[0].integration_key", "expected exactly 32 hex"),
            ],
        ),
        (
            "short integration key",
            &services(
                "[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"abc\"\n",
            ),
            &[p6, (11, "services[0].integration_key", "`abc`")],
        ),
        (
            "duplicate key ignoring case",
            &services(
                "[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n[[services]]\nid = \"s2\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"0123456789ABCDEF0123456789ABCDEF\"\n",
            ),
            &[
                p6,
                (
                    16,
                    "services[1].integration_key",
                    "already used by the service on line 11",
                ),
            ],
        ),
    ]);
}

#[test]
fn reports_every_problem_in_file_order() {
    let input = with_users(
        "[[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"ghost\"]\n[[users]]\nid = \"bob\"\nname = \"B2\"\nphone = \"12345\"\n",
    );
    run(&[(
        "three problems",
        &input,
        &[
            (10, "teams[0].members[0]", "unknown user `ghost`"),
            (
                12,
                "users[2].id",
                "duplicate id `bob` (first defined on line 5)",
            ),
            (14, "users[2].phone", "E.164"),
        ],
    )]);
}

#[test]
fn error_display_and_load() {
    let err = Config::parse("x.toml", "[[users]]\nid = \"\"\nname = \"A\"\n").unwrap_err();
    assert_eq!(err.to_string(), "x.toml:2:6: users[0].id: id is empty");
    let two = ConfigErrors(vec![err.0[0].clone(), err.0[0].clone()]);
    assert_eq!(two.to_string().lines().count(), 2);

    let missing = Path::new("/nonexistent/dir/tocsin.toml");
    let err = Config::load(missing).unwrap_err();
    assert_eq!((err.0.len(), err.0[0].line), (1, 0));
    assert!(err
        .to_string()
        .starts_with("/nonexistent/dir/tocsin.toml:0:0: cannot read config"));

    let path = std::env::temp_dir().join(format!("tocsin-config-test-{}.toml", std::process::id()));
    std::fs::write(&path, EXAMPLE).unwrap();
    let loaded = Config::load(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded.unwrap().services.len(), 1);
}

#[test]
fn email_addresses() {
    let service = |id: &str, key: &str, email: &str| {
        format!("[[services]]\nid = \"{id}\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"{key}\"\nemail = {email}\n")
    };
    let k1 = "0123456789abcdef0123456789abcdef";
    let k2 = "fedcba98765432100123456789abcdef";
    let two = |a: &str, b: &str| {
        format!(
            "[[teams]]\nid = \"t\"\nname = \"T\"\n{}{}",
            service("a", k1, a),
            service("b", k2, b)
        )
    };
    run(&[
        (
            "a local part and a table",
            &two(
                "\"DB-Alerts\"",
                "{ local_part = \"web\", severity = \"'info'\" }",
            ),
            &[],
        ),
        (
            "a table without an address",
            &two("{ title = \"subject\" }", "\"web\""),
            &[],
        ),
        (
            "two services, one address",
            &two("\"db\"", "{ local_part = \"DB\" }"),
            &[(
                15,
                "services[1].email.local_part",
                "already used by the service on line 9",
            )],
        ),
        (
            "not a local part",
            &two("\"db alerts\"", "\"web..x\""),
            &[
                (
                    9,
                    "services[0].email.local_part",
                    "`db alerts` is not a local part",
                ),
                (15, "services[1].email.local_part", "is not a local part"),
            ],
        ),
        (
            "an integration key as a local part",
            &two(&format!("\"{k2}\""), "\"web\""),
            &[(
                9,
                "services[0].email.local_part",
                "looks like an integration key",
            )],
        ),
        (
            "an unknown field",
            &two("{ local = \"db\" }", "\"web\""),
            &[(9, "services[0].email", "")],
        ),
    ]);
    let c = Config::parse(
        "t.toml",
        &two(
            "\"DB-Alerts\"",
            "{ local_part = \"web\", severity = \"'info'\" }",
        ),
    )
    .unwrap();
    let email = c.services[0].email.as_ref().unwrap();
    assert_eq!(email.local_part.as_deref(), Some("db-alerts"));
    let email = c.services[1].email.as_ref().unwrap();
    assert_eq!(email.severity.as_deref(), Some("'info'"));
}
