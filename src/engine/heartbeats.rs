//! Heartbeats: a monitor whose job stopped beating opens an incident once
//! per silence. The beats and the misses already reported live in the
//! store, so the use case in `ops::heartbeat` re-derives the misses on every
//! pass; this module runs it in its place in the pass.

use crate::ops::alert::IngestError;
use crate::ops::Core;
use chrono::{DateTime, Utc};

/// Reports the monitors overdue at `now`; returns when the next beat falls due.
pub(super) async fn run(
    core: &Core,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, IngestError> {
    crate::ops::heartbeat::check(core, now).await
}
