//! Typed settings read from the environment (and `.env`), with the documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A secret that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `TOCSIN_STORE=postgres://…`: the PostgreSQL database to keep the
    /// store in instead of `data_dir` (a secret: it may hold a password).
    pub postgres_url: Option<Secret>,
    /// `None` means "no config file": an empty configuration.
    pub config_file: Option<PathBuf>,
    pub public_url: String,
    pub slack_bot_token: Option<Secret>,
    pub slack_signing_secret: Option<Secret>,
    pub slack_app_token: Option<Secret>,
    /// Web API base without a trailing slash (slack-morphism appends `/{method}`).
    pub slack_api_url: String,
    /// Minimum spacing of messages in one Slack channel (Slack allows about one per second).
    pub slack_channel_interval: Duration,
    /// First wait before asking Slack (`auth.test`) whether a refused token
    /// works again; it doubles up to a minute while Slack keeps refusing.
    pub slack_auth_probe: Duration,
    /// The embedded store's page cache; its resident memory grows far past
    /// this if left unset.
    pub cache_capacity: u64,
    /// SMS, phone pages and live call routing; `None` unless all of
    /// `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN` and `TWILIO_FROM` are set.
    pub twilio: Option<TwilioSettings>,
    /// Bearer token for `/api/v1/…` that may read and write; unset with
    /// `api_read_token` unset too: the API is off.
    pub api_token: Option<Secret>,
    /// Bearer token for `/api/v1/…` that may only read (`TOCSIN_API_READ_TOKEN`).
    pub api_read_token: Option<Secret>,
    /// Below this much free space on the data directory's disk, new alerts
    /// get 503 before the disk fills (`TOCSIN_MIN_FREE_MB`); 0 turns it off.
    pub min_free_bytes: u64,
    /// Connections served at once (`TOCSIN_MAX_CONNECTIONS`); a few more are
    /// answered 503 (or `/healthz`) at once, beyond that they are closed.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, and again its
    /// body (`TOCSIN_READ_TIMEOUT_MS`); idle keep-alive connections close after it too.
    pub read_timeout: Duration,
    /// `serve --sandbox`: run the sandbox (the offline Slack page at
    /// `/sandbox`) even though Slack credentials are set. Not read from the
    /// environment.
    pub force_sandbox: bool,
    /// The SMTP listener for mailed alerts; `None` unless `TOCSIN_SMTP_LISTEN` is set.
    pub smtp: Option<SmtpSettings>,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub listen: SocketAddr,
    /// Mail is taken for `<local part>@<domain>` only (lower case).
    pub domain: String,
    /// Sender domains allowed (lower case); empty: any sender.
    pub allow_senders: Vec<String>,
    /// The largest message taken, in bytes.
    pub max_bytes: usize,
    /// PEM certificate chain and private key for STARTTLS; `None`: no STARTTLS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Clone)]
