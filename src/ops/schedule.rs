//! Changes to a team's on-call arrangements made by people: overrides,
//! swap and cover requests asked and answered, calendar link rotation and
//! maintenance started or ended by hand. Each is decided by the schedule
//! rules (`policy`) and written down in the team's audit log; the audit
//! line and the caller's own reply are worded by the caller, as Slack shows
//! them. A swap's messages to others are notices the receiver renders.

use super::{Core, Wake};
use crate::config::{Schedule, Service, Team, User};
use crate::domain::notice::SwapTerms;
use crate::domain::policy::{self, Refusal};
use crate::domain::schedule::{ical, shifts, Override, Shift};
use crate::store::{AuditEntry, Outbound, StoreError, StoredOverride};
use crate::store::{SwapRequest, SwapState, Window};
use chrono::{DateTime, Duration, Utc};

/// How far ahead a swap or cover looks for shifts.
const SWAP_HORIZON_DAYS: i64 = 60;

/// A person asking another to take their `nth` coming shift on `schedule`
/// and, with `trade`, to give them their own first one in return.
pub struct ShiftAsk<'a> {
    pub schedule: &'a Schedule,
    pub team: &'a Team,
    pub requester: &'a User,
    pub other: &'a User,
    pub nth: u32,
    pub trade: bool,
}

/// Why a swap or cover was not asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapRefusal {
    /// The schedule's rules forbid it.
    Policy(Refusal),
    /// The other person has no Slack id to be asked at.
    NoSlackId,
    /// The requester has no `nth` shift in the coming 60 days.
    NoShift,
    /// A trade, and the other person has no shift to give.
    NothingToTrade,
}

/// A swap that could not be asked for a reason on tocsin's side.
#[derive(Debug)]
pub enum SwapFailure {
    /// The overrides (so the shifts) could not be read.
    Read(StoreError),
    /// The request could not be saved.
    Save(StoreError),
}

/// What answering a swap request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapAnswered {
    /// There is no such request (any more).
    Gone,
    /// The request is for someone else than whoever answered.
    NotYours(SwapRequest),
    /// Accepting it is no longer allowed; nothing changed.
    Refused(SwapRequest, Unswappable),
    /// Answered now: the notices are queued, and an acceptance is in force.
    Answered(SwapRequest),
    /// Answered before; this is its state.
    Already(SwapRequest),
}

/// Why an accepted swap cannot take effect now (the configuration moved on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unswappable {
    ScheduleGone,
    /// The schedule's team (this id) is not configured.
    NoTeam(String),
    Policy(Refusal),
}

/// What the caller says about an answer: its reply to whoever clicked
/// (queued on the lane it names), and the audit line.
pub struct SwapReply {
    pub respond: Option<(String, Outbound)>,
    /// Written when an acceptance takes effect.
    pub audit: Option<String>,
}

/// What `req` asks, for the notices about it.
fn terms(req: &SwapRequest) -> SwapTerms {
    SwapTerms {
        swap: req.id,
        schedule: req.schedule.clone(),
        requester: req.requester.clone(),
        other: req.other.clone(),
        mine: req.mine,
        theirs: req.theirs,
    }
}

/// The requester's `nth` shift (1-based) in `list`, and for a trade the
/// other person's first one.
fn pick_shifts(
    list: &[Shift],
    requester: &str,
    other: &str,
    nth: u32,
    trade: bool,
) -> Result<(Shift, Option<Shift>), SwapRefusal> {
    let of = |u: &str| -> Vec<&Shift> {
        list.iter()
            .filter(|sh| sh.user.as_deref() == Some(u))
            .collect()
    };
    let mine = of(requester)
        .get((nth as usize).saturating_sub(1))
        .copied()
        .filter(|_| nth > 0)
        .ok_or(SwapRefusal::NoShift)?;
    let theirs = if trade {
        Some(
            of(other)
                .first()
                .copied()
                .ok_or(SwapRefusal::NothingToTrade)?,
        )
    } else {
        None
    };
    Ok((mine.clone(), theirs.cloned()))
}

