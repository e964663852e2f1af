//! Socket Mode against a fake Slack WebSocket on loopback: commands, clicks and
//! events arrive as envelopes and are acknowledged with the handlers' replies;
//! a `disconnect` notice makes tocsin open a fresh connection.

use crate::support::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const WAIT: Duration = Duration::from_secs(5);

type Socket = WebSocketStream<tokio::net::TcpStream>;

async fn accept(listener: &TcpListener) -> Socket {
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("tocsin never connected")
        .unwrap();
    let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
    send(&mut ws, json!({"type": "hello", "num_connections": 1})).await;
    ws
}

async fn send(ws: &mut Socket, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next acknowledgement tocsin sends.
async fn ack(ws: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no acknowledgement")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

#[tokio::test]
async fn socket_mode_carries_commands_clicks_and_events_and_reconnects() {
    let fake = FakeSlack::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    fake.set_socket_url(&format!("ws://{}/link", listener.local_addr().unwrap()));
    let t = TestApp::start_with(Some(&fake), &[("SLACK_APP_TOKEN", "xapp-1-test")]).await;
    let mut ws = accept(&listener).await;

    // A slash command: the acknowledgement carries the reply.
    let command = json!({
        "token": "deprecated", "team_id": "T0TEAM", "team_domain": "example",
        "channel_id": CHANNEL, "channel_name": "platform", "user_id": "U0ALICE",
        "user_name": "alice", "command": "/incident", "text": "list", "api_app_id": "A0APP",
        "is_enterprise_install": "false", "response_url": fake.response_url("cmd"),
        "trigger_id": "1.2.3"
    });
    send(
        &mut ws,
        json!({"envelope_id": "e1", "type": "slash_commands",
                         "accepts_response_payload": true, "payload": command}),
    )
    .await;
    let a = ack(&mut ws).await;
    assert_eq!(a["envelope_id"], "e1");
    assert_eq!(a["payload"]["text"], "No open incidents. :tada:");

    // A click on an incident's button acknowledges it.
    assert_eq!(t.trigger("s1", "Disk full on db-1").await.0, 202);
    fake.wait_for("chat.postMessage", 1, WAIT).await;
    let click = click_payload(
        "incident_acknowledge",
        1,
        "U0ALICE",
        &fake.response_url("click"),
    );
    send(
        &mut ws,
        json!({"envelope_id": "e2", "type": "interactive", "payload": click}),
    )
    .await;
    let a = ack(&mut ws).await;
    assert_eq!(a["envelope_id"], "e2");
    let inc = t.app().core().store.incident(1).await.unwrap().unwrap();
    assert_eq!(inc.state, tocsin::domain::incident::State::Acknowledged);
    assert_eq!(
        inc.acknowledged.unwrap().by,
        tocsin::domain::incident::Actor::Slack {
            user_id: "U0ALICE".into()
        }
    );

    // An event is acknowledged too; garbage is ignored, not fatal.
    ws.send(Message::Text("not json".into())).await.unwrap();
    let event = json!({"type": "event_callback", "event_id": "Ev1", "team_id": "T0TEAM", "api_app_id": "A0APP",
                       "event": {"type": "app_mention", "user": "U0ALICE", "text": "hi"}});
    send(
        &mut ws,
        json!({"envelope_id": "e3", "type": "events_api", "payload": event}),
    )
    .await;
    assert_eq!(ack(&mut ws).await["envelope_id"], "e3");

    // Slack rotates connections: tocsin asks for a new address and reconnects.
    send(
        &mut ws,
        json!({"type": "disconnect", "reason": "refresh_requested"}),
    )
    .await;
    let mut again = accept(&listener).await;
    assert_eq!(fake.calls("apps.connections.open").len(), 2);
    send(
        &mut again,
        json!({"envelope_id": "e4", "type": "slash_commands", "payload": command}),
    )
    .await;
    let a = ack(&mut again).await;
    assert_eq!(a["envelope_id"], "e4");
    assert!(
        a["payload"]["text"]
            .as_str()
            .unwrap()
            .contains("#1 Disk full on db-1"),
        "{a}"
    );
    t.stop().await;
}
