//! A real S3-compatible server for storage tests: the `moto` server from PyPI
//! (`pip install 'moto[server]'`, which `.ci/run` does when it is missing), started on a
//! free loopback port and stopped with the test.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A running `moto_server`.
pub struct Moto {
    _child: Child,
    endpoint: String,
}

impl Moto {
    /// Starts one; `None` when `moto_server` is not installed.
    pub async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if client.get(&endpoint).send().await.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(Self {
            _child: child,
            endpoint,
        })
    }

    /// Creates `bucket`; the `MEDIA_STORE_URL` that reaches it.
    pub async fn bucket_url(&self, bucket: &str) -> String {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        format!(
            "s3://{bucket}?endpoint={}&allow_http=true&region=us-east-1&access_key_id=test&secret_access_key=test",
            self.endpoint
        )
    }

    /// Objects in `bucket`.
    pub async fn object_count(&self, bucket: &str) -> usize {
        let listing = reqwest::Client::new()
            .get(format!("{}/{bucket}?list-type=2", self.endpoint))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        listing.matches("<Key>").count()
    }
}
