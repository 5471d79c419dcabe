//! The real `delightchat` binary as a child process, for tests that kill, restart or
//! multiply processes.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A running `delightchat` process.
pub struct Process {
    child: Child,
    /// Its HTTP address (for `serve`).
    pub addr: Option<SocketAddr>,
}

impl Process {
    /// Starts `delightchat serve [extra]` on `database_url` and waits until it is ready.
    pub async fn serve(database_url: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        let mut bind = env.to_vec();
        let bind_addr = addr.to_string();
        bind.push(("BIND_ADDR", &bind_addr));
        let process = Self::spawn(database_url, &args, &bind, Some(addr));
        process.wait_ready().await;
        process
    }

    /// Starts `delightchat worker` on `database_url`.
    pub fn worker(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn(database_url, &["worker"], env, None)
    }

    fn spawn(
        database_url: &str,
        args: &[&str],
        env: &[(&str, &str)],
        addr: Option<SocketAddr>,
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_delightchat"));
        command
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "error")
            .env("JWT_SECRET", super::test_app::TEST_JWT_SECRET)
            .env("SECRET_KEY", super::test_app::TEST_SECRET_KEY);
        for (k, v) in env {
            command.env(k, v);
        }
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        Self {
            child: command.spawn().unwrap(),
            addr,
        }
    }

    /// Base URL of a `serve` process.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr.unwrap())
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if client
                .get(format!("{}/readyz", self.url()))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("delightchat serve did not become ready");
    }

    /// SIGKILL: no shutdown, no cleanup, like a crash.
    pub async fn kill_9(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// Polls `condition` until it holds; fails the test after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
