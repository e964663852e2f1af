//! The Slack Web API client (slack-morphism), and how its errors map to retry decisions.

use crate::outbox::Failure;
use crate::settings::Settings;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::Duration;

type Connector = SlackClientHyperConnector<SlackHyperHttpsConnector>;

/// A configured Web API client with its bot token. Cheap to clone.
#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackClient<Connector>>,
    token: SlackApiToken,
}

impl SlackApi {
    /// `None` when no bot token is configured: Slack work then waits in the outbox.
    pub fn from_settings(s: &Settings) -> std::io::Result<Option<SlackApi>> {
        let Some(token) = &s.slack_bot_token else {
            return Ok(None);
        };
        // slack-morphism's default connector is https-only; tests use a plain-http fake.
        let https = https_or_http()?;
        let connector =
            SlackClientHyperConnector::with_connector(https).with_slack_api_url(&s.slack_api_url);
        Ok(Some(SlackApi {
            client: Arc::new(SlackClient::new(connector)),
            token: SlackApiToken::new(token.expose().to_string().into()),
        }))
    }

    /// Which workspace and app the bot token belongs to: the team from
    /// `auth.test`, the app from `bots.info` on the bot it names (`None` if
    /// Slack does not say).
    pub async fn installation(&self) -> Result<super::inbound::Installation, Failure> {
        let session = self.client.open_session(&self.token);
        let auth = counted("auth.test", session.auth_test().await)?;
        let app_id = match &auth.bot_id {
            Some(bot) => {
                let req = SlackApiBotsInfoRequest::new().with_bot(bot.0.clone());
                match counted("bots.info", session.bots_info(&req).await) {
                    Ok(info) => Some(info.bot.app_id).filter(|a| !a.is_empty()),
                    Err(e) => {
                        tracing::warn!(error = ?e, "bots.info did not name the app; only the workspace of Slack requests is checked");
                        None
                    }
                }
            }
            None => None,
        };
        Ok(super::inbound::Installation {
            team_id: auth.team_id.0,
            app_id,
        })
    }

