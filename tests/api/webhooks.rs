//! Generic webhooks: shipped mappings against their example payloads, the
//! SNS subscription handshake, and a mapping that fails at runtime keeping the alert.

use crate::support::*;
use serde_json::Value;
use tocsin::clock::Clock;
use tocsin::domain::incident::State;
use tocsin::store::Outbound;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/integrations/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `api` maps with `mapping`; a file `integrations/NAME.toml` may sit beside the config.
async fn start(mapping: &str, files: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("integrations")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join("integrations").join(name), text).unwrap();
    }
    let config = CONFIG.replace(
        "integration_key = \"5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a\"\n",
        &format!(
            "integration_key = \"5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a\"\nwebhook = \"{mapping}\"\n"
        ),
    );
    TestApp::start_full(dir, None, &[], Clock::system(), &config).await
}

async fn send(t: &TestApp, key: &str, body: Vec<u8>) -> (u16, Value) {
    post(
        &format!("{}/integrations/webhook/{key}", t.base),
        &[("content-type", "application/json")],
        body,
    )
    .await
}

#[tokio::test]
async fn datadog_triggers_then_recovers() {
    let t = start("datadog", &[]).await;
    let (status, body) = send(&t, KEY, fixture("datadog")).await;
    assert_eq!(status, 202, "{body}");
    let store = &t.app().core().store;
    let inc = &store.incidents().await.unwrap()[0];
    assert!(
        inc.alert.summary.contains("CPU usage is high on web-03"),
        "{inc:?}"
    );
    assert_eq!(inc.state, State::Triggered);
    let (status, _) = send(&t, KEY, fixture("datadog-recovered")).await;
    assert_eq!(status, 202);
    assert_eq!(store.incidents().await.unwrap()[0].state, State::Resolved);
    assert_eq!(store.incidents().await.unwrap().len(), 1);
}

