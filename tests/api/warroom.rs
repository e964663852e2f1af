//! War-room scenarios against the fake Slack, with a stopped clock: a SEV1
//! alert opens a channel of its own, updates reach three places, a :pushpin:
//! lands in the timeline, resolving posts a summary and a postmortem and
//! archives the channel later, and the declare form checks its fields.

use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use serde_json::{json, Value};
use std::time::Duration as Wait;
use tocsin::clock::Clock;

const WAIT: Wait = Wait::from_secs(5);
const ROOM: &str = "C0ROOM1";
const API_KEY: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

const ROOMS_CONFIG: &str = r#"
[[users]]
id = "alice"
name = "Alice Example"
slack_id = "U0ALICE"
time_zone = "Europe/London"

[[users]]
id = "bob"
name = "Bob Example"
slack_id = "U0BOB"
time_zone = "America/New_York"

[[users]]
id = "carol"
name = "Carol Lead"
slack_id = "U0CAROL"
time_zone = "Asia/Tokyo"

[[teams]]
id = "platform"
name = "Platform"
leads = ["carol"]
members = ["alice", "bob", "carol"]
alert_channel = "C0PLATFORM"
stakeholder_channel = "C0EXEC"
channel_at = "SEV2"
update_every = { SEV1 = "30m", SEV2 = "1h" }
archive_after = "2h"

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

async fn start(fake: &FakeSlack) -> (TestApp, Clock) {
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap());
    let t = TestApp::start_at_with_config(
        tempfile::tempdir().unwrap(),
        Some(fake),
        clock.clone(),
        ROOMS_CONFIG,
    )
    .await;
    (t, clock)
}

async fn alert(t: &TestApp, key: &str, summary: &str, severity: &str) {
    let body = json!({
        "routing_key": API_KEY, "event_action": "trigger", "dedup_key": key,
        "payload": {"summary": summary, "source": "lb-1", "severity": severity},
        "links": [{"href": "https://grafana.example.com/d/checkout", "text": "Dashboard"}]
    });
    assert_eq!(t.enqueue(&body).await.0, 202);
}

async fn resolve(t: &TestApp, key: &str) {
    let body = json!({"routing_key": API_KEY, "event_action": "resolve", "dedup_key": key});
    assert_eq!(t.enqueue(&body).await.0, 202);
}

/// Posts to `channel` so far, in order.
fn posts_in(fake: &FakeSlack, channel: &str) -> Vec<Value> {
    fake.calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["channel"] == channel)
        .map(|c| c.body)
        .collect()
}

async fn wait_posts(fake: &FakeSlack, channel: &str, n: usize) -> Vec<Value> {
    let end = std::time::Instant::now() + WAIT;
    loop {
        let p = posts_in(fake, channel);
        if p.len() >= n || std::time::Instant::now() > end {
            return p;
        }
        tokio::time::sleep(Wait::from_millis(10)).await;
    }
}

/// The first post in `channel` whose blocks or text contain `needle`, waiting for it.
async fn wait_post_with(fake: &FakeSlack, channel: &str, needle: &str) -> Value {
    let end = std::time::Instant::now() + WAIT;
    loop {
        let found = posts_in(fake, channel).into_iter().find(|p| {
            p["blocks"].to_string().contains(needle)
                || p["text"].as_str().is_some_and(|t| t.contains(needle))
        });
        if let Some(p) = found {
            return p;
        }
        assert!(
            std::time::Instant::now() < end,
            "no post with {needle:?} in {channel}: {:?}",
            posts_in(fake, channel)
        );
        tokio::time::sleep(Wait::from_millis(10)).await;
    }
}

/// A slash command's ephemeral reply text.
async fn run(t: &TestApp, channel: &str, text: &str, user: &str) -> String {
    let (status, body) = t
        .slash_in(channel, "/incident", text, user, "http://unused/")
        .await;
    assert_eq!(status, 200, "{body}");
    body["text"].as_str().unwrap_or_default().to_string()
}

