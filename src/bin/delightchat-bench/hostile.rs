//! A normal dashboard client next to a hostile one: the normal client's latency on a quiet
//! server and then while the hostile client runs, at once, the attacks of the hardening
//! review (deeply nested values, a sign-in flood, connections that never finish their
//! headers, megabyte WebSocket frames, more sockets than one user may hold), and the
//! server's peak memory meanwhile. The server runs with its production limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::SinkExt as _;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::seed::BenchOrg;
use crate::server::ServerProcess;
use crate::stats::{Measured, open_loop};

/// Requests per second of the normal client.
const NORMAL_RATE: f64 = 100.0;
/// Connections the hostile client keeps half-open at any time.
const SLOW_CONNECTIONS: usize = 500;
/// Concurrent sign-in loops of the flood, each at [`ATTACK_RATE`].
const FLOODERS: usize = 32;
/// Requests per second of each attack loop: a hostile client, not a volumetric flood
/// (that is the network's to absorb, and would only measure CPU shared with this
/// generator).
const ATTACK_RATE: u64 = 20;

/// The figures of the phase.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hostile {
    /// The normal client alone.
    pub quiet: Measured,
    /// The normal client while the hostile one runs.
    pub attacked: Measured,
    /// Server memory before the attack, KiB.
    pub rss_before_kib: u64,
    /// Highest server memory seen during the attack, KiB.
    pub rss_peak_kib: u64,
    /// Attack requests, connections and frames sent.
    pub attacks: u64,
}

/// Runs the normal client for `duration` alone, then again under attack.
pub async fn run(
    server: &ServerProcess,
    org: &BenchOrg,
    duration: Duration,
) -> anyhow::Result<Hostile> {
    let base = server.base_url.clone();
    let quiet = normal_client(&base, &org.token, duration).await;
    let rss_before_kib = server.rss_kib();
    let stop = Arc::new(AtomicBool::new(false));
    let attacks = Arc::new(AtomicU64::new(0));
    let mut hostile = tokio::task::JoinSet::new();
    for _ in 0..4 {
        hostile.spawn(nesting(base.clone(), stop.clone(), attacks.clone()));
    }
    for n in 0..FLOODERS {
        hostile.spawn(sign_in_flood(
            base.clone(),
            n,
            stop.clone(),
            attacks.clone(),
        ));
    }
    let port = server.port;
    hostile.spawn(slow_headers(port, stop.clone(), attacks.clone()));
    hostile.spawn(sockets(
        port,
        org.token.clone(),
        stop.clone(),
        attacks.clone(),
    ));
    let peak = Arc::new(AtomicU64::new(rss_before_kib));
    let attacked = {
        let sampler = async {
            while !stop.load(Ordering::SeqCst) {
                peak.fetch_max(server.rss_kib(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let measured = async {
            let measured = normal_client(&base, &org.token, duration).await;
            stop.store(true, Ordering::SeqCst);
            measured
        };
        tokio::join!(sampler, measured).1
    };
    hostile.abort_all();
    while hostile.join_next().await.is_some() {}
    Ok(Hostile {
        quiet,
        attacked,
        rss_before_kib,
        rss_peak_kib: peak.load(Ordering::SeqCst),
        attacks: attacks.load(Ordering::SeqCst),
    })
}

/// The ticker of one attack loop.
fn pace() -> tokio::time::Interval {
    tokio::time::interval(Duration::from_millis(1000 / ATTACK_RATE))
}

/// A dashboard reading its org at a fixed rate.
async fn normal_client(base: &str, token: &str, duration: Duration) -> Measured {
    let client = reqwest::Client::new();
    let url = format!("{base}/graphql");
    let token = token.to_owned();
    open_loop(NORMAL_RATE, duration, move |_| {
        let request = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"query": "{ me { id memberships { role } } }"}));
        async move {
            match request.send().await {
                Ok(r) if r.status().is_success() => r
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|v| v["data"]["me"]["id"].is_string()),
                _ => false,
            }
        }
    })
    .await
}

/// Values nested 1,750 deep, which once overflowed the stack.
async fn nesting(base: String, stop: Arc<AtomicBool>, attacks: Arc<AtomicU64>) {
    let client = reqwest::Client::new();
    let query = format!(
        "{{ __typename(x: {}1{}) }}",
        "[".repeat(1_750),
        "]".repeat(1_750)
    );
    let body = format!("{{\"query\": {}}}", serde_json::Value::String(query));
    let mut pace = pace();
    while !stop.load(Ordering::SeqCst) {
        pace.tick().await;
        let _ = client
            .post(format!("{base}/graphql"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        attacks.fetch_add(1, Ordering::Relaxed);
    }
}

/// Wrong passwords as fast as the server answers.
async fn sign_in_flood(base: String, n: usize, stop: Arc<AtomicBool>, attacks: Arc<AtomicU64>) {
    let client = reqwest::Client::new();
    let mut guess = 0u64;
    let mut pace = pace();
    while !stop.load(Ordering::SeqCst) {
        pace.tick().await;
        guess += 1;
        let body = json!({"query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
            "variables": {"e": format!("victim{}@example.com", n % 4), "p": format!("guess {n} {guess}")}});
        let _ = client
            .post(format!("{base}/graphql"))
            .json(&body)
            .send()
            .await;
        attacks.fetch_add(1, Ordering::Relaxed);
    }
}

/// Keeps [`SLOW_CONNECTIONS`] connections that never finish their headers.
async fn slow_headers(port: u16, stop: Arc<AtomicBool>, attacks: Arc<AtomicU64>) {
    let mut held = tokio::task::JoinSet::new();
    while !stop.load(Ordering::SeqCst) {
        while held.len() < SLOW_CONNECTIONS {
            held.spawn(async move {
                let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
                    return;
                };
                let _ = stream
                    .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .await;
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink).await;
            });
            attacks.fetch_add(1, Ordering::Relaxed);
        }
        held.join_next().await;
    }
}

/// Opens sockets for one user past the cap, and on every other socket announces a
/// megabyte frame before `connection_init` (sending only its first KiB).
async fn sockets(port: u16, token: String, stop: Arc<AtomicBool>, attacks: Arc<AtomicU64>) {
    let (mut raw, mut signed_in) = (Vec::new(), Vec::new());
    let mut pace = pace();
    while !stop.load(Ordering::SeqCst) {
        pace.tick().await;
        if let Ok(stream) = megabyte_frame(port).await {
            raw.push(stream);
        }
        if let Ok(socket) = past_the_cap(port, &token).await {
            signed_in.push(socket);
        }
        attacks.fetch_add(2, Ordering::Relaxed);
        if signed_in.len() >= 100 {
            raw.clear();
            signed_in.clear();
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A signed-in socket of the user (refused with 4429 past the cap).
async fn past_the_cap(port: u16, token: &str) -> anyhow::Result<Socket> {
    let mut request = format!("ws://127.0.0.1:{port}/graphql").into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init =
        json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}});
    socket.send(Message::Text(init.to_string().into())).await?;
    Ok(socket)
}

/// A hand-made upgrade, then the header of a 1 MiB masked frame and 1 KiB of it.
async fn megabyte_frame(port: u16) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(
            b"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n",
        )
        .await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await?);
    }
    let mut frame = vec![0x81, 0xFF];
    frame.extend_from_slice(&(1u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend_from_slice(&[b'x'; 1024]);
    stream.write_all(&frame).await?;
    Ok(stream)
}
