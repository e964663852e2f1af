//! Mappings written by hand: where errors are reported, the raw-payload
//! fallback, defaults and clipping.

use super::*;
use crate::domain::incident::Severity;
use crate::ingest::{AlertAction, AlertEvent};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[test]
fn an_expression_that_crashes_the_lexer_is_a_syntax_error() {
    let e = Mapping::parse("x", "title = '}}<'\n").err().unwrap();
    assert_eq!((e[0].field.as_str(), e[0].line), ("title", 1), "{e:?}");
}

fn parse_err(text: &str) -> Vec<MappingError> {
    match Mapping::parse("custom", text) {
        Ok(m) => panic!("parsed: {m:?}"),
        Err(e) => e,
    }
}

#[test]
fn syntax_errors_name_the_field_and_line() {
    let errs = parse_err("# a comment\ntitle = 'alert.name'\nseverity = 'level |'\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!((errs[0].field.as_str(), errs[0].line), ("severity", 3));
    assert_eq!(
        errs[0].to_string().split(':').next(),
        Some("template integrations/custom.toml, line 3")
    );

    // Inside a multi-line string the line is the line of the bad token.
    let errs =
        parse_err("title = 'x'\nresolve = '''\nstate == \"ok\"\n  and )\n'''\ndedup_key = 'a b'\n");
    let got: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.line)).collect();
    assert_eq!(got, [("resolve", 4), ("dedup_key", 6)], "{errs:?}");

    let errs = parse_err("message = 'x'\n");
    assert_eq!((errs[0].field.as_str(), errs[0].line), ("title", 1));
    let errs = parse_err("\ntitle = ''\n");
    assert_eq!((errs[0].field.as_str(), errs[0].line), ("title", 2));
    let errs = parse_err("title = 'x'\n\ntitel = 'y'\n");
    assert_eq!((errs[0].field.as_str(), errs[0].line), ("toml", 3));
    assert!(errs[0].message.contains("titel"), "{errs:?}");
    let errs = parse_err("title = 'x'\nseverity = 3\n");
    assert_eq!((errs[0].field.as_str(), errs[0].line), ("toml", 2));
    let errs = parse_err("title = 'x'\n[vars]\npayload = '1'\n\"a-b\" = '2'\n");
    let got: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.line)).collect();
    assert_eq!(got, [("vars.payload", 3), ("vars.a-b", 4)]);
}

#[test]
fn runtime_errors_fall_back_to_a_raw_incident() {
    let m = Mapping::parse(
        "custom",
        "display_name = 'Custom'\n\ntitle = 'name | no_such_filter'\n",
    )
    .unwrap();
    let payload = json!({"name": "db down", "n": 1});
    let (mapped, err) = apply(&m, KEY, &payload);
    let err = err.expect("the error comes back");
    assert_eq!((err.field.as_str(), err.line), ("title", 3));
    assert!(err.message.contains("no_such_filter"), "{err}");
    let Mapped::Event(ev) = mapped else {
        panic!("not an event")
    };
    let AlertAction::Trigger(d) = &ev.action else {
        panic!("not a trigger")
    };
    assert!(
        d.summary
            .starts_with("Webhook mapping custom failed: title:"),
        "{}",
        d.summary
    );
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(
        d.custom_details.as_ref().map(|c| &c["payload"]),
        Some(&payload)
    );
    assert!(ev.dedup_key.starts_with("unmapped-"));
    // A retry of the same payload joins the same alert; another payload does not.
    let Mapped::Event(again) = apply(&m, KEY, &payload).0 else {
        panic!()
    };
    assert_eq!(again.dedup_key, ev.dedup_key);
    let Mapped::Event(other) = apply(&m, KEY, &json!({"name": "x"})).0 else {
        panic!()
    };
    assert_ne!(other.dedup_key, ev.dedup_key);

    // In a multi-line expression the line is the failing one.
    let m = Mapping::parse(
        "custom",
        "title = 'name'\nseverity = '''\n\"warn\"\n  ~ (name | no_such_filter)\n'''\n",
    )
    .unwrap();
    let (_, err) = apply(&m, KEY, &payload);
    assert_eq!(err.map(|e| (e.field, e.line)), Some(("severity".into(), 4)));

    // Type errors and empty titles are runtime errors too.
    let m = Mapping::parse("custom", "title = 'name'\nseverity = 'n + \"x\"'\n").unwrap();
    let (_, err) = apply(&m, KEY, &payload);
    assert_eq!(err.map(|e| e.field), Some("severity".into()));
    let (mapped, err) = apply(&m, KEY, &json!([1, 2]));
    assert_eq!(err.map(|e| e.field), Some("title".into()));
    assert!(matches!(mapped, Mapped::Event(_)));
}

#[test]
fn defaults_severity_source_and_dedup_key() {
    let m = Mapping::parse(
        "custom",
        "title = 'name'\nseverity = 'level'\nsource_link = 'link'\n[vars]\nx = '1'\n",
    )
    .unwrap();
    let trigger = |p: Value| match apply(&m, KEY, &p) {
        (
            Mapped::Event(AlertEvent {
                dedup_key,
                action: AlertAction::Trigger(d),
                ..
            }),
            None,
        ) => (dedup_key, d),
        other => panic!("{other:?}"),
    };
    let (key, d) =
        trigger(json!({"name": "db down", "level": "WARNING", "link": "javascript:alert(1)"}));
    assert_eq!(key, hex::encode(Sha256::digest(b"db down")));
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.source, "custom");
    assert_eq!(d.client_url, None, "only web links are kept");
    let (_, d) = trigger(json!({"name": "db down", "level": "sev1"}));
    assert_eq!(d.severity, Severity::Error);

    // A resolve without a dedup key finds its alert by the same title hash.
    let m = Mapping::parse("custom", "title = 'name'\nresolve = 'ok'\n").unwrap();
    let Mapped::Event(ev) = apply(&m, KEY, &json!({"name": "db down", "ok": true})).0 else {
        panic!()
    };
    assert_eq!(ev.action, AlertAction::Resolve);
    assert_eq!(ev.dedup_key, key);
}

#[test]
fn summary_and_dedup_key_are_clipped() {
    let m = Mapping::parse("custom", "title = 'name'\ndedup_key = 'id'\n").unwrap();
    let trigger =
        |name: String, id: String| match apply(&m, KEY, &json!({"name": name, "id": id})).0 {
            Mapped::Event(AlertEvent {
                dedup_key,
                action: AlertAction::Trigger(d),
                ..
            }) => (dedup_key, d.summary),
            other => panic!("{other:?}"),
        };
    let (key, summary) = trigger("é".repeat(3000), "k".repeat(1000));
    assert_eq!(summary.chars().count(), MAX_SUMMARY);
    assert!(summary.ends_with('…'));
    assert_eq!(key.len(), MAX_DEDUP_KEY);
    let (other, _) = trigger("x".into(), format!("{}z", "k".repeat(999)));
    assert_ne!(key, other, "long keys with a shared prefix stay distinct");
    let (key, _) = trigger("x".into(), "ü".repeat(200));
    assert!(key.len() <= MAX_DEDUP_KEY);
    let (key, summary) = trigger("x".repeat(MAX_SUMMARY), "k".repeat(MAX_DEDUP_KEY));
    assert_eq!((key.len(), summary.len()), (MAX_DEDUP_KEY, MAX_SUMMARY));
}

#[test]
fn mappings_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Mapping>();
}
