//! Slack inbound: signatures, buttons, slash commands, events.

use crate::support::*;
use serde_json::json;
use std::time::Duration;
use tocsin::domain::incident::State;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn clicking_acknowledge_updates_the_message_in_place() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    t.trigger("k1", "Checkout errors").await;
    let post = fake.wait_for("chat.postMessage", 1, WAIT).await.remove(0);
    let ts = post.body["ts"].clone();
    let (status, _) = t
        .click("incident_acknowledge", 1, "U0BOB", &fake.response_url("c1"))
        .await;
    assert_eq!(status, 200);
    let update = fake.wait_for("chat.update", 1, WAIT).await.remove(0).body;
    assert_eq!(update["channel"], CHANNEL);
    assert_ne!(
        update["ts"], ts,
        "ts of the request is not the posted message's"
    );
    assert_eq!(
        button_labels(&update),
        ["Resolve", "Snooze 1h", "Snooze 4h", "Open channel"]
    );
    assert!(
        update["blocks"]
            .to_string()
            .contains("Acknowledged by <@U0BOB>"),
        "{update}"
    );

    // Then Resolve: no buttons left.
    t.click("incident_resolve", 1, "U0ALICE", &fake.response_url("c2"))
        .await;
    let updates = fake.wait_for("chat.update", 2, WAIT).await;
    assert!(button_labels(&updates[1].body).is_empty());
    assert!(updates[1].body["blocks"]
        .to_string()
        .contains("Resolved by <@U0ALICE>"));
}

#[tokio::test]
async fn a_double_click_changes_the_incident_once_and_explains_the_second() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    t.trigger("k2", "Queue backlog").await;
    fake.wait_for("chat.postMessage", 1, WAIT).await;
    let (r1, r2) = (fake.response_url("first"), fake.response_url("second"));
    let (a, b) = tokio::join!(
        t.click("incident_acknowledge", 1, "U0BOB", &r1),
        t.click("incident_acknowledge", 1, "U0ALICE", &r2),
    );
    assert_eq!((a.0, b.0), (200, 200));
    let replies = fake
        .wait_for("respond/first", 1, Duration::from_millis(500))
        .await
        .len()
        + fake
            .wait_for("respond/second", 1, Duration::from_millis(500))
            .await
            .len();
    assert_eq!(replies, 1, "exactly one click is told it changed nothing");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.calls("chat.update").len(), 1);
    let inc = t.app().core().store.incident(1).await.unwrap().unwrap();
    assert_eq!(inc.state, State::Acknowledged);
}

/// `body` signed as Slack signs it at the app's "now": (timestamp, signature).
fn signed_now(t: &TestApp, body: &str) -> (String, String) {
    let ts = t.app().core().clock.now().timestamp().to_string();
    let sig = tocsin::slack::verify::sign(SECRET, &ts, body.as_bytes());
    (ts, sig)
}

