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
