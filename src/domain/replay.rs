//! What a replayed alert stream did, summed up: compression, pages per
//! person by part of their day, the worst night, time to first page. Pure:
//! the replay gathers the incidents and the pages it queued, and this turns
//! them into the report `tocsin replay` prints.

use crate::config::{Config, Urgency};
use crate::domain::incident::Incident;
use crate::domain::report::{period, stats, Period, Stats};
use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// One notification a person would have had: a Slack DM or nudge, an SMS,
/// a call.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Page {
    pub at: DateTime<Utc>,
    pub user: String,
    /// `slack`, `sms` or `phone`.
    pub via: String,
    #[serde(skip)]
    pub incident: u64,
}

/// What happened to the stream's lines besides opening incidents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Lines {
    /// Every line of the stream.
    pub read: usize,
    /// Lines refused: not the format, or a payload its endpoint refuses.
    pub refused: usize,
    /// Lines that asked for no new alert: a resolve, an acknowledgement, a
    /// handshake, a group's notification in which nothing newly fires.
    pub other: usize,
    /// Alerts an event rule dropped.
    pub dropped: usize,
    /// Alerts an event rule or a maintenance window recorded without paging.
    pub suppressed: usize,
}

/// Pages in each part of a person's day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Periods {
    pub business: u32,
    pub off: u32,
    pub sleep: u32,
}

/// The night one person was paged most: the local date the night began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Night {
    pub user: String,
    pub night_of: NaiveDate,
    pub pages: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentDetail {
    pub id: u64,
    pub service: String,
    pub opened_at: DateTime<Utc>,
    pub urgency: Urgency,
    pub alerts: u32,
    /// The alert keys that landed in it (its members', or its own).
    pub dedup_keys: Vec<String>,
    pub pages: Vec<Page>,
}

/// The report on one config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Alerts in: every trigger, and every alert of an Alertmanager or
    /// Grafana group when it starts firing.
    pub alerts: usize,
    pub incidents: usize,
    /// 1 − incidents / alerts, to four places.
    pub compression: f64,
    pub pages: BTreeMap<String, Periods>,
    pub worst_night: Option<Night>,
    /// From an incident's opening to its first page, in seconds, over the
    /// incidents that paged anyone.
    pub time_to_first_page: Stats,
    pub lines: Lines,
    pub incidents_detail: Vec<IncidentDetail>,
}

/// Sums up a replay: `alerts` alerts came in, `incidents` are the store's
/// incidents afterwards and `pages` the notifications it queued.
pub fn summarise(
    config: &Config,
    alerts: usize,
    lines: Lines,
    incidents: &[Incident],
    pages: &[Page],
) -> Summary {
    let mut pages = pages.to_vec();
    pages.sort();
    let mut by_incident: BTreeMap<u64, Vec<Page>> = BTreeMap::new();
    for p in &pages {
        by_incident.entry(p.incident).or_default().push(p.clone());
    }
    let mut per_user: BTreeMap<String, Periods> = BTreeMap::new();
    let mut nights: BTreeMap<(String, NaiveDate), u32> = BTreeMap::new();
    for p in &pages {
        let Some(tz) = config.user(&p.user).map(|u| u.time_zone) else {
            continue;
        };
        let slot = per_user.entry(p.user.clone()).or_default();
        match period(p.at, tz) {
            Period::Business => slot.business += 1,
            Period::Off => slot.off += 1,
            Period::Sleep => {
                slot.sleep += 1;
                *nights
                    .entry((p.user.clone(), night_of(p.at, tz)))
                    .or_default() += 1;
            }
        }
    }
    // The most pages; on a tie the earliest night, then the first person.
    let worst_night = nights
        .into_iter()
        .max_by(|(ka, a), (kb, b)| a.cmp(b).then(kb.1.cmp(&ka.1)).then(kb.0.cmp(&ka.0)))
        .map(|((user, night_of), pages)| Night {
            user,
            night_of,
            pages,
        });
    let mut incidents: Vec<&Incident> = incidents.iter().collect();
    incidents.sort_by_key(|i| i.id);
    let first_pages = incidents.iter().filter_map(|i| {
        let first = by_incident.get(&i.id)?.iter().map(|p| p.at).min()?;
        Some((first - i.created_at).num_milliseconds() as f64 / 1000.0)
    });
    let time_to_first_page = stats(first_pages);
    let incidents_detail = incidents
        .iter()
        .map(|i| IncidentDetail {
            id: i.id,
            service: i.service_id.clone(),
            opened_at: i.created_at,
            urgency: i.urgency,
            alerts: i.alert_count,
            dedup_keys: keys(i),
            pages: by_incident.remove(&i.id).unwrap_or_default(),
        })
        .collect();
    let compression = if alerts == 0 {
        0.0
    } else {
        let c = 1.0 - incidents.len() as f64 / alerts as f64;
        (c * 10_000.0).round() / 10_000.0
    };
    Summary {
        alerts,
        incidents: incidents.len(),
        compression,
        pages: per_user,
        worst_night,
        time_to_first_page,
        lines,
        incidents_detail,
    }
}

