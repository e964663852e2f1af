//! Monitoring payloads in, typed alert events out.
//!
//! Each wire format has a parser that turns bytes into an [`AlertEvent`] or a
//! list of precise errors; `ops::alert::Ingest::apply` is the one path from
//! an event to the store.

pub mod alertmanager;
pub mod email;
pub mod events_v2;
pub mod limits;
pub mod mappings;
pub mod opsgenie;
pub mod stream;
pub mod webhook;

use crate::domain::incident::{AlertDetails, SubAlert};

/// What an alert asks for, independent of the format it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub routing_key: String,
    pub dedup_key: String,
    pub action: AlertAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlertAction {
    Trigger(Box<AlertDetails>),
    Acknowledge,
    Resolve,
    /// The current state of a group of alerts (an Alertmanager group): opens
    /// or updates the group's incident while any fires, resolves it when none do.
    Group {
        details: Box<AlertDetails>,
        alerts: Vec<SubAlert>,
    },
}
