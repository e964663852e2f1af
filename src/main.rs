//! The `tocsin` binary: parses flags, sets up logging, and hands over to the library.

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use tocsin::domain::schedule::Override;
use tocsin::ingest::mappings::Mappings;
use tocsin::ops::report;
use tocsin::{app::App, clock::Clock, config::Config, settings::Settings, slack::manifest};

#[derive(Parser)]
#[command(
    name = "tocsin",
    version,
    about = "Slack-first incident response and on-call"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bot (reads the environment and, if present, `.env`).
    Serve {
        /// Deliver Slack work to the sandbox page at /sandbox, not to Slack,
        /// even when Slack credentials are set.
        #[arg(long)]
        sandbox: bool,
    },
    /// Validate a config file; exits non-zero with file, line and field of each problem.
    Check {
        /// Defaults to TOCSIN_CONFIG, then ./tocsin.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print the Slack app manifest (JSON) generated from `commands/`.
    Manifest {
        /// For Socket Mode (`SLACK_APP_TOKEN`): no request URLs, no public address needed.
        #[arg(long)]
        socket_mode: bool,
    },
    /// A team's report (MTTA, MTTR, noise, interruptions, fairness) over a period.
    Report {
        #[arg(long)]
        team: String,
        /// A date (2026-11-01, midnight UTC) or an RFC 3339 instant.
        #[arg(long, value_parser = tocsin::domain::report::parse_day)]
        since: DateTime<Utc>,
        /// Default: now.
        #[arg(long, value_parser = tocsin::domain::report::parse_day)]
        until: Option<DateTime<Utc>>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Who is on call (now or `--at`), or the shifts between `--from` and `--to`.
    Oncall {
        /// One schedule; default: every schedule.
        #[arg(long)]
        schedule: Option<String>,
        /// An RFC 3339 instant, e.g. 2026-12-01T18:00:00Z; default: now.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        at: Option<DateTime<Utc>>,
        /// With --to: print the shifts in this window as a table.
        #[arg(long, requires = "to")]
        from: Option<DateTime<Utc>>,
        #[arg(long, requires = "from")]
        to: Option<DateTime<Utc>>,
    },
    /// What a config would have done with a recorded alert stream: the real
    /// pipeline on a throw-away store and a simulated clock; nothing is sent.
    Replay {
        /// One JSON object per line: {"received_at", "kind", "key", "body"}.
        stream: PathBuf,
        #[arg(long)]
        config: PathBuf,
        /// A second config, replayed on the same stream and shown beside the first.
        #[arg(long)]
        compare: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: ReplayFormat,
    },
    /// Brings the store (TOCSIN_STORE, else TOCSIN_DATA) to this build's
    /// schema, as `serve` does on start, and prints its version.
    Migrate,
    /// Turn a PagerDuty, Opsgenie or Grafana OnCall export into a
    /// tocsin.toml (on stdout; a summary on stderr).
    Import {
        #[arg(value_enum)]
        from: ImportFrom,
        /// One JSON object holding each list endpoint's array under the key
        /// the vendor's API uses (see the README).
        export: PathBuf,
    },
    /// Dead letters: work Slack or Twilio refused for good. Works beside a
    /// running server (through its API, with TOCSIN_API_TOKEN).
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// List the dead letters, oldest first.
    List,
    /// Queue dead letters again, at the end of their lanes.
    Retry {
        /// Dead letter ids, as `list` shows them.
        #[arg(required_unless_present = "all")]
        ids: Vec<u64>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReplayFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ImportFrom {
    Pagerduty,
    Opsgenie,
    GrafanaOncall,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sled=warn,hyper=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Serve { sandbox } => serve(Settings {
            force_sandbox: sandbox || settings.force_sandbox,
            ..settings
        }),
        Command::Check { config } => check(config.or(settings.config_file)),
        Command::Oncall {
            schedule,
            at,
            from,
            to,
        } => oncall(settings, schedule, at, from.zip(to)),
        Command::Report {
            team,
            since,
            until,
            format,
        } => report(
            settings,
            &team,
            since,
            until.unwrap_or_else(|| Clock::system().now()),
            format,
        ),
        Command::Outbox { command } => outbox(settings, command),
        Command::Replay {
            stream,
            config,
            compare,
            format,
        } => replay(&stream, &config, compare.as_deref(), format),
        Command::Migrate => migrate(settings),
        Command::Import { from, export } => import(from, &export),
        Command::Manifest { socket_mode } => {
            let m = manifest::manifest(&settings.public_url, socket_mode);
            println!(
                "{}",
                serde_json::to_string_pretty(&m).expect("a JSON value serialises")
            );
            ExitCode::SUCCESS
        }
    }
}

fn check(path: Option<PathBuf>) -> ExitCode {
    let path = path.unwrap_or_else(|| PathBuf::from("./tocsin.toml"));
    let loaded = Config::load(&path).map_err(|e| {
        let n = e.0.len();
        (e.to_string(), n)
    });
    let loaded = loaded.and_then(|c| {
        // Webhook mappings are part of the configuration: compile them too.
        match Mappings::load(&c, path.parent()) {
            Ok(_) => Ok(c),
            Err(problems) => Err((problems.join("\n"), problems.len())),
        }
    });
    match loaded {
        Ok(c) => {
            println!(
                "{}: ok ({} users, {} teams, {} schedules, {} escalation policies, {} services)",
                path.display(),
                c.users.len(),
                c.teams.len(),
                c.schedules.len(),
                c.escalation_policies.len(),
                c.services.len()
            );
            ExitCode::SUCCESS
        }
        Err((errors, n)) => {
            eprintln!("{errors}");
            eprintln!("{}: {n} problem(s)", path.display());
            ExitCode::FAILURE
        }
    }
}

fn import(from: ImportFrom, export: &std::path::Path) -> ExitCode {
    use tocsin::import::{run, Vendor};
    let vendor = match from {
        ImportFrom::Pagerduty => Vendor::PagerDuty,
        ImportFrom::Opsgenie => Vendor::Opsgenie,
        ImportFrom::GrafanaOncall => Vendor::GrafanaOnCall,
    };
    let text = match std::fs::read_to_string(export) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", export.display());
            return ExitCode::FAILURE;
        }
    };
    let mut new_key = || {
        let bytes: [u8; 16] = rand::random();
        hex::encode(bytes)
    };
    match run(vendor, &text, &mut new_key) {
        Ok(imported) => {
            print!("{}", imported.toml);
            for line in imported.summary {
                eprintln!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", export.display());
            ExitCode::FAILURE
        }
    }
}

/// The configured file (or an empty config without one); errors are printed.
fn load_config(settings: &Settings) -> Option<Config> {
    match &settings.config_file {
        Some(path) => Config::load(path).map_err(|e| eprintln!("{e}")).ok(),
        None => Some(Config::default()),
    }
}

/// A small runtime for the commands that read the store; errors are printed.
fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| eprintln!("error: cannot start the runtime: {e}"))
        .ok()
}

