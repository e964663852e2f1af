//! Reports: the numbers leads show management, as pure functions of the
//! stored incident log, the team's shifts and a period. No I/O, no clock:
//! the caller gathers the inputs and says when "now" is.

use crate::config::Config;
use crate::domain::incident::{Incident, Notice, Severity};
use crate::domain::schedule::Shift;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub mod charts;
#[cfg(test)]
mod tests;

/// Notifications to one person this close together count as one interruption.
pub const MERGE_WINDOW_SECS: i64 = 60;

/// What a report is computed from.
pub struct Input<'a> {
    pub config: &'a Config,
    pub team: &'a str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Every stored incident (those outside the team or period are skipped).
    pub incidents: &'a [Incident],
    /// Alerts that rules or maintenance suppressed on the team's services in the period.
    pub suppressed: usize,
    /// The team's on-call shifts, clipped or not, over the period.
    pub shifts: &'a [Shift],
}

/// A date (`2026-11-01`, midnight UTC) or an RFC 3339 instant.
pub fn parse_day(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|_| format!("`{s}` is not a date like 2026-11-01 or an RFC 3339 instant"))
}

/// Durations in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub count: usize,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Interruptions {
    /// 08–18 Monday to Friday, in the person's zone.
    pub business: u32,
    /// 18–22 on weekdays, 08–22 at weekends.
    pub off: u32,
    /// 22–08 every day.
    pub sleep: u32,
}

