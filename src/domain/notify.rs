//! Paging a person: their notification rules (a Slack DM now, an SMS in five
//! minutes, a call in ten) turned into outbound work now and reminders for
//! later. Pure: the caller stores the incident and the work in one transaction.

use crate::config::{Config, Via};
use crate::domain::incident::{Incident, Notice, Page, Reminder, State};
use crate::domain::notice::Outbound;
use chrono::{DateTime, Duration, Utc};

/// Work for the outbox: (lane, what to do).
pub type Work = Vec<(String, Outbound)>;

/// Records a page of `user` on `inc` and returns the work due now; later rule
/// steps become reminders. Returns `false` if the person cannot be reached at
/// all (no Slack id and no phone rule).
pub fn page(
    config: &Config,
    inc: &mut Incident,
    user: &str,
    level: Option<usize>,
    now: DateTime<Utc>,
    work: &mut Work,
) -> bool {
    let Some(person) = config.user(user) else {
        tracing::warn!(incident = inc.id, %user, "cannot page: unknown user");
        return false;
    };
    let rules = person.notify_rules();
    let reachable = rules.iter().any(|r| match r.via {
        Via::Slack => person.slack_id.is_some(),
        Via::Sms | Via::Phone => person.phone.is_some(),
    });
    if !reachable {
        tracing::warn!(incident = inc.id, %user, "cannot page: no slack_id (or phone for its rules)");
        return false;
    }
    let page = inc.paged.len();
    inc.paged.push(Page {
        user: user.to_string(),
        at: now,
        level,
    });
    // A new page starts the person's rules afresh; the old ones would double up.
    inc.reminders.retain(|r| r.user != user);
    let mut dm = false;
    for rule in rules {
        let at = now + Duration::minutes(rule.after_minutes.into());
        let nudge = rule.via == Via::Slack && dm;
        dm |= rule.via == Via::Slack;
        if at <= now {
            record(inc, user, rule.via, now);
            work.extend(notice(config, inc, user, page, rule.via, nudge));
        } else if inc.state == State::Triggered {
            // Rules stop once someone acknowledged: an assignment to an
            // acknowledged incident tells the person once, without chasing.
            inc.reminders.push(Reminder {
                user: user.to_string(),
                page,
                via: rule.via,
                nudge,
                at,
            });
        }
    }
    true
}

/// Sends the reminders due by `now` and drops them from `inc`.
pub fn due_reminders(config: &Config, inc: &mut Incident, now: DateTime<Utc>, work: &mut Work) {
    let (due, later): (Vec<Reminder>, Vec<Reminder>) =
        inc.reminders.drain(..).partition(|r| r.at <= now);
    inc.reminders = later;
    for r in due {
        record(inc, &r.user, r.via, now);
        work.extend(notice(config, inc, &r.user, r.page, r.via, r.nudge));
    }
}

/// Keeps what interrupted whom, for the load reports.
fn record(inc: &mut Incident, user: &str, via: Via, at: DateTime<Utc>) {
    inc.notices.push(Notice {
        user: user.to_string(),
        via,
        at,
    });
}

/// The work that tells `user` about `inc` by `via`. The first Slack notice of
/// a page is the DM with buttons; a `nudge` is a later, short one.
fn notice(
    config: &Config,
    inc: &Incident,
    user: &str,
    page: usize,
    via: Via,
    nudge: bool,
) -> Option<(String, Outbound)> {
    let person = config.user(user)?;
    match via {
        Via::Slack => {
            let slack = person.slack_id.clone()?;
            if nudge {
                Some((slack.clone(), reminder(inc, slack)))
            } else {
                Some((
                    slack.clone(),
                    Outbound::PageUser {
                        incident: inc.id,
                        user: slack,
                        page,
                    },
                ))
            }
        }
        Via::Sms => {
            let to = person.phone.clone()?;
            Some((
                lane(&to),
                Outbound::Sms {
                    incident: inc.id,
                    to,
                },
            ))
        }
        Via::Phone => {
            let to = person.phone.clone()?;
            Some((
                lane(&to),
                Outbound::Call {
                    incident: inc.id,
                    user: user.to_string(),
                    to,
                },
            ))
        }
    }
}

/// A later Slack nudge about `inc` for `to` (a Slack id), as it stands now.
pub fn reminder(inc: &Incident, to: String) -> Outbound {
    Outbound::PageReminder {
        to,
        incident: inc.id,
        summary: inc.alert.summary.clone(),
        severity: inc.alert.severity,
        service: inc.service_id.clone(),
        paged_at: inc.paged.last().map_or(inc.created_at, |p| p.at),
    }
}

