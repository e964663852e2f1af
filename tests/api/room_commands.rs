//! `/incident` in an incident's own channel acts on that incident without
//! its id; elsewhere a command without an id lists the open incidents to
//! pick from and changes nothing.

use crate::support::*;
use chrono::{TimeZone, Utc};
use serde_json::json;
use std::time::Duration as Wait;
use tocsin::clock::Clock;
use tocsin::domain::incident::State;

const WAIT: Wait = Wait::from_secs(5);
const ROOM: &str = "C0ROOM1";
const KEY: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

const CONFIG: &str = r#"
[[users]]
id = "alice"
name = "Alice Example"
slack_id = "U0ALICE"

[[users]]
id = "carol"
name = "Carol Lead"
slack_id = "U0CAROL"

[[teams]]
id = "platform"
name = "Platform"
leads = ["carol"]
members = ["alice", "carol"]
alert_channel = "C0PLATFORM"
channel_at = "SEV1"

[[escalation_policies]]
id = "first"
[[escalation_policies.levels]]
after_minutes = 0
targets = ["user:alice"]

[[services]]
id = "checkout"
name = "Checkout"
team = "platform"
escalation_policy = "first"
integration_key = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
"#;

async fn start(fake: &FakeSlack) -> TestApp {
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap());
    TestApp::start_at_with_config(tempfile::tempdir().unwrap(), Some(fake), clock, CONFIG).await
}

async fn alert(t: &TestApp, key: &str, summary: &str, severity: &str) {
    let body = json!({
        "routing_key": KEY, "event_action": "trigger", "dedup_key": key,
        "payload": {"summary": summary, "source": "lb-1", "severity": severity},
    });
    assert_eq!(t.enqueue(&body).await.0, 202);
}

/// The ephemeral reply to `/incident text` typed by `user` in `channel`.
async fn run(t: &TestApp, channel: &str, text: &str, user: &str) -> String {
    let (status, body) = t
        .slash_in(channel, "/incident", text, user, "http://unused/")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response_type"], "ephemeral", "{body}");
    body["text"].as_str().unwrap_or_default().to_string()
}

async fn state_of(t: &TestApp, id: u64) -> State {
    let inc = t.app().core().store.incident(id).await.unwrap();
    inc.expect("the incident exists").state
}

/// #1 is critical (SEV1) and gets its own channel; #2 is a warning, without one.
async fn two_open(t: &TestApp, fake: &FakeSlack) {
    alert(t, "k1", "Checkout 5xx above 10%", "critical").await;
    assert_eq!(fake.wait_for("pins.add", 1, WAIT).await.len(), 1, "no room");
    alert(t, "k2", "Checkout latency creeping up", "warning").await;
}

#[tokio::test]
async fn a_resolve_typed_in_the_room_resolves_that_incident() {
    let fake = FakeSlack::start().await;
    let t = start(&fake).await;
    two_open(&t, &fake).await;
    let updates_before = fake.calls("chat.update").len();

    let reply = run(&t, ROOM, "resolve", "U0ALICE").await;
    assert_eq!(reply, "#1 *Checkout 5xx above 10%* is now resolved.");
    assert_eq!(state_of(&t, 1).await, State::Resolved);
    assert_eq!(
        state_of(&t, 2).await,
        State::Triggered,
        "only the room's incident"
    );
    // Its messages are updated in place, as a click would.
    let end = std::time::Instant::now() + WAIT;
    while fake.calls("chat.update").len() <= updates_before {
        assert!(std::time::Instant::now() < end, "no message update");
        tokio::time::sleep(Wait::from_millis(10)).await;
    }
    // Typed again, it changes nothing and says so.
    let again = run(&t, ROOM, "resolve", "U0ALICE").await;
    assert!(again.contains("already resolved"), "{again}");
}

#[tokio::test]
async fn every_command_that_takes_an_id_defaults_to_the_rooms_incident() {
    let fake = FakeSlack::start().await;
    let t = start(&fake).await;
    two_open(&t, &fake).await;

    let ack = run(&t, ROOM, "ack", "U0ALICE").await;
    assert!(
        ack.starts_with("#1 ") && ack.ends_with("is now acknowledged."),
        "{ack}"
    );
    let snooze = run(&t, ROOM, "snooze 1h", "U0ALICE").await;
    assert!(snooze.starts_with("#1 is snoozed until"), "{snooze}");
    let inc = t.app().core().store.incident(1).await.unwrap().unwrap();
    assert!(inc.snoozed_until.is_some());
    let sub = run(&t, ROOM, "subscribe", "U0CAROL").await;
    assert!(sub.contains("#1's status updates"), "{sub}");
    let unsub = run(&t, ROOM, "unsubscribe", "U0CAROL").await;
    assert!(unsub.contains("no longer get #1's"), "{unsub}");
    let timeline = run(&t, ROOM, "timeline", "U0CAROL").await;
    assert!(
        timeline.starts_with("*Timeline of #1 Checkout 5xx above 10%*"),
        "{timeline}"
    );
    let assign = run(&t, ROOM, "assign @carol", "U0ALICE").await;
    assert!(assign.contains("about #1 now"), "{assign}");
    let escalate = run(&t, ROOM, "escalate", "U0ALICE").await;
    assert!(escalate.contains("#1"), "{escalate}");
    let channel = run(&t, ROOM, "channel", "U0ALICE").await;
    assert!(channel.contains("#1"), "{channel}");
    // An id typed in the room still wins.
    let other = run(&t, ROOM, "ack 2", "U0ALICE").await;
    assert!(other.starts_with("#2 "), "{other}");
    assert_eq!(state_of(&t, 2).await, State::Acknowledged);
}

#[tokio::test]
async fn outside_a_room_a_missing_id_lists_the_open_incidents_and_changes_nothing() {
    let fake = FakeSlack::start().await;
    let t = start(&fake).await;
    two_open(&t, &fake).await;

    let reply = run(&t, CHANNEL, "resolve", "U0ALICE").await;
    assert!(
        reply.contains("which incident should I resolve?"),
        "{reply}"
    );
    assert!(reply.contains("not an incident's channel"), "{reply}");
    for want in [
        "• #1 Checkout 5xx above 10% — triggered · SEV1 — `/incident resolve 1`",
        "• #2 Checkout latency creeping up — triggered · SEV3 — `/incident resolve 2`",
    ] {
        assert!(reply.contains(want), "{want} missing: {reply}");
    }
    let snooze = run(&t, CHANNEL, "snooze 30m", "U0ALICE").await;
    assert!(snooze.contains("`/incident snooze 2 DURATION`"), "{snooze}");
    assert_eq!(state_of(&t, 1).await, State::Triggered);
    assert_eq!(state_of(&t, 2).await, State::Triggered);

    // The help says where the id may be left out.
    let help = run(&t, CHANNEL, "help", "U0ALICE").await;
    assert!(help.contains("`/incident resolve [ID]`"), "{help}");
    assert!(help.contains("leave out the ID"), "{help}");
}

#[tokio::test]
async fn with_nothing_open_a_missing_id_says_so() {
    let fake = FakeSlack::start().await;
    let t = start(&fake).await;
    let reply = run(&t, CHANNEL, "ack", "U0ALICE").await;
    assert!(reply.contains("no incident is open"), "{reply}");
    assert!(reply.contains("Usage: `/incident ack [ID]`"), "{reply}");
}
