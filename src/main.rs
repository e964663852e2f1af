//! The `tocsin` binary: parses flags, sets up logging, and hands over to the library.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
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
    Serve,
    /// Validate a config file; exits non-zero with file, line and field of each problem.
    Check {
        /// Defaults to TOCSIN_CONFIG, then ./tocsin.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print the Slack app manifest (JSON) generated from `commands/`.
    Manifest,
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
        Command::Serve => serve(settings),
        Command::Check { config } => check(config.or(settings.config_file)),
        Command::Manifest => {
            let m = manifest::manifest(&settings.public_url);
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
    match Config::load(&path) {
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
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{}: {} problem(s)", path.display(), errors.0.len());
            ExitCode::FAILURE
        }
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
        app.shutdown().await;
        ExitCode::SUCCESS
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
