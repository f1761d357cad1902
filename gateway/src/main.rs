//! The `smackql` binary.

use anyhow::Context;
use clap::{Parser, Subcommand};
use smackql::config::{Secret, ServeArgs};
use smackql::Application;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// A SQL gateway for Cassandra and Kafka.
#[derive(Debug, Parser)]
#[command(name = "smackql", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves SQL over the Postgres wire protocol.
    Serve(ServeArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SMACKQL_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,scylla=warn")),
        )
        .init();

    let Command::Serve(mut args) = Cli::parse().command;
    args.password = std::env::var("SMACKQL_PASSWORD").ok().map(Secret::new);
    let config = args.load().context("configuration")?;
    let app = Application::build(config).await.context("start-up")?;
    if args.demo {
        app.load_demo(&args.demo_keyspace, args.demo_rows)
            .await
            .context("loading the demo data")?;
    }

    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    app.run_until_stopped(shutdown).await;
    Ok(())
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    shutdown.cancel();
}
