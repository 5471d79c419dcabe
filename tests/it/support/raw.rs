//! Raw TCP clients for attacks no well-behaved library would make: half-sent headers,
//! oversized WebSocket frames.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Guard against a hang: how long a test waits for the server to act.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Reads until the server closes the connection; the bytes read.
pub async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the server never closed the connection")
        .ok();
    received
}

/// Upgrades `stream` to a `graphql-transport-ws` WebSocket by hand; the response head.
pub async fn websocket_handshake(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .write_all(
            b"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    head
}

/// The start of a masked text frame that announces 1 MiB, with 1 KiB of it.
pub fn megabyte_frame_start() -> Vec<u8> {
    let mut frame = vec![0x81, 0xFF];
    frame.extend_from_slice(&(1u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend_from_slice(&[b'x'; 1024]);
    frame
}

/// A GraphQL request body whose argument is a list nested `depth` deep (built as text:
/// such a JSON value would itself recurse in the test).
pub fn deeply_nested_body(depth: usize) -> String {
    let query = format!(
        "{{ __typename(x: {}1{}) }}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    format!("{{\"query\": {}}}", serde_json::to_string(&query).unwrap())
}
