//! `profile_jobs`: one job per Instagram / Messenger identity, fetching the customer's
//! profile from Meta on first contact and at most daily afterwards (only while the
//! customer keeps writing). Claimed with a lease like the other queues
//! ([`super::queue`]).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Interval, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::channel_keys::with_channel_keys;
use super::enums::ProfileJobState;
use super::ids::ChannelId;
use super::queue::{NewJobs, PROFILE_JOBS, interval, run_claim, truncate_error};
use super::schema::profile_jobs;
use crate::db::prepared::PrepareOnce as _;

/// How long a fetched profile stays fresh: no new fetch before it ends.
pub const REFRESH_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A claimed job.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClaimedJob {
    /// Job id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The identity whose profile to fetch.
    #[diesel(sql_type = SqlUuid)]
    pub identity_id: Uuid,
    /// Its channel.
    #[diesel(sql_type = SqlUuid)]
    pub channel_id: ChannelId,
    /// Attempts so far, this one included.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// Makes a fetch due for each identity `(channel, platform id)` that has no job yet, or
/// whose last fetch is older than [`REFRESH_AFTER`]; jobs stopped for lack of permission
/// stay stopped. One statement whatever the number of identities.
pub async fn schedule(
    conn: &mut AsyncPgConnection,
    identities: &[(ChannelId, &str)],
) -> QueryResult<NewJobs> {
    let unique: BTreeSet<(ChannelId, &str)> = identities.iter().copied().collect();
    if unique.is_empty() {
        return Ok(NewJobs::NONE);
    }
    let due = with_channel_keys(
        "INSERT INTO profile_jobs (org_id, identity_id, channel_id) \
         SELECT i.org_id, i.id, i.channel_id FROM customer_identities i \
         JOIN unnest($1::uuid[], $2::text[]) AS w(channel_id, external_id) \
           ON i.channel_id = w.channel_id AND i.external_id = w.external_id \
         ON CONFLICT (identity_id) DO UPDATE SET state = 'PENDING', attempts = 0, \
           run_at = now(), locked_until = NULL, updated_at = now() \
         WHERE profile_jobs.state = 'DONE' \
           AND (profile_jobs.fetched_at IS NULL OR profile_jobs.fetched_at < now() - $3)",
        unique,
    )
    .bind::<Interval, _>(interval(REFRESH_AFTER))
    .prepared()
    .execute(conn)
    .await?;
    Ok(NewJobs::PROFILE_JOBS.when(due > 0))
}

/// Claims up to `limit` due jobs for `lease`.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: Duration,
) -> QueryResult<Vec<ClaimedJob>> {
    run_claim(
        conn,
        diesel::sql_query(PROFILE_JOBS.claim_sql("", "id, identity_id, channel_id, attempts"))
            .bind::<BigInt, _>(limit)
            .bind::<Interval, _>(interval(lease)),
    )
    .await
}

/// The profile was fetched: done until the next refresh.
pub async fn fetched(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    finish(conn, id, ProfileJobState::Done, None, true).await
}

/// Given up for now (the next message after [`REFRESH_AFTER`] tries again).
pub async fn give_up(conn: &mut AsyncPgConnection, id: i64, error: &str) -> QueryResult<()> {
    finish(conn, id, ProfileJobState::Done, Some(error), true).await
}

/// Meta refused for lack of permission: never asked again for this identity.
pub async fn stop(conn: &mut AsyncPgConnection, id: i64, error: &str) -> QueryResult<()> {
    finish(conn, id, ProfileJobState::Stopped, Some(error), false).await
}

/// Tries again after `delay`.
pub async fn retry(
    conn: &mut AsyncPgConnection,
    id: i64,
    delay: Duration,
    error: &str,
) -> QueryResult<()> {
    let run_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
    diesel::update(profile_jobs::table.find(id))
        .set((
            profile_jobs::run_at.eq(run_at),
            profile_jobs::locked_until.eq(None::<DateTime<Utc>>),
            profile_jobs::last_error.eq(truncate_error(error)),
            profile_jobs::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

async fn finish(
    conn: &mut AsyncPgConnection,
    id: i64,
    state: ProfileJobState,
    error: Option<&str>,
    stamp: bool,
) -> QueryResult<()> {
    let fetched_at = stamp.then(Utc::now);
    diesel::update(profile_jobs::table.find(id))
        .set((
            profile_jobs::state.eq(state),
            profile_jobs::locked_until.eq(None::<DateTime<Utc>>),
            profile_jobs::last_error.eq(error.map(truncate_error)),
            profile_jobs::fetched_at.eq(fetched_at),
            profile_jobs::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
