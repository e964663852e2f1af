//! The conformance suite (`store::conformance`) run on sled, one test per
//! property.

use super::{SledStore, K_SCHEMA};
use crate::store::conformance::{self as suite, Factory};
use crate::store::port::Storage;
use crate::store::StoreError;
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

struct Sled;

/// Retries `open` while sled's threads still hold the directory's lock a
/// moment after its last handle went, as a process exiting would.
async fn unlocked<T>(open: impl Fn() -> Result<T, StoreError>) -> Result<T, StoreError> {
    for _ in 0..200 {
        match open() {
            Err(StoreError::Backend(e)) if e.contains("lock") => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => return other,
        }
    }
    panic!("the directory stayed locked for 2 s");
}

#[async_trait]
impl Factory for Sled {
    async fn open(&self, place: &Path) -> Result<Arc<dyn Storage>, StoreError> {
        let s = unlocked(|| SledStore::open(place, 1 << 20)).await?;
        Ok(Arc::new(s))
    }

    fn schema(&self) -> u64 {
        super::SCHEMA_VERSION
    }

    async fn set_schema(&self, place: &Path, version: u64) {
        // Raw: a store refuses to open a newer schema.
        let db = unlocked(|| Ok(sled::open(place)?)).await.unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert(K_SCHEMA, &version.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }

    async fn crash_copy(&self, _store: &Arc<dyn Storage>, from: &Path, to: &Path) {
        copy_dir(from, to);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transitions_are_compare_and_swap() {
    suite::transitions_are_compare_and_swap(&Sled).await;
}

#[tokio::test]
async fn the_due_index_moves_with_the_incident() {
    suite::the_due_index_moves_with_the_incident(&Sled).await;
}

#[tokio::test]
async fn the_outbox_keeps_order_per_lane() {
    suite::the_outbox_keeps_order_per_lane(&Sled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_share_group_commits() {
    suite::writers_share_group_commits(&Sled).await;
}

#[tokio::test]
async fn the_schema_version_is_checked_and_upgraded() {
    suite::the_schema_version_is_checked_and_upgraded(&Sled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_keeps_each_write_whole() {
    suite::a_crash_keeps_each_write_whole(&Sled).await;
}

#[tokio::test]
async fn claims_carry_growing_fencing_tokens() {
    suite::claims_carry_growing_fencing_tokens(&Sled).await;
}

#[tokio::test]
async fn the_next_durable_write_covers_an_unflushed_one() {
    suite::the_next_durable_write_covers_an_unflushed_one(&Sled).await;
}

#[tokio::test]
async fn a_key_points_at_its_incident_until_a_new_one_opens() {
    suite::a_key_points_at_its_incident_until_a_new_one_opens(&Sled).await;
}

#[tokio::test]
async fn message_refs_are_kept_by_incident() {
    suite::message_refs_are_kept_by_incident(&Sled).await;
}

#[tokio::test]
async fn sandbox_records_are_kept_in_key_order() {
    suite::sandbox_records_are_kept_in_key_order(&Sled).await;
}

#[tokio::test]
async fn labels_and_recent_incidents_read_back_in_order() {
    suite::labels_and_recent_incidents_read_back_in_order(&Sled).await;
}
