//! The pure stages, each on its own: a config, an event, the decision.

use super::*;
use chrono::TimeZone;
use serde_json::json;

const API: &str = "0123456789abcdef0123456789abcdef";
const STAGING: &str = "0123456789abcdef0123456789abcdee";
const DB: &str = "0123456789abcdef0123456789abcded";

/// `api` drops tests, suppresses `quiet`, sends staging alerts to `staging`
/// and makes disk alerts critical; `db` groups by component.
fn config() -> Config {
    let text = format!(
        "[[users]]\nid = \"alice\"\nname = \"Alice\"\nslack_id = \"U1\"\ntime_zone = \"UTC\"\n\
         [[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"alice\"]\nalert_channel = \"C1\"\nchannel_at = \"SEV1\"\n\
         [[escalation_policies]]\nid = \"p\"\n[[escalation_policies.levels]]\nafter_minutes = 0\ntargets = [\"user:alice\"]\n\
         [[services]]\nid = \"staging\"\nname = \"Staging\"\nteam = \"t\"\nintegration_key = \"{STAGING}\"\nurgency = \"low\"\n\
         [[services]]\nid = \"db\"\nname = \"DB\"\nteam = \"t\"\nintegration_key = \"{DB}\"\nescalation_policy = \"p\"\n\
         grouping = {{ window = \"10m\", key = \"{{{{ component }}}}\" }}\n\
         [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\nintegration_key = \"{API}\"\n\
         [[services.rules]]\nwhen = [{{ field = \"summary\", contains = \"test\" }}]\naction = \"drop\"\n\
         [[services.rules]]\nwhen = [{{ field = \"summary\", contains = \"quiet\" }}]\naction = \"suppress\"\n\
         [[services.rules]]\nwhen = [{{ field = \"custom_details.env\", equals = \"staging\" }}]\nroute = \"staging\"\nurgency = \"high\"\n\
         [[services.rules]]\nwhen = [{{ field = \"summary\", contains = \"disk\" }}]\nseverity = \"critical\"\n"
    );
    Config::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap()
}

fn details(summary: &str, severity: Severity) -> AlertDetails {
    let mut d = crate::domain::incident::tests::sample(1).alert;
    d.summary = summary.into();
    d.severity = severity;
    d.custom_details = Some(json!({"env": "prod"}));
    d
}

fn event(key: &str, action: AlertAction) -> AlertEvent {
    AlertEvent {
        routing_key: key.into(),
        dedup_key: "a1".into(),
        action,
    }
}

fn trigger_event(key: &str, summary: &str) -> AlertEvent {
    event(
        key,
        AlertAction::Trigger(Box::new(details(summary, Severity::Warning))),
    )
}

fn sub(key: &str, firing: bool) -> SubAlert {
    SubAlert {
        key: key.into(),
        summary: key.into(),
        firing,
        link: None,
        since: now(),
        similar: None,
    }
}

fn group_event(firing: bool) -> AlertEvent {
    event(
        API,
        AlertAction::Group {
            details: Box::new(details("quiet group", Severity::Warning)),
            alerts: vec![sub("f1", firing), sub("f2", false)],
        },
    )
}

fn service<'a>(c: &'a Config, id: &str) -> &'a Service {
    c.service(id).unwrap()
}

/// The rules stage, told as text: `drop`, `suppress` (`+record` when the
/// alert is recorded) or `go <service>`.
fn ruled(c: &Config, ev: &AlertEvent) -> String {
    match rules(c, service(c, "api"), ev, None) {
        Ruled::Drop => "drop".into(),
        Ruled::Suppress(None) => "suppress".into(),
        Ruled::Suppress(Some(r)) => {
            assert_eq!((r.service, r.dedup_key), ("api", "a1"));
            "suppress+record".into()
        }
        Ruled::Go(r) => {
            assert_eq!(r.received.id, "api");
            format!("go {}", r.service.id)
        }
    }
}

#[test]
fn rules_drop_suppress_or_send_the_alert_on() {
    let c = config();
    let mut staging = trigger_event(API, "cpu");
    if let AlertAction::Trigger(d) = &mut staging.action {
        d.custom_details = Some(json!({"env": "staging"}));
    }
    let cases = [
        (trigger_event(API, "a test alert"), "drop"),
        (trigger_event(API, "quiet please"), "suppress+record"),
        (group_event(true), "suppress+record"),
        // Nothing fires: suppressed, but there is nothing to record.
        (group_event(false), "suppress"),
        (staging, "go staging"),
        (trigger_event(API, "cpu"), "go api"),
        // No fields to match: never dropped, never routed.
        (event(API, AlertAction::Acknowledge), "go api"),
        (event(API, AlertAction::Resolve), "go api"),
    ];
    for (ev, want) in cases {
        assert_eq!(ruled(&c, &ev), want, "{ev:?}");
    }
}

#[test]
fn maintenance_holds_only_what_would_page() {
    let c = config();
    let routed = Routed {
        received: service(&c, "api"),
        service: service(&c, "staging"),
        rule: None,
    };
    let held = |ev: &AlertEvent| {
        maintenance(ev, &routed).map(|r| format!("{}/{}", r.service, r.dedup_key))
    };
    assert_eq!(held(&trigger_event(API, "cpu")), Some("staging/a1".into()));
    assert_eq!(held(&group_event(true)), Some("staging/a1".into()));
    assert_eq!(held(&group_event(false)), None);
    assert_eq!(held(&event(API, AlertAction::Acknowledge)), None);
    assert_eq!(held(&event(API, AlertAction::Resolve)), None);
}

