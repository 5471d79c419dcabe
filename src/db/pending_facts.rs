//! `pending_facts`: facts Meta reported about a message we have not stored yet (an
//! unsend, edit, reaction, read or status that overtook the message itself), kept until
//! the message arrives and then applied in the transaction that stores it.
//!
//! One row per channel, platform id, kind and reactor keeps only the winning fact:
//! highest `rank` (a status's place in the delivery order), then latest `occurred_at`
//! (Meta's time), then the payload itself, so the row left is the same whatever order the
//! facts arrived in. Rows nobody claims expire with the pruner.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Jsonb, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::channel_keys::with_channel_keys;
use super::enums::FactKind;
use super::ids::ChannelId;
use super::schema::pending_facts;
use crate::db::prepared::PrepareOnce as _;

/// A fact to keep until its message arrives.
#[derive(Debug, Clone)]
pub struct NewFact<'a> {
    /// The channel the message belongs to.
    pub channel_id: ChannelId,
    /// The platform id the fact names (a message id; a customer id for watermarks).
    pub external_id: &'a str,
    /// What it says.
    pub kind: FactKind,
    /// Who reacted (reactions only; empty otherwise).
    pub reactor_id: &'a str,
    /// Precedence among facts of the same key (a status's rank; 0 otherwise).
    pub rank: i32,
    /// When it happened, by Meta's clock.
    pub occurred_at: DateTime<Utc>,
    /// The fact itself.
    pub payload: serde_json::Value,
}

/// A fact taken out of the table to be applied.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pending_facts)]
pub struct PendingFact {
    /// What it says.
    pub kind: FactKind,
    /// The fact itself.
    pub payload: serde_json::Value,
}

/// Keeps `fact` unless a winning fact of the same key is already kept.
pub async fn keep(conn: &mut AsyncPgConnection, fact: &NewFact<'_>) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO pending_facts AS p (channel_id, external_id, kind, reactor_id, rank, occurred_at, payload) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (channel_id, external_id, kind, reactor_id) DO UPDATE SET \
           rank = EXCLUDED.rank, occurred_at = EXCLUDED.occurred_at, payload = EXCLUDED.payload, \
           received_at = now() \
         WHERE (EXCLUDED.rank, EXCLUDED.occurred_at, EXCLUDED.payload::text) \
             > (p.rank, p.occurred_at, p.payload::text)",
    )
    .bind::<SqlUuid, _>(fact.channel_id)
    .bind::<Text, _>(fact.external_id)
    .bind::<Text, _>(fact.kind)
    .bind::<Text, _>(fact.reactor_id)
    .bind::<Integer, _>(fact.rank)
    .bind::<Timestamptz, _>(fact.occurred_at)
    .bind::<Jsonb, _>(&fact.payload)
    .prepared()
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes and returns every fact kept for `external_id` on `channel` among `kinds`.
pub async fn take(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    external_id: &str,
    kinds: &[FactKind],
) -> QueryResult<Vec<PendingFact>> {
    diesel::delete(
        pending_facts::table
            .filter(pending_facts::channel_id.eq(channel))
            .filter(pending_facts::external_id.eq(external_id))
            .filter(pending_facts::kind.eq_any(kinds)),
    )
    .returning(PendingFact::as_returning())
    .get_results(conn)
    .await
}

/// A fact taken out with the platform id it names.
#[derive(Debug, Clone, QueryableByName)]
pub struct TakenFact {
    /// The channel.
    #[diesel(sql_type = SqlUuid)]
    pub channel_id: ChannelId,
    /// The platform id it named.
    #[diesel(sql_type = Text)]
    pub external_id: String,
    /// What it says.
    #[diesel(sql_type = Text)]
    pub kind: FactKind,
    /// The fact itself.
    #[diesel(sql_type = Jsonb)]
    pub payload: serde_json::Value,
}

/// Removes and returns every fact among `kinds` kept for any of the `(channel, platform
/// id)` pairs, in one statement.
pub async fn take_many(
    conn: &mut AsyncPgConnection,
    keys: &[(ChannelId, &str)],
    kinds: &[FactKind],
) -> QueryResult<Vec<TakenFact>> {
    use diesel::sql_types::Array;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    with_channel_keys(
        "DELETE FROM pending_facts p USING unnest($1::uuid[], $2::text[]) AS k(channel_id, external_id) \
         WHERE p.channel_id = k.channel_id AND p.external_id = k.external_id AND p.kind = ANY($3) \
         RETURNING p.channel_id, p.external_id, p.kind, p.payload",
        keys.iter().copied(),
    )
    .bind::<Array<Text>, _>(kinds)
    .prepared()
    .load(conn)
    .await
}

/// Deletes facts kept since before `cutoff` (their message never came); how many.
pub async fn prune(conn: &mut AsyncPgConnection, cutoff: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(pending_facts::table.filter(pending_facts::received_at.lt(cutoff)))
        .execute(conn)
        .await
}

/// How many facts are waiting, per kind (`/metrics`).
pub async fn counts(conn: &mut AsyncPgConnection) -> QueryResult<Vec<(FactKind, i64)>> {
    pending_facts::table
        .group_by(pending_facts::kind)
        .select((pending_facts::kind, diesel::dsl::count_star()))
        .order(pending_facts::kind)
        .load(conn)
        .await
}
