//! Webhook-to-subscriber latency: real WebSocket subscribers (`messageAdded`) spread over
//! the orgs, webhooks posted at a fixed rate, each delivery timed from the POST to its
//! arrival on the subscriber's socket. Also the server's memory per idle subscription
//! and the event rate one instance fans out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use super::ingest::{delivery, post};
use super::seed::BenchOrg;
use super::server::ServerProcess;
use super::stats::{Measured, Samples, closed_loop, open_loop};

/// Live-update figures for one number of subscribers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Live {
    /// Open subscriptions.
    pub subscribers: usize,
    /// Orgs they are spread over.
    pub orgs: usize,
    /// Per-delivery latency, POST start to arrival on the socket.
    pub latency: Measured,
    /// Server memory per idle subscription, KiB.
    pub kib_per_subscription: f64,
    /// Deliveries to sockets per second at full speed.
    pub fanout_per_second: f64,
}

struct Shared {
    posted: Mutex<HashMap<String, Instant>>,
    samples: Mutex<Samples>,
    probes: AtomicU64,
    delivered: AtomicU64,
}

/// Runs the live scenario with `subscribers` sockets and webhooks at `rate` per second.
pub async fn run(
    server: &ServerProcess,
    orgs: &[BenchOrg],
    subscribers: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Live> {
    let orgs: Vec<BenchOrg> = orgs.iter().take(subscribers.max(1)).cloned().collect();
    let shared = Arc::new(Shared {
        posted: Mutex::default(),
        samples: Mutex::default(),
        probes: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
    });
    let rss_before = server.rss_kib();
    let mut clients = tokio::task::JoinSet::new();
    for chunk in (0..subscribers).collect::<Vec<_>>().chunks(200) {
        let mut opening = Vec::new();
        for &i in chunk {
            let org = orgs[i % orgs.len()].clone();
            opening.push(connect(server.port, org));
        }
        for socket in futures_util::future::join_all(opening).await {
            clients.spawn(read_loop(socket?, shared.clone()));
        }
    }
    // Probe: one message per org; when every subscriber saw its org's probe, all
    // subscriptions are live.
    let http = reqwest::Client::new();
    for (n, org) in orgs.iter().enumerate() {
        let (channel, body, signature) =
            delivery(std::slice::from_ref(org), n as u64, &format!("probe-{n}"));
        post(&http, &server.base_url, &channel, body, signature).await;
    }
    let started = Instant::now();
    while shared.probes.load(Ordering::SeqCst) < subscribers as u64 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "subscriptions did not all come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kib_per_subscription =
        server.rss_kib().saturating_sub(rss_before) as f64 / subscribers as f64;

    *shared.samples.lock().unwrap_or_else(|p| p.into_inner()) = Samples::default();
    let (h, base, o, s) = (
        http.clone(),
        server.base_url.clone(),
        Arc::new(orgs.clone()),
        shared.clone(),
    );
    let posted = open_loop(rate, duration, move |n| {
        let text = format!("lat-{n}");
        let (channel, body, signature) = delivery(&o, n, &text);
        s.posted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(text, Instant::now());
        let (h, base) = (h.clone(), base.clone());
        async move { post(&h, &base, &channel, body, signature).await }
    })
    .await;
    let expected = posted.ok * (subscribers / orgs.len()) as u64;
    wait_for(&shared, expected, Duration::from_secs(60)).await;
    let latency = std::mem::take(&mut *shared.samples.lock().unwrap_or_else(|p| p.into_inner()))
        .summary(Duration::from_secs_f64(posted.seconds));

    shared.delivered.store(0, Ordering::SeqCst);
    let fan_started = Instant::now();
    let (h, base, o) = (
        http.clone(),
        server.base_url.clone(),
        Arc::new(orgs.clone()),
    );
    let burst: Measured = closed_loop(16, Duration::from_secs(5), move |n| {
        let (channel, body, signature) = delivery(&o, n, &format!("fan-{n}"));
        let (h, base) = (h.clone(), base.clone());
        async move { post(&h, &base, &channel, body, signature).await }
    })
    .await;
    let expected = burst.ok * (subscribers / orgs.len()) as u64;
    wait_for(&shared, expected, Duration::from_secs(120)).await;
    let fanout_per_second =
        shared.delivered.load(Ordering::SeqCst) as f64 / fan_started.elapsed().as_secs_f64();
    clients.abort_all();
    Ok(Live {
        subscribers,
        orgs: orgs.len(),
        latency,
        kib_per_subscription,
        fanout_per_second,
    })
}

async fn wait_for(shared: &Shared, deliveries: u64, limit: Duration) {
    let started = Instant::now();
    while shared.delivered.load(Ordering::SeqCst) < deliveries && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(port: u16, org: BenchOrg) -> anyhow::Result<Socket> {
    let mut request = format!("ws://127.0.0.1:{port}/graphql").into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {}", org.token)}});
    socket.send(Message::Text(init.to_string().into())).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.contains("connection_ack") => break,
            Some(Ok(_)) => continue,
            _ => anyhow::bail!("no connection_ack"),
        }
    }
    let subscribe = json!({"type": "subscribe", "id": "1", "payload": {
        "query": "subscription($o: ID!) { messageAdded(orgId: $o) { text } }", "variables": {"o": org.id.to_string()}}});
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await?;
    Ok(socket)
}

async fn read_loop(mut socket: Socket, shared: Arc<Shared>) {
    while let Some(Ok(frame)) = socket.next().await {
        let Message::Text(text) = frame else { continue };
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match message["type"].as_str() {
            Some("next") => {
                let arrived = Instant::now();
                let Some(body) = message["payload"]["data"]["messageAdded"]["text"].as_str() else {
                    continue;
                };
                shared.delivered.fetch_add(1, Ordering::SeqCst);
                if body.starts_with("probe-") {
                    shared.probes.fetch_add(1, Ordering::SeqCst);
                } else if let Some(posted) = shared
                    .posted
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(body)
                {
                    shared
                        .samples
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .record(arrived - *posted, true);
                }
            }
            Some("ping") => {
                let _ = socket
                    .send(Message::Text(json!({"type": "pong"}).to_string().into()))
                    .await;
            }
            _ => {}
        }
    }
}
