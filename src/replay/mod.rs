//! `tocsin replay`: what a config would have done with a recorded alert
//! stream. The stream runs through the real pipeline (the ingest parsers,
//! `ops::alert::Ingest`, the engine's modules) on a throw-away store, with
//! a manual clock moved from one received time to the next and stopped at
//! every due time on the way. Nothing is sent: the notifications the
//! outbox would have delivered are read back from it as pages.
//!
//! Nobody acknowledges in a replay, so an incident that the stream does not
//! resolve runs its whole escalation policy. Heartbeat monitors are left
//! out (their beats are not in the stream). Held low-urgency pages and the
//! last escalations play out for up to [`TAIL_HOURS`] after the last line.

mod table;

pub use table::table;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::notice::Outbound;
use crate::domain::replay::{summarise, Lines, Page, Summary};
use crate::ingest::mappings::Mappings;
use crate::ingest::stream::{self, Asked, Received};
use crate::ingest::AlertAction;
use crate::ops::alert::{Ingest, IngestError, Outcome};
use crate::ops::Core;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio::sync::Notify;

/// How long after the last line the engine keeps running.
pub const TAIL_HOURS: i64 = 72;
/// The engine's shortest wait between passes, as `engine::run` keeps it.
const MIN_STEP_MS: i64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Stream(String),
    #[error("the throw-away store failed: {0}")]
    Store(#[from] StoreError),
    #[error("cannot make a directory for the throw-away store: {0}")]
    Scratch(std::io::Error),
    #[error("the engine kept finding work due and was stopped at {0}")]
    Runaway(DateTime<Utc>),
}

/// A config and its compiled webhook mappings, as `tocsin serve` loads them.
pub fn load_config(path: &Path) -> Result<(Config, Mappings), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let mappings = Mappings::load(&config, path.parent()).map_err(|p| p.join("\n"))?;
    Ok((config, mappings))
}

/// Reads a stream; a line that is not the format stops it, with its number.
pub fn read_stream(name: &str, text: &str) -> Result<Vec<Received>, ReplayError> {
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r = stream::parse_line(line)
            .map_err(|e| ReplayError::Stream(format!("{name}:{}: {e}", i + 1)))?;
        out.push(r);
    }
    Ok(out)
}

/// A line the pipeline refused, and why (what its endpoint would have answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The line's place in the stream, from 1, in received order.
    pub line: usize,
    pub why: String,
}

/// Replays `lines` (in received order; ties keep their order) with `config`.
pub async fn run(
    config: &Config,
    mappings: Arc<Mappings>,
    lines: &[Received],
) -> Result<(Summary, Vec<Refusal>), ReplayError> {
    let mut config = config.clone();
    for s in &mut config.services {
        s.heartbeats.clear();
    }
    let mut order: Vec<&Received> = lines.iter().collect();
    order.sort_by_key(|r| r.received_at);
    let start = order
        .first()
        .map_or(DateTime::UNIX_EPOCH, |r| r.received_at);
    let dir = tempfile::Builder::new()
        .prefix("tocsin-replay-")
        .tempdir()
        .map_err(ReplayError::Scratch)?;
    let store = Store::scratch(dir.path())?;
    let core = Core {
        store,
        config: Arc::new(config),
        clock: Clock::manual(start),
        outbox_ready: Arc::new(Notify::new()),
        slack_signing_secret: None,
        twilio_auth_token: None,
        public_url: "http://127.0.0.1:3000".into(),
        engine_wake: Arc::new(Notify::new()),
        mappings,
        api_token: None,
        api_read_token: None,
        installation: Arc::new(OnceLock::new()),
        slack_auth_failing: Default::default(),
    };
    let ingest = Ingest { core: core.clone() };
    let mut engine = Engine::new(1_000 + 50 * order.len());
    let mut counted = Lines {
        read: order.len(),
        ..Lines::default()
    };
    let mut alerts = 0;
    // Each group's firing alerts, as its last notification said: a
    // notification's alerts count once, when they start firing.
    let mut firing: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    let mut refused = vec![];
    for (i, r) in order.iter().enumerate() {
        engine.run_until(&core, r.received_at).await?;
        set_clock(&core.clock, r.received_at);
        let n = i + 1;
        let asked = stream::event(
            r,
            &core.config,
            &core.mappings,
            || format!("replay-{n}"),
            r.received_at,
        );
        let ev = match asked {
            Ok(Asked::Event(ev)) => ev,
            Ok(Asked::Nothing(_)) => {
                counted.other += 1;
                continue;
            }
            Err(why) => {
                counted.refused += 1;
                refused.push(Refusal { line: n, why });
                continue;
            }
        };
        let new = match &ev.action {
            AlertAction::Trigger(_) => 1,
            AlertAction::Group { alerts, .. } => {
                let now: BTreeSet<String> = alerts
                    .iter()
                    .filter(|a| a.firing)
                    .map(|a| a.key.clone())
                    .collect();
                let key = (ev.routing_key.clone(), ev.dedup_key.clone());
                let before = firing.insert(key, now.clone()).unwrap_or_default();
                now.difference(&before).count()
            }
            AlertAction::Acknowledge | AlertAction::Resolve => 0,
        };
        if new > 0 {
            alerts += new;
        } else {
            counted.other += 1;
        }
        match ingest.apply(&ev).await {
            Ok(Outcome::Dropped) => counted.dropped += 1,
            Ok(Outcome::Suppressed) => counted.suppressed += 1,
            Ok(_) => {}
            Err(IngestError::UnknownKey) => {
                counted.refused += 1;
                refused.push(Refusal {
                    line: n,
                    why: "unknown integration key".into(),
                });
            }
            Err(IngestError::Store(e)) => return Err(e.into()),
        }
    }
    if let Some(last) = order.last() {
        engine
            .run_until(&core, last.received_at + Duration::hours(TAIL_HOURS))
            .await?;
    }
    let incidents = core.store.incidents().await?;
    let pages = pages(&core.config, &core.store).await?;
    let summary = summarise(&core.config, alerts, counted, &incidents, &pages);
    Ok((summary, refused))
}