/// Outbox lane of a phone number: its messages and calls go out in order.
pub fn lane(phone: &str) -> String {
    format!("tel:{phone}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::{Actor, Transition};
    use chrono::TimeZone;

    const CONFIG: &str = "[[users]]\nid = \"a\"\nname = \"A\"\nslack_id = \"UA\"\nphone = \"+447700900001\"\n\
        notify = [{ after_minutes = 0, via = \"slack\" }, { after_minutes = 5, via = \"sms\" }, \
                  { after_minutes = 10, via = \"phone\" }, { after_minutes = 15, via = \"slack\" }]\n\
        [[users]]\nid = \"nobody\"\nname = \"No Way To Reach\"\n";

    fn setup() -> (Config, Incident, DateTime<Utc>) {
        let config = Config::parse("t.toml", CONFIG).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        (config, crate::domain::incident::tests::sample(1), t0)
    }

    fn kinds(work: &Work) -> Vec<String> {
        work.iter()
            .map(|(lane, op)| match op {
                Outbound::PageUser { user, page, .. } => format!("{lane} dm {user} page {page}"),
                Outbound::PageReminder { to, .. } => format!("{lane} nudge {to}"),
                Outbound::Sms { to, .. } => format!("{lane} sms {to}"),
                Outbound::Call { user, to, .. } => format!("{lane} call {user} {to}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn rules_fire_in_order_each_once() {
        let (config, mut inc, t0) = setup();
        let mut work = vec![];
        assert!(page(&config, &mut inc, "a", Some(0), t0, &mut work));
        assert_eq!(kinds(&work), ["UA dm UA page 0"]);
        assert_eq!(inc.next_due(), Some(t0 + Duration::minutes(5)));
        let mut at = |m: i64| {
            let mut w = vec![];
            due_reminders(&config, &mut inc, t0 + Duration::minutes(m), &mut w);
            kinds(&w)
        };
        assert!(at(4).is_empty());
        assert_eq!(at(5), ["tel:+447700900001 sms +447700900001"]);
        assert!(at(6).is_empty(), "an SMS is sent once");
        // After a long stop, everything overdue goes out, in order.
        assert_eq!(
            at(30),
            ["tel:+447700900001 call a +447700900001", "UA nudge UA"]
        );
        assert!(at(60).is_empty());
        let vias: Vec<Via> = inc.notices.iter().map(|n| n.via).collect();
        assert_eq!(vias, [Via::Slack, Via::Sms, Via::Phone, Via::Slack]);
    }

    #[test]
    fn acknowledging_stops_the_rules() {
        let (config, mut inc, t0) = setup();
        page(&config, &mut inc, "a", Some(0), t0, &mut vec![]);
        let by = Actor::Slack {
            user_id: "UA".into(),
        };
        let acked = inc.apply(Transition::Acknowledge, by, t0).unwrap();
        assert!(acked.reminders.is_empty());
        assert_eq!(acked.next_due(), None);
        // Assigning someone to an acknowledged incident tells them once, no chase.
        let mut acked = acked;
        let mut work = vec![];
        page(&config, &mut acked, "a", None, t0, &mut work);
        assert_eq!(work.len(), 1);
        assert!(acked.reminders.is_empty());
    }

    #[test]
    fn a_new_page_restarts_the_rules_instead_of_doubling_them() {
        let (config, mut inc, t0) = setup();
        page(&config, &mut inc, "a", Some(0), t0, &mut vec![]);
        let later = t0 + Duration::minutes(3);
        let mut work = vec![];
        page(&config, &mut inc, "a", Some(0), later, &mut work);
        assert_eq!(kinds(&work), ["UA dm UA page 1"]);
        assert_eq!(inc.reminders.len(), 3);
        assert!(inc.reminders.iter().all(|r| r.page == 1));
        assert_eq!(inc.next_due(), Some(later + Duration::minutes(5)));
    }

    #[test]
    fn someone_unreachable_is_not_recorded_as_paged() {
        let (config, mut inc, t0) = setup();
        let mut work = vec![];
        assert!(!page(&config, &mut inc, "nobody", Some(0), t0, &mut work));
        assert!(!page(&config, &mut inc, "ghost", Some(0), t0, &mut work));
        assert!(work.is_empty() && inc.paged.is_empty() && inc.reminders.is_empty());
    }
}
