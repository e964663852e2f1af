//! Changing one incident for a person, a tool or a phone: acknowledge,
//! resolve, escalate, snooze, assign, and queueing work outside any change.

use super::{Core, Wake};
use crate::domain::incident::{Actor, Incident, State, Transition};
use crate::domain::notify;
use crate::domain::policy::{self, Action, Refusal, Subject};
use crate::domain::sentence::Sentence;
use crate::domain::warroom::{Entry, EntryKind};
use crate::store::{update_lane, Changed, Outbound, StoreError};
use chrono::{DateTime, Utc};

/// A timeline line for a change asked through the API: people's kind of
/// entry (a note), so its words are shown as written, never as markup, and
/// it names whoever the request named, since no Slack id stands behind it.
pub(super) fn api_entry(at: DateTime<Utc>, text: &str, by: &str) -> Entry {
    Entry {
        at,
        by: None,
        kind: EntryKind::Note,
        text: format!("{text} (by {by}, through the API)"),
        fact: None,
    }
}

impl Core {
    /// Whether the person with Slack id `by` may do `action` to `inc`
    /// (`policy::may`); `Err` is the reason, for that person.
    pub fn authorize(&self, by: &str, action: Action, inc: &Incident) -> Result<(), Refusal> {
        policy::may(
            &self.config,
            by,
            action,
            &Subject::incident(&self.config, inc),
        )
    }

    /// `Store::update_incident` for a person's request, refused with a
    /// sentence. The store carries a refusal as text, so the sentence of
    /// the last decision is kept beside it for the receiver to word.
    pub(super) async fn update_for<F>(
        &self,
        id: u64,
        at: DateTime<Utc>,
        f: F,
    ) -> Result<Result<Incident, Sentence>, StoreError>
    where
        F: Fn(&Incident) -> Result<(Incident, Vec<(String, Outbound)>), Sentence> + Send + Sync,
    {
        let last = std::sync::Mutex::new(None);
        let r = self
            .store
            .update_incident(id, at, |inc| {
                let decided = f(inc);
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                *last = decided.as_ref().err().cloned();
                decided.map_err(|why| why.to_string())
            })
            .await?;
        let last = last.into_inner().unwrap_or_else(|p| p.into_inner());
        // A decline is the last decision's; with none, the store's own
        // answer (no such incident).
        Ok(r.map_err(|text| last.unwrap_or_else(|| Sentence::from(text))))
    }

    /// Acknowledges or resolves incident `id` for a person in Slack, if the
    /// policy lets them; `Ok(Err(why))` when it does not (nothing changed).
    pub async fn act(
        &self,
        id: u64,
        t: Transition,
        by: &str,
    ) -> Result<Result<Changed, Sentence>, StoreError> {
        let action = match t {
            Transition::Acknowledge => Action::Acknowledge,
            Transition::Resolve => Action::Resolve,
        };
        // The decision rests on the incident's service, which never changes.
        if let Some(inc) = self.store.incident(id).await? {
            if let Err(why) = self.authorize(by, action, &inc) {
                return Ok(Err(why.into()));
            }
        }
        let actor = Actor::Slack {
            user_id: by.to_string(),
        };
        self.transition(id, t, actor).await.map(Ok)
    }

    /// Acknowledges or resolves incident `id`, durably; queues the message
    /// update. For tools and phones: people in Slack go through [`Core::act`].
    pub async fn transition(
        &self,
        id: u64,
        t: Transition,
        by: Actor,
    ) -> Result<Changed, StoreError> {
        let r = self.store.transition(id, t, by, self.clock.now()).await?;
        let (queued, timed) = match &r {
            Changed::Applied { incident, outbox } => {
                (outbox.is_some(), incident.next_due().is_some())
            }
            _ => (false, false),
        };
        // A change that leaves the incident a due time (a resolved room's
        // archive, a snooze) wakes the engine to plan for it now rather
        // than at its next regular pass, up to 30 s later.
        self.settle(Wake {
            outbox: queued,
            engine: timed,
        });
        if let Changed::Applied { incident, .. } = &r {
            crate::ops::counted(incident, false);
        }
        Ok(r)
    }

