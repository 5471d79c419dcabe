//! `media_objects` (our stored copies of files), `media_jobs` (attachments waiting to be
//! copied), `media_erasures` (copies of unsent messages whose bytes are to be deleted)
//! and the org's media usage. A job is claimed with a lease; the attempt count
//! taken at claim time identifies the claim, so an attempt whose lease ran out and was
//! claimed again cannot finish the job.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Interval, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::enums::{JobState, MediaStorage};
use super::ids::{ChannelId, MediaId, MessageId, OrgId};
use super::messages::Attachment;
use super::queue::{MEDIA_JOBS, NewJobs, interval, run_claim, truncate_error};
use super::schema::{attachments, media_erasures, media_objects, messages, orgs};
use crate::db::prepared::PrepareOnce as _;

/// A stored file.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = media_objects)]
pub struct MediaObject {
    /// Id (in signed URLs).
    pub id: MediaId,
    /// Owning org.
    pub org_id: OrgId,
    /// Path in the object store.
    pub storage_key: String,
    /// Content type, checked against the bytes.
    pub content_type: String,
    /// Size in bytes.
    pub byte_size: i64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// File name to offer on download.
    pub filename: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// A claimed media job.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClaimedMediaJob {
    /// Job id.
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// The attachment to copy.
    #[diesel(sql_type = SqlUuid)]
    pub attachment_id: Uuid,
    /// Attempts so far, this one included (identifies the claim).
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// Queues a copy of each `(org, attachment)`.
pub async fn enqueue(
    mut conn: &AsyncPgConnection,
    pending: &[(OrgId, Uuid)],
) -> QueryResult<NewJobs> {
    if pending.is_empty() {
        return Ok(NewJobs::NONE);
    }
    let queued = diesel::sql_query(
        "INSERT INTO media_jobs (org_id, attachment_id) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[]) ON CONFLICT (attachment_id) DO NOTHING",
    )
    .bind::<Array<SqlUuid>, _>(pending.iter().map(|p| p.0.0).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(pending.iter().map(|p| p.1).collect::<Vec<_>>())
    .prepared()
    .execute(&mut conn)
    .await?;
    Ok(NewJobs::MEDIA_JOBS.when(queued > 0))
}

/// Claims up to `limit` due jobs for `lease`.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: std::time::Duration,
) -> QueryResult<Vec<ClaimedMediaJob>> {
    run_claim(
        conn,
        diesel::sql_query(
            MEDIA_JOBS.claim_sql(", updated_at = now()", "id, attachment_id, attempts"),
        )
        .bind::<BigInt, _>(limit)
        .bind::<Interval, _>(interval(lease)),
    )
    .await
}

/// The attachments of these ids with the channel of their message.
pub async fn attachments_with_channel(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<Vec<(Attachment, ChannelId)>> {
    attachments::table
        .inner_join(messages::table)
        .filter(attachments::id.eq_any(ids))
        .select((Attachment::as_select(), messages::channel_id))
        .load(conn)
        .await
}

/// The org's media bytes so far.
pub async fn usage(conn: &mut AsyncPgConnection, org: OrgId) -> QueryResult<i64> {
    orgs::table
        .filter(orgs::id.eq(org))
        .select(orgs::media_bytes)
        .first(conn)
        .await
}

/// Records a stored object and counts it toward the org's usage, unless that would
/// pass `quota`; `false` (nothing written) when it would.
pub async fn insert_object(
    conn: &mut AsyncPgConnection,
    object: &MediaObject,
    quota: i64,
) -> QueryResult<bool> {
    let counted = diesel::update(orgs::table)
        .filter(orgs::id.eq(object.org_id))
        .filter((orgs::media_bytes + object.byte_size).le(quota))
        .set(orgs::media_bytes.eq(orgs::media_bytes + object.byte_size))
        .execute(conn)
        .await?;
    if counted == 0 {
        return Ok(false);
    }
    diesel::insert_into(media_objects::table)
        .values(object)
        .execute(conn)
        .await?;
    Ok(true)
}

/// A stored object of `org` (another org's id is `None`).
pub async fn find_object(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: MediaId,
) -> QueryResult<Option<MediaObject>> {
    media_objects::table
        .filter(media_objects::id.eq(id))
        .filter(media_objects::org_id.eq(org))
        .select(MediaObject::as_select())
        .first(conn)
        .await
        .optional()
}

/// A stored object by id alone (signed URLs carry no org; the signature names it).
pub async fn get_object(
    conn: &mut AsyncPgConnection,
    id: MediaId,
) -> QueryResult<Option<MediaObject>> {
    media_objects::table
        .filter(media_objects::id.eq(id))
        .select(MediaObject::as_select())
        .first(conn)
        .await
        .optional()
}

/// Finishes a job whose claim is still current: the attachment becomes STORED with
/// `object`, or FAILED with `error`. `false` when the claim was lost.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    job: &ClaimedMediaJob,
    outcome: Result<MediaId, &str>,
) -> QueryResult<bool> {
    let (state, error) = match outcome {
        Ok(_) => (JobState::Done, None),
        Err(e) => (JobState::Failed, Some(truncate_error(e))),
    };
    let n = diesel::sql_query(
        "UPDATE media_jobs SET state = $3, locked_until = NULL, last_error = $4, updated_at = now() \
         WHERE id = $1 AND attempts = $2 AND state = (SELECT 'PENDING')",
    )
    .bind::<BigInt, _>(job.id)
    .bind::<Integer, _>(job.attempts)
    .bind::<Text, _>(state)
    .bind::<diesel::sql_types::Nullable<Text>, _>(error.as_deref())
    .execute(conn)
    .await?;
    if n == 0 {
        return Ok(false);
    }
    let (storage, object) = match outcome {
        Ok(id) => (MediaStorage::Stored, Some(id)),
        Err(_) => (MediaStorage::Failed, None),
    };
    diesel::update(attachments::table.filter(attachments::id.eq(job.attachment_id)))
        .set((
            attachments::storage.eq(storage),
            attachments::storage_error.eq(error),
            attachments::media_object_id.eq(object),
        ))
        .execute(conn)
        .await?;
    Ok(true)
}

/// Schedules another attempt in `delay`, keeping `error` as the last one.
pub async fn retry_later(
    conn: &mut AsyncPgConnection,
    job: &ClaimedMediaJob,
    delay: std::time::Duration,
    error: &str,
) -> QueryResult<bool> {
    let n = diesel::sql_query(
        "UPDATE media_jobs SET run_at = now() + $3, locked_until = NULL, last_error = $4, updated_at = now() \
         WHERE id = $1 AND attempts = $2 AND state = (SELECT 'PENDING')",
    )
    .bind::<BigInt, _>(job.id)
    .bind::<Integer, _>(job.attempts)
    .bind::<Interval, _>(interval(delay))
    .bind::<Text, _>(truncate_error(error))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Forgets the stored copies of `message`'s attachments that no other attachment uses:
/// their rows go (their signed URLs stop working at once), their bytes leave the org's
/// usage, and their storage keys are queued in `media_erasures` for the media worker to
/// delete the bytes after the commit. Returns how many were queued.
pub async fn forget_objects_of(
    conn: &mut AsyncPgConnection,
    message: MessageId,
) -> QueryResult<usize> {
    diesel::sql_query(
        "WITH gone AS ( \
           DELETE FROM media_objects o USING attachments a \
           WHERE a.message_id = $1 AND a.media_object_id = o.id \
             AND NOT EXISTS (SELECT 1 FROM attachments b \
                             WHERE b.media_object_id = o.id AND b.message_id <> $1) \
           RETURNING o.org_id, o.byte_size, o.storage_key), \
         freed AS ( \
           UPDATE orgs SET media_bytes = greatest(media_bytes - f.bytes, 0) \
           FROM (SELECT org_id, sum(byte_size)::bigint AS bytes FROM gone GROUP BY org_id) f \
           WHERE orgs.id = f.org_id) \
         INSERT INTO media_erasures (storage_key) SELECT storage_key FROM gone \
         ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(message)
    .execute(conn)
    .await
}

/// Up to `limit` storage keys waiting for erasure, locked until the end of the
/// transaction (another worker skips them).
pub async fn claim_erasures(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<String>> {
    media_erasures::table
        .order(media_erasures::queued_at)
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(media_erasures::storage_key)
        .load(conn)
        .await
}

/// Removes erased keys from the queue.
pub async fn erased(conn: &mut AsyncPgConnection, keys: &[String]) -> QueryResult<()> {
    diesel::delete(media_erasures::table.filter(media_erasures::storage_key.eq_any(keys)))
        .execute(conn)
        .await?;
    Ok(())
}