/// Opens the room for a SEV1 alert and returns the summary's ts.
async fn opened_room(t: &TestApp, fake: &FakeSlack) -> String {
    alert(t, "k1", "Checkout 5xx above 10%", "critical").await;
    let pins = fake.wait_for("pins.add", 1, WAIT).await;
    assert_eq!(pins.len(), 1, "the summary was never pinned");
    pins[0].body["timestamp"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_sev1_alert_opens_a_channel_with_its_people_and_a_pinned_summary() {
    let fake = FakeSlack::start().await;
    // Somebody already has the natural name: tocsin takes the next one.
    fake.take_channel_name("inc-20261201-1-checkout-5xx-above-10");
    // Slack refuses the first, whole invite list (one person it cannot add).
    fake.fail_method("conversations.invite", Fault::Refuse("user_is_restricted"));
    let (t, _clock) = start(&fake).await;
    let summary_ts = opened_room(&t, &fake).await;
    // The taken name counts as the fake's first channel.
    let room = "C0ROOM2";

    let creates = fake.calls("conversations.create");
    let names: Vec<&str> = creates
        .iter()
        .map(|c| c.body["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "inc-20261201-1-checkout-5xx-above-10",
            "inc-20261201-1-checkout-5xx-above-10-2"
        ]
    );
    // After the refused list, each person is invited on their own: the
    // paged on-call person and the team's lead.
    let invited: Vec<String> = fake
        .calls("conversations.invite")
        .iter()
        .map(|c| {
            assert_eq!(c.body["channel"], room);
            c.body["users"].to_string()
        })
        .collect();
    assert_eq!(invited.len(), 2, "{invited:?}");
    assert!(
        invited[0].contains("U0ALICE") && invited[1].contains("U0CAROL"),
        "{invited:?}"
    );

    let summary = &posts_in(&fake, room)[0];
    let blocks = summary["blocks"].to_string();
    assert!(
        blocks.contains("SEV1 #1 Checkout 5xx above 10%"),
        "{blocks}"
    );
    for field in [
        "*Status*",
        "*Commander*",
        "*Comms lead*",
        "*Started*",
        "*Acknowledged*",
        "*Latest update*",
    ] {
        assert!(blocks.contains(field), "{field} missing: {blocks}");
    }
    let pin = &fake.calls("pins.add")[0].body;
    assert_eq!(pin["channel"], room);
    assert_eq!(summary_ts, pin["timestamp"].as_str().unwrap());

    // The team's alert message links the channel and offers no second one.
    let end = std::time::Instant::now() + WAIT;
    loop {
        let linked = fake.calls("chat.update").into_iter().any(|u| {
            u.body["channel"] == CHANNEL && u.body["blocks"].to_string().contains("<#C0ROOM2>")
        });
        if linked {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "the alert message never linked the channel"
        );
        tokio::time::sleep(Wait::from_millis(10)).await;
    }
    let last = fake
        .calls("chat.update")
        .into_iter()
        .rfind(|u| u.body["channel"] == CHANNEL)
        .unwrap();
    assert!(!button_labels(&last.body).contains(&"Open channel".to_string()));
    // Lower levels stay in the team channel.
    alert(&t, "k2", "Disk 80% on db-2", "warning").await;
    wait_posts(&fake, CHANNEL, 2).await;
    tokio::time::sleep(Wait::from_millis(200)).await;
    assert_eq!(fake.calls("conversations.create").len(), 2);
}

#[tokio::test]
async fn updates_reach_three_places_and_pins_and_notes_reach_the_timeline() {
    let fake = FakeSlack::start().await;
    let (t, clock) = start(&fake).await;
    let summary_ts = opened_room(&t, &fake).await;

    let reply = run(&t, CHANNEL, "subscribe 1", "U0DAN").await;
    assert!(reply.contains("by DM"), "{reply}");
    let reply = run(&t, ROOM, "commander <@U0BOB|bob>", "U0CAROL").await;
    assert_eq!(reply, "<@U0BOB> is now incident commander of #1.");
    let reply = run(
        &t,
        ROOM,
        "update Rolled back checkout v2.3; error rate falling",
        "U0BOB",
    )
    .await;
    assert!(
        reply.contains("the incident channel")
            && reply.contains("the stakeholder channel")
            && reply.contains("1 subscriber"),
        "{reply}"
    );

    for channel in [ROOM, "C0EXEC", "U0DAN"] {
        let post = wait_post_with(&fake, channel, "Rolled back checkout v2.3").await;
        assert!(
            post["blocks"]
                .to_string()
                .contains(":mega: *Status update*"),
            "{post}"
        );
    }
    // The pinned summary shows the commander and the update, edited in place.
    let end = std::time::Instant::now() + WAIT;
    loop {
        let current = fake.calls("chat.update").into_iter().any(|u| {
            let b = u.body["blocks"].to_string();
            u.body["ts"] == summary_ts.as_str()
                && b.contains("<@U0BOB>")
                && b.contains("Rolled back")
        });
        if current {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "the summary never showed the update"
        );
        tokio::time::sleep(Wait::from_millis(10)).await;
    }

    // A person marks a message in the channel with :pushpin:.
    // Written at 03:04 (the clock stands at 03:00), marked later.
    fake.add_message(ROOM, "1796094240.000100", "DB primary failed over at 03:04");
    let event = json!({
        "type": "event_callback", "event_id": "Ev0PIN", "team_id": "T0TEAM", "api_app_id": "A0APP",
        "event": {"type": "reaction_added", "user": "U0ALICE", "reaction": "pushpin",
                  "item": {"type": "message", "channel": ROOM, "ts": "1796094240.000100"},
                  "event_ts": "1700000501.000200"}
    });
    let (status, _) = t.slack("/slack/events", &event.to_string()).await;
    assert_eq!(status, 200);
    // Slack retries: the same event id again records nothing more.
    assert_eq!(t.slack("/slack/events", &event.to_string()).await.0, 200);
    fake.wait_for("conversations.history", 1, WAIT).await;
    clock.advance(Duration::minutes(10));
    let reply = run(&t, ROOM, "note Failover was automatic", "U0ALICE").await;
    assert_eq!(reply, "Added to #1's timeline.");
    let end = std::time::Instant::now() + WAIT;
    let timeline = loop {
        let text = run(&t, ROOM, "timeline", "U0CAROL").await;
        if text.contains("DB primary failed over") || std::time::Instant::now() > end {
            break text;
        }
        tokio::time::sleep(Wait::from_millis(20)).await;
    };
    for want in [
        "Opened: Checkout 5xx above 10%",
        "Paged <@U0ALICE>",
        "Channel: Channel <#C0ROOM1> opened",
        "Role: <@U0BOB> is incident commander — <@U0CAROL>",
        "Status update: Rolled back checkout v2.3; error rate falling — <@U0BOB>",
        "Pinned: DB primary failed over at 03:04 — <@U0ALICE>",
        "Note: Failover was automatic — <@U0ALICE>",
    ] {
        assert!(
            timeline.contains(want),
            "{want:?} missing from:\n{timeline}"
        );
    }
    assert_eq!(timeline.matches("Pinned:").count(), 1, "{timeline}");
    // The pinned message is placed at the time it was written.
    assert!(
        timeline.contains("|2026-12-01 03:04 UTC> · Pinned: DB primary failed over at 03:04"),
        "{timeline}"
    );
    // Order: the pin came before the note.
    assert!(timeline.find("Pinned:").unwrap() < timeline.find("Note:").unwrap());

    // The list links the channel.
    let list = run(&t, CHANNEL, "list", "U0CAROL").await;
    assert!(
        list.contains("(SEV1 critical, 1 alert)") && list.contains("· <#C0ROOM1>"),
        "{list}"
    );
    // Outside the room, the incident must be named.
    let reply = run(&t, CHANNEL, "update all good", "U0BOB").await;
    assert!(reply.contains("not an incident's channel"), "{reply}");
}

#[tokio::test]
async fn raising_severity_re_pages_opens_a_channel_and_announces_it() {
    let fake = FakeSlack::start().await;
    let (t, _clock) = start(&fake).await;
    alert(&t, "w1", "Slow checkout", "warning").await;
    let dms = wait_posts(&fake, "DU0ALICE", 1).await;
    assert_eq!(dms.len(), 1);
    let reply = run(&t, CHANNEL, "severity 1 SEV2", "U0CAROL").await;
    assert_eq!(reply, "#1 is now SEV2.");
    // Re-paged from the first level, and a channel opened at SEV2.
    assert_eq!(wait_posts(&fake, "DU0ALICE", 2).await.len(), 2);
    fake.wait_for("pins.add", 1, WAIT).await;
    for channel in [CHANNEL, "C0EXEC", ROOM] {
        wait_post_with(&fake, channel, "from SEV3 to *SEV2*").await;
    }
    let reply = run(&t, ROOM, "severity SEV2", "U0CAROL").await;
    assert_eq!(reply, "#1 is SEV2 already.");
}

#[tokio::test]
async fn resolving_posts_a_summary_and_postmortem_then_archives_unless_kept() {
    let fake = FakeSlack::start().await;
    let (t, clock) = start(&fake).await;
    opened_room(&t, &fake).await;
    // A second incident gets its channel on demand, by the button.
    alert(&t, "k2", "Search is slow", "warning").await;
    wait_posts(&fake, CHANNEL, 2).await;
    let (status, _) = t
        .click(
            "incident_open_channel",
            2,
            "U0BOB",
            &fake.response_url("open"),
        )
        .await;
    assert_eq!(status, 200);
    let pins = fake.wait_for("pins.add", 2, WAIT).await;
    assert_eq!(pins[1].body["channel"], "C0ROOM2");
    // Whoever pressed the button is invited.
    wait_until(|| {
        fake.calls("conversations.invite").iter().any(|c| {
            c.body["channel"] == "C0ROOM2" && c.body["users"].to_string().contains("U0BOB")
        })
    })
    .await;

    clock.advance(Duration::minutes(42));
    let (status, _) = t
        .click(
            "incident_acknowledge",
            1,
            "U0ALICE",
            &fake.response_url("ack"),
        )
        .await;
    assert_eq!(status, 200);
    clock.advance(Duration::minutes(3));
    resolve(&t, "k1").await;
    resolve(&t, "k2").await;

    let room = wait_posts(&fake, ROOM, 2).await;
    let done = room.last().unwrap();
    let blocks = done["blocks"].to_string();
    assert!(
        blocks.contains("Resolved: #1 Checkout 5xx above 10%"),
        "{blocks}"
    );
    assert!(
        blocks.contains("*Duration*\\n45 min") && blocks.contains("*Time to acknowledge*\\n42 min"),
        "{blocks}"
    );
    assert_eq!(button_labels(done), ["Keep channel"]);
    // Stakeholders get the summary too.
    wait_post_with(
        &fake,
        "C0EXEC",
        "*Resolved:* SEV1 #1 Checkout 5xx above 10% (Checkout) after 45 min",
    )
    .await;
    // The postmortem draft, as a file in the channel.
    let completes = fake.wait_for("files.completeUploadExternal", 2, WAIT).await;
    assert_eq!(completes.len(), 2);
    assert!(completes.iter().any(|c| c.body["channel_id"] == ROOM));
    let uploaded: Vec<Value> = fake
        .all_calls()
        .into_iter()
        .filter(|(m, _)| m.starts_with("upload/"))
        .map(|(_, b)| b)
        .collect();
    assert_eq!(uploaded.len(), 2);
    assert!(
        uploaded.iter().all(|u| u["bytes"].as_u64().unwrap() > 500),
        "{uploaded:?}"
    );

    // Bob keeps the second channel.
    let (status, _) = t
        .click("room_keep", 2, "U0BOB", &fake.response_url("keep"))
        .await;
    assert_eq!(status, 200);
    wait_post_with(
        &fake,
        "C0ROOM2",
        "<@U0BOB> kept the channel: it will not be archived",
    )
    .await;

    // Nothing is archived before the delay; then only the first channel.
    clock.advance(Duration::minutes(119));
    t.app().core().engine_wake.notify_one();
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert!(fake.calls("conversations.archive").is_empty());
    clock.advance(Duration::minutes(1));
    t.app().core().engine_wake.notify_one();
    let archived = fake.wait_for("conversations.archive", 1, WAIT).await;
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].body["channel"], ROOM);
    clock.advance(Duration::hours(5));
    t.app().core().engine_wake.notify_one();
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert_eq!(fake.calls("conversations.archive").len(), 1);
}

