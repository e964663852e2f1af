//! One tocsin process: settings → config → store → HTTP server + outbox worker,
//! with a single shutdown signal that drains requests and flushes the store.

use crate::clock::Clock;
use crate::config::{Config, ConfigErrors};
use crate::ingest::mappings::Mappings;
use crate::ops::alert::Ingest;
use crate::outbox::{Chat, OutboxWorker, Receiver};
use crate::sandbox::Sandbox;
use crate::settings::Settings;
use crate::slack::api::SlackApi;
use crate::slack::deliver::SlackDelivery;
use crate::store::{Location, Store, StoreError};
use crate::twilio::api::TwilioApi;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::ops::Core;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error("cannot open the store: {0}")]
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
    #[error("{0}")]
    Smtp(#[from] crate::smtp::SmtpError),
}

/// Where the settings say the store is: `TOCSIN_STORE`, or `TOCSIN_DATA`.
pub fn store_location(settings: &Settings) -> Location {
    match &settings.postgres_url {
        Some(url) => Location::Postgres {
            url: url.expose().to_string(),
        },
        None => Location::Sled {
            dir: settings.data_dir.clone(),
            cache_capacity: settings.cache_capacity,
        },
    }
}

/// A running tocsin.
pub struct App {
    addr: SocketAddr,
    /// The SMTP listener's address, when mail intake is on.
    smtp_addr: Option<SocketAddr>,
    core: Core,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    worker: JoinHandle<()>,
    /// The engine, and Socket Mode and learning the installation when on.
    background: Vec<JoinHandle<()>>,
}

impl App {
    /// Loads the config, opens the store, binds the listener and starts serving.
    pub async fn build(mut settings: Settings, clock: Clock) -> Result<App, AppError> {
        let mut config = match &settings.config_file {
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
        let store = Store::open_at(&store_location(&settings))
            .await?
            .with_webhooks(&config.webhooks_out);
        store.set_min_free(settings.min_free_bytes);
        store.refresh_homes(crate::domain::home::Directory::of(&config));
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
        // People named by email only are found in the real workspace (the
        // sandbox has none to find).
        if !settings.sandbox() {
            if let Some(api) = SlackApi::from_settings(&settings).map_err(AppError::Client)? {
                crate::slack::api::match_people_by_email(&api, &mut config).await;
            }
        }
        let (shutdown, rx) = watch::channel(false);
        let config = Arc::new(config);
        // The sandbox stands in for Slack: the receiver posts to it, and
        // only requests it signs reach the Slack endpoints.
        let sandbox = if settings.sandbox() {
            let sb = Sandbox::open(
                store.clone(),
                config.clone(),
                clock.clone(),
                addr,
                rx.clone(),
            )
            .await?;
            settings.slack_bot_token = Some(sb.token());
            settings.slack_signing_secret = Some(sb.signing_secret());
            settings.slack_api_url = sb.api_url();
            settings.slack_app_token = None;
            Some(sb)
        } else {
            None
        };
        let api = SlackApi::from_settings(&settings).map_err(AppError::Client)?;
        let twilio = TwilioApi::from_settings(&settings).map_err(AppError::Client)?;
        if settings.slack_signing_secret.is_none() {
            tracing::warn!("SLACK_SIGNING_SECRET is not set: Slack requests will be rejected");
        }
        let core = Core {
            store: store.clone(),
            config,
            clock,
            outbox_ready: Arc::new(Notify::new()),
            slack_signing_secret: settings.slack_signing_secret.clone(),
            twilio_auth_token: settings.twilio.as_ref().map(|t| t.auth_token.clone()),
            public_url: settings.public_url.clone(),
            engine_wake: Arc::new(Notify::new()),
            mappings: Arc::new(mappings),
            api_token: settings.api_token.clone(),
            api_read_token: settings.api_read_token.clone(),
            installation: Arc::new(OnceLock::new()),
            slack_auth_failing: Default::default(),
        };
        let learning = api.clone().map(|api| {
            tokio::spawn(crate::slack::api::learn_installation(
                api,
                core.installation.clone(),
                rx.clone(),
            ))
        });
        let chat = api.clone().map(|api| {
            Arc::new(SlackDelivery {
                store: store.clone(),
                config: core.config.clone(),
                api,
                clock: core.clock.clone(),
                seen: Default::default(),
            }) as Arc<dyn Chat>
        });
        if chat.is_none() {
            tracing::warn!(
                "Slack is not configured (SLACK_BOT_TOKEN is unset): Slack messages are kept in the outbox until it is"
            );
        }
        let mut receivers: Vec<Arc<dyn Receiver>> = vec![];
        if let Some(api) = twilio {
            receivers.push(Arc::new(crate::twilio::Receiver {
                api,
                store: store.clone(),
                config: core.config.clone(),
            }));
        }
        if !core.config.webhooks_out.is_empty() {
            receivers.push(Arc::new(crate::webhooks_out::Receiver {
                config: core.config.clone(),
                clock: core.clock.clone(),
            }));
        }
        // With neither Slack nor Twilio the worker has no receiver and only
        // waits: an SNS confirmation then waits in the outbox with the rest.
        // The sandbox is no reason to reach out either: it is for trying
        // tocsin offline.
        if (chat.is_some() && sandbox.is_none()) || !receivers.is_empty() {
            receivers.push(Arc::new(crate::net::Fetch));
        }
        let worker = OutboxWorker {
            store,
            chat,
            receivers,
            interval: settings.slack_channel_interval,
            auth_probe: settings.slack_auth_probe,
            auth_failing: core.slack_auth_failing.clone(),
            ready: core.outbox_ready.clone(),
        };
        let worker = tokio::spawn(worker.run(rx.clone()));
        let mut background = vec![tokio::spawn(crate::engine::run(core.clone(), rx.clone()))];
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
        let mut smtp_addr = None;
        if let Some(smtp) = &settings.smtp {
            let tls = crate::smtp::acceptor(smtp)?;
            let bind = |source| AppError::Bind {
                addr: smtp.listen,
                source,
            };
            let listener = TcpListener::bind(smtp.listen).await.map_err(bind)?;
            let at = listener.local_addr().map_err(bind)?;
            tracing::info!(addr = %at, domain = %smtp.domain, starttls = tls.is_some(), "taking mailed alerts");
            smtp_addr = Some(at);
            background.push(tokio::spawn(crate::smtp::serve(
                listener,
                ingest.clone(),
                smtp.clone(),
                tls,
                rx.clone(),
            )));
        }
        let limits = crate::http::Limits {
            max_connections: settings.max_connections,
            read_timeout: settings.read_timeout,
        };
        let server = tokio::spawn(crate::http::serve(
            listener,
            core.clone(),
            ingest,
            limits,
            sandbox.clone(),
            rx,
        ));
        tracing::info!(%addr, "tocsin is listening");
        if let Some(sb) = &sandbox {
            tracing::info!(
                url = %sb.page_url(),
                "the sandbox is on: Slack work goes to the page at this URL, not to Slack"
            );
        }
        Ok(App {
            addr,
            smtp_addr,
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

    /// Where the SMTP listener took its address (`TOCSIN_SMTP_LISTEN` may name port 0).
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp_addr
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Stops accepting, lets in-flight requests finish, stops the worker and
    /// the engine, then flushes the store. An error means the last
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
