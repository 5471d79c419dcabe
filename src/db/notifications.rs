//! `notifications`: per-user alerts, coalesced to one unread row per user and ticket.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::enums::NotificationType;
use super::ids::{MessageId, NotificationId, OrgId, TicketId, UserId};
use super::page::{Keyset, PageQuery, PageRows};
use super::schema::notifications;
use crate::db::prepared::PrepareOnce as _;

/// A notification row.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = notifications)]
pub struct Notification {
    /// Id.
    pub id: NotificationId,
    /// Owning org.
    pub org_id: OrgId,
    /// Recipient.
    pub user_id: UserId,
    /// Why the user is notified.
    pub type_: NotificationType,
    /// The ticket it is about.
    pub ticket_id: Option<TicketId>,
    /// The latest message it is about.
    pub message_id: Option<MessageId>,
    /// How many events were coalesced into it.
    pub count: i32,
    /// When the user read it.
    pub read_at: Option<DateTime<Utc>>,
    /// First event.
    pub created_at: DateTime<Utc>,
    /// Latest event (list order).
    pub updated_at: DateTime<Utc>,
}

/// A page of `user`'s notifications in `org`, most recently bumped first.
pub async fn list(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    user: UserId,
    unread_only: bool,
    page: &PageQuery,
) -> QueryResult<PageRows<Notification>> {
    let mut query = notifications::table
        .filter(notifications::org_id.eq(org))
        .filter(notifications::user_id.eq(user))
        .select(Notification::as_select())
        .order((notifications::updated_at.desc(), notifications::id.desc()))
        .limit(page.limit + 1)
        .into_boxed();
    if unread_only {
        query = query.filter(notifications::read_at.is_null());
    }
    if let Some(Keyset { at, id }) = page.cursor {
        let id = NotificationId(id);
        query = query.filter(
            notifications::updated_at
                .lt(at)
                .or(notifications::updated_at
                    .eq(at)
                    .and(notifications::id.lt(id))),
        );
    }
    Ok(PageRows::from_fetched(query.load(&mut conn).await?, page))
}

/// Number of `user`'s notifications in `org` (all, or unread only).
pub async fn count(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    user: UserId,
    unread_only: bool,
) -> QueryResult<i64> {
    let mut query = notifications::table
        .filter(notifications::org_id.eq(org))
        .filter(notifications::user_id.eq(user))
        .into_boxed();
    if unread_only {
        query = query.filter(notifications::read_at.is_null());
    }
    query.count().get_result(&mut conn).await
}

/// Number of `user`'s unread notifications in `org`.
pub async fn unread_count(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    user: UserId,
) -> QueryResult<i64> {
    notifications::table
        .filter(notifications::org_id.eq(org))
        .filter(notifications::user_id.eq(user))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result(&mut conn)
        .await
}

/// Marks one of `user`'s notifications read (idempotent); the row, if it is theirs.
pub async fn mark_read(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
    id: NotificationId,
) -> QueryResult<Option<Notification>> {
    diesel::update(notifications::table)
        .filter(notifications::id.eq(id))
        .filter(notifications::org_id.eq(org))
        .filter(notifications::user_id.eq(user))
        .set(notifications::read_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("coalesce(read_at, now())")))
        .returning(Notification::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Marks all of `user`'s unread notifications in `org` read; the rows changed.
pub async fn mark_all_read(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
) -> QueryResult<Vec<Notification>> {
    diesel::update(notifications::table)
        .filter(notifications::org_id.eq(org))
        .filter(notifications::user_id.eq(user))
        .filter(notifications::read_at.is_null())
        .set(notifications::read_at.eq(diesel::dsl::now))
        .returning(Notification::as_returning())
        .get_results(conn)
        .await
}

/// What [`move_to_ticket`] did.
#[derive(Debug, Default)]
pub struct Moved {
    /// Each `(user, notification)` of the target ticket that changed.
    pub changed: Vec<(UserId, NotificationId)>,
    /// The unread notifications folded into another, as they were (now deleted).
    pub folded: Vec<Notification>,
}

/// Moves `from`'s notifications to `to` (merging two tickets). A user's unread one is
/// folded into their unread one on `to` if they have one (its count added), so each user
/// still has at most one unread notification per ticket.
pub async fn move_to_ticket(
    conn: &mut AsyncPgConnection,
    from: TicketId,
    to: TicketId,
) -> QueryResult<Moved> {
    use diesel::sql_types::Uuid as SqlUuid;
    let unread: Vec<Notification> = notifications::table
        .filter(notifications::ticket_id.eq(from))
        .filter(notifications::read_at.is_null())
        .select(Notification::as_select())
        .load(conn)
        .await?;
    let rows: Vec<Bumped> = diesel::sql_query(
        "WITH folded AS ( \
           UPDATE notifications n SET count = n.count + s.count, \
                  updated_at = greatest(n.updated_at, s.updated_at) \
           FROM notifications s \
           WHERE s.ticket_id = $1 AND s.read_at IS NULL \
             AND n.ticket_id = $2 AND n.read_at IS NULL AND n.user_id = s.user_id \
           RETURNING s.id AS gone, n.id, n.user_id, n.ticket_id), \
         gone AS (DELETE FROM notifications WHERE id IN (SELECT gone FROM folded)), \
         moved AS ( \
           UPDATE notifications SET ticket_id = $2 \
           WHERE ticket_id = $1 AND id NOT IN (SELECT gone FROM folded) \
           RETURNING id, user_id, ticket_id) \
         SELECT id, user_id, ticket_id FROM folded UNION ALL SELECT id, user_id, ticket_id FROM moved",
    )
    .bind::<SqlUuid, _>(from)
    .bind::<SqlUuid, _>(to)
    .load(conn)
    .await?;
    let changed: Vec<_> = rows.into_iter().map(|b| (b.user_id, b.id)).collect();
    // A moved notification keeps its id; a folded one's id is gone.
    let folded = unread
        .into_iter()
        .filter(|n| !changed.iter().any(|(_, id)| *id == n.id))
        .collect();
    Ok(Moved { changed, folded })
}

/// Notifications by id.
pub async fn find_many(
    mut conn: &AsyncPgConnection,
    ids: &[NotificationId],
) -> QueryResult<Vec<Notification>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    notifications::table
        .filter(notifications::id.eq_any(ids))
        .select(Notification::as_select())
        .load(&mut conn)
        .await
}

