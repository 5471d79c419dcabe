//! Durable storage of verified deliveries, with group commit.
//!
//! Each request hands its delivery to a committer task and waits for the commit; the
//! committers take everything queued at that moment and write it with one multi-row
//! INSERT, so concurrent deliveries share one transaction (and one fsync) instead of
//! paying one each. A few committers run side by side so one batch is written while the
//! next is gathered. Committed deliveries are also handed to this process's inbound
//! workers ([`crate::jobs::handoff`]), which then need not find them in the queue.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::db::Pool;
use crate::db::ids::ChannelId;
use crate::db::queue::NewJobs;
use crate::db::scope::Scope;
use crate::db::webhook_events::{self, ClaimedDelivery};
use crate::jobs::Wakeups;

/// Most deliveries written by one INSERT.
const MAX_BATCH: usize = 256;
/// Committer tasks per process.
const COMMITTERS: usize = 4;
/// Deliveries waiting for a committer before new requests wait for room.
const QUEUE_CAPACITY: usize = 4096;

/// A verified delivery to store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// The channel whose URL received it (`None` on the app-level route).
    pub channel_id: Option<ChannelId>,
    /// Fingerprint of the app secret that verified it (`None` on the app-level route).
    pub secret_fingerprint: Option<Vec<u8>>,
    /// The exact received body.
    pub body: Bytes,
}

/// The delivery could not be stored; the sender should retry (answer 503).
#[derive(Debug, Clone, thiserror::Error)]
#[error("storing the delivery failed: {0}")]
pub struct StoreError(String);

struct Pending {
    delivery: NewDelivery,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Hands deliveries to the committer tasks.
#[derive(Clone)]
pub struct DeliveryStore {
    queue: mpsc::Sender<Pending>,
}

impl DeliveryStore {
    /// Starts the committers (call inside a Tokio runtime). They stop when every
    /// `DeliveryStore` handle is dropped.
    pub fn start(pool: Pool, wakeups: Arc<Wakeups>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..COMMITTERS {
            tokio::spawn(commit_loop(pool.clone(), receiver.clone(), wakeups.clone()));
        }
        Self { queue }
    }

    /// Stores `delivery` durably; returns once it is committed.
    pub async fn store(&self, delivery: NewDelivery) -> Result<(), StoreError> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Pending { delivery, done })
            .await
            .map_err(|_| StoreError("store is shut down".into()))?;
        committed
            .await
            .map_err(|_| StoreError("committer stopped".into()))?
    }
}

async fn commit_loop(
    pool: Pool,
    receiver: Arc<Mutex<mpsc::Receiver<Pending>>>,
    wakeups: Arc<Wakeups>,
) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        let result = insert(&pool, &batch).await;
        match &result {
            Ok(ids) => {
                wakeups
                    .handoff
                    .offer(ids.iter().zip(&batch).map(|(&id, p)| ClaimedDelivery {
                        id,
                        channel_id: p.delivery.channel_id,
                        secret_fingerprint: p.delivery.secret_fingerprint.clone(),
                        body: p.delivery.body.to_vec(),
                        attempts: 0,
                    }));
                wakeups.announce(NewJobs::WEBHOOK_EVENTS);
            }
            Err(e) => {
                tracing::error!(error = %e.0, deliveries = batch.len(), "storing webhook deliveries failed");
            }
        }
        let result = result.map(drop);
        for pending in batch {
            let _ = pending.done.send(result.clone());
        }
    }
}

/// Writes the batch; the ids of its rows, in order (none are handed off unless every row
/// got one).
async fn insert(pool: &Pool, batch: &[Pending]) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<webhook_events::NewDelivery<'_>> = batch
        .iter()
        .map(|p| webhook_events::NewDelivery {
            channel_id: p.delivery.channel_id,
            secret_fingerprint: p.delivery.secret_fingerprint.as_deref(),
            body: &p.delivery.body,
        })
        .collect();
    let mut conn = pool
        .checkout(Scope::System)
        .await
        .map_err(|e| StoreError(e.to_string()))?;
    let mut ids = webhook_events::insert_many(&mut conn, &rows)
        .await
        .map_err(|e| StoreError(e.to_string()))?;
    if ids.len() != rows.len() {
        ids.clear();
    }
    Ok(ids)
}
