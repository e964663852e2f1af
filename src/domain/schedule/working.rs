//! Working hours: when a low-urgency page may reach someone, in their own zone.

use super::{layer_at, shifts};
use crate::config::{Layer, Restriction, Rotation, Schedule};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

/// Monday to Friday, 09:00–18:00: used when neither the person nor the team says.
pub fn default_hours() -> Vec<Restriction> {
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).expect("valid time");
    vec![Restriction::daily(
        [true, true, true, true, true, false, false],
        t(9),
        t(18),
    )]
}

/// A schedule that has someone "on call" exactly during `hours`, so the
/// schedule math (DST rules included) answers working-hours questions too.
fn as_schedule(hours: &[Restriction], tz: Tz) -> Schedule {
    let start = NaiveDate::from_ymd_opt(2000, 1, 3)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid date");
    Schedule {
        id: "working-hours".into(),
        team: String::new(),
        time_zone: tz,
        layers: vec![Layer {
            name: "hours".into(),
            start,
            rotation: Rotation::Weekly,
            handoff: NaiveTime::MIN,
            users: vec!["on".into()],
            restrictions: hours.to_vec(),
        }],
    }
}

/// `t` itself if it falls within `hours` (no windows at all means any time),
/// else when they next begin (within a week and a day); `None` if they never do.
pub fn next_working_start(
    hours: &[Restriction],
    tz: Tz,
    t: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let s = as_schedule(hours, tz);
    if layer_at(&s.layers[0], tz, t).is_some() {
        return Some(t);
    }
    shifts(&s, &[], t, t + Duration::days(8))
        .into_iter()
        .find(|sh| sh.user.is_some())
        .map(|sh| sh.start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn check(tz: Tz, at: (u32, u32, u32), want: Option<(u32, u32, u32)>) {
        let t = |(m, d, h): (u32, u32, u32)| Utc.with_ymd_and_hms(2026, m, d, h, 0, 0).unwrap();
        assert_eq!(
            next_working_start(&default_hours(), tz, t(at)),
            want.map(t),
            "{tz} at {at:?}"
        );
    }

    #[test]
    fn working_hours_begin_at_nine_on_weekdays_in_each_zone() {
        use chrono_tz::{America::New_York, Asia::Kolkata, Europe::London};
        // 2026-11-25 is a Wednesday; London is on GMT (UTC), New York on EST (UTC-5).
        check(London, (11, 25, 3), Some((11, 25, 9)));
        check(London, (11, 25, 10), Some((11, 25, 10)));
        check(London, (11, 25, 18), Some((11, 26, 9)));
        check(London, (11, 28, 12), Some((11, 30, 9))); // Saturday → Monday
        check(New_York, (11, 25, 3), Some((11, 25, 14)));
        // Kolkata is UTC+05:30: 09:00 local is 03:30 UTC, so 03:00 UTC waits half an hour.
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        let got = next_working_start(&default_hours(), Kolkata, t).unwrap();
        assert_eq!(got, t + Duration::minutes(30));
        assert_eq!(
            next_working_start(&[], London, t),
            Some(t),
            "no windows: any time"
        );
    }
}
