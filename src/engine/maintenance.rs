//! Maintenance windows: the team channel is told once when a window starts
//! and once when it ends. The windows and what was announced live in the
//! store, so the use case in `ops::maintenance` re-derives the announcements
//! on every pass; this module runs it in its place in the pass.

use crate::ops::Core;
use crate::store::StoreError;
use chrono::{DateTime, Utc};

/// Announces the starts and ends due by `now`; returns when the next one is due.
pub(super) async fn run(
    core: &Core,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    crate::ops::maintenance::announce(core, now).await
}