#[tokio::test]
async fn sns_subscription_is_confirmed_through_the_outbox() {
    let t = start("cloudwatch", &[]).await;
    let (status, body) = send(&t, KEY, fixture("cloudwatch-subscription")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("confirming")),
        "{body}"
    );
    let rows = t.app().core().store.pending().await.unwrap();
    let subscribe: Value = serde_json::from_slice(&fixture("cloudwatch-subscription")).unwrap();
    assert!(rows.iter().any(|(_, item)| matches!(&item.op,
        Outbound::Fetch { url } if url.as_str() == subscribe["SubscribeURL"].as_str().unwrap())));
    assert!(t.app().core().store.incidents().await.unwrap().is_empty());
    // The alarm itself, wrapped in SNS's envelope.
    let (status, _) = send(&t, KEY, fixture("cloudwatch")).await;
    assert_eq!(status, 202);
    assert_eq!(t.app().core().store.incidents().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_mapping_that_fails_at_runtime_still_opens_an_incident_and_says_why() {
    let strict = "title = 'payload.count + \" hosts down\"'\n";
    let t = start("strict", &[("strict.toml", strict)]).await;
    let (status, body) = send(&t, KEY, br#"{"count": 3}"#.to_vec()).await;
    assert_eq!(status, 202, "{body}");
    assert!(
        body["mapping_error"].as_str().unwrap().contains("strict"),
        "{body}"
    );
    let inc = &t.app().core().store.incidents().await.unwrap()[0];
    assert!(
        inc.alert
            .summary
            .starts_with("Webhook mapping strict failed"),
        "{}",
        inc.alert.summary
    );
    // The raw payload is kept with the incident's custom details.
    let details = t.app().core().store.custom_details(inc.id).await.unwrap();
    assert!(details.unwrap().to_string().contains("\"count\":3"));
    // Not JSON at all, an unknown key, a service without a mapping: clear errors.
    assert_eq!(send(&t, KEY, b"{".to_vec()).await.0, 400);
    assert_eq!(send(&t, &"f".repeat(32), b"{}".to_vec()).await.0, 404);
    let (status, body) = send(&t, PAGED_KEY, b"{}".to_vec()).await;
    assert_eq!(status, 404);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("no webhook mapping"));
}

/// One service per mapping below, each with its own key.
async fn start_many(mappings: &[&str]) -> (TestApp, Vec<String>) {
    let mut config = CONFIG.to_string();
    let mut keys = vec![];
    for (i, name) in mappings.iter().enumerate() {
        let key = format!("{:032x}", 0xabc000 + i);
        config.push_str(&format!(
            "\n[[services]]\nid = \"svc-{name}\"\nname = \"{name}\"\nteam = \"platform\"\n\
             integration_key = \"{key}\"\nwebhook = \"{name}\"\n"
        ));
        keys.push(key);
    }
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::start_full(dir, None, &[], Clock::system(), &config).await;
    (t, keys)
}

fn example(name: &str) -> (Vec<u8>, &'static str) {
    let dir = format!("{}/tests/fixtures/integrations", env!("CARGO_MANIFEST_DIR"));
    let form = format!("{dir}/{name}.form");
    match std::fs::read(&form) {
        Ok(body) => (body, "application/x-www-form-urlencoded"),
        Err(_) => (fixture(name), "application/json"),
    }
}

#[tokio::test]
async fn each_added_mapping_triggers_and_resolves_through_the_router() {
    // mapping, trigger example, the summary it opens, the example that resolves it.
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        (
            "nagios",
            "nagios",
            "PostgreSQL Connections is CRITICAL on db-primary-01",
            Some("nagios-recovery"),
        ),
        (
            "elastic",
            "elastic",
            "High error rate in checkout on checkout-service",
            Some("elastic-recovered"),
        ),
        (
            "splunk",
            "splunk",
            "Nginx upstream timeouts on web-07",
            None,
        ),
        (
            "dynatrace",
            "dynatrace",
            "Response time degradation on CheckoutService (P-24831)",
            Some("dynatrace-resolved"),
        ),
        (
            "azure-monitor",
            "azure-monitor",
            "WCUS-R2-Gen2 on wcus-r2-gen2",
            Some("azure-monitor-resolved"),
        ),
        (
            "gcp-monitoring",
            "gcp-monitoring",
            "API VM CPU high on api-vm-3",
            Some("gcp-monitoring-closed"),
        ),
        (
            "pingdom",
            "pingdom",
            "Storefront HTTPS is down",
            Some("pingdom-up"),
        ),
        (
            "uptimerobot",
            "uptimerobot",
            "Public API is down",
            Some("uptimerobot-up"),
        ),
        (
            "statuscake",
            "statuscake",
            "Storefront health is down",
            Some("statuscake-up"),
        ),
        (
            "checkly",
            "checkly",
            "Checkout API has failed",
            Some("checkly-recovery"),
        ),
        (
            "honeycomb",
            "honeycomb",
            "Checkout p99 latency",
            Some("honeycomb-ok"),
        ),
        (
            "github-actions",
            "github-actions",
            "CI failed on main in acme/shop",
            Some("github-actions-success"),
        ),
    ];
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let (t, keys) = start_many(&names).await;
    let store = &t.app().core().store;
    let send = |key: &str, name: &str| {
        let (body, content_type) = example(name);
        let url = format!("{}/integrations/webhook/{key}", t.base);
        async move { post(&url, &[("content-type", content_type)], body).await }
    };
    for ((mapping, trigger, summary, resolve), key) in cases.iter().zip(&keys) {
        let (status, body) = send(key, trigger).await;
        assert_eq!(status, 202, "{mapping}: {body}");
        assert_eq!(body["mapping_error"], Value::Null, "{mapping}: {body}");
        let all = store.incidents().await.unwrap();
        let inc = all
            .iter()
            .find(|i| i.alert.summary == *summary)
            .unwrap_or_else(|| panic!("{mapping}: no incident {summary:?} in {all:#?}"));
        assert_eq!(inc.state, State::Triggered, "{mapping}");
        let id = inc.id;
        if let Some(resolve) = resolve {
            let (status, body) = send(key, resolve).await;
            assert_eq!(status, 202, "{mapping}: {body}");
            let all = store.incidents().await.unwrap();
            let inc = all.iter().find(|i| i.id == id).unwrap();
            assert_eq!(inc.state, State::Resolved, "{mapping}");
        }
    }
    assert_eq!(store.incidents().await.unwrap().len(), cases.len());
    // Pings and tests open nothing.
    for (mapping, example_name) in [
        ("github-actions", "github-actions-ping"),
        ("honeycomb", "honeycomb-test"),
        ("nagios", "nagios-icinga2-downtime"),
    ] {
        let key = &keys[names.iter().position(|n| *n == mapping).unwrap()];
        let (status, body) = send(key, example_name).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("ignored")),
            "{body}"
        );
    }
    assert_eq!(store.incidents().await.unwrap().len(), cases.len());
}

#[tokio::test]
async fn a_form_body_is_read_as_its_fields_and_json_stays_json() {
    let (t, keys) = start_many(&["statuscake"]).await;
    let url = format!("{}/integrations/webhook/{}", t.base, keys[0]);
    let (form, _) = example("statuscake");
    // The same form sent as JSON is not JSON: a clear 400, nothing opened.
    let (status, body) = post(&url, &[("content-type", "application/json")], form.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not valid JSON"));
    assert!(t.app().core().store.incidents().await.unwrap().is_empty());
    let (status, body) = post(
        &url,
        &[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        form,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let inc = &t.app().core().store.incidents().await.unwrap()[0];
    let details = t
        .app()
        .core()
        .store
        .custom_details(inc.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(details["payload"]["StatusCode"], "503", "{details}");
}