#[tokio::test]
async fn a_replayed_command_or_click_is_refused_even_after_a_restart() {
    let fake = FakeSlack::start().await;
    let clock = tocsin::clock::Clock::manual(chrono::Utc::now());
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock.clone()).await;
    t.trigger("k-replay", "Replay target").await;
    fake.wait_for("chat.postMessage", 1, WAIT).await;
    let command = serde_urlencoded::to_string([
        ("team_id", "T0TEAM"),
        ("channel_id", CHANNEL),
        ("user_id", "U0BOB"),
        ("command", "/incident"),
        ("text", "ack 1"),
        ("api_app_id", "A0APP"),
        ("response_url", &fake.response_url("ack")),
        ("trigger_id", &next_trigger_id()),
    ])
    .unwrap();
    let payload = click_payload("incident_resolve", 1, "U0ALICE", &fake.response_url("res"));
    let click = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let requests = [("/slack/commands", command), ("/slack/interactions", click)];
    let mut sent = vec![];
    for (path, body) in &requests {
        let (ts, sig) = signed_now(&t, body);
        let (status, answer) = t.slack_signed(path, body, &ts, &sig).await;
        assert_eq!(status, 200, "{path}: {answer}");
        // The same request again, a minute later: well inside the window.
        clock.advance(chrono::Duration::minutes(1));
        let (status, answer) = t.slack_signed(path, body, &ts, &sig).await;
        assert_eq!(status, 401, "{path} replayed: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("replay"),
            "{answer}"
        );
        sent.push((*path, body.clone(), ts, sig));
    }
    let inc = t.app().core().store.incident(1).await.unwrap().unwrap();
    assert_eq!(inc.state, State::Resolved);
    fake.wait_for("chat.update", 2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let updates = fake.calls("chat.update").len();

    // After a restart, still inside the window, they are refused too.
    let dir = t.stop().await;
    let t = TestApp::start_at(dir, Some(&fake), clock.clone()).await;
    for (path, body, ts, sig) in &sent {
        let (status, _) = t.slack_signed(path, body, ts, sig).await;
        assert_eq!(status, 401, "{path} replayed after a restart");
    }
    assert_eq!(
        t.app().core().store.incident(1).await.unwrap().unwrap(),
        inc
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.calls("chat.update").len(), updates);
    assert!(fake.calls("respond/ack").is_empty() && fake.calls("respond/res").is_empty());
    // A new request (Slack gives each its own trigger id) is answered.
    let (status, body) = t.command("list", "U0BOB", &fake.response_url("l")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn requests_for_another_workspace_or_app_are_refused_once_slack_said_which_is_ours() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    t.trigger("k-elsewhere", "Elsewhere target").await;
    fake.wait_for("chat.postMessage", 1, WAIT).await;
    let core = t.app().core().clone();
    wait_until(|| core.installation.get().is_some()).await;
    assert_eq!(
        core.installation.get(),
        Some(&tocsin::slack::inbound::Installation {
            team_id: TEAM_ID.into(),
            app_id: Some(APP_ID.into()),
        })
    );
    assert_eq!(fake.calls("auth.test").len(), 1);
    assert_eq!(fake.calls("bots.info")[0].body["bot"], "B0BOT");

    let command = |team: &str, app: &str| {
        serde_urlencoded::to_string([
            ("team_id", team),
            ("channel_id", CHANNEL),
            ("user_id", "U0BOB"),
            ("command", "/incident"),
            ("text", "ack 1"),
            ("api_app_id", app),
            ("response_url", &fake.response_url("cmd")),
            ("trigger_id", &next_trigger_id()),
        ])
        .unwrap()
    };
    let click = |team: &str, app: &str| {
        let mut p = click_payload("incident_resolve", 1, "U0ALICE", &fake.response_url("c"));
        p["team"]["id"] = json!(team);
        p["user"]["team_id"] = json!(team);
        p["api_app_id"] = json!(app);
        serde_urlencoded::to_string([("payload", p.to_string())]).unwrap()
    };
    let event = |team: &str, app: &str| {
        json!({"type": "event_callback", "team_id": team, "api_app_id": app,
               "event_id": next_trigger_id(), "event": {"type": "app_mention"}})
        .to_string()
    };
    for (team, app) in [
        ("T0OTHER", APP_ID),
        (TEAM_ID, "A0OTHER"),
        ("T0OTHER", "A0OTHER"),
    ] {
        for (path, body) in [
            ("/slack/commands", command(team, app)),
            ("/slack/interactions", click(team, app)),
            ("/slack/events", event(team, app)),
        ] {
            let (status, answer) = t.slack(path, &body).await;
            assert_eq!(status, 403, "{path} from {team}/{app}: {answer}");
            assert!(
                answer["error"]
                    .as_str()
                    .unwrap()
                    .contains("another Slack workspace or app"),
                "{answer}"
            );
        }
    }
    // A command with no app id at all is not ours either.
    let bare = command(TEAM_ID, APP_ID).replace(&format!("api_app_id={APP_ID}&"), "");
    assert!(!bare.contains("api_app_id"), "{bare}");
    assert_eq!(t.slack("/slack/commands", &bare).await.0, 403);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        core.store.incident(1).await.unwrap().unwrap().state,
        State::Triggered
    );
    assert!(fake.calls("chat.update").is_empty());
    assert!(fake.calls("respond/cmd").is_empty() && fake.calls("respond/c").is_empty());

    // Ours are taken.
    let (status, answer) = t.slack("/slack/commands", &command(TEAM_ID, APP_ID)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("is now acknowledged"),
        "{answer}"
    );
    assert_eq!(
        t.slack("/slack/events", &event(TEAM_ID, APP_ID)).await.0,
        200
    );
}

