//! The inbound worker's unit of work: claim stored deliveries, parse them, route each
//! entry to its channel, and apply the whole claimed batch in one transaction that also
//! marks the deliveries processed (the inbox applies customers' messages as a set, so a
//! batch costs a few statements whatever its size). Deliveries this process stored come
//! straight from its store ([`crate::jobs::handoff`]) and are taken inside that
//! transaction; the queue is scanned for the rest.
//!
//! Failures are isolated, never spread: a failing batch is bisected until the failure is
//! one delivery; a failing delivery with several entries is applied entry by entry (a
//! savepoint each), the good entries commit and each failing entry is split off into a
//! delivery of its own; only what fails alone is retried with backoff and finally parked
//! with its error. A poison delivery never blocks the deliveries behind it.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use diesel::QueryResult;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use futures_util::FutureExt as _;

use super::meta::{self, Delivery};
use crate::db::channels::{self, Channel};
use crate::db::enums::ChannelStatus;
use crate::db::webhook_events::{self, ClaimedDelivery};
use crate::inbox::ingest::{self, Routed};
use crate::inbox::outbox::Outbox;
use crate::jobs::WorkerConfig;
use crate::jobs::backoff::Backoff;
use crate::state::AppState;

/// How long a claim lasts; a worker that dies lets its deliveries go after this.
pub const LEASE: Duration = Duration::from_secs(60);
/// Most body bytes one claim from the queue takes (beyond its first delivery, which is
/// taken whatever its size): with four inbound loops, at most 64 MiB of claimed bodies
/// in memory, as much as the handoff keeps, where 250 deliveries of up to 5 MiB each
/// would be 1.2 GiB a claim. Meta's deliveries are a few KiB, so the bound only matters
/// to a backlog of unusually large bodies.
pub const CLAIM_BYTES: i64 = 16 * 1024 * 1024;
/// Attempts before a delivery is parked.
pub const MAX_ATTEMPTS: i32 = 10;

/// Processes one batch as `worker`: deliveries this process handed off, or deliveries
/// claimed from the queue when a scan is due (see [`crate::jobs::handoff`]); returns how
/// many it handled.
pub async fn run_once(state: &AppState, worker: &WorkerConfig) -> anyhow::Result<usize> {
    let handoff = &state.wakeups().handoff;
    if !handoff.scan_overdue() {
        let handed_off = handoff.take(usize::try_from(worker.inbound_batch).unwrap_or(1));
        if !handed_off.is_empty() {
            return apply_handed_off(state, worker, handed_off).await;
        }
    }
    if !handoff.scan_wait().is_zero() {
        return Ok(0);
    }
    let claimed = {
        let mut conn = state.system_conn().await?;
        webhook_events::claim(&mut conn, worker.inbound_batch, CLAIM_BYTES, LEASE).await?
    };
    handoff.scanned(claimed.len());
    let count = claimed.len();
    let mut parsed = Vec::with_capacity(count);
    for delivery in claimed {
        match meta::parse(&delivery.body) {
            Ok(parsed_body) => parsed.push((delivery, parsed_body)),
            Err(e) => {
                // Retrying cannot fix a body that is not a Meta delivery: park it at once.
                let mut conn = state.system_conn().await?;
                webhook_events::park(&mut conn, delivery.id, &e.to_string(), &worker.id).await?;
                state.metrics().webhook_parked();
                tracing::warn!(webhook.id = delivery.id, error = %e, "unparseable webhook delivery parked");
            }
        }
    }
    // Bisect failures: each part is tried whole, a failing part is halved.
    let mut parts = vec![parsed.as_slice()];
    while let Some(part) = parts.pop() {
        if part.is_empty() {
            continue;
        }
        match guarded(apply_group(state, worker, part, Claim::Leased)).await {
            Ok(_) => part
                .iter()
                .for_each(|_| state.metrics().webhook_processed()),
            Err(failure) if part.len() == 1 => {
                isolate_entries(state, worker, &part[0].0, &failure).await?;
            }
            Err(_) => {
                let (first, second) = part.split_at(part.len() / 2);
                parts.push(second);
                parts.push(first);
            }
        }
    }
    Ok(count)
}

/// Applies deliveries handed off by this process's store in one transaction, taking those
/// still unclaimed. Anything that goes wrong (a body that does not parse, a failing
/// group) leaves the lot to the queue, whose claims isolate failures and count attempts.
async fn apply_handed_off(
    state: &AppState,
    worker: &WorkerConfig,
    handed_off: Vec<ClaimedDelivery>,
) -> anyhow::Result<usize> {
    let count = handed_off.len();
    let parsed: Option<Vec<(ClaimedDelivery, Delivery)>> = handed_off
        .into_iter()
        .map(|d| meta::parse(&d.body).ok().map(|parsed| (d, parsed)))
        .collect();
    let applied = match parsed {
        Some(group) => guarded(apply_group(state, worker, &group, Claim::HandedOff)).await,
        None => Err("a delivery does not parse".into()),
    };
    match applied {
        Ok(taken) => (0..taken).for_each(|_| state.metrics().webhook_processed()),
        Err(failure) => {
            tracing::debug!(deliveries = count, error = %failure, "handed-off deliveries left to the queue");
            state.wakeups().handoff.scan_now();
        }
    }
    Ok(count)
}

