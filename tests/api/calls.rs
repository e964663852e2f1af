//! Live call routing, driven the way Twilio drives it: signed form POSTs to
//! `/voice/…`, TwiML answers parsed as XML. The `payments` route rings alice
//! (level 1) then bob (level 2), then takes a voicemail.

use crate::fake_twilio::{twiml, webhook, webhook_signed, FakeTwilio, PUBLIC};
use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use std::collections::HashMap;
use std::time::Duration as Wait;
use tocsin::clock::Clock;
use tocsin::domain::incident::{Actor, Incident, State};

const ALICE: &str = "+447700900001";
const BOB: &str = "+12125550002";
const CALLER: &str = "+15550123";

fn config() -> String {
    let mut c = CONFIG
        .replace(
            "slack_id = \"U0ALICE\"\n",
            &format!("slack_id = \"U0ALICE\"\nphone = \"{ALICE}\"\n"),
        )
        .replace(
            "slack_id = \"U0BOB\"\n",
            &format!("slack_id = \"U0BOB\"\nphone = \"{BOB}\"\n"),
        );
    c.push_str(
        r#"
[[teams]]
id = "desk"
name = "Help desk"

[[services]]
id = "helpdesk"
name = "Help desk"
team = "desk"
integration_key = "00000000000000000000000000000003"

[[call_routes]]
number = "+15550100"
greeting = "You have reached Payments on call."
service = "payments"
voicemail = true

[[call_routes]]
number = "+15550101"
menu = { "1" = "payments", "2" = "api" }

[[call_routes]]
number = "+15550102"
service = "api"
allow = ["+15550199"]

[[call_routes]]
number = "+15550103"
service = "helpdesk"
voicemail = true
"#,
    );
    c
}

struct Setup {
    fake: FakeSlack,
    t: TestApp,
    clock: Clock,
}

async fn start() -> Setup {
    let (fake, twilio) = (FakeSlack::start().await, FakeTwilio::start().await);
    // 03:00 UTC on a Wednesday: bob's week on the platform rotation.
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let env = twilio.env();
    let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let t = TestApp::start_full(
        tempfile::tempdir().unwrap(),
        Some(&fake),
        &extra,
        clock.clone(),
        &config(),
    )
    .await;
    Setup { fake, t, clock }
}

type Node = (String, HashMap<String, String>, String);

fn find<'a>(nodes: &'a [Node], path: &str) -> &'a Node {
    nodes
        .iter()
        .find(|n| n.0 == path)
        .unwrap_or_else(|| panic!("no {path} in {nodes:?}"))
}

fn said(nodes: &[Node]) -> String {
    nodes
        .iter()
        .filter(|n| n.0.ends_with("Say"))
        .map(|n| n.2.as_str())
        .collect::<Vec<_>>()
        .join(" | ")
}

async fn voice(s: &Setup, path: &str, params: &[(&str, &str)]) -> Vec<Node> {
    let (status, xml) = webhook(&s.t.base, &format!("{PUBLIC}{path}"), params).await;
    assert_eq!(status, 200, "{path}: {xml}");
    twiml(&xml)
}

async fn call(s: &Setup, sid: &str, to: &str) -> Vec<Node> {
    voice(
        s,
        "/voice/incoming",
        &[("CallSid", sid), ("From", CALLER), ("To", to)],
    )
    .await
}

async fn incidents(s: &Setup) -> Vec<Incident> {
    s.t.app().core().store.incidents().await.unwrap()
}

fn tick(s: &Setup, seconds: i64) {
    s.clock.advance(Duration::seconds(seconds));
}

