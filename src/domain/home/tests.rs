use super::*;
use crate::domain::incident::{tests::sample, Page, Stamp};
use chrono::TimeZone;

const CONFIG: &str = r#"
[[users]]
id = "alice"
name = "Alice"
slack_id = "U0ALICE"
[[users]]
id = "bob"
name = "Bob"
slack_id = "U0BOB"
[[users]]
id = "carol"
name = "Carol"
slack_id = "U0CAROL"
[[users]]
id = "dave"
name = "Dave"

[[teams]]
id = "platform"
name = "Platform"
leads = ["carol"]
members = ["alice", "bob", "carol", "dave"]

[[schedules]]
id = "primary"
team = "platform"
time_zone = "UTC"
[[schedules.layers]]
name = "daily"
start = "2026-11-30T09:00:00"
rotation = "daily"
users = ["alice", "bob"]
restrictions = [{ days = "mon-fri", from = "09:00", to = "18:00" }]

[[services]]
id = "api"
name = "Public API"
team = "platform"
integration_key = "0123456789abcdef0123456789abcdef"
"#;

fn config() -> Config {
    Config::parse("t.toml", CONFIG).unwrap()
}

/// Tuesday 2026-12-01, `h`:00 UTC.
fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()
}

fn home(config: &Config, open: &[Incident], overrides: &[Override], slack: &str) -> Home {
    let overrides = HashMap::from([("primary".to_string(), overrides.to_vec())]);
    let f = Facts {
        config,
        open,
        overrides: &overrides,
        now: t(10),
    };
    build(&f, slack)
}

fn paged(mut inc: Incident, user: &str) -> Incident {
    inc.paged.push(Page {
        user: user.into(),
        at: t(9),
        level: Some(0),
    });
    inc
}

#[test]
fn a_member_sees_who_is_on_call_now_and_next_and_their_own_shifts() {
    let config = config();
    let h = home(&config, &[], &[], "U0BOB");
    assert_eq!(h.user.as_deref(), Some("bob"));
    assert_eq!(h.teams.len(), 1);
    let on = &h.teams[0].schedules[0];
    // Tuesday is the second day of the rotation: bob until 18:00, then nobody.
    assert_eq!(on.now.as_deref(), Some("bob"));
    assert_eq!(on.until, Some(t(18)));
    assert_eq!(on.next, Some((None, t(18))));
    let starts: Vec<DateTime<Utc>> = h.shifts.iter().map(|s| s.start).collect();
    // The current shift (from now), then Thursday's, Monday's, …
    assert_eq!(starts[0], t(10));
    assert_eq!(h.shifts[0].end, t(18));
    assert_eq!(starts[1], t(9) + Duration::days(2));
    assert!(
        h.shifts.len() <= SHIFTS_MAX && h.shifts.len() >= 4,
        "{:?}",
        h.shifts
    );
    assert!(h.led.is_empty(), "bob leads nothing");
}

#[test]
fn an_override_changes_who_is_on_call_now() {
    let config = config();
    let o = Override {
        user: "dave".into(),
        start: t(8),
        end: t(12),
    };
    let h = home(&config, &[], &[o], "U0BOB");
    let on = &h.teams[0].schedules[0];
    assert_eq!(on.now.as_deref(), Some("dave"));
    assert_eq!(on.next, Some((Some("bob".into()), t(12))));
    assert_eq!(h.shifts[0].start, t(12), "bob's shift now starts at noon");
}

#[test]
fn a_lead_sees_the_load_spread_and_the_uncovered_nights() {
    let config = config();
    let h = home(&config, &[], &[], "U0CAROL");
    assert_eq!(h.led.len(), 1);
    let health = &h.led[0];
    let names: Vec<&str> = health.load.iter().map(|(u, _)| u.as_str()).collect();
    // Everyone in the team is listed, those with no hours too.
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(
        health.load.last().unwrap(),
        &("dave".to_string(), Duration::zero())
    );
    assert_eq!(health.spread, health.load[0].1);
    // Nights and weekends are uncovered: ten weekday evenings, two weekends, and more.
    assert!(health.gap_count >= 10, "{}", health.gap_count);
    assert_eq!(health.gaps.len(), GAPS_MAX);
    assert_eq!(
        health.gaps[0],
        ("primary".to_string(), t(18), t(9) + Duration::days(1))
    );
}

