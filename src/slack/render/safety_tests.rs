//! Property: text from outside never adds Slack markup to anything rendered.
//!
//! Every field an alert, a webhook or a person can fill is set to hostile
//! text, and every Slack renderer runs over the incident and every notice
//! about it. The markup tokens
//! that ping or link (`<!`, `<@`, `<#`, `<http`, `<mailto`) must be exactly
//! those of the same incident with every such field set to a harmless `x`:
//! the ones tocsin put there itself.

use super::*;
use crate::domain::incident::tests::sample;
use crate::domain::incident::{Attempt, CallLog, Change, Link, Page, Stamp, SubAlert, Voicemail};
use crate::domain::warroom::{Entry, EntryKind, Sev};
use chrono::TimeZone;
use proptest::prelude::*;

const TOKENS: &[&str] = &["<!", "<@", "<#", "<http", "<mailto"];

/// Hostile text: the fragments that ping and link, mixed with anything else.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<!channel>".to_string()),
        Just("<!here|here>".to_string()),
        Just("<!subteam^S123>".to_string()),
        Just("<@U0EVIL>".to_string()),
        Just("<#C0EVIL>".to_string()),
        Just("<https://evil.example/|Click to ack>".to_string()),
        Just("<mailto:x@evil.example|mail>".to_string()),
        Just("&lt;!channel&gt;".to_string()),
        Just("\u{0}\u{1b}\r".to_string()),
        "[<>&|!@#:/ a-z]{0,12}",
        "\\PC{0,8}",
    ];
    prop::collection::vec(piece, 1..6).prop_map(|v| v.concat())
}

/// A URL tocsin must refuse to link: a bad scheme, or a character that
/// would end the link token and start another.
fn hostile_url() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("https://ok.example/"),
            Just("javascript:"),
            Just("data:"),
            Just("")
        ],
        hostile(),
        prop_oneof![Just("|"), Just(">"), Just("<"), Just(" ")],
    )
        .prop_map(|(scheme, rest, bad)| format!("{scheme}{bad}{rest}"))
        // `https://ok.example/ ` is a good URL once trimmed: not hostile.
        .prop_filter("a URL tocsin refuses", |u| {
            crate::slack::mrkdwn::safe_url(u).is_none()
        })
}

/// The incident with every outside field filled from `t` (texts) and `u` (URLs).
fn incident_with(t: &[String], u: &[String]) -> Incident {
    let at = Utc.with_ymd_and_hms(2026, 3, 29, 0, 30, 0).unwrap();
    let mut inc = sample(4);
    inc.alert.summary = t[0].clone();
    inc.alert.source = t[1].clone();
    inc.alert.client = Some(t[2].clone());
    inc.alert.client_url = Some(u[0].clone());
    inc.alert.links = vec![
        Link {
            href: u[1].clone(),
            text: Some(t[3].clone()),
        },
        // A good link keeps working, with a hostile label made inert.
        Link {
            href: "https://runbooks.example/db?a=1&b=2".into(),
            text: Some(t[4].clone()),
        },
    ];
    inc.alerts = vec![SubAlert {
        key: "k".into(),
        summary: t[5].clone(),
        firing: true,
        link: Some(u[2].clone()),
        since: at,
        similar: Some(crate::domain::incident::Similar {
            score: 860,
            tokens: Default::default(),
        }),
    }];
    inc.insight.nearest = Some(crate::domain::incident::Nearest { id: 3, score: 410 });
    inc.insight.outlier = Some(crate::domain::similarity::Outlier::Anomaly);
    inc.insight.past = vec![crate::domain::incident::Past {
        id: 2,
        title: t[0].clone(),
        service_id: t[1].clone(),
        opened: at,
        resolved: crate::domain::incident::Stamp {
            by: crate::domain::incident::Actor::Integration {
                client: Some(t[2].clone()),
            },
            at,
        },
        score: 910,
        note: Some(t[5].clone()),
        room: Some("C0ROOM".into()),
    }];
    inc.changes = vec![Change {
        summary: t[6].clone(),
        source: Some(t[7].clone()),
        at,
        link: Some(Link {
            href: u[3].clone(),
            text: None,
        }),
    }];
    inc.call = Some(CallLog {
        sid: "CA1".into(),
        caller: t[8].clone(),
        route: t[9].clone(),
        queue: vec![],
        attempts: vec![Attempt {
            user: "alice".into(),
            status: t[10].clone(),
            rang_seconds: 3,
            talk_seconds: None,
        }],
        ringing_since: None,
        answered_by: None,
        caller_hung_up: false,
        voicemail: Some(Voicemail {
            recording_url: u[4].clone(),
            seconds: 9,
            transcription: Some(t[11].clone()),
        }),
    });
    inc.acknowledged = Some(Stamp {
        by: Actor::Integration {
            client: Some(t[12].clone()),
        },
        at,
    });
    inc.state = State::Acknowledged;
    inc.paged = vec![Page {
        user: "alice".into(),
        at,
        level: Some(0),
    }];
    inc.coord.description = Some(t[13].clone());
    inc.coord.commander = Some("U0ALICE".into());
    inc.coord.timeline = [EntryKind::Note, EntryKind::Pin, EntryKind::Update]
        .into_iter()
        .enumerate()
        .map(|(n, kind)| Entry {
            at,
            by: Some("U0ALICE".into()),
            kind,
            text: t[14 + n].clone(),
            fact: None,
        })
        .collect();
    inc
}