pub struct TwilioSettings {
    pub account_sid: String,
    /// Signs Twilio's webhooks and authenticates our REST calls.
    pub auth_token: Secret,
    /// The number SMS and calls come from (E.164).
    pub from: String,
    /// REST API base without a trailing slash; tests point it at a local fake.
    pub api_url: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct SettingsError {
    pub name: &'static str,
    pub message: String,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let listen_raw = get("TOCSIN_LISTEN").unwrap_or_else(|| "127.0.0.1:3000".into());
        let listen = listen_raw.parse().map_err(|e| SettingsError {
            name: "TOCSIN_LISTEN",
            message: format!("{listen_raw:?} is not an address like 127.0.0.1:3000 ({e})"),
        })?;
        let config_file = match get("TOCSIN_CONFIG") {
            Some(p) => Some(PathBuf::from(p)),
            None => Some(PathBuf::from("./tocsin.toml")).filter(|p| p.exists()),
        };
        let interval_ms = match get("TOCSIN_SLACK_CHANNEL_INTERVAL_MS") {
            None => 1000,
            Some(v) => v.parse::<u64>().map_err(|_| SettingsError {
                name: "TOCSIN_SLACK_CHANNEL_INTERVAL_MS",
                message: format!("{v:?} is not a whole number of milliseconds"),
            })?,
        };
        let probe_ms = match get("TOCSIN_SLACK_AUTH_PROBE_MS") {
            None => 1000,
            Some(v) => v.parse::<u64>().map_err(|_| SettingsError {
                name: "TOCSIN_SLACK_AUTH_PROBE_MS",
                message: format!("{v:?} is not a whole number of milliseconds"),
            })?,
        };
        let cache_mb = match get("TOCSIN_CACHE_MB") {
            // The embedded store's memory runs well above its cache: with 100,000
            // incidents, 64 MiB of cache meant 98 MiB resident, 16 MiB 43 MiB,
            // at the same ingest rate (see BENCHMARKS.md).
            None => 16,
            Some(v) => v.parse::<u64>().map_err(|_| SettingsError {
                name: "TOCSIN_CACHE_MB",
                message: format!("{v:?} is not a whole number of MiB"),
            })?,
        };
        let twilio = match (
            get("TWILIO_ACCOUNT_SID"),
            get("TWILIO_AUTH_TOKEN"),
            get("TWILIO_FROM"),
        ) {
            (Some(account_sid), Some(token), Some(from)) => Some(TwilioSettings {
                account_sid,
                auth_token: Secret(token),
                from,
                api_url: normalise_api_url(
                    &get("TWILIO_API_URL").unwrap_or_else(|| "https://api.twilio.com".into()),
                ),
            }),
            (None, None, None) => None,
            (sid, token, from) => {
                let missing: Vec<&str> = [
                    ("TWILIO_ACCOUNT_SID", sid.is_none()),
                    ("TWILIO_AUTH_TOKEN", token.is_none()),
                    ("TWILIO_FROM", from.is_none()),
                ]
                .into_iter()
                .filter_map(|(n, m)| m.then_some(n))
                .collect();
                return Err(SettingsError {
                    name: "TWILIO_ACCOUNT_SID",
                    message: format!(
                        "Twilio is half configured: also set {}",
                        missing.join(" and ")
                    ),
                });
            }
        };
        let token = |name: &'static str| match get(name) {
            Some(t) if t.trim().len() < 32 => Err(SettingsError {
                name,
                message: "too short: use at least 32 random characters (openssl rand -hex 16)"
                    .into(),
            }),
            t => Ok(t.map(|t| Secret(t.trim().to_string()))),
        };
        let api_token = token("TOCSIN_API_TOKEN")?;
        let api_read_token = token("TOCSIN_API_READ_TOKEN")?;
        if let (Some(w), Some(r)) = (&api_token, &api_read_token) {
            if w.expose() == r.expose() {
                return Err(SettingsError {
                    name: "TOCSIN_API_READ_TOKEN",
                    message: "must differ from TOCSIN_API_TOKEN, or reading would grant writing"
                        .into(),
                });
            }
        }
        let number = |name: &'static str, default: u64, what: &str| -> Result<u64, SettingsError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.trim().parse::<u64>().map_err(|_| SettingsError {
                    name,
                    message: format!("{v:?} is not a whole number of {what}"),
                }),
            }
        };
        let min_free_mb = number("TOCSIN_MIN_FREE_MB", 64, "MiB")?;
        let max_connections = number("TOCSIN_MAX_CONNECTIONS", 512, "connections")?;
        if max_connections == 0 {
            return Err(SettingsError {
                name: "TOCSIN_MAX_CONNECTIONS",
                message: "must be at least 1".into(),
            });
        }
        let read_timeout_ms = number("TOCSIN_READ_TIMEOUT_MS", 10_000, "milliseconds")?;
        if read_timeout_ms == 0 {
            return Err(SettingsError {
                name: "TOCSIN_READ_TIMEOUT_MS",
                message: "must be more than 0".into(),
            });
        }
        let smtp = match get("TOCSIN_SMTP_LISTEN") {
            None => None,
            Some(raw) => {
                let listen = raw.trim().parse().map_err(|e| SettingsError {
                    name: "TOCSIN_SMTP_LISTEN",
                    message: format!("{raw:?} is not an address like 127.0.0.1:2525 ({e})"),
                })?;
                let domain = get("TOCSIN_EMAIL_DOMAIN")
                    .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                    .ok_or(SettingsError {
                        name: "TOCSIN_EMAIL_DOMAIN",
                        message: "must be set with TOCSIN_SMTP_LISTEN: mail is taken for <integration_key>@<this domain>".into(),
                    })?;
                let max_kb = number("TOCSIN_SMTP_MAX_KB", 10 * 1024, "KiB")?;
                if max_kb == 0 {
                    return Err(SettingsError {
                        name: "TOCSIN_SMTP_MAX_KB",
                        message: "must be at least 1".into(),
                    });
                }
                let tls =
                    match (get("TOCSIN_SMTP_TLS_CERT"), get("TOCSIN_SMTP_TLS_KEY")) {
                        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
                        (None, None) => None,
                        (c, _) => return Err(SettingsError {
                            name: if c.is_some() {
                                "TOCSIN_SMTP_TLS_KEY"
                            } else {
                                "TOCSIN_SMTP_TLS_CERT"
                            },
                            message:
                                "STARTTLS needs both TOCSIN_SMTP_TLS_CERT and TOCSIN_SMTP_TLS_KEY"
                                    .into(),
                        }),
                    };
                Some(SmtpSettings {
                    listen,
                    domain,
                    allow_senders: get("TOCSIN_SMTP_ALLOW_SENDERS")
                        .map(|v| {
                            v.split(',')
                                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                                .filter(|d| !d.is_empty())
                                .collect()
                        })
                        .unwrap_or_default(),
                    max_bytes: usize::try_from(max_kb.saturating_mul(1024)).unwrap_or(usize::MAX),
                    tls,
                })
            }
        };
        let mut data_dir = PathBuf::from(get("TOCSIN_DATA").unwrap_or_else(|| "./data".into()));
        let mut postgres_url = None;
        match get("TOCSIN_STORE").map(|s| s.trim().to_string()) {
            None => {}
            Some(s) if s.is_empty() => {}
            Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                postgres_url = Some(Secret(s));
            }
            Some(s) => match s.strip_prefix("sled:") {
                Some(path) if !path.is_empty() => data_dir = PathBuf::from(path),
                _ => {
                    return Err(SettingsError {
                        name: "TOCSIN_STORE",
                        message:
                            "expected sled:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE"
                                .into(),
                    })
                }
            },
        }
        let public_url = get("TOCSIN_PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:3000".into());
        Ok(Settings {
            listen,
            data_dir,
            postgres_url,
            config_file,
            public_url: public_url.trim_end_matches('/').to_string(),
            slack_bot_token: get("SLACK_BOT_TOKEN").map(Secret),
            slack_signing_secret: get("SLACK_SIGNING_SECRET").map(Secret),
            slack_app_token: get("SLACK_APP_TOKEN").map(Secret),
            slack_api_url: normalise_api_url(
                &get("SLACK_API_URL").unwrap_or_else(|| "https://slack.com/api/".into()),
            ),
            slack_channel_interval: Duration::from_millis(interval_ms),
            slack_auth_probe: Duration::from_millis(probe_ms.max(1)),
            cache_capacity: cache_mb * 1024 * 1024,
            twilio,
            api_token,
            api_read_token,
            min_free_bytes: min_free_mb * 1024 * 1024,
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
            read_timeout: Duration::from_millis(read_timeout_ms),
            smtp,
            force_sandbox: false,
        })
    }

    /// Whether Slack work goes to the sandbox instead of Slack: when asked
    /// for, or when no Slack credential at all is set.
    pub fn sandbox(&self) -> bool {
        self.force_sandbox
            || (self.slack_bot_token.is_none()
                && self.slack_signing_secret.is_none()
                && self.slack_app_token.is_none())
    }
}

