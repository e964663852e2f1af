//! Renders the notices about a swap or cover request: the question the
//! person asked gets (with Accept and Decline buttons), the answer the
//! requester gets, and an acceptance told in the team's channel.

use super::{mention_user, mrkdwn, render_blocks, render_page, slack_date};
use super::{RenderError, Rendered, Target};
use crate::config::Config;
use crate::domain::notice::SwapTerms;
use crate::store::Outbound;
use minijinja::context;

pub(super) const ASK_BLOCKS: &str = include_str!("../../../templates/swap.blocks.json.j2");
pub(super) const ASK_TEXT: &str = include_str!("../../../templates/swap.text.j2");
pub(super) const ANSWERED: &str = include_str!("../../../templates/swap.answered.j2");
pub(super) const ANNOUNCED: &str = include_str!("../../../templates/swap.announced.j2");

/// What every swap template is given: the schedule, both people as
/// mentions, and the shifts.
fn terms_ctx(t: &SwapTerms, config: &Config, accepted: bool) -> minijinja::Value {
    context! {
        id => t.swap,
        schedule => mrkdwn::text(&t.schedule),
        requester => mention_user(config, &t.requester),
        who => mention_user(config, &t.other),
        accepted => accepted,
        mine_from => slack_date(t.mine.0),
        mine_to => slack_date(t.mine.1),
        theirs_from => t.theirs.map(|s| slack_date(s.0)),
        theirs_to => t.theirs.map(|s| slack_date(s.1)),
    }
}

fn plain(text: String) -> Rendered {
    Rendered {
        text,
        blocks: vec![],
        blocks_json: serde_json::Value::Null,
    }
}

/// The question with its buttons; the text is also the fallback.
fn ask(t: &SwapTerms, config: &Config) -> Result<Rendered, RenderError> {
    let text = render_page("swap.text", terms_ctx(t, config, false))?;
    let (blocks, blocks_json) = render_blocks(
        "swap.blocks",
        context! { id => t.swap, text => text.clone() },
    )?;
    Ok(Rendered {
        text,
        blocks,
        blocks_json,
    })
}

/// Where a swap notice goes and what it says; `None` for any other work.
pub(super) fn notice<'a>(
    op: &'a Outbound,
    config: &Config,
) -> Option<Result<(Target<'a>, Rendered), RenderError>> {
    let (to, r) = match op {
        Outbound::SwapAsked { to, terms } => (to, ask(terms, config)),
        Outbound::SwapAnswered {
            to,
            accepted,
            terms,
        } => (
            to,
            render_page("swap.answered", terms_ctx(terms, config, *accepted)).map(plain),
        ),
        Outbound::SwapAnnounced { channel, terms } => (
            channel,
            render_page("swap.announced", terms_ctx(terms, config, true)).map(plain),
        ),
        _ => return None,
    };
    Some(r.map(|r| (Target::Channel(to), r)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn said(op: &Outbound, config: &Config) -> (String, String) {
        let (Target::Channel(to), r) = notice(op, config).unwrap().unwrap() else {
            panic!("a swap notice goes to a channel or a person");
        };
        (to.to_string(), r.text)
    }

    #[test]
    fn answers_and_announcements_read_as_they_always_have() {
        let config = Config::parse(
            "t.toml",
            r#"
[[users]]
id = "alice"
name = "Alice"
slack_id = "U0ALICE"
[[users]]
id = "bob"
name = "Bob"
"#,
        )
        .unwrap();
        let (a, b) = (
            Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 5, 2, 9, 0, 0).unwrap(),
        );
        let span = format!("{} → {}", slack_date(a), slack_date(b));
        let terms = |theirs| SwapTerms {
            swap: 3,
            schedule: "primary".into(),
            requester: "alice".into(),
            other: "bob".into(),
            mine: (a, b),
            theirs,
        };
        let answered = |accepted, theirs| Outbound::SwapAnswered {
            to: "U0ALICE".into(),
            accepted,
            terms: terms(theirs),
        };
        assert_eq!(
            said(&answered(true, Some((a, b))), &config),
            (
                "U0ALICE".into(),
                format!(":white_check_mark: Bob accepted: they are on call for `primary` {span}, and you take theirs ({span}).")
            )
        );
        assert_eq!(
            said(&answered(false, None), &config).1,
            format!(":x: Bob declined to take your `primary` shift ({span}).")
        );
        let announced = |theirs| Outbound::SwapAnnounced {
            channel: "C1".into(),
            terms: terms(theirs),
        };
        assert_eq!(
            said(&announced(None), &config),
            (
                "C1".into(),
                format!(":repeat: `primary`: Bob covers <@U0ALICE> {span}.")
            )
        );
        assert_eq!(
            said(&announced(Some((a, b))), &config).1,
            format!(
                ":repeat: `primary`: Bob covers <@U0ALICE> {span}; <@U0ALICE> covers Bob {span}."
            )
        );
        let ask = Outbound::SwapAsked {
            to: "U0BOB".into(),
            terms: terms(None),
        };
        let r = notice(&ask, &config).unwrap().unwrap().1;
        assert_eq!(
            r.text,
            format!(":raising_hand: <@U0ALICE> asks you to cover their `primary` shift, {span}.")
        );
        assert_eq!(r.blocks_json[1]["block_id"], "swap:3");
        assert_eq!(r.blocks_json[1]["elements"][1]["value"], "3");
    }
}
