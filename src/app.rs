//! One tocsin process: settings → config → store → HTTP server + outbox worker,
//! with a single shutdown signal that drains requests and flushes the store.

use crate::clock::Clock;
use crate::config::{Config, ConfigErrors};
use crate::incident::{Actor, Incident, State, Transition};
use crate::ingest::mappings::Mappings;
use crate::ingest::Ingest;
use crate::notify;
use crate::outbox::OutboxWorker;
use crate::policy::{self, Action, Subject};
use crate::schedule::{ical, shift_start, shifts};
use crate::settings::{Secret, Settings};
use crate::slack::api::SlackApi;
use crate::slack::inbound::Installation;
use crate::store::{update_lane, Changed, Outbound, Store, StoreError, CHANGE_RETENTION_DAYS};
use crate::twilio::api::TwilioApi;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// What every handler needs: a cheap clone around shared handles.
#[derive(Clone)]
pub struct Core {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: Clock,
    /// Poked after anything is added to the outbox.
    pub outbox_ready: Arc<Notify>,
    pub slack_signing_secret: Option<Secret>,
    /// Verifies Twilio's voice webhooks; `None` refuses them all.
    pub twilio_auth_token: Option<Secret>,
    /// Base of links tocsin hands out (calendar feeds, voice webhooks).
    pub public_url: String,
    /// Poked when something the engine schedules from has changed (an override).
    pub engine_wake: Arc<Notify>,
    /// Compiled webhook mappings, by name.
    pub mappings: Arc<Mappings>,
    /// Bearer token for the read API; `None`: the API is off.
    pub api_token: Option<Secret>,
    /// The Slack workspace and app tocsin is installed in, once Slack said
    /// (`auth.test` at start); requests from elsewhere are then refused.
    pub installation: Arc<OnceLock<Installation>>,
    /// True while Slack refuses the bot token and the Slack lanes wait
    /// (set by the outbox worker, shown on `/metrics`).
    pub slack_auth_failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Core {
    /// Whether the person with Slack id `by` may do `action` to `inc`
    /// (`policy::may`); `Err` is the reason, for that person.
    pub fn authorize(&self, by: &str, action: Action, inc: &Incident) -> Result<(), String> {
        policy::may(
            &self.config,
            by,
            action,
            &Subject::incident(&self.config, inc),
        )
        .map_err(|r| r.to_string())
    }

    /// Acknowledges or resolves incident `id` for a person in Slack, if the
    /// policy lets them; `Ok(Err(why))` when it does not (nothing changed).
    pub async fn act(
        &self,
        id: u64,
        t: Transition,
        by: &str,
    ) -> Result<Result<Changed, String>, StoreError> {
        let action = match t {
            Transition::Acknowledge => Action::Acknowledge,
            Transition::Resolve => Action::Resolve,
        };
        // The decision rests on the incident's service, which never changes.
        if let Some(inc) = self.store.incident(id)? {
            if let Err(why) = self.authorize(by, action, &inc) {
                return Ok(Err(why));
            }
        }
        let actor = Actor::Slack {
            user_id: by.to_string(),
        };
        self.transition(id, t, actor).await.map(Ok)
    }

    /// Acknowledges or resolves incident `id`, durably; queues the message
    /// update. For tools and phones: people in Slack go through [`Core::act`].
    pub async fn transition(
        &self,
        id: u64,
        t: Transition,
        by: Actor,
    ) -> Result<Changed, StoreError> {
        let r = self.store.transition(id, t, by, self.clock.now())?;
        self.store.durable().await?;
        if let Changed::Applied { incident, .. } = &r {
            crate::metrics::incident_changed(incident, false);
        }
        if matches!(
            r,
            Changed::Applied {
                outbox: Some(_),
                ..
            }
        ) {
            self.outbox_ready.notify_one();
        }
        Ok(r)
    }

    /// "Escalate": the incident's next escalation step becomes due now.
    /// `Ok(Err(why))` explains to a person why it cannot escalate.
    pub async fn escalate(
        &self,
        id: u64,
        by: &str,
    ) -> Result<Result<Incident, String>, StoreError> {
        let now = self.clock.now();
        let r = self.store.update_incident(id, now, |inc| {
            self.authorize(by, Action::Escalate, inc)?;
            if inc.state != State::Triggered {
                return Err(format!(
                    "#{id} is {}; only a triggered incident escalates.",
                    inc.state.as_str()
                ));
            }
            let esc = inc
                .escalation
                .as_ref()
                .ok_or(format!("#{id}'s service has no escalation policy."))?;
            let jumped = esc.escalate_now(now).ok_or(format!(
                "Every escalation level of #{id} has been paged already."
            ))?;
            let mut next = inc.clone();
            next.escalation = Some(jumped);
            // A person asking for more help makes it urgent.
            next.raise_urgency(now);
            Ok((next, vec![]))
        })?;
        self.store.durable().await?;
        if r.is_ok() {
            self.engine_wake.notify_one();
        }
        Ok(r)
    }

    /// Snoozes an acknowledged incident for `minutes` on behalf of `by` (a
    /// Slack id); it pages again then unless resolved.
    pub async fn snooze(
        &self,
        id: u64,
        minutes: i64,
        by: &str,
    ) -> Result<Result<Incident, String>, StoreError> {
        let now = self.clock.now();
        let until = now + chrono::Duration::minutes(minutes);
        let r = self.store.update_incident(id, now, |inc| {
            self.authorize(by, Action::Snooze, inc)?;
            let next = inc.snooze(until, now, by)?;
            let ops = vec![(update_lane(inc), Outbound::UpdateIncident { incident: id })];
            Ok((next, ops))
        })?;
        self.store.durable().await?;
        if r.is_ok() {
            self.outbox_ready.notify_one();
            self.engine_wake.notify_one();
        }
        Ok(r)
    }

    /// Pages `user` (a config user id) about incident `id` now, as asked by
    /// `by` (a Slack id).
    pub async fn assign(
        &self,
        id: u64,
        user: &str,
        by: &str,
    ) -> Result<Result<Incident, String>, StoreError> {
        let now = self.clock.now();
        let r = self.store.update_incident(id, now, |inc| {
            self.authorize(by, Action::Assign, inc)?;
            if inc.state == State::Resolved {
                return Err(format!("#{id} is resolved already."));
            }
            let mut next = inc.clone();
            let mut ops = vec![];
            if !notify::page(&self.config, &mut next, user, None, now, &mut ops) {
                return Err(format!(
                    "{user} has no Slack id (or phone for their notification rules) in the configuration, so I cannot page them."
                ));
            }
            ops.push((update_lane(inc), Outbound::UpdateIncident { incident: id }));
            Ok((next, ops))
        })?;
        self.store.durable().await?;
        if r.is_ok() {
            self.outbox_ready.notify_one();
        }
        Ok(r)
    }

    /// The iCalendar feed of schedule `id` (last week to 90 days ahead), if
    /// the schedule exists and `token` is its feed token.
    pub fn schedule_feed(&self, id: &str, token: &str) -> Result<Option<String>, StoreError> {
        let Some(schedule) = self.config.schedule(id) else {
            return Ok(None);
        };
        let generation = self.store.feed_generation(id)?;
        if !ical::token_matches(&self.store.feed_seed()?, id, generation, token) {
            return Ok(None);
        }
        let overrides: Vec<_> = self
            .store
            .overrides(id)?
            .into_iter()
            .map(|o| o.over)
            .collect();
        let now = self.clock.now();
        let from = now - chrono::Duration::days(7);
        let mut list = shifts(schedule, &overrides, from, now + chrono::Duration::days(90));
        // The shift in progress a week ago keeps its real start, and with it
        // its UID: calendar apps would otherwise re-create it on every fetch.
        if let Some(first) = list.first_mut() {
            first.start = shift_start(schedule, &overrides, from);
        }
        let name = |u: &str| {
            self.config
                .user(u)
                .map(|u| u.name.clone())
                .unwrap_or_else(|| u.to_string())
        };
        Ok(Some(ical::calendar(id, &list, name)))
    }

    /// Queues one piece of outbound work, durably.
    pub async fn enqueue(&self, lane: &str, op: Outbound) -> Result<u64, StoreError> {
        let seq = self.store.enqueue(lane, op, self.clock.now())?;
        self.store.durable().await?;
        self.outbox_ready.notify_one();
        Ok(seq)
    }
}

/// Periodic tidying that no user-visible behaviour waits on.
async fn housekeeping(core: Core, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        // Slack retries an event for a few minutes; an hour of ids is plenty.
        let cutoff = core.clock.now() - chrono::Duration::hours(1);
        match core.store.prune_slack_events(cutoff) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "forgot old Slack event ids"),
            Err(e) => tracing::warn!(error = %e, "cannot prune Slack event ids"),
        }
        let cutoff = core.clock.now() - chrono::Duration::days(CHANGE_RETENTION_DAYS);
        match core.store.prune_changes(cutoff) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "forgot old change events"),
            Err(e) => tracing::warn!(error = %e, "cannot prune change events"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error("cannot open the data directory: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Mappings(String),
    #[error("cannot set up the HTTPS client: {0}")]
    Client(std::io::Error),
}

/// A running tocsin.
pub struct App {
    addr: SocketAddr,
    core: Core,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    worker: JoinHandle<()>,
    /// The engine and housekeeping.
    background: Vec<JoinHandle<()>>,
}

impl App {
    /// Loads the config, opens the store, binds the listener and starts serving.
    pub async fn build(settings: Settings, clock: Clock) -> Result<App, AppError> {
        let config = match &settings.config_file {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        tracing::info!(
            services = config.services.len(),
            teams = config.teams.len(),
            file = ?settings.config_file,
            "configuration applied"
        );
        let dir = settings.config_file.as_deref().and_then(|p| p.parent());
        let mappings =
            Mappings::load(&config, dir).map_err(|p| AppError::Mappings(p.join("\n")))?;
        let store = Store::open(&settings.data_dir, settings.cache_capacity)?;
        store.set_min_free(settings.min_free_bytes);
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| AppError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| AppError::Bind {
            addr: settings.listen,
            source,
        })?;
        let api = SlackApi::from_settings(&settings).map_err(AppError::Client)?;
        let twilio = TwilioApi::from_settings(&settings).map_err(AppError::Client)?;
        if settings.slack_signing_secret.is_none() {
            tracing::warn!("SLACK_SIGNING_SECRET is not set: Slack requests will be rejected");
        }
        let core = Core {
            store: store.clone(),
            config: Arc::new(config),
            clock,
            outbox_ready: Arc::new(Notify::new()),
            slack_signing_secret: settings.slack_signing_secret.clone(),
            twilio_auth_token: settings.twilio.as_ref().map(|t| t.auth_token.clone()),
            public_url: settings.public_url.clone(),
            engine_wake: Arc::new(Notify::new()),
            mappings: Arc::new(mappings),
            api_token: settings.api_token.clone(),
            installation: Arc::new(OnceLock::new()),
            slack_auth_failing: Default::default(),
        };
        let (shutdown, rx) = watch::channel(false);
        let learning = api.clone().map(|api| {
            tokio::spawn(crate::slack::api::learn_installation(
                api,
                core.installation.clone(),
                rx.clone(),
            ))
        });
        let worker = OutboxWorker {
            store,
            config: core.config.clone(),
            api,
            twilio,
            clock: core.clock.clone(),
            interval: settings.slack_channel_interval,
            auth_probe: settings.slack_auth_probe,
            auth_failing: core.slack_auth_failing.clone(),
            ready: core.outbox_ready.clone(),
        };
        let worker = tokio::spawn(worker.run(rx.clone()));
        let background = vec![
            tokio::spawn(housekeeping(core.clone(), rx.clone())),
            tokio::spawn(crate::engine::run(core.clone(), rx.clone())),
        ];
        let mut background = background;
        background.extend(learning);
        if let Some(token) = &settings.slack_app_token {
            tracing::info!("SLACK_APP_TOKEN is set: receiving Slack's events over Socket Mode");
            background.push(tokio::spawn(crate::slack::socket::run(
                core.clone(),
                settings.slack_api_url.clone(),
                token.clone(),
                rx.clone(),
            )));
        }
        let ingest = Ingest { core: core.clone() };
        let limits = crate::http::Limits {
            max_connections: settings.max_connections,
            read_timeout: settings.read_timeout,
        };
        let server = tokio::spawn(crate::http::serve(
            listener,
            core.clone(),
            ingest,
            limits,
            rx,
        ));
        tracing::info!(%addr, "tocsin is listening");
        Ok(App {
            addr,
            core,
            shutdown,
            server,
            worker,
            background,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Stops accepting, lets in-flight requests finish, stops the worker, the
    /// engine and housekeeping, then flushes sled. An error means the last
    /// flush failed: what was not yet on disk may be lost.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        let _ = self.shutdown.send(true);
        if tokio::time::timeout(Duration::from_secs(15), self.server)
            .await
            .is_err()
        {
            tracing::warn!("requests still running after 15 s; stopping anyway");
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.worker).await;
        for task in self.background {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        match self.core.store.flush() {
            Ok(()) => {
                tracing::info!("store flushed; bye");
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "final flush failed");
                Err(e)
            }
        }
    }
}
