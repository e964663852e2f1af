//! The App Home through the real router and outbox: opening the tab
//! publishes the person's Home; an acknowledgement, an override and a
//! shift asked for from the Home publish it again, debounced per person;
//! every view is within Slack's limits.

use crate::support::*;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use std::time::{Duration as Wait, Instant};
use tocsin::clock::Clock;

const WAIT: Wait = Wait::from_secs(5);
const KEY: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Tuesday 2026-12-01 10:00 UTC: bob's day on the weekday rotation.
const CONFIG: &str = r#"
[[users]]
id = "alice"
name = "Alice Example"
slack_id = "U0ALICE"

[[users]]
id = "bob"
name = "Bob Example"
slack_id = "U0BOB"

[[users]]
id = "carol"
name = "Carol Lead"
slack_id = "U0CAROL"

[[teams]]
id = "platform"
name = "Platform"
leads = ["carol"]
members = ["alice", "bob", "carol"]
alert_channel = "C0PLATFORM"

[[schedules]]
id = "primary"
team = "platform"
time_zone = "UTC"
[[schedules.layers]]
name = "weekdays"
start = "2026-11-30T09:00:00"
rotation = "daily"
users = ["alice", "bob"]
restrictions = [{ days = "mon-fri", from = "09:00", to = "18:00" }]

[[escalation_policies]]
id = "oncall"
[[escalation_policies.levels]]
after_minutes = 0
targets = ["schedule:primary"]

[[services]]
id = "checkout"
name = "Checkout"
team = "platform"
escalation_policy = "oncall"
integration_key = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
"#;

async fn start(fake: &FakeSlack) -> TestApp {
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap());
    TestApp::start_at_with_config(tempfile::tempdir().unwrap(), Some(fake), clock, CONFIG).await
}

async fn alert(t: &TestApp, key: &str, summary: &str) {
    let body = json!({
        "routing_key": KEY, "event_action": "trigger", "dedup_key": key,
        "payload": {"summary": summary, "source": "lb-1", "severity": "error"},
    });
    assert_eq!(t.enqueue(&body).await.0, 202);
}

/// The views published for `user` so far, oldest first.
fn homes(fake: &FakeSlack, user: &str) -> Vec<Value> {
    fake.calls("views.publish")
        .into_iter()
        .filter(|c| c.body["user_id"] == user)
        .map(|c| c.body["view"].clone())
        .collect()
}

/// The latest Home of `user` for which `ok` holds, waiting for it.
async fn home_where(fake: &FakeSlack, user: &str, ok: impl Fn(&str) -> bool) -> Value {
    let end = Instant::now() + WAIT;
    loop {
        if let Some(v) = homes(fake, user)
            .into_iter()
            .rev()
            .find(|v| ok(&v.to_string()))
        {
            within_limits(&v);
            return v;
        }
        assert!(
            Instant::now() < end,
            "no such Home for {user}: {:?}",
            homes(fake, user).last()
        );
        tokio::time::sleep(Wait::from_millis(20)).await;
    }
}

fn within_limits(v: &Value) {
    assert_eq!(v["type"], "home");
    let blocks = v["blocks"].as_array().expect("blocks");
    assert!(
        !blocks.is_empty() && blocks.len() <= 100,
        "{} blocks",
        blocks.len()
    );
}

async fn open_home(t: &TestApp, event_id: &str, user: &str, tab: &str) {
    let ev = json!({
        "type": "event_callback", "event_id": event_id, "team_id": "T0TEAM", "api_app_id": "A0APP",
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab,
                  "event_ts": "1700000000.000100"}
    });
    let (status, body) = t.slack("/slack/events", &ev.to_string()).await;
    assert_eq!(status, 200, "{body}");
}

