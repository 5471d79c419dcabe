//! Redis pub/sub behind the bus: one publisher and one subscriber connection per
//! process (never one per GraphQL subscription), per-org channels
//! `{prefix}:org:{orgId}` subscribed while this instance has subscribers of that org.
//!
//! Redis may go away at any time: the clients reconnect by themselves (100 ms doubling
//! to 5 s, forever), publishing is best effort (a bounded queue, then dropped), and
//! every reconnect or relay lag bumps the resync signal so streams catch up from the
//! outbox. Queries, mutations and webhooks never wait on Redis.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use fred::clients::{Client, SubscriberClient};
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::types::Builder;
use fred::types::config::{Config as RedisConfig, ReconnectPolicy};
use tokio::sync::{Mutex, broadcast, mpsc, watch};
use uuid::Uuid;

use super::LiveEvent;
use super::memory::MemoryBus;
use crate::db::events::Event;
use crate::db::ids::OrgId;

/// Events waiting to be published before new ones are dropped (subscribers resync).
const PUBLISH_QUEUE: usize = 10_000;
/// Longest wait for a Redis command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often channels of orgs without local subscribers are unsubscribed.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// What travels on a channel: the event and the instance that published it (which
/// already delivered it locally and skips its own echo).
#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    instance: Uuid,
    event: Event,
}

/// The Redis side of the bus.
pub struct RedisBus {
    publisher: Client,
    subscriber: SubscriberClient,
    prefix: String,
    instance: Uuid,
    outgoing: mpsc::Sender<(String, String)>,
    subscribed: Arc<Mutex<HashSet<OrgId>>>,
}

impl RedisBus {
    /// Connects (in the background) and starts the relay, publisher and sweeper tasks.
    pub fn start(
        url: &str,
        prefix: &str,
        local: Arc<MemoryBus>,
        resync: Arc<watch::Sender<u64>>,
    ) -> anyhow::Result<Self> {
        let mut config = RedisConfig::from_url(url)?;
        // Start even while Redis is down; the reconnect policy takes over.
        config.fail_fast = false;
        let mut builder = Builder::from_config(config);
        builder
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .with_performance_config(|p| {
                p.default_command_timeout = COMMAND_TIMEOUT;
                p.broadcast_channel_capacity = 16_384;
            })
            .with_connection_config(|c| {
                c.connection_timeout = COMMAND_TIMEOUT;
                c.max_command_attempts = 1;
            });
        let publisher = builder.build()?;
        let subscriber = builder.build_subscriber_client()?;
        publisher.connect();
        subscriber.connect();
        let instance = Uuid::new_v4();
        let subscribed = Arc::new(Mutex::new(HashSet::new()));
        let (outgoing, queue) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish_loop(publisher.clone(), queue));
        tokio::spawn(relay_loop(
            subscriber.message_rx(),
            local.clone(),
            instance,
            resync.clone(),
        ));
        tokio::spawn(reconnect_loop(
            subscriber.clone(),
            subscriber.reconnect_rx(),
            subscribed.clone(),
            prefix.to_owned(),
            resync,
        ));
        tokio::spawn(sweep_loop(
            subscriber.clone(),
            local,
            subscribed.clone(),
            prefix.to_owned(),
        ));
        Ok(Self {
            publisher,
            subscriber,
            prefix: prefix.to_owned(),
            instance,
            outgoing,
            subscribed,
        })
    }

    /// Queues `event` for publication on its org's channel (dropped when the queue is
    /// full: subscribers of other instances then resync from the outbox).
    pub fn publish(&self, event: &Event) {
        let envelope = Envelope {
            instance: self.instance,
            event: event.clone(),
        };
        let Ok(payload) = serde_json::to_string(&envelope) else {
            return;
        };
        if self
            .outgoing
            .try_send((channel(&self.prefix, event.org_id), payload))
            .is_err()
        {
            tracing::warn!(org.id = %event.org_id, seq = event.seq, "redis publish queue full; event left to the outbox");
        }
    }

    /// Makes sure this instance listens to `org`'s channel.
    pub async fn ensure_subscribed(&self, org: OrgId, first: bool) {
        let mut subscribed = self.subscribed.lock().await;
        if !first && subscribed.contains(&org) {
            return;
        }
        match tokio::time::timeout(
            COMMAND_TIMEOUT,
            self.subscriber.subscribe(channel(&self.prefix, org)),
        )
        .await
        {
            Ok(Ok(())) => {
                subscribed.insert(org);
            }
            Ok(Err(e)) => {
                tracing::warn!(org.id = %org, error = %e, "redis subscribe failed; relying on the outbox")
            }
            Err(_) => {
                tracing::warn!(org.id = %org, "redis subscribe timed out; relying on the outbox")
            }
        }
    }

    /// Waits until both connections are up.
    pub async fn connected(&self) -> Result<(), fred::error::Error> {
        self.publisher.wait_for_connect().await?;
        self.subscriber.wait_for_connect().await
    }

    /// Whether both connections are up.
    pub fn healthy(&self) -> bool {
        self.publisher.is_connected() && self.subscriber.is_connected()
    }
}

fn channel(prefix: &str, org: OrgId) -> String {
    format!("{prefix}:org:{org}")
}

async fn publish_loop(publisher: Client, mut queue: mpsc::Receiver<(String, String)>) {
    while let Some((channel, payload)) = queue.recv().await {
        if let Err(e) = publisher.publish::<(), _, _>(channel, payload).await {
            tracing::warn!(error = %e, "redis publish failed; subscribers will resync from the outbox");
        }
    }
}

async fn relay_loop(
    mut messages: broadcast::Receiver<fred::types::Message>,
    local: Arc<MemoryBus>,
    instance: Uuid,
    resync: Arc<watch::Sender<u64>>,
) {
    loop {
        match messages.recv().await {
            Ok(message) => {
                let Some(text) = message.value.as_str() else {
                    continue;
                };
                match serde_json::from_str::<Envelope>(&text) {
                    Ok(envelope) if envelope.instance == instance => {}
                    Ok(envelope) => local.deliver(Arc::new(LiveEvent::from(envelope.event))),
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable message on a live-event channel")
                    }
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "redis relay lagged; asking subscribers to resync");
                resync.send_modify(|n| *n += 1);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn reconnect_loop(
    subscriber: SubscriberClient,
    mut reconnects: broadcast::Receiver<fred::types::config::Server>,
    subscribed: Arc<Mutex<HashSet<OrgId>>>,
    prefix: String,
    resync: Arc<watch::Sender<u64>>,
) {
    loop {
        match reconnects.recv().await {
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
        let orgs: Vec<OrgId> = subscribed.lock().await.iter().copied().collect();
        for org in orgs {
            if let Err(e) = subscriber.subscribe(channel(&prefix, org)).await {
                tracing::warn!(org.id = %org, error = %e, "redis resubscribe failed");
            }
        }
        tracing::info!("redis reconnected; live subscribers resync from the outbox");
        resync.send_modify(|n| *n += 1);
    }
}

async fn sweep_loop(
    subscriber: SubscriberClient,
    local: Arc<MemoryBus>,
    subscribed: Arc<Mutex<HashSet<OrgId>>>,
    prefix: String,
) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        let mut subscribed = subscribed.lock().await;
        for org in local.sweep() {
            if subscribed.remove(&org) {
                let _ = subscriber.unsubscribe(channel(&prefix, org)).await;
            }
        }
    }
}
