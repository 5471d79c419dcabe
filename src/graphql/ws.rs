//! GraphQL over WebSocket on `/graphql`: the `graphql-transport-ws` protocol (and the
//! legacy `graphql-ws` one of subscriptions-transport-ws), with the protocol's close
//! codes, which async-graphql's stock handler does not all use.
//!
//! The protocol is implemented here rather than with `async-graphql-axum`'s
//! `GraphQLSubscription` (which is therefore not a dependency) because clients rely on
//! four things the stock handler cannot give:
//! - **resumable replay**: a client that falls behind is closed with 1013 instead of being
//!   buffered without bound or silently losing events, and resumes with no gap and no
//!   duplicate by passing the last `seq` it processed as the subscription's `after`;
//! - **the exact close codes** of the table below (4400, 4401, 4403, 4408, 4409, 4429,
//!   1013, 1001, 4504), chosen per situation;
//! - **a bounded queue per socket** (256 messages), so a client that stops reading slows
//!   nobody else;
//! - **token expiry closes the socket** (4403) the moment the access token given in
//!   `connection_init` expires.
//!
//! | situation | close code |
//! |---|---|
//! | garbage frame, unknown message, invalid payload | 4400 |
//! | `subscribe` before `connection_ack` | 4401 |
//! | `connection_init` with a missing or invalid token | 4403 |
//! | `connection_init` with an expired token, or the token expired while connected: refresh and reconnect | 4498 |
//! | no `connection_init` within 10 s | 4408 |
//! | `subscribe` with an id already in use | 4409 |
//! | second `connection_init`, or the user already holds `MAX_SOCKETS_PER_USER` sockets | 4429 |
//! | no `pong` for 30 s | 4504 |
//! | client too slow: its 256-message queue is full (resume with `after`) | 1013 |
//! | server shutting down | 1001 |
//!
//! At most 20 operations run per socket (more get an `error` message), frames and
//! messages are capped at 64 KiB (refused from the frame's header, before buffering), and every socket has its own bounded outgoing queue so a client
//! that stops reading slows nobody else.
//!
//! Messages are serialised straight from async-graphql's response values, which keep
//! the document's field order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::AbortHandle;

use super::context::RequestContext;
use super::errors::finish_response;
use super::http::{GraphqlState, ResponseBody};
use super::loaders::loaders;
use crate::auth::viewer::Viewer;
use crate::db::ids::UserId;
use crate::error::AppError;
use crate::open_limit::Claim;

/// Largest accepted frame.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Operations a socket may run at once.
pub const MAX_OPERATIONS: usize = 20;
/// Messages queued for a socket before it counts as too slow.
pub const QUEUE_CAPACITY: usize = 256;
/// Time allowed between connecting and `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code of an expired access token (4403 means a bad one): the client should
/// refresh its token and reconnect.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4498;
/// Interval of server pings (or `ka` on the legacy protocol).
pub const PING_INTERVAL: Duration = Duration::from_secs(15);
/// Silence after which a socket that does not answer pings is closed.
pub const PONG_TIMEOUT: Duration = Duration::from_secs(30);

/// The two subprotocols spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws` (the graphql-ws library).
    TransportWs,
    /// `graphql-ws` (legacy subscriptions-transport-ws).
    LegacyWs,
}

impl Protocol {
    fn subscribe(self) -> &'static str {
        if self == Protocol::TransportWs {
            "subscribe"
        } else {
            "start"
        }
    }
    fn next(self) -> &'static str {
        if self == Protocol::TransportWs {
            "next"
        } else {
            "data"
        }
    }
    fn stop(self) -> &'static str {
        if self == Protocol::TransportWs {
            "complete"
        } else {
            "stop"
        }
    }
}

