//! The token pause: while the chat receiver refuses its token, every chat
//! lane waits, and the worker asks now and then whether it works again.

use super::{Failure, OutboxWorker};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// The longest wait between two checks of a refused token, and between two
/// error lines about it.
const PROBE_CAP: Duration = Duration::from_secs(60);

/// The chat receiver refuses its token: every chat lane waits, and
/// `Chat::probe` asks now and then whether it works again.
pub(super) struct AuthPause {
    since: Instant,
    why: String,
    probes: u32,
    pub(super) next_probe: Instant,
    pub(super) probing: bool,
    logged_at: Instant,
}

impl OutboxWorker {
    /// The chat receiver's name, for the pause's log lines.
    fn chat_name(&self) -> &'static str {
        self.chat.as_ref().map_or("chat", |c| c.name())
    }

    /// The token was refused (`why`): every chat lane waits from now.
    pub(super) fn pause(&self, why: &str) -> AuthPause {
        let now = Instant::now();
        let chat = self.chat_name();
        tracing::error!(%why, "{chat} refuses the bot token: every {chat} message waits until it works again (checking now and then)");
        self.auth_failing.store(true, Ordering::SeqCst);
        AuthPause {
            since: now,
            why: why.to_string(),
            probes: 0,
            next_probe: now + self.auth_probe,
            probing: false,
            logged_at: now,
        }
    }

    /// The probe's answer: resume, or wait longer (up to a minute) and say
    /// so once a minute.
    pub(super) fn probed(&self, pause: &mut Option<AuthPause>, result: Result<Instant, Failure>) {
        let Some(p) = pause.as_mut() else {
            return;
        };
        let now = Instant::now();
        let chat = self.chat_name();
        match result {
            Ok(_) => {
                tracing::info!(after = ?now - p.since, "{chat} accepts the bot token again; resuming");
                self.auth_failing.store(false, Ordering::SeqCst);
                *pause = None;
            }
            Err(e) => {
                p.probes = p.probes.saturating_add(1);
                p.probing = false;
                let exp = p.probes.min(16);
                p.next_probe = now + self.auth_probe.saturating_mul(1 << exp).min(PROBE_CAP);
                if let Failure::Unauthorized(why) = &e {
                    p.why = why.clone();
                }
                if now - p.logged_at >= PROBE_CAP {
                    p.logged_at = now;
                    tracing::error!(why = %p.why, waiting = ?now - p.since, "{chat} still refuses the bot token; every {chat} message waits");
                }
            }
        }
    }
}
