//! Each built-in mapping against the example payloads it ships with.

use super::*;
use crate::domain::incident::Severity;
use crate::ingest::{AlertAction, AlertEvent};
use serde_json::{json, Value};

enum Want<'a> {
    Trigger {
        title: &'a str,
        severity: Severity,
        link: Option<&'a str>,
    },
    Resolve,
    Acknowledge,
}

fn check(mapping: &str, fixture_name: &str, dedup_key: &str, want: Want) {
    let Mapped::Event(ev) = map(mapping, fixture_name) else {
        panic!("{fixture_name}: not an event");
    };
    assert_eq!(ev.routing_key, KEY);
    assert_eq!(ev.dedup_key, dedup_key, "{fixture_name}");
    match (ev.action, want) {
        (
            AlertAction::Trigger(d),
            Want::Trigger {
                title,
                severity,
                link,
            },
        ) => {
            assert_eq!(d.summary, title, "{fixture_name}");
            assert_eq!(d.severity, severity, "{fixture_name}");
            assert_eq!(d.client_url.as_deref(), link, "{fixture_name}");
            assert!(!d.source.is_empty(), "{fixture_name}");
            let payload = d.custom_details.as_ref().and_then(|c| c.get("payload"));
            assert_eq!(payload, Some(&fixture(fixture_name)), "{fixture_name}");
        }
        (AlertAction::Resolve, Want::Resolve) | (AlertAction::Acknowledge, Want::Acknowledge) => {}
        (got, _) => panic!("{fixture_name}: unexpected {got:?}"),
    }
}

#[test]
fn every_builtin_mapping_parses() {
    let mut names = Mapping::builtin_names().to_vec();
    names.sort_unstable();
    assert_eq!(names, Mapping::builtin_names(), "kept sorted");
    for name in Mapping::builtin_names() {
        let m = builtin(name);
        assert_eq!(m.name, *name);
        // Every mapping ships with at least one example payload.
        assert!(FIXTURES.iter().any(|(f, _)| f.starts_with(name)), "{name}");
    }
    assert!(Mapping::builtin("nagios").is_none());
}

#[test]
fn datadog_triggers_and_recovers() {
    check(
        "datadog",
        "datadog",
        "9bd4ac313a4d1e8fae2482df7b77628",
        Want::Trigger {
            title: "[P1] [Triggered on {host:web-03}] CPU usage is high on web-03",
            severity: Severity::Critical,
            link: Some("https://app.datadoghq.com/event/event?id=7435837262713592840"),
        },
    );
    check(
        "datadog",
        "datadog-recovered",
        "9bd4ac313a4d1e8fae2482df7b77628",
        Want::Resolve,
    );
    // A warning transition is a warning whatever the priority.
    let mut warn = fixture("datadog");
    warn["alert_transition"] = json!("Warn");
    let Mapped::Event(ev) = apply(&builtin("datadog"), KEY, &warn).0 else {
        panic!("not an event")
    };
    let AlertAction::Trigger(d) = ev.action else {
        panic!("not a trigger")
    };
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.source, "web-03");
    assert_eq!(d.group.as_deref(), Some("Acme Corp"));
    assert_eq!(d.client.as_deref(), Some("Datadog"));
}

const ALARM_ARN: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-db-cpu-high";

#[test]
fn cloudwatch_reads_the_alarm_inside_the_sns_envelope() {
    check(
        "cloudwatch",
        "cloudwatch",
        ALARM_ARN,
        Want::Trigger {
            title: "prod-db-cpu-high in US East (N. Virginia)",
            severity: Severity::Error,
            link: Some("https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/prod-db-cpu-high"),
        },
    );
    check("cloudwatch", "cloudwatch-ok", ALARM_ARN, Want::Resolve);
    let Mapped::Event(ev) = map("cloudwatch", "cloudwatch") else {
        panic!("not an event")
    };
    let AlertAction::Trigger(d) = ev.action else {
        panic!("not a trigger")
    };
    assert_eq!(d.source, "prod-db-1");
    assert_eq!(d.component.as_deref(), Some("AWS/RDS"));
    let message = d.custom_details.as_ref().and_then(|c| c.get("message"));
    assert!(message
        .and_then(Value::as_str)
        .is_some_and(|m| m.starts_with("Threshold Crossed")));

    // Raw message delivery posts the alarm itself.
    let Some(inner) = fixture("cloudwatch")["Message"]
        .as_str()
        .map(str::to_string)
    else {
        panic!("no Message")
    };
    let raw: Value = serde_json::from_str(&inner).unwrap();
    let Mapped::Event(ev) = apply(&builtin("cloudwatch"), KEY, &raw).0 else {
        panic!("not an event")
    };
    assert_eq!(ev.dedup_key, ALARM_ARN);
}

