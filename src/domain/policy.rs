//! Who may do what: one pure decision for every change a person asks for in
//! Slack, as a function of the configuration, the person's Slack id and what
//! they ask to change. Callers ask before they change anything.
//!
//! - Acting on an incident (acknowledge, resolve, escalate, snooze, assign,
//!   open or keep its channel, notes, declaring one) takes a person in the
//!   configuration (matched by `slack_id`), unless the incident's team is
//!   `open_to_workspace`.
//! - Changing its severity, its roles or posting a stakeholder update takes a
//!   member of the incident's team (leads are members), its commander or its
//!   comms lead.
//! - Putting oneself on call takes a member of the schedule's team; putting
//!   someone else on call (or a person who is not a member) takes one of its
//!   leads. Rotating a schedule's calendar link takes one of its leads.

use crate::config::{Config, Team, User};
use crate::domain::incident::Incident;
use crate::domain::sentence::{Part, Sentence};

/// What a person asks to do to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Resolve,
    Escalate,
    Snooze,
    Assign,
    OpenChannel,
    KeepChannel,
    Note,
    Declare,
    /// Commander or comms lead: whoever holds it may then post updates.
    SetRole,
    Severity,
    Update,
    /// Merge incidents, or split an alert out of one (grouping feedback).
    Regroup,
}

impl Action {
    /// Whether only the incident's own people may do it.
    fn needs_involvement(self) -> bool {
        matches!(self, Action::SetRole | Action::Severity | Action::Update)
    }

    fn phrase(self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledge incidents",
            Action::Resolve => "resolve incidents",
            Action::Escalate => "escalate incidents",
            Action::Snooze => "snooze incidents",
            Action::Assign => "assign incidents",
            Action::OpenChannel => "open incident channels",
            Action::KeepChannel => "keep incident channels",
            Action::Note => "add to incident timelines",
            Action::Declare => "declare incidents",
            Action::SetRole => "give incident roles",
            Action::Severity => "change an incident's severity",
            Action::Update => "post status updates",
            Action::Regroup => "merge or split incidents",
        }
    }
}

/// The incident (or the service, for one not declared yet) a request is about.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// The team of the incident's service; `None` if the service is gone
    /// from the configuration.
    pub team: Option<&'a Team>,
    /// Slack ids.
    pub commander: Option<&'a str>,
    pub comms: Option<&'a str>,
}

impl<'a> Subject<'a> {
    pub fn incident(config: &'a Config, inc: &'a Incident) -> Subject<'a> {
        Subject {
            team: config.team_of_service(&inc.service_id),
            commander: inc.coord.commander.as_deref(),
            comms: inc.coord.comms.as_deref(),
        }
    }

    pub fn service(config: &'a Config, service_id: &str) -> Subject<'a> {
        Subject {
            team: config.team_of_service(service_id),
            ..Subject::default()
        }
    }
}

/// Why a request was refused, with whom to ask. Its words are
/// [`Refusal::sentence`]: people in it are named by each receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The person is not in the configuration, and the team is not open to
    /// the workspace.
    Stranger {
        action: Action,
        team: Option<String>,
        /// The team's leads: by Slack id, else by name.
        leads: Vec<Part>,
    },
    /// A known person (or a stranger on an open team) who is neither in the
    /// incident's team nor holds a role in it.
    NotInvolved {
        action: Action,
        team: Option<String>,
    },
    /// Overrides and calendar links: what the schedule's team allows.
    Schedule(Sentence),
}

impl Refusal {
    /// What the person is told.
    pub fn sentence(&self) -> Sentence {
        match self {
            Refusal::Stranger {
                action,
                team,
                leads,
            } => {
                let s = Sentence::new().text(format!(
                    "Only people in tocsin's configuration can {}, and no user there has your Slack id. ",
                    action.phrase()
                ));
                match (team, leads.is_empty()) {
                    (Some(team), false) => {
                        let mut s = s.text(format!("Ask a lead of {team} ("));
                        for (i, lead) in leads.iter().enumerate() {
                            if i > 0 {
                                s = s.text(", ");
                            }
                            s = s.part(lead.clone());
                        }
                        s.text(") to add you.")
                    }
                    _ => s.text("Ask whoever keeps tocsin's configuration to add you."),
                }
            }
            Refusal::NotInvolved { action, team } => Sentence::from(format!(
                "Only members of {}, the incident commander or the comms lead can {}.",
                team.as_deref().unwrap_or("the incident's team"),
                action.phrase()
            )),
            Refusal::Schedule(why) => why.clone(),
        }
    }
}

impl From<Refusal> for Sentence {
    fn from(r: Refusal) -> Sentence {
        r.sentence()
    }
}

/// The configured person with this Slack id.
pub fn person<'a>(config: &'a Config, slack_id: &str) -> Option<&'a User> {
    config
        .users
        .iter()
        .find(|u| u.slack_id.as_deref() == Some(slack_id))
}

