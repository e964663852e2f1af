//! REST API v1 through the real router: tokens and their scopes, problem
//! answers, incidents changed as Slack changes them (messages update,
//! escalation stops), listing with filters and cursors, on-call and
//! overrides, and the OpenAPI document.

use crate::support::*;
use bytes::Bytes;
use chrono::{Duration, TimeZone, Utc};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::time::Duration as Wait;
use tocsin::clock::Clock;

pub const WRITE: &str = "w7c3e9f1b5d2468097acbdf0e1d2c3b4";
pub const READ: &str = "r1e2d3c4b5a69788796a5b4c3d2e1f00";

/// One API request: status, content type and the body as JSON (`null` if none).
pub async fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let resp = client
        .request(req.body(Full::new(Bytes::from(bytes))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        kind,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn three_am() -> Clock {
    Clock::manual(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap())
}

async fn start(fake: &FakeSlack, clock: Clock) -> TestApp {
    TestApp::start_full(
        tempfile::tempdir().unwrap(),
        Some(fake),
        &[("TOCSIN_API_TOKEN", WRITE), ("TOCSIN_API_READ_TOKEN", READ)],
        clock,
        CONFIG,
    )
    .await
}

async fn state_of(t: &TestApp, id: u64) -> Value {
    let url = format!("{}/api/v1/incidents/{id}", t.base);
    let (status, _, inc) = call("GET", &url, Some(READ), None).await;
    assert_eq!(status, 200, "{inc}");
    inc["state"].clone()
}

#[tokio::test]
async fn without_a_token_or_with_the_read_token_a_change_is_refused_and_changes_nothing() {
    let fake = FakeSlack::start().await;
    let t = start(&fake, three_am()).await;
    assert_eq!(t.trigger("k1", "Disk full").await.0, 202);
    let ack = format!("{}/api/v1/incidents/1/acknowledge", t.base);
    let by = Some(json!({"by": "deploy-bot"}));

    let (status, kind, p) = call("POST", &ack, None, by.clone()).await;
    assert_eq!((status, kind.as_str()), (401, "application/problem+json"));
    assert_eq!(p["status"], 401);
    assert!(
        p["detail"].as_str().unwrap().contains("bearer token"),
        "{p}"
    );
    let (status, _, _) = call("POST", &ack, Some("x".repeat(32).as_str()), by.clone()).await;
    assert_eq!(status, 401);
    let list = format!("{}/api/v1/incidents", t.base);
    assert_eq!(call("GET", &list, None, None).await.0, 401);

    let (status, kind, p) = call("POST", &ack, Some(READ), by.clone()).await;
    assert_eq!((status, kind.as_str()), (403, "application/problem+json"));
    assert!(p["detail"].as_str().unwrap().contains("only read"), "{p}");
    assert_eq!(state_of(&t, 1).await, "triggered");
    // The read token reads.
    assert_eq!(call("GET", &list, Some(READ), None).await.0, 200);
}

#[tokio::test]
async fn the_api_is_off_without_tokens() {
    let t = TestApp::start(None).await;
    let (status, kind, p) = call("GET", &format!("{}/api/v1/incidents", t.base), None, None).await;
    assert_eq!((status, kind.as_str()), (404, "application/problem+json"));
    assert!(p["detail"].as_str().unwrap().contains("TOCSIN_API_TOKEN"));
}

#[tokio::test]
async fn an_acknowledge_through_the_api_updates_the_message_and_is_recorded() {
    let fake = FakeSlack::start().await;
    let t = start(&fake, three_am()).await;
    t.trigger("k1", "Disk full").await;
    fake.wait_for("chat.postMessage", 1, Wait::from_secs(5))
        .await;
    let ack = format!("{}/api/v1/incidents/1/acknowledge", t.base);

    // `by` is required, and must be a name.
    let (status, kind, p) = call("POST", &ack, Some(WRITE), Some(json!({}))).await;
    assert_eq!((status, kind.as_str()), (422, "application/problem+json"));
    assert!(p["detail"].as_str().unwrap().contains("by"), "{p}");
    let bad = Some(json!({"by": "<!channel>"}));
    assert_eq!(call("POST", &ack, Some(WRITE), bad).await.0, 422);
    let (status, _, _) = call("POST", &ack, Some(WRITE), None).await;
    assert_eq!(status, 400, "an empty body is not JSON");
    assert_eq!(state_of(&t, 1).await, "triggered");

    let by = Some(json!({"by": "deploy-bot"}));
    let (status, _, inc) = call("POST", &ack, Some(WRITE), by.clone()).await;
    assert_eq!(status, 200, "{inc}");
    assert_eq!(inc["state"], "acknowledged");
    assert_eq!(inc["acknowledged"]["by"], "deploy-bot");
    assert_eq!(inc["acknowledged"]["via"], "api");
    // The channel message shows it, without the Acknowledge button.
    let end = std::time::Instant::now() + Wait::from_secs(5);
    loop {
        let updated = fake.calls("chat.update").into_iter().any(|c| {
            let labels = button_labels(&c.body);
            c.body.to_string().contains("deploy-bot") && !labels.contains(&"Acknowledge".into())
        });
        if updated {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "{:?}",
            fake.calls("chat.update")
        );
        tokio::time::sleep(Wait::from_millis(20)).await;
    }
    // Twice changes nothing.
    let (status, _, p) = call("POST", &ack, Some(WRITE), by).await;
    assert_eq!(status, 409, "{p}");
    let missing = format!("{}/api/v1/incidents/99/resolve", t.base);
    let by = Some(json!({"by": "deploy-bot"}));
    assert_eq!(call("POST", &missing, Some(WRITE), by).await.0, 404);
}

#[tokio::test]
async fn a_resolve_through_the_api_stops_the_escalation() {
    let fake = FakeSlack::start().await;
    let clock = three_am();
    let t = start(&fake, clock.clone()).await;
    let page = json!({
        "routing_key": PAGED_KEY, "event_action": "trigger", "dedup_key": "p1",
        "payload": {"summary": "Card payments failing", "source": "pay-1", "severity": "critical"}
    });
    assert_eq!(t.enqueue(&page).await.0, 202);
    let url = format!("{}/api/v1/incidents/1", t.base);
    // alice is paged at once.
    let end = std::time::Instant::now() + Wait::from_secs(5);
    loop {
        let (_, _, inc) = call("GET", &url, Some(READ), None).await;
        let paged = inc["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "paged");
        if paged {
            break;
        }
        assert!(std::time::Instant::now() < end, "{inc}");
        tokio::time::sleep(Wait::from_millis(20)).await;
    }
    let (status, _, inc) = call(
        "POST",
        &format!("{url}/resolve"),
        Some(WRITE),
        Some(json!({"by": "alice@example.com"})),
    )
    .await;
    assert_eq!((status, inc["state"].as_str()), (200, Some("resolved")));
    // Bob would be paged 15 minutes in; resolved, he is not.
    clock.advance(Duration::minutes(20));
    t.app().core().engine_wake.notify_one();
    tokio::time::sleep(Wait::from_millis(300)).await;
    let (_, _, inc) = call("GET", &url, Some(READ), None).await;
    let paged: Vec<&Value> = inc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "paged")
        .collect();
    assert_eq!(paged.len(), 1, "{inc}");
    assert!(!fake
        .calls("chat.postMessage")
        .iter()
        .any(|c| c.body["channel"] == "DU0BOB"));
    let resolved = &inc["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (resolved["kind"].as_str(), resolved["by"].as_str()),
        (Some("resolved"), Some("alice@example.com"))
    );
}

#[tokio::test]
async fn incidents_are_listed_newest_first_by_filter_and_cursor() {
    let fake = FakeSlack::start().await;
    let clock = three_am();
    let t = start(&fake, clock.clone()).await;
    for k in ["a", "b", "c"] {
        t.trigger(k, &format!("Alert {k}")).await;
        clock.advance(Duration::minutes(1));
    }
    let by = Some(json!({"by": "deploy-bot"}));
    let resolve = format!("{}/api/v1/incidents/2/resolve", t.base);
    assert_eq!(call("POST", &resolve, Some(WRITE), by).await.0, 200);
    let list = |q: &str| format!("{}/api/v1/incidents?{q}", t.base);

    let (_, _, page) = call("GET", &list("limit=2"), Some(READ), None).await;
    let ids: Vec<u64> = page["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [3, 2]);
    assert!(page["incidents"][0].get("timeline").is_none());
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, _, page) = call(
        "GET",
        &list(&format!("limit=2&cursor={cursor}")),
        Some(READ),
        None,
    )
    .await;
    assert_eq!(page["incidents"][0]["id"], 1);
    assert_eq!(page["next_cursor"], Value::Null);

    let (_, _, page) = call("GET", &list("state=triggered"), Some(READ), None).await;
    assert_eq!(page["incidents"].as_array().unwrap().len(), 2);
    let (_, _, page) = call(
        "GET",
        &list("state=resolved&team=platform&service=api"),
        Some(READ),
        None,
    )
    .await;
    assert_eq!(page["incidents"][0]["id"], 2);
    assert_eq!(page["incidents"].as_array().unwrap().len(), 1);
    let (_, _, page) = call("GET", &list("since=2026-11-25T03:01:00Z"), Some(READ), None).await;
    assert_eq!(page["incidents"].as_array().unwrap().len(), 2);

    let (status, kind, p) = call("GET", &list("state=open"), Some(READ), None).await;
    assert_eq!((status, kind.as_str()), (400, "application/problem+json"));
    assert!(p["detail"].as_str().unwrap().contains("state"), "{p}");
    assert_eq!(
        call("GET", &list("cursor=zzz"), Some(READ), None).await.0,
        400
    );
}

#[tokio::test]
async fn notes_and_escalations_through_the_api_join_the_timeline() {
    let fake = FakeSlack::start().await;
    let t = start(&fake, three_am()).await;
    let page = json!({
        "routing_key": PAGED_KEY, "event_action": "trigger", "dedup_key": "p1",
        "payload": {"summary": "Card payments failing", "source": "pay-1", "severity": "critical"}
    });
    t.enqueue(&page).await;
    let url = format!("{}/api/v1/incidents/1", t.base);
    let note = Some(json!({"by": "runbook", "text": "Restarted the <!channel> worker"}));
    let (status, _, inc) = call("POST", &format!("{url}/notes"), Some(WRITE), note).await;
    assert_eq!(status, 201, "{inc}");
    let notes: Vec<Value> = inc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "note")
        .cloned()
        .collect();
    assert_eq!(notes.len(), 1, "{inc}");
    let text = notes[0]["text"].as_str().unwrap();
    assert!(text.contains("Restarted the <!channel> worker") && text.contains("runbook"));
    let empty = Some(json!({"by": "runbook", "text": "  "}));
    assert_eq!(
        call("POST", &format!("{url}/notes"), Some(WRITE), empty)
            .await
            .0,
        422
    );

    let by = Some(json!({"by": "runbook"}));
    let (status, _, inc) = call("POST", &format!("{url}/escalate"), Some(WRITE), by.clone()).await;
    assert_eq!(status, 200, "{inc}");
    // Bob, the next level, is paged now rather than in 15 minutes.
    let end = std::time::Instant::now() + Wait::from_secs(5);
    while !fake
        .calls("chat.postMessage")
        .iter()
        .any(|c| c.body["channel"] == "DU0BOB")
    {
        assert!(std::time::Instant::now() < end, "bob was not paged");
        tokio::time::sleep(Wait::from_millis(20)).await;
    }
    let (_, _, inc) = call("GET", &url, Some(READ), None).await;
    assert!(
        inc["timeline"]
            .to_string()
            .contains("Escalated (by runbook"),
        "{inc}"
    );
    // An acknowledged incident does not escalate.
    call(
        "POST",
        &format!("{url}/acknowledge"),
        Some(WRITE),
        by.clone(),
    )
    .await;
    let (status, _, p) = call("POST", &format!("{url}/escalate"), Some(WRITE), by).await;
    assert_eq!(status, 409, "{p}");
}

#[tokio::test]
async fn an_override_added_through_the_api_changes_who_is_on_call_until_removed() {
    let fake = FakeSlack::start().await;
    let clock = three_am();
    let t = start(&fake, clock.clone()).await;
    let oncall = format!("{}/api/v1/oncall?schedule=platform-primary", t.base);
    // Week 4 of the rotation from 2026-11-02: bob.
    let (status, _, now) = call("GET", &oncall, Some(READ), None).await;
    assert_eq!(status, 200, "{now}");
    assert_eq!(now["oncall"][0]["user"]["id"], "bob");

    let overrides = format!("{}/api/v1/schedules/platform-primary/overrides", t.base);
    let over = json!({"user": "alice", "start": "2026-11-25T02:00:00Z",
                      "end": "2026-11-25T10:00:00Z", "by": "holiday-sync"});
    assert_eq!(
        call("POST", &overrides, Some(READ), Some(over.clone()))
            .await
            .0,
        403
    );
    let (status, _, made) = call("POST", &overrides, Some(WRITE), Some(over)).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["created_by"], "api:holiday-sync");
    let (_, _, now) = call("GET", &oncall, Some(READ), None).await;
    assert_eq!(now["oncall"][0]["user"]["id"], "alice", "{now}");
    assert_eq!(now["oncall"][0]["end"], "2026-11-25T10:00:00Z");
    let (_, _, list) = call("GET", &overrides, Some(READ), None).await;
    assert_eq!(list["overrides"].as_array().unwrap().len(), 1);

    // Bad spans and unknown people change nothing.
    for bad in [
        json!({"user": "zoe", "start": "2026-11-25T02:00:00Z", "end": "2026-11-25T10:00:00Z", "by": "x"}),
        json!({"user": "bob", "start": "2026-11-25T10:00:00Z", "end": "2026-11-25T02:00:00Z", "by": "x"}),
        json!({"user": "bob", "start": "2026-11-20T10:00:00Z", "end": "2026-11-21T02:00:00Z", "by": "x"}),
        json!({"user": "bob", "start": "2026-11-25T10:00:00Z", "end": "2027-11-25T02:00:00Z", "by": "x"}),
        json!({"user": "bob", "start": "2026-11-25T10:00:00Z", "end": "2026-11-26T02:00:00Z"}),
    ] {
        let (status, kind, p) = call("POST", &overrides, Some(WRITE), Some(bad.clone())).await;
        assert_eq!(
            (status, kind.as_str()),
            (422, "application/problem+json"),
            "{bad} {p}"
        );
    }
    let (_, _, list) = call("GET", &overrides, Some(READ), None).await;
    assert_eq!(list["overrides"].as_array().unwrap().len(), 1);

    let id = made["id"].as_u64().unwrap();
    let one = format!("{overrides}/{id}");
    assert_eq!(
        call("DELETE", &one, Some(WRITE), None).await.0,
        422,
        "`by` is required"
    );
    let (status, _, gone) = call(
        "DELETE",
        &format!("{one}?by=holiday-sync"),
        Some(WRITE),
        None,
    )
    .await;
    assert_eq!((status, gone["user"].as_str()), (200, Some("alice")));
    assert_eq!(
        call(
            "DELETE",
            &format!("{one}?by=holiday-sync"),
            Some(WRITE),
            None
        )
        .await
        .0,
        404
    );
    let (_, _, now) = call("GET", &oncall, Some(READ), None).await;
    assert_eq!(now["oncall"][0]["user"]["id"], "bob");
    let missing = format!("{}/api/v1/schedules/nope/overrides", t.base);
    assert_eq!(call("GET", &missing, Some(READ), None).await.0, 404);
    // Both changes are in the team's audit log, naming whoever the request named.
    let (_, body) = t
        .slash(
            "/oncall",
            "audit platform",
            "U0ALICE",
            &fake.response_url("a"),
        )
        .await;
    let text = body.to_string();
    assert!(
        text.contains("holiday-sync (through the API) override: #1 Alice"),
        "{text}"
    );
    assert!(text.contains("#1 removed"), "{text}");
}

#[tokio::test]
async fn services_and_the_openapi_document_are_served() {
    let fake = FakeSlack::start().await;
    let t = start(&fake, three_am()).await;
    let (status, _, s) = call(
        "GET",
        &format!("{}/api/v1/services", t.base),
        Some(READ),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = s["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["api", "payments"]);
    assert!(
        !s.to_string().contains("integration_key"),
        "keys stay secret"
    );
    let (status, kind, doc) = call(
        "GET",
        &format!("{}/api/v1/openapi.json", t.base),
        None,
        None,
    )
    .await;
    assert_eq!((status, kind.as_str()), (200, "application/json"));
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/api/v1/incidents/{id}/acknowledge"]["post"].is_object());
}