#[test]
fn only_incidents_the_person_is_part_of_are_theirs_triggered_first() {
    let config = config();
    let mut acked = paged(sample(1), "bob");
    acked.state = State::Acknowledged;
    acked.acknowledged = Some(Stamp {
        by: Actor::Slack {
            user_id: "U0BOB".into(),
        },
        at: t(9),
    });
    let fresh = paged(sample(2), "bob");
    let others = paged(sample(3), "alice");
    let mut led = sample(4);
    led.coord.commander = Some("U0BOB".into());
    let open = [acked, fresh, others, led];
    let h = home(&config, &open, &[], "U0BOB");
    let ids: Vec<(u64, Part)> = h.incidents.iter().map(|i| (i.id, i.part)).collect();
    assert_eq!(
        ids,
        [
            (2, Part::Paged),
            (4, Part::Commander),
            (1, Part::Acknowledged)
        ]
    );
    assert_eq!(h.incidents[0].service, "Public API");
    // Someone Slack knows but the config does not: their incidents, nothing else.
    let stranger = home(&config, &open, &[], "U0NOBODY");
    assert_eq!(stranger.user, None);
    assert!(stranger.incidents.is_empty() && stranger.teams.is_empty());
}

#[test]
fn a_change_touches_the_homes_of_the_people_in_the_incident_only_when_a_home_shows_it() {
    let config = config();
    let dir = Directory::of(&config);
    let before = paged(sample(1), "bob");
    let mut repeat = before.clone();
    repeat.alert_count += 1;
    assert!(
        touched(Some(&before), &repeat, &dir).is_empty(),
        "a repeat alert"
    );
    let mut acked = before.clone();
    acked.state = State::Acknowledged;
    acked.acknowledged = Some(Stamp {
        by: Actor::Slack {
            user_id: "U0ALICE".into(),
        },
        at: t(10),
    });
    let got: Vec<String> = touched(Some(&before), &acked, &dir).into_iter().collect();
    assert_eq!(got, ["U0ALICE", "U0BOB"]);
    // Paging dave, who has no Slack id, touches no Home.
    let dave = paged(sample(2), "dave");
    assert!(touched(Some(&sample(2)), &dave, &dir).is_empty());
    assert!(
        touched(None, &sample(3), &dir).is_empty(),
        "nobody paged yet"
    );
    let notices = refresh(got);
    assert_eq!(notices[0].0, "home:U0ALICE");
    assert_eq!(
        notices[0].1,
        Outbound::PublishHome {
            user: "U0ALICE".into()
        }
    );
}

#[test]
fn a_schedule_change_concerns_its_team() {
    let config = config();
    let got: Vec<String> = schedule_people(&config, "primary").into_iter().collect();
    assert_eq!(got, ["U0ALICE", "U0BOB", "U0CAROL"]);
    assert!(schedule_people(&config, "nope").is_empty());
}

#[test]
fn a_shift_is_found_again_by_its_start_as_cover_counts_them() {
    let config = config();
    let s = config.schedule("primary").unwrap();
    let thursday = t(9) + Duration::days(2);
    // Bob's current shift is his first; Thursday's his second.
    assert_eq!(nth_shift(s, &[], "bob", t(10), t(10)), Some(1));
    assert_eq!(nth_shift(s, &[], "bob", thursday, t(10)), Some(2));
    // Later the same day the current one still counts, by its clipped start.
    assert_eq!(nth_shift(s, &[], "bob", t(10), t(11)), Some(1));
    // Once it is over it is gone, and a time no shift starts at names none.
    assert_eq!(nth_shift(s, &[], "bob", t(10), t(19)), None);
    assert_eq!(nth_shift(s, &[], "bob", t(13), t(10)), None);
    assert_eq!(nth_shift(s, &[], "alice", thursday, t(10)), None);
}