/// Runs `work`, turning an error or a panic into a message.
async fn guarded<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> Result<T, String> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(panic) => Err(format!("panic: {}", panic_message(&panic))),
    }
}

/// A single delivery failed: applies its entries one by one in one transaction (a
/// savepoint each); the good ones commit with the delivery marked processed, and each
/// failing entry becomes a delivery of its own, retried on its own. A delivery whose only
/// entry fails, or whose entries all fail, is retried or parked whole.
async fn isolate_entries(
    state: &AppState,
    worker: &WorkerConfig,
    delivery: &ClaimedDelivery,
    failure: &str,
) -> anyhow::Result<()> {
    let parts = split_entries(&delivery.body);
    if parts.len() < 2 {
        return record_failure(state, worker, delivery, failure).await;
    }
    let mut conn = state.system_conn().await?;
    let delay = Backoff::INBOUND.delay(u32::try_from(delivery.attempts).unwrap_or(1));
    let committed = conn
        .transaction(async |conn| {
            let mut outbox = Outbox::default();
            let mut failed = Vec::new();
            for part in &parts {
                let Ok(parsed) = meta::parse(part) else {
                    failed.push(part.clone());
                    continue;
                };
                let channels = route_candidates(conn, std::iter::once(&parsed)).await?;
                let routed = route(&parsed, &channels, delivery);
                let mut entry_outbox = Outbox::default();
                let applied = conn
                    .transaction(async |conn| ingest::apply(conn, &routed, &mut entry_outbox).await)
                    .await;
                match applied {
                    Ok(()) => outbox.absorb(entry_outbox),
                    Err(e) => {
                        tracing::warn!(webhook.id = delivery.id, error = %e, "one entry of a delivery failed; split off");
                        failed.push(part.clone());
                    }
                }
            }
            if failed.len() == parts.len() {
                return Err(ApplyError::AllEntriesFailed);
            }
            webhook_events::split_off(conn, delivery, &failed, delay, failure).await?;
            let marked = webhook_events::mark_processed(conn, &[delivery.id], &worker.id).await?;
            if marked != 1 {
                return Err(ApplyError::FinishedElsewhere);
            }
            Ok(outbox.commit(conn, ()).await?)
        })
        .await;
    match committed {
        Ok(committed) => {
            state.publish(committed);
            state.metrics().webhook_processed();
            state.wakeups().inbound.notify_waiters();
            Ok(())
        }
        Err(ApplyError::FinishedElsewhere) => Ok(()),
        Err(_) => record_failure(state, worker, delivery, failure).await,
    }
}

