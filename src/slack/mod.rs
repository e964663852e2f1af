//! Everything that knows Slack: request signatures, inbound payloads, message
//! rendering, the Web API client, the outbox worker and the app manifest.

pub mod api;
pub mod inbound;
pub mod manifest;
pub mod outbox;
pub mod render;
pub mod verify;
