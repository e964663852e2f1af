//! Reading a schedule's calendar feed.

use super::Core;
use crate::domain::schedule::{ical, shift_start, shifts};
use crate::store::StoreError;

impl Core {
    /// The iCalendar feed of schedule `id` (last week to 90 days ahead), if
    /// the schedule exists and `token` is its feed token.
    pub async fn schedule_feed(&self, id: &str, token: &str) -> Result<Option<String>, StoreError> {
        let Some(schedule) = self.config.schedule(id) else {
            return Ok(None);
        };
        let generation = self.store.feed_generation(id).await?;
        if !ical::token_matches(&self.store.feed_seed().await?, id, generation, token) {
            return Ok(None);
        }
        let overrides: Vec<_> = self
            .store
            .overrides(id)
            .await?
            .into_iter()
            .map(|o| o.over)
            .collect();
        let now = self.clock.now();
        let from = now - chrono::Duration::days(7);
        let mut list = shifts(schedule, &overrides, from, now + chrono::Duration::days(90));
        // The shift in progress a week ago keeps its real start, and with it
        // its UID: calendar apps would otherwise re-create it on every fetch.
        if let Some(first) = list.first_mut() {
            first.start = shift_start(schedule, &overrides, from);
        }
        let name = |u: &str| {
            self.config
                .user(u)
                .map(|u| u.name.clone())
                .unwrap_or_else(|| u.to_string())
        };
        Ok(Some(ical::calendar(id, &list, name)))
    }
}
