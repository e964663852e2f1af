//! Who may act: people outside the configuration are refused every incident
//! button and command (unless the team is open to the workspace), only an
//! incident's own people change its severity or speak for it, and overrides
//! stay inside the schedule's team. A refusal changes nothing and queues
//! nothing but its private answer.

use crate::support::*;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use std::time::Duration;
use tocsin::clock::Clock;

const STRANGER: &str = "U0STRANGER";
const SITE_KEY: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// The test configuration plus erin (lead of another team, data) and a web
/// team that is open to the whole workspace.
fn policy_config() -> String {
    format!(
        "{CONFIG}{}",
        r#"
[[users]]
id = "erin"
name = "Erin Data"
slack_id = "U0ERIN"

[[teams]]
id = "data"
name = "Data"
leads = ["erin"]
members = ["erin"]

[[teams]]
id = "web"
name = "Web"
members = ["erin"]
open_to_workspace = true

[[services]]
id = "site"
name = "Web site"
team = "web"
integration_key = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
"#
    )
}

fn wednesday() -> Clock {
    Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap())
}

async fn start(fake: &FakeSlack, config: &str) -> TestApp {
    TestApp::start_at_with_config(
        tempfile::tempdir().unwrap(),
        Some(fake),
        wednesday(),
        config,
    )
    .await
}

fn reply(v: &(u16, Value)) -> String {
    assert_eq!(v.0, 200, "{}", v.1);
    assert_eq!(v.1["response_type"], "ephemeral");
    v.1["text"].as_str().unwrap().to_string()
}

async fn incident(t: &TestApp, id: u64) -> tocsin::domain::incident::Incident {
    t.app().core().store.incident(id).await.unwrap().unwrap()
}

/// Opens incident #1 on the paged service (escalation policy) and waits
/// until Slack has everything it causes.
async fn paged_incident(t: &TestApp, fake: &FakeSlack) {
    let mut body = trigger_body("disk", "Disk full on db-1");
    body["routing_key"] = json!(PAGED_KEY);
    assert_eq!(t.enqueue(&body).await.0, 202);
    fake.wait_for("chat.postMessage", 2, Duration::from_secs(5))
        .await;
    settle(fake).await;
}

/// Waits until the fake Slack has been quiet for a while: longer than a
/// Home publish waits after the change that queued it (0.5 s).
async fn settle(fake: &FakeSlack) {
    let mut seen = fake.all_calls().len();
    loop {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let now = fake.all_calls().len();
        if now == seen {
            return;
        }
        seen = now;
    }
}

/// Slack calls made after the first `from`.
fn calls_since(fake: &FakeSlack, from: usize) -> Vec<String> {
    fake.all_calls()[from..]
        .iter()
        .map(|(m, _)| m.clone())
        .collect()
}

/// A button press of `action_id` with `value`, as Slack sends it.
async fn press(
    t: &TestApp,
    action_id: &str,
    value: &str,
    user: &str,
    response_url: &str,
) -> (u16, Value) {
    let mut payload = click_payload(action_id, 1, user, response_url);
    payload["actions"][0]["value"] = json!(value);
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    t.slack("/slack/interactions", &body).await
}

