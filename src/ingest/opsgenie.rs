//! Opsgenie's Alert API (`POST /v2/alerts…`): request bodies in, alert events
//! out, and Opsgenie's answer and error shapes, so a tool that speaks
//! Opsgenie moves by changing one URL.
//!
//! Fields are read as Opsgenie reads them: `message` is required and kept to
//! its first [`MAX_MESSAGE`] characters, `alias` is the dedup key (absent:
//! every alert is new), `priority` P1–P5 (default P3) becomes a severity,
//! `entity` the component. `description`, `details`, `tags`, `note`, `user`
//! and `responders` are kept in the custom details; responders do not route
//! (the service's escalation policy decides who is paged); `visibleTo` and
//! `actions` are ignored. Every problem is named by field, as Opsgenie's 422
//! `errors` map does.

use super::{AlertAction, AlertEvent};
use crate::domain::incident::{AlertDetails, Severity};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Opsgenie keeps the first 130 characters of an alert's message.
pub const MAX_MESSAGE: usize = 130;
/// Opsgenie's limit on an alias.
pub const MAX_ALIAS: usize = 512;
/// Opsgenie's limit on a note.
pub const MAX_NOTE: usize = 25_000;

/// Why a request is refused, in the two forms Opsgenie answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// 400: the body is not JSON (or not an object).
    Syntax(String),
    /// 422: field → what is wrong with it.
    Fields(BTreeMap<String, String>),
}

impl Refused {
    fn field(name: &str, why: impl Into<String>) -> Refused {
        Refused::Fields(BTreeMap::from([(name.to_string(), why.into())]))
    }
}

/// How the path's identifier names an alert (`identifierType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierType {
    /// tocsin's incident number (Opsgenie's default type).
    Id,
    /// The alias the alert was created with: its dedup key.
    Alias,
}

impl IdentifierType {
    pub fn name(self) -> &'static str {
        match self {
            IdentifierType::Id => "id",
            IdentifierType::Alias => "alias",
        }
    }
}

/// The body of an acknowledge, close or notes request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Action {
    pub user: Option<String>,
    pub source: Option<String>,
    pub note: Option<String>,
}

impl Action {
    /// The note as a timeline line, with who wrote it when the sender said.
    pub fn note_line(&self) -> Option<String> {
        let note = self.note.as_deref().filter(|n| !n.trim().is_empty())?;
        Some(match self.user.as_deref().filter(|u| !u.is_empty()) {
            Some(user) => format!("{user}: {note}"),
            None => note.to_string(),
        })
    }
}

fn object(body: &[u8]) -> Result<Map<String, Value>, Refused> {
    if let Some(why) = super::limits::too_deep(body) {
        return Err(Refused::Syntax(why));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(Refused::Syntax("the body must be a JSON object".into())),
        Err(e) => Err(Refused::Syntax(format!("the body is not valid JSON: {e}"))),
    }
}

/// A string field: absent and null are `None`; any other type is an error.
fn string(
    obj: &Map<String, Value>,
    name: &str,
    errors: &mut BTreeMap<String, String>,
) -> Option<String> {
    match obj.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.insert(name.into(), "must be a string".into());
            None
        }
    }
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The severity an Opsgenie priority stands for. P3, Opsgenie's default,
/// is `error`, so an alert sent without a priority still pages.
pub fn severity(priority: &str) -> Option<Severity> {
    Some(match priority {
        "P1" => Severity::Critical,
        "P2" | "P3" => Severity::Error,
        "P4" => Severity::Warning,
        "P5" => Severity::Info,
        _ => return None,
    })
}

