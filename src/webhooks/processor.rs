//! The inbound worker's unit of work: claim stored deliveries, parse them, route each
//! entry to its channel, and apply the events in one transaction per delivery that also
//! marks the delivery processed. A failing delivery is retried with backoff and finally
//! parked with its error; it never blocks the deliveries behind it.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Interval, Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use futures_util::FutureExt as _;

use super::meta::{self, Delivery};
use crate::db::channels::{self, Channel};
use crate::db::ids::ChannelId;
use crate::inbox::ingest::{self, Routed};
use crate::inbox::outbox::{self, Outbox};
use crate::jobs::backoff::Backoff;
use crate::state::AppState;

/// Deliveries claimed at once.
pub const BATCH_SIZE: i64 = 100;
/// How long a claim lasts; a worker that dies lets its deliveries go after this.
pub const LEASE: Duration = Duration::from_secs(60);
/// Attempts before a delivery is parked.
pub const MAX_ATTEMPTS: i32 = 10;

/// A delivery claimed for processing.
#[derive(Debug, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    channel_id: Option<ChannelId>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bytea>)]
    secret_fingerprint: Option<Vec<u8>>,
    #[diesel(sql_type = diesel::sql_types::Bytea)]
    body: Vec<u8>,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// Deliveries applied together in one transaction (a failing group is retried one
/// delivery at a time, so a poison delivery only ever fails alone).
pub const GROUP_SIZE: usize = 20;

/// Claims and processes one batch; returns how many deliveries it handled.
pub async fn run_once(state: &AppState) -> anyhow::Result<usize> {
    let claimed = {
        let mut conn = state.conn().await?;
        claim(&mut conn, BATCH_SIZE).await?
    };
    let count = claimed.len();
    let mut parsed = Vec::with_capacity(count);
    for delivery in claimed {
        match meta::parse(&delivery.body) {
            Ok(parsed_body) => parsed.push((delivery, parsed_body)),
            Err(e) => {
                // Retrying cannot fix a body that is not a Meta delivery: park it at once.
                let mut conn = state.conn().await?;
                park(&mut conn, delivery.id, &e.to_string()).await?;
                state.metrics().webhook_parked();
                tracing::warn!(webhook.id = delivery.id, error = %e, "unparseable webhook delivery parked");
            }
        }
    }
    for group in parsed.chunks(GROUP_SIZE) {
        if guarded(apply_group(state, group)).await.is_ok() {
            group
                .iter()
                .for_each(|_| state.metrics().webhook_processed());
            continue;
        }
        for single in group {
            match guarded(apply_group(state, std::slice::from_ref(single))).await {
                Ok(()) => state.metrics().webhook_processed(),
                Err(failure) => record_failure(state, &single.0, &failure).await?,
            }
        }
    }
    Ok(count)
}

/// Runs `work`, turning an error or a panic into a message.
async fn guarded(
    work: impl std::future::Future<Output = anyhow::Result<()>>,
) -> Result<(), String> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(panic) => Err(format!("panic: {}", panic_message(&panic))),
    }
}

async fn record_failure(state: &AppState, delivery: &Claimed, failure: &str) -> anyhow::Result<()> {
    let (id, attempts) = (delivery.id, delivery.attempts);
    let mut conn = state.conn().await?;
    if retry_or_park(&mut conn, id, attempts, failure).await? {
        state.metrics().webhook_parked();
        tracing::error!(webhook.id = id, attempts, error = %failure, "webhook delivery parked after {attempts} attempts");
    } else {
        state.metrics().webhook_retried();
        tracing::warn!(webhook.id = id, attempts, error = %failure, "webhook delivery failed; will retry");
    }
    Ok(())
}

