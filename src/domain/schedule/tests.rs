//! Table-driven schedule tests (DST in four zones, leap day, restrictions,
//! precedence) and property tests over random schedules.

use super::*;
use crate::config::{Layer, Restriction, Rotation, Schedule};
use chrono::{Duration, NaiveTime};
use proptest::prelude::*;

fn local(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    local(s).and_utc()
}

fn layer(start: &str, rotation: Rotation, users: &[&str]) -> Layer {
    let start = local(start);
    Layer {
        name: "l".into(),
        start,
        rotation,
        handoff: start.time(),
        users: users.iter().map(|u| u.to_string()).collect(),
        restrictions: vec![],
    }
}

fn schedule(tz: Tz, layers: Vec<Layer>) -> Schedule {
    Schedule {
        id: "s".into(),
        team: "t".into(),
        time_zone: tz,
        layers,
    }
}

fn restriction(days: &str, from: &str, to: &str) -> Restriction {
    let mut d = [false; 7];
    for (i, name) in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .enumerate()
    {
        d[i] = days.contains(name);
    }
    let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
    Restriction::daily(d, t(from), t(to))
}

/// `cases`: (UTC instant, expected user) for `on_call_at` with no overrides.
fn check(s: &Schedule, cases: &[(&str, Option<&str>)]) {
    for (at, want) in cases {
        assert_eq!(
            on_call_at(s, &[], utc(at)),
            *want,
            "{} at {at} UTC",
            s.time_zone
        );
    }
}

#[test]
fn a_weekly_rotation_hands_off_at_the_wall_clock_time() {
    use chrono_tz::Europe::London;
    let s = schedule(
        London,
        vec![layer(
            "2026-11-02 09:00",
            Rotation::Weekly,
            &["a", "b", "c"],
        )],
    );
    check(
        &s,
        &[
            ("2026-11-02 08:59", None),
            ("2026-11-02 09:00", Some("a")),
            ("2026-11-09 08:59", Some("a")),
            ("2026-11-09 09:00", Some("b")),
            ("2026-11-16 09:00", Some("c")),
            ("2026-11-23 09:00", Some("a")),
        ],
    );
}

#[test]
fn handoffs_follow_dst_in_four_zones() {
    use chrono_tz::{America::New_York, Asia::Kolkata, Australia::Sydney, Europe::London};
    let daily = |tz, start| schedule(tz, vec![layer(start, Rotation::Daily, &["a", "b"])]);
    // London springs forward 2026-03-29 01:00 → 02:00: a 01:30 handoff does not
    // exist that day and moves to 02:00 BST (01:00 UTC).
    check(
        &daily(London, "2026-03-27 01:30"),
        &[
            ("2026-03-28 01:29", Some("a")),
            ("2026-03-28 01:30", Some("b")),
            ("2026-03-29 00:59", Some("b")),
            ("2026-03-29 01:00", Some("a")),
            ("2026-03-30 00:29", Some("a")),
            ("2026-03-30 00:30", Some("b")),
        ],
    );
    // London falls back 2026-10-25 02:00 → 01:00: 01:30 happens twice; the first counts.
    check(
        &daily(London, "2026-10-24 01:30"),
        &[
            ("2026-10-24 00:30", Some("a")),
            ("2026-10-25 00:29", Some("a")),
            ("2026-10-25 00:30", Some("b")),
            ("2026-10-26 01:29", Some("b")),
            ("2026-10-26 01:30", Some("a")),
        ],
    );
    // New York: spring 2026-03-08 (02:30 missing → 03:00 EDT = 07:00 UTC),
    // fall 2026-11-01 (01:30 twice → first, EDT = 05:30 UTC).
    check(
        &daily(New_York, "2026-03-07 02:30"),
        &[
            ("2026-03-08 06:59", Some("a")),
            ("2026-03-08 07:00", Some("b")),
            ("2026-03-09 06:29", Some("b")),
            ("2026-03-09 06:30", Some("a")),
        ],
    );
    check(
        &daily(New_York, "2026-10-31 01:30"),
        &[
            ("2026-11-01 05:29", Some("a")),
            ("2026-11-01 05:30", Some("b")),
            ("2026-11-02 06:29", Some("b")),
            ("2026-11-02 06:30", Some("a")),
        ],
    );
    // Sydney (southern hemisphere): DST ends 2026-04-05 03:00 → 02:00 (02:30 twice,
    // first is AEDT = 15:30 UTC the day before); starts 2026-10-04 02:00 → 03:00
    // (02:30 missing → 03:00 AEDT = 16:00 UTC the day before).
    check(
        &daily(Sydney, "2026-04-04 02:30"),
        &[
            ("2026-04-04 15:29", Some("a")),
            ("2026-04-04 15:30", Some("b")),
            ("2026-04-05 16:29", Some("b")),
            ("2026-04-05 16:30", Some("a")),
        ],
    );
    check(
        &daily(Sydney, "2026-10-03 02:30"),
        &[
            ("2026-10-03 15:59", Some("a")),
            ("2026-10-03 16:00", Some("b")),
            ("2026-10-04 15:29", Some("b")),
            ("2026-10-04 15:30", Some("a")),
        ],
    );
    // Kolkata is UTC+05:30 all year: 09:00 local is 03:30 UTC every day.
    check(
        &daily(Kolkata, "2026-03-07 09:00"),
        &[
            ("2026-03-08 03:29", Some("a")),
            ("2026-03-08 03:30", Some("b")),
            ("2026-03-09 03:30", Some("a")),
        ],
    );
}

