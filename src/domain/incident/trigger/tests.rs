use super::*;
use crate::domain::incident::tests::sample;
use crate::domain::incident::{Actor, Stamp};
use chrono::TimeZone;

fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap() + Duration::minutes(min)
}

fn alerted(alert: &AlertDetails) -> Alerted<'_> {
    Alerted {
        service_id: "api",
        routing_key: "k",
        dedup_key: "d1",
        alert,
        alert_channel: Some("C1"),
        escalation: None,
        urgency: Urgency::Low,
        alerts: &[],
        changes: &[],
        join_within: None,
        flapping: None,
        room: None,
        insight: &NO_INSIGHT,
    }
}

static NO_INSIGHT: crate::domain::incident::Insight = crate::domain::incident::Insight {
    outlier: None,
    nearest: None,
    past: Vec::new(),
};

fn resolved_at(min: i64) -> Incident {
    let mut i = sample(1);
    i.state = State::Resolved;
    i.resolved = Some(Stamp {
        by: Actor::Integration { client: None },
        at: t(min),
    });
    i
}

fn kind(d: &Decision) -> &'static str {
    match d {
        Decision::Append(_) => "append",
        Decision::Reopen(_) => "reopen",
        Decision::Open(_) => "open",
    }
}

#[test]
fn the_join_window_includes_its_edge() {
    let prev = sample(1); // last alert at t(0)
    let alert = prev.alert.clone();
    for (at, within, want) in [
        (t(10), None, "append"),
        (t(5), Some(5), "append"),
        (t(5) + Duration::milliseconds(1), Some(5), "open"),
        (t(30), Some(5), "open"),
    ] {
        let mut a = alerted(&alert);
        a.join_within = within.map(Duration::minutes);
        let d = decide(Some(&prev), &a, at);
        assert_eq!(kind(&d), want, "at {at}, within {within:?}");
    }
    let Decision::Append(next) = decide(Some(&prev), &alerted(&alert), t(1)) else {
        panic!("joins")
    };
    assert_eq!(
        (next.id, next.alert_count, next.last_alert_at),
        (1, 2, t(1))
    );
}

#[test]
fn a_resolved_incident_is_never_joined() {
    let prev = resolved_at(1);
    let d = decide(Some(&prev), &alerted(&prev.alert), t(2));
    let Decision::Open(new) = d else {
        panic!("opens anew")
    };
    assert_eq!((new.id, new.alert_count, new.flap_times.len()), (0, 1, 0));
    assert_eq!(new.alert.custom_details, None);
    assert_eq!(new.urgency, Urgency::Low);
}

#[test]
fn flapping_reopens_only_past_the_count_within_the_window() {
    // (earlier re-triggers kept on the incident, resolved at, now, want)
    let w = Duration::minutes(10);
    for (earlier, resolved, now, want) in [
        (vec![], 1, 2, "open"),              // 1 re-trigger: not past 2
        (vec![t(0)], 1, 2, "open"),          // 2: not past 2
        (vec![t(-1), t(0)], 1, 2, "reopen"), // 3: past 2
        (vec![t(-9), t(0)], 1, 1, "reopen"), // t(-9) is 10 min before: counted
        (vec![t(-10), t(0)], 1, 1, "open"),  // 11 min before: dropped
        (vec![t(-1), t(0)], 1, 12, "open"),  // resolved 11 min ago: not flapping
    ] {
        let mut prev = resolved_at(resolved);
        prev.flap_times = earlier.clone();
        let mut a = alerted(&prev.alert);
        a.flapping = Some((2, w));
        let d = decide(Some(&prev), &a, t(now));
        assert_eq!(kind(&d), want, "{earlier:?} resolved {resolved} now {now}");
        match d {
            Decision::Reopen(next) => {
                assert!(next.flapping && next.is_open());
                assert_eq!((next.id, next.alert_count), (1, 2));
                assert_eq!(next.flap_times.last(), Some(&t(now)));
            }
            Decision::Open(new) => {
                // A new incident remembers the re-triggers that did count.
                let resolved_recently = t(now) - t(resolved) <= w;
                assert_eq!(new.flap_times.is_empty(), !resolved_recently);
            }
            Decision::Append(_) => unreachable!(),
        }
    }
}

#[test]
fn a_critical_or_error_alert_raises_the_urgency_of_the_incident_it_joins() {
    let mut prev = sample(1);
    prev.urgency = Urgency::Low;
    prev.held = vec![crate::domain::incident::Held {
        user: "alice".into(),
        level: None,
        until: t(60),
    }];
    for (severity, raised) in [
        (Severity::Critical, true),
        (Severity::Error, true),
        (Severity::Warning, false),
        (Severity::Info, false),
    ] {
        let mut alert = prev.alert.clone();
        alert.severity = severity;
        let Decision::Append(next) = decide(Some(&prev), &alerted(&alert), t(1)) else {
            panic!("joins")
        };
        assert_eq!(next.urgency == Urgency::High, raised, "{severity:?}");
        assert_eq!(next.held[0].until == t(1), raised, "held pages due at once");
    }
}
