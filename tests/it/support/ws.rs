//! A minimal GraphQL-over-WebSocket test client.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest wait for anything from the server before a test fails.
const WAIT: Duration = Duration::from_secs(20);

/// What the server sent.
#[derive(Debug)]
pub enum Received {
    /// A protocol message.
    Json(Value),
    /// The socket was closed with this code.
    Closed(u16, String),
}

/// A connected client.
pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Connects to `/graphql` with a subprotocol.
    pub async fn connect(addr: SocketAddr, protocol: &str) -> Self {
        let mut request = format!("ws://{addr}/graphql")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
        Self { socket }
    }

    /// Connects with `graphql-transport-ws` and completes the handshake.
    pub async fn authenticated(addr: SocketAddr, token: &str) -> Self {
        let mut client = Self::connect(addr, "graphql-transport-ws").await;
        client.send(json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}})).await;
        assert_eq!(client.json().await["type"], "connection_ack");
        client
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.to_owned().into()))
            .await
            .unwrap();
    }

    /// Starts an operation.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({"type": "subscribe", "id": id, "payload": {"query": query, "variables": variables}})).await;
    }

    /// The next message or close, answering pings.
    pub async fn receive(&mut self) -> Received {
        match self.receive_raw().await {
            Ok(text) => Received::Json(serde_json::from_str(&text).unwrap()),
            Err((code, reason)) => Received::Closed(code, reason),
        }
    }

    /// The next message as the server wrote it (fails on close).
    pub async fn text(&mut self) -> String {
        match self.receive_raw().await {
            Ok(text) => text,
            Err((code, reason)) => panic!("closed with {code} {reason}"),
        }
    }

    async fn receive_raw(&mut self) -> Result<String, (u16, String)> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("nothing from the server in time");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return Ok(text.to_string());
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new())));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err((1006, String::new())),
            }
        }
    }

    /// The next protocol message (fails on close).
    pub async fn json(&mut self) -> Value {
        match self.receive().await {
            Received::Json(value) => value,
            Received::Closed(code, reason) => panic!("closed with {code} {reason}"),
        }
    }

    /// The payload of the next `next` message of operation `id`.
    pub async fn next_payload(&mut self, id: &str) -> Value {
        loop {
            let message = self.json().await;
            if message["id"] == id && message["type"] == "next" {
                return message["payload"].clone();
            }
            assert_ne!(message["type"], "error", "operation failed: {message}");
        }
    }

    /// The close code the server ends the socket with.
    pub async fn close_code(&mut self) -> u16 {
        loop {
            if let Received::Closed(code, _) = self.receive().await {
                return code;
            }
        }
    }
}