#[test]
fn a_twelve_hour_rotation_keeps_wall_clock_handoffs_so_one_shift_is_eleven_hours() {
    use chrono_tz::Europe::London;
    let s = schedule(
        London,
        vec![layer(
            "2026-03-28 08:00",
            Rotation::Every(Duration::hours(12)),
            &["a", "b"],
        )],
    );
    let got = shifts(&s, &[], utc("2026-03-28 08:00"), utc("2026-03-29 20:00"));
    let spans: Vec<(Option<&str>, i64)> = got
        .iter()
        .map(|x| (x.user.as_deref(), (x.end - x.start).num_hours()))
        .collect();
    assert_eq!(
        spans,
        [
            (Some("a"), 12),
            (Some("b"), 11),
            (Some("a"), 12),
            (Some("b"), 1)
        ]
    );
}

#[test]
fn the_leap_day_is_a_day_like_any_other() {
    let s = schedule(
        chrono_tz::UTC,
        vec![layer("2028-02-27 09:00", Rotation::Daily, &["a", "b"])],
    );
    check(
        &s,
        &[
            ("2028-02-28 09:00", Some("b")),
            ("2028-02-29 09:00", Some("a")),
            ("2028-02-29 23:59", Some("a")),
            ("2028-03-01 09:00", Some("b")),
        ],
    );
    let weekly = schedule(
        chrono_tz::UTC,
        vec![layer("2028-02-26 09:00", Rotation::Weekly, &["a", "b"])],
    );
    check(
        &weekly,
        &[
            ("2028-03-04 08:59", Some("a")),
            ("2028-03-04 09:00", Some("b")),
        ],
    );
}

#[test]
fn overnight_windows_and_weekday_filters() {
    // 2026-11-27 is a Friday.
    let mut l = layer("2026-11-02 00:00", Rotation::Weekly, &["a"]);
    l.restrictions = vec![restriction("mon,tue,wed,thu,fri", "18:00", "09:00")];
    let s = schedule(chrono_tz::UTC, vec![l]);
    check(
        &s,
        &[
            ("2026-11-27 17:59", None),
            ("2026-11-27 18:00", Some("a")),
            ("2026-11-28 08:59", Some("a")), // Friday's window runs into Saturday
            ("2026-11-28 09:00", None),
            ("2026-11-28 20:00", None), // Saturday has no window
            ("2026-11-30 08:00", None), // Sunday's window would cover this; Sunday is off
            ("2026-12-01 08:00", Some("a")),
        ],
    );
}

#[test]
fn a_weekly_window_runs_from_friday_evening_to_monday_morning() {
    // 2026-11-27 is a Friday; London is on GMT (= UTC) in late November.
    let mut l = layer("2026-11-02 00:00", Rotation::Weekly, &["a"]);
    let mut fri = [false; 7];
    fri[4] = true;
    let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
    l.restrictions = vec![Restriction {
        days: fri,
        from: t("18:00"),
        to: t("09:00"),
        close_after_days: 3,
    }];
    let s = schedule(chrono_tz::Europe::London, vec![l]);
    check(
        &s,
        &[
            ("2026-11-27 17:59", None),
            ("2026-11-27 18:00", Some("a")),
            ("2026-11-28 12:00", Some("a")),
            ("2026-11-29 23:00", Some("a")),
            ("2026-11-30 08:59", Some("a")),
            ("2026-11-30 09:00", None),
            ("2026-12-02 12:00", None),
        ],
    );
}

