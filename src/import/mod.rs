//! Importers: a PagerDuty, Opsgenie or Grafana OnCall export turned into a
//! `tocsin.toml`, with a comment wherever something cannot be mapped and a
//! summary of what was imported and what was not.
//!
//! An export is one JSON object holding each list endpoint's array under the
//! key the vendor's REST API uses (PagerDuty: `users`, `teams`, `schedules`,
//! `escalation_policies`, `services`), as a script paging through the API
//! saves them. Each vendor's module reads its shapes into a [`Doc`], which is
//! rendered here and checked with [`Config::parse`] before it is returned, so
//! what comes out is a config `tocsin check` accepts.
//!
//! Pure: text in, text out. New integration keys come from the caller.

mod doc;
mod grafana_oncall;
mod json;
mod opsgenie;
mod pagerduty;

use crate::config::{validate_email, validate_phone, Config};
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use doc::Doc;

/// The products an export can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    PagerDuty,
    Opsgenie,
    GrafanaOnCall,
}

impl Vendor {
    pub fn name(self) -> &'static str {
        match self {
            Vendor::PagerDuty => "PagerDuty",
            Vendor::Opsgenie => "Opsgenie",
            Vendor::GrafanaOnCall => "Grafana OnCall",
        }
    }
}

/// A problem in the export, at a JSON path (`$` is the whole file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ImportError {
    pub path: String,
    pub message: String,
}

/// The config text and the summary printed beside it.
#[derive(Debug, Clone)]
pub struct Imported {
    pub toml: String,
    pub summary: Vec<String>,
}

/// Reads an export. `new_key` makes a fresh 32-hex-digit integration key for
/// a service whose own key cannot be kept.
pub fn run(
    vendor: Vendor,
    export: &str,
    new_key: &mut dyn FnMut() -> String,
) -> Result<Imported, ImportError> {
    let value: serde_json::Value = serde_json::from_str(export).map_err(|e| ImportError {
        path: "$".into(),
        message: format!("not JSON: {e} (line {}, column {})", e.line(), e.column()),
    })?;
    let root = json::At::root(&value)?;
    let mut doc = Doc::new(vendor);
    match vendor {
        Vendor::PagerDuty => pagerduty::read(&root, &mut doc, new_key)?,
        Vendor::Opsgenie => opsgenie::read(&root, &mut doc, new_key)?,
        Vendor::GrafanaOnCall => grafana_oncall::read(&root, &mut doc, new_key)?,
    }
    let toml = doc.render();
    if let Err(e) = Config::parse("imported.toml", &toml) {
        // A bug here, not in the export: say so with what was produced.
        return Err(ImportError {
            path: "$".into(),
            message: format!("the imported config does not pass its own check:\n{e}\n{toml}"),
        });
    }
    Ok(Imported {
        toml,
        summary: doc.summary(),
    })
}

/// An email the config accepts, or `None` with a note.
fn checked_email(email: Option<String>, notes: &mut Vec<String>) -> Option<String> {
    let email = email?;
    match validate_email(&email) {
        Ok(()) => Some(email),
        Err(_) => {
            notes.push(format!("email {email:?} is not an address: left out"));
            None
        }
    }
}

/// An E.164 number the config accepts, or `None` with a note.
fn checked_phone(phone: String, notes: &mut Vec<String>) -> Option<String> {
    match validate_phone(&phone) {
        Ok(()) => Some(phone),
        Err(_) => {
            notes.push(format!("phone {phone:?} is not an E.164 number: left out"));
            None
        }
    }
}

/// An ISO 8601 instant at `key`, if present.
fn instant(at: &json::At, key: &str) -> Result<Option<DateTime<FixedOffset>>, ImportError> {
    match at.opt_str(key)? {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(&s).map(Some).map_err(|e| {
            at.get(key).map_or_else(
                |e| e,
                |f| f.error(format!("`{s}` is not an ISO 8601 time: {e}")),
            )
        }),
    }
}

/// The instant a local time denotes in `tz` (an ambiguous one: its first).
fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => tz
            .from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
            .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc)),
    }
}

/// A layer start as a local time that exists in `tz` (the config refuses one
/// in a daylight-saving gap): moved an hour later when it does not, and
/// whether it was moved.
fn naive_start(tz: Tz, local: NaiveDateTime) -> (NaiveDateTime, bool) {
    if tz.from_local_datetime(&local).earliest().is_some() {
        return (local, false);
    }
    (local + chrono::Duration::hours(1), true)
}

/// An instant as a layer start in `tz`.
fn local_start(tz: Tz, t: DateTime<FixedOffset>) -> (NaiveDateTime, bool) {
    naive_start(tz, t.with_timezone(&tz).naive_local())
}

#[cfg(test)]
mod tests;
