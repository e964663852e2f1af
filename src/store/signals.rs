//! Signals about services that are not pages: change events (deploys and
//! the like), alerts that rules suppressed (both kept 90 days), maintenance
//! windows and the teams' audit log, and the versioned form they are stored in.

use crate::domain::incident::Severity;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How long change events are kept.
pub const CHANGE_RETENTION_DAYS: i64 = 90;

/// A maintenance window on a service: alerts are recorded, nobody is paged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub service: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who started it from Slack (a Slack user id); `None` for the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Whether the team channel was told it began / ended.
    #[serde(default)]
    pub announced_start: bool,
    #[serde(default)]
    pub announced_end: bool,
}

impl Window {
    pub fn active_at(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

/// One change to a team's on-call arrangements, for `/oncall audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub team: String,
    /// Slack user id of whoever made the change.
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// An alert an event rule suppressed: recorded for the numbers, paged to nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppressed {
    pub dedup_key: String,
    pub summary: String,
    pub severity: Severity,
    pub at: DateTime<Utc>,
}

/// How a signal record is stored: `{"v":"1", …}`, the serde form of its type.
#[derive(Serialize)]
#[serde(tag = "v")]
enum RecordRef<'a, T> {
    #[serde(rename = "1")]
    V1(&'a T),
}

#[derive(Deserialize)]
#[serde(tag = "v")]
enum Record<T> {
    #[serde(rename = "1")]
    V1(T),
}

/// The stored form of `t`, tagged with its version.
pub(crate) fn encode<T: Serialize>(t: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&RecordRef::V1(t))
}

/// Reads a stored signal record: tagged, or the untagged form written
/// before records of these kinds carried `"v"` (read as version 1). A
/// version this build does not know is an error.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    if bytes.starts_with(br#"{"v":"#) {
        return serde_json::from_slice::<Record<T>>(bytes).map(|Record::V1(t)| t);
    }
    serde_json::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::Change;
    use chrono::TimeZone;

    #[test]
    fn signal_records_are_tagged_and_the_untagged_form_still_reads() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        let change = Change {
            summary: "deploy v2".into(),
            source: None,
            at,
            link: None,
        };
        let tagged = encode(&change).unwrap();
        assert_eq!(
            String::from_utf8(tagged.clone()).unwrap(),
            r#"{"v":"1","summary":"deploy v2","at":"2026-11-25T03:00:00Z"}"#
        );
        let untagged = br#"{"summary":"deploy v2","at":"2026-11-25T03:00:00Z"}"#;
        assert_eq!(decode::<Change>(&tagged).unwrap(), change);
        assert_eq!(decode::<Change>(untagged).unwrap(), change);
        let s = Suppressed {
            dedup_key: "k".into(),
            summary: "disk".into(),
            severity: Severity::Warning,
            at,
        };
        assert_eq!(decode::<Suppressed>(&encode(&s).unwrap()).unwrap(), s);
        assert_eq!(
            decode::<Suppressed>(&serde_json::to_vec(&s).unwrap()).unwrap(),
            s
        );
        let w = Window {
            service: "api".into(),
            from: at,
            to: at,
            reason: None,
            by: None,
            announced_start: true,
            announced_end: false,
        };
        assert_eq!(decode::<Window>(&encode(&w).unwrap()).unwrap(), w);
        assert!(
            decode::<Change>(br#"{"v":"9","summary":"x","at":"2026-11-25T03:00:00Z"}"#).is_err()
        );
    }
}