#[test]
fn higher_layers_win_where_they_have_someone_and_restricted_time_falls_through() {
    let base = layer("2026-11-02 00:00", Rotation::Weekly, &["a", "b"]);
    let mut day = layer("2026-11-02 00:00", Rotation::Daily, &["c"]);
    day.restrictions = vec![restriction("mon,tue,wed,thu,fri", "09:00", "18:00")];
    let s = schedule(chrono_tz::UTC, vec![base, day]);
    check(
        &s,
        &[
            ("2026-11-03 10:00", Some("c")),
            ("2026-11-03 20:00", Some("a")),
            ("2026-11-07 10:00", Some("a")),
            ("2026-11-10 10:00", Some("c")),
            ("2026-11-10 18:00", Some("b")),
        ],
    );
}

#[test]
fn overrides_beat_every_layer_and_the_latest_override_wins() {
    let s = schedule(
        chrono_tz::UTC,
        vec![layer("2026-11-02 00:00", Rotation::Weekly, &["a"])],
    );
    let o = vec![
        Override {
            user: "x".into(),
            start: utc("2026-11-03 10:00"),
            end: utc("2026-11-03 12:00"),
        },
        Override {
            user: "y".into(),
            start: utc("2026-11-03 11:00"),
            end: utc("2026-11-03 11:30"),
        },
    ];
    let got = shifts(&s, &o, utc("2026-11-03 00:00"), utc("2026-11-04 00:00"));
    let summary: Vec<(Option<&str>, String)> = got
        .iter()
        .map(|x| (x.user.as_deref(), x.start.format("%H:%M").to_string()))
        .collect();
    assert_eq!(
        summary,
        [
            (Some("a"), "00:00".into()),
            (Some("x"), "10:00".into()),
            (Some("y"), "11:00".into()),
            (Some("x"), "11:30".into()),
            (Some("a"), "12:00".into()),
        ]
    );
}

#[test]
fn a_schedule_before_its_start_has_nobody_and_empty_windows_have_no_shifts() {
    let s = schedule(
        chrono_tz::UTC,
        vec![layer("2026-11-02 09:00", Rotation::Daily, &["a"])],
    );
    let got = shifts(&s, &[], utc("2026-11-01 00:00"), utc("2026-11-03 00:00"));
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].user, None);
    assert_eq!(got[0].end, utc("2026-11-02 09:00"));
    assert!(shifts(&s, &[], utc("2026-11-03 00:00"), utc("2026-11-03 00:00")).is_empty());
}

#[test]
fn a_shift_starts_when_it_really_began_however_far_back() {
    use chrono_tz::Europe::London;
    let weekly = schedule(
        London,
        vec![layer("2026-11-02 09:00", Rotation::Weekly, &["a", "b"])],
    );
    // One person for ever: the shift began with the layer, a year back.
    let alone = schedule(
        chrono_tz::UTC,
        vec![layer("2025-06-01 09:00", Rotation::Daily, &["a"])],
    );
    let cover = [Override {
        user: "b".into(),
        start: utc("2026-11-17 12:00"),
        end: utc("2026-11-18 12:00"),
    }];
    type Case<'a> = (&'a Schedule, &'a [Override], &'a str, &'a str);
    let cases: [Case; 7] = [
        (&weekly, &[], "2026-11-18 10:00", "2026-11-16 09:00"),
        (&weekly, &[], "2026-11-16 09:00", "2026-11-16 09:00"),
        (&weekly, &[], "2026-11-16 08:59", "2026-11-09 09:00"),
        (&weekly, &cover, "2026-11-18 10:00", "2026-11-17 12:00"),
        (&weekly, &cover, "2026-11-19 10:00", "2026-11-18 12:00"),
        (&alone, &[], "2026-11-25 10:00", "2025-06-01 09:00"),
        // Before anything starts, nobody has been on call since for ever: `t`.
        (&weekly, &[], "2026-10-01 00:00", "2026-10-01 00:00"),
    ];
    for (s, overrides, at, want) in cases {
        assert_eq!(shift_start(s, overrides, utc(at)), utc(want), "at {at}");
    }
}

// ---- properties -------------------------------------------------------------

const ZONES: &[Tz] = &[
    chrono_tz::Europe::London,
    chrono_tz::America::New_York,
    chrono_tz::Australia::Sydney,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Pacific::Chatham,
    chrono_tz::UTC,
];