#[tokio::test]
async fn strangers_are_refused_every_incident_button_and_nothing_changes() {
    let fake = FakeSlack::start().await;
    let t = start(&fake, &policy_config()).await;
    paged_incident(&t, &fake).await;
    let before = incident(&t, 1).await;
    let from = fake.all_calls().len();
    let buttons = [
        ("incident_acknowledge", "1"),
        ("incident_resolve", "1"),
        ("incident_escalate", "1"),
        ("incident_snooze_1h", "1:60"),
        ("incident_open_channel", "1"),
        ("room_keep", "1"),
    ];
    for (action, value) in buttons {
        let url = fake.response_url(action);
        let (status, _) = press(&t, action, value, STRANGER, &url).await;
        assert_eq!(status, 200, "{action}");
        let path = format!("respond/{action}");
        let note = fake.wait_for(&path, 1, Duration::from_secs(5)).await;
        let text = note[0].body["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            text.contains("Only people in tocsin's configuration")
                && text.contains("Ask a lead of Platform (<@U0ALICE>) to add you."),
            "{action}: {text}"
        );
        // A response_url message is private unless it says otherwise.
        assert!(note[0].body["response_type"].is_null(), "{action}");
        assert_eq!(note[0].body["replace_original"], false, "{action}");
    }
    settle(&fake).await;
    assert_eq!(incident(&t, 1).await, before, "a refusal changes nothing");
    let made: Vec<String> = calls_since(&fake, from);
    assert_eq!(made.len(), buttons.len(), "{made:?}");
    assert!(made.iter().all(|m| m.starts_with("respond/")), "{made:?}");

    // The declare form, submitted by a stranger, is refused in the form.
    let payload = json!({
        "type": "view_submission",
        "user": {"id": STRANGER, "username": "someone", "team_id": "T0TEAM"},
        "team": {"id": TEAM_ID},
        "api_app_id": APP_ID,
        "view": {"id": "V0STRANGE", "callback_id": "incident_declare", "type": "modal",
                 "state": {"values": {
                     "title": {"value": {"type": "plain_text_input", "value": "Checkout is down"}},
                     "service": {"value": {"type": "static_select", "selected_option": {"value": "api"}}},
                     "severity": {"value": {"type": "static_select", "selected_option": {"value": "SEV1"}}}
                 }}}
    });
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let (status, answer) = t.slack("/slack/interactions", &body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["response_action"], "errors", "{answer}");
    assert!(
        answer["errors"]["service"]
            .as_str()
            .unwrap()
            .contains("can declare incidents"),
        "{answer}"
    );
    assert!(t.app().core().store.incident(2).await.unwrap().is_none());
    settle(&fake).await;
    assert_eq!(calls_since(&fake, from).len(), buttons.len());
}

#[tokio::test]
async fn strangers_are_refused_every_incident_command_and_nothing_changes() {
    let fake = FakeSlack::start().await;
    let t = start(&fake, &policy_config()).await;
    paged_incident(&t, &fake).await;
    let before = incident(&t, 1).await;
    let from = fake.all_calls().len();
    let r = fake.response_url("cmd");
    for text in [
        "ack 1",
        "resolve 1",
        "escalate 1",
        "snooze 1 7d",
        "assign 1 @bob",
        "severity 1 SEV1",
        "update #1 All fine, nothing to see",
        "commander 1 <@U0STRANGER>",
        "comms 1 @bob",
        "note #1 I was here",
        "channel 1",
    ] {
        let answer = reply(&t.command(text, STRANGER, &r).await);
        assert!(
            answer.contains("Only people in tocsin's configuration")
                && answer.contains("no user there has your Slack id")
                && answer.contains("to add you"),
            "{text}: {answer}"
        );
    }
    settle(&fake).await;
    assert_eq!(incident(&t, 1).await, before, "a refusal changes nothing");
    assert_eq!(calls_since(&fake, from), Vec::<String>::new());
    // Reading stays open to the workspace.
    let list = reply(&t.command("list", STRANGER, &r).await);
    assert!(list.contains("#1 Disk full on db-1"), "{list}");
    // The web team is open to the workspace: its services may be declared on.
    let form = reply(&t.command("new Site is down", STRANGER, &r).await);
    assert_eq!(form, "Opening the form to declare an incident…");
    // Where no team is open, the form does not even open.
    let closed = FakeSlack::start().await;
    let t = start(&closed, CONFIG).await;
    let answer = reply(&t.command("new Checkout is down", STRANGER, &r).await);
    assert!(answer.contains("can declare incidents"), "{answer}");
    settle(&closed).await;
    assert!(closed.calls("views.open").is_empty());
}