impl Interruptions {
    pub fn total(&self) -> u32 {
        self.business + self.off + self.sleep
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Responder {
    pub user: String,
    pub name: String,
    pub interruptions: Interruptions,
    pub on_call_hours: f64,
}

/// How evenly the load is spread: max minus min, and the Gini coefficient
/// (0 = everyone the same, towards 1 = one person carries it all).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fairness {
    pub interruptions_spread: u32,
    pub interruptions_gini: Option<f64>,
    pub hours_spread: f64,
    pub hours_gini: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceRow {
    pub service: String,
    pub incidents: usize,
    pub mtta: Stats,
    pub mttr: Stats,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Week {
    pub start: DateTime<Utc>,
    pub incidents: usize,
    pub mtta: Stats,
    pub mttr: Stats,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub team: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub incidents: usize,
    /// critical, error, warning, info → count.
    pub by_severity: BTreeMap<String, usize>,
    pub mtta: Stats,
    pub mttr: Stats,
    /// Share of incidents on services with an `ack_target_minutes` that were
    /// acknowledged within it.
    pub ack_on_target: Option<f64>,
    /// Share of incidents with a policy that paged a second level or beyond.
    pub escalation_rate: Option<f64>,
    pub alerts_received: u64,
    /// Alerts that joined an incident already open (repeats, group members).
    pub alerts_grouped: u64,
    pub alerts_suppressed: usize,
    /// Alerts in (received and suppressed) per incident opened.
    pub noise_ratio: Option<f64>,
    pub responders: Vec<Responder>,
    pub fairness: Fairness,
    pub by_service: Vec<ServiceRow>,
    pub weekly: Vec<Week>,
}

pub fn compute(input: &Input<'_>) -> Report {
    let config = input.config;
    let services: BTreeSet<&str> = config
        .services
        .iter()
        .filter(|s| s.team == input.team)
        .map(|s| s.id.as_str())
        .collect();
    let of_team = |i: &&Incident| services.contains(i.service_id.as_str());
    let in_period = |t: DateTime<Utc>| input.from <= t && t < input.to;
    let opened: Vec<&Incident> = input
        .incidents
        .iter()
        .filter(of_team)
        .filter(|i| in_period(i.created_at))
        .collect();

    let mut by_severity: BTreeMap<String, usize> = [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ]
    .iter()
    .map(|s| (s.as_str().to_string(), 0))
    .collect();
    for i in &opened {
        *by_severity
            .entry(i.alert.severity.as_str().to_string())
            .or_default() += 1;
    }

    let with_target: Vec<(&Incident, u32)> = opened
        .iter()
        .filter_map(|i| {
            let target = config.service(&i.service_id)?.ack_target_minutes?;
            Some((*i, target))
        })
        .collect();
    let ack_on_target = ratio(
        with_target
            .iter()
            .filter(|(i, target)| ack_secs(i).is_some_and(|s| s <= f64::from(*target) * 60.0))
            .count(),
        with_target.len(),
    );
    let with_policy: Vec<&&Incident> = opened.iter().filter(|i| i.escalation.is_some()).collect();
    let escalation_rate = ratio(
        with_policy
            .iter()
            .filter(|i| i.paged.iter().any(|p| p.level.is_some_and(|l| l >= 1)))
            .count(),
        with_policy.len(),
    );
    let alerts_received: u64 = opened.iter().map(|i| u64::from(i.alert_count)).sum();
    let alerts_grouped = alerts_received.saturating_sub(opened.len() as u64);
    let noise_ratio = ratio_f(
        alerts_received as f64 + input.suppressed as f64,
        opened.len(),
    );

    // Interruptions count what reached people in the period, whichever
    // incident (of the team) caused it.
    let mut notices: BTreeMap<&str, Vec<&Notice>> = BTreeMap::new();
    for i in input.incidents.iter().filter(of_team) {
        for n in i.notices.iter().filter(|n| in_period(n.at)) {
            notices.entry(n.user.as_str()).or_default().push(n);
        }
    }
    let mut hours: BTreeMap<&str, f64> = BTreeMap::new();
    for s in input.shifts {
        let Some(user) = s.user.as_deref() else {
            continue;
        };
        let overlap = (s.end.min(input.to) - s.start.max(input.from)).max(Duration::zero());
        *hours.entry(user).or_default() += overlap.num_seconds() as f64 / 3600.0;
    }
    let mut people: BTreeSet<&str> = config
        .team(input.team)
        .map(|t| {
            t.members
                .iter()
                .chain(&t.leads)
                .map(String::as_str)
                .collect()
        })
        .unwrap_or_default();
    people.extend(notices.keys());
    people.extend(hours.keys());
    let responders: Vec<Responder> = people
        .into_iter()
        .map(|user| {
            let person = config.user(user);
            let tz = person.map_or(Tz::UTC, |u| u.time_zone);
            Responder {
                user: user.to_string(),
                name: person.map_or(user.to_string(), |u| u.name.clone()),
                interruptions: interruptions(notices.get(user).map_or(&[][..], |v| v), tz),
                on_call_hours: round2(hours.get(user).copied().unwrap_or(0.0)),
            }
        })
        .collect();
    let counts: Vec<f64> = responders
        .iter()
        .map(|r| f64::from(r.interruptions.total()))
        .collect();
    let hour_values: Vec<f64> = responders.iter().map(|r| r.on_call_hours).collect();
    let fairness = Fairness {
        interruptions_spread: spread(&counts) as u32,
        interruptions_gini: gini(&counts),
        hours_spread: round2(spread(&hour_values)),
        hours_gini: gini(&hour_values),
    };

    let by_service = services
        .iter()
        .map(|s| {
            let mine: Vec<&Incident> = opened
                .iter()
                .copied()
                .filter(|i| i.service_id == *s)
                .collect();
            ServiceRow {
                service: s.to_string(),
                incidents: mine.len(),
                mtta: stats(mine.iter().filter_map(|i| ack_secs(i))),
                mttr: stats(mine.iter().filter_map(|i| resolve_secs(i))),
            }
        })
        .collect();
    let mut weekly = vec![];
    let mut start = input.from;
    while start < input.to {
        let end = (start + Duration::days(7)).min(input.to);
        let week: Vec<&Incident> = opened
            .iter()
            .copied()
            .filter(|i| start <= i.created_at && i.created_at < end)
            .collect();
        weekly.push(Week {
            start,
            incidents: week.len(),
            mtta: stats(week.iter().filter_map(|i| ack_secs(i))),
            mttr: stats(week.iter().filter_map(|i| resolve_secs(i))),
        });
        start = end;
    }

    Report {
        team: input.team.to_string(),
        from: input.from,
        to: input.to,
        incidents: opened.len(),
        by_severity,
        mtta: stats(opened.iter().filter_map(|i| ack_secs(i))),
        mttr: stats(opened.iter().filter_map(|i| resolve_secs(i))),
        ack_on_target,
        escalation_rate,
        alerts_received,
        alerts_grouped,
        alerts_suppressed: input.suppressed,
        noise_ratio,
        responders,
        fairness,
        by_service,
        weekly,
    }
}

fn ack_secs(i: &Incident) -> Option<f64> {
    i.acknowledged
        .as_ref()
        .map(|s| (s.at - i.created_at).num_milliseconds() as f64 / 1000.0)
}

fn resolve_secs(i: &Incident) -> Option<f64> {
    i.resolved
        .as_ref()
        .map(|s| (s.at - i.created_at).num_milliseconds() as f64 / 1000.0)
}

/// Mean and nearest-rank percentiles.
pub fn stats(values: impl Iterator<Item = f64>) -> Stats {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return Stats::default();
    }
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Stats {
        count: v.len(),
        mean: Some(round2(v.iter().sum::<f64>() / v.len() as f64)),
        p50: Some(rank(0.5)),
        p90: Some(rank(0.9)),
    }
}

/// One person's notifications, merged within a minute, by when they landed
/// in the person's own day.
fn interruptions(notices: &[&Notice], tz: Tz) -> Interruptions {
    let mut times: Vec<DateTime<Utc>> = notices.iter().map(|n| n.at).collect();
    times.sort();
    let mut out = Interruptions::default();
    let mut last: Option<DateTime<Utc>> = None;
    for t in times {
        if last.is_some_and(|l| (t - l).num_seconds() < MERGE_WINDOW_SECS) {
            continue;
        }
        last = Some(t);
        match period(t, tz) {
            Period::Sleep => out.sleep += 1,
            Period::Business => out.business += 1,
            Period::Off => out.off += 1,
        }
    }
    out
}

/// Part of a person's day, as [`Interruptions`] counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Business,
    Off,
    Sleep,
}

/// Which part of their own day (`tz`) `t` falls in for a person.
pub fn period(t: DateTime<Utc>, tz: Tz) -> Period {
    let local = t.with_timezone(&tz);
    let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
    match local.hour() {
        22..=23 | 0..=7 => Period::Sleep,
        8..=17 if !weekend => Period::Business,
        _ => Period::Off,
    }
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    ratio_f(part as f64, whole)
}

fn ratio_f(part: f64, whole: usize) -> Option<f64> {
    (whole > 0).then(|| round2(part / whole as f64))
}

fn spread(v: &[f64]) -> f64 {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    if v.is_empty() {
        0.0
    } else {
        max - min
    }
}

/// Mean absolute difference over twice the mean; `None` when nobody has any load.
pub fn gini(v: &[f64]) -> Option<f64> {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.is_empty() || mean <= 0.0 {
        return None;
    }
    let diffs: f64 = v
        .iter()
        .flat_map(|a| v.iter().map(move |b| (a - b).abs()))
        .sum();
    Some(round2(diffs / (2.0 * n * n * mean)))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
