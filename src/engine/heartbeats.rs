//! Heartbeats: a monitor whose job stopped beating opens an incident once
//! per silence. The beats and the silences already reported live in the
//! store; `ops::heartbeat` plans each monitor purely from them (`plan`) and
//! opens the incidents (`check`), which this module runs in its place in the
//! pass.

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