/// Block Kit with the text of `plain_text` objects left out: Slack shows
/// those as typed (headers, buttons) and never parses markup in them.
fn parsed_parts(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) if m.get("type") == Some(&Value::from("plain_text")) => Value::Null,
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), parsed_parts(v)))
            .collect(),
        Value::Array(a) => a.iter().map(parsed_parts).collect(),
        other => other.clone(),
    }
}

/// Everything each Slack renderer produces for `inc` that Slack parses as
/// mrkdwn, as one string.
fn rendered(inc: &Incident, config: &Config) -> String {
    let mut out = vec![];
    let mut add = |r: Rendered| {
        out.push(r.text);
        out.push(parsed_parts(&r.blocks_json).to_string());
    };
    add(incident(inc, config).unwrap());
    add(room_summary(inc, config).unwrap());
    add(room_resolved(inc, config).unwrap());
    for op in notices(inc) {
        add(notice(&op, config).unwrap().unwrap().1);
    }
    out.push(storm_digest(std::slice::from_ref(inc), config).unwrap());
    out.push(timeline(inc, config).unwrap());
    for b in storm_banner(std::slice::from_ref(inc), config, 3).unwrap() {
        out.push(serde_json::to_string(&b).unwrap());
    }
    out.concat()
}

/// Every notice the domain queues about `inc`, with outside text where a
/// notice carries any: the incident's, an update, a reason, a schedule or a
/// person that is not configured.
fn notices(inc: &Incident) -> Vec<crate::store::Outbound> {
    use crate::domain::warroom::{Audience, Role};
    use crate::store::Outbound;
    let update = inc.coord.timeline.last().unwrap();
    let stranger = inc.alert.client.clone();
    let mut out: Vec<Outbound> = [
        crate::domain::warroom::status_update(inc, Audience::Room, update),
        crate::domain::warroom::update_due(inc, Audience::Room, inc.created_at),
        crate::domain::warroom::severity_changed(inc, Audience::Room, "U0ALICE", Sev::Sev3, false),
        crate::domain::warroom::role_changed(inc, Role::Commander, "U0ALICE", "U0ALICE"),
    ]
    .into_iter()
    .map(|(_, op)| op)
    .collect();
    out.extend([
        crate::engine::nobody_responded(inc, "C1".into()),
        crate::domain::notify::reminder(inc, "U0ALICE".into()),
        Outbound::SnoozeOver {
            channel: "C1".into(),
            incident: inc.id,
            summary: inc.alert.summary.clone(),
        },
        Outbound::ShiftStarted {
            to: "U0ALICE".into(),
            schedule: inc.alert.source.clone(),
            outgoing: stranger.clone(),
            until: inc.created_at,
        },
        Outbound::Handoff {
            channel: "C1".into(),
            schedule: inc.alert.source.clone(),
            incoming: Some("alice".into()),
            outgoing: stranger,
            until: inc.created_at,
        },
        Outbound::MaintenanceStarted {
            channel: "C1".into(),
            service: inc.service_id.clone(),
            until: inc.created_at,
            reason: inc.coord.description.clone(),
            by: Some("U0ALICE".into()),
        },
        Outbound::MaintenanceOver {
            channel: "C1".into(),
            service: inc.service_id.clone(),
            held: 3,
        },
    ]);
    // A swap between a configured person and one who is not, on a schedule
    // with an outside name, as a trade and as a cover.
    let terms = |theirs| crate::domain::notice::SwapTerms {
        swap: 7,
        schedule: inc.alert.source.clone(),
        requester: "alice".into(),
        other: inc.alert.client.clone().unwrap_or_default(),
        mine: (inc.created_at, inc.created_at),
        theirs,
    };
    for theirs in [Some((inc.created_at, inc.created_at)), None] {
        out.extend([
            Outbound::SwapAsked {
                to: "U0BOB".into(),
                terms: terms(theirs),
            },
            Outbound::SwapAnswered {
                to: "U0ALICE".into(),
                accepted: theirs.is_some(),
                terms: terms(theirs),
            },
            Outbound::SwapAnnounced {
                channel: "C1".into(),
                terms: terms(theirs),
            },
        ]);
    }
    out
}

