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
        assert!(
            FIXTURES
                .iter()
                .chain(FORMS)
                .any(|(f, _)| f.starts_with(name)),
            "{name}"
        );
    }
    assert!(Mapping::builtin("opsview").is_none());
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

fn ignored(mapping: &str, fixture_name: &str) -> String {
    match map(mapping, fixture_name) {
        Mapped::Ignore(why) => why,
        other => panic!("{fixture_name}: not ignored: {other:?}"),
    }
}

#[test]
fn nagios_and_icinga2_problems_recoveries_acknowledgements() {
    let key = "db-primary-01/PostgreSQL Connections";
    check(
        "nagios",
        "nagios",
        key,
        Want::Trigger {
            title: "PostgreSQL Connections is CRITICAL on db-primary-01",
            severity: Severity::Critical,
            link: None,
        },
    );
    check("nagios", "nagios-recovery", key, Want::Resolve);
    check("nagios", "nagios-ack", key, Want::Acknowledge);
    // Icinga 2 writes its types in mixed case; a host problem groups by host.
    check(
        "nagios",
        "nagios-icinga2-host",
        "edge-router-2",
        Want::Trigger {
            title: "edge-router-2 is DOWN",
            severity: Severity::Critical,
            link: None,
        },
    );
    assert!(ignored("nagios", "nagios-icinga2-downtime").contains("DOWNTIMESTART"));
    let mut warning = fixture("nagios");
    warning["service_state"] = json!("WARNING");
    let Mapped::Event(AlertEvent {
        action: AlertAction::Trigger(d),
        ..
    }) = apply(&builtin("nagios"), KEY, &warning).0
    else {
        panic!("not a trigger")
    };
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.component.as_deref(), Some("PostgreSQL Connections"));
}

#[test]
fn elastic_rules_fire_and_recover() {
    let key = "6c2a8f40-1b7e-11ef-9a4c-5f0e2d1c3b7a:checkout-service";
    check(
        "elastic",
        "elastic",
        key,
        Want::Trigger {
            title: "High error rate in checkout on checkout-service",
            severity: Severity::Error,
            link: Some(
                "https://kibana.example.com/app/observability/alerts/0f1e8d4a-3a2b-4c5d-8e9f-1a2b3c4d5e6f",
            ),
        },
    );
    check("elastic", "elastic-recovered", key, Want::Resolve);
}

#[test]
fn splunk_results_trigger_per_host() {
    check(
        "splunk",
        "splunk",
        "search/Nginx upstream timeouts/web-07",
        Want::Trigger {
            title: "Nginx upstream timeouts on web-07",
            severity: Severity::Error,
            link: Some("https://splunk.example.com:8000/app/search/@go?sid=scheduler__admin__search__RMD5c1d2e3f4a5b6c7d8_at_1763474520_1187"),
        },
    );
    let mut warn = fixture("splunk");
    warn["result"]["severity"] = json!("warning");
    let Mapped::Event(AlertEvent {
        action: AlertAction::Trigger(d),
        ..
    }) = apply(&builtin("splunk"), KEY, &warn).0
    else {
        panic!("not a trigger")
    };
    assert_eq!(d.severity, Severity::Warning);
}

#[test]
fn dynatrace_problems_open_and_resolve() {
    let pid = "-4719308290541927364_1763474100000V2";
    check(
        "dynatrace",
        "dynatrace",
        pid,
        Want::Trigger {
            title: "Response time degradation on CheckoutService (P-24831)",
            severity: Severity::Warning,
            link: Some("https://abc12345.live.dynatrace.com/#problems/problemdetails;pid=-4719308290541927364_1763474100000V2"),
        },
    );
    check("dynatrace", "dynatrace-resolved", pid, Want::Resolve);
    let mut merged = fixture("dynatrace");
    merged["State"] = json!("MERGED");
    let Mapped::Event(ev) = apply(&builtin("dynatrace"), KEY, &merged).0 else {
        panic!("not an event")
    };
    assert_eq!(ev.action, AlertAction::Resolve);
}

