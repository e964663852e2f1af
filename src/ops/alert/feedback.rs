//! Responders correcting intelligent grouping: **Merge into #N** (and
//! `/incident merge ID INTO_ID`) and **Split out**. Each is applied and
//! recorded as a labelled pair, which the service's grouping learns from
//! (`domain::similarity::Model::learn`).

use super::pipeline::{self, Grouped, Routed, Write};
use crate::domain::grouping;
use crate::domain::incident::{Actor, Incident, Insight, State, SubAlert, Transition};
use crate::domain::policy::Action;
use crate::domain::sentence::Sentence;
use crate::domain::similarity::{Pair, Tokens};
use crate::ops::Core;
use crate::store::{Changed, NewAlert, StoreError, Triggered};
use chrono::Duration;
use std::borrow::Cow;

/// What a merge or split did, or why it did nothing.
pub type Regrouped = Result<Result<Sentence, Sentence>, StoreError>;

/// The window a split-out alert's own incident groups repeats in, when the
/// service names none.
const SPLIT_WINDOW: i64 = 30;

/// The lines an incident's alerts take when merged into another: its own
/// grouped alerts, or the one alert that opened it.
fn lines(inc: &Incident) -> Vec<SubAlert> {
    if inc.alerts.is_empty() {
        vec![grouping::member(&inc.dedup_key, &inc.alert, inc.created_at)]
    } else {
        inc.alerts
            .iter()
            .map(|a| SubAlert {
                similar: None,
                ..a.clone()
            })
            .collect()
    }
}

/// Why `from` may not be merged into `into` by `by`, if it may not.
fn refuse_merge(core: &Core, from: &Incident, into: &Incident, by: &str) -> Option<Sentence> {
    if let Err(why) = core.authorize(by, Action::Regroup, from) {
        return Some(why.into());
    }
    if from.id == into.id {
        return Some(format!("#{} cannot be merged into itself.", from.id).into());
    }
    if from.service_id != into.service_id {
        return Some(
            format!(
                "#{} and #{} are on different services; only incidents of one service merge.",
                from.id, into.id
            )
            .into(),
        );
    }
    for i in [from, into] {
        if i.state == State::Resolved {
            return Some(format!("#{} is resolved already; merge open incidents.", i.id).into());
        }
    }
    None
}

impl Core {
    /// Merges open incident `from` into open incident `into` for the person
    /// `by` (a Slack id): `from`'s alerts become lines of `into` (and their
    /// keys point there, so each still resolves its own line), `from` is
    /// resolved, and the pair is recorded as alike.
    pub async fn merge(&self, from: u64, into: u64, by: &str) -> Regrouped {
        let (Some(a), Some(b)) = (
            self.store.incident(from).await?,
            self.store.incident(into).await?,
        ) else {
            let missing = if self.store.incident(from).await?.is_none() {
                from
            } else {
                into
            };
            return Ok(Err(format!("There is no incident #{missing}.").into()));
        };
        if let Some(why) = refuse_merge(self, &a, &b, by) {
            return Ok(Err(why));
        }
        let now = self.clock.now();
        let moved = lines(&a);
        let mut member_keys: Vec<String> = moved.iter().map(|l| l.key.clone()).collect();
        member_keys.push(a.dedup_key.clone());
        let appended = self
            .store
            .trigger(&NewAlert {
                routing_key: &b.routing_key,
                service_id: &b.service_id,
                dedup_key: &b.dedup_key,
                alert: a.alert.clone(),
                custom_details: None,
                alert_channel: b.alert_channel.clone(),
                escalation: None,
                urgency: b.urgency,
                at: now,
                alerts: moved,
                changes: vec![],
                join_within: None,
                member_keys,
                flapping: None,
                room: None,
                insight: Insight::default(),
            })
            .await?;
        let actor = Actor::Slack {
            user_id: by.to_string(),
        };
        if let Triggered::Opened { incident, .. } = &appended {
            // `into` resolved in the meantime: what the merge opened is closed again.
            self.transition(incident.id, Transition::Resolve, actor.clone())
                .await?;
            return Ok(Err(format!(
                "#{into} was resolved meanwhile; nothing was merged."
            )
            .into()));
        }
        self.settle(crate::ops::Wake::OUTBOX);
        let resolved = self.transition(from, Transition::Resolve, actor).await?;
        let pair = Pair {
            a: grouping::tokens(&a.alert),
            b: grouping::tokens(&b.alert),
            same: true,
        };
        self.store.add_label(&a.service_id, &pair, now).await?;
        let note = match resolved {
            Changed::Applied { .. } => format!("#{from} is resolved"),
            _ => format!("#{from} was resolved already"),
        };
        Ok(Ok(format!(
            "Merged #{from} into #{into}: its alerts are lines of #{into} now and {note}. The service's grouping learns that they belong together."
        )
        .into()))
    }

