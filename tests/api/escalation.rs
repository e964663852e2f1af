//! Escalation scenarios with a stopped clock the tests move, against the fake
//! Slack. The `payments` service pages alice at once, bob 15 minutes later,
//! and repeats that once before declaring that nobody responded.

use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use std::time::Duration as Wait;
use tocsin::clock::Clock;

const WAIT: Wait = Wait::from_secs(5);

fn three_am() -> Clock {
    Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap())
}

/// DMs (posts to a `D…` channel) received so far, as (channel, text).
fn dms(fake: &FakeSlack) -> Vec<(String, serde_json::Value)> {
    fake.calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["channel"].as_str().unwrap_or("").starts_with('D'))
        .map(|c| (c.body["channel"].as_str().unwrap().to_string(), c.body))
        .collect()
}

async fn page(t: &TestApp, dedup: &str) {
    let body = json!({
        "routing_key": PAGED_KEY, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": "Card payments failing", "source": "pay-1", "severity": "critical"}
    });
    assert_eq!(t.enqueue(&body).await.0, 202);
}

/// Moves the clock and lets the engine run.
fn advance(t: &TestApp, clock: &Clock, minutes: i64) {
    clock.advance(Duration::minutes(minutes));
    t.app().core().engine_wake.notify_one();
}

async fn wait_dms(fake: &FakeSlack, n: usize) -> Vec<(String, serde_json::Value)> {
    let end = std::time::Instant::now() + WAIT;
    loop {
        let d = dms(fake);
        if d.len() >= n || std::time::Instant::now() > end {
            return d;
        }
        tokio::time::sleep(Wait::from_millis(10)).await;
    }
}

#[tokio::test]
async fn alice_then_bob_then_bob_acks_and_nothing_more() {
    let fake = FakeSlack::start().await;
    let clock = three_am();
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock.clone()).await;
    page(&t, "p1").await;
    let d = wait_dms(&fake, 1).await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].0, "DU0ALICE");
    assert_eq!(
        button_labels(&d[0].1),
        ["Acknowledge", "Resolve", "Escalate", "Open channel"]
    );
    assert!(d[0].1["text"]
        .as_str()
        .unwrap()
        .contains("Card payments failing"));
    // The channel message shows who is being paged.
    let updates = fake.wait_for("chat.update", 1, WAIT).await;
    assert!(
        updates
            .iter()
            .any(|u| u.body["blocks"].to_string().contains("Paging <@U0ALICE>")),
        "{updates:?}"
    );

    // 14 minutes: nothing new. 15: bob.
    advance(&t, &clock, 14);
    tokio::time::sleep(Wait::from_millis(200)).await;
    assert_eq!(dms(&fake).len(), 1);
    advance(&t, &clock, 1);
    let d = wait_dms(&fake, 2).await;
    assert_eq!(d.len(), 2);
    assert_eq!(d[1].0, "DU0BOB");

    // bob acknowledges from his DM: every copy is updated, paging stops.
    let before = fake.calls("chat.update").len();
    let (status, _) = t
        .click(
            "incident_acknowledge",
            1,
            "U0BOB",
            &fake.response_url("ack"),
        )
        .await;
    assert_eq!(status, 200);
    let updates = fake.wait_for("chat.update", before + 3, WAIT).await;
    let last_three = &updates[updates.len() - 3..];
    let mut channels: Vec<&str> = last_three
        .iter()
        .map(|u| u.body["channel"].as_str().unwrap())
        .collect();
    channels.sort();
    assert_eq!(channels, [CHANNEL, "DU0ALICE", "DU0BOB"]);
    for u in last_three {
        assert_eq!(
            button_labels(&u.body),
            ["Resolve", "Snooze 1h", "Snooze 4h", "Open channel"],
            "{}",
            u.body
        );
    }
    advance(&t, &clock, 120);
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert_eq!(dms(&fake).len(), 2, "nobody is paged after the ack");
    // A double click pages nobody either.
    t.click(
        "incident_acknowledge",
        1,
        "U0BOB",
        &fake.response_url("again"),
    )
    .await;
    tokio::time::sleep(Wait::from_millis(200)).await;
    assert_eq!(dms(&fake).len(), 2);
}

