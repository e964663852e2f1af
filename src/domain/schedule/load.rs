//! On-call load per person: total hours, weekday hours outside 09–18, and
//! weekend hours, each measured in the person's own time zone.

use super::{resolve_local, Shift};
use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    pub user: String,
    pub on_call: Duration,
    /// Monday–Friday before 09:00 or from 18:00, local to the person.
    pub off_hours: Duration,
    /// Saturday and Sunday, local to the person.
    pub weekend: Duration,
}

const BUSINESS_START: NaiveTime = NaiveTime::from_hms_opt(9, 0, 0).expect("valid time");
const BUSINESS_END: NaiveTime = NaiveTime::from_hms_opt(18, 0, 0).expect("valid time");

/// Load per person in `shifts`, heaviest first. `tz_of` gives each person's zone.
pub fn load(shifts: &[Shift], tz_of: impl Fn(&str) -> Tz) -> Vec<Load> {
    let mut by_user: BTreeMap<&str, Load> = BTreeMap::new();
    for s in shifts {
        let Some(user) = s.user.as_deref() else {
            continue;
        };
        let entry = by_user.entry(user).or_insert_with(|| Load {
            user: user.to_string(),
            on_call: Duration::zero(),
            off_hours: Duration::zero(),
            weekend: Duration::zero(),
        });
        entry.on_call += s.end - s.start;
        let (off, weekend) = split(tz_of(user), s.start, s.end);
        entry.off_hours += off;
        entry.weekend += weekend;
    }
    let mut out: Vec<Load> = by_user.into_values().collect();
    out.sort_by(|a, b| b.on_call.cmp(&a.on_call).then(a.user.cmp(&b.user)));
    out
}

/// (off-hours, weekend) time within `[start, end)` in zone `tz`.
fn split(tz: Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> (Duration, Duration) {
    let overlap =
        |a: DateTime<Utc>, b: DateTime<Utc>| (b.min(end) - a.max(start)).max(Duration::zero());
    let (mut off, mut weekend) = (Duration::zero(), Duration::zero());
    let first = start.with_timezone(&tz).date_naive();
    let last = end.with_timezone(&tz).date_naive();
    for day in first.iter_days().take_while(|d| *d <= last) {
        let Some(next) = day.succ_opt() else { break };
        let midnight = resolve_local(tz, day.and_time(NaiveTime::MIN));
        let next_midnight = resolve_local(tz, next.and_time(NaiveTime::MIN));
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            weekend += overlap(midnight, next_midnight);
        } else {
            let open = resolve_local(tz, day.and_time(BUSINESS_START));
            let close = resolve_local(tz, day.and_time(BUSINESS_END));
            off += overlap(midnight, open) + overlap(close, next_midnight);
        }
    }
    (off, weekend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn shift(user: &str, start: (u32, u32, u32), end: (u32, u32, u32)) -> Shift {
        let t = |(m, d, h): (u32, u32, u32)| Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap();
        Shift {
            user: Some(user.into()),
            start: t(start),
            end: t(end),
        }
    }

    #[test]
    fn hours_are_split_in_each_persons_own_zone() {
        // Mon 2026-11-23 00:00 UTC to Mon 2026-11-30 00:00 UTC: a full week.
        let week = [
            shift("ldn", (11, 23, 0), (11, 30, 0)),
            shift("nyc", (11, 23, 0), (11, 30, 0)),
        ];
        let tz = |u: &str| {
            if u == "ldn" {
                chrono_tz::Europe::London
            } else {
                chrono_tz::America::New_York
            }
        };
        let loads = load(&week, tz);
        let get = |u: &str| loads.iter().find(|l| l.user == u).unwrap().clone();
        let ldn = get("ldn");
        assert_eq!(ldn.on_call, Duration::hours(168));
        assert_eq!(ldn.weekend, Duration::hours(48));
        assert_eq!(ldn.off_hours, Duration::hours(5 * 15));
        // New York is UTC-5: the week runs Sun 19:00 to Sun 19:00 local.
        let nyc = get("nyc");
        assert_eq!(nyc.weekend, Duration::hours(5 + 24 + 19));
        assert_eq!(nyc.off_hours, Duration::hours(5 * 15));
    }

    #[test]
    fn nobody_is_not_a_person_and_the_heaviest_comes_first() {
        let mut s = vec![
            shift("a", (11, 23, 9), (11, 23, 10)),
            shift("b", (11, 23, 10), (11, 23, 14)),
        ];
        s.push(Shift {
            user: None,
            ..shift("x", (11, 23, 14), (11, 23, 15))
        });
        let loads = load(&s, |_| chrono_tz::UTC);
        assert_eq!(
            loads.iter().map(|l| l.user.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(loads[0].off_hours, Duration::zero());
    }
}
