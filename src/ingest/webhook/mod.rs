//! Generic webhooks (`POST /integrations/webhook/{key}`): any JSON payload,
//! mapped to an alert by minijinja expressions in `templates/integrations/`.
//!
//! A mapping is a TOML file whose values are minijinja *expressions* (not
//! `{{ }}` templates). They see the payload as `payload`, each top-level key
//! of an object payload directly (`title` is `payload.title`), and any
//! `[vars]` defined before them. Missing keys are undefined rather than
//! errors, so `data.issue.title or data.event.title` works on either shape.
//! Besides the minijinja builtins there are two filters: `fromjson` (a JSON
//! string to a value, for envelopes such as SNS that carry JSON inside a
//! string) and `urlencode` (percent-encoding for building links).
//!
//! Fields, all optional except `title`:
//!
//! | field          | meaning |
//! |----------------|---------|
//! | `display_name` | plain string, not an expression: the tool's name, shown as the link text and used as the default source |
//! | `[vars]`       | `name = expression` pairs evaluated first, in file order; each later expression can use the name. A TOML table runs to the end of the file, so `[vars]` goes last |
//! | `confirm_url`  | a non-empty result is a subscription handshake URL ([`Mapped::ConfirmSubscription`]); only `https://sns.*.amazonaws.com` URLs are accepted |
//! | `ignore`       | a truthy result means the payload asks for nothing ([`Mapped::Ignore`]); a string result is the reason given |
//! | `resolve`      | truthy: resolve the alert with this dedup key (wins over `acknowledge`) |
//! | `acknowledge`  | truthy: acknowledge the alert with this dedup key |
//! | `dedup_key`    | groups payloads into one alert; empty or absent: a hash of the rendered title. Over [`MAX_DEDUP_KEY`] bytes it keeps a prefix plus a hash of the whole |
//! | `title`        | required; the incident summary, clipped to [`MAX_SUMMARY`] characters |
//! | `message`      | longer text: custom details are `{"message": …, "payload": <the raw payload>}` |
//! | `severity`     | `critical`, `error`, `warning` or `info` (any case); anything else, or absent, is `error` so an unrated alert still pages |
//! | `source`       | the affected system; empty or absent: `display_name`, else the mapping name |
//! | `source_link`  | an `http(s)` URL to the alert in the tool (the alert's `client_url`, shown as `display_name`); anything else is dropped |
//! | `component`, `group`, `class` | as in the Events API |
//!
//! They are evaluated in the order `vars`, `confirm_url`, `ignore`, `resolve`,
//! `acknowledge`, `dedup_key`, then (for a trigger, or a resolve without a
//! dedup key) the rest. A runtime error in any of them never loses the
//! alert: [`apply`] falls back to a raw-payload incident and returns the error.
//!
//! A form-encoded body (`application/x-www-form-urlencoded`) is read as an
//! object of its fields ([`form_payload`]), so `Status` is the form's `Status`.
//!
//! `compile` turns a file into a [`Mapping`], `eval` runs one against a
//! payload, and `sns` decides which subscription handshakes may be confirmed.

mod compile;
mod eval;
mod sns;
#[cfg(test)]
mod tests;

pub use compile::Mapping;

use super::{AlertAction, AlertEvent};
use crate::domain::incident::{AlertDetails, Severity};
use eval::clip_summary;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const MAX_SUMMARY: usize = 1024;
pub const MAX_DEDUP_KEY: usize = 255;

/// A problem with a mapping, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template integrations/{template}.toml, line {line}: {field}: {message}")]
pub struct MappingError {
    pub template: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

/// What a payload means.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Event(AlertEvent),
    /// AWS SNS subscription handshake: the caller must GET this URL to confirm.
    ConfirmSubscription {
        url: String,
    },
    /// The payload asks for nothing (an SNS UnsubscribeConfirmation, a Sentry
    /// installation ping, a test notification); the reason says which.
    Ignore(String),
}

/// Applies a mapping. A runtime error never loses the alert: the payload
/// becomes a raw incident (see [`raw_fallback`]) and the error comes back too,
/// for the caller to log.
pub fn apply(
    mapping: &Mapping,
    routing_key: &str,
    payload: &Value,
) -> (Mapped, Option<MappingError>) {
    match mapping.map(routing_key, payload) {
        Ok(Mapped::ConfirmSubscription { url }) => match sns::refusal(mapping, &url) {
            Some(e) => (Mapped::Ignore(e.message.clone()), Some(e)),
            None => (Mapped::ConfirmSubscription { url }, None),
        },
        Ok(m) => (m, None),
        Err(e) => {
            let why = format!("{}: {}", e.field, e.message);
            (
                Mapped::Event(raw_fallback(&mapping.name, routing_key, payload, &why)),
                Some(e),
            )
        }
    }
}

/// A form-encoded body as a JSON object of its fields, every value a string;
/// a field given more than once becomes an array of its values, in order.
pub fn form_payload(body: &[u8]) -> Result<Value, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| format!("body is not a valid form: {e}"))?;
    let mut fields = serde_json::Map::new();
    for (name, value) in pairs {
        match fields.get_mut(&name) {
            None => {
                fields.insert(name, Value::String(value));
            }
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(first) => *first = Value::Array(vec![first.take(), Value::String(value)]),
        }
    }
    Ok(Value::Object(fields))
}

/// An incident for a payload no mapping could read: the raw payload is kept,
/// and retries of the same payload land on the same alert.
pub fn raw_fallback(mapping: &str, routing_key: &str, payload: &Value, why: &str) -> AlertEvent {
    let canonical = serde_json::to_string(payload).unwrap_or_default();
    let hash = hex::encode(Sha256::digest(canonical.as_bytes()));
    AlertEvent {
        routing_key: routing_key.to_string(),
        dedup_key: format!("unmapped-{hash}"),
        action: AlertAction::Trigger(Box::new(AlertDetails {
            summary: clip_summary(&format!("Webhook mapping {mapping} failed: {why}")),
            source: mapping.to_string(),
            severity: Severity::Error,
            component: None,
            group: None,
            class: None,
            custom_details: Some(json!({"mapping_error": why, "payload": payload})),
            links: vec![],
            client: Some(mapping.to_string()),
            client_url: None,
        })),
    }
}