#[tokio::test]
async fn forged_and_stale_signatures_get_401_and_change_nothing() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    t.trigger("k3", "Forgery target").await;
    fake.wait_for("chat.postMessage", 1, WAIT).await;
    let body = "token=x&team_id=T&channel_id=C&user_id=U0BOB&command=%2Fincident&text=ack+1&response_url=http%3A%2F%2F127.0.0.1%3A1%2Fr&trigger_id=1";
    let now = chrono::Utc::now().timestamp();
    let stale = (now - 301).to_string();
    let cases = [
        (
            "forged",
            now.to_string(),
            "v0=0000000000000000000000000000000000000000000000000000000000000000".to_string(),
        ),
        (
            "wrong secret",
            now.to_string(),
            tocsin::slack::verify::sign("not-the-secret", &now.to_string(), body.as_bytes()),
        ),
        (
            "stale",
            stale.clone(),
            tocsin::slack::verify::sign(SECRET, &stale, body.as_bytes()),
        ),
        ("missing", now.to_string(), String::new()),
    ];
    for path in ["/slack/commands", "/slack/interactions", "/slack/events"] {
        for (name, ts, sig) in &cases {
            let (status, _) = t.slack_signed(path, body, ts, sig).await;
            assert_eq!(status, 401, "{name} on {path}");
        }
    }
    assert_eq!(
        t.app()
            .core()
            .store
            .incident(1)
            .await
            .unwrap()
            .unwrap()
            .state,
        State::Triggered
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(fake.calls("chat.update").is_empty());
}

#[tokio::test]
async fn incident_slash_command_lists_acks_resolves_and_explains_mistakes() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    t.trigger("a", "Alpha broken").await;
    t.trigger("b", "Beta broken").await;
    let r = fake.response_url("cmd");

    let (status, body) = t.command("list", "U0BOB", &r).await;
    assert_eq!(status, 200);
    assert_eq!(body["response_type"], "ephemeral");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("2 open incidents")
            && text.contains("#1 Alpha broken — triggered (SEV1 critical, 1 alert)")
            && text.contains("#2 Beta broken"),
        "{text}"
    );

    let (_, body) = t.command("ack #1", "U0BOB", &r).await;
    assert!(
        body["text"].as_str().unwrap().contains("acknowledged"),
        "{body}"
    );
    let (_, body) = t.command("ack 1", "U0ALICE", &r).await;
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("already acknowledged"),
        "{body}"
    );
    let (_, body) = t.command("resolve 2", "U0ALICE", &r).await;
    assert!(
        body["text"].as_str().unwrap().contains("resolved"),
        "{body}"
    );
    let (_, body) = t.command("resolve 99", "U0ALICE", &r).await;
    assert!(
        body["text"].as_str().unwrap().contains("no incident #99"),
        "{body}"
    );

    for bad in ["ack", "ack banana", "frobnicate", "list everything"] {
        let (status, body) = t.command(bad, "U0BOB", &r).await;
        assert_eq!(status, 200, "{bad}");
        assert!(!body["text"].as_str().unwrap().is_empty(), "{bad}");
    }
    let (_, body) = t.command("help", "U0BOB", &r).await;
    assert!(body["text"]
        .as_str()
        .unwrap()
        .contains("/incident resolve [ID]"));

    let store = &t.app().core().store;
    assert_eq!(
        store.incident(1).await.unwrap().unwrap().state,
        State::Acknowledged
    );
    assert_eq!(
        store.incident(2).await.unwrap().unwrap().state,
        State::Resolved
    );
}

#[tokio::test]
async fn events_api_verification_and_retries() {
    let t = TestApp::start(None).await;
    let challenge = json!({"type": "url_verification", "token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"});
    let (status, body) = t.slack("/slack/events", &challenge.to_string()).await;
    assert_eq!(
        (status, body["challenge"].as_str()),
        (
            200,
            Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
        )
    );

    let ev = json!({"type": "event_callback", "event_id": "Ev0001", "team_id": TEAM_ID, "api_app_id": APP_ID, "event": {"type": "app_mention", "text": "hi"}});
    assert_eq!(t.slack("/slack/events", &ev.to_string()).await.0, 200);
    assert!(!t
        .app()
        .core()
        .store
        .first_sight_of_event("Ev0001", chrono::Utc::now())
        .await
        .unwrap());
    assert_eq!(
        t.slack("/slack/events", &ev.to_string()).await.0,
        200,
        "a retry is still answered 200"
    );

    let (status, body) = t.slack("/slack/events", "{oops").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("not valid JSON"));
}
