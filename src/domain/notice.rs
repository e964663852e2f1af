//! Notices: the outbound work a change causes, in tocsin's own terms.
//!
//! A change to an incident or a schedule queues notices in the same commit
//! as the change. A receiver (Slack, Twilio, plain HTTP) renders and delivers
//! each one later: an incident notice shows the incident's latest state, a
//! fact notice (a handoff, a role change) the facts it was queued with. The
//! serde form is part of the outbox record (`"v": "1"`): variants are only
//! ever added, so rows an older build queued still read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One piece of outbound work (a Slack call, an SMS, a phone call), described
/// in tocsin's terms and rendered by its receiver when sent: an incident's own
/// message shows the incident's latest state, a notice the facts it was queued with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Outbound {
    /// Announce a new incident in its alert channel.
    PostIncident { incident: u64, channel: String },
    /// Re-render the incident's message in place (and every DM copy of it).
    UpdateIncident { incident: u64 },
    /// Page a person by DM about an incident; `page` is the index in its
    /// `paged` list, which tells one page from a later one after a crash.
    PageUser {
        incident: u64,
        user: String,
        page: usize,
    },
    /// A plain message, already rendered (a DM when `channel` is a user id).
    /// Domain notices are typed (below); rows of this shape that an older
    /// build queued are still sent as they are.
    Notify { channel: String, text: String },
    /// A message with Block Kit, already rendered: swap requests were queued
    /// so by older builds, and such rows are still sent as they are.
    NotifyBlocks {
        channel: String,
        text: String,
        blocks: serde_json::Value,
    },
    // The notices below carry facts, not markup: each receiver renders them
    // when it sends them. What the message states is taken when it is
    // queued (`summary` is the alert's), so it keeps its meaning if the
    // incident moves on before it goes out. User fields are config user ids
    // unless they say Slack id.
    /// The snooze on an incident ran out before it was resolved: it pages again.
    SnoozeOver {
        channel: String,
        incident: u64,
        summary: String,
    },
    /// Every escalation level was paged and nobody acknowledged; `to` is the
    /// alert channel or a lead's Slack id, `paged` who was paged (each once,
    /// in order), `rounds` how many times the policy ran.
    NobodyResponded {
        to: String,
        incident: u64,
        summary: String,
        service: String,
        paged: Vec<String>,
        rounds: u32,
    },
    /// A later Slack nudge from a person's notification rules (`to`, their
    /// Slack id) about an incident last paged at `paged_at`.
    PageReminder {
        to: String,
        incident: u64,
        summary: String,
        severity: crate::domain::incident::Severity,
        service: String,
        paged_at: DateTime<Utc>,
    },
    /// A shift on `schedule` started: the DM to the person now on call (`to`,
    /// their Slack id), until `until`; `outgoing` is whoever it was before.
    ShiftStarted {
        to: String,
        schedule: String,
        outgoing: Option<String>,
        until: DateTime<Utc>,
    },
    /// A shift on `schedule` changed hands, as told in the team's channel;
    /// `None` is nobody.
    Handoff {
        channel: String,
        schedule: String,
        incoming: Option<String>,
        outgoing: Option<String>,
        until: DateTime<Utc>,
    },
    /// The commander (`commander`, a Slack id) is asked for a status update:
    /// none since `since`, as of `at`. `room` is the incident's channel then.
    UpdateDue {
        to: crate::domain::warroom::Audience,
        incident: u64,
        summary: String,
        sev: crate::domain::warroom::Sev,
        commander: Option<String>,
        room: Option<String>,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// `by` made `who` (Slack ids) the incident's `role`; told in its channel.
    RoleChanged {
        incident: u64,
        summary: String,
        role: crate::domain::warroom::Role,
        who: String,
        by: String,
    },
    /// `by` (a Slack id) kept the resolved incident's channel from being
    /// archived; told in its channel.
    ChannelKept { incident: u64, by: String },
    /// A status update `by` (a Slack id) posted at `at`, with the incident's
    /// level, state and channel when it was posted.
    StatusUpdate {
        to: crate::domain::warroom::Audience,
        incident: u64,
        summary: String,
        sev: crate::domain::warroom::Sev,
        state: crate::domain::incident::State,
        room: Option<String>,
        text: String,
        by: Option<String>,
        at: DateTime<Utc>,
    },
    /// `by` (a Slack id) changed the incident's level; `repaged`: the
    /// escalation policy pages again from its first level.
    SeverityChanged {
        to: crate::domain::warroom::Audience,
        incident: u64,
        summary: String,
        by: String,
        before: crate::domain::warroom::Sev,
        after: crate::domain::warroom::Sev,
        repaged: bool,
    },
    /// A maintenance window on `service` started and runs until `until`;
    /// `reason` is what a person typed, `by` their Slack id.
    MaintenanceStarted {
        channel: String,
        service: String,
        until: DateTime<Utc>,
        reason: Option<String>,
        by: Option<String>,
    },
    /// A maintenance window on `service` ended; `held` alerts arrived during it.
    MaintenanceOver {
        channel: String,
        service: String,
        held: usize,
    },
    /// The weekly report of `team` over `[from, to)`, with the same span
    /// before it for trends: the numbers are read from the store when sent.
    WeeklyReport {
        channel: String,
        team: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    /// A text message (Twilio SMS) paging someone about an incident.
    Sms { incident: u64, to: String },
    /// A phone call (Twilio) that reads the incident to `user` (a config user
    /// id) and lets them press 4 to acknowledge.
    Call {
        incident: u64,
        user: String,
        to: String,
    },
    /// A file (a report chart) shared in a channel; `content` is base64.
    UploadFile {
        channel: String,
        file_name: String,
        title: String,
        content: String,
    },
    /// `terms.other` (`to`, their Slack id) is asked by DM to take or trade
    /// a shift, with buttons to accept or decline.
    SwapAsked { to: String, terms: SwapTerms },
    /// The requester (`to`, their Slack id) is told by DM whether the person
    /// they asked accepted.
    SwapAnswered {
        to: String,
        accepted: bool,
        terms: SwapTerms,
    },
    /// An accepted swap or cover, told in the team's channel.
    SwapAnnounced { channel: String, terms: SwapTerms },
    /// A plain GET of a URL a sender asked us to visit: confirming an AWS SNS
    /// subscription.
    Fetch { url: String },
    /// Work on an incident's own channel (create, invite, post, archive, …).
    Room {
        incident: u64,
        work: crate::domain::warroom::RoomOp,
    },
    /// Opens a modal (views.open) for the person whose `trigger_id` this is;
    /// `view` is rendered Block Kit. Slack takes it only within 3 s.
    OpenView {
        trigger_id: String,
        view: serde_json::Value,
    },
    /// Publish the App Home of `user` (a Slack id), drawn as things are when
    /// it is sent; a later one in the same lane makes an earlier one redundant.
    PublishHome { user: String },
    /// Answer a slash command or click through its `response_url`; with
    /// `replace`, the message that was clicked is replaced (its buttons go).
    Respond {
        response_url: String,
        text: String,
        #[serde(default)]
        replace: bool,
    },
}

/// What a swap or cover request asks, as it was when a notice about it was
/// queued (the request's state only moves once, so this stays true).
/// `requester` and `other` are config user ids; `mine` is the requester's
/// shift the other person takes, `theirs` for a trade the other person's
/// shift the requester takes in return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapTerms {
    pub swap: u64,
    pub schedule: String,
    pub requester: String,
    pub other: String,
    pub mine: (DateTime<Utc>, DateTime<Utc>),
    pub theirs: Option<(DateTime<Utc>, DateTime<Utc>)>,
}