fn report(
    settings: Settings,
    team: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    format: Format,
) -> ExitCode {
    let Some(config) = load_config(&settings) else {
        return ExitCode::FAILURE;
    };
    if config.team(team).is_none() {
        let known: Vec<&str> = config.teams.iter().map(|t| t.id.as_str()).collect();
        eprintln!("error: no team `{team}`; teams: {}", known.join(", "));
        return ExitCode::FAILURE;
    }
    if since >= until {
        eprintln!("error: --since must be before --until");
        return ExitCode::FAILURE;
    }
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let built = rt.block_on(async {
        let store = tocsin::store::Store::open_at(&tocsin::app::store_location(&settings)).await
            .map_err(|e| format!("{e}; while `tocsin serve` runs on this data directory, use GET /api/v1/report instead"))?;
        report::build(&config, &store, team, since, until).await.map_err(|e| e.to_string())
    });
    match built {
        Ok(r) => {
            match format {
                Format::Table => print!("{}", report::table(&r)),
                Format::Csv => print!("{}", report::csv(&r)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&r).expect("a report serialises")
                ),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn oncall(
    settings: Settings,
    only: Option<String>,
    at: Option<DateTime<Utc>>,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> ExitCode {
    let Some(config) = load_config(&settings) else {
        return ExitCode::FAILURE;
    };
    let chosen: Vec<_> = config
        .schedules
        .iter()
        .filter(|s| only.as_deref().is_none_or(|id| s.id == id))
        .collect();
    if let Some(id) = &only {
        if chosen.is_empty() {
            eprintln!("error: no schedule `{id}` in the configuration");
            return ExitCode::FAILURE;
        }
    }
    if let Some((from, to)) = window {
        if from >= to {
            eprintln!("error: --from must be before --to");
            return ExitCode::FAILURE;
        }
    }
    // Overrides live in the store. A running server holds its lock: ask it
    // instead, and when that is not possible say so and answer from the
    // configuration alone rather than fail.
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let store = rt.block_on(async {
        tocsin::store::Store::open_at(&tocsin::app::store_location(&settings)).await
    });
    let mut overrides: HashMap<String, Vec<Override>> = HashMap::new();
    match &store {
        Ok(store) => {
            for s in &chosen {
                let list = rt.block_on(store.overrides(&s.id)).unwrap_or_default();
                overrides.insert(s.id.clone(), list.into_iter().map(|o| o.over).collect());
            }
        }
        Err(e) => {
            let ids: Vec<&str> = chosen.iter().map(|s| s.id.as_str()).collect();
            overrides = rt.block_on(ask_running_server(&settings, &ids, e));
        }
    }
    let overrides_of = |id: &str| overrides.get(id).cloned().unwrap_or_default();
    let name = |u: &str| {
        config
            .user(u)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| u.to_string())
    };
    for s in chosen {
        let o = overrides_of(&s.id);
        match window {
            Some((from, to)) => {
                println!("{} ({})", s.id, s.time_zone);
                print!(
                    "{}",
                    tocsin::domain::schedule::table(
                        s,
                        &tocsin::domain::schedule::shifts(s, &o, from, to),
                        name
                    )
                );
            }
            None => {
                let t = at.unwrap_or_else(|| Clock::system().now());
                let who = tocsin::domain::schedule::on_call_at(s, &o, t)
                    .map(name)
                    .unwrap_or_else(|| "(nobody)".into());
                println!("{}: {who}", s.id);
            }
        }
    }
    ExitCode::SUCCESS
}

/// The overrides of schedules `ids`, from the server that holds the data
/// directory (it could not be opened: `why`). Warns, once per reason, about
/// the schedules it cannot get, which then show no overrides.
async fn ask_running_server<'a>(
    settings: &Settings,
    ids: &[&'a str],
    why: &tocsin::store::StoreError,
) -> HashMap<String, Vec<Override>> {
    let mut got = HashMap::new();
    let mut failed: Vec<(String, Vec<&'a str>)> = vec![];
    let mut fail = |reason: String, id: &'a str| {
        if let Some((_, ids)) = failed.iter_mut().find(|(r, _)| *r == reason) {
            ids.push(id);
        } else {
            failed.push((reason, vec![id]));
        }
    };
    // One budget for all of them: a hung server must not cost 5 s each.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    for id in ids {
        match tokio::time::timeout_at(deadline, overrides_from_server(settings, id)).await {
            Ok(Ok(list)) => {
                got.insert(id.to_string(), list);
            }
            Ok(Err(reason)) => fail(reason, id),
            Err(_) => fail(format!("no answer from {} within 5 s", settings.listen), id),
        }
    }
    for (reason, ids) in failed {
        eprintln!(
            "warning: overrides not included for {}: the data directory could not be opened ({why}), \
             and the running server could not be asked: {reason}",
            ids.join(", ")
        );
    }
    got
}

/// Asks the server running on this data directory for a schedule's
/// overrides, through its read API on `TOCSIN_LISTEN`.
async fn overrides_from_server(
    settings: &Settings,
    schedule: &str,
) -> Result<Vec<Override>, String> {
    let query = serde_urlencoded::to_string([("schedule", schedule)]).map_err(|e| e.to_string())?;
    let json = ask_server(
        settings,
        hyper::Method::GET,
        &format!("/api/v1/overrides?{query}"),
    )
    .await?;
    serde_json::from_value(json["overrides"].clone()).map_err(|e| {
        format!(
            "{} answered with unreadable overrides: {e}",
            settings.listen
        )
    })
}

/// One call of the running server's API on `TOCSIN_LISTEN`, with the bearer
/// token; its JSON answer, or why there is none.
async fn ask_server(
    settings: &Settings,
    method: hyper::Method,
    path_and_query: &str,
) -> Result<serde_json::Value, String> {
    use http_body_util::{BodyExt, Empty};
    let token = settings
        .api_token
        .as_ref()
        .ok_or("set TOCSIN_API_TOKEN (as the server has it) to let the CLI ask")?;
    let mut addr = settings.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path_and_query}"))
        .header(
            hyper::header::AUTHORIZATION,
            format!("Bearer {}", token.expose()),
        )
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let resp = client
        .request(req)
        .await
        .map_err(|e| format!("no answer from {addr}: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{addr}: {e}"))?
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| format!("{addr} answered {status} with no JSON: {e}"))?;
    if !status.is_success() {
        let why = json["error"].as_str().unwrap_or("no reason given");
        return Err(format!("{addr} answered {status}: {why}"));
    }
    Ok(json)
}