#[tokio::test]
async fn severity_roles_and_updates_need_the_incidents_own_people() {
    let fake = FakeSlack::start().await;
    let t = start(&fake, &policy_config()).await;
    paged_incident(&t, &fake).await;
    let r = fake.response_url("cmd");
    let before = incident(&t, 1).await;
    let from = fake.all_calls().len();
    // erin is in the configuration, but on another team.
    for text in [
        "severity 1 SEV2",
        "update #1 Rolled back",
        "commander 1 <@U0ERIN>",
        "comms 1 <@U0ERIN>",
    ] {
        let answer = reply(&t.command(text, "U0ERIN", &r).await);
        assert!(
            answer.contains("Only members of Platform, the incident commander or the comms lead"),
            "{text}: {answer}"
        );
    }
    settle(&fake).await;
    assert_eq!(incident(&t, 1).await, before, "a refusal changes nothing");
    assert_eq!(calls_since(&fake, from), Vec::<String>::new());
    // She may still act on it: opening its channel is not speaking for it.
    let button = fake.response_url("open");
    press(&t, "incident_open_channel", "1", "U0ERIN", &button).await;
    settle(&fake).await;
    assert!(incident(&t, 1).await.coord.room.is_some());
    assert!(!calls_since(&fake, from).iter().any(|m| m == "respond/open"));

    // Made commander by a lead, she may; so may a comms lead from outside.
    let made = reply(&t.command("commander 1 <@U0ERIN>", "U0ALICE", &r).await);
    assert_eq!(made, "<@U0ERIN> is now incident commander of #1.");
    let made = reply(&t.command("comms 1 <@U0GUEST>", "U0ALICE", &r).await);
    assert_eq!(made, "<@U0GUEST> is now comms lead of #1.");
    let sev = reply(&t.command("severity 1 SEV2", "U0ERIN", &r).await);
    assert_eq!(sev, "#1 is now SEV2.");
    let update = reply(&t.command("update #1 Rolled back", "U0GUEST", &r).await);
    assert!(update.starts_with("Update posted on #1"), "{update}");
    // bob, a member, may too.
    let bob = reply(&t.command("update #1 Errors are down", "U0BOB", &r).await);
    assert!(bob.starts_with("Update posted on #1"), "{bob}");
}

#[tokio::test]
async fn an_open_team_lets_anyone_in_the_workspace_act_but_not_speak_for_it() {
    let fake = FakeSlack::start().await;
    let t = start(&fake, &policy_config()).await;
    let mut body = trigger_body("site-down", "Site down");
    body["routing_key"] = json!(SITE_KEY);
    assert_eq!(t.enqueue(&body).await.0, 202);
    let r = fake.response_url("cmd");
    let ack = reply(&t.command("ack 1", STRANGER, &r).await);
    assert_eq!(ack, "#1 *Site down* is now acknowledged.");
    let update = reply(&t.command("update #1 Looking", STRANGER, &r).await);
    assert!(
        update.contains("Only members of Web, the incident commander"),
        "{update}"
    );
    let (status, _) = t
        .click("incident_resolve", 1, STRANGER, &fake.response_url("res"))
        .await;
    assert_eq!(status, 200);
    let inc = incident(&t, 1).await;
    assert_eq!(inc.state, tocsin::domain::incident::State::Resolved);
    assert_eq!(
        inc.resolved.map(|s| s.by),
        Some(tocsin::domain::incident::Actor::Slack {
            user_id: STRANGER.into()
        })
    );
}

