//! Escalation decisions: given an incident's escalation state (with the policy
//! snapshotted when it opened) and now, what happens next. Pure: no I/O, no clock.
//!
//! Levels fire in order, each `after_minutes` after the previous one. After the
//! last level the whole policy runs again `repeat` more times; between rounds,
//! and before declaring that nobody responded, tocsin waits the policy's
//! longest level delay (at least a minute), so the last people paged get the
//! same time to answer as anyone else.

use crate::config::{Config, EscalationPolicy, Target};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// The policy as it was when the incident opened; later edits do not apply.
    pub policy: EscalationPolicy,
    /// The level the next step pages; `levels.len()` means "the next step
    /// declares that nobody responded".
    pub level: usize,
    pub round: u32,
    /// When the next step is due; `None` once stopped (acknowledged, resolved) or exhausted.
    pub next_at: Option<DateTime<Utc>>,
    pub exhausted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Page these targets (resolved to people by the caller at this instant).
    Page {
        level: usize,
        round: u32,
        targets: Vec<Target>,
    },
    /// Every level and repeat ran and nobody acknowledged.
    Exhausted,
}

impl Escalation {
    pub fn start(policy: EscalationPolicy, opened_at: DateTime<Utc>) -> Escalation {
        let first = policy.levels.first().map_or(0, |l| l.after_minutes);
        Escalation {
            policy,
            level: 0,
            round: 0,
            next_at: Some(whole_millis(opened_at + Duration::minutes(first.into()))),
            exhausted: false,
        }
    }

    /// The wait between rounds and before giving up: the longest level delay, at least a minute.
    pub fn gap(&self) -> Duration {
        let longest = self
            .policy
            .levels
            .iter()
            .map(|l| l.after_minutes)
            .max()
            .unwrap_or(0);
        Duration::minutes(i64::from(longest.max(1)))
    }

    /// The step due at `now` and the state after it, or `None` if nothing is due.
    /// Later steps are timed from `now`, so after a long stop levels are still
    /// spaced out instead of firing all at once.
    pub fn step(&self, now: DateTime<Utc>) -> Option<(Step, Escalation)> {
        let due = self.next_at.filter(|t| *t <= now)?;
        let mut next = self.clone();
        let levels = &self.policy.levels;
        let Some(level) = levels.get(self.level) else {
            next.next_at = None;
            next.exhausted = true;
            return Some((Step::Exhausted, next));
        };
        let base = whole_millis(now.max(due));
        if let Some(following) = levels.get(self.level + 1) {
            next.level += 1;
            next.next_at = Some(base + Duration::minutes(following.after_minutes.into()));
        } else if self.round < self.policy.repeat {
            next.level = 0;
            next.round += 1;
            next.next_at = Some(base + self.gap());
        } else {
            next.level = levels.len();
            next.next_at = Some(base + self.gap());
        }
        let step = Step::Page {
            level: self.level,
            round: self.round,
            targets: level.targets.clone(),
        };
        Some((step, next))
    }

    /// "Escalate" pressed: the next step is due now. `None` if exhausted.
    pub fn escalate_now(&self, now: DateTime<Utc>) -> Option<Escalation> {
        if self.exhausted {
            return None;
        }
        let mut next = self.clone();
        next.next_at = Some(whole_millis(now));
        Some(next)
    }

    /// Acknowledged or resolved: nothing more is due.
    pub fn stop(&mut self) {
        self.next_at = None;
    }
}