/// Accepts the upgrade on `GET /graphql`.
pub fn upgrade(gql: GraphqlState, upgrade: WebSocketUpgrade) -> Response {
    // Small initial buffers: an idle subscription must cost little memory (tungstenite
    // defaults to 128 KiB each); they grow when a message needs it.
    let upgrade = upgrade
        .protocols(["graphql-transport-ws", "graphql-ws"])
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024);
    let protocol = match upgrade.selected_protocol().map(|p| p.as_bytes()) {
        Some(b"graphql-ws") => Protocol::LegacyWs,
        _ => Protocol::TransportWs,
    };
    upgrade.on_upgrade(move |socket| run(socket, protocol, gql))
}

struct Connection {
    protocol: Protocol,
    gql: GraphqlState,
    queue: mpsc::Sender<String>,
    overflow: Arc<Notify>,
    viewer: Option<Viewer>,
    /// This socket's place under the per-user cap, held from `connection_init`.
    _socket: Option<Claim<UserId>>,
    /// Counts this socket toward its user's presence while it is open.
    _presence: Option<crate::presence::SocketGuard>,
    operations: HashMap<String, AbortHandle>,
    finished: mpsc::UnboundedSender<String>,
}

/// Why the server closes a socket.
type Close = (u16, &'static str);

async fn run(socket: WebSocket, protocol: Protocol, gql: GraphqlState) {
    let (mut sink, mut incoming) = socket.split();
    let (queue, mut outgoing) = mpsc::channel::<String>(QUEUE_CAPACITY);
    let (close_tx, mut close_rx) = watch::channel::<Option<Close>>(None);
    // The writer owns the sink; a close request jumps the queue.
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                _ = close_rx.changed() => {
                    let close = *close_rx.borrow();
                    if let Some((code, reason)) = close {
                        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
                        let _ = sink.send(Message::Close(Some(frame))).await;
                    }
                    return;
                }
                message = outgoing.recv() => match message {
                    Some(text) => {
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                },
            }
        }
    });
    let (finished, mut finished_rx) = mpsc::unbounded_channel();
    let mut conn = Connection {
        protocol,
        gql: gql.clone(),
        queue,
        overflow: Arc::new(Notify::new()),
        viewer: None,
        _socket: None,
        _presence: None,
        operations: HashMap::new(),
        finished,
    };
    let mut shutdown = gql.app.shutdown_signal();
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(init_deadline);
    let far_future = tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let expiry = tokio::time::sleep_until(far_future);
    tokio::pin!(expiry);
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    let mut last_pong = tokio::time::Instant::now();
    let overflow = conn.overflow.clone();

    let close: Option<Close> = loop {
        tokio::select! {
            frame = incoming.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    match conn.handle(text.as_str(), &mut last_pong).await {
                        Ok(Some(expires_at)) => {
                            let wait = (expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
                            expiry.as_mut().reset(tokio::time::Instant::now() + wait);
                        }
                        Ok(None) => {}
                        Err(close) => break Some(close),
                    }
                }
                Some(Ok(Message::Binary(_))) => break Some((4400, "binary frames are not supported")),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => last_pong = tokio::time::Instant::now(),
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "websocket read failed");
                    break Some((1009, "message too big or malformed"));
                }
            },
            () = &mut init_deadline, if conn.viewer.is_none() => break Some((4408, "connection initialisation timeout")),
            () = &mut expiry => break Some(token_expired()),
            _ = ping.tick() => {
                if protocol == Protocol::TransportWs && last_pong.elapsed() > PONG_TIMEOUT {
                    break Some((4504, "keep-alive timeout"));
                }
                let keepalive = if protocol == Protocol::TransportWs { json!({"type": "ping"}) } else { json!({"type": "ka"}) };
                if conn.send(keepalive).is_err() {
                    break Some(too_slow());
                }
            }
            Some(id) = finished_rx.recv() => { conn.operations.remove(&id); }
            () = overflow.notified() => break Some(too_slow()),
            _ = shutdown.changed() => break Some((1001, "server shutting down")),
        }
    };
    for (_, operation) in conn.operations.drain() {
        operation.abort();
    }
    let _ = close_tx.send(close.or(Some((1000, "bye"))));
    let _ = writer.await;
}

