//! Features read from the file and checked together: urgency, working hours,
//! notification rules, call routes, heartbeats, grouping, weekly windows.

use super::*;

#[test]
fn urgency_and_working_hours_are_read_and_checked() {
    let base = "[[users]]\nid = \"a\"\nname = \"A\"\nworking_hours = [{ days = \"mon-thu\", from = \"08:00\", to = \"16:00\" }]\n\
                [[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"a\"]\nworking_hours = [{ days = \"mon-fri\", from = \"10:00\", to = \"19:00\" }]\n\
                [[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\nurgency = \"low\"\n";
    let c = Config::parse("t.toml", base).unwrap();
    assert_eq!(c.services[0].urgency, Urgency::Low);
    assert_eq!(c.users[0].working_hours[0].from, hm(8, 0));
    assert_eq!(c.teams[0].working_hours[0].to, hm(19, 0));
    let bad = base
        .replace("urgency = \"low\"", "urgency = \"medium\"")
        .replace("\"08:00\"", "\"8am\"");
    let e = Config::parse("t.toml", &bad).unwrap_err();
    let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["users[0].working_hours[0].from", "services[0].urgency"],
        "{e}"
    );
}

#[test]
fn notification_rules_are_read_sorted_and_checked() {
    let base = "[[users]]\nid = \"a\"\nname = \"A\"\nslack_id = \"UA\"\nphone = \"+447700900001\"\n\
                notify = [{ after_minutes = 10, via = \"phone\" }, { after_minutes = 0, via = \"slack\" }, { after_minutes = 5, via = \"sms\" }]\n\
                [[users]]\nid = \"b\"\nname = \"B\"\n";
    let c = Config::parse("t.toml", base).unwrap();
    let rules: Vec<(u32, Via)> = c.users[0]
        .notify_rules()
        .iter()
        .map(|r| (r.after_minutes, r.via))
        .collect();
    assert_eq!(rules, [(0, Via::Slack), (5, Via::Sms), (10, Via::Phone)]);
    // Without rules: a Slack DM at once.
    assert_eq!(c.users[1].notify_rules()[0].via, Via::Slack);

    let bad = base.replace("phone = \"+447700900001\"\n", "").replace(
        "after_minutes = 0, via = \"slack\"",
        "after_minutes = 2000, via = \"pager\"",
    );
    let e = Config::parse("t.toml", &bad).unwrap_err();
    let got: Vec<(&str, usize)> = e.0.iter().map(|e| (e.field.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [
            ("users[0].notify[0].via", 5),
            ("users[0].notify[1].via", 5),
            ("users[0].notify[2].via", 5)
        ],
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("notify via phone needs the user's `phone`"),
        "{e}"
    );
    assert!(e.to_string().contains("invalid via `pager`"), "{e}");
    let late = base.replace("after_minutes = 10", "after_minutes = 1441");
    let e = Config::parse("t.toml", &late).unwrap_err();
    assert_eq!(e.0[0].field, "users[0].notify[0].after_minutes");
}

#[test]
fn call_routes_are_read_and_checked() {
    let base = "[[users]]\nid = \"a\"\nname = \"A\"\n[[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"a\"]\n\
                [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n\
                [[services]]\nid = \"net\"\nname = \"Net\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdee\"\n";
    let good = format!(
        "{base}[[call_routes]]\nnumber = \"+15550100\"\ngreeting = \"Hi.\"\nservice = \"api\"\nallow = [\"+15550199\"]\nvoicemail = true\n\
         [[call_routes]]\nnumber = \"+15550101\"\nmenu = {{ \"2\" = \"net\", \"1\" = \"api\" }}\nring_seconds = 30\n"
    );
    let c = Config::parse("t.toml", &good).unwrap();
    let r = c.call_route("+15550100").unwrap();
    assert_eq!(r.target, RouteTarget::Service("api".into()));
    assert_eq!((r.voicemail, r.ring_seconds, r.allow.len()), (true, 20, 1));
    let m = c.call_route("+15550101").unwrap();
    assert_eq!(
        m.target,
        RouteTarget::Menu(vec![('1', "api".into()), ('2', "net".into())])
    );
    assert_eq!(m.ring_seconds, 30);
    assert!(c.call_route("+15550102").is_none());

    let bad = format!(
        "{base}[[call_routes]]\nnumber = \"555-0100\"\nservice = \"nope\"\nallow = [\"x\"]\n\
         [[call_routes]]\nnumber = \"+15550101\"\nmenu = {{ \"12\" = \"api\" }}\nring_seconds = 2\n\
         [[call_routes]]\nnumber = \"+15550101\"\nservice = \"api\"\nmenu = {{ \"1\" = \"api\" }}\n"
    );
    let e = Config::parse("t.toml", &bad).unwrap_err();
    let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "call_routes[0].number",
            "call_routes[0].service",
            "call_routes[0].allow[0]",
            "call_routes[1].menu.12",
            "call_routes[1].ring_seconds",
            "call_routes[2]",
            "call_routes[2].number",
        ],
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("already routed by the call route on line"),
        "{e}"
    );
}

