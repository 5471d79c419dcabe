//! A local Meta sandbox: the whole reply loop with no Meta account.
//!
//! With `GRAPH_API_BASE_URL=sandbox`, `delightchat serve` starts an in-process fake of the
//! Graph API on a loopback port and points the outbound sender at it. The fake answers
//! sends in Meta's shapes ([`graph_api`]) and then plays Meta's part afterwards
//! ([`feedback`]): it POSTs the echo and the delivery and read receipts of each reply,
//! signed with the channel's app secret, to this server's own `/webhook/{channelId}`
//! route. A reply therefore goes QUEUED → SENT → DELIVERED → READ live in the inbox,
//! through exactly the code paths real Meta traffic takes.
//!
//! It serves media too ([`media`]): simulated WhatsApp and Instagram images are fetched
//! from it by the media job and end STORED.
//!
//! Adding a fake endpoint is adding a route in [`graph_api::routes`]. Production refuses
//! the sandbox ([`crate::config`]); `delightchat worker` processes cannot host it (they
//! have no webhook route of their own to deliver to).

pub mod feedback;
pub mod graph_api;
pub mod media;

use std::net::SocketAddr;

use crate::state::AppState;

/// The value of `GRAPH_API_BASE_URL` that selects the sandbox.
pub const SETTING: &str = "sandbox";

/// Whether `base_url` asks for the sandbox.
pub fn is_requested(base_url: &str) -> bool {
    base_url.eq_ignore_ascii_case(SETTING)
}

/// A bound, not yet serving, sandbox.
pub struct Sandbox {
    listener: tokio::net::TcpListener,
    url: String,
}

impl Sandbox {
    /// Binds the fake Graph API on a free loopback port.
    pub async fn bind() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        Ok(Self { listener, url })
    }

    /// The base URL to give the Graph API client.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serves the fake; its feedback goes to the server listening on `server`.
    pub fn start(self, state: AppState, server: SocketAddr) {
        let webhook_base = format!("http://{}", loopback(server));
        tracing::info!(graph_api = %self.url, "Meta sandbox: replies are answered locally and receipts come back through /webhook");
        let app = graph_api::routes(graph_api::SandboxState {
            app: state,
            webhook_base,
            http: reqwest::Client::new(),
            url: self.url.clone(),
        });
        tokio::spawn(async move {
            if let Err(e) = axum::serve(self.listener, app).await {
                tracing::error!(error = %e, "the Meta sandbox stopped");
            }
        });
    }
}

/// The address to reach a server bound to `addr` from this machine.
fn loopback(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_binds_are_reached_on_loopback() {
        assert_eq!(
            loopback("0.0.0.0:3001".parse().unwrap()).to_string(),
            "127.0.0.1:3001"
        );
        assert_eq!(
            loopback("[::]:3001".parse().unwrap()).to_string(),
            "[::1]:3001"
        );
        assert_eq!(
            loopback("10.0.0.5:80".parse().unwrap()).to_string(),
            "10.0.0.5:80"
        );
        assert!(is_requested("Sandbox") && !is_requested("https://graph.facebook.com"));
    }
}