#[test]
fn grouping_uses_the_own_key_or_the_groups() {
    let c = config();
    let ev = trigger_event(DB, "cpu");
    let mut d = details("cpu", Severity::Warning);
    d.component = Some("disk".into());
    let g = service(&c, "db").grouping.as_ref();

    let alone = grouping(&ev, &d, None, false, now());
    assert_eq!(
        (&*alone.dedup_key, alone.alerts.len(), alone.join),
        ("a1", 0, None)
    );

    // A repeat of an alert already in an open incident refreshes it there.
    let repeat = grouping(&ev, &d, g, true, now());
    assert_eq!((&*repeat.dedup_key, repeat.join), ("a1", None));
    assert_eq!(repeat.alerts, [grouping::member("a1", &d, now())]);

    let first = grouping(&ev, &d, g, false, now());
    assert_eq!(&*first.dedup_key, "group:disk");
    assert_eq!(first.join, Some((Duration::minutes(10), "a1")));
    assert_eq!(first.alerts, repeat.alerts);
}

#[test]
fn urgency_is_the_rules_then_the_severitys_then_the_services() {
    let c = config();
    let low = service(&c, "staging");
    let high_rule = c.service("api").unwrap().rules.get(2);
    let cases = [
        (high_rule, Severity::Info, Urgency::High),
        (None, Severity::Critical, Urgency::High),
        (None, Severity::Error, Urgency::High),
        (None, Severity::Warning, Urgency::Low),
        (None, Severity::Info, Urgency::Low),
    ];
    for (rule, severity, want) in cases {
        assert_eq!(urgency(rule, severity, low), want, "{severity:?}");
    }
    assert_eq!(
        urgency(None, Severity::Info, service(&c, "api")),
        Urgency::High,
        "the default service urgency"
    );
}

#[test]
fn a_trigger_takes_the_rules_severity_and_keeps_what_it_may() {
    let c = config();
    let api = service(&c, "api");
    let disk = c.service("api").unwrap().rules.get(3);
    let routed = Routed {
        received: api,
        service: api,
        rule: disk,
    };
    let d = details("disk full", Severity::Warning);
    let ev = trigger_event(API, "disk full");
    let t = trigger(
        &c,
        &routed,
        &d,
        grouping(&ev, &d, None, false, now()),
        now(),
    );
    assert_eq!(t.alert.severity, Severity::Critical);
    assert_eq!(t.alert.custom_details, None, "kept once, beside the alert");
    assert!(matches!(t.custom_details, Some(Cow::Borrowed(_))));
    assert_eq!(t.urgency, Urgency::High);
    assert_eq!(t.alert_channel.as_deref(), Some("C1"));
    assert!(t.room.is_some(), "critical is at the team's channel_at");
    assert!(t.escalation.is_none(), "api has no policy");
    assert_eq!(t.at, now());

    // Custom details over the limit are cut down; the rest of the alert is not.
    let mut big = details("cpu", Severity::Warning);
    big.custom_details = Some(json!({"blob": "x".repeat(limits::MAX_CUSTOM_DETAILS + 1)}));
    let db = service(&c, "db");
    let routed = Routed {
        received: db,
        service: db,
        rule: None,
    };
    let t = trigger(
        &c,
        &routed,
        &big,
        grouping(&ev, &big, None, false, now()),
        now(),
    );
    let Some(Cow::Owned(kept)) = &t.custom_details else {
        panic!("not capped: {:?}", t.custom_details.map(|_| ()));
    };
    assert!(limits::json_len(kept) <= limits::MAX_CUSTOM_DETAILS);
    assert_eq!(t.alert.severity, Severity::Warning);
    assert!(t.room.is_none(), "a warning is below channel_at");
    assert!(t.escalation.is_some(), "db's policy, snapshotted");
}

#[test]
fn acknowledgements_follow_where_the_rules_route() {
    let c = config();
    assert_eq!(transition_keys(&c, service(&c, "api")), [API, STAGING]);
    assert_eq!(transition_keys(&c, service(&c, "db")), [DB]);
}

#[test]
fn a_resolve_for_one_member_stops_only_that_alert() {
    let mut inc = crate::domain::incident::tests::sample(7);
    inc.alerts = vec![sub("m1", true), sub("m2", true)];
    // d7 is the incident's own key: resolved by key, not as a member.
    assert_eq!(grouped_member("d7", Some(&inc)), None);
    assert_eq!(grouped_member("m9", Some(&inc)), None);
    assert_eq!(grouped_member("m1", None), None);
    assert_eq!(grouped_member("m1", Some(&inc)), Some(7));

    assert!(!Stop::Member("m1").mark(&mut inc), "m2 still fires");
    assert_eq!(
        inc.alerts.iter().map(|a| a.firing).collect::<Vec<_>>(),
        [false, true]
    );
    assert!(Stop::Member("m2").mark(&mut inc), "the last alert resolved");

    let mut inc = crate::domain::incident::tests::sample(8);
    inc.alerts = vec![sub("f1", true)];
    let report = [sub("f1", false), sub("f2", false)];
    assert!(Stop::Group(&report).mark(&mut inc));
    assert_eq!(inc.alerts.len(), 2, "the report is merged in");
    assert!(inc.alerts.iter().all(|a| !a.firing));
}
