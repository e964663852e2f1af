//! Schedules, layers, restrictions and escalation policies.

use super::*;

/// A schedule for team "t" (defined first) whose single layer has `layer` appended.
fn schedule_with(tz: &str, layer: &str) -> String {
    with_users(&format!(
        "[[teams]]\nid = \"t\"\nname = \"T\"\n[[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"{tz}\"\n[[schedules.layers]]\nname = \"l\"\n{layer}"
    ))
}

const OK_LAYER: &str = "start = \"2026-11-02T09:00\"\nrotation = \"weekly\"\nusers = [\"alice\"]\n";

#[test]
fn schedule_rules() {
    // Lines 1-6 users, 7-9 team, 10-13 schedule, 14 layer header, 15 `name`, layer text from 16.
    run(&[
        ("valid layer", &schedule_with("UTC", OK_LAYER), &[]),
        (
            "unknown team",
            &with_users(
                "[[schedules]]\nid = \"s\"\nteam = \"nope\"\ntime_zone = \"UTC\"\n[[schedules.layers]]\nname = \"l\"\nstart = \"2026-11-02T09:00\"\nrotation = \"daily\"\nusers = [\"bob\"]\n",
            ),
            &[(9, "schedules[0].team", "unknown team `nope`")],
        ),
        (
            "bad schedule time zone",
            &schedule_with("Mars/Olympus", OK_LAYER),
            &[(
                13,
                "schedules[0].time_zone",
                "`Mars/Olympus`: use an IANA name such as \"Europe/London\"",
            )],
        ),
        (
            "empty layers",
            &with_users(
                "[[teams]]\nid = \"t\"\nname = \"T\"\n[[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"UTC\"\n",
            ),
            &[(10, "schedules[0].layers", "schedule has no layers")],
        ),
        (
            "empty layer name",
            &schedule_with("UTC", OK_LAYER).replace("name = \"l\"", "name = \"\""),
            &[(15, "schedules[0].layers[0].name", "layer name is empty")],
        ),
        (
            "bad start",
            &schedule_with(
                "UTC",
                "start = \"next monday\"\nrotation = \"weekly\"\nusers = [\"alice\"]\n",
            ),
            &[(
                16,
                "schedules[0].layers[0].start",
                "invalid start `next monday`",
            )],
        ),
        (
            "start with offset",
            &schedule_with(
                "UTC",
                "start = 2026-11-02T09:00:00Z\nrotation = \"weekly\"\nusers = [\"alice\"]\n",
            ),
            &[(16, "schedules[0].layers[0].start", "UTC offset")],
        ),
        (
            "start date only",
            &schedule_with(
                "UTC",
                "start = 2026-11-02\nrotation = \"weekly\"\nusers = [\"alice\"]\n",
            ),
            &[(
                16,
                "schedules[0].layers[0].start",
                "needs both a date and a time",
            )],
        ),
        (
            "start in DST gap",
            &schedule_with(
                "Europe/London",
                "start = \"2026-03-29T01:30\"\nrotation = \"weekly\"\nusers = [\"alice\"]\n",
            ),
            &[(
                16,
                "schedules[0].layers[0].start",
                "does not exist in Europe/London",
            )],
        ),
        (
            "bad rotation",
            &schedule_with(
                "UTC",
                "start = \"2026-11-02T09:00\"\nrotation = \"fortnightly\"\nusers = [\"alice\"]\n",
            ),
            &[(
                17,
                "schedules[0].layers[0].rotation",
                "invalid rotation `fortnightly`",
            )],
        ),
        (
            "zero rotation",
            &schedule_with(
                "UTC",
                "start = \"2026-11-02T09:00\"\nrotation = \"0h\"\nusers = [\"alice\"]\n",
            ),
            &[(17, "schedules[0].layers[0].rotation", "is zero")],
        ),
        (
            "bad handoff",
            &schedule_with(
                "UTC",
                "start = \"2026-11-02T09:00\"\nrotation = \"weekly\"\nhandoff = \"25:00\"\nusers = [\"alice\"]\n",
            ),
            &[(18, "schedules[0].layers[0].handoff", "invalid time `25:00`")],
        ),
        (
            "unknown layer user",
            &schedule_with(
                "UTC",
                "start = \"2026-11-02T09:00\"\nrotation = \"weekly\"\nusers = [\"alice\", \"eve\"]\n",
            ),
            &[(18, "schedules[0].layers[0].users[1]", "unknown user `eve`")],
        ),
        (
            "empty layer users",
            &schedule_with(
                "UTC",
                "start = \"2026-11-02T09:00\"\nrotation = \"weekly\"\nusers = []\n",
            ),
            &[(18, "schedules[0].layers[0].users", "layer has no users")],
        ),
        (
            "missing layer users",
            &schedule_with(
                "UTC",
                "start = \"2026-11-02T09:00\"\nrotation = \"weekly\"\n",
            ),
            &[(14, "schedules[0].layers[0].users", "layer has no users")],
        ),
        (
            "bad days",
            &schedule_with(
                "UTC",
                &format!(
                    "{OK_LAYER}restrictions = [{{ days = \"mon-fry\", from = \"09:00\", to = \"17:00\" }}]\n"
                ),
            ),
            &[(
                19,
                "schedules[0].layers[0].restrictions[0].days",
                "unknown day `fry`",
            )],
        ),
        (
            "bad from and to",
            &schedule_with(
                "UTC",
                &format!(
                    "{OK_LAYER}restrictions = [{{ days = \"all\", from = \"9am\", to = \"17:0\" }}]\n"
                ),
            ),
            &[
                (
                    19,
                    "schedules[0].layers[0].restrictions[0].from",
                    "invalid time `9am`",
                ),
                (
                    19,
                    "schedules[0].layers[0].restrictions[0].to",
                    "invalid time `17:0`",
                ),
            ],
        ),
    ]);
}

