//! `tickets` and `ticket_reads`: conversations, their inbox ordering and each agent's
//! read position.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use diesel::dsl::{AsSelect, SqlTypeOf, exists};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Timestamptz;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::enums::{TicketKind, TicketPriority, TicketStatus};
use super::ids::{ChannelId, CustomerId, LabelId, MessageId, OrgId, TeamId, TicketId, UserId};
use super::label_page::LabelPage;
use super::page::{Keyset, PageQuery, PageRows};
use super::schema::{ticket_labels, ticket_reads, tickets};
use crate::db::prepared::{LiteralLimit, PrepareOnce as _};

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
    /// The customer has read every message we sent at or before this time.
    pub customer_read_at: Option<DateTime<Utc>>,
    /// The team working it.
    #[serde(default)]
    pub team_id: Option<TeamId>,
    /// When a SNOOZED ticket reopens (set exactly when the status is SNOOZED).
    pub snoozed_until: Option<DateTime<Utc>>,
    /// The oldest customer message after the business's latest reply (none: nothing
    /// unanswered).
    pub waiting_since: Option<DateTime<Utc>>,
    /// The business's latest reply.
    pub last_response_at: Option<DateTime<Utc>>,
    /// The business's first reply.
    pub first_response_at: Option<DateTime<Utc>>,
    /// When the ticket was last resolved (cleared when it reopens).
    pub resolved_at: Option<DateTime<Utc>>,
}

impl Ticket {
    /// For a COMMENT ticket, the commented media id (its thread key).
    pub fn media_id(&self) -> Option<&str> {
        (!self.thread_key.is_empty()).then_some(self.thread_key.as_str())
    }
}

/// Filters of the inbox list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TicketFilter {
    /// Only this status.
    pub status: Option<TicketStatus>,
    /// Only this channel.
    pub channel_id: Option<ChannelId>,
    /// Only this assignee (`Some(None)`: only unassigned tickets).
    pub assignee_id: Option<Option<UserId>>,
    /// Only this customer.
    pub customer_id: Option<CustomerId>,
    /// Only tickets carrying this label.
    pub label_id: Option<LabelId>,
    /// Only this team's tickets.
    pub team_id: Option<TeamId>,
    /// The order.
    pub sort: TicketSort,
}

/// Orders of the inbox list.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum TicketSort {
    /// Most recently active first.
    #[default]
    LastActivity,
    /// Waiting tickets only, the longest-waiting first.
    WaitingSince,
}

impl TicketSort {
    /// Where `a` comes relative to `b` in this order.
    pub fn compare(self, a: &Ticket, b: &Ticket) -> Ordering {
        let (a, b) = (self.key(a), self.key(b));
        let ascending = (a.at, a.id).cmp(&(b.at, b.id));
        match self {
            TicketSort::LastActivity => ascending.reverse(),
            TicketSort::WaitingSince => ascending,
        }
    }

    /// The keyset position of `ticket` in this order.
    pub fn key(self, ticket: &Ticket) -> Keyset {
        let at = match self {
            TicketSort::LastActivity => ticket.last_message_at,
            TicketSort::WaitingSince => ticket.waiting_since.unwrap_or(ticket.last_message_at),
        };
        Keyset {
            at,
            id: ticket.id.0,
        }
    }
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
    /// New team (`Some(None)` removes it).
    pub team_id: Option<Option<TeamId>>,
    /// Snooze end (`Some(None)` clears it; set with the SNOOZED status only).
    pub snoozed_until: Option<Option<DateTime<Utc>>>,
    /// Resolution time (`Some(None)` clears it).
    pub resolved_at: Option<Option<DateTime<Utc>>>,
}

