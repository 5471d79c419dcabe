//! The HTTP accept loop: hyper with a header-read timeout, a cap on open connections per
//! process and per client address, and graceful shutdown.
//!
//! A client that opens connections and never finishes its request headers is cut after
//! [`ConnectionLimits::header_read_timeout`]; one address cannot hold more than
//! [`ConnectionLimits::max_per_ip`] connections (WebSockets included), and the process
//! stops accepting at [`ConnectionLimits::max_connections`] until one closes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower_service::Service as _;

use crate::open_limit::{Claim, OpenLimit};

/// Connection limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections per process; beyond it, new ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Open connections per client address; beyond it, new ones are closed at once.
    pub max_per_ip: usize,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip = OpenLimit::new(limits.max_per_ip);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(claim) = per_ip.claim(peer.ip()) else {
            tracing::debug!(client.ip = %peer.ip(), "too many connections from one address");
            continue;
        };
        let connection = Connection {
            builder: builder.clone(),
            router: router.clone(),
            stop: stop_rx.clone(),
            _slot: slot,
            _claim: claim,
        };
        tokio::spawn(connection.run(stream, peer));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a receiver; wait until the last one has finished.
    drop(stop_rx);
    stop_tx.closed().await;
}

/// One accepted connection and what it holds until it closes.
struct Connection {
    builder: Builder<TokioExecutor>,
    router: Router,
    stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
    _claim: Claim<IpAddr>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, peer: SocketAddr) {
        let router = self.router;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            async move { router.call(request.map(Body::new)).await }
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service);
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = self.stop.wait_for(|stop| *stop) => {}
        }
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    }
}
