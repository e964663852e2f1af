//! The reads adapters answer from: incidents, overrides, the audit log,
//! dead letters, reports and the store's health. Each is one look at the
//! store, changing nothing, so the adapters never hold the store themselves.

use super::Core;
use crate::domain::incident::Incident;
use crate::domain::report::Report;
use crate::domain::schedule::Override;
use crate::store::{AuditEntry, Health, OutboxItem, StoreError};
use chrono::{DateTime, Utc};

impl Core {
    /// Incident `id`, if there is one.
    pub async fn incident(&self, id: u64) -> Result<Option<Incident>, StoreError> {
        self.store.incident(id).await
    }

    /// The incident whose own channel is `channel`, if any.
    pub async fn incident_by_room(&self, channel: &str) -> Result<Option<Incident>, StoreError> {
        self.store.incident_by_room(channel).await
    }

    /// The incidents not yet resolved.
    pub async fn open_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.store.open_incidents().await
    }

    /// How many incidents are not yet resolved.
    pub async fn open_count(&self) -> Result<usize, StoreError> {
        self.store.open_count().await
    }

    /// The overrides people put on `schedule`, oldest first (later ones win).
    pub async fn overrides(&self, schedule: &str) -> Result<Vec<Override>, StoreError> {
        Ok(self
            .store
            .overrides(schedule)
            .await?
            .into_iter()
            .map(|o| o.over)
            .collect())
    }

    /// The latest `limit` changes to `team`'s arrangements, newest first.
    pub async fn audit(&self, team: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.store.audit(team, limit).await
    }

    /// Outbound work waiting to be sent, by sequence.
    pub async fn outbox_pending(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        self.store.pending().await
    }

    /// The outbound work refused for good, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        self.store.dead_letters().await
    }

    /// How many dead letters are kept.
    pub fn dead_count(&self) -> usize {
        self.store.dead_count()
    }

    /// Whether the store takes writes, and its free space.
    pub fn health(&self) -> Health {
        self.store.health()
    }

    /// The report for `team` over `[from, to)`.
    pub async fn report(
        &self,
        team: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Report, StoreError> {
        super::report::build(&self.config, &self.store, team, from, to).await
    }

    /// The report over `[from, to)` and the one of the same length before it.
    pub async fn report_with_previous(
        &self,
        team: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(Report, Report), StoreError> {
        super::report::build_with_previous(&self.config, &self.store, team, from, to).await
    }
}
