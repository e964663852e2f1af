//! The engine: one loop that re-derives time-driven work from the store on
//! every pass, so a restart resumes exactly where the last run stopped.
//!
//! A pass runs each job's module in a fixed order, and each one plans purely
//! from what it read (a function of that state, the config and `now`), then
//! applies the plan through the store and settles it:
//! - `escalation`: due escalation steps, snooze ends, held low-urgency
//!   pages and the rooms' timers, from the store's due-time index;
//! - `reminders`: the later steps of people's notification rules, run in
//!   the same per-incident step as escalation;
//! - `handoffs`: handoff notices, per schedule cursor;
//! - `maintenance`: window start and end announcements;
//! - `reports`: the weekly reports, per team cursor;
//! - `heartbeats`: missed heartbeats;
//! - `housekeeping`: pruning old Slack event ids and change events.
//!
//! One module failing is logged and does not stop the others; it is retried
//! on the next pass, at most 30 s later.

mod escalation;
mod handoffs;
mod heartbeats;
mod housekeeping;
mod maintenance;
mod reminders;
pub mod reports;

pub use escalation::{nobody_responded, plan_step};

use crate::domain::schedule::{on_call_at, Override};
use crate::ops::{Core, Wake};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tokio::sync::watch;

/// Longest the engine sleeps, so config-free changes (overrides) are seen soon
/// even without a wake-up.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(30);
const MIN_SLEEP: std::time::Duration = std::time::Duration::from_millis(5);
/// How far ahead "until when" is looked up.
const HORIZON_DAYS: i64 = 60;

pub async fn run(core: Core, mut shutdown: watch::Receiver<bool>) {
    loop {
        let started = std::time::Instant::now();
        let result = pass(&core).await;
        crate::metrics::global().observe(
            "tocsin_engine_tick_seconds",
            started.elapsed().as_secs_f64(),
        );
        let next = match result {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(error = %e, "engine pass failed; retrying");
                None
            }
        };
        let now = core.clock.now();
        // Work already due (the pass took a while) runs again almost at once;
        // the floor keeps a step that keeps failing from spinning the loop.
        let wait = next.map_or(MAX_SLEEP, |t| {
            (t - now)
                .to_std()
                .unwrap_or_default()
                .clamp(MIN_SLEEP, MAX_SLEEP)
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = core.engine_wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass: every module in turn; returns when the next work is due.
pub async fn pass(core: &Core) -> Result<Option<DateTime<Utc>>, StoreError> {
    let read = Read::take(core).await?;
    let mut next = None;
    let due = contained("escalation", escalation::run(core, &read).await);
    next = earliest(next, due);
    let due = contained("handoffs", handoffs::run(core, &read).await);
    next = earliest(next, due);
    let due = contained("maintenance", maintenance::run(core, read.now).await);
    next = earliest(next, due);
    let due = contained("reports", reports::send_due(core, read.now).await);
    next = earliest(next, due);
    let due = contained("heartbeats", heartbeats::run(core, read.now).await);
    next = earliest(next, due);
    let due = contained("housekeeping", housekeeping::run(core, read.now).await);
    next = earliest(next, due);
    Ok(next)
}

/// What a pass reads once, for the modules that share it.
struct Read {
    /// Whole milliseconds, the resolution of the stored cursors and due
    /// index, so a boundary is never announced from just before it and again
    /// after it.
    pub now: DateTime<Utc>,
    /// Each schedule's overrides, for escalation targets and handoffs alike.
    overrides: HashMap<String, Vec<Override>>,
}

impl Read {
    async fn take(core: &Core) -> Result<Read, StoreError> {
        let now = core.clock.now();
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let mut overrides = HashMap::new();
        for s in &core.config.schedules {
            let list = core
                .store
                .overrides(&s.id)
                .await?
                .into_iter()
                .map(|o| o.over)
                .collect();
            overrides.insert(s.id.clone(), list);
        }
        Ok(Read { now, overrides })
    }

    pub fn overrides(&self, schedule: &str) -> &[Override] {
        self.overrides
            .get(schedule)
            .map_or(&[][..], |v| v.as_slice())
    }

    /// Who is on call for `schedule` now (`None` for an unknown schedule).
    pub fn on_call(&self, core: &Core, schedule: &str) -> Option<String> {
        let s = core.config.schedule(schedule)?;
        on_call_at(s, self.overrides(schedule), self.now).map(str::to_string)
    }
}

/// What a module wrote so far. Each write was durable when it returned; the
/// module settles once at its end (the outbox woken if work was queued),
/// also when it failed part way: what it did write is then not left waiting.
#[derive(Debug, Default)]
struct Writes {
    pub wrote: bool,
    pub queued: bool,
}

impl Writes {
    /// Notes a write that queued `work` outbound items.
    pub fn wrote(&mut self, work: usize) {
        self.wrote = true;
        self.queued |= work > 0;
    }

    /// Settles the writes, then hands on `result`.
    pub fn settle<T, E>(self, core: &Core, result: Result<T, E>) -> Result<T, E> {
        if self.wrote {
            let wake = Wake {
                outbox: self.queued,
                engine: false,
            };
            core.settle(wake);
        }
        result
    }
}

/// A module's next due time, or `None` after logging its failure.
fn contained<E: std::fmt::Display>(
    module: &'static str,
    result: Result<Option<DateTime<Utc>>, E>,
) -> Option<DateTime<Utc>> {
    result.unwrap_or_else(|e| {
        tracing::error!(module, error = %e, "engine module failed; will retry");
        None
    })
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests;