#[tokio::test]
async fn when_every_level_and_repeat_is_unanswered_the_team_is_told() {
    let fake = FakeSlack::start().await;
    let clock = three_am();
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock.clone()).await;
    page(&t, "p2").await;
    wait_dms(&fake, 1).await;
    for (i, who) in [(2, "DU0BOB"), (3, "DU0ALICE"), (4, "DU0BOB")] {
        advance(&t, &clock, 15);
        let d = wait_dms(&fake, i).await;
        assert_eq!(d.len(), i);
        assert_eq!(d[i - 1].0, who);
    }
    advance(&t, &clock, 15);
    // The team channel and the lead (alice) hear that nobody responded.
    let end = std::time::Instant::now() + WAIT;
    let notices = loop {
        let n: Vec<serde_json::Value> = fake
            .calls("chat.postMessage")
            .into_iter()
            .map(|c| c.body)
            .filter(|b| {
                b["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Nobody responded")
            })
            .collect();
        if n.len() >= 2 || std::time::Instant::now() > end {
            break n;
        }
        tokio::time::sleep(Wait::from_millis(10)).await;
    };
    let mut to: Vec<&str> = notices
        .iter()
        .map(|b| b["channel"].as_str().unwrap())
        .collect();
    to.sort();
    assert_eq!(to, [CHANNEL, "U0ALICE"]);
    assert!(notices[0]["text"]
        .as_str()
        .unwrap()
        .contains("#1 Card payments failing"));
    advance(&t, &clock, 120);
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert_eq!(dms(&fake).len(), 4, "an exhausted escalation stays quiet");
}

#[tokio::test]
async fn escalate_jumps_to_the_next_level_and_assign_pages_anyone() {
    let fake = FakeSlack::start().await;
    let clock = three_am();
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock.clone()).await;
    page(&t, "p3").await;
    wait_dms(&fake, 1).await;
    let (status, _) = t
        .click("incident_escalate", 1, "U0ALICE", &fake.response_url("esc"))
        .await;
    assert_eq!(status, 200);
    let d = wait_dms(&fake, 2).await;
    assert_eq!(d[1].0, "DU0BOB", "bob is paged at once, not in 15 minutes");

    let (_, reply) = t
        .command("assign 1 @alice", "U0BOB", &fake.response_url("cmd"))
        .await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("Paging <@U0ALICE> about #1"),
        "{reply}"
    );
    let d = wait_dms(&fake, 3).await;
    assert_eq!(d[2].0, "DU0ALICE");

    let (_, reply) = t
        .command("escalate 1", "U0BOB", &fake.response_url("cmd"))
        .await;
    assert!(
        reply["text"].as_str().unwrap().contains("Escalating #1"),
        "{reply}"
    );
    t.command("resolve 1", "U0BOB", &fake.response_url("cmd"))
        .await;
    let (_, reply) = t
        .command("escalate 1", "U0BOB", &fake.response_url("cmd"))
        .await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("only a triggered incident escalates"),
        "{reply}"
    );
    // Incidents of a service without a policy page nobody.
    t.trigger("quiet", "No policy here").await;
    tokio::time::sleep(Wait::from_millis(300)).await;
    let (_, reply) = t
        .command("escalate 2", "U0BOB", &fake.response_url("cmd"))
        .await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("no escalation policy"),
        "{reply}"
    );
}

#[tokio::test]
async fn a_policy_edit_does_not_change_a_running_escalation() {
    let fake = FakeSlack::start().await;
    let clock = three_am();
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock.clone()).await;
    page(&t, "p4").await;
    wait_dms(&fake, 1).await;
    // Restart with bob removed from the policy: the snapshot still pages him.
    let dir = t.stop().await;
    let edited = CONFIG.replace("targets = [\"user:bob\"]", "targets = [\"user:alice\"]");
    std::fs::write(dir.path().join("tocsin.toml"), &edited).unwrap();
    let t = TestApp::start_at_with_config(dir, Some(&fake), clock.clone(), &edited).await;
    advance(&t, &clock, 15);
    let d = wait_dms(&fake, 2).await;
    assert_eq!(d.len(), 2);
    assert_eq!(d[1].0, "DU0BOB");
}

