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
    "cloudwatch",
    "cloudwatch-ok",
    "cloudwatch-subscription",
    "cloudwatch-unsubscribe",
    "datadog",
    "datadog-recovered",
    "newrelic",
    "newrelic-acknowledged",
    "newrelic-closed",
    "sentry",
    "sentry-event-alert",
    "sentry-installation",
    "sentry-metric-alert",
    "sentry-resolved",
    "uptime-kuma",
    "uptime-kuma-test",
    "uptime-kuma-up",
    "zabbix",
    "zabbix-ack",
    "zabbix-recovery",
];

fn fixture(name: &str) -> Value {
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