/// One dead letter as the CLI shows it.
#[derive(serde::Deserialize)]
struct DeadLetter {
    id: u64,
    lane: String,
    enqueued_at: DateTime<Utc>,
    attempts: u32,
    work: serde_json::Value,
}

/// `tocsin outbox list|retry`: from the store when it can be opened, else
/// from the server that holds it.
fn outbox(settings: Settings, command: OutboxCommand) -> ExitCode {
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let r = rt.block_on(async {
        match tocsin::store::Store::open_at(&tocsin::app::store_location(&settings)).await {
            Ok(store) => outbox_local(&store, command).await,
            Err(why) => {
                let asked = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    outbox_remote(&settings, command),
                )
                .await
                .unwrap_or_else(|_| Err(format!("no answer from {} within 10 s", settings.listen)));
                asked.map_err(|e| format!("the data directory could not be opened ({why}), and the running server could not be asked: {e}"))
            }
        }
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn outbox_local(store: &tocsin::store::Store, command: OutboxCommand) -> Result<(), String> {
    let dead = store.dead_letters().await.map_err(|e| e.to_string())?;
    match command {
        OutboxCommand::List => {
            let list = dead
                .into_iter()
                .map(|(id, item)| DeadLetter {
                    id,
                    lane: item.lane,
                    enqueued_at: item.enqueued_at,
                    attempts: item.attempts,
                    work: serde_json::to_value(&item.op).unwrap_or_default(),
                })
                .collect::<Vec<_>>();
            print_dead(&list);
            Ok(())
        }
        OutboxCommand::Retry { ids, all } => {
            let ids = if all {
                dead.iter().map(|(id, _)| *id).collect()
            } else {
                ids
            };
            let mut missing = vec![];
            for id in ids {
                match store
                    .retry_dead(id, Clock::system().now())
                    .await
                    .map_err(|e| e.to_string())?
                {
                    Some(queued) => println!("{id}: queued again as {queued}"),
                    None => missing.push(id.to_string()),
                }
            }
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("no dead letter {}", missing.join(", ")))
            }
        }
    }
}

