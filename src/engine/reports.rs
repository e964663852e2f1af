//! The weekly report: at each team's chosen weekday and time (in its zone)
//! the last seven days' numbers go to the team's alert and stakeholder
//! channels. A cursor in the store says which week went out, moved in the
//! same transaction that queues the messages: never twice, never skipped
//! silently (after downtime, only the latest week is sent).

use super::Writes;
use crate::config::{Team, WeeklyReport};
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

/// What a pass does for one team's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// First sight: the cursor starts at now; no report for weeks before tocsin ran.
    Start,
    /// Send the week that ended at `slot` and move the cursor there.
    Send { slot: DateTime<Utc> },
    /// Nothing due yet.
    Wait,
}

/// What to do with a report whose cursor is at `cursor`, at `now`, and when
/// the next one is due after it.
pub fn plan(
    w: &WeeklyReport,
    cursor: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (Plan, DateTime<Utc>) {
    let Some(cursor) = cursor else {
        return (Plan::Start, next_slot(w, now));
    };
    let mut slot = next_slot(w, cursor);
    if slot > now {
        return (Plan::Wait, slot);
    }
    while next_slot(w, slot) <= now {
        slot = next_slot(w, slot);
    }
    (Plan::Send { slot }, next_slot(w, slot))
}

/// Sends every team's report that is due; returns when the next one is.
pub async fn send_due(
    core: &Core,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut writes = Writes::default();
    let result = apply(core, now, &mut writes).await;
    writes.settle(core, result)
}

async fn apply(
    core: &Core,
    now: DateTime<Utc>,
    writes: &mut Writes,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut next: Option<DateTime<Utc>> = None;
    for team in &core.config.teams {
        let Some(w) = &team.weekly_report else {
            continue;
        };
        let name = format!("weekly_report:{}", team.id);
        let (plan, due) = plan(w, core.store.cursor(&name).await?, now);
        match plan {
            Plan::Start => {
                core.store.set_cursor(&name, now, &[], now).await?;
                writes.wrote(0);
            }
            Plan::Send { slot } => {
                let work = work(core, team, slot).await?;
                core.store.set_cursor(&name, slot, &work, now).await?;
                writes.wrote(work.len());
            }
            Plan::Wait => {}
        }
        next = super::earliest(next, Some(due));
    }
    Ok(next)
}

/// The messages of `team`'s report for the week ending at `slot`.
async fn work(
    core: &Core,
    team: &Team,
    slot: DateTime<Utc>,
) -> Result<Vec<(String, Outbound)>, StoreError> {
    let (from, to) = (slot - Duration::days(7), slot);
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
        let current =
            crate::ops::report::build(&core.config, &core.store, &team.id, from, to).await?;
        work.extend(crate::ops::report::chart_uploads(&current, channel));
    }
    Ok(work)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone};

    fn mondays_at_nine(time_zone: chrono_tz::Tz) -> WeeklyReport {
        WeeklyReport {
            weekday: 0,
            at: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            time_zone,
        }
    }

    #[test]
    fn slots_follow_local_time_across_a_clock_change() {
        // Mondays 09:00 in London: GMT in March before the change, BST after.
        let w = mondays_at_nine(chrono_tz::Europe::London);
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

    #[test]
    fn plans_send_each_week_once_and_only_the_latest_after_downtime() {
        let w = mondays_at_nine(chrono_tz::Europe::London);
        let t = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap();
        let sat = t(21, 12);
        assert_eq!(plan(&w, None, sat), (Plan::Start, t(23, 9)));
        assert_eq!(plan(&w, Some(sat), t(23, 8)), (Plan::Wait, t(23, 9)));
        let send = Plan::Send { slot: t(23, 9) };
        assert_eq!(plan(&w, Some(sat), t(23, 9)), (send, t(30, 8)));
        assert_eq!(plan(&w, Some(t(23, 9)), t(24, 9)), (Plan::Wait, t(30, 8)));
        // Down for two weeks: one report, for the latest week.
        let latest = Plan::Send { slot: t(30, 8) };
        assert_eq!(
            plan(&w, Some(sat), t(31, 0)),
            (latest, Utc.with_ymd_and_hms(2026, 4, 6, 8, 0, 0).unwrap())
        );
    }
}