/// Due times are kept in whole milliseconds, the resolution of the store's due
/// index, so an index entry and the incident always agree on when a step is due.
fn whole_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// The people (config user ids) that `targets` mean now, without repeats.
/// `on_call(schedule)` answers who is on call on a schedule at this instant.
pub fn resolve_targets(
    config: &Config,
    targets: &[Target],
    on_call: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut add = |u: String| {
        if !out.contains(&u) {
            out.push(u);
        }
    };
    for t in targets {
        match t {
            Target::User(u) => add(u.clone()),
            Target::Schedule(s) => {
                if let Some(u) = on_call(s) {
                    add(u);
                }
            }
            Target::Team(team) => {
                for lead in config
                    .team(team)
                    .map(|t| t.leads.clone())
                    .unwrap_or_default()
                {
                    add(lead);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EscalationLevel;
    use chrono::TimeZone;

    fn policy(delays: &[u32], repeat: u32) -> EscalationPolicy {
        EscalationPolicy {
            id: "p".into(),
            repeat,
            levels: delays
                .iter()
                .enumerate()
                .map(|(i, d)| EscalationLevel {
                    after_minutes: *d,
                    targets: vec![Target::User(format!("u{i}"))],
                })
                .collect(),
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap()
    }

    /// Runs the escalation on time until it stops; returns (minute, step) pairs.
    fn run(p: EscalationPolicy) -> Vec<(i64, String)> {
        let mut e = Escalation::start(p, t0());
        let mut out = vec![];
        while let Some(at) = e.next_at {
            assert!(
                e.step(at - Duration::seconds(1)).is_none(),
                "nothing is due early"
            );
            let (step, next) = e.step(at).unwrap();
            let label = match step {
                Step::Page { level, round, .. } => format!("L{level}R{round}"),
                Step::Exhausted => "nobody".into(),
            };
            out.push(((at - t0()).num_minutes(), label));
            e = next;
            assert!(out.len() < 100);
        }
        assert!(e.exhausted);
        out
    }

    fn check(p: EscalationPolicy, expected: &[(i64, &str)]) {
        let got = run(p);
        let want: Vec<(i64, String)> = expected.iter().map(|(m, s)| (*m, s.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn levels_fire_in_order_then_repeat_then_nobody_responded() {
        check(
            policy(&[0, 15], 0),
            &[(0, "L0R0"), (15, "L1R0"), (30, "nobody")],
        );
        check(
            policy(&[0, 15], 2),
            &[
                (0, "L0R0"),
                (15, "L1R0"),
                (30, "L0R1"),
                (45, "L1R1"),
                (60, "L0R2"),
                (75, "L1R2"),
                (90, "nobody"),
            ],
        );
        check(
            policy(&[5], 1),
            &[(5, "L0R0"), (10, "L0R1"), (15, "nobody")],
        );
        check(policy(&[0], 0), &[(0, "L0R0"), (1, "nobody")]);
        check(policy(&[], 3), &[(0, "nobody")]);
    }

    #[test]
    fn a_late_engine_spaces_the_remaining_levels_from_now() {
        let e = Escalation::start(policy(&[0, 10, 10], 0), t0());
        let (_, e) = e.step(t0()).unwrap();
        // Down for an hour: level 1 fires on return; level 2 is 10 minutes after that.
        let late = t0() + Duration::hours(1);
        let (step, e) = e.step(late).unwrap();
        assert!(matches!(step, Step::Page { level: 1, .. }));
        assert_eq!(e.next_at, Some(late + Duration::minutes(10)));
    }

    #[test]
    fn escalate_now_and_stop() {
        let e = Escalation::start(policy(&[0, 30], 0), t0());
        let (_, mut e) = e.step(t0()).unwrap();
        let now = t0() + Duration::minutes(2);
        let jumped = e.escalate_now(now).unwrap();
        assert!(matches!(
            jumped.step(now).unwrap().0,
            Step::Page { level: 1, .. }
        ));
        e.stop();
        assert!(e.step(t0() + Duration::days(1)).is_none());
        let done = Escalation {
            exhausted: true,
            ..e
        };
        assert!(done.escalate_now(now).is_none());
    }

    #[test]
    fn targets_resolve_to_people_once_each() {
        let cfg = Config::parse(
            "t.toml",
            "[[users]]\nid = \"a\"\nname = \"A\"\n[[users]]\nid = \"b\"\nname = \"B\"\n[[teams]]\nid = \"t\"\nname = \"T\"\nleads = [\"a\"]\nmembers = [\"a\", \"b\"]\n",
        )
        .unwrap();
        let targets = [
            Target::Schedule("s".into()),
            Target::User("a".into()),
            Target::Team("t".into()),
            Target::Schedule("empty".into()),
        ];
        let got = resolve_targets(&cfg, &targets, |s| (s == "s").then(|| "b".to_string()));
        assert_eq!(got, ["b", "a"]);
    }
}