#[test]
fn cloudwatch_confirms_sns_subscriptions_and_ignores_unsubscribes() {
    let sub = fixture("cloudwatch-subscription");
    assert_eq!(
        map("cloudwatch", "cloudwatch-subscription"),
        Mapped::ConfirmSubscription {
            url: sub["SubscribeURL"].as_str().unwrap_or_default().to_string()
        }
    );
    let Mapped::Ignore(why) = map("cloudwatch", "cloudwatch-unsubscribe") else {
        panic!("not ignored")
    };
    assert!(why.contains("unsubscribe"), "{why}");

    // A forged handshake must not make the caller fetch an arbitrary URL.
    for url in [
        "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "https://169.254.169.254/latest/meta-data/",
        "https://sns.us-east-1.amazonaws.com.evil.example/",
    ] {
        let mut forged = sub.clone();
        forged["SubscribeURL"] = json!(url);
        let (mapped, err) = apply(&builtin("cloudwatch"), KEY, &forged);
        assert!(matches!(mapped, Mapped::Ignore(_)), "{url}: {mapped:?}");
        assert_eq!(err.map(|e| e.field), Some("confirm_url".into()), "{url}");
    }
}

#[test]
fn cloudwatch_message_that_is_not_json_falls_back() {
    let mut bad = fixture("cloudwatch");
    bad["Message"] = json!("{not json");
    let (mapped, err) = apply(&builtin("cloudwatch"), KEY, &bad);
    let err = err.expect("an error");
    assert_eq!(err.field, "vars.alarm");
    assert!(err.message.contains("fromjson"), "{err}");
    let Mapped::Event(ev) = mapped else {
        panic!("not an event")
    };
    assert!(ev.dedup_key.starts_with("unmapped-"));
}