/// Clicks a button whose value is not just the incident id.
async fn click_value(
    t: &TestApp,
    action_id: &str,
    value: &str,
    user: &str,
    response_url: &str,
) -> u16 {
    let payload = json!({
        "type": "block_actions",
        "team": {"id": "T0TEAM", "domain": "example"},
        "user": {"id": user, "username": "someone", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": CHANNEL},
        "trigger_id": "1.2.3",
        "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "block_id": "incident:1", "value": value, "action_ts": "1"}]
    });
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    t.slack("/slack/interactions", &body).await.0
}

#[tokio::test]
async fn a_snooze_pages_again_when_it_ends_unless_resolved() {
    let fake = FakeSlack::start().await;
    let clock = three_am();
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock.clone()).await;
    page(&t, "s1").await;
    page(&t, "s2").await;
    wait_dms(&fake, 2).await;
    for id in [1, 2] {
        t.click(
            "incident_acknowledge",
            id,
            "U0ALICE",
            &fake.response_url("ack"),
        )
        .await;
    }
    advance(&t, &clock, 1);
    // Acknowledged messages offer Snooze.
    let end = std::time::Instant::now() + WAIT;
    while !fake
        .calls("chat.update")
        .iter()
        .any(|u| button_labels(&u.body) == ["Resolve", "Snooze 1h", "Snooze 4h", "Open channel"])
    {
        assert!(
            std::time::Instant::now() < end,
            "no update with Snooze buttons"
        );
        tokio::time::sleep(Wait::from_millis(10)).await;
    }
    assert_eq!(
        click_value(
            &t,
            "incident_snooze_1h",
            "1:60",
            "U0ALICE",
            &fake.response_url("z")
        )
        .await,
        200
    );
    let (_, reply) = t
        .command("snooze 2 1h", "U0ALICE", &fake.response_url("cmd"))
        .await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("#2 is snoozed until"),
        "{reply}"
    );
    t.command("resolve 2", "U0ALICE", &fake.response_url("cmd"))
        .await;

    advance(&t, &clock, 59);
    tokio::time::sleep(Wait::from_millis(200)).await;
    assert_eq!(dms(&fake).len(), 2, "still snoozed");
    advance(&t, &clock, 1);
    let d = wait_dms(&fake, 3).await;
    assert_eq!(d.len(), 3, "#1 pages again from the first level");
    assert_eq!(d[2].0, "DU0ALICE");
    assert!(d[2].1["text"].as_str().unwrap().contains("#1"));
    let notes: Vec<String> = fake
        .calls("chat.postMessage")
        .into_iter()
        .filter_map(|c| c.body["text"].as_str().map(str::to_string))
        .filter(|t| t.contains("snooze"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("#1"));
    tokio::time::sleep(Wait::from_millis(200)).await;
    assert_eq!(
        dms(&fake).len(),
        3,
        "#2 was resolved during its snooze: no page"
    );
    // The timeline keeps the snooze, who did it, and the acknowledgement the
    // wake-up cleared, in order.
    let (_, reply) = t
        .command("timeline 1", "U0ALICE", &fake.response_url("cmd"))
        .await;
    let text = reply["text"].as_str().unwrap();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in {text}"))
    };
    let acked = at("Snooze: acknowledged before the snooze — <@U0ALICE>");
    let snoozed = at("Snooze: snoozed until");
    let woke = at("Snooze: over and not resolved: paging again from the first level");
    assert!(acked < snoozed && snoozed < woke, "{text}");
    assert!(
        text[snoozed..woke].contains("<@U0ALICE>"),
        "who snoozed: {text}"
    );
}

async fn page_with(t: &TestApp, dedup: &str, severity: &str) {
    let body = json!({
        "routing_key": PAGED_KEY, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": "Settlement report late", "source": "pay-1", "severity": severity}
    });
    assert_eq!(t.enqueue(&body).await.0, 202);
}

#[tokio::test]
async fn low_urgency_at_three_am_waits_for_working_hours() {
    let fake = FakeSlack::start().await;
    let clock = three_am();
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock.clone()).await;
    page_with(&t, "late", "warning").await;
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert!(
        dms(&fake).is_empty(),
        "nobody is woken at 03:00 for a low-urgency warning"
    );
    let updates = fake.wait_for("chat.update", 1, WAIT).await;
    assert!(
        updates.iter().any(|u| u.body["blocks"]
            .to_string()
            .contains("waiting for working hours to page <@U0ALICE>")),
        "{updates:?}"
    );
    // Through the night: level 2 (bob) and the repeat are held too, once each.
    for _ in 0..4 {
        advance(&t, &clock, 15);
        tokio::time::sleep(Wait::from_millis(100)).await;
    }
    assert!(dms(&fake).is_empty());
    // 09:00 in London: alice's day starts. bob (New York) waits for 14:00 UTC.
    advance(&t, &clock, 5 * 60);
    let d = wait_dms(&fake, 1).await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].0, "DU0ALICE");
    tokio::time::sleep(Wait::from_millis(200)).await;
    assert_eq!(dms(&fake).len(), 1, "one page for alice, not one per round");
    advance(&t, &clock, 5 * 60);
    let d = wait_dms(&fake, 2).await;
    assert_eq!(d[1].0, "DU0BOB");
}

#[tokio::test]
async fn a_critical_alert_or_escalate_makes_it_urgent_now() {
    let fake = FakeSlack::start().await;
    let clock = three_am();
    let t = TestApp::start_at(tempfile::tempdir().unwrap(), Some(&fake), clock.clone()).await;
    page_with(&t, "grows", "warning").await;
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert!(dms(&fake).is_empty());
    page_with(&t, "grows", "critical").await;
    let d = wait_dms(&fake, 1).await;
    assert_eq!(d.len(), 1, "the critical alert pages alice at once");

    page_with(&t, "other", "info").await;
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert_eq!(dms(&fake).len(), 1);
    t.click("incident_escalate", 2, "U0BOB", &fake.response_url("esc"))
        .await;
    // Escalating by hand makes it urgent: alice's held page goes out, and the
    // next level (bob) is paged at once.
    let d = wait_dms(&fake, 3).await;
    assert_eq!(d.len(), 3);
    let mut to: Vec<&str> = d[1..].iter().map(|(c, _)| c.as_str()).collect();
    to.sort();
    assert_eq!(to, ["DU0ALICE", "DU0BOB"]);
}
