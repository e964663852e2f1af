//! No secret reaches the logs, even at trace level: the real binary is run
//! with every credential set and driven through every authenticated path.

use crate::crash::spawn_logged;
use crate::fake_twilio::{self, FakeTwilio};
use crate::support::*;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const API_TOKEN: &str = "a7c3e9f1b5d2468097acbdf0e1d2c3b4";
const HEARTBEAT: &str = "beadfeed0123456789abcdefbeadfeed";
const APP_TOKEN: &str = "xapp-1-A0APP-1234567890-deadbeefcafe";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_the_logs_at_any_level() {
    let (fake, twilio) = (FakeSlack::start().await, FakeTwilio::start().await);
    let dir = tempfile::tempdir().unwrap();
    let config = with_api_settings(&format!(
        "heartbeats = [{{ id = \"job\", interval = \"1h\", token = \"{HEARTBEAT}\" }}]\n"
    ));
    // Socket Mode too: a WebSocket peer that greets and stays connected.
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    fake.set_socket_url(&format!("ws://{}/link", socket.local_addr().unwrap()));
    let greeted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn({
        let greeted = greeted.clone();
        async move {
            use futures_util::SinkExt;
            let (stream, _) = socket.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            let hello = tokio_tungstenite::tungstenite::Message::Text(r#"{"type":"hello"}"#.into());
            ws.send(hello).await.unwrap();
            greeted.store(true, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    });
    let mut env: Vec<(&str, String)> = twilio.env();
    env.push(("TOCSIN_API_TOKEN", API_TOKEN.into()));
    env.push(("SLACK_APP_TOKEN", APP_TOKEN.into()));
    env.push(("RUST_LOG", "trace".into()));
    let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (mut child, base) = tokio::task::spawn_blocking({
        let (fake, path, log) = (fake.clone(), dir.path().to_path_buf(), log.clone());
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move || {
            let extra: Vec<(&str, &str)> = extra
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            spawn_logged(&fake, &path, &config, &extra, Some(log))
        }
    })
    .await
    .unwrap();
    // However the test ends, the server does not outlive it.
    struct Stop(u32);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .arg(self.0.to_string())
                .status();
        }
    }
    let _stop = Stop(child.id());

    // Alerts, a Slack click and command, the report API, a heartbeat, a voice webhook.
    let json_post = |path: &str, body: serde_json::Value| {
        let url = format!("{base}{path}");
        async move {
            post(
                &url,
                &[("content-type", "application/json")],
                body.to_string().into_bytes(),
            )
            .await
        }
    };
    assert_eq!(
        json_post("/v2/enqueue", trigger_body("s1", "secret check"))
            .await
            .0,
        202
    );
    fake.wait_for("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    let ts = chrono::Utc::now().timestamp().to_string();
    let response_url = fake.response_url("r");
    let body = serde_urlencoded::to_string([
        ("token", "deprecated"),
        ("team_id", "T0TEAM"),
        ("team_domain", "example"),
        ("channel_id", CHANNEL),
        ("channel_name", "platform"),
        ("user_id", "U0ALICE"),
        ("user_name", "alice"),
        ("command", "/incident"),
        ("text", "ack 1"),
        ("api_app_id", "A0APP"),
        ("is_enterprise_install", "false"),
        ("response_url", response_url.as_str()),
        ("trigger_id", "1.2.3"),
    ])
    .unwrap();
    let sig = tocsin::slack::verify::sign(SECRET, &ts, body.as_bytes());
    let (status, _) = post(
        &format!("{base}/slack/commands"),
        &[
            ("x-slack-request-timestamp", &ts),
            ("x-slack-signature", &sig),
        ],
        body.into_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let bad = post(
        &format!("{base}/slack/commands"),
        &[
            ("x-slack-request-timestamp", &ts),
            ("x-slack-signature", "v0=00"),
        ],
        b"text=x".to_vec(),
    )
    .await;
    assert_eq!(bad.0, 401);
    assert_eq!(get(&format!("{base}/heartbeat/{HEARTBEAT}")).await.0, 200);
    let bearer = format!("Bearer {API_TOKEN}");
    let report = get_with(
        &format!("{base}/api/v1/report?team=platform&since=2026-01-01"),
        Some(&bearer),
    )
    .await;
    assert_eq!(report.0, 200, "{}", report.2);
    let url = format!("{}/voice/page/1?user=alice", fake_twilio::PUBLIC);
    fake_twilio::webhook(&base, &url, &[("CallSid", "CA1")]).await;
    json_post(
        "/integrations/alertmanager/5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a",
        json!({"version": "3"}),
    )
    .await;
    json_post(
        "/v2/enqueue",
        json!({"routing_key": "ffffffffffffffffffffffffffffffff", "event_action": "trigger"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // SIGTERM, so the process shuts down (and logs) normally.
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let _ = child.wait();
    let lines = log.lock().unwrap().clone();
    assert!(
        lines.len() > 20,
        "trace logging produced output: {}",
        lines.len()
    );
    assert!(
        greeted.load(std::sync::atomic::Ordering::SeqCst),
        "Socket Mode never connected"
    );
    let twilio_token = fake_twilio::TOKEN;
    for secret in [
        APP_TOKEN,
        SECRET,
        "xoxb-test-token",
        twilio_token,
        API_TOKEN,
        HEARTBEAT,
        KEY,
    ] {
        let leaks: Vec<&String> = lines.iter().filter(|l| l.contains(secret)).collect();
        assert!(
            leaks.is_empty(),
            "{secret} appears in the logs: {:?}",
            &leaks[..leaks.len().min(3)]
        );
    }
}