/// Parses a create-alert body for the service with `routing_key`.
/// `gen_key` supplies a dedup key when the body has no alias.
pub fn parse_create(
    body: &[u8],
    routing_key: &str,
    gen_key: impl FnOnce() -> String,
) -> Result<AlertEvent, Refused> {
    let obj = object(body)?;
    let mut errors = BTreeMap::new();
    let message = string(&obj, "message", &mut errors).filter(|m| !m.trim().is_empty());
    if message.is_none() && !errors.contains_key("message") {
        errors.insert("message".into(), "Message can not be empty.".into());
    }
    let alias = string(&obj, "alias", &mut errors).filter(|a| !a.is_empty());
    if alias
        .as_ref()
        .is_some_and(|a| a.chars().count() > MAX_ALIAS)
    {
        errors.insert(
            "alias".into(),
            format!("must be at most {MAX_ALIAS} characters"),
        );
    }
    let priority = string(&obj, "priority", &mut errors);
    let severity = match priority.as_deref() {
        None | Some("") => Some(Severity::Error),
        Some(p) => {
            let s = severity(p);
            if s.is_none() {
                errors.insert(
                    "priority".into(),
                    format!("should be one of [P1, P2, P3, P4, P5]; got {p:?}"),
                );
            }
            s
        }
    };
    let description = string(&obj, "description", &mut errors);
    let entity = string(&obj, "entity", &mut errors).filter(|e| !e.is_empty());
    let source = string(&obj, "source", &mut errors).filter(|s| !s.is_empty());
    let user = string(&obj, "user", &mut errors);
    let note = string(&obj, "note", &mut errors).filter(|n| !n.is_empty());
    let tags = match obj.get("tags") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items.clone(),
        Some(_) => {
            errors.insert("tags".into(), "must be a list of strings".into());
            vec![]
        }
    };
    let details = match obj.get("details") {
        None | Some(Value::Null) => None,
        Some(Value::Object(d)) => Some(Value::Object(d.clone())),
        Some(_) => {
            errors.insert(
                "details".into(),
                "must be an object of key-value pairs".into(),
            );
            None
        }
    };
    let responders = match obj.get("responders") {
        None | Some(Value::Null) => None,
        Some(r @ Value::Array(_)) => Some(r.clone()),
        Some(_) => {
            errors.insert("responders".into(), "must be a list".into());
            None
        }
    };
    if !errors.is_empty() {
        return Err(Refused::Fields(errors));
    }
    let (Some(message), Some(severity)) = (message, severity) else {
        return Err(Refused::field("message", "Message can not be empty."));
    };
    let mut custom = Map::new();
    if message.chars().count() > MAX_MESSAGE {
        custom.insert("message".into(), json!(message));
    }
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            custom.insert(k.into(), v);
        }
    };
    put("description", description.map(Value::String));
    put("details", details);
    put("tags", (!tags.is_empty()).then_some(Value::Array(tags)));
    put("note", note.map(Value::String));
    put("user", user.filter(|u| !u.is_empty()).map(Value::String));
    put("responders", responders);
    put(
        "priority",
        priority.filter(|p| !p.is_empty()).map(Value::String),
    );
    Ok(AlertEvent {
        routing_key: routing_key.to_string(),
        dedup_key: alias.unwrap_or_else(gen_key),
        action: AlertAction::Trigger(Box::new(AlertDetails {
            summary: clip(&message, MAX_MESSAGE),
            source: source.clone().unwrap_or_else(|| "opsgenie".into()),
            severity,
            component: entity,
            group: None,
            class: None,
            custom_details: (!custom.is_empty()).then_some(Value::Object(custom)),
            links: vec![],
            client: Some(source.unwrap_or_else(|| "Opsgenie API".into())),
            client_url: None,
        })),
    })
}

/// Parses the body of an acknowledge, close or notes request. An empty body
/// is an empty request; `note_required` is for `/notes`.
pub fn parse_action(body: &[u8], note_required: bool) -> Result<Action, Refused> {
    let obj = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        object(body)?
    };
    let mut errors = BTreeMap::new();
    let user = string(&obj, "user", &mut errors);
    let source = string(&obj, "source", &mut errors);
    let note = string(&obj, "note", &mut errors);
    match &note {
        Some(n) if n.chars().count() > MAX_NOTE => {
            errors.insert(
                "note".into(),
                format!("must be at most {MAX_NOTE} characters"),
            );
        }
        Some(n) if note_required && n.trim().is_empty() => {
            errors.insert("note".into(), "Note can not be empty.".into());
        }
        None if note_required && !errors.contains_key("note") => {
            errors.insert("note".into(), "Note can not be empty.".into());
        }
        _ => {}
    }
    if !errors.is_empty() {
        return Err(Refused::Fields(errors));
    }
    Ok(Action { user, source, note })
}

