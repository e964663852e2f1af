//! Ask for cover and Offer a swap, from the Home: the button opens a form
//! to pick the person, and its submission asks them as `/oncall cover` and
//! `/oncall swap` do. A shift is named by its schedule and start, and found
//! again when the form is sent, so a Home drawn a while ago still asks for
//! the right one (or says it is no longer yours).

use super::button;
use crate::ops::Core;
use crate::slack::mrkdwn;
use crate::slack::render::slack_date;
use crate::store::Outbound;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

/// The form's callback id.
pub const CALLBACK: &str = "home_shift";
const COVER: &str = "home_cover";
const SWAP: &str = "home_swap";

/// What a shift button or its form names: the shift, and whether it is a trade.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ask {
    trade: bool,
    schedule: String,
    start: DateTime<Utc>,
}

impl Ask {
    /// `cover SCHEDULE UNIX` or `swap SCHEDULE UNIX`, as the form keeps it.
    fn encode(&self) -> String {
        let kind = if self.trade { "swap" } else { "cover" };
        format!("{kind} {} {}", self.schedule, self.start.timestamp())
    }

    fn decode(s: &str) -> Option<Ask> {
        let mut w = s.split(' ');
        let trade = match w.next()? {
            "swap" => true,
            "cover" => false,
            _ => return None,
        };
        let schedule = w.next().filter(|s| !s.is_empty())?.to_string();
        let start = Utc.timestamp_opt(w.next()?.parse().ok()?, 0).single()?;
        w.next().is_none().then_some(Ask {
            trade,
            schedule,
            start,
        })
    }
}

/// The two buttons under one of the person's shifts.
pub fn buttons(schedule: &str, start: DateTime<Utc>) -> Vec<Value> {
    let value = |trade| {
        Ask {
            trade,
            schedule: schedule.to_string(),
            start,
        }
        .encode()
    };
    vec![
        button("Ask for cover", COVER, &value(false), None),
        button("Offer a swap", SWAP, &value(true), None),
    ]
}

/// Whether `action_id` is one of these buttons.
pub fn is_shift_action(action_id: &str) -> bool {
    action_id == COVER || action_id == SWAP
}

/// A shift button was clicked: queue the form for `trigger_id`. `Err` is a
/// malformed button (400); a store failure is `Ok(Err)` (503).
pub async fn clicked(
    core: &Core,
    action_id: &str,
    value: Option<&str>,
    trigger_id: &str,
    user: &str,
) -> Result<Result<(), crate::store::StoreError>, &'static str> {
    let ask = value
        .and_then(Ask::decode)
        .filter(|a| a.trade == (action_id == SWAP))
        .ok_or("button value is not KIND SCHEDULE START")?;
    let view = form(&ask);
    let op = Outbound::OpenView {
        trigger_id: trigger_id.to_string(),
        view,
    };
    Ok(core.enqueue(&format!("views:{user}"), op).await.map(drop))
}

/// The form asking whom to ask.
fn form(ask: &Ask) -> Value {
    let (title, question, submit) = if ask.trade {
        (
            "Offer a swap",
            "Who should take this shift? You take their next one in return.",
            "Offer",
        )
    } else {
        ("Ask for cover", "Who should cover this shift?", "Ask")
    };
    json!({
        "type": "modal",
        "callback_id": CALLBACK,
        "private_metadata": ask.encode(),
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                "Your `{}` shift from {}. {question} They answer Accept or Decline in a DM.",
                mrkdwn::text(&ask.schedule), slack_date(ask.start))}},
            {"type": "input", "block_id": "who", "label": {"type": "plain_text", "text": "Person"},
             "element": {"type": "users_select", "action_id": "who"}}
        ]
    })
}

/// The form was sent: ask the person picked. The answer is Slack's
/// `response_action`: field errors in the form, or the form replaced by
/// what was asked.
pub async fn submitted(core: &Core, payload: &Value) -> Value {
    let view = &payload["view"];
    let errors = |why: String| json!({"response_action": "errors", "errors": {"who": why}});
    let Some(ask) = view["private_metadata"].as_str().and_then(Ask::decode) else {
        return errors(
            "This form is from another version of tocsin; open it again from your Home.".into(),
        );
    };
    let (Some(asker), Some(other)) = (
        payload["user"]["id"].as_str(),
        view["state"]["values"]["who"]["who"]["selected_user"].as_str(),
    ) else {
        return errors("Pick the person to ask.".into());
    };
    match crate::slack::commands::oncall::ask_for_shift(
        core,
        asker,
        &ask.schedule,
        ask.start,
        other,
        ask.trade,
    )
    .await
    {
        Err(why) => errors(why),
        Ok(done) => json!({
            "response_action": "update",
            "view": {
                "type": "modal",
                "title": {"type": "plain_text", "text": if ask.trade { "Swap offered" } else { "Cover asked" }},
                "close": {"type": "plain_text", "text": "Close"},
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": done}}]
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shift_survives_the_round_trip_through_its_button() {
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let b = buttons("platform-primary", start);
        assert_eq!(b[0]["text"]["text"], "Ask for cover");
        assert_eq!(b[1]["text"]["text"], "Offer a swap");
        let got = Ask::decode(b[1]["value"].as_str().unwrap()).unwrap();
        assert_eq!(
            got,
            Ask {
                trade: true,
                schedule: "platform-primary".into(),
                start
            }
        );
        for bad in [
            "",
            "cover",
            "cover  1",
            "trade x 1",
            "cover x one",
            "cover x 1 2",
            "swap x 99999999999999999",
        ] {
            assert_eq!(Ask::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_form_parses_as_a_modal_and_keeps_the_shift() {
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let ask = Ask {
            trade: false,
            schedule: "primary".into(),
            start,
        };
        let v = form(&ask);
        let _: slack_morphism::prelude::SlackView = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(
            Ask::decode(v["private_metadata"].as_str().unwrap()),
            Some(ask)
        );
    }

    proptest::proptest! {
        #[test]
        fn any_button_value_decodes_or_is_refused(s in "\\PC{0,40}") {
            if let Some(a) = Ask::decode(&s) {
                proptest::prop_assert_eq!(Ask::decode(&a.encode()), Some(a));
            }
        }
    }
}
