//! Signals in sled: change events, suppressed alerts, maintenance windows,
//! the audit log, heartbeats, named cursors, and the inbound Slack event ids
//! already taken.

use super::{push_outbox, SledStore, Transactional, TxResult};
use crate::domain::incident::Change;
use crate::store::signals as record;
use crate::store::{AuditEntry, Outbound, StoreError, Suppressed, Window};
use chrono::{DateTime, Utc};

fn change_prefix(service: &str) -> Vec<u8> {
    let mut k = service.as_bytes().to_vec();
    k.push(0);
    k
}

fn corrupt(tree: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        tree,
        message: e.to_string(),
    }
}

impl SledStore {
    /// Records a change to `service`, durably once `durable()` returns.
    pub fn add_change(&self, service: &str, change: &Change) -> Result<(), StoreError> {
        self.admit()?;
        let tr = self.trees()?;
        let seq = tr.db.generate_id()?;
        let mut key = change_prefix(service);
        key.extend_from_slice(&change.at.timestamp_millis().to_be_bytes());
        key.extend_from_slice(&seq.to_be_bytes());
        let json = record::encode(change).map_err(|e| corrupt("changes", e))?;
        tr.changes.insert(key, json)?;
        Ok(())
    }

    /// Changes to `service` at or after `since`, oldest first.
    pub fn changes_since(
        &self,
        service: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Change>, StoreError> {
        let tr = self.reader()?;
        // Asked on every alert; most services have no recent changes at all.
        if tr.changes.is_empty() {
            return Ok(vec![]);
        }
        let prefix = change_prefix(service);
        let mut from = prefix.clone();
        from.extend_from_slice(&since.timestamp_millis().to_be_bytes());
        let mut out = vec![];
        for kv in tr.changes.range(from..) {
            let (k, v) = kv?;
            if !k.starts_with(&prefix) {
                break;
            }
            let c: Change = record::decode(&v).map_err(|e| corrupt("changes", e))?;
            out.push(c);
        }
        Ok(out)
    }

    /// Forgets changes and suppressed alerts older than `before`; returns how many.
    pub fn prune_changes(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let tr = self.trees()?;
        let mut removed = 0;
        for tree in [&tr.changes, &tr.suppressed] {
            for kv in tree.iter() {
                let (k, _) = kv?;
                // The key holds the time, after the service id and its NUL.
                let at = k
                    .iter()
                    .position(|b| *b == 0)
                    .and_then(|i| k.get(i + 1..i + 9))
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(i64::from_be_bytes);
                if at.is_none_or(|ms| ms < before.timestamp_millis()) {
                    tree.remove(k)?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Adds or replaces the window of `w.service` starting at `w.from`.
    pub fn put_window(&self, w: &Window) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let mut key = change_prefix(&w.service);
        key.extend_from_slice(&w.from.timestamp_millis().to_be_bytes());
        let json = record::encode(w).map_err(|e| corrupt("maintenance", e))?;
        tr.maintenance.insert(key, json)?;
        Ok(())
    }

    /// Saves `w` and queues `notices` in one transaction: a window's start or
    /// end is announced exactly once, even across a crash.
    pub fn put_window_with(
        &self,
        w: &Window,
        notices: &[(String, Outbound)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let mut key = change_prefix(&w.service);
        key.extend_from_slice(&w.from.timestamp_millis().to_be_bytes());
        let json = record::encode(w).map_err(|e| corrupt("maintenance", e))?;
        (&tr.meta, &tr.outbox, &tr.maintenance).transaction(
            |(meta, outbox, maintenance)| -> TxResult<()> {
                maintenance.insert(key.as_slice(), json.as_slice())?;
                for (lane, op) in notices {
                    push_outbox(meta, outbox, lane, op.clone(), at)?;
                }
                Ok(())
            },
        )?;
        Ok(())
    }

    /// Appends to the team's audit log (durable with the next `durable()`).
    pub fn add_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let seq = tr.db.generate_id()?;
        let mut key = change_prefix(&e.team);
        key.extend_from_slice(&e.at.timestamp_millis().to_be_bytes());
        key.extend_from_slice(&seq.to_be_bytes());
        let json = record::encode(e).map_err(|e| corrupt("audit", e))?;
        tr.audit.insert(key, json)?;
        Ok(())
    }

    /// The team's latest `limit` audit entries, newest first.
    pub fn audit(&self, team: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let tr = self.reader()?;
        tr.audit
            .scan_prefix(change_prefix(team))
            .rev()
            .take(limit)
            .map(|kv| {
                let (_, v) = kv?;
                record::decode(&v).map_err(|e| corrupt("audit", e))
            })
            .collect()
    }

    /// A named cursor (e.g. the last weekly report sent), if ever set.
    pub fn cursor(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let tr = self.reader()?;
        let Some(v) = tr.meta.get(format!("cursor:{name}"))? else {
            return Ok(None);
        };
        let s = std::str::from_utf8(&v).map_err(|e| corrupt("meta", e))?;
        DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| corrupt("meta", e))
    }

    /// Moves cursor `name` to `to` and queues `work`, in one transaction: the
    /// work is queued once, whatever happens around it.
    pub fn set_cursor_with(
        &self,
        name: &str,
        to: DateTime<Utc>,
        work: &[(String, Outbound)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let key = format!("cursor:{name}");
        let value = to.to_rfc3339();
        (&tr.meta, &tr.outbox).transaction(|(meta, outbox)| -> TxResult<()> {
            meta.insert(key.as_bytes(), value.as_bytes())?;
            for (lane, op) in work {
                push_outbox(meta, outbox, lane, op.clone(), at)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Every maintenance window, by service then start.
    pub fn windows(&self) -> Result<Vec<Window>, StoreError> {
        let tr = self.reader()?;
        tr.maintenance
            .iter()
            .map(|kv| {
                let (_, v) = kv?;
                record::decode(&v).map_err(|e| corrupt("maintenance", e))
            })
            .collect()
    }

    /// The window of `service` in force at `t`, if any.
    pub fn window_at(&self, service: &str, t: DateTime<Utc>) -> Result<Option<Window>, StoreError> {
        let tr = self.reader()?;
        // Asked on every alert; usually there is no window at all.
        if tr.maintenance.is_empty() {
            return Ok(None);
        }
        let prefix = change_prefix(service);
        for kv in tr.maintenance.scan_prefix(&prefix) {
            let (_, v) = kv?;
            let w: Window = record::decode(&v).map_err(|e| corrupt("maintenance", e))?;
            if w.active_at(t) {
                return Ok(Some(w));
            }
        }
        Ok(None)
    }

    /// Records an alert a rule suppressed.
    pub fn add_suppressed(&self, service: &str, s: &Suppressed) -> Result<(), StoreError> {
        self.admit()?;
        let tr = self.trees()?;
        let seq = tr.db.generate_id()?;
        let mut key = change_prefix(service);
        key.extend_from_slice(&s.at.timestamp_millis().to_be_bytes());
        key.extend_from_slice(&seq.to_be_bytes());
        let json = record::encode(s).map_err(|e| corrupt("suppressed", e))?;
        tr.suppressed.insert(key, json)?;
        Ok(())
    }

    /// Records a labelled pair of `service`'s alerts.
    pub fn add_label(
        &self,
        service: &str,
        pair: &crate::domain::similarity::Pair,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let seq = tr.db.generate_id()?;
        let mut key = change_prefix(service);
        key.extend_from_slice(&at.timestamp_millis().to_be_bytes());
        key.extend_from_slice(&seq.to_be_bytes());
        let json = record::encode(pair).map_err(|e| corrupt("labels", e))?;
        tr.labels.insert(key, json)?;
        Ok(())
    }

    /// The latest `limit` labelled pairs of `service`, oldest first.
    pub fn labels(
        &self,
        service: &str,
        limit: usize,
    ) -> Result<Vec<crate::domain::similarity::Pair>, StoreError> {
        let tr = self.reader()?;
        let mut out = vec![];
        for kv in tr.labels.scan_prefix(change_prefix(service)).rev() {
            if out.len() >= limit {
                break;
            }
            let (_, v) = kv?;
            out.push(record::decode(&v).map_err(|e| corrupt("labels", e))?);
        }
        out.reverse();
        Ok(out)
    }

    /// Alerts suppressed on `service` at or after `since`, oldest first.
    pub fn suppressed_since(
        &self,
        service: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Suppressed>, StoreError> {
        let tr = self.reader()?;
        let prefix = change_prefix(service);
        let mut from = prefix.clone();
        from.extend_from_slice(&since.timestamp_millis().to_be_bytes());
        let mut out = vec![];
        for kv in tr.suppressed.range(from..) {
            let (k, v) = kv?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push(record::decode(&v).map_err(|e| corrupt("suppressed", e))?);
        }
        Ok(out)
    }

    /// Records a beat of heartbeat monitor `id` at `at`.
    pub fn beat(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let tr = self.trees()?;
        tr.heartbeats
            .insert(id.as_bytes(), at.to_rfc3339().as_bytes())?;
        Ok(())
    }

    /// The last beat of monitor `id`, if it ever beat.
    pub fn last_beat(&self, id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let tr = self.reader()?;
        let Some(v) = tr.heartbeats.get(id.as_bytes())? else {
            return Ok(None);
        };
        let s = std::str::from_utf8(&v).map_err(|e| corrupt("heartbeats", e))?;
        DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| corrupt("heartbeats", e))
    }
}

impl SledStore {
    /// The last beat an incident was opened for (a miss is reported once).
    pub fn heartbeat_alerted(&self, id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.last_beat(&alerted_key(id))
    }

    pub fn set_heartbeat_alerted(&self, id: &str, last: DateTime<Utc>) -> Result<(), StoreError> {
        self.beat(&alerted_key(id), last)
    }
}

/// Kept beside the beats; a NUL cannot occur in a config id.
fn alerted_key(id: &str) -> String {
    format!("{id}\0alerted")
}

impl SledStore {
    /// Forgets Slack event ids first seen before `before` (Slack retries for
    /// minutes, not hours). Returns how many were removed.
    pub fn prune_slack_events(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let tr = self.trees()?;
        let mut removed = 0;
        for kv in tr.slack_events.iter() {
            let (k, v) = kv?;
            let seen = std::str::from_utf8(&v)
                .ok()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
            if seen.is_none_or(|t| t < before) {
                tr.slack_events.remove(k)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Forgets a Slack `event_id` whose handling failed, so Slack's retry is taken.
    pub fn forget_slack_event(&self, event_id: &str) -> Result<(), StoreError> {
        let tr = self.trees()?;
        tr.slack_events.remove(event_id.as_bytes())?;
        Ok(())
    }

    /// True the first time a Slack `event_id` is seen; false for retries.
    pub fn first_sight_of_event(
        &self,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let tr = self.trees()?;
        let r = tr.slack_events.compare_and_swap(
            event_id.as_bytes(),
            None as Option<&[u8]>,
            Some(at.to_rfc3339().as_bytes()),
        )?;
        Ok(r.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use chrono::{Duration, TimeZone};

    fn change(summary: &str, at: DateTime<Utc>) -> Change {
        Change {
            summary: summary.into(),
            source: None,
            at,
            link: None,
        }
    }

    #[tokio::test]
    async fn changes_are_kept_per_service_in_time_order_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        store
            .add_change("api", &change("deploy v2", t0))
            .await
            .unwrap();
        store
            .add_change("api", &change("deploy v1", t0 - Duration::hours(2)))
            .await
            .unwrap();
        store
            .add_change("apiary", &change("other", t0))
            .await
            .unwrap();
        store.add_change("ap", &change("other", t0)).await.unwrap();
        let got = store
            .changes_since("api", t0 - Duration::hours(3))
            .await
            .unwrap();
        let names: Vec<&str> = got.iter().map(|c| c.summary.as_str()).collect();
        assert_eq!(names, ["deploy v1", "deploy v2"]);
        assert_eq!(
            store
                .changes_since("api", t0 - Duration::hours(1))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store.prune_changes(t0 - Duration::hours(1)).await.unwrap(),
            1
        );
        assert_eq!(
            store
                .changes_since("api", t0 - Duration::days(9))
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn beats_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        assert_eq!(store.last_beat("backup").await.unwrap(), None);
        store.beat("backup", t0).await.unwrap();
        assert_eq!(store.last_beat("backup").await.unwrap(), Some(t0));
    }
}