#[test]
fn heartbeats_are_read_and_checked() {
    let base = "[[teams]]\nid = \"t\"\nname = \"T\"\n\
                [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n\
                heartbeats = [{ id = \"backup\", interval = \"25h\", token = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\" }]\n";
    let c = Config::parse("t.toml", base).unwrap();
    let (svc, hb) = c
        .heartbeat_by_token("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .unwrap();
    assert_eq!((svc.id.as_str(), hb.id.as_str()), ("api", "backup"));
    assert_eq!(hb.interval, Duration::hours(25));
    assert!(c.heartbeat_by_token("b".repeat(32).as_str()).is_none());
    let bad = base.replace(
        "}]",
        "}, { id = \"backup\", interval = \"30s\", token = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" }, { id = \"x\", interval = \"soon\", token = \"123\" }]",
    );
    let e = Config::parse("t.toml", &bad).unwrap_err();
    let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "services[0].heartbeats[1].id",
            "services[0].heartbeats[1].interval",
            "services[0].heartbeats[1].token",
            "services[0].heartbeats[2].interval",
            "services[0].heartbeats[2].token",
        ],
        "{e}"
    );
}

#[test]
fn grouping_and_flapping_are_read_and_checked() {
    let base = "[[teams]]\nid = \"t\"\nname = \"T\"\n\
                [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n\
                grouping = { window = \"10m\", key = \"{{ component }}\" }\nflapping = { count = 3, window = \"30m\" }\n";
    let c = Config::parse("t.toml", base).unwrap();
    let g = c.services[0].grouping.clone().unwrap();
    assert_eq!(
        (g.window, g.key.as_deref()),
        (Duration::minutes(10), Some("{{ component }}"))
    );
    assert_eq!(
        c.services[0].flapping,
        Some(Flapping {
            count: 3,
            window: Duration::minutes(30)
        })
    );
    let bad = base
        .replace("{{ component }}", "{{ component ")
        .replace("count = 3", "count = 0")
        .replace("\"30m\"", "\"30d\"");
    let e = Config::parse("t.toml", &bad).unwrap_err();
    let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "services[0].grouping.key",
            "services[0].flapping.count",
            "services[0].flapping.window"
        ],
        "{e}"
    );
}

#[test]
fn intelligent_grouping_is_a_mode_without_a_key() {
    let base = "[[teams]]\nid = \"t\"\nname = \"T\"\n\
                [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n\
                grouping = { mode = \"intelligent\", window = \"30m\" }\n";
    let g = Config::parse("t.toml", base).unwrap().services[0]
        .grouping
        .clone()
        .unwrap();
    assert!(g.intelligent);
    assert_eq!(g.window, Duration::minutes(30));
    let time = base.replace("intelligent", "time");
    assert!(
        !Config::parse("t.toml", &time).unwrap().services[0]
            .grouping
            .clone()
            .unwrap()
            .intelligent
    );
    for (bad, field, says) in [
        (
            base.replace("intelligent", "smart"),
            "services[0].grouping.mode",
            "unknown grouping mode \"smart\"",
        ),
        (
            base.replace("window", "key = \"{{ component }}\", window"),
            "services[0].grouping.key",
            "cannot be combined",
        ),
    ] {
        let e = Config::parse("t.toml", &bad).unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(e.0[0].field, field);
        assert!(e.0[0].to_string().contains(says), "{e}");
        assert_eq!(e.0[0].line, 9, "{e}");
    }
}

#[test]
fn weekly_restrictions_name_their_days() {
    let text = "[[users]]\nid = \"a\"\nname = \"A\"\n[[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"a\"]\n\
                [[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"UTC\"\n[[schedules.layers]]\nname = \"w\"\n\
                start = \"2026-11-02T09:00:00\"\nrotation = \"weekly\"\nusers = [\"a\"]\n\
                restrictions = [{ from = \"fri 18:00\", to = \"mon 09:00\" }, { from = \"wed 12:00\", to = \"wed 11:00\" }]\n";
    let c = Config::parse("t.toml", text).unwrap();
    let r = &c.schedules[0].layers[0].restrictions;
    assert_eq!(r[0].days, [false, false, false, false, true, false, false]);
    assert_eq!(
        (r[0].from, r[0].to, r[0].close_after_days),
        (hm(18, 0), hm(9, 0), 3)
    );
    assert_eq!(
        r[1].close_after_days, 7,
        "same day, earlier time: a full week round"
    );
    let bad = text.replace("fri 18:00", "18:00");
    let e = Config::parse("t.toml", &bad).unwrap_err();
    assert!(e.0[0].field.ends_with("restrictions[0].from"), "{e}");
    assert!(e.0[0].message.contains("fri 18:00"), "{e}");
}