/// How the audit log names a change asked through the API.
fn api_actor(by: &str) -> String {
    format!("api:{by}")
}

impl Core {
    /// Records who changed a team's arrangements; a failure is logged, never
    /// fatal, as the change itself stands.
    async fn record_audit(&self, team: &str, actor: &str, action: &str, detail: String) {
        let e = AuditEntry {
            at: self.clock.now(),
            team: team.to_string(),
            actor: actor.to_string(),
            action: action.to_string(),
            detail,
        };
        if let Err(err) = self.store.add_audit(&e).await {
            tracing::error!(error = %err, "cannot write the audit log");
        }
    }

    /// Puts `over.user` on call for `schedule` (of `team`) over its span, as
    /// `by` (a Slack id) asked, if the team's rules let them. `detail` words
    /// the audit line from the stored override.
    pub async fn add_override(
        &self,
        schedule: &Schedule,
        team: &Team,
        over: Override,
        by: &str,
        detail: impl FnOnce(&StoredOverride) -> String,
    ) -> Result<Result<StoredOverride, Refusal>, StoreError> {
        if let Err(r) = policy::may_override(&self.config, by, team, &over.user) {
            return Ok(Err(r));
        }
        let stored = self
            .store
            .add_override(&schedule.id, over, by, self.clock.now())
            .await?;
        self.record_audit(&schedule.team, by, "override", detail(&stored))
            .await;
        self.settle(Wake::ENGINE);
        self.refresh_schedule_homes(&schedule.id, Some(&stored.over.user))
            .await;
        Ok(Ok(stored))
    }

    /// Puts `over.user` on call for `schedule` as asked through the API: its
    /// write token stands for the team's rules; the audit line names `by`,
    /// whoever the request named.
    pub async fn add_override_via_api(
        &self,
        schedule: &Schedule,
        over: Override,
        by: &str,
    ) -> Result<StoredOverride, StoreError> {
        let actor = api_actor(by);
        let stored = self
            .store
            .add_override(&schedule.id, over, &actor, self.clock.now())
            .await?;
        let name = |u: &str| {
            self.config
                .user(u)
                .map_or(u.to_string(), |u| u.name.clone())
        };
        let detail = format!(
            "#{} {} on call for {} from {} to {}",
            stored.id,
            name(&stored.over.user),
            schedule.id,
            stored.over.start.format("%Y-%m-%d %H:%M UTC"),
            stored.over.end.format("%Y-%m-%d %H:%M UTC")
        );
        self.record_audit(&schedule.team, &actor, "override", detail)
            .await;
        self.settle(Wake::ENGINE);
        self.refresh_schedule_homes(&schedule.id, Some(&stored.over.user))
            .await;
        Ok(stored)
    }

    /// Removes override `id` from `schedule` as asked through the API;
    /// `None` when the schedule has no such override (nothing changed).
    pub async fn remove_override_via_api(
        &self,
        schedule: &Schedule,
        id: u64,
        by: &str,
    ) -> Result<Option<StoredOverride>, StoreError> {
        let existing = self.store.overrides(&schedule.id).await?;
        let Some(gone) = existing.into_iter().find(|o| o.id == id) else {
            return Ok(None);
        };
        if !self.store.remove_override(&schedule.id, id).await? {
            return Ok(None);
        }
        let detail = format!(
            "#{id} removed: {} on call for {} from {} to {}",
            self.config
                .user(&gone.over.user)
                .map_or(gone.over.user.as_str(), |u| u.name.as_str()),
            schedule.id,
            gone.over.start.format("%Y-%m-%d %H:%M UTC"),
            gone.over.end.format("%Y-%m-%d %H:%M UTC")
        );
        self.record_audit(&schedule.team, &api_actor(by), "override", detail)
            .await;
        self.settle(Wake::ENGINE);
        self.refresh_schedule_homes(&schedule.id, Some(&gone.over.user))
            .await;
        Ok(Some(gone))
    }