#[tokio::test]
async fn no_answer_rings_the_next_level_and_the_incident_shows_who_answered() {
    let s = start().await;
    let nodes = call(&s, "CA100", "+15550100").await;
    assert!(
        said(&nodes).starts_with("You have reached Payments on call."),
        "{nodes:?}"
    );
    let dial = find(&nodes, "Response/Dial");
    assert_eq!(dial.1["timeout"], "20");
    assert_eq!(
        dial.1["action"],
        format!("{PUBLIC}/voice/call/1/dialed?attempt=0")
    );
    let number = find(&nodes, "Response/Dial/Number");
    assert_eq!(number.2, ALICE);
    assert_eq!(
        number.1["url"],
        format!("{PUBLIC}/voice/call/1/answered?attempt=0")
    );
    // Twilio retrying the same call opens nothing new.
    let again = call(&s, "CA100", "+15550100").await;
    assert_eq!(find(&again, "Response/Dial/Number").2, ALICE);
    assert_eq!(incidents(&s).await.len(), 1);
    assert_eq!(incidents(&s).await[0].alert_count, 1);

    tick(&s, 20);
    let dialed = [
        ("CallSid", "CA100"),
        ("CallStatus", "in-progress"),
        ("DialCallStatus", "no-answer"),
        ("DialCallDuration", "0"),
    ];
    let nodes = voice(&s, "/voice/call/1/dialed?attempt=0", &dialed).await;
    assert_eq!(find(&nodes, "Response/Dial/Number").2, BOB);
    assert_eq!(
        find(&nodes, "Response/Dial").1["action"],
        format!("{PUBLIC}/voice/call/1/dialed?attempt=1")
    );
    // A retried callback does not count alice twice, nor skip bob.
    let nodes = voice(&s, "/voice/call/1/dialed?attempt=0", &dialed).await;
    assert_eq!(find(&nodes, "Response/Dial/Number").2, BOB);

    tick(&s, 6);
    let nodes = voice(
        &s,
        "/voice/call/1/answered?attempt=1",
        &[("CallSid", "CA100")],
    )
    .await;
    assert!(
        said(&nodes).contains("Call from 1 5 5 5 0 1 2 3"),
        "{nodes:?}"
    );
    let inc = &incidents(&s).await[0];
    assert_eq!(inc.state, State::Acknowledged);
    assert!(
        matches!(&inc.acknowledged.as_ref().unwrap().by, Actor::Phone { user, .. } if user == "bob")
    );

    tick(&s, 42);
    let ended = [
        ("CallSid", "CA100"),
        ("CallStatus", "completed"),
        ("DialCallStatus", "completed"),
        ("DialCallDuration", "42"),
    ];
    let nodes = voice(&s, "/voice/call/1/dialed?attempt=1", &ended).await;
    assert!(nodes.iter().any(|n| n.0 == "Response/Hangup"), "{nodes:?}");
    let log = incidents(&s).await[0].call.clone().unwrap();
    let rings: Vec<(&str, &str, i64, Option<i64>)> = log
        .attempts
        .iter()
        .map(|a| {
            (
                a.user.as_str(),
                a.status.as_str(),
                a.rang_seconds,
                a.talk_seconds,
            )
        })
        .collect();
    assert_eq!(
        rings,
        [
            ("alice", "no-answer", 20, None),
            ("bob", "answered", 6, Some(42))
        ]
    );

    // Slack shows the call like any alert: who called, who rang, who answered.
    let post = s
        .fake
        .wait_for("chat.postMessage", 1, Wait::from_secs(5))
        .await;
    assert!(post.iter().any(|p| p.body["channel"] == CHANNEL
        && p.body["text"]
            .as_str()
            .unwrap()
            .contains("Phone call from +15550123 for Payments")));
    wait_until(|| {
        s.fake.calls("chat.update").iter().any(|u| {
            let b = u.body["blocks"].to_string();
            b.contains("<@U0ALICE>: no answer after 20 s")
                && b.contains("<@U0BOB> answered after 6 s of ringing; talked 42 s")
        })
    })
    .await;
}

#[tokio::test]
async fn when_nobody_answers_the_caller_leaves_a_voicemail_that_lands_on_the_incident() {
    let s = start().await;
    call(&s, "CA200", "+15550100").await;
    let busy = [
        ("CallSid", "CA200"),
        ("CallStatus", "in-progress"),
        ("DialCallStatus", "busy"),
    ];
    voice(&s, "/voice/call/1/dialed?attempt=0", &busy).await;
    let nodes = voice(&s, "/voice/call/1/dialed?attempt=1", &busy).await;
    let record = find(&nodes, "Response/Record");
    assert_eq!(
        record.1["action"],
        format!("{PUBLIC}/voice/call/1/recorded")
    );
    assert_eq!(record.1["transcribe"], "true");
    assert_eq!(
        record.1["transcribeCallback"],
        format!("{PUBLIC}/voice/call/1/transcribed")
    );
    assert!(said(&nodes).contains("leave a message"));

    let recording = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1";
    let nodes = voice(
        &s,
        "/voice/call/1/recorded",
        &[
            ("CallSid", "CA200"),
            ("RecordingUrl", recording),
            ("RecordingDuration", "15"),
        ],
    )
    .await;
    assert!(said(&nodes).contains("passed to the on-call team"));
    voice(
        &s,
        "/voice/call/1/transcribed",
        &[
            ("CallSid", "CA200"),
            ("RecordingUrl", recording),
            ("TranscriptionStatus", "completed"),
            (
                "TranscriptionText",
                "Checkout is down for all EU customers.",
            ),
        ],
    )
    .await;
    let inc = &incidents(&s).await[0];
    // Still open, and paged per the policy like any other incident.
    assert_eq!(inc.state, State::Triggered);
    let vm = inc.call.as_ref().unwrap().voicemail.clone().unwrap();
    assert_eq!((vm.recording_url.as_str(), vm.seconds), (recording, 15));
    assert_eq!(
        vm.transcription.as_deref(),
        Some("Checkout is down for all EU customers.")
    );
    wait_until(|| {
        s.fake
            .calls("chat.postMessage")
            .iter()
            .any(|c| c.body["channel"] == "DU0ALICE")
    })
    .await;
    wait_until(|| {
        s.fake.calls("chat.update").iter().any(|u| {
            let b = u.body["blocks"].to_string();
            b.contains(&format!("<{recording}|Voicemail> (15 s)"))
                && b.contains("Checkout is down for all EU customers.")
        })
    })
    .await;
}

