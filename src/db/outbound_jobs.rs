//! `outbound_jobs`: one durable job per reply to send, removed once the reply is sent
//! (kept as FAILED when it is given up). Claimed with a lease (and a lease id, so only
//! the attempt that claimed a job may finish it).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Interval, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::enums::JobState;
use super::ids::{ChannelId, MessageId, OrgId};
use super::queue::{NewJobs, OUTBOUND_JOBS, interval, run_claim};
use super::schema::outbound_jobs;
use crate::db::prepared::PrepareOnce as _;

/// A claimed job.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClaimedJob {
    /// Job id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The message to send.
    #[diesel(sql_type = SqlUuid)]
    pub message_id: MessageId,
    /// Its channel.
    #[diesel(sql_type = SqlUuid)]
    pub channel_id: ChannelId,
    /// Attempts so far, this one included.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
    /// The claim's lease id.
    #[diesel(sql_type = SqlUuid)]
    pub lease_id: Uuid,
    /// Set when an earlier attempt may have reached Meta.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub uncertain_since: Option<DateTime<Utc>>,
}

/// Queues the send of `message` (idempotent per message).
pub async fn enqueue(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    message: MessageId,
    channel: ChannelId,
) -> QueryResult<NewJobs> {
    diesel::insert_into(outbound_jobs::table)
        .values((
            outbound_jobs::org_id.eq(org),
            outbound_jobs::message_id.eq(message),
            outbound_jobs::channel_id.eq(channel),
        ))
        .on_conflict(outbound_jobs::message_id)
        .do_update()
        .set((
            outbound_jobs::state.eq(JobState::Pending),
            outbound_jobs::attempts.eq(0),
            outbound_jobs::run_at.eq(diesel::dsl::now),
            outbound_jobs::locked_until.eq(None::<DateTime<Utc>>),
            outbound_jobs::lease_id.eq(None::<Uuid>),
            outbound_jobs::uncertain_since.eq(None::<DateTime<Utc>>),
            outbound_jobs::last_error.eq(None::<String>),
            outbound_jobs::updated_at.eq(diesel::dsl::now),
        ))
        // Constant text; diesel never caches an upsert's statement on its own.
        .prepared()
        .execute(&mut conn)
        .await?;
    Ok(NewJobs::OUTBOUND_JOBS)
}

/// Claims up to `limit` due jobs for `lease` on behalf of `worker`, skipping rows others
/// hold. A job whose lease ran out (its worker died mid-send) is claimed again and
/// marked uncertain.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: std::time::Duration,
    worker: &str,
) -> QueryResult<Vec<ClaimedJob>> {
    run_claim(
        conn,
        diesel::sql_query(OUTBOUND_JOBS.claim_sql(
            ", lease_id = gen_random_uuid(), processed_by = $3, \
               uncertain_since = CASE WHEN j.locked_until IS NOT NULL \
                                      THEN coalesce(j.uncertain_since, j.locked_until) \
                                      ELSE j.uncertain_since END, updated_at = now()",
            "id, message_id, channel_id, attempts, lease_id, uncertain_since",
        ))
        .bind::<BigInt, _>(limit)
        .bind::<Interval, _>(interval(lease))
        .bind::<Text, _>(worker),
    )
    .await
}

/// Fails a job with `error` if `lease` still owns it (the row stays, so `retryMessage`
/// can queue it again).
pub async fn fail(
    conn: &mut AsyncPgConnection,
    id: i64,
    lease: Uuid,
    error: &str,
) -> QueryResult<bool> {
    let n = diesel::sql_query(
        "UPDATE outbound_jobs SET state = $3, locked_until = NULL, last_error = $4, updated_at = now() \
         WHERE id = $1 AND lease_id = $2 AND state = (SELECT 'PENDING')",
    )
    .bind::<BigInt, _>(id)
    .bind::<SqlUuid, _>(lease)
    .bind::<Text, _>(JobState::Failed)
    .bind::<Text, _>(error)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Removes the done jobs whose leases still own them, in one statement. A sent reply's
/// job is deleted rather than kept as DONE: its message holds the outcome, and the
/// queue holds only work (a delete writes no index entries, where an update wrote one
/// in each of the table's indexes).
pub async fn remove_done(conn: &mut AsyncPgConnection, jobs: &[&ClaimedJob]) -> QueryResult<usize> {
    if jobs.is_empty() {
        return Ok(0);
    }
    diesel::sql_query(
        "DELETE FROM outbound_jobs j USING unnest($1::bigint[], $2::uuid[]) AS x(id, lease_id) \
         WHERE j.id = x.id AND j.lease_id = x.lease_id AND j.state = (SELECT 'PENDING')",
    )
    .bind::<diesel::sql_types::Array<BigInt>, _>(jobs.iter().map(|j| j.id).collect::<Vec<_>>())
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(
        jobs.iter().map(|j| j.lease_id).collect::<Vec<_>>(),
    )
    .execute(conn)
    .await
}

/// Schedules another attempt in `delay` if `lease` still owns the job; `uncertain`
/// records that this attempt may have reached Meta.
pub async fn retry_later(
    conn: &mut AsyncPgConnection,
    id: i64,
    lease: Uuid,
    delay: std::time::Duration,
    error: &str,
    uncertain: bool,
) -> QueryResult<bool> {
    let n = diesel::sql_query(
        "UPDATE outbound_jobs SET run_at = now() + $3, locked_until = NULL, lease_id = NULL, last_error = $4, \
           uncertain_since = CASE WHEN $5 THEN coalesce(uncertain_since, now()) ELSE uncertain_since END, \
           updated_at = now() \
         WHERE id = $1 AND lease_id = $2 AND state = (SELECT 'PENDING')",
    )
    .bind::<BigInt, _>(id)
    .bind::<SqlUuid, _>(lease)
    .bind::<Interval, _>(interval(delay))
    .bind::<Text, _>(error)
    .bind::<diesel::sql_types::Bool, _>(uncertain)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Jobs waiting (due or not) and the age in seconds of the oldest due one.
pub async fn backlog(conn: &mut AsyncPgConnection) -> QueryResult<(i64, f64)> {
    OUTBOUND_JOBS.backlog(conn).await
}
