//! Property tests: no payload makes a built-in mapping panic or break its
//! limits, and no file text makes the compiler panic.

use super::*;
use crate::ingest::AlertAction;
use serde_json::Value;

fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let key = prop_oneof![
        proptest::sample::select(vec![
            "Type",
            "Message",
            "SubscribeURL",
            "heartbeat",
            "monitor",
            "status",
            "data",
            "issue",
            "event",
            "metric_alert",
            "action",
            "title",
            "state",
            "priority",
            "event_value",
            "event_severity",
            "alert_transition",
            "aggreg_key",
            "id",
        ])
        .prop_map(str::to_string),
        ".{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        proptest::sample::select(vec![
            "Notification",
            "SubscriptionConfirmation",
            "UnsubscribeConfirmation",
            "0",
            "1",
            "ALARM",
            "OK",
            "resolved",
            "critical",
            "Recovered",
            "CLOSED",
            "{\"a\":1}",
            "https://sns.us-east-1.amazonaws.com/",
            "",
        ])
        .prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    #[test]
    fn apply_never_panics(payload in json_value()) {
        for name in Mapping::builtin_names() {
            let (mapped, _) = apply(&builtin(name), KEY, &payload);
            if let Mapped::Event(ev) = mapped {
                proptest::prop_assert!(!ev.dedup_key.is_empty());
                proptest::prop_assert!(ev.dedup_key.len() <= MAX_DEDUP_KEY);
                if let AlertAction::Trigger(d) = ev.action {
                    proptest::prop_assert!(d.summary.chars().count() <= MAX_SUMMARY);
                }
            }
        }
    }

    #[test]
    fn parse_never_panics(text in ".{0,200}") {
        let _ = Mapping::parse("p", &text);
    }

    #[test]
    fn parse_never_panics_on_mapping_like_text(
        field in "[a-z_]{1,12}",
        expr in "[a-z\"'|(){}\\[\\]. +~=<>!:,\n-]{0,40}",
        quote in proptest::sample::select(vec!["'", "'''", "\"", "\"\"\""]),
    ) {
        let _ = Mapping::parse("p", &format!("title = 'x'\n{field} = {quote}{expr}{quote}\n"));
        let _ = Mapping::parse("p", &format!("title = {quote}{expr}{quote}\n[vars]\n{field} = 'a'\n"));
    }
}
