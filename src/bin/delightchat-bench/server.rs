//! The server under test, run as a child process so that its memory and CPU can be read
//! apart from the load generator's: this executable re-run with `--serve`, which runs
//! what `delightchat serve` runs.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::process::{Child, Command};

/// A running server under test.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Its port.
    pub port: u16,
}

impl ServerProcess {
    /// Starts the server with `env` and waits until `/readyz` answers.
    pub async fn start(env: &[(&str, String)]) -> anyhow::Result<Self> {
        let port = free_port()?;
        let exe = std::env::current_exe()?;
        let mut command = Command::new(exe);
        command
            .arg("--serve")
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            // Every load generator connects from 127.0.0.1, thousands of sockets at once.
            .env("MAX_CONNECTIONS_PER_IP", "100000")
            .env("MAX_SOCKETS_PER_USER", "100000");
        for (key, value) in env {
            command.env(key, value);
        }
        command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = command.spawn().context("starting the server under test")?;
        let server = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            port,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(response) = client.get(format!("{}/readyz", self.base_url)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the server did not become ready")
    }

    /// Resident memory of the server, KiB.
    pub fn rss_kib(&self) -> u64 {
        let Some(pid) = self.child.id() else { return 0 };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// CPU time (user + system) the server used so far, seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let Some(pid) = self.child.id() else {
            return 0.0;
        };
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(0.0, |stat| cpu_seconds_in(&stat))
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// CPU seconds used so far by the server, PostgreSQL and this process.
pub type CpuClock<'a> = &'a dyn Fn() -> [f64; 3];

/// CPU milliseconds per unit of work (a delivery, a reply), by process, over a measured
/// span; `available_ms` is what the machine's cores offered in that time.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CpuPerUnit {
    /// The server: HTTP, GraphQL or webhooks, and its in-process workers.
    pub server_ms: f64,
    /// Every PostgreSQL process.
    pub postgres_ms: f64,
    /// The bench itself: the load generator's clients (and the fake Graph API).
    pub load_generator_ms: f64,
    /// Cores times wall-clock time, per unit.
    pub available_ms: f64,
}

impl CpuPerUnit {
    /// The CPU the [`CpuClock`] readings `before` and `after` show, over `elapsed_seconds`
    /// of wall-clock time, shared out over `units`.
    pub fn between(before: [f64; 3], after: [f64; 3], elapsed_seconds: f64, units: f64) -> Self {
        let per_unit = |i: usize| (after[i] - before[i]) * 1000.0 / units;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        CpuPerUnit {
            server_ms: per_unit(0),
            postgres_ms: per_unit(1),
            load_generator_ms: per_unit(2),
            available_ms: cores as f64 * elapsed_seconds * 1000.0 / units,
        }
    }
}

/// CPU time (user + system) every PostgreSQL process on this machine used so far,
/// seconds (the bench's database is the machine's only busy one while it runs).
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .map(|stat| cpu_seconds_in(&stat))
        .sum()
}

/// CPU time (user + system) this process (the load generator) used so far, seconds.
pub fn own_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat").map_or(0.0, |stat| cpu_seconds_in(&stat))
}

/// User plus system CPU seconds of a process, from its `/proc/<pid>/stat` line.
fn cpu_seconds_in(stat: &str) -> f64 {
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A free loopback port (released right away for the child to bind).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
