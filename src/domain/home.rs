//! The App Home as data: what one person sees on their Home tab, and whose
//! Home a change makes stale.
//!
//! Pure: the config, the open incidents, the overrides and an instant in;
//! the view model out. The Slack receiver renders it when it publishes, so
//! a Home always shows the state at that moment.

use crate::config::{Config, Schedule, User};
use crate::domain::incident::{Actor, Incident, State};
use crate::domain::notice::Outbound;
use crate::domain::schedule::{load::load, shifts, Override, Shift};
use crate::domain::warroom::Sev;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How far ahead the Home looks: shifts, load and gaps.
pub const HORIZON_DAYS: i64 = 14;
/// Most shifts of the person's own shown.
pub const SHIFTS_MAX: usize = 5;
/// Most uncovered stretches shown per team.
pub const GAPS_MAX: usize = 5;

/// One person's Home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// Their config user id; `None` for a Slack user tocsin's config does not name.
    pub user: Option<String>,
    pub teams: Vec<TeamOnCall>,
    pub incidents: Vec<MyIncident>,
    pub shifts: Vec<MyShift>,
    /// The teams they lead.
    pub led: Vec<TeamHealth>,
}

/// Who is on call in one of the person's teams, schedule by schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamOnCall {
    pub team: String,
    pub name: String,
    pub schedules: Vec<OnCall>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    pub schedule: String,
    /// Config user id; `None`: nobody.
    pub now: Option<String>,
    /// When the current shift ends, if within the horizon.
    pub until: Option<DateTime<Utc>>,
    /// The next shift, if one starts within the horizon: who (`None`:
    /// nobody) and from when.
    pub next: Option<(Option<String>, DateTime<Utc>)>,
}

/// An open incident the person is part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyIncident {
    pub id: u64,
    pub summary: String,
    pub state: State,
    pub sev: Sev,
    pub service: String,
    pub opened: DateTime<Utc>,
    pub part: Part,
}

/// Why an incident is on someone's Home.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Commander,
    Comms,
    Acknowledged,
    Paged,
}

/// One of the person's own coming shifts (the current one included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyShift {
    pub schedule: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// For a team's leads: how the coming load is spread, and what nobody covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamHealth {
    pub team: String,
    pub name: String,
    /// Hours on call per member over the horizon, heaviest first (members
    /// with none included).
    pub load: Vec<(String, Duration)>,
    /// Most minus least among them.
    pub spread: Duration,
    /// Stretches with nobody on call, by schedule, soonest first (at most
    /// `GAPS_MAX`), and how many there are in all.
    pub gaps: Vec<(String, DateTime<Utc>, DateTime<Utc>)>,
    pub gap_count: usize,
}

/// What a Home is built from, read at one moment.
pub struct Facts<'a> {
    pub config: &'a Config,
    pub open: &'a [Incident],
    /// Overrides by schedule id.
    pub overrides: &'a HashMap<String, Vec<Override>>,
    pub now: DateTime<Utc>,
}

impl Facts<'_> {
    fn overrides(&self, schedule: &str) -> &[Override] {
        self.overrides.get(schedule).map_or(&[], Vec::as_slice)
    }

    fn window(&self, s: &Schedule) -> Vec<Shift> {
        let to = self.now + Duration::days(HORIZON_DAYS);
        shifts(s, self.overrides(&s.id), self.now, to)
    }
}

/// The Home of the Slack user `slack_id`.
pub fn build(f: &Facts<'_>, slack_id: &str) -> Home {
    let config = f.config;
    let user = config
        .users
        .iter()
        .find(|u| u.slack_id.as_deref() == Some(slack_id));
    let mut incidents: Vec<MyIncident> = f
        .open
        .iter()
        .filter_map(|i| part_in(i, user.map(|u| u.id.as_str()), slack_id).map(|p| (i, p)))
        .map(|(i, part)| MyIncident {
            id: i.id,
            summary: i.alert.summary.clone(),
            state: i.state,
            sev: i.sev(),
            service: config
                .service(&i.service_id)
                .map_or_else(|| i.service_id.clone(), |s| s.name.clone()),
            opened: i.created_at,
            part,
        })
        .collect();
    // Triggered first (they need someone), then the most severe, then the oldest.
    incidents.sort_by_key(|i| (i.state != State::Triggered, i.sev, i.opened, i.id));
    let Some(user) = user else {
        return Home {
            user: None,
            teams: vec![],
            incidents,
            shifts: vec![],
            led: vec![],
        };
    };
    Home {
        user: Some(user.id.clone()),
        teams: teams_of(config, user)
            .map(|t| TeamOnCall {
                team: t.id.clone(),
                name: t.name.clone(),
                schedules: schedules_of(config, &t.id)
                    .map(|s| on_call(s, &f.window(s)))
                    .collect(),
            })
            .collect(),
        incidents,
        shifts: my_shifts(f, &user.id),
        led: config
            .teams
            .iter()
            .filter(|t| t.leads.contains(&user.id))
            .map(|t| health(f, &t.id, &t.name, &t.members))
            .collect(),
    }
}

