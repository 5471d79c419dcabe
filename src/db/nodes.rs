//! Global object lookup for `Query.node` / `Query.nodes`: which table a bare id belongs
//! to, among the rows one user may see, in one query.
//!
//! Ids are UUIDs, unique across tables in practice, so a UNION over the tables finds
//! the kind without encoding it into the id (every client keeps working with the ids
//! it already has). Visibility is decided here, in SQL: rows of the orgs the user is a
//! member of, live channels only, and only the user's own notifications. Another org's
//! id, a deleted channel and a made-up id all come back as nothing.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::ids::UserId;
use crate::db::prepared::PrepareOnce as _;

/// Kinds of object `node` can return, as the UNION names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// An org.
    Org,
    /// A channel.
    Channel,
    /// A customer.
    Customer,
    /// A ticket.
    Ticket,
    /// A message.
    Message,
    /// A notification.
    Notification,
    /// A team.
    Team,
}

/// One visible id and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The id.
    pub id: Uuid,
    /// The table it belongs to.
    pub kind: NodeKind,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Which of `ids` `user` may see, and of what kind (in no particular order).
pub async fn find_visible(
    mut conn: &AsyncPgConnection,
    user: UserId,
    ids: &[Uuid],
) -> QueryResult<Vec<Found>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Row> = diesel::sql_query(
        "WITH mine AS (SELECT org_id FROM memberships WHERE user_id = $2) \
         SELECT 'Org' AS kind, id FROM orgs WHERE id = ANY($1) AND id IN (SELECT org_id FROM mine) \
         UNION ALL SELECT 'Channel', id FROM channels \
           WHERE id = ANY($1) AND deleted_at IS NULL AND org_id IN (SELECT org_id FROM mine) \
         UNION ALL SELECT 'Customer', id FROM customers WHERE id = ANY($1) AND org_id IN (SELECT org_id FROM mine) \
         UNION ALL SELECT 'Ticket', id FROM tickets WHERE id = ANY($1) AND org_id IN (SELECT org_id FROM mine) \
         UNION ALL SELECT 'Message', id FROM messages WHERE id = ANY($1) AND org_id IN (SELECT org_id FROM mine) \
         UNION ALL SELECT 'Notification', id FROM notifications \
           WHERE id = ANY($1) AND user_id = $2 AND org_id IN (SELECT org_id FROM mine) \
         UNION ALL SELECT 'Team', id FROM teams WHERE id = ANY($1) AND org_id IN (SELECT org_id FROM mine)",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<SqlUuid, _>(user.0)
    .prepared()
    .load(&mut conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let kind = match row.kind.as_str() {
                "Org" => NodeKind::Org,
                "Channel" => NodeKind::Channel,
                "Customer" => NodeKind::Customer,
                "Ticket" => NodeKind::Ticket,
                "Message" => NodeKind::Message,
                "Notification" => NodeKind::Notification,
                "Team" => NodeKind::Team,
                _ => return None,
            };
            Some(Found { id: row.id, kind })
        })
        .collect())
}
