//! The reads adapters answer from: incidents, overrides, the audit log,
//! dead letters, reports and the store's health. Each is one look at the
//! store, changing nothing, so the adapters never hold the store themselves.

use super::Core;
use crate::config::{Config, Schedule};
use crate::domain::incident::{Incident, State};
use crate::domain::report::Report;
use crate::domain::schedule::{shifts, Override, Shift};
use crate::store::{AuditEntry, Health, OutboxItem, StoreError, StoredOverride};
use chrono::{DateTime, Duration, Utc};

/// Which incidents a listing wants, newest first, a page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentQuery {
    /// Any of these states; empty: every state.
    pub states: Vec<State>,
    pub service: Option<String>,
    /// The team owning the incident's service.
    pub team: Option<String>,
    /// Opened at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only ids below this one: where the previous page ended.
    pub before: Option<u64>,
    /// At most this many (at least one).
    pub limit: usize,
}

/// One page of a listing, and the id the next page starts below, if any.
#[derive(Debug, Clone)]
pub struct IncidentPage {
    pub incidents: Vec<Incident>,
    pub next_before: Option<u64>,
}

impl IncidentQuery {
    fn wants(&self, config: &Config, inc: &Incident) -> bool {
        (self.states.is_empty() || self.states.contains(&inc.state))
            && self.service.as_ref().is_none_or(|s| *s == inc.service_id)
            && self.team.as_ref().is_none_or(|t| {
                config
                    .team_of_service(&inc.service_id)
                    .is_some_and(|team| team.id == *t)
            })
            && self.since.is_none_or(|since| inc.created_at >= since)
            && self.before.is_none_or(|b| inc.id < b)
    }

    /// The page this query picks out of `all` (in any order): pure, so the
    /// paging is tested without a store.
    pub fn page(&self, config: &Config, all: Vec<Incident>) -> IncidentPage {
        let mut hits: Vec<Incident> = all.into_iter().filter(|i| self.wants(config, i)).collect();
        hits.sort_unstable_by_key(|i| std::cmp::Reverse(i.id));
        let limit = self.limit.max(1);
        let more = hits.len() > limit;
        hits.truncate(limit);
        IncidentPage {
            next_before: more.then(|| hits.last().map(|i| i.id)).flatten(),
            incidents: hits,
        }
    }
}

/// Who is on call for a schedule at an instant, and over which shift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    pub schedule: String,
    pub shift: Shift,
}

/// How far ahead an on-call answer looks for the end of the shift.
const ON_CALL_HORIZON_DAYS: i64 = 60;

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

    /// The incidents `q` asks for, one page of them.
    pub async fn find_incidents(&self, q: &IncidentQuery) -> Result<IncidentPage, StoreError> {
        Ok(q.page(&self.config, self.store.incidents().await?))
    }

    /// Who is on call for `schedule` at `at`, with their shift (cut at 60
    /// days ahead); the shift's `user` is `None` when nobody is.
    pub async fn on_call(
        &self,
        schedule: &Schedule,
        at: DateTime<Utc>,
    ) -> Result<OnCall, StoreError> {
        let overrides = self.overrides(&schedule.id).await?;
        let horizon = at + Duration::days(ON_CALL_HORIZON_DAYS);
        let shift = shifts(schedule, &overrides, at, horizon)
            .into_iter()
            .next()
            .unwrap_or(Shift {
                user: None,
                start: at,
                end: horizon,
            });
        Ok(OnCall {
            schedule: schedule.id.clone(),
            shift,
        })
    }

    /// The overrides of `schedule` as stored (with their ids), oldest first.
    pub async fn stored_overrides(
        &self,
        schedule: &str,
    ) -> Result<Vec<StoredOverride>, StoreError> {
        self.store.overrides(schedule).await
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