/// A page of `org`'s tickets in `filter.sort` order. Every filter and order is served by
/// an index that leads with the org.
pub async fn list(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    filter: &TicketFilter,
    page: &PageQuery,
) -> QueryResult<PageRows<Ticket>> {
    let fetch = page.limit + 1;
    let rows = match filter.label_id {
        // A page of the dashboards' size keeps its generic plan (no planning per page:
        // 0.44 against 0.24 ms of PostgreSQL per list, BENCHMARKS.md).
        None if page.limit == KEPT_PLAN_PAGE => {
            LiteralLimit::new(ordered(org, filter, page), fetch)
                .load(&mut conn)
                .await?
        }
        None => {
            ordered(org, filter, page)
                .limit(fetch)
                .load(&mut conn)
                .await?
        }
        Some(label) => labelled(conn, org, label, filter, page, fetch).await?,
    };
    Ok(PageRows::from_fetched(rows, page))
}

/// The page size whose lists keep a generic plan ([`LiteralLimit`]): the dashboards'
/// default page of 50 tickets. One size only, so each filter's list is at most two
/// prepared statements per connection.
pub const KEPT_PLAN_PAGE: i64 = 50;

/// `org`'s tickets past `page`'s cursor that pass `filter`'s column filters (not its
/// label), in `filter.sort` order.
fn ordered<'a>(
    org: OrgId,
    filter: &TicketFilter,
    page: &PageQuery,
) -> tickets::BoxedQuery<'a, Pg, SqlTypeOf<AsSelect<Ticket, Pg>>> {
    let mut query = tickets::table
        .filter(tickets::org_id.eq(org))
        .select(Ticket::as_select())
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(tickets::status.eq(status));
    }
    if let Some(channel) = filter.channel_id {
        query = query.filter(tickets::channel_id.eq(channel));
    }
    match filter.assignee_id {
        Some(Some(assignee)) => query = query.filter(tickets::assignee_id.eq(assignee)),
        Some(None) => query = query.filter(tickets::assignee_id.is_null()),
        None => {}
    }
    if let Some(customer) = filter.customer_id {
        query = query.filter(tickets::customer_id.eq(customer));
    }
    if let Some(team) = filter.team_id {
        query = query.filter(tickets::team_id.eq(team));
    }
    match filter.sort {
        TicketSort::LastActivity => {
            query = query.order((tickets::last_message_at.desc(), tickets::id.desc()));
            if let Some(Keyset { at, id }) = page.cursor {
                query = query.filter(
                    tickets::last_message_at.lt(at).or(tickets::last_message_at
                        .eq(at)
                        .and(tickets::id.lt(TicketId(id)))),
                );
            }
        }
        TicketSort::WaitingSince => {
            query = query
                .filter(tickets::waiting_since.is_not_null())
                .order((tickets::waiting_since.asc(), tickets::id.asc()));
            if let Some(Keyset { at, id }) = page.cursor {
                query = query.filter(
                    tickets::waiting_since.gt(at).or(tickets::waiting_since
                        .eq(at)
                        .and(tickets::id.gt(TicketId(id)))),
                );
            }
        }
    }
    query
}

/// The first `fetch` tickets of [`ordered`] that carry `label` ([`LabelPage`]).
async fn labelled(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    label: LabelId,
    filter: &TicketFilter,
    page: &PageQuery,
    fetch: i64,
) -> QueryResult<Vec<Ticket>> {
    let carries = exists(
        ticket_labels::table
            .filter(ticket_labels::org_id.eq(org))
            .filter(ticket_labels::label_id.eq(label))
            .filter(ticket_labels::ticket_id.eq(tickets::id)),
    );
    let page = LabelPage::new(
        ordered(org, filter, page),
        ordered(org, filter, page).filter(carries),
        org,
        label,
        fetch,
    );
    let mut rows: Vec<Ticket> = page.load(&mut conn).await?;
    // The rows come from one half, each in list order; a union's order is not promised.
    rows.sort_by(|a, b| filter.sort.compare(a, b));
    Ok(rows)
}

