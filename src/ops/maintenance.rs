//! Maintenance windows: while one is in force on a service, its alerts are
//! recorded but page nobody, and the team channel is told once when the
//! window starts and once when it ends. Windows come from the config file or
//! from `/oncall maintenance`; both live in the store, so the announcements
//! survive restarts and are never repeated.

use crate::ops::Core;
use crate::store::{Outbound, StoreError, Window};
use chrono::{DateTime, Utc};

/// The longest window `/oncall maintenance` opens; longer ones belong in the config file.
pub const MAX_DAYS: i64 = 7;

/// Starts (or extends) a window on `service` from now until `until`.
pub async fn start(
    core: &Core,
    service: &str,
    until: DateTime<Utc>,
    reason: Option<String>,
    by: &str,
) -> Result<Window, StoreError> {
    let now = core.clock.now();
    let w = match core.store.window_at(service, now)? {
        Some(mut open) => {
            open.to = until;
            open.reason = reason.or(open.reason);
            open
        }
        None => Window {
            service: service.to_string(),
            from: now,
            to: until,
            reason,
            by: Some(by.to_string()),
            announced_start: false,
            announced_end: false,
        },
    };
    core.store.put_window(&w)?;
    core.store.durable().await?;
    core.engine_wake.notify_one();
    Ok(w)
}

/// Ends the window in force on `service` now; `None` if there was none.
pub async fn end(core: &Core, service: &str) -> Result<Option<Window>, StoreError> {
    let now = core.clock.now();
    let Some(mut w) = core.store.window_at(service, now)? else {
        return Ok(None);
    };
    w.to = now;
    core.store.put_window(&w)?;
    core.store.durable().await?;
    core.engine_wake.notify_one();
    Ok(Some(w))
}

/// Copies the config's windows into the store (once each), announces starts
/// and ends due by `now`, and returns when the next one is due.
pub async fn announce(
    core: &Core,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut known = core.store.windows()?;
    let mut wrote = false;
    for s in &core.config.services {
        for c in &s.maintenance {
            if !known.iter().any(|w| w.service == s.id && w.from == c.from) {
                let w = Window {
                    service: s.id.clone(),
                    from: c.from,
                    to: c.to,
                    reason: c.reason.clone(),
                    by: None,
                    announced_start: false,
                    announced_end: false,
                };
                core.store.put_window(&w)?;
                known.push(w);
                wrote = true;
            }
        }
    }
    let mut next: Option<DateTime<Utc>> = None;
    let mut queued = false;
    for mut w in known {
        let channel = core
            .config
            .team_of_service(&w.service)
            .and_then(|t| t.alert_channel.clone());
        // What is announced now: the start, or the end with the alerts it held.
        let (mut started, mut held) = (false, None);
        if !w.announced_start && w.from <= now {
            w.announced_start = true;
            if w.to <= now {
                // Over before anyone could be told (tocsin was down): say nothing.
                w.announced_end = true;
            } else {
                started = true;
            }
        } else if w.announced_start && !w.announced_end && w.to <= now {
            w.announced_end = true;
            let count = core
                .store
                .suppressed_since(&w.service, w.from)?
                .iter()
                .filter(|s| s.at < w.to)
                .count();
            held = Some(count);
        } else {
            for t in [
                (!w.announced_start).then_some(w.from),
                (!w.announced_end).then_some(w.to),
            ]
            .into_iter()
            .flatten()
            {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            continue;
        }
        let ops: Vec<(String, Outbound)> = channel
            .into_iter()
            .flat_map(|c| {
                let start = started.then(|| Outbound::MaintenanceStarted {
                    channel: c.clone(),
                    service: w.service.clone(),
                    until: w.to,
                    reason: w.reason.clone(),
                    by: w.by.clone(),
                });
                let over = held.map(|held| Outbound::MaintenanceOver {
                    channel: c.clone(),
                    service: w.service.clone(),
                    held,
                });
                start.into_iter().chain(over).map(move |op| (c.clone(), op))
            })
            .collect();
        queued |= !ops.is_empty();
        core.store.put_window_with(&w, &ops, now)?;
        wrote = true;
        if !w.announced_end {
            next = Some(next.map_or(w.to, |n| n.min(w.to)));
        }
    }
    if wrote {
        core.store.durable().await?;
    }
    if queued {
        core.outbox_ready.notify_one();
    }
    Ok(next)
}
