//! Text from outside never pings or links in Slack: alert payloads, the
//! Alertmanager summary, links, notes and updates arrive escaped, and the
//! mentions and links tocsin makes itself stay live.

use crate::support::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);
const HOSTILE: &str = "<!channel> wake up <https://evil.example/|Click to ack>";

/// Every piece of what Slack received that Slack parses as mrkdwn: the
/// `text`, and block text that is not a `plain_text` object.
fn mrkdwn_parts(body: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) if m.get("type") == Some(&json!("plain_text")) => {}
            Value::Object(m) => m.values().for_each(|v| walk(v, out)),
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            _ => {}
        }
    }
    let mut out = String::new();
    walk(&body["text"], &mut out);
    walk(&body["blocks"], &mut out);
    out
}

fn assert_inert(what: &str, body: &Value) {
    let text = mrkdwn_parts(body);
    for live in [
        "<!channel",
        "<https://evil",
        "<https://ok.example/|",
        "javascript:",
    ] {
        assert!(!text.contains(live), "{what} has a live {live}: {text}");
    }
}

#[tokio::test]
async fn a_hostile_alert_reaches_slack_escaped_with_its_good_link_and_mentions_live() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    let mut body = trigger_body("evil", HOSTILE);
    body["payload"]["source"] = json!("<!here> db-1 & co");
    body["links"] = json!([
        {"href": "https://ok.example/|x> <!channel> <https://evil.example", "text": "logs"},
        {"href": "javascript:alert(1)", "text": "run"},
        {"href": "https://grafana.example.com/d/1?a=1&b=2", "text": "<@U0BOB> Dashboard"}
    ]);
    let (status, answer) = t.enqueue(&body).await;
    assert_eq!(status, 202, "{answer}");

    let post = &fake.wait_for("chat.postMessage", 1, WAIT).await[0].body;
    assert_inert("the incident message", post);
    let text = post["text"].as_str().unwrap();
    assert!(
        text.contains("&lt;!channel&gt; wake up &lt;https://evil.example/|Click to ack&gt;"),
        "{text}"
    );
    let parts = mrkdwn_parts(post);
    assert!(parts.contains("&lt;!here&gt; db-1 &amp; co"), "{parts}");
    // The good link is tocsin's own, built from a checked URL, its label inert.
    assert!(
        parts.contains("<https://grafana.example.com/d/1?a=1&amp;b=2|&lt;@U0BOB&gt; Dashboard>"),
        "{parts}"
    );
    assert!(!parts.contains("<@U0BOB>"), "{parts}");
}

#[tokio::test]
async fn alertmanagers_summary_is_escaped_and_people_paged_are_still_mentioned() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    let url = format!("{}/integrations/alertmanager/{PAGED_KEY}", t.base);
    let payload = json!({
        "version": "4", "groupKey": "{}:{alertname=\"Evil\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "tocsin",
        "groupLabels": {"alertname": "Evil"},
        "commonLabels": {"alertname": "Evil", "severity": "critical"},
        "commonAnnotations": {"summary": HOSTILE},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing", "labels": {"alertname": "Evil", "instance": "<!everyone>"},
            "annotations": {"summary": "<@U0BOB> look"},
            "startsAt": "2026-11-25T03:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "javascript:alert(1)", "fingerprint": "f1"
        }]
    });
    let (status, _) = post(
        &url,
        &[("content-type", "application/json")],
        payload.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let post_msg = fake
        .wait_for("chat.postMessage", 2, WAIT)
        .await
        .into_iter()
        .find(|c| c.body["channel"] == CHANNEL)
        .expect("the channel message");
    assert_inert("the Alertmanager incident", &post_msg.body);
    let parts = mrkdwn_parts(&post_msg.body);
    assert!(
        !parts.contains("<!everyone") && !parts.contains("<@U0BOB>"),
        "{parts}"
    );
    // alice is paged by the policy: that mention is tocsin's, and live.
    assert!(parts.contains("<@U0ALICE>"), "{parts}");
}

#[tokio::test]
async fn notes_and_the_incident_list_show_what_people_typed_without_pinging() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    assert_eq!(t.trigger("evil", HOSTILE).await.0, 202);
    fake.wait_for("chat.postMessage", 1, WAIT).await;

    let (status, reply) = t
        .command("list", "U0ALICE", &fake.response_url("list"))
        .await;
    assert_eq!(status, 200);
    let text = reply.to_string();
    assert!(!text.contains("<!channel"), "{text}");
    assert!(text.contains("&lt;!channel&gt;"), "{text}");

    let note = "note #1 <!channel> the DB <https://evil.example|failed over>";
    let (status, _) = t.command(note, "U0ALICE", &fake.response_url("note")).await;
    assert_eq!(status, 200);
    let (status, reply) = t
        .command("timeline 1", "U0ALICE", &fake.response_url("tl"))
        .await;
    assert_eq!(status, 200);
    let text = reply.to_string();
    assert!(
        text.contains("&lt;!channel&gt; the DB &lt;https://evil.example|failed over&gt;"),
        "{text}"
    );
    assert!(
        !text.contains("<!channel") && !text.contains("<https://evil"),
        "{text}"
    );
}

#[tokio::test]
async fn a_role_given_to_a_forged_mention_is_refused_and_pings_nobody() {
    let fake = FakeSlack::start().await;
    let t = TestApp::start(Some(&fake)).await;
    assert_eq!(t.trigger("evil", "Disk full").await.0, 202);
    fake.wait_for("chat.postMessage", 1, WAIT).await;
    let (status, reply) = t
        .command(
            "commander #1 <@U0BOB><!here>",
            "U0ALICE",
            &fake.response_url("role"),
        )
        .await;
    assert_eq!(status, 200);
    let text = reply.to_string();
    assert!(!text.contains("<!here"), "{text}");
    let inc = t.app().core().store.incident(1).await.unwrap().unwrap();
    assert_eq!(inc.coord.commander, None, "nobody was made commander");
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (method, body) in fake.all_calls() {
        assert!(!body.to_string().contains("<!here"), "{method}: {body}");
    }
}