#[tokio::test]
async fn a_menu_picks_the_service() {
    let s = start().await;
    let nodes = call(&s, "CA300", "+15550101").await;
    let gather = find(&nodes, "Response/Gather");
    assert_eq!(gather.1["numDigits"], "1");
    assert_eq!(gather.1["action"], format!("{PUBLIC}/voice/menu"));
    assert_eq!(
        find(&nodes, "Response/Gather/Say").2,
        "For Payments, press 1. For Public API, press 2."
    );
    let menu = |d: &'static str| {
        [
            ("CallSid", "CA300"),
            ("From", CALLER),
            ("To", "+15550101"),
            ("Digits", d),
        ]
    };
    let nodes = voice(&s, "/voice/menu", &menu("9")).await;
    assert_eq!(
        find(&nodes, "Response/Redirect").2,
        format!("{PUBLIC}/voice/incoming?again=1")
    );
    assert!(incidents(&s).await.is_empty());
    // Public API has no policy: whoever is on call on its team's schedule (bob).
    let nodes = voice(&s, "/voice/menu", &menu("2")).await;
    assert_eq!(find(&nodes, "Response/Dial/Number").2, BOB);
    assert_eq!(incidents(&s).await[0].service_id, "api");
}

#[tokio::test]
async fn unknown_numbers_strangers_forgeries_and_empty_rotas_are_handled() {
    let s = start().await;
    // An unknown number: a polite message, nothing opened.
    let nodes = call(&s, "CA400", "+15559999").await;
    assert!(said(&nodes).contains("not set up for on-call routing"));
    assert!(nodes.iter().any(|n| n.0 == "Response/Hangup"));
    // A caller not on the allow-list.
    let nodes = call(&s, "CA401", "+15550102").await;
    assert!(said(&nodes).contains("does not accept calls from your number"));
    assert!(incidents(&s).await.is_empty());
    // A forged or missing signature: 403, no TwiML, nothing recorded.
    let url = format!("{PUBLIC}/voice/incoming");
    let params = [("CallSid", "CA402"), ("From", CALLER), ("To", "+15550100")];
    let (status, body) = webhook_signed(&s.t.base, &url, &params, Some("Zm9yZ2Vk")).await;
    assert_eq!(status, 403);
    assert!(!body.contains("<Response"));
    assert_eq!(webhook_signed(&s.t.base, &url, &params, None).await.0, 403);
    assert!(incidents(&s).await.is_empty());
    // Nobody on call with a phone: said plainly, straight to voicemail, incident opened.
    let nodes = call(&s, "CA403", "+15550103").await;
    assert!(
        said(&nodes).contains("Nobody on call can be reached by phone"),
        "{nodes:?}"
    );
    assert!(nodes.iter().any(|n| n.0 == "Response/Record"));
    assert!(!nodes.iter().any(|n| n.0 == "Response/Dial"));
    assert_eq!(incidents(&s).await.len(), 1);
}

#[tokio::test]
async fn a_caller_who_hangs_up_while_it_rings_is_not_rung_further() {
    let s = start().await;
    call(&s, "CA500", "+15550100").await;
    tick(&s, 9);
    let gone = [
        ("CallSid", "CA500"),
        ("CallStatus", "completed"),
        ("DialCallStatus", "canceled"),
    ];
    let nodes = voice(&s, "/voice/call/1/dialed?attempt=0", &gone).await;
    assert!(!nodes.iter().any(|n| n.0 == "Response/Dial"), "{nodes:?}");
    let log = incidents(&s).await[0].call.clone().unwrap();
    assert!(log.caller_hung_up);
    assert_eq!(log.attempts[0].rang_seconds, 9);
}