#[derive(QueryableByName)]
struct Bumped {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    user_id: UserId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    ticket_id: TicketId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: NotificationId,
}

/// One user's notification about one ticket to create or bump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bump {
    /// The org.
    pub org_id: OrgId,
    /// The recipient.
    pub user_id: UserId,
    /// Why.
    pub kind: NotificationType,
    /// The ticket.
    pub ticket_id: TicketId,
    /// The latest message it is about.
    pub message_id: Option<MessageId>,
    /// How many events it coalesces.
    pub count: i32,
}

/// Creates, or bumps the count of, each user's unread notification for each ticket
/// (coalescing) in one statement; a notification points at the latest of its messages in
/// conversation order (not the last to arrive). `bumps` must name each (user, ticket)
/// once. Rows are written in (user, ticket) order so concurrent bumps lock rows in one
/// order. Returns `(user, ticket, notification)` triples.
pub async fn bump_batch(
    conn: &mut AsyncPgConnection,
    bumps: &[Bump],
) -> QueryResult<Vec<(UserId, TicketId, NotificationId)>> {
    use diesel::sql_types::{Array, Integer, Nullable, Text, Uuid as SqlUuid};
    if bumps.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Bumped> = diesel::sql_query(
        "INSERT INTO notifications (id, org_id, user_id, type, ticket_id, message_id, count) \
         SELECT gen_random_uuid(), o, u, k, t, m, c \
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::int[]) AS b(o, u, k, t, m, c) \
         ORDER BY u, t \
         ON CONFLICT (user_id, ticket_id) WHERE read_at IS NULL DO UPDATE SET \
           count = notifications.count + EXCLUDED.count, type = EXCLUDED.type, \
           message_id = CASE WHEN notifications.message_id IS NULL \
             OR (SELECT (m.sent_at, coalesce(m.external_id, '')) FROM messages m WHERE m.id = notifications.message_id) \
              < (SELECT (m.sent_at, coalesce(m.external_id, '')) FROM messages m WHERE m.id = EXCLUDED.message_id) \
             THEN coalesce(EXCLUDED.message_id, notifications.message_id) ELSE notifications.message_id END, \
           updated_at = now() \
         RETURNING user_id, ticket_id, id",
    )
    .bind::<Array<SqlUuid>, _>(bumps.iter().map(|b| b.org_id).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(bumps.iter().map(|b| b.user_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(bumps.iter().map(|b| b.kind).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(bumps.iter().map(|b| b.ticket_id).collect::<Vec<_>>())
    .bind::<Array<Nullable<SqlUuid>>, _>(bumps.iter().map(|b| b.message_id).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(bumps.iter().map(|b| b.count).collect::<Vec<_>>())
    .prepared()
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.user_id, r.ticket_id, r.id))
        .collect())
}

/// Creates or bumps one user's notification for `ticket` (see [`bump_batch`]).
pub async fn bump(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
    kind: NotificationType,
    ticket: TicketId,
    message: Option<MessageId>,
) -> QueryResult<NotificationId> {
    let bump = Bump {
        org_id: org,
        user_id: user,
        kind,
        ticket_id: ticket,
        message_id: message,
        count: 1,
    };
    let rows = bump_batch(conn, &[bump]).await?;
    rows.into_iter()
        .next()
        .map(|(_, _, id)| id)
        .ok_or(diesel::result::Error::NotFound)
}
