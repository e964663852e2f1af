//! Maintenance windows: while one is in force on a service, its alerts are
//! recorded but page nobody, and the team channel is told once when the
//! window starts and once when it ends. Windows come from the config file or
//! from `/oncall maintenance`; both live in the store, so the announcements
//! survive restarts and are never repeated.

use crate::config::Config;
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
    let w = match core.store.window_at(service, now).await? {
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
    core.store.put_window(&w).await?;
    core.engine_wake.notify_one();
    Ok(w)
}

/// Ends the window in force on `service` now; `None` if there was none.
pub async fn end(core: &Core, service: &str) -> Result<Option<Window>, StoreError> {
    let now = core.clock.now();
    let Some(mut w) = core.store.window_at(service, now).await? else {
        return Ok(None);
    };
    w.to = now;
    core.store.put_window(&w).await?;
    core.engine_wake.notify_one();
    Ok(Some(w))
}

/// What a pass says about one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// It started: the channel is told, with its end.
    Started,
    /// It ended: the channel is told, with the alerts it held.
    Ended,
    /// Over before anyone could be told (tocsin was down): nothing is said.
    Quiet,
}

/// What a pass does with the maintenance windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Windows of the config file the store does not have yet.
    pub adopt: Vec<Window>,
    /// Windows to store again as marked announced, with what to say.
    pub marks: Vec<(Window, Mark)>,
    /// When the next start or end is due.
    pub next: Option<DateTime<Utc>>,
}

/// What to announce at `now`, given the windows the store has (`known`)
/// and those of the config file.
pub fn plan(config: &Config, mut known: Vec<Window>, now: DateTime<Utc>) -> Plan {
    let mut adopt = vec![];
    for s in &config.services {
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
                adopt.push(w.clone());
                known.push(w);
            }
        }
    }
    let mut next: Option<DateTime<Utc>> = None;
    let mut earliest = |t: DateTime<Utc>| next = Some(next.map_or(t, |n| n.min(t)));
    let mut marks = vec![];
    for mut w in known {
        if !w.announced_start && w.from <= now {
            w.announced_start = true;
            if w.to <= now {
                w.announced_end = true;
                marks.push((w, Mark::Quiet));
            } else {
                earliest(w.to);
                marks.push((w, Mark::Started));
            }
        } else if w.announced_start && !w.announced_end && w.to <= now {
            w.announced_end = true;
            marks.push((w, Mark::Ended));
        } else {
            if !w.announced_start {
                earliest(w.from);
            }
            if !w.announced_end {
                earliest(w.to);
            }
        }
    }
    Plan { adopt, marks, next }
}

/// Copies the config's windows into the store (once each), announces starts
/// and ends due by `now`, and returns when the next one is due.
pub async fn announce(
    core: &Core,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let Plan { adopt, marks, next } = plan(&core.config, core.store.windows().await?, now);
    for w in &adopt {
        core.store.put_window(w).await?;
    }
    let mut queued = false;
    for (w, mark) in marks {
        let channel = core
            .config
            .team_of_service(&w.service)
            .and_then(|t| t.alert_channel.clone());
        let started = mark == Mark::Started;
        let held = match mark {
            Mark::Ended => Some(
                core.store
                    .suppressed_since(&w.service, w.from)
                    .await?
                    .iter()
                    .filter(|s| s.at < w.to)
                    .count(),
            ),
            Mark::Started | Mark::Quiet => None,
        };
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
        core.store.put_window_with(&w, &ops, now).await?;
    }
    if queued {
        core.settle(crate::ops::Wake::OUTBOX);
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn window(from: DateTime<Utc>, to: DateTime<Utc>) -> Window {
        Window {
            service: "api".into(),
            from,
            to,
            reason: None,
            by: None,
            announced_start: false,
            announced_end: false,
        }
    }

    #[test]
    fn a_window_is_announced_at_its_start_and_its_end_once_each() {
        let config = Config::default();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        let w = window(t0, t0 + Duration::hours(1));
        let before = plan(&config, vec![w.clone()], t0 - Duration::minutes(1));
        assert!(before.marks.is_empty());
        assert_eq!(before.next, Some(t0));
        let start = plan(&config, vec![w.clone()], t0);
        assert_eq!(start.marks.len(), 1);
        let (started, mark) = &start.marks[0];
        assert_eq!(*mark, Mark::Started);
        assert!(started.announced_start && !started.announced_end);
        assert_eq!(start.next, Some(w.to));
        let during = plan(&config, vec![started.clone()], t0 + Duration::minutes(30));
        assert!(during.marks.is_empty());
        assert_eq!(during.next, Some(w.to));
        let end = plan(&config, vec![started.clone()], w.to);
        assert_eq!(end.marks[0].1, Mark::Ended);
        assert!(end.marks[0].0.announced_end);
        assert_eq!(end.next, None);
        // Missed entirely while tocsin was down: marked, nothing said.
        let missed = plan(&config, vec![w.clone()], w.to);
        assert_eq!(missed.marks[0].1, Mark::Quiet);
        assert!(missed.marks[0].0.announced_end);
    }
}
