//! The `delightchat` command line: one subcommand per process role.

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::state::AppState;

/// Multi-tenant omnichannel support inbox (Instagram, Messenger, WhatsApp).
#[derive(Debug, Parser)]
#[command(name = "delightchat", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Process roles and developer tools.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (and, unless --no-workers, the background workers).
    Serve {
        /// Run only the HTTP server; start `delightchat worker` processes separately.
        #[arg(long)]
        no_workers: bool,
    },
    /// Run only the background workers.
    Worker,
    /// Create the database if needed, apply migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Post a realistic, signed Meta webhook delivery to a running server.
    Simulate(Box<crate::simulate::SimulateArgs>),
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Simulate(args) => crate::simulate::run(*args).await,
        Command::Migrate => {
            let config = Config::from_env()?;
            prepare_database(&config).await
        }
        Command::Serve { no_workers } => {
            let config = Config::from_env()?;
            prepare_database(&config).await?;
            serve(config, !no_workers).await
        }
        Command::Worker => {
            let config = Config::from_env()?;
            prepare_database(&config).await?;
            let state = AppState::new(config)?;
            crate::jobs::run_workers(state, shutdown_signal()).await
        }
    }
}

/// Creates the database when missing and applies pending migrations.
pub async fn prepare_database(config: &Config) -> anyhow::Result<()> {
    crate::db::create_database_if_missing(&config.database_url).await?;
    crate::db::run_migrations(&config.database_url).await
}

async fn serve(config: Config, with_workers: bool) -> anyhow::Result<()> {
    let addr = config.bind_addr;
    let state = AppState::new(config)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "listening on http://{addr} (GraphiQL at /graphql)");
    let workers = with_workers
        .then(|| tokio::spawn(crate::jobs::run_workers(state.clone(), shutdown_signal())));
    axum::serve(listener, crate::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    if let Some(workers) = workers {
        workers.await??;
    }
    tracing::info!("server stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
