//! Stored record types, versioned independently of wire formats and domain types.
//!
//! Every record carries `"v"`; a reader that meets a version it does not know
//! fails loudly instead of guessing. New versions add a variant and an upgrade.

use crate::incident::Incident;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
pub(crate) enum IncidentRecord {
    #[serde(rename = "1")]
    V1(Incident),
}

impl IncidentRecord {
    pub(crate) fn into_current(self) -> Incident {
        match self {
            IncidentRecord::V1(i) => i,
        }
    }
}

/// One piece of Slack work, described in tocsin's terms; rendered when sent so
/// a message always shows the incident's latest state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SlackOp {
    /// Announce a new incident in its alert channel.
    PostIncident { incident: u64, channel: String },
    /// Re-render the incident's message in place.
    UpdateIncident { incident: u64 },
    /// Answer a slash command or click through its `response_url`.
    Respond { response_url: String, text: String },
}

/// An outbox entry. Entries of one `lane` (a Slack channel) are sent in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub lane: String,
    pub op: SlackOp,
    pub enqueued_at: DateTime<Utc>,
    pub attempts: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "v")]
pub(crate) enum OutboxRecord {
    #[serde(rename = "1")]
    V1(OutboxItem),
}

impl OutboxRecord {
    pub(crate) fn into_current(self) -> OutboxItem {
        match self {
            OutboxRecord::V1(i) => i,
        }
    }
}
