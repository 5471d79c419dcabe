//! The network edge under hostile clients: connections that never finish their headers,
//! one address holding many connections, `/metrics` exposure and security headers.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use serde_json::json;

use crate::support::TestApp;
use crate::support::raw::{PATIENCE, megabyte_frame_start, read_until_closed, websocket_handshake};
use crate::support::ws::{Received, WsClient};

/// Sends one complete request on `stream` and returns the status line.
async fn status_line(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let response = read_until_closed(stream).await;
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let app =
        TestApp::with_config(|c| c.connections.header_read_timeout = Duration::from_secs(1)).await;
    let addr = app.serve().await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    for stream in &mut slow {
        let answer = read_until_closed(stream).await;
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
            "a half-sent request got {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    assert_eq!(status_line(&mut fresh).await, "HTTP/1.1 200 OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    let app = TestApp::with_config(|c| c.connections.max_per_ip = 3).await;
    let addr = app.serve().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    // The fourth is accepted by the kernel and closed by the server without an answer.
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(read_until_closed(&mut extra).await.is_empty());
    // The held ones still work, and closing one frees a slot.
    let mut first = held.remove(0);
    first
        .write_all(b"Host: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut first).await;
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    drop(first);
    crate::support::process::eventually(PATIENCE, "a freed slot", || async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        status_line(&mut stream).await == "HTTP/1.1 200 OK"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_their_token_and_are_hidden_in_production_without_one() {
    let metrics = |token: Option<&str>| {
        let mut request = Request::get("/metrics");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        request.body(Body::empty()).unwrap()
    };
    let guarded =
        TestApp::with_config(|c| c.metrics_token = Some("scrape-me-0123456789".into())).await;
    let (status, _, _) = guarded.request(metrics(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = guarded.request(metrics(Some("scrape-me-012345678"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = guarded.request(metrics(Some("scrape-me-0123456789"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("delightchat_db_queries_total"));

    let production = TestApp::with_config(|c| {
        c.app_env = delightchat::config::AppEnv::Production;
        c.metrics_token = None;
    })
    .await;
    let (status, _, _) = production.request(metrics(None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_forbids_sniffing_and_referrers() {
    let app = TestApp::new().await;
    for path in ["/healthz", "/graphql", "/nowhere"] {
        let (_, headers, _) = app
            .request(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_frame_announcing_a_megabyte_is_refused_from_its_header() {
    let app = TestApp::new().await;
    let addr = app.serve().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = websocket_handshake(&mut stream).await;
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    // A frame that says 1 MiB follows, before `connection_init`; 1 KiB of it is sent.
    stream.write_all(&megabyte_frame_start()).await.unwrap();
    // The server must close now, not wait for (and buffer) the rest.
    let answer = read_until_closed(&mut stream).await;
    if answer.len() >= 4 {
        assert_eq!(answer[0], 0x88, "expected a close frame: {answer:?}");
        let code = u16::from_be_bytes([answer[2], answer[3]]);
        assert_eq!(code, 1009, "{answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_cannot_hold_more_than_its_share_of_sockets() {
    let app = TestApp::with_config(|c| c.max_sockets_per_user = 2).await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let other = app.signup("Globex", "gil@example.com").await;
    let addr = app.serve().await;
    let first = WsClient::authenticated(addr, &admin.token).await;
    let _second = WsClient::authenticated(addr, &admin.token).await;
    let mut third = WsClient::connect(addr, "graphql-transport-ws").await;
    third
        .send(json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {}", admin.token)}}))
        .await;
    assert_eq!(third.close_code().await, 4429);
    // Another user is not affected, and a closed socket frees its place.
    let _others = WsClient::authenticated(addr, &other.token).await;
    drop(first);
    let init = json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {}", admin.token)}});
    crate::support::process::eventually(PATIENCE, "a freed socket", || {
        let init = init.clone();
        async move {
            let mut socket = WsClient::connect(addr, "graphql-transport-ws").await;
            socket.send(init).await;
            matches!(socket.receive().await, Received::Json(m) if m["type"] == "connection_ack")
        }
    })
    .await;
}
