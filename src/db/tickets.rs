//! `tickets` and `ticket_reads`: conversations, their inbox ordering and each agent's
//! read position.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::enums::{TicketKind, TicketPriority, TicketStatus};
use super::ids::{ChannelId, CustomerId, MessageId, OrgId, TicketId, UserId};
use super::page::{Keyset, PageQuery, PageRows};
use super::schema::{ticket_reads, tickets};

/// A ticket row.
#[derive(
    Debug, Clone, Queryable, QueryableByName, Selectable, serde::Serialize, serde::Deserialize,
)]
#[diesel(table_name = tickets)]
pub struct Ticket {
    /// Id.
    pub id: TicketId,
    /// Owning org.
    pub org_id: OrgId,
    /// Channel of the conversation.
    pub channel_id: ChannelId,
    /// The customer.
    pub customer_id: CustomerId,
    /// Direct conversation or comment thread.
    pub kind: TicketKind,
    /// Media id for comment tickets, empty for direct ones.
    pub thread_key: String,
    /// Lifecycle state.
    pub status: TicketStatus,
    /// Urgency.
    pub priority: TicketPriority,
    /// Assigned agent.
    pub assignee_id: Option<UserId>,
    /// Latest message in conversation order.
    pub last_message_id: Option<MessageId>,
    /// Its time (inbox order).
    pub last_message_at: DateTime<Utc>,
    /// Its preview text.
    pub last_message_preview: Option<String>,
    /// Last time the customer wrote.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// Inbound messages ever received.
    pub inbound_count: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Filters of the inbox list.
#[derive(Debug, Default, Clone)]
pub struct TicketFilter {
    /// Only this status.
    pub status: Option<TicketStatus>,
    /// Only this channel.
    pub channel_id: Option<ChannelId>,
    /// Only this assignee.
    pub assignee_id: Option<UserId>,
    /// Only this customer.
    pub customer_id: Option<CustomerId>,
}

/// Columns an agent may change; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = tickets)]
pub struct TicketChanges {
    /// New status.
    pub status: Option<TicketStatus>,
    /// New priority.
    pub priority: Option<TicketPriority>,
    /// New assignee (`Some(None)` unassigns).
    pub assignee_id: Option<Option<UserId>>,
}

/// A page of `org`'s tickets by last activity, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    filter: &TicketFilter,
    page: &PageQuery,
) -> QueryResult<PageRows<Ticket>> {
    let mut query = tickets::table
        .filter(tickets::org_id.eq(org))
        .select(Ticket::as_select())
        .order((tickets::last_message_at.desc(), tickets::id.desc()))
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(tickets::status.eq(status));
    }
    if let Some(channel) = filter.channel_id {
        query = query.filter(tickets::channel_id.eq(channel));
    }
    if let Some(assignee) = filter.assignee_id {
        query = query.filter(tickets::assignee_id.eq(assignee));
    }
    if let Some(customer) = filter.customer_id {
        query = query.filter(tickets::customer_id.eq(customer));
    }
    if let Some(Keyset { at, id }) = page.cursor {
        query = query.filter(
            tickets::last_message_at.lt(at).or(tickets::last_message_at
                .eq(at)
                .and(tickets::id.lt(TicketId(id)))),
        );
    }
    Ok(PageRows::from_fetched(query.load(conn).await?, page))
}

/// A ticket of `org`.
pub async fn find(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TicketId,
) -> QueryResult<Option<Ticket>> {
    tickets::table
        .filter(tickets::id.eq(id))
        .filter(tickets::org_id.eq(org))
        .select(Ticket::as_select())
        .first(conn)
        .await
        .optional()
}

/// A ticket by id, whatever its org (workers act on ids they stored).
pub async fn get(conn: &mut AsyncPgConnection, id: TicketId) -> QueryResult<Ticket> {
    tickets::table
        .find(id)
        .select(Ticket::as_select())
        .first(conn)
        .await
}

/// Tickets by id.
pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[TicketId]) -> QueryResult<Vec<Ticket>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    tickets::table
        .filter(tickets::id.eq_any(ids))
        .select(Ticket::as_select())
        .load(conn)
        .await
}

