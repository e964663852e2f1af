//! Loads `tocsin.toml`, the declarative list of users, teams, on-call schedules, escalation policies and services, and checks that it hangs together before the bot acts on it.
//!
//! A leaf: it names nothing else in the crate, so every module may read it.
//! `raw` mirrors the file with its spans, `checks` turns that into the typed
//! `model`, reporting through `errors`; `fields` and `durations` parse single
//! values and `levels` holds the severities the file names.

mod checks;
mod durations;
mod errors;
mod fields;
mod levels;
mod model;
mod raw;

use std::path::Path;

pub use durations::parse_duration;
pub use errors::{ConfigError, ConfigErrors};
pub use fields::{validate_email, validate_phone};
pub use levels::{Sev, Severity, DEFAULT_ARCHIVE_AFTER};
pub use model::{
    CallRoute, Condition, Config, EmailIntake, EscalationLevel, EscalationPolicy, Flapping,
    Grouping, Heartbeat, Layer, MaintenanceWindow, NotifyRule, Op, Restriction, RoomSettings,
    Rotation, RouteTarget, Rule, RuleAction, Schedule, Service, Target, Team, Urgency, User, Via,
    WebhookEvent, WebhookOut, WeeklyReport,
};

use errors::{field_at, line_col};
use raw::RawConfig;

impl Config {
    /// Parses and validates `text`; `file` only labels the error messages.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let (line, column) = match e.span() {
                    Some(span) => line_col(text, span.start),
                    None => (0, 0),
                };
                return Err(ConfigErrors(vec![ConfigError {
                    file: file.to_string(),
                    line,
                    column,
                    field: field_at(text, line),
                    message: e.message().trim().to_string(),
                }]));
            }
        };
        checks::check(file, text, &raw)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&file, &text),
            Err(e) => Err(ConfigErrors(vec![ConfigError {
                file,
                line: 0,
                column: 0,
                field: String::new(),
                message: format!("cannot read config: {e}"),
            }])),
        }
    }
}

#[cfg(test)]
mod tests;
