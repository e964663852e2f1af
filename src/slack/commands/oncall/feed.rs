//! `/oncall feed`: a schedule's private calendar link, and rotating it so the
//! old link stops working.

use super::{schedule, team_of, Args, OncallCommand};
use crate::ops::Core;
use crate::slack::commands::{Invocation, Reply};

pub(super) fn parse(args: &Args) -> Result<OncallCommand, String> {
    args.too_many(2)?;
    let rotate = match args.rest.get(1) {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("rotate") => true,
        Some(w) => return Err(format!("`{w}` is not `rotate`. {}", args.usage())),
    };
    Ok(OncallCommand::Feed {
        schedule: args.needed(0, "schedule")?,
        rotate,
    })
}

/// `/oncall feed`: the schedule's private calendar link; with `rotate`
/// (its team's leads only), a new link that retires the old one.
pub(super) async fn apply(core: &Core, inv: &Invocation, id: &str, rotate: bool) -> Reply {
    let s = schedule(&core.config, id)?;
    let failed = |e: crate::store::StoreError| {
        format!("Sorry, the feed link cannot be made just now ({e}).")
    };
    let token = if rotate {
        let team = team_of(&core.config, s)?;
        let detail = format!("rotated the calendar link of {id}");
        core.rotate_feed(id, team, &inv.user_id, detail)
            .await
            .map_err(failed)??
    } else {
        core.feed_token(id).await.map_err(failed)?
    };
    let link = format!("{}/schedules/{id}.ics?token={token}", core.public_url);
    Ok(if rotate {
        format!("The old calendar link of `{id}` no longer works. The new one (keep it private):\n{link}")
    } else {
        format!("Subscribe to `{id}` in your calendar app (keep this link private):\n{link}")
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::OncallCommand::*;

    #[test]
    fn feed_parses() {
        check(
            "feed primary",
            Ok(Feed {
                schedule: "primary".into(),
                rotate: false,
            }),
        );
        check(
            "ical primary ROTATE",
            Ok(Feed {
                schedule: "primary".into(),
                rotate: true,
            }),
        );
        check("feed primary now", Err("is not `rotate`"));
        check("feed primary rotate twice", Err("Too many"));
    }
}