/// A ticket of `org`.
pub async fn find(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    id: TicketId,
) -> QueryResult<Option<Ticket>> {
    tickets::table
        .filter(tickets::id.eq(id))
        .filter(tickets::org_id.eq(org))
        .select(Ticket::as_select())
        .first(&mut conn)
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
pub async fn find_many(mut conn: &AsyncPgConnection, ids: &[TicketId]) -> QueryResult<Vec<Ticket>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    tickets::table
        .filter(tickets::id.eq_any(ids))
        .select(Ticket::as_select())
        .load(&mut conn)
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

/// Tickets of `org` among `ids`, locked for update in id order.
pub async fn lock_many(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    ids: &[TicketId],
) -> QueryResult<Vec<Ticket>> {
    tickets::table
        .filter(tickets::org_id.eq(org))
        .filter(tickets::id.eq_any(ids))
        .order(tickets::id)
        .for_update()
        .select(Ticket::as_select())
        .load(conn)
        .await
}

/// Applies the same changes to tickets of `org` (locked by the caller); the rows.
pub async fn update_many(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    ids: &[TicketId],
    changes: &TicketChanges,
) -> QueryResult<Vec<Ticket>> {
    let any = changes.status.is_some()
        || changes.priority.is_some()
        || changes.assignee_id.is_some()
        || changes.team_id.is_some()
        || changes.snoozed_until.is_some()
        || changes.resolved_at.is_some();
    if !any {
        // Nothing to set (a labels-only change): the rows as they are.
        return lock_many(conn, org, ids).await;
    }
    diesel::update(tickets::table)
        .filter(tickets::id.eq_any(ids))
        .filter(tickets::org_id.eq(org))
        .set((changes, tickets::updated_at.eq(diesel::dsl::now)))
        .returning(Ticket::as_returning())
        .get_results(conn)
        .await
}

/// Reopens up to `limit` SNOOZED tickets whose time has come; the rows woken. Rows
/// another transaction holds are skipped, and the update re-checks the status, so a
/// ticket is woken once however many callers race.
pub async fn wake_due(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<Ticket>> {
    diesel::sql_query(
        "UPDATE tickets SET status = 'OPEN', snoozed_until = NULL, updated_at = now() \
         WHERE id IN (SELECT id FROM tickets WHERE status = 'SNOOZED' AND snoozed_until <= now() \
                      ORDER BY snoozed_until LIMIT $1 FOR UPDATE SKIP LOCKED) \
           AND status = 'SNOOZED' \
         RETURNING *",
    )
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .prepared()
    .load(conn)
    .await
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
    mut conn: &AsyncPgConnection,
    user: UserId,
    ids: &[TicketId],
) -> QueryResult<Vec<(TicketId, i64)>> {
    ticket_reads::table
        .filter(ticket_reads::user_id.eq(user))
        .filter(ticket_reads::ticket_id.eq_any(ids))
        .select((ticket_reads::ticket_id, ticket_reads::read_inbound_count))
        .load(&mut conn)
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
    /// The team (the channel's default team).
    pub team_id: Option<TeamId>,
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

/// The tickets of these `(channel, customer)` pairs (every thread), locked for update in
/// id order; the caller picks the threads it wants. Looked up pair by pair in the
/// `(channel_id, customer_id, …)` index.
pub async fn find_threads_for_update(
    conn: &mut AsyncPgConnection,
    pairs: &[(ChannelId, CustomerId)],
) -> QueryResult<Vec<Ticket>> {
    use diesel::sql_types::{Array, Uuid as SqlUuid};
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let (channels, customers): (Vec<ChannelId>, Vec<CustomerId>) = pairs.iter().copied().unzip();
    diesel::sql_query(
        "SELECT t.* FROM tickets t \
         JOIN unnest($1::uuid[], $2::uuid[]) AS w(channel_id, customer_id) \
           ON t.channel_id = w.channel_id AND t.customer_id = w.customer_id \
         ORDER BY t.id FOR UPDATE OF t",
    )
    .bind::<Array<SqlUuid>, _>(channels)
    .bind::<Array<SqlUuid>, _>(customers)
    .prepared()
    .load(conn)
    .await
}

/// Inserts tickets (the caller holds their customers' locks, so they cannot exist yet).
pub async fn insert_many(
    conn: &mut AsyncPgConnection,
    tickets: &[NewTicket],
) -> QueryResult<Vec<Ticket>> {
    if tickets.is_empty() {
        return Ok(Vec::new());
    }
    diesel::insert_into(tickets::table)
        .values(tickets)
        .returning(Ticket::as_returning())
        .get_results(conn)
        .await
}

/// New messages that joined one ticket, for its summary fields.
#[derive(Debug, Clone)]
pub struct Activity<'a> {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The message the summary may show: the latest visible of the new ones (else the
    /// latest unsent one), by time then platform id.
    pub message_id: MessageId,
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// Its platform id, if it has one yet (breaks ties in time).
    pub external_id: Option<&'a str>,
    /// It arrived already unsent (only shown when nothing visible is later).
    pub deleted: bool,
    /// Its preview.
    pub preview: &'a str,
    /// The latest time among the new messages.
    pub latest_at: DateTime<Utc>,
    /// How many of them came from the customer (unread counts, reply window, reopen).
    pub inbound: i64,
    /// The latest time among those.
    pub latest_inbound_at: Option<DateTime<Utc>>,
}

impl<'a> Activity<'a> {
    /// The activity of one new message.
    pub fn of_one(
        ticket_id: TicketId,
        message_id: MessageId,
        at: DateTime<Utc>,
        external_id: Option<&'a str>,
        deleted: bool,
        preview: &'a str,
        inbound: bool,
    ) -> Self {
        Activity {
            ticket_id,
            message_id,
            at,
            external_id,
            deleted,
            preview,
            latest_at: at,
            inbound: i64::from(inbound),
            latest_inbound_at: inbound.then_some(at),
        }
    }
}

/// The summary update of [`record_activities`], its `input` rows read from the nine array
/// binds by `$input` (a constant: both statements stay prepared).
///
/// `waiting_since` is the oldest customer message after the latest response, found by
/// scanning the ticket's messages from that response on. The bound is written as a scalar
/// subquery (as in [`absorb`]): under row-level security PostgreSQL puts only leakproof
/// conditions into an index scan and counts `coalesce` of the outer row as leaky, so
/// written inline the bound became a filter and every reply read all of its ticket's
/// messages; as a subquery it is a parameter that bounds the index scan.
macro_rules! record_activities_sql {
    ($input:literal) => {
        concat!(
            "WITH input AS (",
            $input,
            "), \
             decision AS ( \
               SELECT i.*, (m.id IS NULL OR (m.is_deleted AND NOT i.deleted) \
                      OR (m.is_deleted = i.deleted \
                          AND (m.sent_at, coalesce(m.external_id, '')) <= (i.at, coalesce(i.external_id, '')))) \
                      AS replaces, \
                      (i.inbound > 0 AND c.blocked_at IS NULL) AS reopens, \
                      CASE WHEN i.inbound = 0 THEN greatest(t.last_response_at, i.latest_at) \
                           ELSE t.last_response_at END AS responded_at \
               FROM input i JOIN tickets t ON t.id = i.ticket_id JOIN customers c ON c.id = t.customer_id \
               LEFT JOIN messages m ON m.id = t.last_message_id) \
             UPDATE tickets SET \
               last_message_id = CASE WHEN d.replaces THEN d.message_id ELSE last_message_id END, \
               last_message_preview = CASE WHEN d.replaces THEN d.preview ELSE last_message_preview END, \
               last_message_at = greatest(last_message_at, d.latest_at), \
               inbound_count = inbound_count + d.inbound, \
               last_inbound_at = CASE WHEN d.inbound > 0 THEN greatest(last_inbound_at, d.latest_inbound_at) \
                                      ELSE last_inbound_at END, \
               status = CASE WHEN d.reopens AND status IN ('RESOLVED', 'SNOOZED') THEN 'OPEN' ELSE status END, \
               snoozed_until = CASE WHEN d.reopens THEN NULL ELSE snoozed_until END, \
               resolved_at = CASE WHEN d.reopens THEN NULL ELSE resolved_at END, \
               last_response_at = d.responded_at, \
               first_response_at = CASE WHEN d.inbound = 0 THEN least(first_response_at, d.latest_at) \
                                        ELSE first_response_at END, \
               waiting_since = CASE WHEN d.inbound > 0 AND NOT d.reopens THEN waiting_since ELSE \
                 (SELECT min(w.sent_at) FROM messages w WHERE w.ticket_id = tickets.id \
                    AND w.direction = 'INBOUND' \
                    AND w.sent_at > (SELECT coalesce(d.responded_at, '-infinity'::timestamptz))) END, \
               updated_at = now() \
             FROM decision d WHERE tickets.id = d.ticket_id RETURNING tickets.*"
        )
    };
}

/// Moves tickets' summaries on for new messages, one statement for all of them, so that
/// a summary ends the same whatever order messages arrive in: the last-message time is
/// the latest time seen; the last message and its preview are those of the latest visible
/// message (ordered by time, then platform id), or of the latest unsent one while nothing
/// visible exists; inbound messages also bump the unread counter, extend the reply window
/// and reopen a resolved or snoozed ticket (unless the customer is blocked). Response
/// times are set functions too: `last_response_at` is the latest business reply,
/// `first_response_at` the earliest, and `waiting_since` the oldest customer message
/// after `last_response_at`, so they end the same in any order. The caller holds the
/// tickets' row locks and names each ticket once.
pub async fn record_activities(
    conn: &mut AsyncPgConnection,
    activities: &[Activity<'_>],
) -> QueryResult<Vec<Ticket>> {
    if activities.is_empty() {
        return Ok(Vec::new());
    }
    let sql = record_activities_sql!(
        "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::bool[], \
                              $6::text[], $7::timestamptz[], $8::bigint[], $9::timestamptz[]) \
           AS i(ticket_id, message_id, at, external_id, deleted, preview, latest_at, inbound, latest_inbound_at)"
    );
    update_summaries(conn, sql, activities).await
}

/// [`record_activities`] for one ticket; the updated row.
///
/// Its input is one row by construction (the first element of each array), so
/// PostgreSQL's generic plan of it costs what a custom plan does and is kept after the
/// first executions; `unnest` of an array bind is estimated at 10 rows, which made every
/// reply plan the batch statement afresh (2.7 ms of PostgreSQL's CPU per reply, measured
/// with `pg_stat_statements.track_planning`).
pub async fn record_activity(
    conn: &AsyncPgConnection,
    activity: &Activity<'_>,
) -> QueryResult<Ticket> {
    let sql = record_activities_sql!(
        "SELECT ($1::uuid[])[1] AS ticket_id, ($2::uuid[])[1] AS message_id, \
                ($3::timestamptz[])[1] AS at, ($4::text[])[1] AS external_id, \
                ($5::bool[])[1] AS deleted, ($6::text[])[1] AS preview, \
                ($7::timestamptz[])[1] AS latest_at, ($8::bigint[])[1] AS inbound, \
                ($9::timestamptz[])[1] AS latest_inbound_at"
    );
    update_summaries(conn, sql, std::slice::from_ref(activity))
        .await?
        .into_iter()
        .next()
        .ok_or(diesel::result::Error::NotFound)
}

/// Runs one of the [`record_activities_sql`] statements with `activities` bound as its
/// nine arrays.
async fn update_summaries(
    mut conn: &AsyncPgConnection,
    sql: &'static str,
    activities: &[Activity<'_>],
) -> QueryResult<Vec<Ticket>> {
    use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Uuid as SqlUuid};
    diesel::sql_query(sql)
        .bind::<Array<SqlUuid>, _>(activities.iter().map(|a| a.ticket_id).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(activities.iter().map(|a| a.message_id).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(activities.iter().map(|a| a.at).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(
            activities.iter().map(|a| a.external_id).collect::<Vec<_>>(),
        )
        .bind::<Array<Bool>, _>(activities.iter().map(|a| a.deleted).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(activities.iter().map(|a| a.preview).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(activities.iter().map(|a| a.latest_at).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(activities.iter().map(|a| a.inbound).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamptz>>, _>(
            activities
                .iter()
                .map(|a| a.latest_inbound_at)
                .collect::<Vec<_>>(),
        )
        .prepared()
        .load(&mut conn)
        .await
}

/// Sets which message a ticket's summary shows, and its preview.
pub async fn set_last_message(
    conn: &mut AsyncPgConnection,
    ticket: TicketId,
    message: MessageId,
    preview: &str,
) -> QueryResult<()> {
    diesel::update(tickets::table.find(ticket))
        .set((
            tickets::last_message_id.eq(message),
            tickets::last_message_preview.eq(preview),
            tickets::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Raises how far the customer has read `ticket` to `at` (never lowers it); the new
/// position.
pub async fn raise_read_position(
    conn: &mut AsyncPgConnection,
    ticket: TicketId,
    at: DateTime<Utc>,
) -> QueryResult<DateTime<Utc>> {
    diesel::update(tickets::table.find(ticket))
        .set(
            tickets::customer_read_at.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<Timestamptz>,
            >("greatest(customer_read_at, ")
            .bind::<Timestamptz, _>(at)
            .sql(")")),
        )
        .returning(tickets::customer_read_at.assume_not_null())
        .get_result(conn)
        .await
}

/// Folds ticket `from` into `to`, whose messages `from`'s have just joined (merging two
/// customers' conversations on one thread); the updated `to`. Its summary follows the
/// rules of [`record_activities`] over both: the latest visible last message, the
/// latest times, the earliest first response, the summed inbound count and `waiting_since`
/// recomputed from the joined messages. It keeps the more urgent priority and its own
/// assignee and team (as a pair, so the assignee stays a member of the team) unless it
/// has neither, and takes `from`'s status when `from` is still open or pending and `to`
/// is not. Each user's read position adds what they had read of `from`, so nobody sees
/// as unread what they had read in either. The caller holds both rows' locks and deletes
/// `from` afterwards.
pub async fn absorb(
    conn: &mut AsyncPgConnection,
    from: TicketId,
    to: TicketId,
) -> QueryResult<Ticket> {
    use diesel::sql_types::Uuid as SqlUuid;
    diesel::sql_query(
        "INSERT INTO ticket_reads (org_id, ticket_id, user_id, read_inbound_count, last_read_at) \
         SELECT org_id, $2, user_id, read_inbound_count, last_read_at \
         FROM ticket_reads WHERE ticket_id = $1 \
         ON CONFLICT (ticket_id, user_id) DO UPDATE SET \
           read_inbound_count = ticket_reads.read_inbound_count + EXCLUDED.read_inbound_count, \
           last_read_at = greatest(ticket_reads.last_read_at, EXCLUDED.last_read_at)",
    )
    .bind::<SqlUuid, _>(from)
    .bind::<SqlUuid, _>(to)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "WITH pick AS ( \
           SELECT x.last_message_id, x.last_message_preview \
           FROM tickets x LEFT JOIN messages m ON m.id = x.last_message_id \
           WHERE x.id IN ($1, $2) \
           ORDER BY (m.id IS NOT NULL AND NOT m.is_deleted) DESC, m.sent_at DESC NULLS LAST, \
                    coalesce(m.external_id, '') DESC \
           LIMIT 1), \
         reopen AS ( \
           SELECT s.status IN ('OPEN', 'PENDING') AND t.status IN ('RESOLVED', 'SNOOZED') AS yes \
           FROM tickets s, tickets t WHERE s.id = $1 AND t.id = $2) \
         UPDATE tickets t SET \
           last_message_id = pick.last_message_id, \
           last_message_preview = pick.last_message_preview, \
           last_message_at = greatest(t.last_message_at, s.last_message_at), \
           last_inbound_at = greatest(t.last_inbound_at, s.last_inbound_at), \
           inbound_count = t.inbound_count + s.inbound_count, \
           customer_read_at = greatest(t.customer_read_at, s.customer_read_at), \
           last_response_at = greatest(t.last_response_at, s.last_response_at), \
           first_response_at = least(t.first_response_at, s.first_response_at), \
           waiting_since = (SELECT min(w.sent_at) FROM messages w WHERE w.ticket_id = t.id \
             AND w.direction = 'INBOUND' \
             AND w.sent_at > (SELECT coalesce(greatest(t.last_response_at, s.last_response_at), \
                                              '-infinity'::timestamptz))), \
           status = CASE WHEN reopen.yes THEN s.status ELSE t.status END, \
           snoozed_until = CASE WHEN reopen.yes THEN NULL ELSE t.snoozed_until END, \
           resolved_at = CASE WHEN reopen.yes THEN NULL ELSE t.resolved_at END, \
           priority = CASE WHEN array_position(ARRAY['LOW', 'MEDIUM', 'HIGH', 'URGENT'], s.priority) \
                              > array_position(ARRAY['LOW', 'MEDIUM', 'HIGH', 'URGENT'], t.priority) \
                           THEN s.priority ELSE t.priority END, \
           assignee_id = CASE WHEN t.assignee_id IS NULL AND t.team_id IS NULL \
                              THEN s.assignee_id ELSE t.assignee_id END, \
           team_id = CASE WHEN t.assignee_id IS NULL AND t.team_id IS NULL \
                          THEN s.team_id ELSE t.team_id END, \
           updated_at = now() \
         FROM tickets s, pick, reopen WHERE t.id = $2 AND s.id = $1 RETURNING t.*",
    )
    .bind::<SqlUuid, _>(from)
    .bind::<SqlUuid, _>(to)
    .get_result(conn)
    .await
}

/// Locks a ticket's row until the end of the transaction (before reading what its
/// summary should show).
pub async fn lock(conn: &mut AsyncPgConnection, ticket: TicketId) -> QueryResult<()> {
    tickets::table
        .find(ticket)
        .select(tickets::id)
        .for_update()
        .first::<TicketId>(conn)
        .await?;
    Ok(())
}

/// How far the customer has read `ticket`, if they have read anything.
pub async fn read_position(
    conn: &mut AsyncPgConnection,
    ticket: TicketId,
) -> QueryResult<Option<DateTime<Utc>>> {
    tickets::table
        .find(ticket)
        .select(tickets::customer_read_at)
        .first(conn)
        .await
}

/// A ticket of `org`, locked for update (serializes replies on one ticket).
pub async fn find_for_update(
    mut conn: &AsyncPgConnection,
    org: OrgId,
    id: TicketId,
) -> QueryResult<Option<Ticket>> {
    tickets::table
        .filter(tickets::id.eq(id))
        .filter(tickets::org_id.eq(org))
        .for_update()
        .select(Ticket::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// Unassigns every ticket of `org` assigned to `user`; the updated rows.
pub async fn unassign_all(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    user: UserId,
) -> QueryResult<Vec<Ticket>> {
    diesel::update(tickets::table)
        .filter(tickets::org_id.eq(org))
        .filter(tickets::assignee_id.eq(user))
        .set((
            tickets::assignee_id.eq(None::<UserId>),
            tickets::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Ticket::as_returning())
        .get_results(conn)
        .await
}
