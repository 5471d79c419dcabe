//! A fake Meta Graph API for the benchmark: answers every send after a configurable
//! delay with a fresh message id, and counts how many requests were in flight at once.
//! It is the fake Instagram CDN too: `GET /ig_messaging_cdn/?..` answers [`CDN_IMAGE_BYTES`]
//! of JPEG after its own delay.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
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
    /// CDN answer delay, milliseconds.
    pub cdn_latency_ms: AtomicU64,
    cdn_in_flight: AtomicUsize,
    /// Most CDN downloads in flight at once.
    pub cdn_max_in_flight: AtomicUsize,
    /// CDN downloads answered.
    pub cdn_requests: AtomicU64,
}

/// Size of the fake CDN's images.
pub const CDN_IMAGE_BYTES: usize = 50 * 1024;

/// A `len`-byte JPEG as far as a sniffer can tell: start-of-image and JFIF header, a
/// comment segment of filler, end-of-image.
pub fn fake_jpeg(len: usize) -> Vec<u8> {
    let mut image =
        b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    image.resize(len.saturating_sub(2).max(image.len()), 0x20);
    image.extend_from_slice(b"\xFF\xD9");
    image
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
    let image = bytes::Bytes::from(fake_jpeg(CDN_IMAGE_BYTES));
    let app = Router::new()
        .route("/{version}/{node}/{edge}", post(send))
        .route(
            delightchat::sandbox::media::CDN_PATH,
            get(move |state| cdn(state, image.clone())),
        )
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

/// The fake CDN: the image after the CDN delay.
async fn cdn(
    State(state): State<Arc<FakeGraphState>>,
    image: bytes::Bytes,
) -> ([(axum::http::HeaderName, &'static str); 1], bytes::Bytes) {
    let now = state.cdn_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.cdn_max_in_flight.fetch_max(now, Ordering::SeqCst);
    let latency = state.cdn_latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    state.cdn_in_flight.fetch_sub(1, Ordering::SeqCst);
    state.cdn_requests.fetch_add(1, Ordering::Relaxed);
    ([(axum::http::header::CONTENT_TYPE, "image/jpeg")], image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fake_image_has_its_size_and_sniffs_as_jpeg() {
        let image = fake_jpeg(CDN_IMAGE_BYTES);
        assert_eq!(image.len(), CDN_IMAGE_BYTES);
        assert!(image.ends_with(b"\xFF\xD9"));
        assert_eq!(delightchat::media::sniff::sniff(&image), Some("image/jpeg"));
        assert!(fake_jpeg(4).len() > 4, "never shorter than its header");
    }
}