/// `identifierType` from a query string; absent means `id`, as in Opsgenie.
pub fn identifier_type(query: Option<&str>) -> Result<IdentifierType, Refused> {
    let value = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "identifierType")
        .map(|(_, v)| v.into_owned());
    match value.as_deref() {
        None | Some("id") => Ok(IdentifierType::Id),
        Some("alias") => Ok(IdentifierType::Alias),
        Some("tiny") => Err(Refused::field(
            "identifierType",
            "tiny ids are not kept here; use id (the incident number) or alias",
        )),
        Some(other) => Err(Refused::field(
            "identifierType",
            format!("should be one of [id, alias]; got {other:?}"),
        )),
    }
}

/// The key from an `Authorization: GenieKey <key>` header.
pub fn genie_key(header: Option<&str>) -> Option<&str> {
    let (scheme, key) = header?.trim().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("GenieKey") && !key.is_empty()).then_some(key)
}

/// Opsgenie's answer to an accepted request.
pub fn accepted(took: f64, request_id: &str) -> Value {
    json!({"result": "Request will be processed", "took": took, "requestId": request_id})
}

/// Opsgenie's error body: a message, the field errors when there are any.
pub fn error(
    message: &str,
    fields: Option<&BTreeMap<String, String>>,
    took: f64,
    request_id: &str,
) -> Value {
    let mut v = json!({"message": message, "took": took, "requestId": request_id});
    if let Some(f) = fields {
        v["errors"] = json!(f);
    }
    v
}