async fn outbox_remote(settings: &Settings, command: OutboxCommand) -> Result<(), String> {
    let listed = || async {
        let v = ask_server(settings, hyper::Method::GET, "/api/v1/outbox/dead").await?;
        serde_json::from_value::<Vec<DeadLetter>>(v["dead"].clone())
            .map_err(|e| format!("unreadable dead letters: {e}"))
    };
    match command {
        OutboxCommand::List => {
            print_dead(&listed().await?);
            Ok(())
        }
        OutboxCommand::Retry { ids, all } => {
            let ids = if all {
                listed().await?.iter().map(|d| d.id).collect()
            } else {
                ids
            };
            let mut failed = vec![];
            for id in ids {
                let path = format!("/api/v1/outbox/dead/{id}/retry");
                match ask_server(settings, hyper::Method::POST, &path).await {
                    Ok(v) => println!("{id}: queued again as {}", v["queued_as"]),
                    Err(e) => failed.push(format!("{id}: {e}")),
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(failed.join("; "))
            }
        }
    }
}

fn print_dead(list: &[DeadLetter]) {
    if list.is_empty() {
        println!("no dead letters");
        return;
    }
    println!(
        "{:>8}  {:<14}  {:<16}  {:>8}  queued",
        "id", "lane", "work", "attempts"
    );
    for d in list {
        let kind = d.work["op"].as_str().unwrap_or("?");
        println!(
            "{:>8}  {:<14}  {:<16}  {:>8}  {}",
            d.id,
            d.lane,
            kind,
            d.attempts,
            d.enqueued_at.to_rfc3339()
        );
    }
}

/// `tocsin replay`: exit 0 with the report, 2 when an input cannot be read.
fn replay(
    stream: &std::path::Path,
    config: &std::path::Path,
    compare: Option<&std::path::Path>,
    format: ReplayFormat,
) -> ExitCode {
    use tocsin::replay;
    let text = match std::fs::read_to_string(stream) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", stream.display());
            return ExitCode::from(2);
        }
    };
    let lines = match replay::read_stream(&stream.display().to_string(), &text) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut configs = vec![];
    for path in std::iter::once(config).chain(compare) {
        match replay::load_config(path) {
            Ok(c) => configs.push((path.display().to_string(), c)),
            Err(e) => {
                eprintln!("{e}\nerror: {} is not a valid config", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let mut runs = vec![];
    for (name, (config, mappings)) in configs {
        match rt.block_on(replay::run(&config, std::sync::Arc::new(mappings), &lines)) {
            Ok((summary, refused)) => {
                for r in refused.iter().take(20) {
                    eprintln!(
                        "warning: {name}: line {} (in received order) refused: {}",
                        r.line, r.why
                    );
                }
                if refused.len() > 20 {
                    eprintln!("warning: {name}: {} more lines refused", refused.len() - 20);
                }
                runs.push((name, summary));
            }
            Err(e) => {
                eprintln!("error: {name}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    match format {
        ReplayFormat::Table => {
            let cols: Vec<(&str, &tocsin::domain::replay::Summary)> =
                runs.iter().map(|(n, s)| (n.as_str(), s)).collect();
            print!("{}", replay::table(&cols));
        }
        ReplayFormat::Json => println!("{}", replay::json(&runs)),
    }
    ExitCode::SUCCESS
}

fn migrate(settings: Settings) -> ExitCode {
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let location = tocsin::app::store_location(&settings);
    let r = rt.block_on(async {
        let store = tocsin::store::Store::open_at(&location).await?;
        let version = store.schema_version().await?;
        store.durable().await?;
        Ok::<_, tocsin::store::StoreError>(version)
    });
    match r {
        Ok(version) => {
            println!("{}: schema version {version}", describe(&location));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", describe(&location));
            ExitCode::FAILURE
        }
    }
}

/// A store's place for people, without a password.
fn describe(at: &tocsin::store::Location) -> String {
    match at {
        tocsin::store::Location::Sled { dir, .. } => format!("sled:{}", dir.display()),
        tocsin::store::Location::Postgres { url } => match url::Url::parse(url) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                u.to_string()
            }
            Err(_) => "postgres://…".into(),
        },
    }
}

fn serve(settings: Settings) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let app = match App::build(settings, Clock::system()).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        shutdown_signal().await;
        match app.shutdown().await {
            Ok(()) => ExitCode::SUCCESS,
            // Logged by shutdown; the exit status tells the supervisor.
            Err(_) => ExitCode::FAILURE,
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
