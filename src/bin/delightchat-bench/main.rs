//! `delightchat-bench`: seeds a realistic dataset, starts the server as a child process
//! (with a fake Graph API), and measures webhook ingest, live fan-out, the dashboard
//! queries and outbound replies, each next to a ceiling measured on the same machine in
//! the same run. Writes a Markdown report and a JSON file.
//!
//! A separate binary behind the `bench` cargo feature, so the server never links the load
//! generator: `cargo run --release --features bench --bin delightchat-bench -- --scale 0.1`.
//! It seeds through the library's public API and drives the server over HTTP and
//! WebSocket. The child server is this same executable re-run with the hidden `--serve` flag, which runs
//! exactly what `delightchat serve` runs; so the measured server is always built from the
//! same sources, with the same profile, as the benchmark.

mod ceilings;
mod fake_graph;
mod hostile;
mod ingest;
mod live;
mod media;
mod outbound;
mod queries;
mod report;
mod row_security;
mod seed;
mod server;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use delightchat::auth::jwt::JwtKeys;
use delightchat::cli::{Cli, Command};
use delightchat::crypto::SecretBox;
use delightchat::db;

/// Seed a dataset, run the server and measure it; writes a Markdown and JSON report.
#[derive(Debug, Clone, Parser)]
#[command(name = "delightchat-bench", version)]
struct BenchArgs {
    /// Dataset size relative to the default (100 orgs, 100,000 customers, 200,000
    /// tickets, 2,000,000 messages); e.g. 0.1 for a quick run.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Seconds each measured phase runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent clients of the HTTP phases.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Subscriber counts of the live phase (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,1000,10000")]
    pub subscribers: Vec<usize>,
    /// Replies per outbound round.
    #[arg(long, default_value_t = 10_000)]
    pub replies: u64,
    /// Use Redis (`REDIS_URL`) for the server's bus instead of the in-process one.
    #[arg(long)]
    pub redis: bool,
    /// Phases to run (ceilings, reads, ingest, live, outbound, rls, media, hostile); all
    /// by default.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ceilings,reads,ingest,live,outbound,rls,media,hostile"
    )]
    pub phases: Vec<String>,
    /// Image deliveries of the media phase (enough to keep the media worker busy through
    /// an ingest window).
    #[arg(long, default_value_t = 10_000)]
    pub images: u64,
    /// Reuse the dataset of the previous run instead of seeding a new one.
    #[arg(long)]
    pub reuse: bool,
    /// Where to write the Markdown report.
    #[arg(long, default_value = "bench-report.md")]
    pub report: String,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench-report.json")]
    pub json: String,
    /// Run as the server under test instead (what `delightchat serve` runs); the
    /// benchmark starts its child server this way.
    #[arg(long, hide = true)]
    pub serve: bool,
}

/// Fixed development secrets shared with the child server, so the benchmark can mint
/// tokens and seal channel secrets for it.
const JWT_SECRET: &str = "delightchat-bench-jwt-secret-0123456789";
const SECRET_KEY: &str = "64656c69676874636861742062656e63686d61726b206b657920313233343536";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    delightchat::observability::init_tracing();
    let args = BenchArgs::parse();
    if args.serve {
        let serve = Command::Serve { no_workers: false };
        return delightchat::cli::run(Cli { command: serve }).await;
    }
    run(args).await
}

