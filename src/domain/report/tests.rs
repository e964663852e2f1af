//! Hand-computed fixtures: three responders in London, New York and Tokyo,
//! over the week in which Europe moves its clocks (Sunday 29 March 2026).

use super::*;
use crate::config::Via;
use crate::domain::escalation::Escalation;
use crate::domain::incident::{Actor, Page, Stamp};
use chrono::TimeZone;

const CONFIG: &str = r#"
[[users]]
id = "ana"
name = "Ana"
time_zone = "Europe/London"
[[users]]
id = "ben"
name = "Ben"
time_zone = "America/New_York"
[[users]]
id = "cho"
name = "Cho"
time_zone = "Asia/Tokyo"
[[teams]]
id = "t"
name = "T"
members = ["ana", "ben", "cho"]
[[teams]]
id = "other"
name = "Other"
[[escalation_policies]]
id = "p"
[[escalation_policies.levels]]
after_minutes = 0
targets = ["user:ana"]
[[escalation_policies.levels]]
after_minutes = 5
targets = ["user:ben"]
[[services]]
id = "api"
name = "API"
team = "t"
escalation_policy = "p"
ack_target_minutes = 5
integration_key = "0123456789abcdef0123456789abcde1"
[[services]]
id = "web"
name = "Web"
team = "t"
integration_key = "0123456789abcdef0123456789abcde2"
[[services]]
id = "elsewhere"
name = "Elsewhere"
team = "other"
integration_key = "0123456789abcdef0123456789abcde3"
"#;

fn t(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, d, h, m, s).unwrap()
}

fn by() -> Actor {
    Actor::Slack {
        user_id: "U".into(),
    }
}

struct Fixture {
    id: u64,
    service: &'static str,
    severity: Severity,
    at: DateTime<Utc>,
    ack: Option<i64>,
    resolve: Option<i64>,
    alerts: u32,
    pages: &'static [(&'static str, usize, i64)],
    notices: &'static [(&'static str, i64)],
}

fn incident(config: &Config, f: &Fixture) -> Incident {
    let mut i = crate::domain::incident::tests::sample(f.id);
    i.service_id = f.service.into();
    i.alert.severity = f.severity;
    i.created_at = f.at;
    i.alert_count = f.alerts;
    i.acknowledged = f.ack.map(|s| Stamp {
        by: by(),
        at: f.at + Duration::seconds(s),
    });
    i.resolved = f.resolve.map(|s| Stamp {
        by: by(),
        at: f.at + Duration::seconds(s),
    });
    if f.service == "api" {
        i.escalation = Some(Escalation::start(config.policy("p").unwrap().clone(), f.at));
    }
    i.paged = f
        .pages
        .iter()
        .map(|(u, level, s)| Page {
            user: u.to_string(),
            at: f.at + Duration::seconds(*s),
            level: Some(*level),
        })
        .collect();
    i.notices = f
        .notices
        .iter()
        .map(|(u, s)| Notice {
            user: u.to_string(),
            via: Via::Slack,
            at: f.at + Duration::seconds(*s),
        })
        .collect();
    i
}

fn fixtures(config: &Config) -> Vec<Incident> {
    [
        // Monday 10:00 London (GMT): business hours; the SMS 30 s later merges.
        Fixture {
            id: 1,
            service: "api",
            severity: Severity::Critical,
            at: t(23, 10, 0, 0),
            ack: Some(120),
            resolve: Some(600),
            alerts: 3,
            pages: &[("ana", 0, 0)],
            notices: &[("ana", 0), ("ana", 30)],
        },
        // Tuesday 03:00 UTC: 03:00 in London, 23:05 Monday in New York (EDT): both asleep.
        Fixture {
            id: 2,
            service: "api",
            severity: Severity::Error,
            at: t(24, 3, 0, 0),
            ack: Some(600),
            resolve: Some(3600),
            alerts: 1,
            pages: &[("ana", 0, 0), ("ben", 1, 300)],
            notices: &[("ana", 0), ("ben", 300)],
        },
        // Saturday 12:00 UTC: 21:00 in Tokyo, a weekend evening.
        Fixture {
            id: 3,
            service: "web",
            severity: Severity::Warning,
            at: t(28, 12, 0, 0),
            ack: None,
            resolve: Some(1800),
            alerts: 1,
            pages: &[],
            notices: &[("cho", 0)],
        },
        // Sunday 07:30 UTC, after the change: 08:30 BST, off hours (in GMT it would be sleep).
        Fixture {
            id: 4,
            service: "api",
            severity: Severity::Info,
            at: t(29, 7, 30, 0),
            ack: Some(60),
            resolve: None,
            alerts: 1,
            pages: &[("ana", 0, 0)],
            notices: &[("ana", 0)],
        },
        // After the period, and another team's: not counted.
        Fixture {
            id: 5,
            service: "api",
            severity: Severity::Critical,
            at: t(30, 1, 0, 0),
            ack: Some(5),
            resolve: Some(10),
            alerts: 9,
            pages: &[("ana", 0, 0)],
            notices: &[("ana", 0)],
        },
        Fixture {
            id: 6,
            service: "elsewhere",
            severity: Severity::Critical,
            at: t(25, 1, 0, 0),
            ack: Some(5),
            resolve: Some(10),
            alerts: 9,
            pages: &[],
            notices: &[("ana", 0)],
        },
    ]
    .iter()
    .map(|f| incident(config, f))
    .collect()
}