    /// The Slack user with this email (`users.lookupByEmail`, which needs
    /// `users:read.email`); `None` when the workspace has nobody with it.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<String>, Failure> {
        let req = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.to_string()));
        let r = self
            .client
            .open_session(&self.token)
            .users_lookup_by_email(&req)
            .await;
        let found = counted_or("users.lookupByEmail", r.map(|resp| resp.user.id.0), |v| {
            v["user"]["id"].as_str().map(str::to_string)
        });
        match found {
            Ok(id) => Ok(Some(id)),
            Err(Failure::Permanent(code)) if code == "users_not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn post_message(
        &self,
        channel: &str,
        content: SlackMessageContent,
    ) -> Result<String, Failure> {
        let req = SlackApiChatPostMessageRequest::new(channel.into(), content);
        let r = self
            .client
            .open_session(&self.token)
            .chat_post_message(&req)
            .await;
        // Slack took the message if it said `ok`; its `ts` is all tocsin keeps.
        counted_or("chat.postMessage", r.map(|resp| resp.ts.0), |v| {
            v["ts"].as_str().map(str::to_string)
        })
    }

    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        content: SlackMessageContent,
    ) -> Result<(), Failure> {
        let req = SlackApiChatUpdateRequest::new(channel.into(), content, ts.into());
        let r = self
            .client
            .open_session(&self.token)
            .chat_update(&req)
            .await;
        counted_or("chat.update", r.map(drop), accepted)
    }

    /// The DM channel with a user (conversations.open).
    pub async fn open_dm(&self, user: &str) -> Result<String, Failure> {
        let req = SlackApiConversationsOpenRequest::new().with_users(vec![user.into()]);
        let r = self
            .client
            .open_session(&self.token)
            .conversations_open(&req)
            .await;
        counted_or("conversations.open", r.map(|resp| resp.channel.id.0), |v| {
            v["channel"]["id"].as_str().map(str::to_string)
        })
    }

    /// Every message of a channel since `oldest` (unix seconds), with
    /// metadata, page by page (Slack's largest page, so a busy channel costs
    /// few calls of its Tier 3 budget).
    pub async fn history_since(
        &self,
        channel: &str,
        oldest: i64,
    ) -> Result<Vec<SlackHistoryMessage>, Failure> {
        let session = self.client.open_session(&self.token);
        let mut cursor: Option<SlackCursorId> = None;
        let mut all = vec![];
        for _ in 0..HISTORY_PAGES {
            let mut req = SlackApiConversationsHistoryRequest::new()
                .with_channel(channel.into())
                .with_oldest(format!("{oldest}.000000").into())
                .with_limit(HISTORY_PAGE)
                .with_include_all_metadata(true);
            req.cursor = cursor.take();
            let resp = counted(
                "conversations.history",
                session.conversations_history(&req).await,
            )?;
            all.extend(resp.messages);
            match resp.response_metadata.and_then(|m| m.next_cursor) {
                Some(next) if !next.0.is_empty() && resp.has_more != Some(false) => {
                    cursor = Some(next)
                }
                _ => break,
            }
        }
        Ok(all)
    }

    /// Whether Slack accepts the bot token now (auth.test).
    pub async fn auth_test(&self) -> Result<(), Failure> {
        let r = self.client.open_session(&self.token).auth_test().await;
        counted_or("auth.test", r.map(drop), accepted)
    }

    /// Creates a public channel (conversations.create); its id.
    pub async fn create_channel(&self, name: &str) -> Result<String, Failure> {
        let req = SlackApiConversationsCreateRequest::new(name.to_string());
        let r = self
            .client
            .open_session(&self.token)
            .conversations_create(&req)
            .await;
        counted_or(
            "conversations.create",
            r.map(|resp| resp.channel.id.0),
            |v| v["channel"]["id"].as_str().map(str::to_string),
        )
    }

    /// The id of the unarchived public channel called `name`, if there is one.
    pub async fn find_channel(&self, name: &str) -> Result<Option<String>, Failure> {
        let session = self.client.open_session(&self.token);
        let mut cursor: Option<SlackCursorId> = None;
        // Big workspaces page through thousands of channels; this is a rare path.
        for _ in 0..50 {
            let mut req = SlackApiConversationsListRequest::new()
                .with_exclude_archived(true)
                .with_limit(1000)
                .with_types(vec![SlackConversationType::Public]);
            req.cursor = cursor.take();
            let resp = counted("conversations.list", session.conversations_list(&req).await)?;
            if let Some(c) = resp
                .channels
                .iter()
                .find(|c| c.name.as_deref() == Some(name))
            {
                return Ok(Some(c.id.0.clone()));
            }
            match resp.response_metadata.and_then(|m| m.next_cursor) {
                Some(next) if !next.0.is_empty() => cursor = Some(next),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Invites people to a channel; those already in it are fine.
    pub async fn invite(&self, channel: &str, users: &[String]) -> Result<(), Failure> {
        let users = users.iter().map(|u| u.clone().into()).collect();
        let req = SlackApiConversationsInviteRequest::new(channel.into(), users);
        let r = self
            .client
            .open_session(&self.token)
            .conversations_invite(&req)
            .await;
        accept_codes(
            counted_or("conversations.invite", r.map(drop), accepted),
            &["already_in_channel", "cant_invite_self"],
        )
    }

    /// Pins a message; one already pinned is fine.
    pub async fn pin(&self, channel: &str, ts: &str) -> Result<(), Failure> {
        let req = SlackApiPinsAddRequest::new(channel.into(), ts.into());
        let r = self.client.open_session(&self.token).pins_add(&req).await;
        accept_codes(
            counted_or("pins.add", r.map(drop), accepted),
            &["already_pinned"],
        )
    }

    /// Archives a channel; one already archived is fine.
    pub async fn archive(&self, channel: &str) -> Result<(), Failure> {
        let req = SlackApiConversationsArchiveRequest::new(channel.into());
        let r = self
            .client
            .open_session(&self.token)
            .conversations_archive(&req)
            .await;
        accept_codes(
            counted_or("conversations.archive", r.map(drop), accepted),
            &["already_archived"],
        )
    }

    /// The text of the message at `ts` in `channel`, if Slack still has it.
    pub async fn message_text(&self, channel: &str, ts: &str) -> Result<Option<String>, Failure> {
        let req = SlackApiConversationsHistoryRequest::new()
            .with_channel(channel.into())
            .with_latest(ts.into())
            .with_inclusive(true)
            .with_limit(1);
        let r = self
            .client
            .open_session(&self.token)
            .conversations_history(&req)
            .await;
        let messages = counted("conversations.history", r.map(|resp| resp.messages))?;
        Ok(messages
            .into_iter()
            .find(|m| m.origin.ts.0 == ts)
            .and_then(|m| m.content.text))
    }

    /// Opens a modal for the person whose click or command gave `trigger_id`.
    pub async fn open_view(&self, trigger_id: &str, view: SlackView) -> Result<(), Failure> {
        let req = SlackApiViewsOpenRequest::new(trigger_id.into(), view);
        let r = self.client.open_session(&self.token).views_open(&req).await;
        counted_or("views.open", r.map(drop), accepted)
    }

    /// Publishes `user`'s App Home (views.publish).
    pub async fn publish_view(&self, user: &str, view: SlackView) -> Result<(), Failure> {
        let req = SlackApiViewsPublishRequest::new(user.into(), view);
        let r = self
            .client
            .open_session(&self.token)
            .views_publish(&req)
            .await;
        counted_or("views.publish", r.map(drop), accepted)
    }

    /// Shares a file in `channel`: files.getUploadURLExternal, the bytes to
    /// the URL it gives, then files.completeUploadExternal.
    pub async fn upload_file(
        &self,
        channel: &str,
        file_name: &str,
        title: &str,
        bytes: Vec<u8>,
    ) -> Result<(), Failure> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiFilesGetUploadUrlExternalRequest::new(file_name.into(), bytes.len());
        let target = counted(
            "files.getUploadURLExternal",
            session.get_upload_url_external(&req).await,
        )?;
        let upload = SlackApiFilesUploadViaUrlRequest::new(
            target.upload_url,
            bytes,
            "application/octet-stream".into(),
        );
        counted("files.upload", session.files_upload_via_url(&upload).await)?;
        let file = SlackApiFilesComplete::new(target.file_id).with_title(title.into());
        let done = SlackApiFilesCompleteUploadExternalRequest::new(vec![file])
            .with_channel_id(channel.into());
        counted_or(
            "files.completeUploadExternal",
            session
                .files_complete_upload_external(&done)
                .await
                .map(drop),
            accepted,
        )
    }

    pub async fn respond(
        &self,
        response_url: &str,
        text: &str,
        replace: bool,
    ) -> Result<(), Failure> {
        let url: url::Url = response_url
            .parse()
            .map_err(|e| Failure::Permanent(format!("bad response_url: {e}")))?;
        let req = SlackApiPostWebhookMessageRequest::new(
            SlackMessageContent::new().with_text(text.into()),
        )
        .with_replace_original(replace);
        let r = self
            .client
            .respond_to_event(&SlackResponseUrl(url), &req)
            .await;
        counted_or("response_url", r.map(drop), accepted)
    }
}

/// Learns the installation (see [`SlackApi::installation`]) once, at start,
/// trying again with backoff (1 s doubling to a minute) until Slack answers
/// or tocsin shuts down. Until then Slack requests are checked by signature
/// alone.
pub async fn learn_installation(
    api: SlackApi,
    into: Arc<std::sync::OnceLock<super::inbound::Installation>>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(1);
    loop {
        match api.installation().await {
            Ok(found) => {
                tracing::info!(team = %found.team_id, app = ?found.app_id, "Slack requests from other workspaces or apps will be refused");
                let _ = into.set(found);
                return;
            }
            Err(e) => {
                tracing::warn!(error = ?e, retry_in = ?wait, "auth.test failed; Slack requests are checked by signature alone until it answers")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = (wait * 2).min(Duration::from_secs(60));
    }
}

/// Gives each person the config names by email but not by Slack id the id
/// Slack has for that email, asking once at start. Someone Slack does not
/// know stays without one (and is logged); when Slack cannot be asked
/// (down, token refused, slow), the rest are left as they are rather than
/// hold up the start.
pub async fn match_people_by_email(api: &SlackApi, config: &mut crate::config::Config) {
    for user in config.users.iter_mut().filter(|u| u.slack_id.is_none()) {
        let Some(email) = user.email.clone() else {
            continue;
        };
        let mut answer =
            tokio::time::timeout(Duration::from_secs(5), api.user_by_email(&email)).await;
        if let Ok(Err(Failure::RateLimited(wait))) = &answer {
            tokio::time::sleep((*wait).min(Duration::from_secs(30))).await;
            answer = tokio::time::timeout(Duration::from_secs(5), api.user_by_email(&email)).await;
        }
        match answer {
            Ok(Ok(Some(id))) => {
                tracing::info!(user = %user.id, slack_id = %id, "matched by email in Slack");
                user.slack_id = Some(id);
            }
            Ok(Ok(None)) => {
                tracing::warn!(user = %user.id, email = %email, "no Slack account has this email: set the user's slack_id");
            }
            Ok(Err(e)) => {
                tracing::warn!(error = ?e, "users.lookupByEmail failed: people without a slack_id stay without one (does the app have users:read.email?)");
                return;
            }
            Err(_) => {
                tracing::warn!("users.lookupByEmail did not answer in 5 s: people without a slack_id stay without one");
                return;
            }
        }
    }
}

// Shared with every other outgoing client; kept here for the callers that name it so.
pub(crate) use crate::net::https_or_http;

/// Slack error codes worth retrying; everything else Slack reports is final.
const TRANSIENT_CODES: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
];

/// Codes that are about the installation (the bot token), not the message:
/// every Slack call fails alike until someone fixes the token.
const AUTH_CODES: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
];

/// `conversations.history` page size: Slack's most.
const HISTORY_PAGE: u16 = 999;
/// A bound on pages read for one lookup.
const HISTORY_PAGES: usize = 20;

/// Treats these Slack error codes as success: the state asked for is there already.
fn accept_codes(r: Result<(), Failure>, codes: &[&str]) -> Result<(), Failure> {
    match r {
        Err(Failure::Permanent(code)) if codes.contains(&code.as_str()) => Ok(()),
        other => other,
    }
}

/// Counts the call (and a 429) for `/metrics`, then classifies a failure.
fn counted<T>(method: &'static str, r: Result<T, SlackClientError>) -> Result<T, Failure> {
    counted_or(method, r, |_| None)
}

/// For replies tocsin needs nothing from: Slack's `ok` is enough.
fn accepted(_: &serde_json::Value) -> Option<()> {
    Some(())
}

/// Like [`counted`], but a reply the client could not read while Slack said
/// `ok: true` is a success when `salvage` finds what tocsin needs in it: the
/// work was done, and retrying it would repeat it (and hold up the lane).
fn counted_or<T>(
    method: &'static str,
    r: Result<T, SlackClientError>,
    salvage: impl FnOnce(&serde_json::Value) -> Option<T>,
) -> Result<T, Failure> {
    let m = crate::metrics::global();
    m.inc("tocsin_slack_calls_total", &[("method", method)]);
    let e = match r {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if let SlackClientError::ProtocolError(p) = &e {
        let body: Option<serde_json::Value> = p
            .json_body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok());
        if let Some(body) = body.filter(|b| b["ok"] == true) {
            if let Some(v) = salvage(&body) {
                warn_once(method, &p.json_error);
                return Ok(v);
            }
        }
    }
    let f = classify(e);
    if matches!(f, Failure::RateLimited(_)) {
        m.inc("tocsin_slack_rate_limited_total", &[("method", method)]);
    }
    Err(f)
}

/// Logs, once per method and process, that Slack's `ok` reply did not parse.
fn warn_once(method: &'static str, why: &serde_json::Error) {
    static WARNED: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut warned) = WARNED.lock() else {
        return;
    };
    if !warned.contains(&method) {
        warned.push(method);
        tracing::warn!(
            method,
            error = %why,
            "Slack accepted the call but its reply did not parse; taking it as done (logged once)"
        );
    }
}

fn classify(e: SlackClientError) -> Failure {
    match e {
        SlackClientError::ApiError(a) if AUTH_CODES.contains(&a.code.as_str()) => {
            Failure::Unauthorized(a.code)
        }
        SlackClientError::ProtocolError(p) => Failure::Unreadable(p.json_error.to_string()),
        SlackClientError::RateLimitError(r) => {
            Failure::RateLimited(r.retry_after.unwrap_or(Duration::from_secs(1)))
        }
        SlackClientError::ApiError(a) if TRANSIENT_CODES.contains(&a.code.as_str()) => {
            Failure::Transient(a.code)
        }
        SlackClientError::ApiError(a) => Failure::Permanent(a.code),
        SlackClientError::HttpError(h) if h.status_code.is_server_error() => {
            Failure::Transient(format!("HTTP {}", h.status_code))
        }
        SlackClientError::HttpError(h) => Failure::Permanent(format!("HTTP {}", h.status_code)),
        other => Failure::Transient(other.to_string()),
    }
}