fn set_clock(clock: &Clock, to: DateTime<Utc>) {
    let now = clock.now();
    if to > now {
        clock.advance(to - now);
    }
}

/// The engine's loop on the manual clock: a pass at every due time.
struct Engine {
    /// When the last pass said its modules are next due.
    next: Option<DateTime<Utc>>,
    last_pass: Option<DateTime<Utc>>,
    /// Passes left before the replay is called a runaway.
    budget: usize,
}

impl Engine {
    fn new(budget: usize) -> Engine {
        Engine {
            next: None,
            last_pass: None,
            budget,
        }
    }

    /// Runs every pass due up to `until`, moving the clock to each.
    async fn run_until(&mut self, core: &Core, until: DateTime<Utc>) -> Result<(), ReplayError> {
        loop {
            let indexed = core.store.next_due().await?;
            let due = match (self.next, indexed) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // As the live loop, never twice within its shortest wait.
            let due = match (due, self.last_pass) {
                (Some(d), Some(l)) => Some(d.max(l + Duration::milliseconds(MIN_STEP_MS))),
                (d, _) => d,
            };
            let Some(at) = due.filter(|d| *d <= until) else {
                return Ok(());
            };
            if self.budget == 0 {
                return Err(ReplayError::Runaway(at));
            }
            self.budget -= 1;
            set_clock(&core.clock, at);
            self.next = crate::engine::pass(core).await?;
            self.last_pass = Some(core.clock.now());
        }
    }
}

/// The notifications queued for people, read back from the outbox.
async fn pages(config: &Config, store: &Store) -> Result<Vec<Page>, StoreError> {
    let by_slack: HashMap<&str, &str> = config
        .users
        .iter()
        .filter_map(|u| Some((u.slack_id.as_deref()?, u.id.as_str())))
        .collect();
    let by_phone: HashMap<&str, &str> = config
        .users
        .iter()
        .filter_map(|u| Some((u.phone.as_deref()?, u.id.as_str())))
        .collect();
    let mut out = vec![];
    for (_, item) in store.pending().await? {
        let (user, via, incident) = match &item.op {
            Outbound::PageUser { incident, user, .. } => {
                (by_slack.get(user.as_str()), "slack", *incident)
            }
            Outbound::PageReminder { to, incident, .. } => {
                (by_slack.get(to.as_str()), "slack", *incident)
            }
            Outbound::Sms { incident, to } => (by_phone.get(to.as_str()), "sms", *incident),
            Outbound::Call { incident, user, .. } => (Some(&user.as_str()), "phone", *incident),
            _ => continue,
        };
        if let Some(user) = user {
            out.push(Page {
                user: user.to_string(),
                at: item.enqueued_at,
                via: via.into(),
                incident,
            });
        }
    }
    Ok(out)
}

/// The JSON report: the first config's summary with its name as `config`,
/// and the second, if any, the same way under `compare`.
pub fn json(runs: &[(String, Summary)]) -> String {
    let one = |(name, s): &(String, Summary)| {
        let mut v = serde_json::to_value(s).expect("a summary serialises");
        v["config"] = name.clone().into();
        v
    };
    let mut out = runs.first().map(one).unwrap_or_default();
    if let Some(second) = runs.get(1) {
        out["compare"] = one(second);
    }
    serde_json::to_string_pretty(&out).expect("a JSON value serialises")
}

#[cfg(test)]
mod tests;