/// A click on a button of the Home tab, as Slack sends it (no response_url).
async fn click_home(t: &TestApp, user: &str, action_id: &str, value: &str) -> u16 {
    let payload = json!({
        "type": "block_actions",
        "team": {"id": "T0TEAM", "domain": "example"},
        "user": {"id": user, "username": "someone", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "token": "deprecated",
        "container": {"type": "view", "view_id": "V0VIEW"},
        "trigger_id": next_trigger_id(),
        "actions": [{
            "type": "button", "action_id": action_id, "block_id": "home",
            "text": {"type": "plain_text", "text": "x"}, "value": value,
            "action_ts": "1700000001.000001"
        }]
    });
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    t.slack("/slack/interactions", &body).await.0
}

/// The value of the first button labelled `label` in `view`.
fn button_value(view: &Value, label: &str) -> String {
    view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["type"] == "button" && e["text"]["text"] == label)
        .and_then(|e| e["value"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no {label} button: {view}"))
}

fn labels(view: &Value) -> Vec<String> {
    view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["type"] == "button")
        .map(|e| e["text"]["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn opening_the_home_tab_publishes_who_is_on_call_and_the_persons_shifts() {
    let fake = FakeSlack::start().await;
    let t = start(&fake).await;
    open_home(&t, "Ev0H1", "U0BOB", "home").await;
    let view = home_where(&fake, "U0BOB", |v| v.contains("On call now")).await;
    let text = view.to_string();
    for want in [
        "*Platform*",
        "`primary`: <@U0BOB> until",
        "then nobody from",
        "Your open incidents (0)",
        "Your next shifts",
    ] {
        assert!(text.contains(want), "{want} missing: {text}");
    }
    assert_eq!(&labels(&view)[..2], ["Ask for cover", "Offer a swap"]);
    assert!(!text.contains("Teams you lead"), "bob leads nothing");

    // The lead also sees the team's load and what nobody covers.
    open_home(&t, "Ev0H2", "U0CAROL", "home").await;
    let lead = home_where(&fake, "U0CAROL", |v| v.contains("Teams you lead")).await;
    let text = lead.to_string();
    assert!(
        text.contains("Spread:") && text.contains("uncovered stretches"),
        "{text}"
    );

    // Someone the configuration does not name is told why their Home is short.
    open_home(&t, "Ev0H3", "U0STRANGER", "home").await;
    let v = home_where(&fake, "U0STRANGER", |v| v.contains("does not name you")).await;
    assert!(!v.to_string().contains("Your next shifts"));

    // The Messages tab, and a retried event, publish nothing more.
    let before = fake.calls("views.publish").len();
    open_home(&t, "Ev0H4", "U0BOB", "messages").await;
    open_home(&t, "Ev0H1", "U0BOB", "home").await;
    tokio::time::sleep(Wait::from_millis(1200)).await;
    assert_eq!(fake.calls("views.publish").len(), before);
}

#[tokio::test]
async fn the_home_is_published_again_after_an_acknowledgement() {
    let fake = FakeSlack::start().await;
    let t = start(&fake).await;
    alert(&t, "k1", "Checkout 5xx above 10%").await;
    // Paging bob, on call, publishes his Home with the incident to act on.
    let paged = home_where(&fake, "U0BOB", |v| v.contains("Your open incidents (1)")).await;
    let text = paged.to_string();
    assert!(
        text.contains("*#1 Checkout 5xx above 10%*") && text.contains("you were paged"),
        "{text}"
    );
    assert_eq!(&labels(&paged)[..2], ["Acknowledge", "Resolve"]);
    assert_eq!(button_value(&paged, "Acknowledge"), "1");

    // He acknowledges from the Home tab itself.
    let before = homes(&fake, "U0BOB").len();
    assert_eq!(
        click_home(&t, "U0BOB", "incident_acknowledge", "1").await,
        200
    );
    let acked = home_where(&fake, "U0BOB", |v| v.contains("acknowledged ·")).await;
    assert!(homes(&fake, "U0BOB").len() > before);
    let text = acked.to_string();
    assert!(text.contains("you acknowledged it"), "{text}");
    assert_eq!(&labels(&acked)[..1], ["Resolve"], "Acknowledge is gone");
    let inc = t.app().core().store.incident(1).await.unwrap().unwrap();
    assert_eq!(inc.state, tocsin::domain::incident::State::Acknowledged);
    // The incident's message was updated as for any acknowledgement.
    fake.wait_for("chat.update", 1, WAIT).await;
}

#[tokio::test]
async fn a_burst_of_changes_publishes_a_home_once_not_per_change() {
    let fake = FakeSlack::start().await;
    let t = start(&fake).await;
    alert(&t, "k1", "Checkout 5xx above 10%").await;
    alert(&t, "k2", "Checkout latency up").await;
    home_where(&fake, "U0BOB", |v| v.contains("Your open incidents (2)")).await;
    tokio::time::sleep(Wait::from_millis(700)).await;
    let before = homes(&fake, "U0BOB").len();
    let core = t.app().core();
    use tocsin::domain::incident::Transition::{Acknowledge, Resolve};
    for (id, tr) in [
        (1, Acknowledge),
        (2, Acknowledge),
        (1, Resolve),
        (2, Resolve),
    ] {
        core.act(id, tr, "U0BOB").await.unwrap().unwrap();
    }
    home_where(&fake, "U0BOB", |v| v.contains("Your open incidents (0)")).await;
    tokio::time::sleep(Wait::from_millis(700)).await;
    let published = homes(&fake, "U0BOB").len() - before;
    // Folded and debounced: fewer publishes than changes (one, unless the
    // machine is so slow that the changes spread over more than 0.5 s).
    assert!(
        (1..=3).contains(&published),
        "{published} publishes for 4 changes"
    );
}

#[tokio::test]
async fn an_override_refreshes_the_teams_homes() {
    let fake = FakeSlack::start().await;
    let t = start(&fake).await;
    let (status, body) = t
        .slash(
            "/oncall",
            "override primary <@U0ALICE|alice> now +2h",
            "U0CAROL",
            "http://unused/",
        )
        .await;
    assert_eq!(status, 200);
    assert!(body["text"].as_str().unwrap().contains("on call"), "{body}");
    for user in ["U0ALICE", "U0BOB", "U0CAROL"] {
        let v = home_where(&fake, user, |v| v.contains("`primary`: <@U0ALICE> until")).await;
        assert!(v.to_string().contains("then <@U0BOB> from"), "{user}: {v}");
    }
}

#[tokio::test]
async fn ask_for_cover_from_the_home_asks_the_person_picked() {
    let fake = FakeSlack::start().await;
    let t = start(&fake).await;
    open_home(&t, "Ev0C1", "U0BOB", "home").await;
    let view = home_where(&fake, "U0BOB", |v| v.contains("Ask for cover")).await;
    let value = button_value(&view, "Ask for cover");
    assert!(value.starts_with("cover primary "), "{value}");
    assert_eq!(click_home(&t, "U0BOB", "home_cover", &value).await, 200);
    let forms = fake.wait_for("views.open", 1, WAIT).await;
    let form = &forms[0].body["view"];
    assert_eq!(form["callback_id"], "home_shift");
    assert_eq!(form["private_metadata"].as_str(), Some(value.as_str()));

    let submit = |metadata: &str, picked: &str| {
        let payload = json!({
            "type": "view_submission",
            "team": {"id": "T0TEAM", "domain": "example"},
            "user": {"id": "U0BOB", "username": "bob", "team_id": "T0TEAM"},
            "api_app_id": "A0APP", "token": "deprecated", "trigger_id": next_trigger_id(),
            "view": {"id": "V0VIEW", "type": "modal", "callback_id": "home_shift",
                     "private_metadata": metadata, "team_id": "T0TEAM", "hash": "1.abc",
                     "title": {"type": "plain_text", "text": "Ask for cover"}, "blocks": [],
                     "state": {"values": {"who": {"who": {"type": "users_select", "selected_user": picked}}}}}
        });
        serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
    };
    // Asking yourself is refused in the form, and nobody is asked.
    let (status, body) = t
        .slack("/slack/interactions", &submit(&value, "U0BOB"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["response_action"], "errors", "{body}");
    assert!(
        body["errors"]["who"]
            .as_str()
            .unwrap()
            .contains("someone else"),
        "{body}"
    );
    // A shift that is not bob's is refused too.
    let (_, body) = t
        .slack(
            "/slack/interactions",
            &submit("cover primary 1764669600", "U0ALICE"),
        )
        .await;
    assert!(
        body["errors"]["who"]
            .as_str()
            .unwrap()
            .contains("no longer yours"),
        "{body}"
    );

    let (status, body) = t
        .slack("/slack/interactions", &submit(&value, "U0ALICE"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["response_action"], "update", "{body}");
    assert!(
        body["view"]
            .to_string()
            .contains("I asked <@U0ALICE> to cover"),
        "{body}"
    );
    // Alice is asked by DM, with the buttons to answer.
    let end = Instant::now() + WAIT;
    loop {
        let asked = fake.calls("chat.postMessage").into_iter().any(|c| {
            c.body["channel"] == "U0ALICE" && c.body["blocks"].to_string().contains("Accept")
        });
        if asked {
            break;
        }
        assert!(Instant::now() < end, "alice was never asked");
        tokio::time::sleep(Wait::from_millis(20)).await;
    }
    // A malformed button is refused.
    assert_eq!(
        click_home(&t, "U0BOB", "home_swap", "cover primary 1").await,
        400
    );
}

#[tokio::test]
async fn overrides_added_and_removed_through_the_api_refresh_the_teams_homes() {
    use crate::api_v1::{call, WRITE};
    let fake = FakeSlack::start().await;
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap());
    let t = TestApp::start_full(
        tempfile::tempdir().unwrap(),
        Some(&fake),
        &[("TOCSIN_API_TOKEN", WRITE)],
        clock,
        CONFIG,
    )
    .await;
    let overrides = format!("{}/api/v1/schedules/primary/overrides", t.base);
    let over = json!({"user": "alice", "start": "2026-12-01T09:00:00Z",
                      "end": "2026-12-01T12:00:00Z", "by": "holiday-sync"});
    let (status, _, made) = call("POST", &overrides, Some(WRITE), Some(over)).await;
    assert_eq!(status, 201, "{made}");
    home_where(&fake, "U0BOB", |v| {
        v.contains("`primary`: <@U0ALICE> until")
    })
    .await;
    let one = format!("{overrides}/{}?by=holiday-sync", made["id"]);
    let (status, _, gone) = call("DELETE", &one, Some(WRITE), None).await;
    assert_eq!(status, 200, "{gone}");
    // Bob is on call again, and his own shift is back on his Home.
    let v = home_where(&fake, "U0BOB", |v| v.contains("`primary`: <@U0BOB> until")).await;
    assert!(v.to_string().contains("(now)"), "{v}");
}
