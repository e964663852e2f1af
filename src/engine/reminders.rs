//! Reminders: the later steps of people's notification rules (an SMS five
//! minutes after the DM, then a call), kept on the incident as it was paged.
//! They are part of the incident's due time, so they run in the same step
//! and transaction as escalation: a level that pages and a reminder due at
//! once are one write, and a restart resumes them from the due index.

use crate::config::Config;
use crate::domain::incident::Incident;
use crate::domain::notify;
use chrono::{DateTime, Utc};

/// Sends the reminders on `next` due by `now` and drops them from it.
pub(super) fn plan(
    config: &Config,
    next: &mut Incident,
    now: DateTime<Utc>,
    ops: &mut notify::Work,
) {
    notify::due_reminders(config, next, now, ops);
}

#[cfg(test)]
mod tests {
    use super::super::plan_step;
    use crate::config::Config;
    use crate::store::Outbound;
    use chrono::{Duration, TimeZone, Utc};

    const CONFIG: &str =
        "[[users]]\nid = \"a\"\nname = \"A\"\nslack_id = \"UA\"\nphone = \"+447700900001\"\n\
        notify = [{ after_minutes = 0, via = \"slack\" }, { after_minutes = 5, via = \"sms\" }]\n";

    #[test]
    fn a_reminder_goes_out_with_the_incidents_step_once() {
        let config = Config::parse("t.toml", CONFIG).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        let mut inc = crate::domain::incident::tests::sample(1);
        crate::domain::notify::page(&config, &mut inc, "a", Some(0), t0, &mut vec![]);
        let due = inc.next_due().unwrap();
        assert_eq!(due, t0 + Duration::minutes(5));
        // Not due yet: the step is not run.
        assert!(plan_step(&config, &inc, t0, t0, &|_| None).is_err());
        let (next, ops) = plan_step(&config, &inc, due, due, &|_| None).unwrap();
        let ops: Vec<&Outbound> = ops.iter().map(|(_, op)| op).collect();
        assert!(matches!(ops[0], Outbound::Sms { to, .. } if to == "+447700900001"));
        assert!(matches!(ops[1], Outbound::UpdateIncident { incident: 1 }));
        assert_eq!(ops.len(), 2);
        assert!(next.reminders.is_empty());
        assert_eq!(next.next_due(), None, "nothing more to send");
    }
}