    /// "Escalate": the incident's next escalation step becomes due now.
    /// `Ok(Err(why))` explains to a person why it cannot escalate.
    pub async fn escalate(
        &self,
        id: u64,
        by: &str,
    ) -> Result<Result<Incident, Sentence>, StoreError> {
        self.escalate_checked(id, None, |inc| {
            self.authorize(by, Action::Escalate, inc)
                .map_err(Sentence::from)
        })
        .await
    }

    /// "Escalate" asked through the API with its write token, which stands
    /// for the policy; the timeline says who the request named (`by`).
    pub async fn escalate_via_api(
        &self,
        id: u64,
        by: &str,
    ) -> Result<Result<Incident, Sentence>, StoreError> {
        self.escalate_checked(id, Some(by), |_| Ok(())).await
    }

    async fn escalate_checked<C>(
        &self,
        id: u64,
        api_by: Option<&str>,
        check: C,
    ) -> Result<Result<Incident, Sentence>, StoreError>
    where
        C: Fn(&Incident) -> Result<(), Sentence> + Send + Sync,
    {
        let now = self.clock.now();
        let r = self
            .update_for(id, now, |inc| {
                check(inc)?;
                if inc.state != State::Triggered {
                    return Err(format!(
                        "#{id} is {}; only a triggered incident escalates.",
                        inc.state.as_str()
                    )
                    .into());
                }
                let esc = inc
                    .escalation
                    .as_ref()
                    .ok_or(format!("#{id}'s service has no escalation policy."))?;
                let jumped = esc.escalate_now(now).ok_or(format!(
                    "Every escalation level of #{id} has been paged already."
                ))?;
                let mut next = inc.clone();
                next.escalation = Some(jumped);
                // A person asking for more help makes it urgent.
                next.raise_urgency(now);
                if let Some(by) = api_by {
                    next.coord.timeline.push(api_entry(now, "Escalated", by));
                }
                Ok((next, vec![]))
            })
            .await?;
        self.settle(if r.is_ok() { Wake::ENGINE } else { Wake::NONE });
        Ok(r)
    }

    /// Snoozes an acknowledged incident for `minutes` on behalf of `by` (a
    /// Slack id); it pages again then unless resolved.
    pub async fn snooze(
        &self,
        id: u64,
        minutes: i64,
        by: &str,
    ) -> Result<Result<Incident, Sentence>, StoreError> {
        let now = self.clock.now();
        let until = now + chrono::Duration::minutes(minutes);
        let r = self
            .update_for(id, now, |inc| {
                self.authorize(by, Action::Snooze, inc)?;
                let next = inc.snooze(until, now, by)?;
                let ops = vec![(update_lane(inc), Outbound::UpdateIncident { incident: id })];
                Ok((next, ops))
            })
            .await?;
        self.settle(if r.is_ok() { Wake::BOTH } else { Wake::NONE });
        Ok(r)
    }

    /// Pages `user` (a config user id) about incident `id` now, as asked by
    /// `by` (a Slack id).
    pub async fn assign(
        &self,
        id: u64,
        user: &str,
        by: &str,
    ) -> Result<Result<Incident, Sentence>, StoreError> {
        let now = self.clock.now();
        let r = self.update_for(id, now, |inc| {
            self.authorize(by, Action::Assign, inc)?;
            if inc.state == State::Resolved {
                return Err(format!("#{id} is resolved already.").into());
            }
            let mut next = inc.clone();
            let mut ops = vec![];
            if !notify::page(&self.config, &mut next, user, None, now, &mut ops) {
                return Err(format!(
                    "{user} has no Slack id (or phone for their notification rules) in the configuration, so I cannot page them."
                )
                .into());
            }
            ops.push((update_lane(inc), Outbound::UpdateIncident { incident: id }));
            Ok((next, ops))
        }).await?;
        self.settle(if r.is_ok() { Wake::OUTBOX } else { Wake::NONE });
        Ok(r)
    }

    /// Queues one piece of outbound work, durably.
    pub async fn enqueue(&self, lane: &str, op: Outbound) -> Result<u64, StoreError> {
        let seq = self.store.enqueue(lane, op, self.clock.now()).await?;
        self.settle(Wake::OUTBOX);
        Ok(seq)
    }
}