fn tokens(s: &str) -> Vec<usize> {
    TOKENS.iter().map(|t| s.matches(t).count()).collect()
}

fn config() -> Config {
    Config::parse(
        "t.toml",
        r#"
[[users]]
id = "alice"
name = "Alice <!channel>"
slack_id = "U0ALICE"
"#,
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn outside_text_never_pings_or_links(
        texts in prop::collection::vec(hostile(), 17),
        urls in prop::collection::vec(hostile_url(), 5),
    ) {
        let config = config();
        let harmless_t = vec!["x".to_string(); texts.len()];
        let harmless_u = vec!["x".to_string(); urls.len()];
        let want = tokens(&rendered(&incident_with(&harmless_t, &harmless_u), &config));
        let got = tokens(&rendered(&incident_with(&texts, &urls), &config));
        prop_assert_eq!(got, want, "texts {:?} urls {:?}", texts, urls);
    }
}

#[test]
fn the_reported_summary_and_link_are_inert_and_tocsins_own_markup_stays() {
    let config = config();
    let mut inc = sample(9);
    inc.alert.summary = "<!channel> wake up <https://evil.example/|Click to ack>".into();
    inc.alert.links = vec![
        Link {
            href: "https://ok.example/|x> <!channel> <https://evil.example".into(),
            text: Some("logs".into()),
        },
        Link {
            href: "javascript:alert(1)".into(),
            text: Some("run".into()),
        },
        Link {
            href: "https://ok.example/dash".into(),
            text: Some("Dashboard".into()),
        },
    ];
    inc.paged = vec![Page {
        user: "alice".into(),
        at: inc.created_at,
        level: Some(0),
    }];
    let r = incident(&inc, &config).unwrap();
    assert_eq!(
        r.text.split(" (").next().unwrap(),
        "[Triggered] #9 &lt;!channel&gt; wake up &lt;https://evil.example/|Click to ack&gt;"
    );
    let blocks = parsed_parts(&r.blocks_json).to_string();
    assert!(!blocks.contains("<!channel"), "{blocks}");
    assert!(!blocks.contains("javascript:"), "{blocks}");
    assert!(!blocks.contains("<https://ok.example/|"), "{blocks}");
    // The good link and the page's mention are tocsin's own, and stay live.
    assert!(
        blocks.contains("<https://ok.example/dash|Dashboard>"),
        "{blocks}"
    );
    assert!(blocks.contains("Paging <@U0ALICE>"), "{blocks}");
    // The header is plain_text: Slack shows it as typed, so it is not escaped.
    assert_eq!(
        r.blocks_json[0]["text"]["text"],
        "🔴 #9 <!channel> wake up <https://evil.example/|Click to ack>"
    );
}
