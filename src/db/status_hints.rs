//! `message_status_hints`: delivery statuses Meta reported for a message id we have not
//! recorded yet (the status webhook beat our own send's response). The sender applies
//! and deletes them when it records the id.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::enums::MessageStatus;
use super::ids::ChannelId;
use super::schema::message_status_hints;

/// A stored hint.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = message_status_hints)]
pub struct StatusHint {
    /// Status reported.
    pub status: MessageStatus,
    /// Failure code.
    pub error_code: Option<i32>,
    /// Failure reason.
    pub error_message: Option<String>,
}

/// Keeps the furthest status reported for `external_id` (`FAILED` only over `SENT`).
pub async fn remember(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    external_id: &str,
    status: MessageStatus,
    error_code: Option<i32>,
    error_message: Option<&str>,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO message_status_hints AS h (channel_id, external_id, status, error_code, error_message) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (channel_id, external_id) DO UPDATE SET status = EXCLUDED.status, \
           error_code = EXCLUDED.error_code, error_message = EXCLUDED.error_message, received_at = now() \
         WHERE (CASE EXCLUDED.status WHEN 'SENT' THEN 1 WHEN 'DELIVERED' THEN 2 WHEN 'READ' THEN 3 ELSE 0 END) > \
               (CASE h.status WHEN 'SENT' THEN 1 WHEN 'DELIVERED' THEN 2 WHEN 'READ' THEN 3 ELSE 0 END) \
            OR (EXCLUDED.status = 'FAILED' AND h.status = 'SENT')",
    )
    .bind::<SqlUuid, _>(channel)
    .bind::<Text, _>(external_id)
    .bind::<Text, _>(status)
    .bind::<Nullable<Integer>, _>(error_code)
    .bind::<Nullable<Text>, _>(error_message)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes and returns the hint for `external_id`, if any.
pub async fn take(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    external_id: &str,
) -> QueryResult<Option<StatusHint>> {
    diesel::delete(message_status_hints::table.find((channel, external_id)))
        .returning(StatusHint::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes hints older than `cutoff` (statuses of messages that never became ours).
pub async fn prune(conn: &mut AsyncPgConnection, cutoff: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(message_status_hints::table.filter(message_status_hints::received_at.lt(cutoff)))
        .execute(conn)
        .await
}