/// Accepts the Web API base with or without a trailing slash.
fn normalise_api_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn smtp_is_off_unless_its_address_is_set_and_needs_a_domain() {
        assert!(settings(&[]).unwrap().smtp.is_none());
        let e = settings(&[("TOCSIN_SMTP_LISTEN", "127.0.0.1:2525")]).unwrap_err();
        assert_eq!(e.name, "TOCSIN_EMAIL_DOMAIN");
        let s = settings(&[
            ("TOCSIN_SMTP_LISTEN", "127.0.0.1:2525"),
            ("TOCSIN_EMAIL_DOMAIN", "Alerts.Example.com"),
            (
                "TOCSIN_SMTP_ALLOW_SENDERS",
                "monitor.example.com, @Example.org,",
            ),
        ])
        .unwrap()
        .smtp
        .unwrap();
        assert_eq!(s.domain, "alerts.example.com");
        assert_eq!(s.allow_senders, ["monitor.example.com", "example.org"]);
        assert_eq!(s.max_bytes, 10 * 1024 * 1024);
        assert!(s.tls.is_none());
        let half = settings(&[
            ("TOCSIN_SMTP_LISTEN", "127.0.0.1:2525"),
            ("TOCSIN_EMAIL_DOMAIN", "a.example"),
            ("TOCSIN_SMTP_TLS_CERT", "/c.pem"),
        ]);
        assert_eq!(half.unwrap_err().name, "TOCSIN_SMTP_TLS_KEY");
        let bad = settings(&[("TOCSIN_SMTP_LISTEN", "localhost:25")]);
        assert_eq!(bad.unwrap_err().name, "TOCSIN_SMTP_LISTEN");
    }

    #[test]
    fn the_sandbox_is_on_only_without_any_slack_credential_or_when_forced() {
        let with = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Settings::from_lookup(|k| {
                vars.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .filter(|v| !v.is_empty())
            })
            .unwrap()
        };
        assert!(with(&[]).sandbox());
        assert!(with(&[("SLACK_BOT_TOKEN", "")]).sandbox(), "empty is unset");
        for name in ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"] {
            let s = with(&[(name, "x")]);
            assert!(!s.sandbox(), "{name} set: Slack, not the sandbox");
            let forced = Settings {
                force_sandbox: true,
                ..s
            };
            assert!(forced.sandbox(), "--sandbox wins over {name}");
        }
    }

    #[test]
    fn defaults_match_the_documented_contract() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.public_url, "http://127.0.0.1:3000");
        assert_eq!(s.slack_api_url, "https://slack.com/api");
        assert!(s.slack_bot_token.is_none());
        assert_eq!(s.slack_channel_interval, Duration::from_secs(1));
        assert_eq!(s.min_free_bytes, 64 * 1024 * 1024);
        assert_eq!(s.max_connections, 512);
        assert_eq!(s.read_timeout, Duration::from_secs(10));
    }

    #[test]
    fn limits_must_be_numbers_and_the_cap_and_timeout_positive() {
        for (name, bad) in [
            ("TOCSIN_MIN_FREE_MB", "lots"),
            ("TOCSIN_MAX_CONNECTIONS", "0"),
            ("TOCSIN_MAX_CONNECTIONS", "-3"),
            ("TOCSIN_READ_TIMEOUT_MS", "0"),
            ("TOCSIN_READ_TIMEOUT_MS", "10s"),
        ] {
            let e = settings(&[(name, bad)]).unwrap_err();
            assert_eq!(e.name, name, "{bad}");
        }
        let s = settings(&[
            ("TOCSIN_MIN_FREE_MB", "0"),
            ("TOCSIN_MAX_CONNECTIONS", "8"),
            ("TOCSIN_READ_TIMEOUT_MS", "250"),
        ])
        .unwrap();
        assert_eq!(s.min_free_bytes, 0);
        assert_eq!(s.max_connections, 8);
        assert_eq!(s.read_timeout, Duration::from_millis(250));
    }

    #[test]
    fn api_url_is_accepted_with_or_without_trailing_slash() {
        for url in ["http://127.0.0.1:9/api/", "http://127.0.0.1:9/api"] {
            let s = settings(&[("SLACK_API_URL", url)]).unwrap();
            assert_eq!(s.slack_api_url, "http://127.0.0.1:9/api");
        }
    }

    #[test]
    fn the_store_is_sled_by_default_or_postgres_by_url() {
        let s = settings(&[("TOCSIN_DATA", "/var/lib/tocsin")]).unwrap();
        assert_eq!(
            (s.data_dir, s.postgres_url.is_none()),
            (PathBuf::from("/var/lib/tocsin"), true)
        );
        let s = settings(&[("TOCSIN_STORE", "sled:./elsewhere")]).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("./elsewhere"));
        let url = "postgres://tocsin:pw@db:5432/tocsin";
        let s = settings(&[("TOCSIN_STORE", url)]).unwrap();
        assert_eq!(s.postgres_url.as_ref().map(Secret::expose), Some(url));
        assert!(
            !format!("{s:?}").contains(":pw@"),
            "the password stays out of logs"
        );
        for bad in ["mysql://x", "sled:", "./data"] {
            let e = settings(&[("TOCSIN_STORE", bad)]).unwrap_err();
            assert_eq!(e.name, "TOCSIN_STORE", "{bad}");
        }
    }

    #[test]
    fn a_bad_listen_address_names_the_variable() {
        let e = settings(&[("TOCSIN_LISTEN", "localhost")]).unwrap_err();
        assert_eq!(e.name, "TOCSIN_LISTEN");
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let s = settings(&[
            ("SLACK_BOT_TOKEN", "xoxb-very-secret"),
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_AUTH_TOKEN", "twilio-very-secret"),
            ("TWILIO_FROM", "+15550100"),
        ])
        .unwrap();
        assert!(!format!("{s:?}").contains("very-secret"));
    }

    #[test]
    fn the_api_token_must_be_long_enough_to_guess_at() {
        assert!(settings(&[]).unwrap().api_token.is_none());
        let e = settings(&[("TOCSIN_API_TOKEN", "secret")]).unwrap_err();
        assert_eq!(e.name, "TOCSIN_API_TOKEN");
        let ok = settings(&[("TOCSIN_API_TOKEN", &"a".repeat(32))]).unwrap();
        assert_eq!(ok.api_token.unwrap().expose().len(), 32);
        let e = settings(&[("TOCSIN_API_READ_TOKEN", "short")]).unwrap_err();
        assert_eq!(e.name, "TOCSIN_API_READ_TOKEN");
        let same = [
            ("TOCSIN_API_TOKEN", "b".repeat(32)),
            ("TOCSIN_API_READ_TOKEN", "b".repeat(32)),
        ];
        let same: Vec<(&str, &str)> = same.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(settings(&same).unwrap_err().name, "TOCSIN_API_READ_TOKEN");
    }

    #[test]
    fn twilio_is_all_or_nothing() {
        assert!(settings(&[]).unwrap().twilio.is_none());
        let t = settings(&[
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_AUTH_TOKEN", "t"),
            ("TWILIO_FROM", "+15550100"),
        ])
        .unwrap()
        .twilio
        .unwrap();
        assert_eq!(t.api_url, "https://api.twilio.com");
        let e = settings(&[("TWILIO_ACCOUNT_SID", "AC1")]).unwrap_err();
        assert!(
            e.message.contains("TWILIO_AUTH_TOKEN and TWILIO_FROM"),
            "{e}"
        );
    }
}
