//! Everything that knows Slack: request signatures, inbound payloads, slash
//! commands, message rendering, the App Home, the Web API client, delivery of outbox work to
//! Slack, Socket Mode, and the app manifest.

pub mod api;
pub mod commands;
pub mod deliver;
pub mod home;
pub mod inbound;
pub mod manifest;
pub mod mrkdwn;
pub mod render;
mod room;
pub mod socket;
pub mod verify;
