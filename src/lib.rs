//! tocsin: a Slack-first incident response and on-call bot.
//!
//! Module map, from the inside out (see ARCHITECTURE.md for the rules between them):
//! - [`clock`], [`settings`], [`config`], [`metrics`] — leaves: the injected clock, the
//!   environment, the declarative `tocsin.toml`, the Prometheus registry.
//! - [`domain`]   — the pure core: incidents, schedules, escalation, grouping, rules, rooms,
//!   paging, policy, reports, and the notices a change causes.
//! - [`store`]    — the storage port, the facade that composes the domain's decisions, and the
//!   embedded backend behind it.
//! - [`ops`]      — the application layer: every use case, committed durably in one write.
//! - [`engine`]   — the one loop of time-driven work, a module per job.
//! - [`outbox`]   — delivery in order per lane, with pacing and retries, through receivers.
//! - [`slack`]    — the Slack receiver (render, Web API) and adapter (signed requests, commands).
//! - [`twilio`]   — the Twilio receiver (SMS, calls, TwiML) and adapter (voice webhooks).
//! - [`net`]      — the HTTPS connector, and the receiver that visits SNS confirmation URLs.
//! - [`webhooks_out`] — the receiver that POSTs signed incident events to `[[webhooks_out]]`.
//! - [`ingest`]   — monitoring payloads into typed alert events (pure parsers).
//! - [`sandbox`]  — an offline stand-in for Slack at `/sandbox`: the Web API the receiver
//!   calls, and a page whose actions become signed Slack requests.
//! - [`http`]     — the hyper server: routing, limits, statuses.
//! - [`smtp`]     — the embedded SMTP listener for mailed alerts.
//! - [`import`]   — PagerDuty, Opsgenie and Grafana OnCall exports into a `tocsin.toml`.
//! - [`app`]      — wires one process together; nothing imports it.
//! - [`replay`]   — a recorded alert stream through the real pipeline on a throw-away store
//!   and a manual clock; nothing imports it.

pub mod app;
pub mod clock;
pub mod config;
pub mod domain;
pub mod engine;
pub mod http;
pub mod import;
pub mod ingest;
pub mod metrics;
pub mod net;
pub mod ops;
pub mod outbox;
pub mod replay;
pub mod sandbox;
pub mod settings;
pub mod slack;
pub mod smtp;
pub mod store;
pub mod twilio;
pub mod webhooks_out;

#[cfg(test)]
mod architecture_tests;
