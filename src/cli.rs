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
            anyhow::ensure!(
                !crate::sandbox::is_requested(&config.graph_api_base_url),
                "GRAPH_API_BASE_URL=sandbox runs inside `delightchat serve` (with its workers), not in `delightchat worker`"
            );
            prepare_database(&config).await?;
            let state = AppState::new(config)?;
            crate::workers::run(state, shutdown_signal()).await
        }
    }
}

/// Creates the database when missing and applies pending migrations.
pub async fn prepare_database(config: &Config) -> anyhow::Result<()> {
    crate::db::create_database_if_missing(&config.database_url).await?;
    crate::db::run_migrations(&config.database_url).await
}

async fn serve(mut config: Config, with_workers: bool) -> anyhow::Result<()> {
    let addr = config.bind_addr;
    let sandbox = if crate::sandbox::is_requested(&config.graph_api_base_url) {
        anyhow::ensure!(
            with_workers,
            "GRAPH_API_BASE_URL=sandbox needs the workers: drop --no-workers"
        );
        let sandbox = crate::sandbox::Sandbox::bind().await?;
        config.graph_api_base_url = sandbox.url().to_owned();
        config.sandbox_url = Some(sandbox.url().to_owned());
        // The sandbox cannot know whose a token is: ownership is Meta's to prove.
        config.verify_channel_ownership = false;
        Some(sandbox)
    } else {
        None
    };
    if config.app_env == crate::config::AppEnv::Development && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "development mode (GraphiQL, introspection) is reachable beyond this machine; set APP_ENV=production for anything shared");
    }
    let redis = config.redis_url.is_some();
    let state = AppState::new(config)?;
    if redis {
        if state
            .bus()
            .wait_until_healthy(std::time::Duration::from_secs(3))
            .await
        {
            tracing::info!("connected to Redis: live events fan out across instances");
        } else {
            tracing::warn!(
                "Redis is unreachable; serving anyway (live events fall back to the outbox until it is back)"
            );
        }
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    if let Some(sandbox) = sandbox {
        sandbox.start(state.clone(), listener.local_addr()?);
    }
    tracing::info!(%addr, "listening on http://{addr} (GraphiQL at /graphql)");
    let signal_state = state.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        signal_state.begin_shutdown();
    });
    let workers = with_workers.then(|| {
        tokio::spawn(crate::workers::run(
            state.clone(),
            shutting_down(state.clone()),
        ))
    });
    let server = crate::http_server::serve(
        listener,
        crate::router(state.clone()),
        state.config().connections,
        shutting_down(state.clone()),
    );
    tokio::select! {
        () = server => {}
        () = async { shutting_down(state.clone()).await; tokio::time::sleep(DRAIN_TIMEOUT).await } => {
            tracing::warn!("requests still running after {DRAIN_TIMEOUT:?}; stopping anyway");
        }
    }
    if let Some(workers) = workers {
        workers.await??;
    }
    tracing::info!("server stopped");
    Ok(())
}

/// How long in-flight requests may run after SIGTERM.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Resolves once `state` has begun shutting down.
async fn shutting_down(state: AppState) {
    let mut signal = state.shutdown_signal();
    let _ = signal.wait_for(|down| *down).await;
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
