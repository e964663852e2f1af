//! `/oncall feed`: a schedule's private calendar link, and rotating it so the
//! old link stops working.

use super::audit::record_audit;
use super::{schedule, team_of, Args, OncallCommand};
use crate::domain::policy;
use crate::domain::schedule::ical;
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
    let seed = core.store.feed_seed().map_err(failed)?;
    let generation = if rotate {
        let team = team_of(&core.config, s)?;
        policy::may_rotate_feed(&core.config, &inv.user_id, team)?;
        let generation = core.store.rotate_feed(id).map_err(failed)?;
        record_audit(
            core,
            &team.id,
            &inv.user_id,
            "feed",
            format!("rotated the calendar link of {id}"),
        );
        generation
    } else {
        core.store.feed_generation(id).map_err(failed)?
    };
    // The link must keep working after a crash (and a rotation must hold):
    // the seed and generation are on disk before the link is shown.
    core.store.durable().await.map_err(failed)?;
    let link = format!(
        "{}/schedules/{id}.ics?token={}",
        core.public_url,
        ical::feed_token(&seed, id, generation)
    );
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
