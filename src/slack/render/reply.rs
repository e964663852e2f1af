//! Words the sentences the domain and the use cases answer people with
//! (refusals, "already" replies, timeline facts) in Slack mrkdwn: people
//! become mentions and channels links, built by `mrkdwn` from their ids.

use super::mrkdwn;
use crate::domain::policy::Refusal;
use crate::domain::sentence::{Part, Sentence};

/// `s` in mrkdwn. Its text is tocsin's own (or configured names), sent as it is.
pub fn sentence(s: &Sentence) -> String {
    s.parts()
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.clone(),
            Part::User(id) => mrkdwn::user(id),
            Part::Channel(id) => mrkdwn::channel(id),
        })
        .collect()
}

/// Why a request was refused, in mrkdwn.
pub fn refusal(r: &Refusal) -> String {
    sentence(&r.sentence())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::domain::policy::{self, Action, Subject};

    #[test]
    fn people_become_mentions_and_channels_links() {
        let s = Sentence::new()
            .text("#4 has a channel already: ")
            .channel("C0ROOM")
            .text(".");
        assert_eq!(sentence(&s), "#4 has a channel already: <#C0ROOM>.");
        let s = Sentence::new()
            .user("U0BOB")
            .text(" is comms lead of #4 already.");
        assert_eq!(sentence(&s), "<@U0BOB> is comms lead of #4 already.");
        // An id that is not one opens no markup.
        let s = Sentence::new().user("U1> <!channel").text(" is here");
        assert_eq!(sentence(&s), "U1&gt; &lt;!channel is here");
    }

    #[test]
    fn a_stranger_is_told_the_leads_as_mentions() {
        let config = Config::parse(
            "t.toml",
            "[[users]]\nid = \"alice\"\nname = \"Alice\"\nslack_id = \"U0ALICE\"\n\
             [[users]]\nid = \"erin\"\nname = \"Erin\"\nslack_id = \"U0ERIN\"\n\
             [[teams]]\nid = \"platform\"\nname = \"Platform\"\nleads = [\"alice\"]\nmembers = [\"alice\"]\n",
        )
        .unwrap();
        let subject = Subject {
            team: config.team("platform"),
            ..Subject::default()
        };
        let why = policy::may(&config, "U0STRANGER", Action::Acknowledge, &subject).unwrap_err();
        assert_eq!(
            refusal(&why),
            "Only people in tocsin's configuration can acknowledge incidents, and no user there has your Slack id. \
             Ask a lead of Platform (<@U0ALICE>) to add you."
        );
        let team = config.team("platform").unwrap();
        let why = policy::may_swap(&config, team, "erin", "alice", true).unwrap_err();
        assert_eq!(
            refusal(&why),
            "<@U0ERIN> is not a member of Platform, so they cannot be on call for its schedules."
        );
    }
}