fn is_member(team: &Team, user: &str) -> bool {
    team.members.iter().any(|m| m == user) || team.leads.iter().any(|l| l == user)
}

/// Config user `user` as a sentence names them: by Slack id, else by name
/// (else by the id, for one gone from the configuration).
fn named(config: &Config, user: &str) -> Part {
    match config.user(user) {
        Some(User {
            slack_id: Some(s), ..
        }) => Part::User(s.clone()),
        Some(u) => Part::Text(u.name.clone()),
        None => Part::Text(user.to_string()),
    }
}

/// "X is not a member of T, so …".
fn not_a_member(config: &Config, user: &str, team: &Team) -> Refusal {
    Refusal::Schedule(Sentence::new().part(named(config, user)).text(format!(
        " is not a member of {}, so they cannot be on call for its schedules.",
        team.name
    )))
}

/// May the person with Slack id `actor` do `action` to `subject`?
pub fn may(config: &Config, actor: &str, action: Action, subject: &Subject) -> Result<(), Refusal> {
    let me = person(config, actor);
    let open = subject.team.is_some_and(|t| t.open_to_workspace);
    let team_name = subject.team.map(|t| t.name.clone());
    let holds_role = subject.commander == Some(actor) || subject.comms == Some(actor);
    if me.is_none() && !open && !holds_role {
        return Err(Refusal::Stranger {
            action,
            team: team_name,
            leads: subject
                .team
                .map(|t| t.leads.iter().map(|l| named(config, l)).collect())
                .unwrap_or_default(),
        });
    }
    if action.needs_involvement() {
        let member = me.is_some_and(|me| subject.team.is_some_and(|t| is_member(t, &me.id)));
        if !member && !holds_role {
            return Err(Refusal::NotInvolved {
                action,
                team: team_name,
            });
        }
    }
    Ok(())
}

/// May `actor` (a Slack id) put config user `on_call` on call for a
/// schedule of `team`? Members may put themselves on call; leads anyone in
/// the team.
pub fn may_override(
    config: &Config,
    actor: &str,
    team: &Team,
    on_call: &str,
) -> Result<(), Refusal> {
    let Some(me) = person(config, actor) else {
        return Err(Refusal::Schedule(
            "Only people in tocsin's configuration can change who is on call (no user has your Slack id)."
                .into(),
        ));
    };
    let lead = team.leads.contains(&me.id);
    if !is_member(team, on_call) {
        return Err(not_a_member(config, on_call, team));
    }
    if on_call != me.id && !lead {
        return Err(Refusal::Schedule(Sentence::from(format!(
            "Only a lead of {} can put someone else on call; you can put yourself on call.",
            team.name
        ))));
    }
    Ok(())
}

/// May config users `requester` and `other` trade shifts on a schedule of
/// `team` (`trade`), or `other` cover `requester`'s shift? Whoever ends up
/// on call must be a member of the team.
pub fn may_swap(
    config: &Config,
    team: &Team,
    requester: &str,
    other: &str,
    trade: bool,
) -> Result<(), Refusal> {
    let takers: &[&str] = if trade { &[other, requester] } else { &[other] };
    match takers.iter().find(|u| !is_member(team, u)) {
        Some(outsider) => Err(not_a_member(config, outsider, team)),
        None => Ok(()),
    }
}

