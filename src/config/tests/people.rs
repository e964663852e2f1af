//! Whole-file errors, ids, users, teams and their incident-channel settings.

use super::*;

#[test]
fn toml_level_errors() {
    run(&[
        (
            "syntax",
            "[[users]]\nid = \"x\nname = \"X\"\n",
            &[(2, "users[0].id", "string")],
        ),
        (
            "unknown top-level key",
            "[[users]]\nid = \"a\"\nname = \"A\"\n[[userz]]\nid = \"b\"\n",
            &[(4, "userz[0]", "unknown field `userz`")],
        ),
        (
            "unknown nested key",
            "[[users]]\nid = \"a\"\nname = \"A\"\n[[users]]\nid = \"b\"\nnmae = \"B\"\n",
            &[(6, "users[1].nmae", "unknown field `nmae`")],
        ),
        (
            "type error",
            "[[escalation_policies]]\nid = \"p\"\nrepeat = -1\n",
            &[(3, "escalation_policies[0].repeat", "-1")],
        ),
        (
            "missing field",
            "[[users]]\nid = \"a\"\n",
            &[(1, "users[0]", "missing field `name`")],
        ),
        (
            "nested array index resets per parent",
            "[[escalation_policies]]\nid = \"a\"\n[[escalation_policies.levels]]\nafter_minutes = 0\n[[escalation_policies]]\nid = \"b\"\n[[escalation_policies.levels]]\nbogus = 1\n",
            &[(
                8,
                "escalation_policies[1].levels[0].bogus",
                "unknown field `bogus`",
            )],
        ),
    ]);
}

#[test]
fn id_rules() {
    run(&[
        (
            "duplicate user",
            "[[users]]\nid = \"a\"\nname = \"A\"\n[[users]]\nid = \"a\"\nname = \"A2\"\n",
            &[(
                5,
                "users[1].id",
                "duplicate id `a` (first defined on line 2)",
            )],
        ),
        (
            "empty id",
            "[[users]]\nid = \"\"\nname = \"A\"\n",
            &[(2, "users[0].id", "id is empty")],
        ),
        (
            "bad id chars",
            "[[teams]]\nid = \"plat form\"\nname = \"P\"\n",
            &[(2, "teams[0].id", "contains ` `")],
        ),
        (
            "duplicate team",
            "[[teams]]\nid = \"t\"\nname = \"T\"\n[[teams]]\nid = \"t\"\nname = \"T\"\n",
            &[(5, "teams[1].id", "duplicate id `t`")],
        ),
        (
            "duplicate schedule",
            "[[teams]]\nid = \"t\"\nname = \"T\"\n[[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"UTC\"\n[[schedules.layers]]\nname = \"l\"\nstart = \"2026-01-01T00:00\"\nrotation = \"daily\"\nusers = []\n[[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"UTC\"\nlayers = []\n",
            &[
                (12, "schedules[0].layers[0].users", "layer has no users"),
                (13, "schedules[1].layers", "schedule has no layers"),
                (14, "schedules[1].id", "duplicate id `s`"),
            ],
        ),
        (
            "duplicate policy",
            "[[escalation_policies]]\nid = \"p\"\nlevels = [{ after_minutes = 0, targets = [\"user:x\"] }]\n[[escalation_policies]]\nid = \"p\"\n",
            &[
                (
                    3,
                    "escalation_policies[0].levels[0].targets[0]",
                    "unknown user `x`",
                ),
                (4, "escalation_policies[1].levels", "has no levels"),
                (5, "escalation_policies[1].id", "duplicate id `p`"),
            ],
        ),
        (
            "duplicate service",
            "[[teams]]\nid = \"t\"\nname = \"T\"\n[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"00000000000000000000000000000001\"\n[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"00000000000000000000000000000002\"\n",
            &[(10, "services[1].id", "duplicate id `s`")],
        ),
    ]);
}