#[tokio::test]
async fn the_commander_is_asked_for_an_update_when_stakeholders_wait_too_long() {
    let fake = FakeSlack::start().await;
    let (t, clock) = start(&fake).await;
    opened_room(&t, &fake).await;
    run(&t, ROOM, "commander <@U0BOB>", "U0CAROL").await;
    let advance = |m: i64| {
        clock.advance(Duration::minutes(m));
        t.app().core().engine_wake.notify_one();
    };
    advance(29);
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert!(posts_in(&fake, "U0BOB").is_empty());
    advance(1);
    let nudges = wait_posts(&fake, "U0BOB", 1).await;
    assert_eq!(nudges.len(), 1);
    assert!(
        nudges[0]["text"]
            .as_str()
            .unwrap()
            .contains("no update on SEV1 #1"),
        "{:?}",
        nudges[0]
    );
    // An update resets the clock.
    advance(10);
    run(&t, ROOM, "update Mitigated", "U0BOB").await;
    advance(29);
    tokio::time::sleep(Wait::from_millis(300)).await;
    assert_eq!(posts_in(&fake, "U0BOB").len(), 1);
    advance(1);
    assert_eq!(wait_posts(&fake, "U0BOB", 2).await.len(), 2);
}

fn submission(values: Value) -> String {
    let payload = json!({
        "type": "view_submission",
        "team": {"id": "T0TEAM", "domain": "example"},
        "user": {"id": "U0CAROL", "username": "carol", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "token": "deprecated",
        "trigger_id": "1.2.4",
        "view": {"id": "V0VIEW", "type": "modal", "callback_id": "incident_declare",
                 "team_id": "T0TEAM", "hash": "1.abc",
                 "title": {"type": "plain_text", "text": "Declare an incident"},
                 "blocks": [], "state": {"values": values}}
    });
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

#[tokio::test]
async fn the_declare_form_checks_its_fields_then_opens_an_incident_with_a_channel() {
    let fake = FakeSlack::start().await;
    let (t, clock) = start(&fake).await;
    let reply = run(&t, CHANNEL, "new Checkout is down", "U0CAROL").await;
    assert!(reply.contains("Opening the form"), "{reply}");
    let views = fake.wait_for("views.open", 1, WAIT).await;
    assert_eq!(views.len(), 1);
    let trigger = views[0].body["trigger_id"].as_str().unwrap();
    assert!(
        trigger.starts_with("1.2.3."),
        "the command's own: {trigger}"
    );
    let view = views[0].body["view"].to_string();
    assert!(
        view.contains("\"initial_value\":\"Checkout is down\""),
        "{view}"
    );
    assert!(
        view.contains("\"value\":\"checkout\"") && view.contains("\"value\":\"SEV1\""),
        "{view}"
    );

    // Title only: the form shows what is missing, and nothing opens.
    let partial = submission(json!({
        "title": {"value": {"type": "plain_text_input", "value": "Checkout is down"}},
        "service": {"value": {"type": "static_select", "selected_option": null}},
        "severity": {"value": {"type": "static_select", "selected_option": null}},
        "description": {"value": {"type": "plain_text_input", "value": null}}
    }));
    let (status, body) = t.slack("/slack/interactions", &partial).await;
    assert_eq!(status, 200);
    assert_eq!(body["response_action"], "errors");
    assert_eq!(body["errors"]["service"], "Pick the affected service.");
    assert_eq!(body["errors"]["severity"], "Pick a severity, SEV1 to SEV4.");
    assert!(body["errors"].get("title").is_none(), "{body}");
    assert!(t.app().core().store.incidents().await.unwrap().is_empty());

    let full = submission(json!({
        "title": {"value": {"type": "plain_text_input", "value": "Checkout is down"}},
        "service": {"value": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "Checkout"}, "value": "checkout"}}},
        "severity": {"value": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "SEV2"}, "value": "SEV2"}}},
        "description": {"value": {"type": "plain_text_input", "value": "Card form returns 502 for everyone"}}
    }));
    let (status, body) = t.slack("/slack/interactions", &full).await;
    assert_eq!((status, body), (200, Value::Null));
    // Slack retries a slow submission, signed anew a moment later: still one incident.
    clock.advance(Duration::seconds(1));
    assert_eq!(t.slack("/slack/interactions", &full).await.0, 200);
    let incidents = t.app().core().store.incidents().await.unwrap();
    assert_eq!(incidents.len(), 1);
    let inc = &incidents[0];
    assert_eq!(inc.sev(), tocsin::domain::warroom::Sev::Sev2);
    assert_eq!(
        inc.alert_count, 1,
        "a retried submission is not a second alert"
    );
    assert_eq!(
        inc.coord.description.as_deref(),
        Some("Card form returns 502 for everyone")
    );
    // Paged per the service's policy, and a channel opened with the declarer in it.
    assert_eq!(wait_posts(&fake, "DU0ALICE", 1).await.len(), 1);
    fake.wait_for("pins.add", 1, WAIT).await;
    assert_eq!(fake.calls("conversations.create").len(), 1);
    let end = std::time::Instant::now() + WAIT;
    while !fake
        .calls("conversations.invite")
        .iter()
        .any(|c| c.body["users"].to_string().contains("U0CAROL"))
    {
        assert!(
            std::time::Instant::now() < end,
            "the declarer was never invited"
        );
        tokio::time::sleep(Wait::from_millis(10)).await;
    }
    let summary = posts_in(&fake, ROOM)[0]["blocks"].to_string();
    assert!(
        summary.contains("Card form returns 502 for everyone"),
        "{summary}"
    );
}

