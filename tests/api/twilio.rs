//! Personal notification rules over Slack and Twilio, with a stopped clock:
//! alice wants a DM at once, an SMS after 5 minutes and a call after 10; the
//! call lets her press 4 to acknowledge.

use crate::fake_twilio::{self, webhook, webhook_signed, FakeTwilio, FROM, PUBLIC};
use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use std::time::Duration as Wait;
use tocsin::clock::Clock;
use tocsin::domain::incident::State;

const ALICE_PHONE: &str = "+447700900001";

fn config() -> String {
    CONFIG.replace(
        "slack_id = \"U0ALICE\"\n",
        "slack_id = \"U0ALICE\"\nphone = \"+447700900001\"\n\
         notify = [{ after_minutes = 0, via = \"slack\" }, { after_minutes = 5, via = \"sms\" }, { after_minutes = 10, via = \"phone\" }]\n",
    )
}

async fn start(fake: &FakeSlack, twilio: &FakeTwilio, clock: &Clock) -> TestApp {
    let env = twilio.env();
    let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::start_full(
        tempfile::tempdir().unwrap(),
        Some(fake),
        &extra,
        clock.clone(),
        &config(),
    )
    .await
}

async fn page(t: &TestApp) {
    let body = json!({
        "routing_key": PAGED_KEY, "event_action": "trigger", "dedup_key": "db",
        "payload": {"summary": "Card payments failing", "source": "pay-1", "severity": "critical"}
    });
    assert_eq!(t.enqueue(&body).await.0, 202);
}

fn advance(t: &TestApp, clock: &Clock, minutes: i64) {
    clock.advance(Duration::minutes(minutes));
    t.app().core().engine_wake.notify_one();
}

async fn state(t: &TestApp) -> State {
    t.app()
        .core()
        .store
        .incident(1)
        .await
        .unwrap()
        .unwrap()
        .state
}

#[tokio::test]
async fn dm_then_sms_then_a_call_where_pressing_4_acknowledges() {
    let (fake, twilio) = (FakeSlack::start().await, FakeTwilio::start().await);
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let t = start(&fake, &twilio, &clock).await;
    page(&t).await;
    let dm = fake
        .wait_for("chat.postMessage", 2, Wait::from_secs(5))
        .await;
    assert!(dm.iter().any(|c| c.body["channel"] == "DU0ALICE"));
    assert!(twilio.sent("Messages").is_empty());

    // Twilio fails once: the SMS is retried and arrives once.
    twilio.fail_next(&[503]);
    advance(&t, &clock, 5);
    let sms = twilio.wait_for("Messages", 1).await;
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].form["To"], ALICE_PHONE);
    assert_eq!(sms[0].form["From"], FROM);
    assert!(sms[0].form["Body"].contains("#1 CRITICAL: Card payments failing (Payments)"));
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert_eq!(twilio.sent("Messages").len(), 1);
    assert!(twilio.sent("Calls").is_empty());

    advance(&t, &clock, 5);
    let calls = twilio.wait_for("Calls", 1).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].form["To"], ALICE_PHONE);
    let url = calls[0].form["Url"].clone();
    assert_eq!(url, format!("{PUBLIC}/voice/page/1?user=alice"));
    assert_eq!(twilio.refused_auth(), 0);

    // Twilio fetches the call's TwiML: the title is read, one key gathered.
    let call = [("CallSid", "CA1"), ("From", FROM), ("To", ALICE_PHONE)];
    let (status, xml) = webhook(&t.base, &url, &call).await;
    assert_eq!(status, 200, "{xml}");
    let nodes = fake_twilio::twiml(&xml);
    let gather = nodes.iter().find(|n| n.0 == "Response/Gather").unwrap();
    assert_eq!(gather.1["numDigits"], "1");
    let action = gather.1["action"].clone();
    assert_eq!(action, format!("{PUBLIC}/voice/page/1/ack?user=alice"));
    let said = nodes.iter().find(|n| n.0 == "Response/Gather/Say").unwrap();
    assert!(
        said.2.contains("Card payments failing") && said.2.contains("Press 4"),
        "{xml}"
    );

    // A forged or unsigned request is refused and changes nothing.
    let pressed = [("CallSid", "CA1"), ("Digits", "4")];
    let (status, body) = webhook_signed(&t.base, &action, &pressed, Some("bm9wZQ==")).await;
    assert_eq!((status, body.contains("<Response")), (403, false));
    assert_eq!(
        webhook_signed(&t.base, &action, &pressed, None).await.0,
        403
    );
    assert_eq!(state(&t).await, State::Triggered);

    // The wrong key goes back to the message; 4 acknowledges.
    let (_, xml) = webhook(&t.base, &action, &[("CallSid", "CA1"), ("Digits", "7")]).await;
    let redirect = fake_twilio::twiml(&xml)
        .into_iter()
        .find(|n| n.0 == "Response/Redirect")
        .unwrap();
    assert_eq!(redirect.2, url);
    assert_eq!(state(&t).await, State::Triggered);
    let (status, xml) = webhook(&t.base, &action, &pressed).await;
    assert_eq!(status, 200);
    assert!(xml.contains("is acknowledged"), "{xml}");
    assert_eq!(state(&t).await, State::Acknowledged);
    // Twilio retrying the same request changes nothing more.
    let (_, xml) = webhook(&t.base, &action, &pressed).await;
    assert!(xml.contains("already acknowledged"), "{xml}");

    // Every copy shows who acknowledged, by phone; nobody else is paged.
    let updates = fake.wait_for("chat.update", 1, Wait::from_secs(5)).await;
    wait_until(|| {
        fake.calls("chat.update")
            .iter()
            .any(|u| u.body.to_string().contains("<@U0ALICE> (by phone)"))
    })
    .await;
    assert!(!updates.is_empty());
    let posts = fake.calls("chat.postMessage").len();
    advance(&t, &clock, 60);
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert_eq!(
        fake.calls("chat.postMessage").len(),
        posts,
        "bob is not paged"
    );
    assert_eq!(twilio.sent("Messages").len(), 1);
    assert_eq!(twilio.sent("Calls").len(), 1);
}

#[tokio::test]
async fn an_acknowledgement_in_slack_cancels_the_sms_and_the_call() {
    let (fake, twilio) = (FakeSlack::start().await, FakeTwilio::start().await);
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap());
    let t = start(&fake, &twilio, &clock).await;
    page(&t).await;
    fake.wait_for("chat.postMessage", 2, Wait::from_secs(5))
        .await;
    advance(&t, &clock, 3);
    let (status, _) = t
        .click(
            "incident_acknowledge",
            1,
            "U0ALICE",
            &fake.response_url("ack"),
        )
        .await;
    assert_eq!(status, 200);
    advance(&t, &clock, 30);
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert!(twilio.sent("Messages").is_empty());
    assert!(twilio.sent("Calls").is_empty());
    // A call for an incident that is no longer triggered just says so.
    let url = format!("{PUBLIC}/voice/page/1?user=alice");
    let (status, xml) = webhook(&t.base, &url, &[("CallSid", "CA9")]).await;
    assert_eq!(status, 200);
    assert!(
        xml.contains("already acknowledged") && xml.contains("<Hangup"),
        "{xml}"
    );
}

#[tokio::test]
async fn voice_webhooks_are_refused_without_twilio_credentials() {
    let t = TestApp::start(None).await;
    let url = format!("{}/voice/page/1?user=alice", t.base);
    let (status, body) = post(&url, &[], b"CallSid=CA1&Digits=4".to_vec()).await;
    assert_eq!(status, 403);
    assert!(body.is_null(), "no TwiML");
}
