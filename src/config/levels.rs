//! The levels the config file names: an alert's event severity (`critical` …
//! `info`), the SEV1–SEV4 levels people speak of, and the default archive
//! delay for incident channels. They are plain values, stored in records too.

use chrono::Duration;
use serde::{Deserialize, Serialize};

/// An alert's event severity, as monitoring tools send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "critical" => Some(Severity::Critical),
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Incident severity as people speak of it: SEV1 is the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Sev {
    #[serde(rename = "SEV1")]
    Sev1,
    #[serde(rename = "SEV2")]
    Sev2,
    #[serde(rename = "SEV3")]
    Sev3,
    #[serde(rename = "SEV4")]
    Sev4,
}

impl Sev {
    pub const ALL: [Sev; 4] = [Sev::Sev1, Sev::Sev2, Sev::Sev3, Sev::Sev4];

    /// `SEV2`, `sev2` or `2`.
    pub fn parse(s: &str) -> Option<Sev> {
        let s = s.trim();
        let digits = match s.get(..3) {
            Some(p) if p.eq_ignore_ascii_case("sev") => &s[3..],
            _ => s,
        };
        match digits {
            "1" => Some(Sev::Sev1),
            "2" => Some(Sev::Sev2),
            "3" => Some(Sev::Sev3),
            "4" => Some(Sev::Sev4),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sev::Sev1 => "SEV1",
            Sev::Sev2 => "SEV2",
            Sev::Sev3 => "SEV3",
            Sev::Sev4 => "SEV4",
        }
    }

    /// The event severity's level: critical SEV1, error SEV2, warning SEV3, info SEV4.
    pub fn from_severity(s: Severity) -> Sev {
        match s {
            Severity::Critical => Sev::Sev1,
            Severity::Error => Sev::Sev2,
            Severity::Warning => Sev::Sev3,
            Severity::Info => Sev::Sev4,
        }
    }

    /// The event severity an incident declared at this level carries.
    pub fn to_severity(self) -> Severity {
        match self {
            Sev::Sev1 => Severity::Critical,
            Sev::Sev2 => Severity::Error,
            Sev::Sev3 => Severity::Warning,
            Sev::Sev4 => Severity::Info,
        }
    }

    /// As bad as `other`, or worse.
    pub fn at_least(self, other: Sev) -> bool {
        self <= other
    }
}

/// A resolved incident's channel is archived this long after, by default.
pub const DEFAULT_ARCHIVE_AFTER: Duration = Duration::hours(24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_levels_parse_and_order() {
        for (text, want) in [
            ("SEV1", Some(Sev::Sev1)),
            ("sev2", Some(Sev::Sev2)),
            (" Sev3 ", Some(Sev::Sev3)),
            ("4", Some(Sev::Sev4)),
            ("SEV5", None),
            ("SEV", None),
            ("sev-1", None),
            ("", None),
            ("ſev1", None),
        ] {
            assert_eq!(Sev::parse(text), want, "{text:?}");
        }
        assert!(Sev::Sev1.at_least(Sev::Sev2));
        assert!(Sev::Sev2.at_least(Sev::Sev2));
        assert!(!Sev::Sev3.at_least(Sev::Sev2));
        for s in Sev::ALL {
            assert_eq!(Sev::from_severity(s.to_severity()), s);
            assert_eq!(Sev::parse(s.as_str()), Some(s));
        }
    }

    proptest::proptest! {
        #[test]
        fn sev_parse_never_panics(s in "\\PC{0,12}") {
            let _ = Sev::parse(&s);
        }
    }
}
