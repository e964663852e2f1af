//! Housekeeping: tidying that no user-visible behaviour waits on. Slack
//! event ids are kept an hour (Slack retries an event for a few minutes) and
//! change events `CHANGE_RETENTION_DAYS`. It runs at most every ten minutes,
//! by a cursor in the store, so a busy engine does not scan those trees on
//! every pass.

use crate::ops::Core;
use crate::store::{StoreError, CHANGE_RETENTION_DAYS};
use chrono::{DateTime, Duration, Utc};

const CURSOR: &str = "housekeeping";

/// What one round prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    /// Slack event ids first seen before this are forgotten.
    pub slack_events_before: DateTime<Utc>,
    /// Change events before this are forgotten.
    pub changes_before: DateTime<Utc>,
}

fn every() -> Duration {
    Duration::minutes(10)
}

/// Whether a round is due at `now`, last run at `last`, and when the next one is.
pub(super) fn plan(
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (Option<Plan>, DateTime<Utc>) {
    match last {
        // A clock set back makes a cursor in the future: run rather than wait for it.
        Some(last) if last <= now && now - last < every() => (None, last + every()),
        _ => {
            let plan = Plan {
                slack_events_before: now - Duration::hours(1),
                changes_before: now - Duration::days(CHANGE_RETENTION_DAYS),
            };
            (Some(plan), now + every())
        }
    }
}

/// Prunes what is old, if a round is due; returns when the next one is.
pub(super) async fn run(
    core: &Core,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let (plan, next) = plan(core.store.cursor(CURSOR).await?, now);
    let Some(plan) = plan else {
        return Ok(Some(next));
    };
    match core.store.prune_events(plan.slack_events_before).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(removed = n, "forgot old Slack event ids"),
        Err(e) => tracing::warn!(error = %e, "cannot prune Slack event ids"),
    }
    match core.store.prune_changes(plan.changes_before).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(removed = n, "forgot old change events"),
        Err(e) => tracing::warn!(error = %e, "cannot prune change events"),
    }
    // Not flushed: a round lost in a crash only runs again after the restart.
    core.store.set_cursor_unflushed(CURSOR, now).await?;
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_round_runs_at_first_then_every_ten_minutes() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        let m = Duration::minutes;
        let (first, next) = plan(None, t0);
        let first = first.unwrap();
        assert_eq!(first.slack_events_before, t0 - Duration::hours(1));
        assert_eq!(
            first.changes_before,
            t0 - Duration::days(CHANGE_RETENTION_DAYS)
        );
        assert_eq!(next, t0 + m(10));
        assert_eq!(plan(Some(t0), t0 + m(9)), (None, t0 + m(10)));
        assert!(plan(Some(t0), t0 + m(10)).0.is_some());
        assert!(plan(Some(t0 + m(30)), t0).0.is_some(), "a clock set back");
    }
}
