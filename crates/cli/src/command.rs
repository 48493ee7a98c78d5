//! The `tributary` command line: its arguments, the log set-up (`TRIBUTARY_LOG`,
//! `TRIBUTARY_LOG_FORMAT`), the runtime, and the dispatch to each command. In the library so
//! that the black-box tests run exactly this (`tests/src/bin/tributary-child.rs`).

use clap::{Parser, Subcommand};

use crate::{bench, demo, serve, tail};
use tributary_sim::egnyte::EgnyteSimArgs;
use tributary_sim::jive::JiveSimArgs;

#[derive(Debug, Parser)]
#[command(
    name = "tributary",
    version,
    about = "One ordered, resumable event stream from cloud-storage and collaboration APIs"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "TRIBUTARY_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulated Egnyte and Jive, the engine and the API: prints `api <url> key <key>`, then tails
    /// the unified stream.
    Demo(demo::DemoArgs),
    /// Run a simulator of an upstream API (prints its base URL as the first line of stdout).
    #[command(subcommand)]
    Sim(SimCommand),
    /// Read the unified stream from a running server's API.
    #[command(subcommand)]
    Events(tail::EventsCommand),
    /// Run the engine and the HTTP API as the configuration says (prints `api <url>` first).
    Serve(serve::ServeArgs),
    /// Measurements anyone can rerun (see docs/performance.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// The Egnyte Events API, with OAuth, rate limits and a control API under /_sim/egnyte/.
    Egnyte(EgnyteSimArgs),
    /// The Jive REST API v3 (contents, deletedObjects, Basic/OAuth), control API under /_sim/jive/.
    Jive(JiveSimArgs),
}

/// Parses the process's arguments, runs the command, and answers the exit status.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRIBUTARY_LOG")
        .unwrap_or_else(|_| "warn".into());
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match cli.log_format {
        LogFormat::Human => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result: Result<(), Box<dyn std::error::Error>> = runtime.block_on(async {
        match cli.command {
            Command::Demo(args) => demo::run(args).await.map_err(Into::into),
            Command::Bench(command) => bench::run(command).await.map_err(Into::into),
            Command::Serve(args) => serve::run(args).await.map_err(Into::into),
            Command::Events(tail::EventsCommand::Tail(args)) => {
                tail::run(args).await.map_err(Into::into)
            }
            Command::Sim(SimCommand::Egnyte(args)) => {
                tributary_sim::egnyte::run(args).await.map_err(Into::into)
            }
            Command::Sim(SimCommand::Jive(args)) => {
                tributary_sim::jive::run(args).await.map_err(Into::into)
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