/// The delivery's entries as deliveries of their own (same `object`), one per `entry[]`
/// element; empty when the body is not an envelope.
fn split_entries(body: &[u8]) -> Vec<Vec<u8>> {
    let Ok(serde_json::Value::Object(envelope)) = serde_json::from_slice(body) else {
        return Vec::new();
    };
    let object = envelope.get("object").cloned().unwrap_or_default();
    envelope
        .get("entry")
        .and_then(serde_json::Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|entry| {
                    serde_json::to_vec(&serde_json::json!({"object": object, "entry": [entry]}))
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn record_failure(
    state: &AppState,
    worker: &WorkerConfig,
    delivery: &ClaimedDelivery,
    failure: &str,
) -> anyhow::Result<()> {
    let (id, attempts) = (delivery.id, delivery.attempts);
    let mut conn = state.system_conn().await?;
    if retry_or_park(&mut conn, worker, id, attempts, failure).await? {
        state.metrics().webhook_parked();
        tracing::error!(webhook.id = id, attempts, error = %failure, "webhook delivery parked after {attempts} attempts");
    } else {
        state.metrics().webhook_retried();
        tracing::warn!(webhook.id = id, attempts, error = %failure, "webhook delivery failed; will retry");
    }
    Ok(())
}

/// How the deliveries of a group were claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// From the queue, with a lease: all of them are applied, or none.
    Leased,
    /// Handed off in process, without a lease: those still unclaimed are taken and applied.
    HandedOff,
}

/// Applies a group of parsed deliveries in one transaction that also marks them
/// processed; nothing is applied unless all the deliveries it takes are. Returns how many
/// it applied.
async fn apply_group(
    state: &AppState,
    worker: &WorkerConfig,
    group: &[(ClaimedDelivery, Delivery)],
    claim: Claim,
) -> anyhow::Result<usize> {
    let mut conn = state.system_conn().await?;
    let channels = route_candidates(&mut conn, group.iter().map(|(_, d)| d)).await?;
    let ids: Vec<i64> = group.iter().map(|(claimed, _)| claimed.id).collect();
    let applied = conn
        .transaction(async |conn| {
            let taken = match claim {
                Claim::Leased => ids.clone(),
                Claim::HandedOff => webhook_events::take_unclaimed(conn, &ids, &worker.id).await?,
            };
            let routed: Vec<Routed<'_>> = group
                .iter()
                .filter(|(claimed, _)| taken.contains(&claimed.id))
                .flat_map(|(claimed, delivery)| route(delivery, &channels, claimed))
                .collect();
            let mut outbox = Outbox::default();
            ingest::apply(conn, &routed, &mut outbox).await?;
            if claim == Claim::Leased {
                let marked = webhook_events::mark_processed(conn, &ids, &worker.id).await?;
                if marked != ids.len() {
                    // Another worker finished some of them after our lease ran out.
                    return Err(ApplyError::FinishedElsewhere);
                }
            }
            Ok((outbox.commit(conn, ()).await?, taken.len()))
        })
        .await;
    match applied {
        Ok((committed, taken)) => {
            state.publish(committed);
            Ok(taken)
        }
        // A single delivery finished elsewhere: its result stands.
        Err(ApplyError::FinishedElsewhere) if group.len() == 1 => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Why applying a group did not commit.
#[derive(Debug, thiserror::Error)]
enum ApplyError {
    /// Another worker marked some of the group processed after our lease ran out.
    #[error("part of the group was finished elsewhere")]
    FinishedElsewhere,
    /// Every entry of a delivery failed: nothing to split off.
    #[error("every entry failed")]
    AllEntriesFailed,
    /// The database refused.
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Live channels named by the entries of these deliveries.
async fn route_candidates<'a>(
    conn: &mut AsyncPgConnection,
    deliveries: impl Iterator<Item = &'a Delivery>,
) -> QueryResult<Vec<Channel>> {
    let mut wanted: std::collections::BTreeMap<meta::Platform, Vec<String>> = Default::default();
    for delivery in deliveries {
        let Some(platform) = delivery.platform else {
            continue;
        };
        let accounts = wanted.entry(platform).or_default();
        accounts.extend(
            delivery
                .entries
                .iter()
                .map(|e| e.account_id.clone())
                .filter(|a| !a.is_empty()),
        );
    }
    let mut found = Vec::new();
    for (platform, mut accounts) in wanted {
        accounts.sort_unstable();
        accounts.dedup();
        if !accounts.is_empty() {
            found.extend(channels::find_by_accounts(conn, platform, &accounts).await?);
        }
    }
    Ok(found)
}

/// Pairs each entry with the channel it names, but only a channel whose app secret is
/// the one that verified the delivery (the app-level route verifies with the app's own
/// secret and routes by account id alone). Everything else is skipped and logged.
fn route<'a>(
    delivery: &'a Delivery,
    channels: &'a [Channel],
    claimed: &ClaimedDelivery,
) -> Vec<Routed<'a>> {
    if delivery.platform.is_none() {
        tracing::info!(webhook.id = claimed.id, object = %delivery.object, "delivery for an object we do not handle skipped");
    }
    delivery
        .entries
        .iter()
        .filter_map(|entry| {
            let channel = channels.iter().find(|c| {
                delivery.platform == Some(c.platform)
                    && (c.external_account_id == entry.account_id
                        || c.business_account_id.as_deref() == Some(entry.account_id.as_str()))
                    && claimed.secret_fingerprint.as_ref().is_none_or(|fp| *fp == c.app_secret_fingerprint)
            });
            match channel {
                Some(channel) if channel.status == ChannelStatus::Disabled => {
                    tracing::info!(webhook.id = claimed.id, channel.id = %channel.id, "entry for a disabled channel skipped");
                    None
                }
                Some(channel) => Some(Routed { channel, events: &entry.events }),
                None => {
                    tracing::warn!(
                        webhook.id = claimed.id,
                        received_on = ?claimed.channel_id,
                        account = %entry.account_id,
                        "entry names no channel verified by this delivery's secret; skipped"
                    );
                    None
                }
            }
        })
        .collect()
}

/// Schedules another attempt, or parks the delivery after [`MAX_ATTEMPTS`]; `true` when
/// parked.
async fn retry_or_park(
    conn: &mut AsyncPgConnection,
    worker: &WorkerConfig,
    id: i64,
    attempts: i32,
    error: &str,
) -> QueryResult<bool> {
    if attempts >= MAX_ATTEMPTS {
        webhook_events::park(conn, id, error, &worker.id).await?;
        return Ok(true);
    }
    let delay = Backoff::INBOUND.delay(u32::try_from(attempts).unwrap_or(1));
    webhook_events::retry_later(conn, id, delay, error).await?;
    Ok(false)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