/// May `actor` rotate the calendar link of a schedule of `team`?
pub fn may_rotate_feed(config: &Config, actor: &str, team: &Team) -> Result<(), Refusal> {
    let lead = person(config, actor).is_some_and(|me| team.leads.contains(&me.id));
    if lead {
        Ok(())
    } else {
        Err(Refusal::Schedule(Sentence::from(format!(
            "Only a lead of {} can rotate its calendar links.",
            team.name
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
id = "erin"
name = "Erin"
slack_id = "U0ERIN"
[[users]]
id = "nosl"
name = "No Slack"

[[teams]]
id = "platform"
name = "Platform"
leads = ["alice"]
members = ["alice", "bob"]

[[teams]]
id = "data"
name = "Data"
leads = ["erin"]
members = ["erin"]

[[teams]]
id = "open"
name = "Open"
members = ["bob"]
open_to_workspace = true
"#;

    fn config() -> Config {
        Config::parse("t.toml", CONFIG).unwrap()
    }

    #[test]
    fn only_known_or_involved_people_act_on_incidents() {
        use Action::*;
        let c = config();
        let platform = Subject {
            team: c.team("platform"),
            ..Subject::default()
        };
        let led = Subject {
            team: c.team("platform"),
            commander: Some("U0ERIN"),
            comms: Some("U0GUEST"),
        };
        let open = Subject {
            team: c.team("open"),
            ..Subject::default()
        };
        let gone = Subject::default();
        type Case<'a> = (&'a str, Action, &'a Subject<'a>, Result<(), &'a str>);
        let cases: Vec<Case> = vec![
            ("U0BOB", Acknowledge, &platform, Ok(())),
            // Known, of another team: may act, not speak for the incident.
            ("U0ERIN", Resolve, &platform, Ok(())),
            ("U0ERIN", Snooze, &platform, Ok(())),
            (
                "U0ERIN",
                Severity,
                &platform,
                Err("Only members of Platform"),
            ),
            ("U0ERIN", Update, &platform, Err("Only members of Platform")),
            (
                "U0ERIN",
                SetRole,
                &platform,
                Err("Only members of Platform"),
            ),
            // …unless they hold a role in it.
            ("U0ERIN", Severity, &led, Ok(())),
            ("U0GUEST", Update, &led, Ok(())),
            ("U0GUEST", Acknowledge, &led, Ok(())),
            // Strangers are told who can add them.
            (
                "U0STRANGER",
                Acknowledge,
                &platform,
                Err("Ask a lead of Platform (@U0ALICE) to add you."),
            ),
            ("U0STRANGER", Assign, &platform, Err("can assign incidents")),
            ("U0STRANGER", Declare, &gone, Err("whoever keeps")),
            ("U0STRANGER", Update, &platform, Err("no user there has")),
            // An open team lets anyone act, but not speak for it.
            ("U0STRANGER", Acknowledge, &open, Ok(())),
            ("U0STRANGER", Escalate, &open, Ok(())),
            ("U0STRANGER", Update, &open, Err("Only members of Open")),
            ("U0BOB", Update, &open, Ok(())),
            // A service gone from the configuration: known people still act.
            ("U0BOB", Resolve, &gone, Ok(())),
            ("U0BOB", Severity, &gone, Err("the incident's team")),
        ];
        for (actor, action, subject, want) in cases {
            let got = may(&c, actor, action, subject).map_err(|r| r.sentence().to_string());
            match (&got, want) {
                (Ok(()), Ok(())) => {}
                (Err(got), Err(want)) => assert!(got.contains(want), "{actor} {action:?}: {got}"),
                _ => panic!("{actor} {action:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn strangers_are_told_the_leads_by_slack_id_else_by_name() {
        let mut c = config();
        c.teams[0].leads = vec!["alice".into(), "nosl".into()];
        let platform = Subject {
            team: c.team("platform"),
            ..Subject::default()
        };
        let why = may(&c, "U0STRANGER", Action::Acknowledge, &platform).unwrap_err();
        let parts = why.sentence().parts().to_vec();
        assert_eq!(
            parts[1..],
            [
                Part::Text("Ask a lead of Platform (".into()),
                Part::User("U0ALICE".into()),
                Part::Text(", ".into()),
                Part::Text("No Slack".into()),
                Part::Text(") to add you.".into()),
            ]
        );
    }

    #[test]
    fn overrides_stay_inside_the_team() {
        let c = config();
        let platform = c.team("platform").unwrap();
        type Case<'a> = (&'a str, &'a str, Result<(), &'a str>);
        let cases: [Case; 6] = [
            ("U0BOB", "bob", Ok(())),
            ("U0ALICE", "bob", Ok(())),
            ("U0BOB", "alice", Err("Only a lead of Platform")),
            // A lead of another team is not a member of this one.
            ("U0ERIN", "erin", Err("@U0ERIN is not a member of Platform")),
            ("U0ALICE", "erin", Err("is not a member of Platform")),
            ("U0STRANGER", "bob", Err("no user has your Slack id")),
        ];
        for (actor, on_call, want) in cases {
            let got =
                may_override(&c, actor, platform, on_call).map_err(|r| r.sentence().to_string());
            match (&got, want) {
                (Ok(()), Ok(())) => {}
                (Err(got), Err(want)) => assert!(got.contains(want), "{actor} {on_call}: {got}"),
                _ => panic!("{actor} {on_call}: got {got:?}, want {want:?}"),
            }
        }
        assert!(may_swap(&c, platform, "alice", "bob", true).is_ok());
        assert!(may_swap(&c, platform, "erin", "bob", false).is_ok());
        let outsider = may_swap(&c, platform, "erin", "bob", true).unwrap_err();
        // People are named by Slack id, for the receiver to mention.
        assert_eq!(
            outsider.sentence().parts()[0],
            Part::User("U0ERIN".into()),
            "{outsider:?}"
        );
        assert!(outsider
            .sentence()
            .to_string()
            .starts_with("@U0ERIN is not a member of Platform, so"));
        assert!(may_swap(&c, platform, "alice", "erin", false).is_err());
        assert!(may_rotate_feed(&c, "U0ALICE", platform).is_ok());
        assert!(may_rotate_feed(&c, "U0BOB", platform).is_err());
        assert!(may_rotate_feed(&c, "U0ERIN", platform).is_err());
    }
}
