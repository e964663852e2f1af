//! Parsers for single field values (ids, zones, phones, times, days, targets,
//! keys). Each returns a message naming the bad value, for `ConfigError`.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;

use super::durations::parse_duration;
use super::model::{Rotation, Target};

pub(super) fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("id is empty".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "id `{id}` contains `{c}`: only letters, digits, `_`, `.` and `-` are allowed"
        ));
    }
    Ok(())
}

pub(super) fn parse_tz(s: &str) -> Result<Tz, String> {
    s.parse::<Tz>().map_err(|_| {
        // Suggest the right spelling when only the case is off.
        let hint = chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(s))
            .map_or("Europe/London", |tz| tz.name());
        format!("unknown time zone `{s}`: use an IANA name such as \"{hint}\"")
    })
}

pub fn validate_phone(s: &str) -> Result<(), String> {
    let ok = s.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid phone `{s}`: expected E.164, a `+` then 8 to 15 digits, e.g. \"+447700900001\""
        ))
    }
}

pub fn validate_email(s: &str) -> Result<(), String> {
    match s.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(format!("invalid email `{s}`: expected name@domain")),
    }
}

pub(super) fn parse_hhmm(s: &str) -> Result<NaiveTime, String> {
    let bad = || format!("invalid time `{s}`: expected HH:MM, e.g. \"09:00\"");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    NaiveTime::from_hms_opt(h, m, 0)
        .ok_or_else(|| format!("invalid time `{s}`: hours go 00-23 and minutes 00-59"))
}

/// `"fri 18:00"`: a weekday (index 0 = Monday) and a time, for weekly windows.
pub(super) fn parse_day_time(s: &str) -> Result<(usize, NaiveTime), String> {
    let bad = || {
        format!("invalid weekly time `{s}`: expected a day and HH:MM like \"fri 18:00\" (or give `days` and plain HH:MM times)")
    };
    let (day, time) = s.trim().split_once(' ').ok_or_else(bad)?;
    let days = parse_days(day).map_err(|_| bad())?;
    let mut selected = days.iter().enumerate().filter(|(_, d)| **d).map(|(i, _)| i);
    let (Some(d), None) = (selected.next(), selected.next()) else {
        return Err(bad());
    };
    Ok((d, parse_hhmm(time.trim())?))
}

pub(super) fn parse_days(spec: &str) -> Result<[bool; 7], String> {
    const SHORT: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    const LONG: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let lower = spec.trim().to_ascii_lowercase();
    if lower == "daily" || lower == "all" {
        return Ok([true; 7]);
    }
    let day = |d: &str| {
        let d = d.trim();
        if d.is_empty() {
            return Err(format!("invalid days `{spec}`: empty day name"));
        }
        (SHORT.iter().position(|s| *s == d))
            .or_else(|| LONG.iter().position(|s| *s == d))
            .ok_or_else(|| {
                format!("invalid days `{spec}`: unknown day `{d}`; use mon..sun, e.g. \"mon-fri\" or \"sat,sun\"")
            })
    };
    let mut days = [false; 7];
    for part in lower.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                // Ranges may wrap past Sunday, e.g. "fri-mon".
                let (mut d, end) = (day(a)?, day(b)?);
                days[d] = true;
                while d != end {
                    d = (d + 1) % 7;
                    days[d] = true;
                }
            }
            None => days[day(part)?] = true,
        }
    }
    Ok(days)
}

pub(super) fn parse_start(v: &toml::Value) -> Result<NaiveDateTime, String> {
    const HINT: &str =
        "expected a local date and time like \"2026-11-02T09:00:00\" or \"2026-11-02T09:00\"";
    match v {
        toml::Value::String(s) => [
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .ok_or_else(|| format!("invalid start `{s}`: {HINT}")),
        toml::Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
            (_, _, Some(_)) => Err(format!(
                "start `{dt}` has a UTC offset; write local time, the schedule's time_zone places it"
            )),
            (Some(d), Some(t), None) => {
                NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())
                    .and_then(|date| {
                        date.and_hms_nano_opt(
                            t.hour.into(),
                            t.minute.into(),
                            t.second.into(),
                            t.nanosecond,
                        )
                    })
                    .ok_or_else(|| format!("invalid start `{dt}`: {HINT}"))
            }
            _ => Err(format!("start `{dt}` needs both a date and a time: {HINT}")),
        },
        other => Err(format!(
            "invalid start: {HINT}, found a {}",
            other.type_str()
        )),
    }
}

pub(super) fn parse_rotation(s: &str) -> Result<Rotation, String> {
    if s.eq_ignore_ascii_case("daily") {
        return Ok(Rotation::Daily);
    }
    if s.eq_ignore_ascii_case("weekly") {
        return Ok(Rotation::Weekly);
    }
    parse_duration(s).map(Rotation::Every).map_err(|e| {
        format!("invalid rotation `{s}`: expected \"daily\", \"weekly\" or a duration; {e}")
    })
}

pub(super) fn parse_target(s: &str) -> Result<Target, String> {
    match s.split_once(':') {
        Some(("user", id)) if !id.is_empty() => Ok(Target::User(id.to_string())),
        Some(("schedule", id)) if !id.is_empty() => Ok(Target::Schedule(id.to_string())),
        Some(("team", id)) if !id.is_empty() => Ok(Target::Team(id.to_string())),
        _ => Err(format!(
            "invalid target `{s}`: expected \"user:ID\", \"schedule:ID\" or \"team:ID\""
        )),
    }
}

pub(super) fn parse_integration_key(s: &str) -> Result<String, String> {
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!(
            "invalid integration key `{s}`: expected exactly 32 hex characters"
        ))
    }
}