/// Applies agent changes to a ticket of `org`; the updated row, if it exists.
pub async fn update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TicketId,
    changes: &TicketChanges,
) -> QueryResult<Option<Ticket>> {
    diesel::update(tickets::table)
        .filter(tickets::id.eq(id))
        .filter(tickets::org_id.eq(org))
        .set((changes, tickets::updated_at.eq(diesel::dsl::now)))
        .returning(Ticket::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Records that `user` has read everything in `ticket` so far.
pub async fn mark_read(
    conn: &mut AsyncPgConnection,
    ticket: &Ticket,
    user: UserId,
) -> QueryResult<()> {
    diesel::insert_into(ticket_reads::table)
        .values((
            ticket_reads::org_id.eq(ticket.org_id),
            ticket_reads::ticket_id.eq(ticket.id),
            ticket_reads::user_id.eq(user),
            ticket_reads::read_inbound_count.eq(ticket.inbound_count),
        ))
        .on_conflict((ticket_reads::ticket_id, ticket_reads::user_id))
        .do_update()
        .set((
            ticket_reads::read_inbound_count
                .eq(diesel::upsert::excluded(ticket_reads::read_inbound_count)),
            ticket_reads::last_read_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// How many inbound messages `user` has read in each of these tickets (absent = none).
pub async fn read_counts(
    conn: &mut AsyncPgConnection,
    user: UserId,
    ids: &[TicketId],
) -> QueryResult<Vec<(TicketId, i64)>> {
    ticket_reads::table
        .filter(ticket_reads::user_id.eq(user))
        .filter(ticket_reads::ticket_id.eq_any(ids))
        .select((ticket_reads::ticket_id, ticket_reads::read_inbound_count))
        .load(conn)
        .await
}

/// A new ticket.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tickets)]
pub struct NewTicket {
    /// Id.
    pub id: TicketId,
    /// Org.
    pub org_id: OrgId,
    /// Channel.
    pub channel_id: ChannelId,
    /// Customer.
    pub customer_id: CustomerId,
    /// Direct conversation or comment thread.
    pub kind: TicketKind,
    /// Media id of comment tickets, empty otherwise.
    pub thread_key: String,
    /// Initial activity time.
    pub last_message_at: DateTime<Utc>,
}

/// The customer's ticket for a thread, locked for update, if it exists.
pub async fn find_thread_for_update(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    customer: CustomerId,
    kind: TicketKind,
    thread_key: &str,
) -> QueryResult<Option<Ticket>> {
    tickets::table
        .filter(tickets::channel_id.eq(channel))
        .filter(tickets::customer_id.eq(customer))
        .filter(tickets::kind.eq(kind))
        .filter(tickets::thread_key.eq(thread_key))
        .for_update()
        .select(Ticket::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts a ticket (the caller holds the customer's lock, so it cannot exist yet).
pub async fn insert(conn: &mut AsyncPgConnection, ticket: &NewTicket) -> QueryResult<Ticket> {
    diesel::insert_into(tickets::table)
        .values(ticket)
        .returning(Ticket::as_returning())
        .get_result(conn)
        .await
}

/// A message that joined a ticket, for its summary fields.
#[derive(Debug, Clone)]
pub struct Activity<'a> {
    /// The message.
    pub message_id: MessageId,
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// Its preview.
    pub preview: &'a str,
    /// From the customer (bumps unread counts and the reply window, reopens).
    pub inbound: bool,
}

/// Moves a ticket's summary on for a new message: the preview and last-message time only
/// when the message is the latest in conversation order (late deliveries of older
/// messages do not rewind it); inbound messages also bump the unread counter, extend the
/// reply window and reopen a resolved or snoozed ticket.
pub async fn record_activity(
    conn: &mut AsyncPgConnection,
    ticket: TicketId,
    activity: &Activity<'_>,
) -> QueryResult<Ticket> {
    use diesel::sql_types::{Bool, Text, Timestamptz, Uuid as SqlUuid};
    let updated: Vec<Ticket> = diesel::sql_query(
        "UPDATE tickets SET \
           last_message_id = CASE WHEN last_message_id IS NULL OR last_message_at <= $2 THEN $3 ELSE last_message_id END, \
           last_message_preview = CASE WHEN last_message_id IS NULL OR last_message_at <= $2 THEN $4 ELSE last_message_preview END, \
           last_message_at = greatest(last_message_at, $2), \
           inbound_count = inbound_count + CASE WHEN $5 THEN 1 ELSE 0 END, \
           last_inbound_at = CASE WHEN $5 THEN greatest(last_inbound_at, $2) ELSE last_inbound_at END, \
           status = CASE WHEN $5 AND status IN ('RESOLVED', 'SNOOZED') THEN 'OPEN' ELSE status END, \
           updated_at = now() \
         WHERE id = $1 RETURNING *",
    )
    .bind::<SqlUuid, _>(ticket)
    .bind::<Timestamptz, _>(activity.at)
    .bind::<SqlUuid, _>(activity.message_id)
    .bind::<Text, _>(activity.preview)
    .bind::<Bool, _>(activity.inbound)
    .load(conn)
    .await?;
    updated
        .into_iter()
        .next()
        .ok_or(diesel::result::Error::NotFound)
}

/// Replaces the preview of `ticket` when `message` is its last message.
pub async fn replace_preview(
    conn: &mut AsyncPgConnection,
    ticket: TicketId,
    message: MessageId,
    preview: &str,
) -> QueryResult<()> {
    diesel::update(tickets::table.find(ticket))
        .filter(tickets::last_message_id.eq(message))
        .set(tickets::last_message_preview.eq(preview))
        .execute(conn)
        .await?;
    Ok(())
}

/// A ticket of `org`, locked for update (serializes replies on one ticket).
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: TicketId,
) -> QueryResult<Option<Ticket>> {
    tickets::table
        .filter(tickets::id.eq(id))
        .filter(tickets::org_id.eq(org))
        .for_update()
        .select(Ticket::as_select())
        .first(conn)
        .await
        .optional()
}