/// The number of overrides on the primary schedule.
async fn overrides(t: &TestApp) -> usize {
    t.app()
        .core()
        .store
        .overrides("platform-primary")
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn only_members_go_on_call_and_only_leads_put_others_on() {
    let fake = FakeSlack::start().await;
    let t = start(&fake, &policy_config()).await;
    let r = "http://127.0.0.1:9/r";
    settle(&fake).await;
    let from = fake.all_calls().len();
    // erin leads another team: she cannot put herself on this one's schedule…
    let own = reply(
        &t.slash(
            "/oncall",
            "override platform-primary <@U0ERIN> now +2h",
            "U0ERIN",
            r,
        )
        .await,
    );
    assert_eq!(
        own,
        "<@U0ERIN> is not a member of Platform, so they cannot be on call for its schedules."
    );
    // …nor can this team's lead put her on…
    let lead = reply(
        &t.slash(
            "/oncall",
            "override platform-primary @erin now +2h",
            "U0ALICE",
            r,
        )
        .await,
    );
    assert!(lead.contains("is not a member of Platform"), "{lead}");
    // …nor can a member put another member on, nor can a stranger.
    let member = reply(
        &t.slash(
            "/oncall",
            "override platform-primary @alice now +2h",
            "U0BOB",
            r,
        )
        .await,
    );
    assert!(member.contains("Only a lead of Platform"), "{member}");
    let stranger = reply(
        &t.slash(
            "/oncall",
            "override platform-primary @bob now +2h",
            STRANGER,
            r,
        )
        .await,
    );
    assert!(stranger.contains("no user has your Slack id"), "{stranger}");
    // Asking her to cover a shift is refused before she is asked.
    let cover = reply(
        &t.slash("/oncall", "cover platform-primary <@U0ERIN>", "U0BOB", r)
            .await,
    );
    assert!(
        cover.contains("<@U0ERIN> is not a member of Platform"),
        "{cover}"
    );
    settle(&fake).await;
    assert_eq!(overrides(&t).await, 0);
    assert_eq!(calls_since(&fake, from), Vec::<String>::new());
    let audit = reply(&t.slash("/oncall", "audit platform", "U0ALICE", r).await);
    assert!(audit.contains("Nothing has changed"), "{audit}");

    // Members put themselves on, leads put members on.
    let bob = reply(
        &t.slash(
            "/oncall",
            "override platform-primary @bob now +1h",
            "U0BOB",
            r,
        )
        .await,
    );
    assert!(bob.starts_with("Override #1: <@U0BOB>"), "{bob}");
    let alice = reply(
        &t.slash(
            "/oncall",
            "override platform-primary @bob +1h +2h",
            "U0ALICE",
            r,
        )
        .await,
    );
    assert!(alice.starts_with("Override #2: <@U0BOB>"), "{alice}");
    assert_eq!(overrides(&t).await, 2);
}

#[tokio::test]
async fn accepting_a_cover_after_leaving_the_team_is_refused() {
    // erin is a member of platform when bob asks her to cover…
    let joined = policy_config().replacen(
        "members = [\"alice\", \"bob\"]",
        "members = [\"alice\", \"bob\", \"erin\"]",
        1,
    );
    let fake = FakeSlack::start().await;
    let t = start(&fake, &joined).await;
    let asked = reply(
        &t.slash(
            "/oncall",
            "cover platform-primary <@U0ERIN>",
            "U0BOB",
            "http://127.0.0.1:9/r",
        )
        .await,
    );
    assert!(asked.contains("I asked <@U0ERIN> to cover"), "{asked}");
    fake.wait_for("chat.postMessage", 1, Duration::from_secs(5))
        .await;
    let (_, id) = crate::oncall::swap_asks(&fake, "U0ERIN").remove(0);
    // …and has left it when she accepts.
    let dir = t.stop().await;
    let t = TestApp::start_full(dir, Some(&fake), &[], wednesday(), &policy_config()).await;
    settle(&fake).await;
    let from = fake.all_calls().len();
    let url = fake.response_url("accept");
    let (status, _) = press(&t, "swap_accept", &id.to_string(), "U0ERIN", &url).await;
    assert_eq!(status, 200);
    let note = fake
        .wait_for("respond/accept", 1, Duration::from_secs(5))
        .await;
    assert!(
        note[0].body["text"]
            .as_str()
            .unwrap()
            .contains("<@U0ERIN> is not a member of Platform"),
        "{:?}",
        note[0].body
    );
    settle(&fake).await;
    assert_eq!(overrides(&t).await, 0);
    assert_eq!(calls_since(&fake, from), vec!["respond/accept".to_string()]);
    // Declining stays possible, and tells bob.
    let url = fake.response_url("decline");
    press(&t, "swap_decline", &id.to_string(), "U0ERIN", &url).await;
    fake.wait_for("respond/decline", 1, Duration::from_secs(5))
        .await;
    assert_eq!(
        t.app().core().store.swap(id).await.unwrap().unwrap().state,
        tocsin::store::SwapState::Declined
    );
}
