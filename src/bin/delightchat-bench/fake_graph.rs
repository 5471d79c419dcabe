//! A fake Meta Graph API for the benchmark: answers every send after a configurable
//! delay with a fresh message id, and counts how many requests were in flight at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use serde_json::{Value, json};

/// Shared knobs and counters of the fake.
#[derive(Default)]
pub struct FakeGraphState {
    /// Answer delay, milliseconds.
    pub latency_ms: AtomicU64,
    in_flight: AtomicUsize,
    /// Most requests in flight at once.
    pub max_in_flight: AtomicUsize,
    /// Requests answered.
    pub requests: AtomicU64,
    /// Time spent answering, microseconds in all.
    pub busy_micros: AtomicU64,
}

impl FakeGraphState {
    /// `(requests answered, microseconds spent answering)` so far.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::SeqCst),
            self.busy_micros.load(Ordering::SeqCst),
        )
    }
}

/// Starts the fake on a loopback port; returns its base URL and state.
pub async fn start() -> anyhow::Result<(String, Arc<FakeGraphState>)> {
    let state = Arc::new(FakeGraphState::default());
    let app = Router::new()
        .route("/{version}/{node}/{edge}", post(send))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, state))
}

async fn send(
    State(state): State<Arc<FakeGraphState>>,
    Path((_, _, edge)): Path<(String, String, String)>,
) -> axum::Json<Value> {
    let started = std::time::Instant::now();
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let latency = state.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    state.requests.fetch_add(1, Ordering::Relaxed);
    state
        .busy_micros
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    let id = format!("mid.bench.{}", uuid::Uuid::new_v4().simple());
    axum::Json(if edge == "replies" {
        json!({"id": id})
    } else {
        json!({"recipient_id": "r", "message_id": id, "messages": [{"id": id}]})
    })
}
