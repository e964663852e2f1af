//! Alert events into incidents: the one path from a parsed event to the store.

mod feedback;
mod pipeline;

pub use feedback::Regrouped;

use super::Core;
use crate::domain::incident::Incident;
use crate::ingest::AlertEvent;
use crate::store::{AlertsStopped, Changed, StoreError, Triggered};
use pipeline::Ruled;

/// What applying an event did.
#[derive(Debug, Clone)]
pub enum Outcome {
    Triggered(Triggered),
    Changed(Changed),
    /// One alert of a grouped incident changed; the incident is still open.
    Updated(Box<Incident>),
    /// An event rule suppressed it: recorded, nobody paged.
    Suppressed,
    /// An event rule dropped it.
    Dropped,
}

impl From<AlertsStopped> for Outcome {
    fn from(s: AlertsStopped) -> Outcome {
        match s {
            AlertsStopped::Resolved(changed) => Outcome::Changed(changed),
            AlertsStopped::Firing(incident) => Outcome::Updated(Box::new(incident)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no service has this integration key")]
    UnknownKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies alert events durably, then wakes whoever drains the outbox.
#[derive(Clone)]
pub struct Ingest {
    pub core: Core,
}

impl Ingest {
    /// Applies `ev` and returns once it is durable on disk.
    ///
    /// The stages run in order (see `pipeline`): the event rules may drop,
    /// suppress or reroute the alert; a maintenance window records it
    /// instead of paging; grouping picks the incident; commit writes it.
    pub async fn apply(&self, ev: &AlertEvent) -> Result<Outcome, IngestError> {
        let core = &self.core;
        let received = core
            .config
            .service_by_key(&ev.routing_key)
            .ok_or(IngestError::UnknownKey)?;
        let now = core.clock.now();
        let outlier = pipeline::outlier_for_rules(core, received, ev, now).await?;
        let routed = match pipeline::rules(&core.config, received, ev, outlier) {
            Ruled::Go(routed) => routed,
            Ruled::Drop => {
                tracing::debug!(service = %received.id, dedup_key = %ev.dedup_key, "dropped by an event rule");
                return Ok(Outcome::Dropped);
            }
            Ruled::Suppress(record) => return pipeline::suppress(core, record).await,
        };
        if let Some(record) = pipeline::maintenance(ev, &routed) {
            if core.store.window_at(record.service, now).await?.is_some() {
                return pipeline::suppress(core, Some(record)).await;
            }
        }
        let write = pipeline::plan(core, ev, &routed, now).await?;
        pipeline::commit(core, write, now).await
    }
}
