//! Maintenance windows: the team channel is told once when a window starts
//! and once when it ends. The windows and what was announced live in the
//! store; `ops::maintenance` plans the announcements purely from them
//! (`plan`) and applies that plan (`announce`), which this module runs in
//! its place in the pass.

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