#[test]
fn zabbix_problems_recoveries_and_acknowledgements() {
    check(
        "zabbix",
        "zabbix",
        "4821936",
        Want::Trigger {
            title: "High CPU utilization (over 90% for 5m) on db-primary-01",
            severity: Severity::Error,
            link: Some("https://zabbix.example.com/tr_events.php?triggerid=23671&eventid=4821936"),
        },
    );
    check("zabbix", "zabbix-recovery", "4821936", Want::Resolve);
    check("zabbix", "zabbix-ack", "4821936", Want::Acknowledge);

    let severity = |name: &str, n: &str| {
        let mut p = fixture("zabbix");
        p["event_severity"] = json!(name);
        p["event_nseverity"] = json!(n);
        match apply(&builtin("zabbix"), KEY, &p).0 {
            Mapped::Event(AlertEvent {
                action: AlertAction::Trigger(d),
                ..
            }) => d.severity,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(severity("Disaster", "5"), Severity::Critical);
    assert_eq!(severity("Average", "3"), Severity::Warning);
    assert_eq!(severity("Warning", "2"), Severity::Warning);
    assert_eq!(severity("Information", "1"), Severity::Info);
    assert_eq!(severity("Not classified", "0"), Severity::Info);
    // A renamed severity falls back to its number.
    assert_eq!(severity("Sev-1", "5"), Severity::Critical);

    let mut comment = fixture("zabbix-ack");
    comment["event_ack_status"] = json!("No");
    comment["event_update_action"] = json!("commented");
    let (mapped, _) = apply(&builtin("zabbix"), KEY, &comment);
    assert!(matches!(mapped, Mapped::Ignore(_)), "{mapped:?}");
}

#[test]
fn sentry_issues_event_alerts_and_metric_alerts() {
    check(
        "sentry",
        "sentry",
        "issue-4521983377",
        Want::Trigger {
            title: "ZeroDivisionError: division by zero",
            severity: Severity::Error,
            link: Some("https://acme.sentry.io/issues/4521983377/"),
        },
    );
    check(
        "sentry",
        "sentry-resolved",
        "issue-4521983377",
        Want::Resolve,
    );
    check(
        "sentry",
        "sentry-event-alert",
        "issue-4521990012",
        Want::Trigger {
            title: "PaymentGatewayTimeout: gateway did not answer in 30s",
            severity: Severity::Critical,
            link: Some(
                "https://acme.sentry.io/issues/4521990012/events/a3f6c6a4c2b84e1f9e4b9b0f0d6c2e11/",
            ),
        },
    );
    check(
        "sentry",
        "sentry-metric-alert",
        "metric-alert-1042",
        Want::Trigger {
            title: "Critical: p95 checkout latency",
            severity: Severity::Critical,
            link: Some("https://acme.sentry.io/alerts/rules/details/87/?alert=1042"),
        },
    );
    let mut resolved = fixture("sentry-metric-alert");
    resolved["action"] = json!("resolved");
    let Mapped::Event(ev) = apply(&builtin("sentry"), KEY, &resolved).0 else {
        panic!("not an event")
    };
    assert_eq!(ev.action, AlertAction::Resolve);
    assert_eq!(ev.dedup_key, "metric-alert-1042");

    let Mapped::Ignore(why) = map("sentry", "sentry-installation") else {
        panic!("not ignored")
    };
    assert!(why.contains("installation"), "{why}");
}

#[test]
fn uptime_kuma_down_up_and_test() {
    check(
        "uptime-kuma",
        "uptime-kuma",
        "monitor-7",
        Want::Trigger {
            title: "Storefront is down",
            severity: Severity::Critical,
            link: Some("https://shop.example.com/health"),
        },
    );
    check("uptime-kuma", "uptime-kuma-up", "monitor-7", Want::Resolve);
    let Mapped::Ignore(why) = map("uptime-kuma", "uptime-kuma-test") else {
        panic!("not ignored")
    };
    assert!(why.contains("test"), "{why}");
    let mut pending = fixture("uptime-kuma");
    pending["heartbeat"]["status"] = json!(2);
    assert!(matches!(
        apply(&builtin("uptime-kuma"), KEY, &pending).0,
        Mapped::Ignore(_)
    ));
}

#[test]
fn newrelic_activated_acknowledged_closed() {
    let id = "c0a8012e-6f3b-4b8e-9d41-2f1a7e9c5b10";
    check(
        "newrelic",
        "newrelic",
        id,
        Want::Trigger {
            title: "Error rate > 5% for at least 5 minutes on 'checkout-api'",
            severity: Severity::Critical,
            link: Some("https://radar-api.service.newrelic.com/accounts/3456789/issues/c0a8012e-6f3b-4b8e-9d41-2f1a7e9c5b10?notifier=WEBHOOK"),
        },
    );
    check("newrelic", "newrelic-acknowledged", id, Want::Acknowledge);
    check("newrelic", "newrelic-closed", id, Want::Resolve);
    let Mapped::Event(ev) = map("newrelic", "newrelic") else {
        panic!("not an event")
    };
    let AlertAction::Trigger(d) = ev.action else {
        panic!("not a trigger")
    };
    assert_eq!(d.source, "checkout-api");

    // New Relic's own variable names work too.
    let p = json!({"issueId": "abc", "issueTitle": "Disk full", "priority": "LOW",
                   "state": "ACTIVATED", "issuePageUrl": "https://one.newrelic.com/x"});
    let Mapped::Event(ev) = apply(&builtin("newrelic"), KEY, &p).0 else {
        panic!("not an event")
    };
    assert_eq!(ev.dedup_key, "abc");
    let AlertAction::Trigger(d) = ev.action else {
        panic!("not a trigger")
    };
    assert_eq!(
        (d.summary.as_str(), d.severity),
        ("Disk full", Severity::Info)
    );
}