/// Claims up to `limit` due deliveries with a lease, skipping rows other workers hold.
async fn claim(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<Claimed>> {
    diesel::sql_query(
        "UPDATE webhook_events SET locked_until = now() + $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM webhook_events \
                      WHERE state = 'PENDING' AND run_at <= now() \
                        AND (locked_until IS NULL OR locked_until < now()) \
                      ORDER BY run_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING id, channel_id, secret_fingerprint, body, attempts",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Interval, _>(diesel::data_types::PgInterval::from_microseconds(
        LEASE.as_micros() as i64,
    ))
    .load(conn)
    .await
}

/// Applies a group of parsed deliveries in one transaction that also marks them all
/// processed; nothing is applied unless all of them are.
async fn apply_group(state: &AppState, group: &[(Claimed, Delivery)]) -> anyhow::Result<()> {
    let mut conn = state.conn().await?;
    let channels = route_candidates(&mut conn, group.iter().map(|(_, d)| d)).await?;
    let routed: Vec<Routed<'_>> = group
        .iter()
        .flat_map(|(claimed, delivery)| route(delivery, &channels, claimed))
        .collect();
    let ids: Vec<i64> = group.iter().map(|(claimed, _)| claimed.id).collect();
    let events = conn
        .transaction(async |conn| {
            let mut outbox = Outbox::default();
            ingest::apply(conn, &routed, &mut outbox).await?;
            let marked = diesel::sql_query(
                "UPDATE webhook_events SET state = 'PROCESSED', processed_at = now(), locked_until = NULL, \
                 last_error = NULL, processed_by = $2 WHERE id = ANY($1) AND state = 'PENDING'",
            )
            .bind::<diesel::sql_types::Array<BigInt>, _>(&ids)
            .bind::<Text, _>(crate::jobs::worker_id())
            .execute(conn)
            .await?;
            if marked != ids.len() {
                // Another worker finished some of them after our lease ran out.
                return Err(diesel::result::Error::RollbackTransaction);
            }
            outbox.flush(conn).await
        })
        .await;
    match events {
        Ok(events) => {
            outbox::publish(state, events);
            Ok(())
        }
        // A single delivery finished elsewhere: its result stands.
        Err(diesel::result::Error::RollbackTransaction) if group.len() == 1 => Ok(()),
        Err(diesel::result::Error::RollbackTransaction) => {
            anyhow::bail!("part of the group was finished elsewhere")
        }
        Err(e) => Err(e.into()),
    }
}

/// Live channels named by the entries of these deliveries.
async fn route_candidates<'a>(
    conn: &mut AsyncPgConnection,
    deliveries: impl Iterator<Item = &'a Delivery>,
) -> QueryResult<Vec<Channel>> {
    let mut wanted: std::collections::BTreeMap<&'static str, Vec<String>> = Default::default();
    for delivery in deliveries {
        let Some(platform) = delivery.platform else {
            continue;
        };
        let accounts = wanted.entry(platform.as_str()).or_default();
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
    claimed: &Claimed,
) -> Vec<Routed<'a>> {
    if delivery.platform.is_none() {
        tracing::info!(webhook.id = claimed.id, object = %delivery.object, "delivery for an object we do not handle skipped");
    }
    delivery
        .entries
        .iter()
        .filter_map(|entry| {
            let channel = channels.iter().find(|c| {
                delivery.platform.is_some_and(|p| p.as_str() == c.platform)
                    && c.external_account_id == entry.account_id
                    && claimed.secret_fingerprint.as_ref().is_none_or(|fp| *fp == c.app_secret_fingerprint)
            });
            match channel {
                Some(channel) if channel.status == "DISABLED" => {
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
    id: i64,
    attempts: i32,
    error: &str,
) -> QueryResult<bool> {
    if attempts >= MAX_ATTEMPTS {
        park(conn, id, error).await?;
        return Ok(true);
    }
    let delay = Backoff::INBOUND.delay(u32::try_from(attempts).unwrap_or(1));
    diesel::sql_query(
        "UPDATE webhook_events SET run_at = now() + $2, locked_until = NULL, last_error = $3 \
         WHERE id = $1 AND state = 'PENDING'",
    )
    .bind::<BigInt, _>(id)
    .bind::<Interval, _>(diesel::data_types::PgInterval::from_microseconds(
        delay.as_micros() as i64,
    ))
    .bind::<Text, _>(truncate(error))
    .execute(conn)
    .await?;
    Ok(false)
}

async fn park(conn: &mut AsyncPgConnection, id: i64, error: &str) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE webhook_events SET state = 'PARKED', locked_until = NULL, last_error = $2, processed_at = now(), \
         processed_by = $3 WHERE id = $1 AND state = 'PENDING'",
    )
    .bind::<BigInt, _>(id)
    .bind::<Text, _>(truncate(error))
    .bind::<Text, _>(crate::jobs::worker_id())
    .execute(conn)
    .await?;
    Ok(())
}

fn truncate(error: &str) -> String {
    error.chars().take(2000).collect()
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Deliveries waiting (due or not) and the age in seconds of the oldest due one.
pub async fn backlog(conn: &mut AsyncPgConnection) -> QueryResult<(i64, f64)> {
    crate::db::queue_backlog(conn, "webhook_events", "received_at").await
}

/// Deliveries parked for operators.
pub async fn parked(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Parked {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let p: Parked =
        diesel::sql_query("SELECT count(*) AS n FROM webhook_events WHERE state = 'PARKED'")
            .get_result(conn)
            .await?;
    Ok(p.n)
}