#[tokio::test]
async fn subscribers_hear_updates_and_the_resolve_of_an_incident_without_a_channel() {
    let fake = FakeSlack::start().await;
    let (t, _clock) = start(&fake).await;
    alert(&t, "w1", "Slow search", "warning").await;
    wait_posts(&fake, CHANNEL, 1).await;
    run(&t, CHANNEL, "subscribe #1", "U0DAN").await;
    let reply = run(&t, CHANNEL, "subscribe 1", "U0DAN").await;
    assert_eq!(reply, "You are subscribed to #1 already.");
    let reply = run(&t, CHANNEL, "update #1 Index rebuild under way", "U0BOB").await;
    assert_eq!(
        reply,
        "Update posted on #1 to the stakeholder channel, 1 subscriber(s)."
    );
    for to in ["U0DAN", "C0EXEC"] {
        let p = wait_posts(&fake, to, 1).await;
        assert!(
            p[0]["text"]
                .as_str()
                .unwrap()
                .contains("Index rebuild under way"),
            "{p:?}"
        );
    }
    resolve(&t, "w1").await;
    let dan = wait_posts(&fake, "U0DAN", 2).await;
    assert!(
        dan[1]["text"]
            .as_str()
            .unwrap()
            .starts_with(":white_check_mark: *Resolved:* SEV3 #1 Slow search"),
        "{dan:?}"
    );
    // No channel was ever made for it.
    assert!(fake.calls("conversations.create").is_empty());
}

