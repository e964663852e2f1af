//! Times people type in slash commands, read in their own time zone:
//! `now`, `18:00`, `today 18:00`, `tomorrow 09:00`, `2026-12-01 18:00`,
//! `2026-12-01T18:00`, and durations after a reference such as `+8h`.

use crate::config::parse_duration;
use crate::domain::schedule::resolve_local;
use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;

/// Reads one time from the front of `words`; returns it and how many words it used.
/// `relative_to` is what `+8h` counts from.
pub fn parse_time(
    words: &[&str],
    tz: Tz,
    now: DateTime<Utc>,
    relative_to: DateTime<Utc>,
) -> Result<(DateTime<Utc>, usize), String> {
    let Some(first) = words.first().map(|w| w.to_ascii_lowercase()) else {
        return Err("a time is missing".into());
    };
    if first == "now" {
        return Ok((now, 1));
    }
    if let Some(d) = first.strip_prefix('+') {
        let d = parse_duration(d).map_err(|e| format!("`{first}`: {e}"))?;
        return relative_to
            .checked_add_signed(d)
            .map(|t| (t, 1))
            .ok_or_else(|| format!("`{first}` is too far away"));
    }
    let today = now.with_timezone(&tz).date_naive();
    let day = match first.as_str() {
        "today" => Some(today),
        "tomorrow" => today.checked_add_days(Days::new(1)),
        other => NaiveDate::parse_from_str(other, "%Y-%m-%d").ok(),
    };
    if let Some(day) = day {
        let Some(time_word) = words.get(1) else {
            return Err(format!(
                "`{first}` needs a time after it, like `{first} 09:00`"
            ));
        };
        let time = parse_clock(time_word)?;
        return Ok((resolve_local(tz, day.and_time(time)), 2));
    }
    for fmt in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&first.to_ascii_uppercase(), fmt) {
            return Ok((resolve_local(tz, t), 1));
        }
    }
    if let Ok(time) = parse_clock(&first) {
        // A bare clock time is the next time the clock shows it.
        let mut t = resolve_local(tz, today.and_time(time));
        if t < now {
            let tomorrow = today
                .checked_add_days(Days::new(1))
                .ok_or("date out of range")?;
            t = resolve_local(tz, tomorrow.and_time(time));
        }
        return Ok((t, 1));
    }
    Err(format!(
        "`{}` is not a time; use `2026-12-01 18:00`, `tomorrow 09:00`, `18:00`, `now` or `+8h`",
        words[0]
    ))
}

fn parse_clock(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| format!("`{s}` is not a clock time like 09:00"))
}

/// Parses `FROM TO` filling all of `words`; TO may be a duration after FROM.
pub fn parse_range(
    words: &[&str],
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let (from, used) = parse_time(words, tz, now, now)?;
    let rest = &words[used..];
    if rest.is_empty() {
        return Err("an end time is missing (e.g. `+8h` or `tomorrow 09:00`)".into());
    }
    let (to, used_to) = parse_time(rest, tz, now, from)?;
    if used_to != rest.len() {
        return Err(format!(
            "unexpected `{}` after the end time",
            rest[used_to..].join(" ")
        ));
    }
    if to <= from {
        return Err("the end must be after the start".into());
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn check(text: &str, tz: Tz, expected: Result<(&str, &str), &str>) {
        // "now" is Wednesday 2026-11-25 10:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
        let words: Vec<&str> = text.split_whitespace().collect();
        let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
        match (parse_range(&words, tz, now), expected) {
            (Ok((a, b)), Ok((wa, wb))) => {
                assert_eq!((fmt(a), fmt(b)), (wa.to_string(), wb.to_string()), "{text}")
            }
            (Err(e), Err(w)) => assert!(e.contains(w), "{text}: {e:?} lacks {w:?}"),
            (got, want) => panic!("{text} in {tz}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn ranges_read_in_the_askers_zone() {
        use chrono_tz::{America::New_York, Asia::Kolkata, UTC};
        check("now +8h", UTC, Ok(("2026-11-25 10:00", "2026-11-25 18:00")));
        check(
            "2026-12-01 18:00 2026-12-02 09:00",
            UTC,
            Ok(("2026-12-01 18:00", "2026-12-02 09:00")),
        );
        check(
            "2026-12-01 18:00 +1d",
            New_York,
            Ok(("2026-12-01 23:00", "2026-12-02 23:00")),
        );
        check(
            "tomorrow 09:00 +30m",
            Kolkata,
            Ok(("2026-11-26 03:30", "2026-11-26 04:00")),
        );
        check(
            "today 18:00 tomorrow 09:00",
            UTC,
            Ok(("2026-11-25 18:00", "2026-11-26 09:00")),
        );
        check(
            "09:00 +1h",
            UTC,
            Ok(("2026-11-26 09:00", "2026-11-26 10:00")),
        );
        check(
            "2026-12-01T18:00 2026-12-01T20:00",
            UTC,
            Ok(("2026-12-01 18:00", "2026-12-01 20:00")),
        );
        check("now", UTC, Err("end time is missing"));
        check("", UTC, Err("missing"));
        check("now +8h extra", UTC, Err("unexpected `extra`"));
        check("+8h now", UTC, Err("after the start"));
        check("tomorrow", UTC, Err("needs a time"));
        check("2026-13-01 10:00 +1h", UTC, Err("not a time"));
        check("now +banana", UTC, Err("`+banana`"));
        check("now +0h", UTC, Err("`+0h`"));
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_explains(text in "\\PC{0,40}") {
            let now = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
            let words: Vec<&str> = text.split_whitespace().collect();
            if let Err(e) = parse_range(&words, chrono_tz::Europe::London, now) {
                proptest::prop_assert!(!e.is_empty());
            }
        }
    }
}
