use super::*;
use crate::domain::home::{MyShift, OnCall};
use crate::domain::warroom::Sev;
use chrono::TimeZone;

fn t(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + Duration::hours(h)
}

fn config() -> Config {
    Config::parse(
        "t.toml",
        "[[users]]\nid = \"bob\"\nname = \"Bob\"\nslack_id = \"U0BOB\"\n",
    )
    .unwrap()
}

fn incident(id: u64, state: State) -> MyIncident {
    MyIncident {
        id,
        summary: format!("Disk full on db-{id} <!here> & more"),
        state,
        sev: Sev::Sev2,
        service: "Public API".into(),
        opened: t(1),
        part: Part::Paged,
    }
}

/// A Home with `n` of everything.
fn big(n: usize) -> Home {
    Home {
        user: Some("bob".into()),
        teams: (0..n)
            .map(|k| TeamOnCall {
                team: format!("t{k}"),
                name: format!("Team {k}"),
                schedules: (0..n)
                    .map(|s| OnCall {
                        schedule: format!("schedule-{s}"),
                        now: Some("bob".into()),
                        until: Some(t(8)),
                        next: Some((None, t(8))),
                    })
                    .collect(),
            })
            .collect(),
        incidents: (0..n as u64)
            .map(|i| incident(i + 1, State::Triggered))
            .collect(),
        shifts: (0..n.min(crate::domain::home::SHIFTS_MAX))
            .map(|k| MyShift {
                schedule: "primary".into(),
                start: t(24 * k as i64),
                end: t(24 * k as i64 + 8),
            })
            .collect(),
        led: (0..n)
            .map(|k| TeamHealth {
                team: format!("t{k}"),
                name: format!("Team {k}"),
                load: (0..n)
                    .map(|u| (format!("user{u}"), Duration::hours(u as i64)))
                    .collect(),
                spread: Duration::hours(n as i64),
                gaps: vec![("primary".into(), t(18), t(33))],
                gap_count: 40,
            })
            .collect(),
    }
}

fn blocks(v: &Value) -> &Vec<Value> {
    v["blocks"].as_array().unwrap()
}

/// Every limit Slack checks on a Home view.
fn within_limits(v: &Value) {
    let parsed: slack_morphism::prelude::SlackView = serde_json::from_value(v.clone()).unwrap();
    assert!(matches!(
        parsed,
        slack_morphism::prelude::SlackView::Home(_)
    ));
    let b = blocks(v);
    assert!(b.len() <= MAX_BLOCKS, "{} blocks", b.len());
    for block in b {
        if let Some(text) = block["text"]["text"].as_str() {
            assert!(
                text.chars().count() <= 3000,
                "{} chars",
                text.chars().count()
            );
        }
        for e in block["elements"].as_array().into_iter().flatten() {
            assert!(e["text"].as_str().map_or(0, |t| t.chars().count()) <= 3000);
            if let Some(label) = e["text"]["text"].as_str() {
                assert!(label.chars().count() <= 75);
            }
            assert!(e["value"].as_str().map_or(0, str::len) <= 2000);
        }
        if block["type"] == "actions" {
            assert!(block["elements"].as_array().unwrap().len() <= 25);
        }
    }
    let ids: Vec<&str> = b.iter().filter_map(|x| x["block_id"].as_str()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "block ids repeat");
}

#[test]
fn a_home_with_more_than_fits_stays_within_slacks_limits() {
    let config = config();
    for n in [0, 1, 3, 30, 200] {
        let v = view(&big(n), &config, t(2));
        within_limits(&v);
    }
    let v = view(&big(200), &config, t(2));
    let text = v.to_string();
    assert!(
        text.contains("…and 180 more: `/incident list`."),
        "the rest are counted"
    );
}

#[test]
fn incidents_carry_the_buttons_that_apply_and_their_text_is_inert() {
    let config = config();
    let mut home = big(0);
    home.incidents = vec![
        incident(7, State::Triggered),
        incident(8, State::Acknowledged),
    ];
    let v = view(&home, &config, t(2));
    within_limits(&v);
    let labels = |id: u64| -> Vec<String> {
        blocks(&v)
            .iter()
            .find(|b| b["block_id"] == format!("home_incident_{id}"))
            .map(|b| {
                b["elements"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["text"]["text"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(labels(7), ["Acknowledge", "Resolve"]);
    assert_eq!(labels(8), ["Resolve"]);
    let text = v.to_string();
    assert!(!text.contains("<!here>"), "outside text must not ping");
    assert!(text.contains("&lt;!here&gt; &amp; more"), "{text}");
    assert!(text.contains("Your open incidents (2)"));
}

#[test]
fn shifts_offer_cover_and_swap_and_a_stranger_is_told_why_the_home_is_short() {
    let config = config();
    let v = view(&big(1), &config, t(2));
    let text = v.to_string();
    for want in [
        "Ask for cover",
        "Offer a swap",
        "Teams you lead",
        "40 uncovered stretches",
        "<@U0BOB>",
    ] {
        assert!(text.contains(want), "{want} missing: {text}");
    }
    let stranger = Home {
        user: None,
        teams: vec![],
        incidents: vec![],
        shifts: vec![],
        led: vec![],
    };
    let v = view(&stranger, &config, t(2));
    within_limits(&v);
    let text = v.to_string();
    assert!(text.contains("does not name you"), "{text}");
    assert!(!text.contains("Your next shifts"), "{text}");
}