/// Runs the benchmark.
async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let config = delightchat::config::Config::from_env()?;
    let (server_url, name) = db::split_database_url(&config.database_url)?;
    let bench_url = format!("{server_url}/{name}_bench");
    let duration = Duration::from_secs(args.seconds);
    let mut sizes = seed::Sizes::scaled(args.scale);

    let key: [u8; 32] = hex::decode(SECRET_KEY)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("bench key"))?;
    let secrets = SecretBox::new(&key);
    let jwt = JwtKeys::new(JWT_SECRET.as_bytes(), Duration::from_secs(24 * 3600));
    let seed_started = std::time::Instant::now();
    let orgs = if args.reuse {
        progress(&format!("reusing database {name}_bench"));
        db::run_migrations(&bench_url).await?;
        sizes = seed::measure(&bench_url).await?;
        Arc::new(seed::existing(&bench_url, &secrets, &jwt).await?)
    } else {
        progress(&format!("preparing database {name}_bench"));
        recreate_database(&server_url, &format!("{name}_bench")).await?;
        db::run_migrations(&bench_url).await?;
        progress(&format!(
            "seeding {} orgs, {} customers, {} tickets, {} messages",
            sizes.orgs,
            sizes.customers,
            sizes.tickets(),
            sizes.messages()
        ));
        Arc::new(seed::seed(&bench_url, sizes, &secrets, &jwt).await?)
    };
    let seed_seconds = seed_started.elapsed().as_secs_f64();

    let (graph_url, fake) = fake_graph::start().await?;
    // The media phase's copies, out of the way and fresh each run.
    let media_dir = std::env::temp_dir().join("delightchat-bench-media");
    let _ = std::fs::remove_dir_all(&media_dir);
    let mut env = vec![
        ("DATABASE_URL", bench_url.clone()),
        ("JWT_SECRET", JWT_SECRET.to_owned()),
        ("SECRET_KEY", SECRET_KEY.to_owned()),
        ("ACCESS_TOKEN_TTL_SECS", "86400".to_owned()),
        ("GRAPH_API_BASE_URL", graph_url.clone()),
        ("MEDIA_DIR", media_dir.display().to_string()),
    ];
    if args.redis {
        let redis = config
            .redis_url
            .clone()
            .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
        env.push(("REDIS_URL", redis));
    }
    progress("starting the server");
    let server = server::ServerProcess::start(&env).await?;

    let run = |phase: &str| args.phases.iter().any(|p| p == phase);
    let cpu_clock = || {
        [
            server.cpu_seconds(),
            server::postgres_cpu_seconds(),
            server::own_cpu_seconds(),
        ]
    };
    let ceilings = if run("ceilings") {
        progress("ceilings: single-row INSERTs, SELECT 1 on a pool, GET /healthz");
        Some(report::Ceilings {
            insert: ceilings::single_row_inserts(&bench_url, 1, duration).await?,
            concurrent_insert: ceilings::single_row_inserts(&bench_url, args.clients, duration)
                .await?,
            query: ceilings::trivial_queries(
                &bench_url,
                config.database_pool_size,
                args.clients,
                duration,
            )
            .await?,
            http: ceilings::trivial_http(&server.base_url, args.clients, duration).await,
        })
    } else {
        None
    };
    let reads = if run("reads") {
        progress("read queries: inbox page, conversation page, notification count");
        Some(
            queries::run(
                &server.base_url,
                &bench_url,
                orgs.clone(),
                args.clients,
                duration,
                &|| server.cpu_seconds() + server::postgres_cpu_seconds(),
            )
            .await?,
        )
    } else {
        None
    };
    let ingest = if run("ingest") {
        progress("webhook ingest: peak, then half of it");
        Some(
            ingest::run(
                &server.base_url,
                &bench_url,
                orgs.clone(),
                args.clients,
                duration,
                &cpu_clock,
            )
            .await?,
        )
    } else {
        None
    };
    let mut live_runs = Vec::new();
    if run("live") {
        for &subscribers in &args.subscribers {
            progress(&format!("live: {subscribers} subscribers"));
            let rate = if subscribers >= 5000 { 20.0 } else { 50.0 };
            live_runs.push(live::run(&server, &orgs, subscribers, rate, duration).await?);
        }
    }
    let mut outbound_runs = Vec::new();
    let mut outbound_drain = None;
    if run("outbound") {
        for (round, latency) in [(1, 50), (2, 0)] {
            progress(&format!(
                "outbound: {} replies, Graph API answering in {latency} ms",
                args.replies
            ));
            let measured = outbound::run(
                &cpu_clock,
                &server.base_url,
                &bench_url,
                &fake,
                orgs.clone(),
                args.clients,
                args.replies,
                latency,
                round,
            )
            .await?;
            outbound_runs.push(measured);
        }
        progress(&format!(
            "outbound worker alone: {} queued replies, Graph API answering in 50 ms",
            args.replies
        ));
        outbound_drain = Some(outbound::drain(&bench_url, &fake, args.replies, 50).await?);
    }
    let row_security = if run("rls") {
        progress("row-level security: read queries scoped and as the owner, 1 client");
        Some(row_security::run(&bench_url, &orgs[0], duration).await?)
    } else {
        None
    };
    let media = if run("media") {
        progress(&format!(
            "media: ingest alone, then beside the copies of {} images from a CDN answering in 50 ms",
            args.images
        ));
        Some(
            media::run(
                &server.base_url,
                &bench_url,
                &graph_url,
                &fake,
                orgs.clone(),
                args.clients,
                duration,
                args.images,
                50,
            )
            .await?,
        )
    } else {
        None
    };
    server.stop().await;
    let _ = std::fs::remove_dir_all(&media_dir);
    let hostile = if run("hostile") {
        progress("hostile client: a normal client alone, then under attack (production limits)");
        // A server of its own, with the limits a deployment has (the others lift the
        // per-address and per-user caps for their thousands of loopback sockets).
        let mut limited = env.clone();
        limited.push(("MAX_CONNECTIONS_PER_IP", "1000".to_owned()));
        limited.push(("MAX_SOCKETS_PER_USER", "50".to_owned()));
        let server = server::ServerProcess::start(&limited).await?;
        let measured = hostile::run(&server, &orgs[0], duration).await?;
        server.stop().await;
        Some(measured)
    } else {
        None
    };

    let results = report::Results {
        machine: report::Machine::describe(),
        sizes,
        seed_seconds,
        redis: args.redis,
        clients: args.clients,
        seconds: args.seconds,
        ceilings,
        reads,
        ingest,
        row_security,
        live: live_runs,
        outbound: outbound_runs,
        outbound_drain,
        media,
        hostile,
    };
    std::fs::write(&args.json, serde_json::to_string_pretty(&results)?)?;
    let markdown = report::markdown(&results);
    std::fs::write(&args.report, &markdown)?;
    println!("{markdown}");
    progress(&format!("wrote {} and {}", args.report, args.json));
    Ok(())
}

fn progress(step: &str) {
    eprintln!("[bench {}] {step}", chrono::Utc::now().format("%H:%M:%S"));
}

async fn recreate_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(&format!("{server_url}/postgres")).await?;
    let name = db::quote_ident(name);
    conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    conn.batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    Ok(())
}
