//! `webhook_events`: verified Meta deliveries, stored as received before the `200`, then
//! claimed by the inbound workers with a lease ([`super::queue`]), and finally marked
//! processed, or parked with their last error for an operator.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bytea, Integer, Interval, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::enums::DeliveryState;
use super::ids::ChannelId;
use super::queue::{WEBHOOK_EVENTS, interval, run_claim, truncate_error};
use super::schema::webhook_events;
use crate::db::prepared::PrepareOnce as _;

/// A delivery to store.
#[derive(Debug)]
pub struct NewDelivery<'a> {
    /// The channel whose URL received it (`None` on the app-level route).
    pub channel_id: Option<ChannelId>,
    /// Fingerprint of the app secret that verified it (`None` on the app-level route).
    pub secret_fingerprint: Option<&'a [u8]>,
    /// The exact received body.
    pub body: &'a [u8],
}

/// A delivery claimed for processing.
#[derive(Debug, QueryableByName)]
pub struct ClaimedDelivery {
    /// Row id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The channel whose URL received it.
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    pub channel_id: Option<ChannelId>,
    /// Fingerprint of the secret that verified it.
    #[diesel(sql_type = Nullable<Bytea>)]
    pub secret_fingerprint: Option<Vec<u8>>,
    /// The body as received.
    #[diesel(sql_type = Bytea)]
    pub body: Vec<u8>,
    /// Attempts so far, this one included.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// The id of a row a statement returned.
#[derive(QueryableByName)]
struct RowId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Stores deliveries with one INSERT of arrays (a constant statement, prepared once per
/// connection, whatever the number of rows); their ids, in the order of `rows`
/// (PostgreSQL returns the rows of an `INSERT … SELECT` in the order it inserts them).
pub async fn insert_many(
    conn: &mut AsyncPgConnection,
    rows: &[NewDelivery<'_>],
) -> QueryResult<Vec<i64>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<RowId> = diesel::sql_query(
        "INSERT INTO webhook_events (channel_id, secret_fingerprint, body) \
         SELECT c, s, b FROM unnest($1::uuid[], $2::bytea[], $3::bytea[]) WITH ORDINALITY AS r(c, s, b, n) \
         ORDER BY n RETURNING id",
    )
    .bind::<Array<Nullable<diesel::sql_types::Uuid>>, _>(
        rows.iter().map(|r| r.channel_id).collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Bytea>>, _>(
        rows.iter()
            .map(|r| r.secret_fingerprint)
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Bytea>, _>(rows.iter().map(|r| r.body).collect::<Vec<_>>())
    .prepared()
    .load(conn)
    .await?;
    Ok(ids.into_iter().map(|i| i.id).collect())
}

/// Claims up to `limit` due deliveries for `lease`, skipping rows other workers hold,
/// in order while their bodies add up to at most `max_bytes` (the first one whatever
/// its size). PostgreSQL sums the bodies' stored lengths without reading them.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    limit: i64,
    max_bytes: i64,
    lease: Duration,
) -> QueryResult<Vec<ClaimedDelivery>> {
    run_claim(
        conn,
        diesel::sql_query(WEBHOOK_EVENTS.claim_within_sql(
            "",
            "id, channel_id, secret_fingerprint, body, attempts",
            "octet_length(body)",
        ))
        .bind::<BigInt, _>(limit)
        .bind::<Interval, _>(interval(lease))
        .bind::<BigInt, _>(max_bytes),
    )
    .await
}

/// Stores `bodies` (entries split off `original`, which failed on their own) as
/// deliveries of their own, received and verified like the original, due again in `delay`
/// with its attempts so far and `error`.
pub async fn split_off(
    conn: &mut AsyncPgConnection,
    original: &ClaimedDelivery,
    bodies: &[Vec<u8>],
    delay: Duration,
    error: &str,
) -> QueryResult<()> {
    for body in bodies {
        diesel::sql_query(
            "INSERT INTO webhook_events (channel_id, secret_fingerprint, body, attempts, run_at, last_error) \
             VALUES ($1, $2, $3, $4, now() + $5, $6)",
        )
        .bind::<Nullable<diesel::sql_types::Uuid>, _>(original.channel_id)
        .bind::<Nullable<Bytea>, _>(original.secret_fingerprint.as_deref())
        .bind::<Bytea, _>(body)
        .bind::<Integer, _>(original.attempts)
        .bind::<Interval, _>(interval(delay))
        .bind::<Text, _>(truncate_error(error))
        .prepared()
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Takes those of `ids` that are still pending, due and under no lease for the calling
/// transaction, marking them processed by `worker` (undone if it rolls back); rows that
/// another transaction holds are skipped, never waited for. The ids taken. (By primary
/// key: see [`super::queue`].)
pub async fn take_unclaimed(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
    worker: &str,
) -> QueryResult<Vec<i64>> {
    let taken: Vec<RowId> = diesel::sql_query(
        "UPDATE webhook_events SET state = 'PROCESSED', processed_at = now(), processed_by = $2, \
                locked_until = NULL, last_error = NULL \
         WHERE id IN (SELECT id FROM webhook_events \
                      WHERE id = ANY($1) AND state = (SELECT 'PENDING') AND run_at <= now() \
                        AND (locked_until IS NULL OR locked_until < now()) \
                      FOR UPDATE SKIP LOCKED) \
         RETURNING id",
    )
    .bind::<Array<BigInt>, _>(ids)
    .bind::<Text, _>(worker)
    .load(conn)
    .await?;
    Ok(taken.into_iter().map(|t| t.id).collect())
}

/// Marks still-pending deliveries processed by `worker`; how many were. (By primary key:
/// see [`super::queue`].)
pub async fn mark_processed(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
    worker: &str,
) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE webhook_events SET state = 'PROCESSED', processed_at = now(), locked_until = NULL, \
         last_error = NULL, processed_by = $2 WHERE id = ANY($1) AND state = (SELECT 'PENDING')",
    )
    .bind::<Array<BigInt>, _>(ids)
    .bind::<Text, _>(worker)
    .execute(conn)
    .await
}

/// Schedules another attempt of a pending delivery in `delay`.
pub async fn retry_later(
    conn: &mut AsyncPgConnection,
    id: i64,
    delay: Duration,
    error: &str,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE webhook_events SET run_at = now() + $2, locked_until = NULL, last_error = $3 \
         WHERE id = $1 AND state = (SELECT 'PENDING')",
    )
    .bind::<BigInt, _>(id)
    .bind::<Interval, _>(interval(delay))
    .bind::<Text, _>(truncate_error(error))
    .execute(conn)
    .await?;
    Ok(())
}

/// Parks a pending delivery with its error, for an operator.
pub async fn park(
    conn: &mut AsyncPgConnection,
    id: i64,
    error: &str,
    worker: &str,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE webhook_events SET state = 'PARKED', locked_until = NULL, last_error = $2, \
         processed_at = now(), processed_by = $3 WHERE id = $1 AND state = (SELECT 'PENDING')",
    )
    .bind::<BigInt, _>(id)
    .bind::<Text, _>(truncate_error(error))
    .bind::<Text, _>(worker)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deliveries waiting (due or not) and the age in seconds of the oldest due one.
pub async fn backlog(conn: &mut AsyncPgConnection) -> QueryResult<(i64, f64)> {
    WEBHOOK_EVENTS.backlog(conn).await
}

/// Deliveries parked for operators.
pub async fn parked(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    webhook_events::table
        .filter(webhook_events::state.eq(DeliveryState::Parked))
        .count()
        .get_result(conn)
        .await
}