/// The alert keys in an incident: its members' when it groups, else its own.
fn keys(i: &Incident) -> Vec<String> {
    let mut keys: Vec<String> = if i.alerts.is_empty() {
        vec![i.dedup_key.clone()]
    } else {
        i.alerts.iter().map(|a| a.key.clone()).collect()
    };
    keys.sort();
    keys.dedup();
    keys
}

/// The local date on which the night containing `t` began: a page at 02:00
/// on the 1st belongs to the night of the 30th.
fn night_of(t: DateTime<Utc>, tz: chrono_tz::Tz) -> NaiveDate {
    let local = t.with_timezone(&tz);
    if local.hour() < 12 {
        (local - Duration::hours(12)).date_naive()
    } else {
        local.date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::tests::sample;

    fn config() -> Config {
        Config::parse(
            "t.toml",
            r#"
[[users]]
id = "alice"
name = "Alice"
slack_id = "U1"
time_zone = "Europe/London"
[[users]]
id = "bob"
name = "Bob"
slack_id = "U2"
time_zone = "America/New_York"
"#,
        )
        .unwrap()
    }

    fn page(user: &str, at: &str, incident: u64) -> Page {
        Page {
            user: user.into(),
            at: at.parse().unwrap(),
            via: "slack".into(),
            incident,
        }
    }

    #[test]
    fn pages_are_split_in_each_persons_own_day_and_the_worst_night_found() {
        let mut a = sample(1);
        a.created_at = "2026-11-30T02:00:00Z".parse().unwrap();
        let mut b = sample(2);
        b.created_at = "2026-11-30T14:00:00Z".parse().unwrap();
        let pages = [
            // 02:00 London: sleep; 21:00 New York the day before: off.
            page("alice", "2026-11-30T02:00:30Z", 1),
            page("bob", "2026-11-30T02:00:30Z", 1),
            page("alice", "2026-11-30T03:10:00Z", 1),
            // 14:00 London on a Monday: business; 09:00 New York: business.
            page("alice", "2026-11-30T14:01:00Z", 2),
            page("bob", "2026-11-30T14:02:00Z", 2),
            // 23:30 London the next day: one page that night.
            page("alice", "2026-12-01T23:30:00Z", 2),
        ];
        let s = summarise(&config(), 20, Lines::default(), &[b, a], &pages);
        assert_eq!(s.incidents, 2);
        assert_eq!(s.compression, 0.9);
        let p = |b, o, s| Periods {
            business: b,
            off: o,
            sleep: s,
        };
        assert_eq!(s.pages["alice"], p(1, 0, 3));
        assert_eq!(s.pages["bob"], p(1, 1, 0));
        assert_eq!(
            s.worst_night,
            Some(Night {
                user: "alice".into(),
                night_of: "2026-11-29".parse().unwrap(),
                pages: 2
            })
        );
        assert_eq!(s.time_to_first_page.count, 2);
        assert_eq!(s.time_to_first_page.p50, Some(30.0));
        assert_eq!(s.incidents_detail[0].id, 1);
        assert_eq!(s.incidents_detail[0].pages.len(), 3);
        assert_eq!(s.incidents_detail[1].pages.len(), 3);
    }

    #[test]
    fn an_empty_stream_compresses_nothing() {
        let s = summarise(&config(), 0, Lines::default(), &[], &[]);
        assert_eq!((s.alerts, s.incidents, s.compression), (0, 0, 0.0));
        assert_eq!(s.worst_night, None);
    }
}
