//! tocsin: a Slack-first incident response and on-call bot.
//!
//! Module map (see ARCHITECTURE.md for the boundaries between them):
//! - [`app`]      — wires settings, store, workers and the HTTP server into one process.
//! - [`settings`] — typed settings from the environment (secrets kept out of `Debug`).
//! - [`config`]   — the declarative `tocsin.toml`: parse, cross-validate, report with line numbers.
//! - [`clock`]    — the injected clock; the core never reads the system time itself.
//! - [`engine`]   — the restart-safe loop for time-driven work (escalations, reminders, handoffs).
//! - [`escalation`] — escalation decisions: what is due next for an incident (pure).
//! - [`heartbeat`] — heartbeat monitors: beats in, an incident per missed interval.
//! - [`incident`] — incidents and their state machine (pure).
//! - [`maintenance`] — maintenance windows: alerts recorded, nobody paged, start/end announced once.
//! - [`ingest`]   — monitoring payloads (PagerDuty Events API v2) into typed alert events.
//! - [`metrics`]  — counters and histograms for `GET /metrics` (Prometheus text).
//! - [`report`]   — analytics: MTTA/MTTR, targets, noise, interruptions and fairness (pure).
//! - [`schedule`] — on-call math: who is on call when, shifts, load (pure).
//! - [`store`]    — the only module that touches sled: records, keys, trees, group commit.
//! - [`ops`]      — the application layer: every use case that changes state, committed durably.
//! - [`notify`]   — paging a person: their notification rules into outbound work (pure).
//! - [`policy`]   — who may do what to incidents and schedules, given the config (pure).
//! - [`outbox`]   — the worker that sends queued work in order per lane, with retries.
//! - [`slack`]    — everything that knows Slack: signatures, inbound payloads, slash commands, rendering, delivery.
//! - [`twilio`]   — SMS and phone calls: the REST client, signatures, voice webhooks (TwiML).
//! - [`http`]     — the hyper server: routing, body limits, error mapping.
//! - [`warroom`]  — incident channels: severity levels, roles, timeline, stakeholder updates.

pub mod app;
pub mod clock;
pub mod config;
pub mod domain;
pub mod engine;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod net;
pub mod ops;
pub mod outbox;
pub mod settings;
pub mod slack;
pub mod store;
pub mod twilio;

#[cfg(test)]
mod architecture_tests;
