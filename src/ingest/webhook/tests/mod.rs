//! Shared fixtures for the mapping tests: the example payloads shipped with
//! the built-in mappings, and helpers that map them.

mod builtins;
mod custom;
mod props;

use super::*;

const KEY: &str = "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a";

macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../../tests/fixtures/integrations/", $name, ".json")))),*]
    };
}
const FIXTURES: &[(&str, &str)] = fixtures![
    "azure-monitor",
    "azure-monitor-resolved",
    "checkly",
    "checkly-degraded",
    "checkly-recovery",
    "cloudwatch",
    "cloudwatch-ok",
    "cloudwatch-subscription",
    "cloudwatch-unsubscribe",
    "datadog",
    "datadog-recovered",
    "dynatrace",
    "dynatrace-resolved",
    "elastic",
    "elastic-recovered",
    "gcp-monitoring",
    "gcp-monitoring-closed",
    "github-actions",
    "github-actions-in-progress",
    "github-actions-ping",
    "github-actions-success",
    "honeycomb",
    "honeycomb-ok",
    "honeycomb-test",
    "newrelic",
    "newrelic-acknowledged",
    "newrelic-closed",
    "pingdom",
    "pingdom-up",
    "sentry",
    "sentry-event-alert",
    "sentry-installation",
    "sentry-metric-alert",
    "sentry-resolved",
    "splunk",
    "uptime-kuma",
    "uptime-kuma-test",
    "uptime-kuma-up",
    "uptimerobot",
    "uptimerobot-ssl",
    "uptimerobot-up",
    "zabbix",
    "zabbix-ack",
    "zabbix-recovery",
];

/// Form-encoded example bodies, for the tools that post forms.
macro_rules! forms {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../../tests/fixtures/integrations/", $name, ".form")))),*]
    };
}
const FORMS: &[(&str, &str)] = forms![
    "nagios",
    "nagios-ack",
    "nagios-icinga2-downtime",
    "nagios-icinga2-host",
    "nagios-recovery",
    "statuscake",
    "statuscake-up",
];

fn fixture(name: &str) -> Value {
    if let Some((_, form)) = FORMS.iter().find(|(n, _)| *n == name) {
        return form_payload(form.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let (_, text) = FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn builtin(name: &str) -> Mapping {
    match Mapping::builtin(name) {
        Some(Ok(m)) => m,
        Some(Err(errs)) => panic!("{name}: {errs:#?}"),
        None => panic!("no builtin {name}"),
    }
}

fn map(mapping: &str, fixture_name: &str) -> Mapped {
    let (mapped, err) = apply(&builtin(mapping), KEY, &fixture(fixture_name));
    assert_eq!(err, None, "{fixture_name}");
    mapped
}
