//! `/incident list`: the open incidents (at most 50 shown), with their state,
//! level and channel.

use crate::ops::Core;
use crate::slack::commands::Reply;
use crate::slack::mrkdwn;
use crate::slack::render::{actor_mention, slack_date};

pub(super) async fn apply(core: &Core) -> Reply {
    match core.open_incidents().await {
        Ok(open) if open.is_empty() => Ok("No open incidents. :tada:".to_string()),
        Ok(open) => {
            let mut out = format!(
                "*{} open incident{}*\n",
                open.len(),
                if open.len() == 1 { "" } else { "s" }
            );
            for i in open.iter().take(50) {
                let state = match &i.acknowledged {
                    Some(s) => format!("acknowledged by {}", actor_mention(&s.by)),
                    None => "triggered".to_string(),
                };
                let room = i
                    .room_channel()
                    .map_or(String::new(), |c| format!(" · <#{c}>"));
                out.push_str(&format!(
                    "• #{} {} — {} ({} {}, {} alert{}), opened {}{room}\n",
                    i.id,
                    mrkdwn::text(&i.alert.summary),
                    state,
                    i.sev().as_str(),
                    i.alert.severity.as_str(),
                    i.alert_count,
                    if i.alert_count == 1 { "" } else { "s" },
                    slack_date(i.created_at)
                ));
            }
            if open.len() > 50 {
                out.push_str(&format!("…and {} more.\n", open.len() - 50));
            }
            Ok(out)
        }
        Err(e) => Err(format!("Sorry, incidents cannot be read just now ({e}).").into()),
    }
}
