//! Property tests over Slack's inbound payloads, signed as Slack signs them:
//! whatever arrives (garbage, odd JSON, wrong types in a modal's state, strange
//! events), tocsin answers 200 or a clear 400, never a 5xx or a panic, and
//! changes nothing it should not.

use crate::support::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

/// Any JSON value a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Payloads shaped like Slack's, with parts replaced by anything.
fn interaction() -> impl Strategy<Value = Value> {
    let kinds = prop_oneof![
        Just("block_actions"),
        Just("view_submission"),
        Just("view_closed"),
        Just("shortcut"),
    ];
    let actions = prop_oneof![
        Just("incident_acknowledge".to_string()),
        Just("incident_open_channel".to_string()),
        Just("room_keep".to_string()),
        Just("incident_snooze_1h".to_string()),
        Just("swap_accept".to_string()),
        "[a-z_]{0,20}",
    ];
    (kinds, actions, any_json(), any_json(), any_json()).prop_map(
        |(kind, action, value, state, junk)| {
            json!({
                "type": kind,
                "user": {"id": "U0ALICE", "team_id": "T0TEAM"},
                "team": {"id": "T0TEAM"},
                "trigger_id": "1.2.3",
                "actions": [{"action_id": action, "block_id": "b", "value": value, "type": "button"}],
                "view": {"id": "V1", "callback_id": "incident_declare", "type": "modal",
                         "state": {"values": state}, "extra": junk}
            })
        },
    )
}

fn event() -> impl Strategy<Value = Value> {
    (any_json(), any_json(), "[a-z_]{0,16}", "[0-9]{0,6}").prop_map(|(item, user, kind, n)| {
        json!({
            "type": "event_callback",
            "event_id": format!("Ev{n}"),
            "event": {"type": kind, "reaction": "pushpin", "item": item, "user": user}
        })
    })
}

#[test]
fn slack_payloads_of_any_shape_get_200_or_a_clear_400() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(TestApp::start(None));
    // Each case is a few real requests: fewer than a unit property test by
    // default, and as many as PROPTEST_CASES asks for.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    // Commands and interactions seen before (same timestamp, same body: the
    // same signature) are replays, refused with 401; the cases repeat
    // themselves (the empty string, shrinking), so the test keeps count.
    let seen = std::cell::RefCell::new(std::collections::HashSet::new());
    let send = |path: &str, body: &str| -> (u16, Value, bool) {
        let ts = t.app().core().clock.now().timestamp().to_string();
        let sig = tocsin::slack::verify::sign(SECRET, &ts, body.as_bytes());
        let replay = path != "/slack/events" && !seen.borrow_mut().insert(sig.clone());
        let (status, answer) = rt.block_on(t.slack_signed(path, body, &ts, &sig));
        (status, answer, replay)
    };
    let check = |(status, body, replay): (u16, Value, bool)| -> Result<(), TestCaseError> {
        if replay {
            prop_assert_eq!(status, 401, "a replay: {}", body);
            return Ok(());
        }
        prop_assert!(status == 200 || status == 400, "status {status}: {body}");
        if status == 400 {
            prop_assert!(!body["error"].as_str().unwrap_or("").is_empty(), "{body}");
        }
        Ok(())
    };
    runner
        .run(&interaction(), |p| {
            let form = serde_urlencoded::to_string([("payload", p.to_string())]).unwrap();
            check(send("/slack/interactions", &form))
        })
        .unwrap();
    runner
        .run(&"\\PC{0,200}", |raw| {
            check(send("/slack/interactions", &raw))?;
            check(send("/slack/events", &raw))
        })
        .unwrap();
    runner
        .run(&event(), |e| check(send("/slack/events", &e.to_string())))
        .unwrap();
    // Nothing of that opened, declared or changed an incident.
    assert!(rt
        .block_on(t.app().core().store.incidents())
        .unwrap()
        .is_empty());
    rt.block_on(t.stop());
}
