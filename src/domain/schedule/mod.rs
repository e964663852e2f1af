//! On-call schedule math: who is on call at an instant, and the shifts in a window.
//!
//! Pure: schedules, overrides and instants in, answers out; no I/O, no clock.
//! Time rules (GoAlert's): shifts follow wall-clock handoff times in the
//! schedule's zone; an ambiguous local time takes its first occurrence; a
//! local time that does not exist (a spring-forward gap) moves forward to the
//! first valid instant.

pub mod ical;
pub mod load;
pub mod working;

use crate::config::{Layer, Restriction, Rotation, Schedule};
use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Someone on call instead of whoever the layers say, for `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub user: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A stretch of time with one person (or nobody) on call: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    pub user: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The instant a local wall-clock time denotes in `tz`, by the rules above.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: the first valid local minute after it is the gap's end.
            let mut probe = local
                .with_second(0)
                .and_then(|p| p.with_nanosecond(0))
                .unwrap_or(local);
            for _ in 0..(48 * 60) {
                probe += chrono::Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            // No zone has a two-day gap; read the time as UTC rather than fail.
            Utc.from_utc_datetime(&local)
        }
    }
}

fn local_of(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// The naive local start of rotation period `k` (k ≥ 0) of a layer.
fn boundary(layer: &Layer, k: i64) -> Option<NaiveDateTime> {
    let days = match layer.rotation {
        Rotation::Daily => 1,
        Rotation::Weekly => 7,
        Rotation::Every(d) => {
            return d
                .checked_mul(i32::try_from(k).ok()?)
                .and_then(|off| layer.start.checked_add_signed(off))
        }
    };
    if k == 0 {
        return Some(layer.start);
    }
    let date = layer
        .start
        .date()
        .checked_add_days(Days::new(u64::try_from(k).ok()? * days))?;
    Some(date.and_time(layer.handoff))
}

fn period_secs(layer: &Layer) -> i64 {
    match layer.rotation {
        Rotation::Daily => 86_400,
        Rotation::Weekly => 7 * 86_400,
        Rotation::Every(d) => d.num_seconds().max(1),
    }
}

/// The rotation period containing `t`, or `None` before the layer starts.
fn period_index(layer: &Layer, tz: Tz, t: DateTime<Utc>) -> Option<i64> {
    let at = |k: i64| boundary(layer, k).map(|b| resolve_local(tz, b));
    if t < at(0)? {
        return None;
    }
    let guess = (local_of(tz, t) - layer.start)
        .num_seconds()
        .div_euclid(period_secs(layer));
    let mut k = guess.max(0);
    while k > 0 && at(k).is_none_or(|b| b > t) {
        k -= 1;
    }
    while at(k + 1).is_some_and(|b| b <= t) {
        k += 1;
    }
    Some(k)
}

/// The `[start, end)` instants of a restriction window opening on local `day`.
fn window(tz: Tz, r: &Restriction, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if !r.days[day.weekday().num_days_from_monday() as usize] {
        return None;
    }
    let end_day = day.checked_add_days(Days::new(r.close_after_days.into()))?;
    Some((
        resolve_local(tz, day.and_time(r.from)),
        resolve_local(tz, end_day.and_time(r.to)),
    ))
}

fn allowed(layer: &Layer, tz: Tz, t: DateTime<Utc>) -> bool {
    if layer.restrictions.is_empty() {
        return true;
    }
    let today = local_of(tz, t).date();
    layer.restrictions.iter().any(|r| {
        // A window that opened up to `close_after_days` days ago may still be open.
        (0..=u64::from(r.close_after_days))
            .filter_map(|back| today.checked_sub_days(Days::new(back)))
            .filter_map(|d| window(tz, r, d))
            .any(|(s, e)| s <= t && t < e)
    })
}

/// Who a single layer puts on call at `t`, if anyone.
pub fn layer_at(layer: &Layer, tz: Tz, t: DateTime<Utc>) -> Option<&str> {
    if layer.users.is_empty() {
        return None;
    }
    let k = period_index(layer, tz, t)?;
    if !allowed(layer, tz, t) {
        return None;
    }
    let i = usize::try_from(k.rem_euclid(layer.users.len() as i64)).ok()?;
    Some(layer.users[i].as_str())
}

/// Who is on call at `t`: the latest override covering `t`, else the highest
/// layer with someone on call, else nobody.
pub fn on_call_at<'a>(
    s: &'a Schedule,
    overrides: &'a [Override],
    t: DateTime<Utc>,
) -> Option<&'a str> {
    if let Some(o) = overrides.iter().rev().find(|o| o.start <= t && t < o.end) {
        return Some(o.user.as_str());
    }
    s.layers
        .iter()
        .rev()
        .find_map(|l| layer_at(l, s.time_zone, t))
}

/// Every instant in `(from, to)` at which the answer of `on_call_at` may change.
fn change_points(
    s: &Schedule,
    overrides: &[Override],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let tz = s.time_zone;
    let mut points = vec![];
    for layer in &s.layers {
        let first = period_index(layer, tz, from).unwrap_or(0);
        let mut k = first;
        while let Some(b) = boundary(layer, k).map(|b| resolve_local(tz, b)) {
            if b >= to {
                break;
            }
            points.push(b);
            k += 1;
        }
        if layer.restrictions.is_empty() {
            continue;
        }
        let lookback = layer
            .restrictions
            .iter()
            .map(|r| r.close_after_days)
            .max()
            .unwrap_or(0);
        let (Some(d0), Some(d1)) = (
            local_of(tz, from)
                .date()
                .checked_sub_days(Days::new(u64::from(lookback) + 1)),
            local_of(tz, to).date().succ_opt(),
        ) else {
            continue;
        };
        for day in d0.iter_days().take_while(|d| *d <= d1) {
            for r in &layer.restrictions {
                if let Some((a, b)) = window(tz, r, day) {
                    points.push(a);
                    points.push(b);
                }
            }
        }
    }
    for o in overrides {
        points.push(o.start);
        points.push(o.end);
    }
    points.retain(|p| *p > from && *p < to);
    points.sort();
    points.dedup();
    points
}

/// The shifts covering `[from, to)`: ordered, gap-free, adjacent shifts
/// differ in who is on call. Empty if `from >= to`.
pub fn shifts(
    s: &Schedule,
    overrides: &[Override],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Shift> {
    if from >= to {
        return vec![];
    }
    let mut out: Vec<Shift> = vec![];
    let mut starts = vec![from];
    starts.extend(change_points(s, overrides, from, to));
    for (i, start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(to);
        let user = on_call_at(s, overrides, *start).map(str::to_string);
        match out.last_mut() {
            Some(last) if last.user == user => last.end = end,
            _ => out.push(Shift {
                user,
                start: *start,
                end,
            }),
        }
    }
    out
}

/// When the shift in progress at `t` began: the last instant at or before
/// `t` at which who is on call changed (`t` itself if nothing can be on call
/// earlier). Found by looking back in doubling steps, down to the earliest
/// layer or override start, before which nobody is ever on call.
pub fn shift_start(s: &Schedule, overrides: &[Override], t: DateTime<Utc>) -> DateTime<Utc> {
    let layer_starts = (s.layers.iter())
        .filter(|l| !l.users.is_empty())
        .filter_map(|l| boundary(l, 0).map(|b| resolve_local(s.time_zone, b)));
    let Some(floor) = layer_starts.chain(overrides.iter().map(|o| o.start)).min() else {
        return t;
    };
    // `shifts` covers `[from, to)`: one nanosecond past `t` puts `t` in its last shift.
    let to = t + chrono::Duration::nanoseconds(1);
    let mut span = chrono::Duration::days(8);
    loop {
        let from = (t - span).max(floor);
        if from >= t {
            return t;
        }
        let start = shifts(s, overrides, from, to)
            .last()
            .map_or(t, |last| last.start);
        if start > from || from == floor {
            return start;
        }
        span = span * 2;
    }
}

/// Shifts as a plain-text table for terminals, times in the schedule's zone.
pub fn table(s: &Schedule, list: &[Shift], name_of: impl Fn(&str) -> String) -> String {
    let fmt = |t: DateTime<Utc>| {
        t.with_timezone(&s.time_zone)
            .format("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let mut out = format!("{:<24}  {:<24}  {}\n", "from", "to", "on call");
    for sh in list {
        let who = sh
            .user
            .as_deref()
            .map(&name_of)
            .unwrap_or_else(|| "(nobody)".into());
        out.push_str(&format!(
            "{:<24}  {:<24}  {who}\n",
            fmt(sh.start),
            fmt(sh.end)
        ));
    }
    out
}

#[cfg(test)]
mod tests;