/// A request id in the UUID form Opsgenie's have.
pub fn request_id() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::thread_rng().gen();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn create(v: Value) -> Result<AlertEvent, Refused> {
        parse_create(v.to_string().as_bytes(), "k", || "generated".into())
    }

    fn details(ev: &AlertEvent) -> &AlertDetails {
        match &ev.action {
            AlertAction::Trigger(d) => d,
            other => panic!("not a trigger: {other:?}"),
        }
    }

    #[test]
    fn a_full_create_maps_every_field() {
        let ev = create(json!({
            "message": "An example alert message",
            "alias": "Life is too short for no alias",
            "description": "Every alert needs a description",
            "responders": [{"id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "type": "team"}],
            "visibleTo": [{"name": "rocket_team", "type": "team"}],
            "actions": ["Restart", "AnExampleAction"],
            "tags": ["OverwriteQuietHours", "Critical"],
            "details": {"key1": "value1", "key2": "value2"},
            "entity": "An example entity",
            "priority": "P1",
            "user": "Monitoring Script",
            "note": "Alert created"
        }))
        .unwrap();
        assert_eq!(ev.dedup_key, "Life is too short for no alias");
        let d = details(&ev);
        assert_eq!(d.summary, "An example alert message");
        assert_eq!(d.severity, Severity::Critical);
        assert_eq!(d.component.as_deref(), Some("An example entity"));
        assert_eq!(d.source, "opsgenie");
        let c = d.custom_details.as_ref().unwrap();
        assert_eq!(c["details"]["key2"], "value2");
        assert_eq!(c["tags"][1], "Critical");
        assert_eq!(c["description"], "Every alert needs a description");
        assert_eq!(c["note"], "Alert created");
        assert!(c.get("visibleTo").is_none());
    }

    #[test]
    fn priorities_map_to_severities_and_default_to_paging() {
        let sev = |p: Option<&str>| {
            let mut v = json!({"message": "m"});
            if let Some(p) = p {
                v["priority"] = json!(p);
            }
            create(v).map(|ev| details(&ev).severity)
        };
        assert_eq!(sev(None), Ok(Severity::Error));
        assert_eq!(sev(Some("P1")), Ok(Severity::Critical));
        assert_eq!(sev(Some("P3")), Ok(Severity::Error));
        assert_eq!(sev(Some("P4")), Ok(Severity::Warning));
        assert_eq!(sev(Some("P5")), Ok(Severity::Info));
        assert!(
            matches!(sev(Some("P9")), Err(Refused::Fields(f)) if f["priority"].contains("P1, P2"))
        );
    }

    #[test]
    fn a_long_message_is_clipped_and_kept_whole_in_the_details() {
        let long = "x".repeat(200);
        let ev = create(json!({"message": long})).unwrap();
        assert_eq!(ev.dedup_key, "generated");
        let d = details(&ev);
        assert_eq!(d.summary.chars().count(), MAX_MESSAGE);
        assert_eq!(d.custom_details.as_ref().unwrap()["message"], long);
    }

    #[test]
    fn bad_bodies_name_each_field() {
        let check = |body: &[u8], expected: Refused| {
            assert_eq!(parse_create(body, "k", String::new), Err(expected));
        };
        let fields = |pairs: &[(&str, &str)]| {
            Refused::Fields(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        check(b"{}", fields(&[("message", "Message can not be empty.")]));
        check(
            br#"{"message": "  "}"#,
            fields(&[("message", "Message can not be empty.")]),
        );
        check(
            br#"{"message": 5, "tags": "a", "details": [1]}"#,
            fields(&[
                ("details", "must be an object of key-value pairs"),
                ("message", "must be a string"),
                ("tags", "must be a list of strings"),
            ]),
        );
        assert!(matches!(
            parse_create(b"[1]", "k", String::new),
            Err(Refused::Syntax(_))
        ));
        assert!(matches!(
            parse_create(b"{", "k", String::new),
            Err(Refused::Syntax(m)) if m.contains("not valid JSON")
        ));
        let alias = "a".repeat(MAX_ALIAS + 1);
        assert!(matches!(
            create(json!({"message": "m", "alias": alias})),
            Err(Refused::Fields(f)) if f.contains_key("alias")
        ));
    }

    #[test]
    fn action_bodies_and_identifier_types() {
        assert_eq!(parse_action(b"", false), Ok(Action::default()));
        let a = parse_action(br#"{"user":"Monitoring Script","source":"AWS Lambda","note":"Action executed via Alert API"}"#, false).unwrap();
        assert_eq!(
            a.note_line().as_deref(),
            Some("Monitoring Script: Action executed via Alert API")
        );
        assert!(
            matches!(parse_action(b"{}", true), Err(Refused::Fields(f)) if f["note"] == "Note can not be empty.")
        );
        assert!(
            matches!(parse_action(br#"{"note": 1}"#, true), Err(Refused::Fields(f)) if f["note"] == "must be a string")
        );
        assert_eq!(identifier_type(None), Ok(IdentifierType::Id));
        assert_eq!(
            identifier_type(Some("identifierType=alias")),
            Ok(IdentifierType::Alias)
        );
        assert!(identifier_type(Some("identifierType=tiny")).is_err());
        assert!(identifier_type(Some("identifierType=name")).is_err());
        assert_eq!(genie_key(Some("GenieKey abc")), Some("abc"));
        assert_eq!(genie_key(Some("geniekey  abc ")), Some("abc"));
        assert_eq!(genie_key(Some("Bearer abc")), None);
        assert_eq!(genie_key(Some("GenieKey ")), None);
        assert_eq!(genie_key(None), None);
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
    }

    proptest! {
        #[test]
        fn the_body_parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_create(&body, "k", String::new);
            let _ = parse_action(&body, true);
        }

        #[test]
        fn any_non_blank_message_is_accepted(message in "\\PC{1,300}", alias in "\\PC{0,40}") {
            prop_assume!(!message.trim().is_empty());
            let ev = create(json!({"message": message, "alias": alias})).unwrap();
            let d = details(&ev);
            prop_assert!(d.summary.chars().count() <= MAX_MESSAGE);
            prop_assert!(message.starts_with(&d.summary));
            let expected = if alias.is_empty() { "generated" } else { alias.as_str() };
            prop_assert_eq!(ev.dedup_key.as_str(), expected);
        }
    }
}