    /// Splits the alert with key `key` out of incident `id` for the person
    /// `by`: its line leaves `id`, it opens an incident of its own (paged
    /// as its service pages), and the pair is recorded as different.
    pub async fn split(&self, id: u64, key: &str, by: &str) -> Regrouped {
        let Some(inc) = self.store.incident(id).await? else {
            return Ok(Err(format!("There is no incident #{id}.").into()));
        };
        if let Err(why) = self.authorize(by, Action::Regroup, &inc) {
            return Ok(Err(why.into()));
        }
        let Some(service) = self.config.service(&inc.service_id) else {
            return Ok(Err(
                format!("#{id}'s service is no longer configured.").into()
            ));
        };
        let now = self.clock.now();
        let removed = self
            .update_for(id, now, |inc| {
                if inc.state == State::Resolved {
                    return Err(format!("#{id} is resolved; its alerts stay with it.").into());
                }
                let Some(at) = inc.alerts.iter().position(|a| a.key == key) else {
                    return Err(format!(
                        "#{id} has no such alert (it may have been split out already)."
                    )
                    .into());
                };
                if inc.alerts.len() < 2 {
                    return Err(format!(
                        "It is #{id}'s only alert; there is nothing to split it from."
                    )
                    .into());
                }
                let mut next = inc.clone();
                next.alerts.remove(at);
                next.alert_count = next.alert_count.saturating_sub(1).max(1);
                Ok((next, vec![]))
            })
            .await?;
        let before = match removed {
            Ok(_) => inc,
            Err(why) => return Ok(Err(why)),
        };
        self.settle(crate::ops::Wake::OUTBOX);
        let Some(line) = before.alerts.iter().find(|a| a.key == key).cloned() else {
            return Ok(Err(format!("#{id} has no such alert.").into()));
        };
        let tokens = line
            .similar
            .as_ref()
            .map(|s| s.tokens.clone())
            .unwrap_or_else(|| Tokens::of(&line.summary, []));
        let mut details = before.alert.without_custom_details();
        details.summary = line.summary.clone();
        let window = service
            .grouping
            .as_ref()
            .map_or(Duration::minutes(SPLIT_WINDOW), |g| g.window);
        let grouped = Grouped {
            dedup_key: Cow::Owned(pipeline::similar_key(key)),
            alerts: vec![SubAlert {
                similar: None,
                ..line.clone()
            }],
            join: Some((window, key)),
            insight: Insight::default(),
        };
        let routed = Routed {
            received: service,
            service,
            rule: None,
        };
        let trigger = pipeline::trigger(&self.config, &routed, &details, grouped, now);
        let outcome = pipeline::commit(self, Write::Trigger(Box::new(trigger)), now)
            .await
            .map_err(|e| match e {
                super::IngestError::Store(e) => e,
                super::IngestError::UnknownKey => StoreError::Backend("no such service".into()),
            })?;
        let pair = Pair {
            a: tokens,
            b: grouping::tokens(&before.alert),
            same: false,
        };
        self.store.add_label(&before.service_id, &pair, now).await?;
        let opened = match outcome {
            super::Outcome::Triggered(
                Triggered::Opened { incident, .. } | Triggered::Appended { incident, .. },
            ) => format!(" as #{}", incident.id),
            _ => String::new(),
        };
        Ok(Ok(format!(
            "Split the alert out of #{id}{opened}. The service's grouping learns that they differ."
        )
        .into()))
    }
}