fn base() -> NaiveDateTime {
    local("2026-01-01 00:00")
}

prop_compose! {
    fn arb_restriction()(
        days in proptest::array::uniform7(any::<bool>()),
        from in 0u32..96,
        to in 0u32..96,
        weekly in proptest::option::of(0u32..=7),
    ) -> Restriction {
        let t = |q: u32| NaiveTime::from_hms_opt(q / 4, (q % 4) * 15, 0).unwrap();
        match weekly {
            None => Restriction::daily(days, t(from), t(to)),
            Some(close_after_days) => Restriction { days, from: t(from), to: t(to), close_after_days },
        }
    }
}

prop_compose! {
    fn arb_layer()(
        start_min in 0i64..(400 * 24 * 60),
        rot in 0u8..3,
        every_h in 1i64..72,
        handoff_q in 0u32..96,
        n in 1usize..4,
        restrictions in proptest::collection::vec(arb_restriction(), 0..3),
    ) -> Layer {
        let rotation = match rot { 0 => Rotation::Daily, 1 => Rotation::Weekly, _ => Rotation::Every(Duration::hours(every_h)) };
        Layer {
            name: "p".into(),
            start: base() + Duration::minutes(start_min),
            rotation,
            handoff: NaiveTime::from_hms_opt(handoff_q / 4, (handoff_q % 4) * 15, 0).unwrap(),
            users: (0..n).map(|i| format!("u{i}")).collect(),
            restrictions,
        }
    }
}

prop_compose! {
    fn arb_override()(start_min in 0i64..(500 * 24 * 60), len_min in 1i64..(3 * 24 * 60)) -> Override {
        let start = (base() + Duration::minutes(start_min)).and_utc();
        Override { user: "ovr".into(), start, end: start + Duration::minutes(len_min) }
    }
}

prop_compose! {
    fn arb_case()(
        zone in 0usize..ZONES.len(),
        layers in proptest::collection::vec(arb_layer(), 1..4),
        overrides in proptest::collection::vec(arb_override(), 0..6),
        from_min in 0i64..(500 * 24 * 60),
        len_min in 1i64..(45 * 24 * 60),
    ) -> (Schedule, Vec<Override>, DateTime<Utc>, DateTime<Utc>) {
        let from = (base() + Duration::minutes(from_min)).and_utc();
        (schedule(ZONES[zone], layers), overrides, from, from + Duration::minutes(len_min))
    }
}

fn covered(overrides: &[Override], start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    let mut t = start;
    while t < end {
        match overrides
            .iter()
            .filter(|o| o.start <= t && t < o.end)
            .map(|o| o.end)
            .max()
        {
            Some(next) => t = next,
            None => return false,
        }
    }
    true
}

// proptest's default of 256 cases, which `PROPTEST_CASES` can raise (an
// explicit `with_cases` would ignore it).
proptest! {
    #[test]
    fn shifts_partition_the_window_and_agree_with_on_call_at((s, o, from, to) in arb_case()) {
        let got = shifts(&s, &o, from, to);
        prop_assert!(!got.is_empty());
        prop_assert_eq!(got[0].start, from);
        prop_assert_eq!(got[got.len() - 1].end, to);
        for w in got.windows(2) {
            prop_assert_eq!(w[0].end, w[1].start, "gap or overlap");
            prop_assert_ne!(&w[0].user, &w[1].user, "adjacent shifts not merged");
        }
        for sh in &got {
            prop_assert!(sh.start < sh.end);
            let last = sh.end - Duration::seconds(1);
            let mid = sh.start + (sh.end - sh.start) / 2;
            for t in [sh.start, mid, last.max(sh.start)] {
                prop_assert_eq!(on_call_at(&s, &o, t), sh.user.as_deref(), "at {}", t);
            }
            if sh.user.as_deref() == Some("ovr") {
                prop_assert!(covered(&o, sh.start, sh.end), "override leaked outside its interval");
            }
        }
    }

    #[test]
    fn resolving_local_times_is_monotonic(zone in 0usize..ZONES.len(), a in 0i64..(800 * 24 * 60), d in 0i64..(3 * 60)) {
        let tz = ZONES[zone];
        let t1 = base() + Duration::minutes(a);
        let t2 = t1 + Duration::minutes(d);
        prop_assert!(resolve_local(tz, t1) <= resolve_local(tz, t2));
    }
}
