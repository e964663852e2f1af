//! The conformance suite (`store::conformance`) run on PostgreSQL, one test
//! per property, each store in a schema of its own so tests run in
//! parallel. The server is `TOCSIN_TEST_POSTGRES`; without it the tests
//! skip with a message, except under `CI=true`, where they fail.

use super::{PgStore, SCHEMA_VERSION};
use crate::store::conformance::{self as suite, Factory};
use crate::store::port::Storage;
use crate::store::StoreError;
use async_trait::async_trait;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The test server's URL; `None` (after saying so) when there is none.
pub(crate) fn test_server() -> Option<String> {
    match std::env::var("TOCSIN_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "TOCSIN_TEST_POSTGRES must point at a PostgreSQL server under CI"
            );
            eprintln!("skipped: set TOCSIN_TEST_POSTGRES=postgres://… to run the PostgreSQL tests");
            None
        }
    }
}

/// A schema name for `place`, unique to this test process.
pub(crate) fn schema_for(place: &Path) -> String {
    use sha2::Digest;
    static SALT: OnceLock<u32> = OnceLock::new();
    let salt = SALT.get_or_init(rand::random::<u32>);
    let d = sha2::Sha256::digest(place.to_string_lossy().as_bytes());
    format!("t_{salt:08x}_{}", hex::encode(&d[..8]))
}

struct Postgres {
    url: String,
}

impl Postgres {
    async fn connect(&self, schema: &str) -> tokio_postgres::Client {
        let mut config: tokio_postgres::Config = self.url.parse().unwrap();
        config.options(format!("-c search_path={schema}"));
        let (client, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client
    }
}

#[async_trait]
impl Factory for Postgres {
    async fn open(&self, place: &Path) -> Result<Arc<dyn Storage>, StoreError> {
        let s = PgStore::open(&self.url, Some(&schema_for(place))).await?;
        Ok(Arc::new(s))
    }

    fn schema(&self) -> u64 {
        SCHEMA_VERSION
    }

    async fn set_schema(&self, place: &Path, version: u64) {
        let c = self.connect(&schema_for(place)).await;
        let v = version as i64;
        c.execute("DELETE FROM tocsin_migrations WHERE version > $1", &[&v])
            .await
            .unwrap();
        if v > 0 {
            c.execute(
                "INSERT INTO tocsin_migrations (version) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&v],
            )
            .await
            .unwrap();
        }
    }

    /// What a crash leaves is what recovery replays: the transactions
    /// committed so far, as one snapshot, copied into a schema of its own.
    async fn crash_copy(&self, _store: &Arc<dyn Storage>, from: &Path, to: &Path) {
        let (from, to) = (schema_for(from), schema_for(to));
        drop(PgStore::open(&self.url, Some(&to)).await.unwrap());
        let mut c = self.connect(&to).await;
        let tables: Vec<String> = c
            .query(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
                &[&from],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await
            .unwrap();
        for t in tables {
            tx.batch_execute(&format!(
                "DELETE FROM {to}.{t}; INSERT INTO {to}.{t} SELECT * FROM {from}.{t}"
            ))
            .await
            .unwrap();
        }
        for s in ["incident_ids", "override_ids", "swap_ids", "signal_ids"] {
            tx.batch_execute(&format!(
                "SELECT setval('{to}.{s}', last_value, is_called) FROM {from}.{s}"
            ))
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
}

/// Runs one property of the suite when there is a server.
async fn check<F, Fut>(property: F)
where
    F: FnOnce(Postgres) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if let Some(url) = test_server() {
        property(Postgres { url }).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transitions_are_compare_and_swap() {
    check(|f| async move { suite::transitions_are_compare_and_swap(&f).await }).await;
}

#[tokio::test]
async fn the_due_index_moves_with_the_incident() {
    check(|f| async move { suite::the_due_index_moves_with_the_incident(&f).await }).await;
}

#[tokio::test]
async fn the_outbox_keeps_order_per_lane() {
    check(|f| async move { suite::the_outbox_keeps_order_per_lane(&f).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_share_group_commits() {
    check(|f| async move { suite::writers_share_group_commits(&f).await }).await;
}

#[tokio::test]
async fn the_schema_version_is_checked_and_upgraded() {
    check(|f| async move { suite::the_schema_version_is_checked_and_upgraded(&f).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_keeps_each_write_whole() {
    check(|f| async move { suite::a_crash_keeps_each_write_whole(&f).await }).await;
}

#[tokio::test]
async fn claims_carry_growing_fencing_tokens() {
    check(|f| async move { suite::claims_carry_growing_fencing_tokens(&f).await }).await;
}

#[tokio::test]
async fn the_next_durable_write_covers_an_unflushed_one() {
    check(|f| async move { suite::the_next_durable_write_covers_an_unflushed_one(&f).await }).await;
}

#[tokio::test]
async fn a_key_points_at_its_incident_until_a_new_one_opens() {
    check(|f| async move { suite::a_key_points_at_its_incident_until_a_new_one_opens(&f).await })
        .await;
}

#[tokio::test]
async fn message_refs_are_kept_by_incident() {
    check(|f| async move { suite::message_refs_are_kept_by_incident(&f).await }).await;
}

#[tokio::test]
async fn labels_and_recent_incidents_read_back_in_order() {
    check(|f| async move { suite::labels_and_recent_incidents_read_back_in_order(&f).await }).await;
}

#[tokio::test]
async fn sandbox_records_are_kept_in_key_order() {
    check(|f| async move { suite::sandbox_records_are_kept_in_key_order(&f).await }).await;
}