#[test]
fn azure_monitor_common_schema_fires_and_resolves() {
    let id = "/subscriptions/2d4e6f80-1a3b-4c5d-9e8f-0a1b2c3d4e5f/providers/Microsoft.AlertsManagement/alerts/b9569717-bc32-442f-add5-83a997729330";
    check(
        "azure-monitor",
        "azure-monitor",
        id,
        Want::Trigger {
            title: "WCUS-R2-Gen2 on wcus-r2-gen2",
            severity: Severity::Error,
            link: Some("https://portal.azure.com/#blade/Microsoft_Azure_Monitoring/AlertDetailsTemplateBlade/alertId/%2Fsubscriptions%2F2d4e6f80-1a3b-4c5d-9e8f-0a1b2c3d4e5f%2Fproviders%2FMicrosoft.AlertsManagement%2Falerts%2Fb9569717-bc32-442f-add5-83a997729330"),
        },
    );
    check("azure-monitor", "azure-monitor-resolved", id, Want::Resolve);
    let Mapped::Event(AlertEvent {
        action: AlertAction::Trigger(d),
        ..
    }) = map("azure-monitor", "azure-monitor")
    else {
        panic!("not a trigger")
    };
    assert_eq!(d.source, "wcus-r2-gen2");
    assert_eq!(d.group.as_deref(), Some("pipelinealertrg"));
    // Without configuration items the source is the target resource's name.
    let mut bare = fixture("azure-monitor");
    bare["data"]["essentials"]["configurationItems"] = json!([]);
    bare["data"]["essentials"]["severity"] = json!("Sev3");
    let Mapped::Event(AlertEvent {
        action: AlertAction::Trigger(d),
        ..
    }) = apply(&builtin("azure-monitor"), KEY, &bare).0
    else {
        panic!("not a trigger")
    };
    assert_eq!(
        (d.source.as_str(), d.severity),
        ("wcus-r2-gen2", Severity::Info)
    );
    assert_eq!(d.summary, "WCUS-R2-Gen2");
}

#[test]
fn gcp_monitoring_incidents_open_and_close() {
    check(
        "gcp-monitoring",
        "gcp-monitoring",
        "0.opqiw61fsv7p",
        Want::Trigger {
            title: "API VM CPU high on api-vm-3",
            severity: Severity::Critical,
            link: Some("https://console.cloud.google.com/monitoring/alerting/incidents/0.opqiw61fsv7p?project=shop-prod-4821"),
        },
    );
    check(
        "gcp-monitoring",
        "gcp-monitoring-closed",
        "0.opqiw61fsv7p",
        Want::Resolve,
    );
    let mut unrated = fixture("gcp-monitoring");
    unrated["incident"]["severity"] = json!("No severity");
    let Mapped::Event(AlertEvent {
        action: AlertAction::Trigger(d),
        ..
    }) = apply(&builtin("gcp-monitoring"), KEY, &unrated).0
    else {
        panic!("not a trigger")
    };
    assert_eq!(d.severity, Severity::Error);
}

#[test]
fn pingdom_down_and_up() {
    check(
        "pingdom",
        "pingdom",
        "pingdom-10473851",
        Want::Trigger {
            title: "Storefront HTTPS is down",
            severity: Severity::Critical,
            link: Some("https://my.pingdom.com/app/reports/uptime#check=10473851"),
        },
    );
    check("pingdom", "pingdom-up", "pingdom-10473851", Want::Resolve);
}

#[test]
fn uptimerobot_down_up_and_certificates() {
    check(
        "uptimerobot",
        "uptimerobot",
        "uptimerobot-797311402",
        Want::Trigger {
            title: "Public API is down",
            severity: Severity::Critical,
            link: Some("https://dashboard.uptimerobot.com/monitors/797311402"),
        },
    );
    check(
        "uptimerobot",
        "uptimerobot-up",
        "uptimerobot-797311402",
        Want::Resolve,
    );
    check(
        "uptimerobot",
        "uptimerobot-ssl",
        "uptimerobot-ssl-797311402",
        Want::Trigger {
            title: "Public API's SSL certificate expires 2026-11-25",
            severity: Severity::Warning,
            link: Some("https://dashboard.uptimerobot.com/monitors/797311402"),
        },
    );
}

