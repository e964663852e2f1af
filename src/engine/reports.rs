//! The weekly report: at each team's chosen weekday and time (in its zone)
//! the last seven days' numbers go to the team's alert and stakeholder
//! channels. A cursor in the store says which week went out, moved in the
//! same transaction that queues the messages: never twice, never skipped
//! silently (after downtime, only the latest week is sent).

use crate::config::WeeklyReport;
use crate::domain::schedule::resolve_local;
use crate::ops::Core;
use crate::store::{Outbound, StoreError};
use chrono::{DateTime, Datelike, Duration, Utc};

/// The first report time strictly after `after`.
pub fn next_slot(w: &WeeklyReport, after: DateTime<Utc>) -> DateTime<Utc> {
    let day = after.with_timezone(&w.time_zone).date_naive();
    for d in day.iter_days().take(9) {
        if d.weekday().num_days_from_monday() as usize == w.weekday {
            let t = resolve_local(w.time_zone, d.and_time(w.at));
            if t > after {
                return t;
            }
        }
    }
    // Unreachable with a valid weekday; a week on keeps the engine moving.
    after + Duration::days(7)
}

/// Sends every team's report that is due; returns when the next one is.
pub async fn send_due(
    core: &Core,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut next: Option<DateTime<Utc>> = None;
    let mut queued = false;
    for team in &core.config.teams {
        let Some(w) = &team.weekly_report else {
            continue;
        };
        let name = format!("weekly_report:{}", team.id);
        let Some(cursor) = core.store.cursor(&name)? else {
            // First sight: start from now; no report for weeks before tocsin ran.
            core.store.set_cursor_with(&name, now, &[], now)?;
            core.store.durable().await?;
            let n = next_slot(w, now);
            next = Some(next.map_or(n, |x| x.min(n)));
            continue;
        };
        let mut slot = next_slot(w, cursor);
        if slot > now {
            next = Some(next.map_or(slot, |x| x.min(slot)));
            continue;
        }
        while next_slot(w, slot) <= now {
            slot = next_slot(w, slot);
        }
        let week = Duration::days(7);
        let (from, to) = (slot - week, slot);
        let mut work: Vec<(String, Outbound)> = team
            .alert_channel
            .iter()
            .chain(&team.stakeholder_channel)
            .map(|c| {
                let op = Outbound::WeeklyReport {
                    channel: c.clone(),
                    team: team.id.clone(),
                    from,
                    to,
                };
                (c.clone(), op)
            })
            .collect();
        // The charts follow the numbers in the team's own channel.
        if let Some(channel) = &team.alert_channel {
            let current = crate::ops::report::build(&core.config, &core.store, &team.id, from, to)?;
            work.extend(crate::ops::report::chart_uploads(&current, channel));
        }
        queued |= !work.is_empty();
        core.store.set_cursor_with(&name, slot, &work, now)?;
        core.store.durable().await?;
        let n = next_slot(w, slot);
        next = Some(next.map_or(n, |x| x.min(n)));
    }
    if queued {
        core.outbox_ready.notify_one();
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone};

    #[test]
    fn slots_follow_local_time_across_a_clock_change() {
        // Mondays 09:00 in London: GMT in March before the change, BST after.
        let w = WeeklyReport {
            weekday: 0,
            at: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            time_zone: chrono_tz::Europe::London,
        };
        let sat = Utc.with_ymd_and_hms(2026, 3, 21, 12, 0, 0).unwrap();
        let first = next_slot(&w, sat);
        assert_eq!(first, Utc.with_ymd_and_hms(2026, 3, 23, 9, 0, 0).unwrap());
        let second = next_slot(&w, first);
        assert_eq!(second, Utc.with_ymd_and_hms(2026, 3, 30, 8, 0, 0).unwrap());
        // Exactly at a slot: the next one, not the same.
        assert_eq!(
            next_slot(&w, second),
            Utc.with_ymd_and_hms(2026, 4, 6, 8, 0, 0).unwrap()
        );
    }
}