    /// The token of `schedule`'s calendar link. The seed and generation are
    /// on disk before it is handed out, so the link works after a crash.
    pub async fn feed_token(&self, schedule: &str) -> Result<String, StoreError> {
        let seed = self.store.feed_seed().await?;
        let generation = self.store.feed_generation(schedule).await?;
        Ok(ical::feed_token(&seed, schedule, generation))
    }

    /// Retires `schedule`'s calendar link for a lead of `team` (`by`, a
    /// Slack id) and returns the new link's token, once the rotation holds.
    pub async fn rotate_feed(
        &self,
        schedule: &str,
        team: &Team,
        by: &str,
        detail: String,
    ) -> Result<Result<String, Refusal>, StoreError> {
        let seed = self.store.feed_seed().await?;
        if let Err(r) = policy::may_rotate_feed(&self.config, by, team) {
            return Ok(Err(r));
        }
        let generation = self.store.rotate_feed(schedule).await?;
        self.record_audit(&team.id, by, "feed", detail).await;
        Ok(Ok(ical::feed_token(&seed, schedule, generation)))
    }

    /// Asks `ask.other` to take (or trade) a shift: the request is saved and
    /// the question queued as their DM.
    pub async fn ask_swap(
        &self,
        ask: &ShiftAsk<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<SwapRequest, SwapRefusal>, SwapFailure> {
        let (me, other) = (&ask.requester.id, &ask.other.id);
        if let Err(r) = policy::may_swap(&self.config, ask.team, me, other, ask.trade) {
            return Ok(Err(SwapRefusal::Policy(r)));
        }
        let Some(other_slack) = ask.other.slack_id.clone() else {
            return Ok(Err(SwapRefusal::NoSlackId));
        };
        let id = &ask.schedule.id;
        let overrides = self.overrides(id).await.map_err(SwapFailure::Read)?;
        let horizon = now + Duration::days(SWAP_HORIZON_DAYS);
        let list = shifts(ask.schedule, &overrides, now, horizon);
        let (mine, theirs) = match pick_shifts(&list, me, other, ask.nth, ask.trade) {
            Ok(picked) => picked,
            Err(why) => return Ok(Err(why)),
        };
        let req = SwapRequest {
            id: self.store.new_swap_id().await.map_err(SwapFailure::Save)?,
            schedule: id.clone(),
            requester: me.clone(),
            other: other.clone(),
            mine: (mine.start, mine.end),
            theirs: theirs.map(|t| (t.start, t.end)),
            state: SwapState::Pending,
            created_at: now,
        };
        let op = Outbound::SwapAsked {
            to: other_slack.clone(),
            terms: terms(&req),
        };
        self.store
            .add_swap(&req, &(other_slack, op))
            .await
            .map_err(SwapFailure::Save)?;
        self.settle(Wake::OUTBOX);
        Ok(Ok(req))
    }

    /// `clicker` (a Slack id) accepts or declines swap request `id`. Only
    /// the person asked may; accepting asks the schedule rules again, as the
    /// configuration may have changed since. The answer is told by DM to
    /// the requester and, on acceptance, in the team's channel; with the
    /// caller's `reply`, queued only if this answer is the one that counts.
    pub async fn answer_swap<F>(
        &self,
        id: u64,
        clicker: &str,
        accept: bool,
        reply: F,
    ) -> Result<SwapAnswered, StoreError>
    where
        F: FnOnce(&SwapRequest) -> SwapReply,
    {
        let config = &self.config;
        let Some(req) = self.store.swap(id).await? else {
            return Ok(SwapAnswered::Gone);
        };
        let other_slack = config.user(&req.other).and_then(|u| u.slack_id.as_deref());
        if other_slack != Some(clicker) {
            return Ok(SwapAnswered::NotYours(req));
        }
        // Declining is always possible.
        if accept {
            let allowed = match config.schedule(&req.schedule) {
                None => Err(Unswappable::ScheduleGone),
                Some(s) => match config.team(&s.team) {
                    None => Err(Unswappable::NoTeam(s.team.clone())),
                    Some(team) => {
                        let trade = req.theirs.is_some();
                        policy::may_swap(config, team, &req.requester, &req.other, trade)
                            .map_err(Unswappable::Policy)
                    }
                },
            };
            if let Err(why) = allowed {
                return Ok(SwapAnswered::Refused(req, why));
            }
        }
        let SwapReply { respond, audit } = reply(&req);
        let mut notices: Vec<(String, Outbound)> = vec![];
        if let Some(to) = config.user(&req.requester).and_then(|u| u.slack_id.clone()) {
            let op = Outbound::SwapAnswered {
                to: to.clone(),
                accepted: accept,
                terms: terms(&req),
            };
            notices.push((to, op));
        }
        if accept {
            if let Some(channel) = config
                .schedule(&req.schedule)
                .and_then(|s| config.team(&s.team))
                .and_then(|t| t.alert_channel.clone())
            {
                let op = Outbound::SwapAnnounced {
                    channel: channel.clone(),
                    terms: terms(&req),
                };
                notices.push((channel, op));
            }
        }
        notices.extend(respond);
        if accept {
            // The shifts moved: the team's Homes show who is on call, and both people's their own.
            let mut people = crate::domain::home::schedule_people(config, &req.schedule);
            for u in [&req.requester, &req.other] {
                people.extend(config.user(u).and_then(|u| u.slack_id.clone()));
            }
            notices.extend(crate::domain::home::refresh(people));
        }
        let answered = self
            .store
            .answer_swap(id, accept, self.clock.now(), &notices)
            .await?;
        // An accepted swap moves shifts: the team's audit log says who agreed to what.
        if let (Some((_, true)), true, Some(detail)) = (&answered, accept, audit) {
            if let Some(team) = config.schedule(&req.schedule).map(|s| s.team.clone()) {
                self.record_audit(&team, clicker, "swap", detail).await;
            }
        }
        let changed = matches!(answered, Some((_, true)));
        self.settle(if changed { Wake::BOTH } else { Wake::NONE });
        Ok(match answered {
            Some((r, true)) => SwapAnswered::Answered(r),
            Some((r, false)) => SwapAnswered::Already(r),
            None => SwapAnswered::Gone,
        })
    }

    /// Starts (or extends) a maintenance window on `service` for `by` (a
    /// Slack id), written in the team's audit log as `detail`.
    pub async fn start_maintenance(
        &self,
        service: &Service,
        until: DateTime<Utc>,
        reason: Option<String>,
        by: &str,
        detail: String,
    ) -> Result<Window, StoreError> {
        self.record_audit(&service.team, by, "maintenance", detail)
            .await;
        super::maintenance::start(self, &service.id, until, reason, by).await
    }

    /// Ends the window in force on `service` for `by`; `None` if there was
    /// none (and nothing is written in the audit log).
    pub async fn end_maintenance(
        &self,
        service: &Service,
        by: &str,
        detail: String,
    ) -> Result<Option<Window>, StoreError> {
        let Some(w) = super::maintenance::end(self, &service.id).await? else {
            return Ok(None);
        };
        self.record_audit(&service.team, by, "maintenance", detail)
            .await;
        Ok(Some(w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn shift(user: &str, h: u32) -> Shift {
        let t = |h| Utc.with_ymd_and_hms(2026, 11, 25, h, 0, 0).unwrap();
        Shift {
            user: Some(user.into()),
            start: t(h),
            end: t(h + 1),
        }
    }

    #[test]
    fn a_swap_takes_the_nth_shift_and_trades_for_the_first() {
        let list = [shift("a", 1), shift("b", 2), shift("a", 3), shift("b", 4)];
        let (mine, theirs) = pick_shifts(&list, "a", "b", 2, true).unwrap();
        assert_eq!((mine, theirs), (shift("a", 3), Some(shift("b", 2))));
        assert_eq!(pick_shifts(&list, "a", "b", 1, false).unwrap().1, None);
        assert_eq!(
            pick_shifts(&list, "a", "b", 3, false),
            Err(SwapRefusal::NoShift)
        );
        assert_eq!(
            pick_shifts(&list, "a", "c", 1, true),
            Err(SwapRefusal::NothingToTrade)
        );
    }
}