#[tokio::test]
async fn a_channel_whose_creation_answer_was_lost_is_found_not_made_twice() {
    let fake = FakeSlack::start().await;
    // Slack makes the channel, but the answer never arrives.
    fake.fail_method("conversations.create", Fault::LoseReply);
    let (t, _clock) = start(&fake).await;
    opened_room(&t, &fake).await;
    assert_eq!(fake.calls("conversations.create").len(), 1);
    assert!(!fake.calls("conversations.list").is_empty());
    assert_eq!(fake.calls("pins.add")[0].body["channel"], ROOM);
    let inc = t.app().core().store.incident(1).await.unwrap().unwrap();
    let room = inc.coord.room.unwrap();
    assert_eq!(room.channel.as_deref(), Some(ROOM));
    assert_eq!(
        room.name.as_deref(),
        Some("inc-20261201-1-checkout-5xx-above-10")
    );
    assert_eq!(room.creating, None);
}

#[tokio::test]
async fn a_channel_slack_refuses_is_reported_and_can_be_asked_for_again() {
    let fake = FakeSlack::start().await;
    fake.fail_method("conversations.create", Fault::Refuse("restricted_action"));
    let (t, _clock) = start(&fake).await;
    alert(&t, "k1", "Checkout 5xx above 10%", "critical").await;
    // The alert message says so, and offers the button again.
    let end = std::time::Instant::now() + WAIT;
    let refused = loop {
        let found = fake.calls("chat.update").into_iter().find(|u| {
            u.body["channel"] == CHANNEL
                && u.body["blocks"].to_string().contains("restricted_action")
        });
        if let Some(u) = found {
            break u;
        }
        assert!(
            std::time::Instant::now() < end,
            "the refusal was never shown"
        );
        tokio::time::sleep(Wait::from_millis(10)).await;
    };
    assert!(button_labels(&refused.body).contains(&"Open channel".to_string()));
    assert!(
        t.app()
            .core()
            .store
            .dead_letters()
            .await
            .unwrap()
            .is_empty(),
        "the refusal must not be a dead letter"
    );
    assert!(fake.calls("pins.add").is_empty());
    // Asked again, Slack agrees this time.
    let (status, _) = t
        .click(
            "incident_open_channel",
            1,
            "U0CAROL",
            &fake.response_url("again"),
        )
        .await;
    assert_eq!(status, 200);
    let pins = fake.wait_for("pins.add", 1, WAIT).await;
    assert_eq!(pins.len(), 1);
    let room = t
        .app()
        .core()
        .store
        .incident(1)
        .await
        .unwrap()
        .unwrap()
        .coord
        .room
        .unwrap();
    assert_eq!(room.failed, None);
    assert!(room.channel.is_some());
    assert!(t
        .app()
        .core()
        .store
        .dead_letters()
        .await
        .unwrap()
        .is_empty());
}
