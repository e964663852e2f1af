//! The application layer: every use case that changes tocsin's state.
//!
//! Adapters (HTTP, Slack's inbound requests and commands, Twilio's voice
//! webhooks, the engine) call these operations; they never write to the
//! store themselves. An operation loads what it needs, decides with the pure
//! domain code, and commits the new state together with the outbound work it
//! causes in one store write, which is on disk when it returns; `settle`
//! then wakes the workers it concerns.

pub mod alert;
pub mod calls;
mod changes;
pub mod dead_letters;
mod feed;
pub mod heartbeat;
pub mod home;
mod incident;
pub mod maintenance;
mod queries;
pub use queries::{IncidentPage, IncidentQuery, OnCall};
mod replays;
pub mod report;
pub mod room;
pub mod schedule;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::incident::{Incident, State};
use crate::ingest::mappings::Mappings;
use crate::settings::Secret;
use crate::store::Store;
use std::sync::{Arc, OnceLock};
use tokio::sync::Notify;

/// What every handler needs: a cheap clone around shared handles.
#[derive(Clone)]
pub struct Core {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: Clock,
    /// Poked after anything is added to the outbox.
    pub outbox_ready: Arc<Notify>,
    pub slack_signing_secret: Option<Secret>,
    /// Verifies Twilio's voice webhooks; `None` refuses them all.
    pub twilio_auth_token: Option<Secret>,
    /// Base of links tocsin hands out (calendar feeds, voice webhooks).
    pub public_url: String,
    /// Poked when something the engine schedules from has changed (an override).
    pub engine_wake: Arc<Notify>,
    /// Compiled webhook mappings, by name.
    pub mappings: Arc<Mappings>,
    /// Bearer token of the API that may write; with `api_read_token` also
    /// `None`, the API is off.
    pub api_token: Option<Secret>,
    /// Bearer token of the API that may only read.
    pub api_read_token: Option<Secret>,
    /// The Slack workspace and app tocsin is installed in, once Slack said
    /// (`auth.test` at start); requests from elsewhere are then refused.
    pub installation: Arc<OnceLock<Installation>>,
    /// True while Slack refuses the bot token and the Slack lanes wait
    /// (set by the outbox worker, shown on `/metrics`).
    pub slack_auth_failing: Arc<std::sync::atomic::AtomicBool>,
}

/// The workspace (team) and app the bot token belongs to, learned from Slack
/// at start. Once known, requests naming another are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    pub team_id: String,
    /// `None` when Slack did not say (then only the team is checked).
    pub app_id: Option<String>,
}

/// Which workers a committed change concerns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wake {
    /// Outbound work was queued.
    pub outbox: bool,
    /// Something the engine schedules from changed (a due time, an override).
    pub engine: bool,
}

impl Wake {
    pub const NONE: Wake = Wake {
        outbox: false,
        engine: false,
    };
    pub const OUTBOX: Wake = Wake {
        outbox: true,
        engine: false,
    };
    pub const ENGINE: Wake = Wake {
        outbox: false,
        engine: true,
    };
    pub const BOTH: Wake = Wake {
        outbox: true,
        engine: true,
    };
}

impl Core {
    /// The ending of every change: wakes the workers `wake` names. The
    /// store's writes are durable when they return, so by now the work it
    /// announces is on disk and no worker can act on a write a crash loses.
    pub fn settle(&self, wake: Wake) {
        if wake.outbox {
            self.outbox_ready.notify_one();
        }
        if wake.engine {
            self.engine_wake.notify_one();
        }
    }
}

/// Counts an incident opening, or the state it was just moved to.
pub(crate) fn counted(inc: &Incident, opened: bool) {
    let name = match (opened, inc.state) {
        (true, _) => "tocsin_incidents_opened_total",
        (false, State::Acknowledged) => "tocsin_incidents_acknowledged_total",
        (false, State::Resolved) => "tocsin_incidents_resolved_total",
        (false, State::Triggered) => return,
    };
    crate::metrics::global().inc(
        name,
        &[
            ("service", &inc.service_id),
            ("severity", inc.alert.severity.as_str()),
        ],
    );
}