#[test]
fn statuscake_forms_down_and_up() {
    let key = "statuscake-Storefront health https://shop.example.com/health";
    check(
        "statuscake",
        "statuscake",
        key,
        Want::Trigger {
            title: "Storefront health is down",
            severity: Severity::Critical,
            link: None,
        },
    );
    check("statuscake", "statuscake-up", key, Want::Resolve);
}

#[test]
fn checkly_failures_degradations_recoveries() {
    let key = "checkly-2e1b6c3f-7a4d-4f0e-9c5b-8d2a1f3e6b90";
    check(
        "checkly",
        "checkly",
        key,
        Want::Trigger {
            title: "Checkout API has failed",
            severity: Severity::Error,
            link: Some("https://app.checklyhq.com/checks/2e1b6c3f-7a4d-4f0e-9c5b-8d2a1f3e6b90/check-sessions/6f1d2c3b-4a5e-4b6c-8d7e-9f0a1b2c3d4e/results/91a2b3c4-d5e6-47f8-9a0b-1c2d3e4f5a6b"),
        },
    );
    check("checkly", "checkly-recovery", key, Want::Resolve);
    check(
        "checkly",
        "checkly-degraded",
        key,
        Want::Trigger {
            title: "Checkout API is degraded",
            severity: Severity::Warning,
            link: Some("https://app.checklyhq.com/checks/2e1b6c3f-7a4d-4f0e-9c5b-8d2a1f3e6b90/check-sessions/6f1d2c3b-4a5e-4b6c-8d7e-9f0a1b2c3d4e/results/91a2b3c4-d5e6-47f8-9a0b-1c2d3e4f5a6b"),
        },
    );
}

#[test]
fn honeycomb_triggers_resolve_and_tests_are_ignored() {
    check(
        "honeycomb",
        "honeycomb",
        "honeycomb-fR3d8kP2xQa",
        Want::Trigger {
            title: "Checkout p99 latency",
            severity: Severity::Error,
            link: Some("https://ui.honeycomb.io/acme/environments/production/datasets/checkout/result/9vKp2mXa7Qe"),
        },
    );
    check(
        "honeycomb",
        "honeycomb-ok",
        "honeycomb-fR3d8kP2xQa",
        Want::Resolve,
    );
    assert!(ignored("honeycomb", "honeycomb-test").contains("test"));
}

#[test]
fn github_actions_failures_resolve_on_the_next_success() {
    let key = "acme/shop:.github/workflows/ci.yml@main";
    check(
        "github-actions",
        "github-actions",
        key,
        Want::Trigger {
            title: "CI failed on main in acme/shop",
            severity: Severity::Error,
            link: Some("https://github.com/acme/shop/actions/runs/11953284712"),
        },
    );
    check(
        "github-actions",
        "github-actions-success",
        key,
        Want::Resolve,
    );
    let Mapped::Event(AlertEvent {
        action: AlertAction::Trigger(d),
        ..
    }) = map("github-actions", "github-actions")
    else {
        panic!("not a trigger")
    };
    let message = d.custom_details.as_ref().and_then(|c| c.get("message"));
    assert_eq!(
        message.and_then(Value::as_str),
        Some("Run #1874 (failure, push) at 8f3c2a1: Bump the cart timeout to 5s")
    );
    assert!(ignored("github-actions", "github-actions-ping").contains("ping"));
    assert!(ignored("github-actions", "github-actions-in-progress").contains("in_progress"));
    let mut cancelled = fixture("github-actions");
    cancelled["workflow_run"]["conclusion"] = json!("cancelled");
    let (mapped, _) = apply(&builtin("github-actions"), KEY, &cancelled);
    assert!(
        matches!(mapped, Mapped::Ignore(ref why) if why.contains("cancelled")),
        "{mapped:?}"
    );
}

#[test]
fn forms_become_objects_and_repeated_fields_arrays() {
    assert_eq!(
        form_payload(b"Name=Shop+front&Status=Down&tag=a&tag=b&tag=c").unwrap(),
        json!({"Name": "Shop front", "Status": "Down", "tag": ["a", "b", "c"]})
    );
    assert_eq!(form_payload(b"").unwrap(), json!({}));
    // Bytes that are not UTF-8 are replaced, not refused.
    assert_eq!(form_payload(b"a=%FF").unwrap(), json!({"a": "\u{FFFD}"}));
}
