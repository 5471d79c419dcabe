//! The live-event bus: committed outbox events fanned out to subscribers of their org,
//! in this process and, through Redis pub/sub, in every other instance.
//!
//! Delivery here is best effort by design: a subscriber that misses events (Redis
//! restart, lag, a gap in seqs) catches up from the `events` outbox ([`stream`]). The
//! bus therefore tells streams when to resync: after a Redis reconnect or a relay lag
//! ([`Bus::resyncs`]), and whether Redis is healthy (streams poll the outbox while not).

pub mod access;
pub mod memory;
pub mod redis;
pub mod stream;

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use crate::config::Config;
use crate::db::events::{Event, Snapshot};
use crate::db::ids::OrgId;
use memory::MemoryBus;
use redis::RedisBus;

/// A committed event with its snapshot parsed once, shared by every subscriber.
#[derive(Debug)]
pub struct LiveEvent {
    /// The stored event.
    pub event: Event,
    /// Its rows.
    pub snapshot: Snapshot,
}

impl From<Event> for LiveEvent {
    fn from(event: Event) -> Self {
        let snapshot = event.snapshot();
        Self { event, snapshot }
    }
}

/// Publishes committed events and hands out per-org receivers.
pub struct Bus {
    local: Arc<MemoryBus>,
    redis: Option<RedisBus>,
    resync: Arc<watch::Sender<u64>>,
    access_checks: access::AccessChecks,
}

impl Bus {
    /// The bus for `config`: Redis-backed when `REDIS_URL` is set (call inside a Tokio
    /// runtime), in-process otherwise.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let local = Arc::new(MemoryBus::default());
        let resync = Arc::new(watch::channel(0).0);
        let redis = match &config.redis_url {
            Some(url) => Some(RedisBus::start(
                url,
                &config.redis_channel_prefix,
                local.clone(),
                resync.clone(),
            )?),
            None => None,
        };
        Ok(Self {
            local,
            redis,
            resync,
            access_checks: access::AccessChecks::new(config.live_access_check),
        })
    }

    /// Access re-checks (membership and session) shared by every stream of this process.
    pub fn access_checks(&self) -> &access::AccessChecks {
        &self.access_checks
    }

    /// Publishes a committed event: at once to this process's subscribers, and through
    /// Redis to other instances.
    pub fn publish(&self, event: Event) {
        if let Some(redis) = &self.redis {
            redis.publish(&event);
        }
        self.local.deliver(Arc::new(LiveEvent::from(event)));
    }

    /// Receives `org`'s events published from now on. With Redis, returns once the
    /// instance is subscribed to the org's channel (or Redis is found unavailable, in
    /// which case streams poll the outbox until it is back).
    pub async fn subscribe(&self, org: OrgId) -> broadcast::Receiver<Arc<LiveEvent>> {
        let (receiver, first) = self.local.subscribe(org);
        if let Some(redis) = &self.redis {
            redis.ensure_subscribed(org, first).await;
        }
        receiver
    }

    /// Waits (at most `timeout`) until live delivery works; `false` when it does not.
    pub async fn wait_until_healthy(&self, timeout: std::time::Duration) -> bool {
        match &self.redis {
            None => true,
            Some(redis) => matches!(
                tokio::time::timeout(timeout, redis.connected()).await,
                Ok(Ok(()))
            ),
        }
    }

    /// Whether live delivery is working (always, without Redis).
    pub fn healthy(&self) -> bool {
        self.redis.as_ref().is_none_or(RedisBus::healthy)
    }

    /// Ticks whenever events may have been lost and streams should resync.
    pub fn resyncs(&self) -> watch::Receiver<u64> {
        self.resync.subscribe()
    }

    /// Open local subscriptions (for `/metrics`).
    pub fn subscriber_count(&self) -> usize {
        self.local.receiver_count()
    }
}