#[test]
fn user_field_rules() {
    run(&[
        (
            "bad user time zone",
            "[[users]]\nid = \"a\"\nname = \"A\"\ntime_zone = \"Europe/Londn\"\n",
            &[(
                4,
                "users[0].time_zone",
                "`Europe/Londn`: use an IANA name such as \"Europe/London\"",
            )],
        ),
        (
            "time zone case hint",
            "[[users]]\nid = \"a\"\nname = \"A\"\ntime_zone = \"europe/paris\"\n",
            &[(4, "users[0].time_zone", "\"Europe/Paris\"")],
        ),
        (
            "phone no plus",
            "[[users]]\nid = \"a\"\nname = \"A\"\nphone = \"07700900001\"\n",
            &[(4, "users[0].phone", "E.164")],
        ),
        (
            "phone too short",
            "[[users]]\nid = \"a\"\nname = \"A\"\nphone = \"+4477\"\n",
            &[(4, "users[0].phone", "E.164")],
        ),
        (
            "phone letters",
            "[[users]]\nid = \"a\"\nname = \"A\"\nphone = \"+44770090000x\"\n",
            &[(4, "users[0].phone", "E.164")],
        ),
        (
            "bad email",
            "[[users]]\nid = \"a\"\nname = \"A\"\nemail = \"nobody\"\n",
            &[(4, "users[0].email", "invalid email")],
        ),
    ]);
}

#[test]
fn team_rules() {
    run(&[
        (
            "unknown member",
            &with_users(
                "[[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"alice\", \"dave\"]\n",
            ),
            &[(10, "teams[0].members[1]", "unknown user `dave`")],
        ),
        (
            "unknown lead",
            &with_users(
                "[[teams]]\nid = \"t\"\nname = \"T\"\nleads = [\"zed\"]\nmembers = [\"alice\"]\n",
            ),
            &[(10, "teams[0].leads[0]", "unknown user `zed`")],
        ),
        (
            "lead not member",
            &with_users(
                "[[teams]]\nid = \"t\"\nname = \"T\"\nleads = [\"bob\"]\nmembers = [\"alice\"]\n",
            ),
            &[(
                10,
                "teams[0].leads[0]",
                "lead `bob` is not listed in members",
            )],
        ),
        (
            "open_to_workspace not a boolean",
            &with_users(
                "[[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"alice\"]\nopen_to_workspace = \"yes\"\n",
            ),
            &[(11, "teams[0].open_to_workspace", "expected a boolean")],
        ),
    ]);
    let open = Config::parse(
        "t.toml",
        &with_users("[[teams]]\nid = \"t\"\nname = \"T\"\nopen_to_workspace = true\n"),
    )
    .unwrap();
    assert!(open.teams[0].open_to_workspace);
    let closed = Config::parse(
        "t.toml",
        &with_users("[[teams]]\nid = \"t\"\nname = \"T\"\n"),
    )
    .unwrap();
    assert!(!closed.teams[0].open_to_workspace, "closed unless asked");
}

#[test]
fn room_settings_rules() {
    // Lines 1-6 users, 7 [[teams]], 8 id, 9 name, then the case's lines.
    let team = |rest: &str| with_users(&format!("[[teams]]\nid = \"t\"\nname = \"T\"\n{rest}"));
    run(&[
        (
            "good",
            &team("channel_at = \"sev2\"\nupdate_every = { SEV1 = \"30m\", SEV2 = \"1h\" }\narchive_after = \"2h\"\n"),
            &[],
        ),
        (
            "bad level",
            &team("channel_at = \"SEV9\"\n"),
            &[(10, "teams[0].channel_at", "`SEV9` is not a severity level")],
        ),
        (
            "bad update level and interval",
            &team("update_every = { P1 = \"30m\", SEV2 = \"10s\" }\n"),
            &[
                (10, "teams[0].update_every.P1", "`P1` is not a severity level"),
                (10, "teams[0].update_every.SEV2", "at least a minute"),
            ],
        ),
        (
            "bad archive delay",
            &team("archive_after = \"soon\"\n"),
            &[(10, "teams[0].archive_after", "")],
        ),
        (
            "archive too late",
            &team("archive_after = \"100d\"\n"),
            &[(10, "teams[0].archive_after", "within 90 days")],
        ),
    ]);
    let c = Config::parse(
        "t.toml",
        &team("channel_at = \"SEV2\"\nupdate_every = { SEV1 = \"30m\" }\narchive_after = \"2h\"\n"),
    )
    .unwrap();
    let rooms = &c.teams[0].rooms;
    assert_eq!(rooms.channel_at, Some(Sev::Sev2));
    assert_eq!(rooms.update_every, [(Sev::Sev1, Duration::minutes(30))]);
    assert_eq!(rooms.archive_after, Duration::hours(2));
    let plain = Config::parse("t.toml", &team("")).unwrap();
    assert_eq!(plain.teams[0].rooms, RoomSettings::default());
}
