//! The App Home: what one person's Home shows, read from the store and built
//! by `domain::home`; and queueing a republish of the Homes a change concerns.

use super::Core;
use crate::config::Config;
use crate::domain::home::{self, Facts, Home};
use crate::domain::schedule::Override;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

/// The Home of Slack user `slack_id` as the store has things at `now`.
pub async fn gather(
    config: &Config,
    store: &Store,
    slack_id: &str,
    now: DateTime<Utc>,
) -> Result<Home, StoreError> {
    let open = store.open_incidents().await?;
    let mut overrides: HashMap<String, Vec<Override>> = HashMap::new();
    for s in &config.schedules {
        let list = store.overrides(&s.id).await?;
        overrides.insert(s.id.clone(), list.into_iter().map(|o| o.over).collect());
    }
    let facts = Facts {
        config,
        open: &open,
        overrides: &overrides,
        now,
    };
    Ok(home::build(&facts, slack_id))
}

impl Core {
    /// Queues a publish of `slack_id`'s Home (they opened it).
    pub async fn publish_home(&self, slack_id: &str) -> Result<(), StoreError> {
        for (lane, op) in home::refresh([slack_id.to_string()]) {
            self.enqueue(&lane, op).await?;
        }
        Ok(())
    }

    /// Queues a republish of the Homes a schedule change made stale: its
    /// team's and `also`'s. Best effort: the change itself stands, and a
    /// Home is published afresh whenever its owner opens it.
    pub async fn refresh_schedule_homes(&self, schedule: &str, also: Option<&str>) {
        let mut people: BTreeSet<String> = home::schedule_people(&self.config, schedule);
        people.extend(
            also.and_then(|u| self.config.user(u))
                .and_then(|u| u.slack_id.clone()),
        );
        for (lane, op) in home::refresh(people) {
            if let Err(e) = self.enqueue(&lane, op).await {
                tracing::warn!(error = %e, %lane, "cannot queue a Home refresh");
            }
        }
    }
}