fn teams_of<'a>(
    config: &'a Config,
    user: &'a User,
) -> impl Iterator<Item = &'a crate::config::Team> {
    config
        .teams
        .iter()
        .filter(|t| t.members.contains(&user.id) || t.leads.contains(&user.id))
}

fn schedules_of<'a>(config: &'a Config, team: &'a str) -> impl Iterator<Item = &'a Schedule> {
    config.schedules.iter().filter(move |s| s.team == team)
}

/// Why `inc` is on the Home of the person with config id `user` and Slack id
/// `slack`, if it is: the strongest part they have in it.
fn part_in(inc: &Incident, user: Option<&str>, slack: &str) -> Option<Part> {
    let c = &inc.coord;
    if c.commander.as_deref() == Some(slack) {
        return Some(Part::Commander);
    }
    if c.comms.as_deref() == Some(slack) {
        return Some(Part::Comms);
    }
    if inc
        .acknowledged
        .as_ref()
        .is_some_and(|a| is_person(&a.by, user, slack))
    {
        return Some(Part::Acknowledged);
    }
    user.filter(|u| inc.paged.iter().any(|p| p.user == *u))
        .map(|_| Part::Paged)
}

fn is_person(a: &Actor, user: Option<&str>, slack: &str) -> bool {
    match a {
        Actor::Slack { user_id } => user_id == slack,
        Actor::Phone { user: u, slack_id } => {
            slack_id.as_deref() == Some(slack) || user == Some(u.as_str())
        }
        Actor::Integration { .. } | Actor::Api { .. } => false,
    }
}

/// Who is on call now and next, from the shifts of the horizon starting now.
fn on_call(s: &Schedule, window: &[Shift]) -> OnCall {
    let current = window.first();
    let next = window.get(1);
    OnCall {
        schedule: s.id.clone(),
        now: current.and_then(|c| c.user.clone()),
        until: next.map(|n| n.start),
        next: next.map(|n| (n.user.clone(), n.start)),
    }
}

/// The person's own shifts in the horizon, soonest first, across every schedule.
fn my_shifts(f: &Facts<'_>, user: &str) -> Vec<MyShift> {
    let mut out: Vec<MyShift> = f
        .config
        .schedules
        .iter()
        .flat_map(|s| {
            f.window(s)
                .into_iter()
                .filter(|sh| sh.user.as_deref() == Some(user))
                .map(|sh| MyShift {
                    schedule: s.id.clone(),
                    start: sh.start.max(f.now),
                    end: sh.end,
                })
        })
        .collect();
    out.sort_by(|a, b| (a.start, &a.schedule).cmp(&(b.start, &b.schedule)));
    out.truncate(SHIFTS_MAX);
    out
}

fn health(f: &Facts<'_>, team: &str, name: &str, members: &[String]) -> TeamHealth {
    let config = f.config;
    let mut all = vec![];
    let mut gaps = vec![];
    for s in schedules_of(config, team) {
        let window = f.window(s);
        gaps.extend(
            window
                .iter()
                .filter(|sh| sh.user.is_none())
                .map(|sh| (s.id.clone(), sh.start, sh.end)),
        );
        all.extend(window);
    }
    gaps.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let gap_count = gaps.len();
    gaps.truncate(GAPS_MAX);
    let tz_of = |u: &str| config.user(u).map_or(chrono_tz::UTC, |u| u.time_zone);
    let mut hours: BTreeMap<String, Duration> = members
        .iter()
        .map(|m| (m.clone(), Duration::zero()))
        .collect();
    for l in load(&all, tz_of) {
        hours.insert(l.user, l.on_call);
    }
    let mut load: Vec<(String, Duration)> = hours.into_iter().collect();
    load.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let spread = match (load.first(), load.last()) {
        (Some(most), Some(least)) => most.1 - least.1,
        _ => Duration::zero(),
    };
    TeamHealth {
        team: team.to_string(),
        name: name.to_string(),
        load,
        spread,
        gaps,
        gap_count,
    }
}