#[test]
fn policy_rules() {
    let policy = |levels: &str| {
        with_users(&format!(
            "[[teams]]\nid = \"t\"\nname = \"T\"\n[[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"UTC\"\n[[schedules.layers]]\nname = \"l\"\n{OK_LAYER}[[escalation_policies]]\nid = \"p\"\n{levels}"
        ))
    };
    // Policy header is line 19; `levels` text starts on line 21.
    run(&[
        (
            "valid",
            &policy(
                "[[escalation_policies.levels]]\nafter_minutes = 0\ntargets = [\"schedule:s\", \"user:bob\"]\n",
            ),
            &[],
        ),
        (
            "no levels",
            &policy(""),
            &[(19, "escalation_policies[0].levels", "has no levels")],
        ),
        (
            "empty targets",
            &policy("[[escalation_policies.levels]]\nafter_minutes = 0\ntargets = []\n"),
            &[(
                23,
                "escalation_policies[0].levels[0].targets",
                "has no targets",
            )],
        ),
        (
            "missing targets",
            &policy("[[escalation_policies.levels]]\nafter_minutes = 0\n"),
            &[(
                21,
                "escalation_policies[0].levels[0].targets",
                "has no targets",
            )],
        ),
        (
            "malformed target",
            &policy(
                "[[escalation_policies.levels]]\nafter_minutes = 0\ntargets = [\"group:t\"]\n",
            ),
            &[(
                23,
                "escalation_policies[0].levels[0].targets[0]",
                "invalid target `group:t`",
            )],
        ),
        (
            "unknown target user",
            &policy(
                "[[escalation_policies.levels]]\nafter_minutes = 0\ntargets = [\"user:zed\"]\n",
            ),
            &[(
                23,
                "escalation_policies[0].levels[0].targets[0]",
                "unknown user `zed`",
            )],
        ),
        (
            "unknown target schedule",
            &policy(
                "[[escalation_policies.levels]]\nafter_minutes = 0\n[[escalation_policies.levels]]\nafter_minutes = 5\ntargets = [\"schedule:nope\"]\n",
            ),
            &[
                (
                    21,
                    "escalation_policies[0].levels[0].targets",
                    "has no targets",
                ),
                (
                    25,
                    "escalation_policies[0].levels[1].targets[0]",
                    "unknown schedule `nope`",
                ),
            ],
        ),
    ]);
}
