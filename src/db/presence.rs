//! `user_presence`: how many WebSockets each user has open on each server instance, so
//! that a member whose last socket closed a while ago (or whose instance died) can be
//! set OFFLINE by any instance.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::enums::Availability;
use super::ids::UserId;
use super::orgs::Membership;
use super::schema::user_presence;
use crate::db::prepared::PrepareOnce as _;

/// Records that `instance` has `sockets` open for each user, as of write `version` of
/// that instance; a row already at a newer version is left alone (writes of one instance
/// may land out of order).
pub async fn record(
    conn: &mut AsyncPgConnection,
    instance: Uuid,
    counts: &[(UserId, i32, i64)],
) -> QueryResult<()> {
    use diesel::sql_types::{Array, BigInt, Integer, Uuid as SqlUuid};
    if counts.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "INSERT INTO user_presence (instance_id, user_id, sockets, version, seen_at) \
         SELECT $1, u, s, v, now() FROM unnest($2::uuid[], $3::int[], $4::bigint[]) AS c(u, s, v) \
         WHERE EXISTS (SELECT 1 FROM users WHERE id = u) \
         ON CONFLICT (user_id, instance_id) DO UPDATE \
           SET sockets = excluded.sockets, version = excluded.version, seen_at = now() \
           WHERE user_presence.version <= excluded.version",
    )
    .bind::<SqlUuid, _>(instance)
    .bind::<Array<SqlUuid>, _>(counts.iter().map(|c| c.0).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(counts.iter().map(|c| c.1).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(counts.iter().map(|c| c.2).collect::<Vec<_>>())
    .prepared()
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets OFFLINE, and returns, every ONLINE or BUSY membership whose user has no socket
/// open on an instance seen since `stale_before`, and was last seen before
/// `offline_before`. Forgets presence rows older than both.
pub async fn sweep(
    conn: &mut AsyncPgConnection,
    offline_before: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> QueryResult<Vec<Membership>> {
    use diesel::sql_types::Timestamptz;
    let gone: Vec<Membership> = diesel::sql_query(
        "UPDATE memberships m SET availability = $3, availability_changed_at = now() \
         WHERE m.availability <> $3 \
           AND m.availability_changed_at < $1 \
           AND NOT EXISTS (SELECT 1 FROM user_presence p WHERE p.user_id = m.user_id \
                             AND ((p.sockets > 0 AND p.seen_at >= $2) OR p.seen_at >= $1)) \
         RETURNING m.org_id, m.user_id, m.role, m.created_at, m.availability, m.availability_changed_at",
    )
    .bind::<Timestamptz, _>(offline_before)
    .bind::<Timestamptz, _>(stale_before)
    .bind::<diesel::sql_types::Text, _>(Availability::Offline)
    .prepared()
    .load(conn)
    .await?;
    diesel::delete(user_presence::table)
        .filter(user_presence::seen_at.lt(offline_before.min(stale_before)))
        .execute(conn)
        .await?;
    Ok(gone)
}
