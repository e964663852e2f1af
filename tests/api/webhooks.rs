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