fn shift(user: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Shift {
    Shift {
        user: Some(user.into()),
        start: from,
        end: to,
    }
}

fn report() -> Report {
    let config = Config::parse("t.toml", CONFIG).unwrap();
    let incidents = fixtures(&config);
    let shifts = [
        shift("ana", t(23, 0, 0, 0), t(26, 0, 0, 0)),
        // Runs past the period: only the part inside counts.
        shift("ben", t(26, 0, 0, 0), t(31, 0, 0, 0)),
    ];
    compute(&Input {
        config: &config,
        team: "t",
        from: t(23, 0, 0, 0),
        to: t(30, 0, 0, 0),
        incidents: &incidents,
        suppressed: 4,
        shifts: &shifts,
    })
}

#[test]
fn counts_times_and_targets() {
    let r = report();
    assert_eq!(r.incidents, 4);
    let sev: Vec<(&str, usize)> = r
        .by_severity
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        sev,
        [("critical", 1), ("error", 1), ("info", 1), ("warning", 1)]
    );
    // Acks after 60, 120, 600 s; resolves after 600, 1800, 3600 s.
    assert_eq!(
        r.mtta,
        Stats {
            count: 3,
            mean: Some(260.0),
            p50: Some(120.0),
            p90: Some(600.0)
        }
    );
    assert_eq!(
        r.mttr,
        Stats {
            count: 3,
            mean: Some(2000.0),
            p50: Some(1800.0),
            p90: Some(3600.0)
        }
    );
    // api's 5-minute target: #1 and #4 made it, #2 did not.
    assert_eq!(r.ack_on_target, Some(0.67));
    // Of the three incidents with a policy, only #2 reached a second level.
    assert_eq!(r.escalation_rate, Some(0.33));
    assert_eq!(
        (r.alerts_received, r.alerts_grouped, r.alerts_suppressed),
        (6, 2, 4)
    );
    assert_eq!(r.noise_ratio, Some(2.5));
    let api = &r.by_service[0];
    assert_eq!(
        (api.service.as_str(), api.incidents, api.mtta.p50),
        ("api", 3, Some(120.0))
    );
    assert_eq!(r.weekly.len(), 1);
    assert_eq!(r.weekly[0].incidents, 4);
}

#[test]
fn interruptions_land_in_each_persons_own_day_across_the_clock_change() {
    let r = report();
    let got: Vec<(&str, u32, u32, u32, f64)> = r
        .responders
        .iter()
        .map(|p| {
            let i = &p.interruptions;
            (p.user.as_str(), i.business, i.off, i.sleep, p.on_call_hours)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("ana", 1, 1, 1, 72.0),
            ("ben", 0, 0, 1, 96.0),
            ("cho", 0, 1, 0, 0.0)
        ]
    );
    // Interruptions 3, 1, 1: spread 2, Gini 8/30. Hours 72, 96, 0: spread 96, Gini 384/1008.
    assert_eq!(
        r.fairness,
        Fairness {
            interruptions_spread: 2,
            interruptions_gini: Some(0.27),
            hours_spread: 96.0,
            hours_gini: Some(0.38)
        }
    );
}

#[test]
fn an_empty_period_has_no_averages_rather_than_zeros() {
    let config = Config::parse("t.toml", CONFIG).unwrap();
    let r = compute(&Input {
        config: &config,
        team: "t",
        from: t(1, 0, 0, 0),
        to: t(8, 0, 0, 0),
        incidents: &[],
        suppressed: 0,
        shifts: &[],
    });
    assert_eq!(
        (r.incidents, r.mtta.mean, r.ack_on_target, r.noise_ratio),
        (0, None, None, None)
    );
    assert_eq!(r.fairness.interruptions_gini, None);
    assert_eq!(r.responders.len(), 3);
}

#[test]
fn gini_matches_known_values() {
    assert_eq!(gini(&[1.0, 1.0, 1.0]), Some(0.0));
    assert_eq!(gini(&[0.0, 0.0, 10.0]), Some(0.67));
    assert_eq!(gini(&[]), None);
    assert_eq!(gini(&[0.0, 0.0]), None);
}