fn token_expired() -> Close {
    (
        CLOSE_TOKEN_EXPIRED,
        "token expired: refresh it and reconnect",
    )
}

fn too_slow() -> Close {
    (1013, "client too slow; reconnect and resume with `after`")
}

impl Connection {
    /// Handles one client message; `Ok(Some(expiry))` after a successful init.
    async fn handle(
        &mut self,
        text: &str,
        last_pong: &mut tokio::time::Instant,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, Close> {
        super::nesting::check_json(text.as_bytes())
            .map_err(|_| (4400, "message nested too deeply"))?;
        let message: Value = serde_json::from_str(text).map_err(|_| (4400, "invalid JSON"))?;
        let kind = message
            .get("type")
            .and_then(Value::as_str)
            .ok_or((4400, "message without a type"))?;
        match kind {
            "connection_init" => {
                if self.viewer.is_some() {
                    return Err((4429, "too many initialisation requests"));
                }
                let token =
                    token_of(message.get("payload")).ok_or((4403, "forbidden: missing token"))?;
                let viewer =
                    Viewer::from_token(&token, self.gql.app.jwt()).map_err(|e| match e {
                        AppError::TokenExpired => token_expired(),
                        _ => (4403, "forbidden: invalid token"),
                    })?;
                let socket = self
                    .gql
                    .app
                    .sockets_per_user()
                    .claim(viewer.user_id)
                    .ok_or((4429, "too many sockets for this user"))?;
                self._socket = Some(socket);
                self.viewer = Some(viewer);
                self._presence = Some(self.gql.app.presence().connect(viewer.user_id));
                self.send(json!({"type": "connection_ack"}))
                    .map_err(|_| too_slow())?;
                Ok(Some(viewer.expires_at))
            }
            "ping" if self.protocol == Protocol::TransportWs => {
                self.send(json!({"type": "pong"})).map_err(|_| too_slow())?;
                Ok(None)
            }
            "pong" if self.protocol == Protocol::TransportWs => {
                *last_pong = tokio::time::Instant::now();
                Ok(None)
            }
            "connection_terminate" if self.protocol == Protocol::LegacyWs => {
                Err((1000, "terminated by client"))
            }
            k if k == self.protocol.subscribe() => {
                let Some(viewer) = self.viewer else {
                    return Err((4401, "unauthorized"));
                };
                let id = operation_id(&message)?;
                if self.operations.contains_key(&id) {
                    return Err((4409, "subscriber for this id already exists"));
                }
                let request: async_graphql::Request = message
                    .get("payload")
                    .cloned()
                    .and_then(|p| serde_json::from_value(p).ok())
                    .ok_or((4400, "invalid subscribe payload"))?;
                let refused = super::nesting::check_request(&request)
                    .map_err(|too_deep| too_deep.to_string())
                    .and_then(|()| {
                        super::upload::check_markers(&request).map_err(|forged| forged.message)
                    });
                if let Err(message) = refused {
                    let error =
                        json!([{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]);
                    self.send(json!({"type": "error", "id": id, "payload": error}))
                        .map_err(|_| too_slow())?;
                    return Ok(None);
                }
                if self.operations.len() >= MAX_OPERATIONS {
                    let error = json!([{"message": "too many operations on this connection", "extensions": {"code": "BAD_USER_INPUT"}}]);
                    self.send(json!({"type": "error", "id": id, "payload": error}))
                        .map_err(|_| too_slow())?;
                    return Ok(None);
                }
                self.start(id, viewer, request);
                Ok(None)
            }
            k if k == self.protocol.stop() => {
                let id = operation_id(&message)?;
                if let Some(operation) = self.operations.remove(&id) {
                    operation.abort();
                }
                Ok(None)
            }
            _ => Err((4400, "unknown message type")),
        }
    }

    fn start(&mut self, id: String, viewer: Viewer, request: async_graphql::Request) {
        let request_id = uuid::Uuid::new_v4().to_string();
        let context = RequestContext::new(
            Some(viewer),
            request_id.clone(),
            self.gql.app.pool().clone(),
        );
        let loaders = loaders(&context);
        let request = request.data(context).data(loaders);
        let mut responses = self.gql.schema.execute_stream(request);
        let queue = self.queue.clone();
        let overflow = self.overflow.clone();
        let finished = self.finished.clone();
        let protocol = self.protocol;
        let task_id = id.clone();
        let task = tokio::spawn(async move {
            let mut first = true;
            let mut failed = false;
            while let Some(mut response) = responses.next().await {
                finish_response(&mut response, &request_id);
                let message =
                    if first && response.data == async_graphql::Value::Null && response.is_err() {
                        failed = true;
                        outgoing("error", &task_id, &response.errors)
                    } else {
                        outgoing(
                            protocol.next(),
                            &task_id,
                            &ResponseBody::of(&response, false),
                        )
                    };
                first = false;
                if queue.try_send(message).is_err() {
                    overflow.notify_one();
                    return;
                }
                if failed {
                    break;
                }
            }
            if !failed {
                let done = json!({"type": "complete", "id": task_id});
                if queue.try_send(done.to_string()).is_err() {
                    overflow.notify_one();
                    return;
                }
            }
            let _ = finished.send(task_id);
        });
        self.operations.insert(id, task.abort_handle());
    }

    fn send(&self, message: Value) -> Result<(), ()> {
        self.queue.try_send(message.to_string()).map_err(|_| ())
    }
}

/// A server message carrying a payload, serialised without a detour through
/// `serde_json::Value` (whose maps are sorted).
fn outgoing(kind: &str, id: &str, payload: &impl serde::Serialize) -> String {
    #[derive(serde::Serialize)]
    struct Outgoing<'a, P> {
        #[serde(rename = "type")]
        kind: &'a str,
        id: &'a str,
        payload: &'a P,
    }
    serde_json::to_string(&Outgoing { kind, id, payload }).unwrap_or_default()
}

fn operation_id(message: &Value) -> Result<String, Close> {
    message
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .map(str::to_owned)
        .ok_or((4400, "message without a valid id"))
}

/// The access token of a `connection_init` payload: `authorization` (`Bearer ...`,
/// any case), `token`, or `headers.Authorization` (GraphiQL).
fn token_of(payload: Option<&Value>) -> Option<String> {
    let payload = payload?.as_object()?;
    let find = |map: &serde_json::Map<String, Value>| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.as_str())
            .map(|v| {
                v.trim()
                    .strip_prefix("Bearer ")
                    .or_else(|| v.trim().strip_prefix("bearer "))
                    .unwrap_or(v.trim())
                    .to_owned()
            })
    };
    find(payload)
        .or_else(|| {
            payload
                .get("token")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(|| {
            payload
                .get("headers")
                .and_then(Value::as_object)
                .and_then(find)
        })
}

#[cfg(test)]
mod tests {
    use super::token_of;
    use serde_json::json;

    #[test]
    fn tokens_are_found_where_clients_put_them() {
        for payload in [
            json!({"authorization": "Bearer abc"}),
            json!({"Authorization": "bearer abc"}),
            json!({"token": "abc"}),
            json!({"headers": {"Authorization": "Bearer abc"}}),
        ] {
            assert_eq!(
                token_of(Some(&payload)).as_deref(),
                Some("abc"),
                "{payload}"
            );
        }
        assert_eq!(token_of(Some(&json!({}))), None);
        assert_eq!(token_of(Some(&json!("x"))), None);
        assert_eq!(token_of(None), None);
    }
}