/// Which of the person's shifts on `schedule` (1 for the current or next)
/// starts at `start`, as `/oncall cover` counts them; `None` if none does.
pub fn nth_shift(
    s: &Schedule,
    overrides: &[Override],
    user: &str,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<u32> {
    if start < now - Duration::days(1) {
        return None;
    }
    let to = start.max(now) + Duration::days(1);
    let mine = shifts(s, overrides, now, to)
        .into_iter()
        .filter(|sh| sh.user.as_deref() == Some(user))
        .position(|sh| sh.start.max(now) == start.max(now))?;
    u32::try_from(mine + 1).ok()
}

/// Config user ids to Slack ids: whose Home a change concerns is worked
/// out from incidents, which name some people each way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    slack_of: HashMap<String, String>,
}

impl Directory {
    pub fn of(config: &Config) -> Directory {
        Directory {
            slack_of: config
                .users
                .iter()
                .filter_map(|u| Some((u.id.clone(), u.slack_id.clone()?)))
                .collect(),
        }
    }

    fn slack(&self, user: &str) -> Option<&str> {
        self.slack_of.get(user).map(String::as_str)
    }
}

/// What a Home shows of an incident: a change to anything else (another
/// repeat alert, a timeline line) leaves every Home as it was.
fn shown(inc: &Incident) -> impl PartialEq + '_ {
    (
        inc.state,
        inc.sev(),
        &inc.alert.summary,
        inc.paged
            .iter()
            .map(|p| p.user.as_str())
            .collect::<BTreeSet<_>>(),
        inc.acknowledged.as_ref().map(|a| &a.by),
        (&inc.coord.commander, &inc.coord.comms),
    )
}

/// Slack ids of the people `inc` is on the Home of (or would be, while open).
fn people(inc: &Incident, dir: &Directory) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in &inc.paged {
        out.extend(dir.slack(&p.user).map(str::to_string));
    }
    if let Some(a) = &inc.acknowledged {
        match &a.by {
            Actor::Slack { user_id } => {
                out.insert(user_id.clone());
            }
            Actor::Phone { user, slack_id } => {
                out.extend(
                    slack_id
                        .clone()
                        .or_else(|| dir.slack(user).map(str::to_string)),
                );
            }
            Actor::Integration { .. } | Actor::Api { .. } => {}
        }
    }
    out.extend(inc.coord.commander.clone());
    out.extend(inc.coord.comms.clone());
    out
}

/// The Homes a change from `old` to `next` makes stale, as Slack ids: the
/// people it concerned before and after, when anything a Home shows moved.
pub fn touched(old: Option<&Incident>, next: &Incident, dir: &Directory) -> BTreeSet<String> {
    if old.is_some_and(|o| shown(o) == shown(next)) {
        return BTreeSet::new();
    }
    let mut out = people(next, dir);
    if let Some(o) = old {
        out.extend(people(o, dir));
    }
    out
}

/// Slack ids of the people a change to `schedule` concerns: its team's
/// members and leads (who see its on-call line and, leads, its load and gaps).
pub fn schedule_people(config: &Config, schedule: &str) -> BTreeSet<String> {
    let Some(team) = config.schedule(schedule).and_then(|s| config.team(&s.team)) else {
        return BTreeSet::new();
    };
    team.members
        .iter()
        .chain(&team.leads)
        .filter_map(|u| config.user(u)?.slack_id.clone())
        .collect()
}

/// The outbox lane of one person's Home: publishes to it are folded and
/// debounced by the outbox, so a burst of changes costs one publish.
pub fn lane(slack_id: &str) -> String {
    format!("home:{slack_id}")
}

/// The notices that republish these people's Homes.
pub fn refresh(people: impl IntoIterator<Item = String>) -> Vec<(String, Outbound)> {
    people
        .into_iter()
        .map(|user| (lane(&user), Outbound::PublishHome { user }))
        .collect()
}

#[cfg(test)]
mod tests;
