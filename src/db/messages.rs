//! `messages`, `attachments` and `reactions`: the content of conversations, in the order
//! the customer or agent sent it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::channel_keys::with_channel_keys;
use super::enums::{
    AttachmentType, AuthorType, MediaStorage, MessageDirection, MessageKind, MessageStatus,
};
use super::ids::{ChannelId, CustomerId, MediaId, MessageId, OrgId, TicketId, UserId};
use super::page::{Keyset, PageQuery, PageRows};
use super::queue::NewJobs;
use super::schema::{attachments, messages, reactions};
use crate::db::prepared::PrepareOnce as _;

/// A message row.
#[derive(
    Debug,
    Clone,
    Queryable,
    QueryableByName,
    Selectable,
    Insertable,
    serde::Serialize,
    serde::Deserialize,
)]
#[diesel(table_name = messages)]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// Owning org.
    pub org_id: OrgId,
    /// Its ticket.
    pub ticket_id: TicketId,
    /// Channel it came from or goes to.
    pub channel_id: ChannelId,
    /// To or from the customer.
    pub direction: MessageDirection,
    /// What it is.
    pub kind: MessageKind,
    /// Who wrote it (`Business`: an echo of a message sent outside the inbox).
    pub author_type: AuthorType,
    /// Author when an agent wrote it.
    pub author_user_id: Option<UserId>,
    /// Author when the customer wrote it.
    pub author_customer_id: Option<CustomerId>,
    /// Text (blank once unsent).
    pub text: Option<String>,
    /// Platform message id.
    pub external_id: Option<String>,
    /// The message it answers, when stored.
    pub reply_to_message_id: Option<MessageId>,
    /// The platform id of the message it answers.
    pub reply_to_external_id: Option<String>,
    /// Platform details (story, payloads, location...).
    pub context: serde_json::Value,
    /// Delivery state.
    pub status: MessageStatus,
    /// Meta's error code of a failed send.
    pub error_code: Option<i32>,
    /// Human-readable failure reason.
    pub error_message: Option<String>,
    /// Unsent by its author.
    pub is_deleted: bool,
    /// Internal note, never sent.
    pub is_private_note: bool,
    /// Last edit.
    pub edited_at: Option<DateTime<Utc>>,
    /// When it was sent (conversation order).
    pub sent_at: DateTime<Utc>,
    /// `sendMessage` idempotency key.
    pub client_key: Option<String>,
    /// When we stored it.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// An attachment row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = attachments)]
pub struct Attachment {
    /// Id.
    pub id: Uuid,
    /// Owning org.
    pub org_id: OrgId,
    /// Its message.
    pub message_id: MessageId,
    /// Order within the message.
    pub position: i16,
    /// Normalized type.
    pub type_: AttachmentType,
    /// The platform's own type.
    pub raw_type: String,
    /// CDN or media URL.
    pub url: Option<String>,
    /// MIME type.
    pub mime_type: Option<String>,
    /// Platform media id.
    pub media_id: Option<String>,
    /// Caption or file name.
    pub title: Option<String>,
    /// SHA-256 reported by the platform.
    pub sha256: Option<String>,
    /// Our copy: pending, stored or failed; `None` for what we do not copy (shares).
    pub storage: Option<MediaStorage>,
    /// Why the copy failed.
    pub storage_error: Option<String>,
    /// Our copy, once stored.
    pub media_object_id: Option<MediaId>,
}

/// A reaction row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reactions)]
pub struct Reaction {
    /// Id.
    pub id: Uuid,
    /// Owning org.
    pub org_id: OrgId,
    /// The message reacted to.
    pub message_id: MessageId,
    /// Customer or agent.
    pub reactor_type: AuthorType,
    /// Customer or user id.
    pub reactor_id: String,
    /// Emoji.
    pub emoji: Option<String>,
    /// Platform reaction name (`love`...).
    pub reaction: Option<String>,
    /// Removed since.
    pub removed: bool,
    /// When it was (un)set.
    pub reacted_at: DateTime<Utc>,
}

/// A page of a ticket's messages, oldest first. Forward pages start after the cursor;
/// backward pages (`last`/`before`) end before it.
pub async fn list(
    mut conn: &AsyncPgConnection,
    ticket: TicketId,
    page: &PageQuery,
) -> QueryResult<PageRows<Message>> {
    let rows = page_of(ticket, page)
        .select(Message::as_select())
        .load(&mut conn)
        .await?;
    Ok(PageRows::from_fetched(rows, page))
}

/// The attachments of the messages [`list`] returns for the same page, by a query that
/// does not wait for it (it selects the page's ids itself), so both can go in one round.
pub async fn attachments_of_page(
    mut conn: &AsyncPgConnection,
    ticket: TicketId,
    page: &PageQuery,
) -> QueryResult<Vec<Attachment>> {
    attachments::table
        .filter(attachments::message_id.eq_any(page_of(ticket, page).select(messages::id)))
        .order((attachments::message_id, attachments::position))
        .select(Attachment::as_select())
        .load(&mut conn)
        .await
}

/// The current reactions on the messages of that page, the same way.
pub async fn reactions_of_page(
    mut conn: &AsyncPgConnection,
    ticket: TicketId,
    page: &PageQuery,
) -> QueryResult<Vec<Reaction>> {
    reactions::table
        .filter(reactions::message_id.eq_any(page_of(ticket, page).select(messages::id)))
        .filter(reactions::removed.eq(false))
        .order((reactions::message_id, reactions::reacted_at))
        .select(Reaction::as_select())
        .load(&mut conn)
        .await
}

/// A page of `ticket`'s messages (one more than asked, to tell whether more follow).
fn page_of(ticket: TicketId, page: &PageQuery) -> messages::BoxedQuery<'static, diesel::pg::Pg> {
    let mut query = messages::table
        .filter(messages::ticket_id.eq(ticket))
        .limit(page.limit + 1)
        .into_boxed();
    query = if page.backward {
        query.order((messages::sent_at.desc(), messages::id.desc()))
    } else {
        query.order((messages::sent_at.asc(), messages::id.asc()))
    };
    if let Some(Keyset { at, id }) = page.cursor {
        let id = MessageId(id);
        query = if page.backward {
            query.filter(
                messages::sent_at
                    .lt(at)
                    .or(messages::sent_at.eq(at).and(messages::id.lt(id))),
            )
        } else {
            query.filter(
                messages::sent_at
                    .gt(at)
                    .or(messages::sent_at.eq(at).and(messages::id.gt(id))),
            )
        };
    }
    query
}

/// Number of messages of `ticket` (an index range count on `(ticket_id, sent_at)`).
pub async fn count_of_ticket(mut conn: &AsyncPgConnection, ticket: TicketId) -> QueryResult<i64> {
    messages::table
        .filter(messages::ticket_id.eq(ticket))
        .count()
        .get_result(&mut conn)
        .await
}

/// The platform id of `channel`'s most recent outbound message that has one.
pub async fn latest_outbound_external_id(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
) -> QueryResult<Option<String>> {
    messages::table
        .filter(messages::channel_id.eq(channel))
        .filter(messages::direction.eq(MessageDirection::Outbound))
        .filter(messages::external_id.is_not_null())
        .order((messages::created_at.desc(), messages::id.desc()))
        .select(messages::external_id.assume_not_null())
        .first(conn)
        .await
        .optional()
}

/// A message of `org`.
pub async fn find(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: MessageId,
) -> QueryResult<Option<Message>> {
    messages::table
        .filter(messages::id.eq(id))
        .filter(messages::org_id.eq(org))
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()
}

/// A message by id, whatever its org (workers act on ids they stored).
pub async fn get(conn: &mut AsyncPgConnection, id: MessageId) -> QueryResult<Message> {
    messages::table
        .find(id)
        .select(Message::as_select())
        .first(conn)
        .await
}

/// Messages by id.
pub async fn find_many(
    mut conn: &AsyncPgConnection,
    ids: &[MessageId],
) -> QueryResult<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    messages::table
        .filter(messages::id.eq_any(ids))
        .select(Message::as_select())
        .load(&mut conn)
        .await
}

/// Attachments of these messages, in message order.
pub async fn attachments_of(
    mut conn: &AsyncPgConnection,
    ids: &[MessageId],
) -> QueryResult<Vec<Attachment>> {
    attachments::table
        .filter(attachments::message_id.eq_any(ids))
        .order((attachments::message_id, attachments::position))
        .select(Attachment::as_select())
        .load(&mut conn)
        .await
}

/// Current (not removed) reactions on these messages.
pub async fn reactions_of(
    mut conn: &AsyncPgConnection,
    ids: &[MessageId],
) -> QueryResult<Vec<Reaction>> {
    reactions::table
        .filter(reactions::message_id.eq_any(ids))
        .filter(reactions::removed.eq(false))
        .order((reactions::message_id, reactions::reacted_at))
        .select(Reaction::as_select())
        .load(&mut conn)
        .await
}

/// Inserts `message` unless the channel already has a message with its external id;
/// `true` when it was inserted (a retried or duplicated delivery gives `false`).
pub async fn insert_if_new(mut conn: &AsyncPgConnection, message: &Message) -> QueryResult<bool> {
    // Kept prepared: diesel would parse and plan it on every call (a `None` column makes
    // its text vary, so diesel never caches it; each variant's text is constant).
    let inserted = diesel::insert_into(messages::table)
        .values(message)
        .on_conflict((messages::channel_id, messages::external_id))
        .do_nothing()
        .prepared()
        .execute(&mut conn)
        .await?;
    Ok(inserted == 1)
}

/// Inserts the messages the channel does not have yet (by platform id) in one statement;
/// the ids of those inserted.
pub async fn insert_many_if_new(
    conn: &mut AsyncPgConnection,
    rows: &[Message],
) -> QueryResult<Vec<MessageId>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    diesel::insert_into(messages::table)
        .values(rows)
        .on_conflict((messages::channel_id, messages::external_id))
        .do_nothing()
        .returning(messages::id)
        .get_results(conn)
        .await
}

/// Our ids of these platform messages `(channel, platform id)` that exist, looked up
/// pair by pair ([`with_channel_keys`]).
pub async fn ids_by_external_ids(
    conn: &mut AsyncPgConnection,
    pairs: &[(ChannelId, &str)],
) -> QueryResult<Vec<(ChannelId, String, MessageId)>> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        channel_id: ChannelId,
        #[diesel(sql_type = diesel::sql_types::Text)]
        external_id: String,
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: MessageId,
    }
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<Found> = with_channel_keys(
        "SELECT m.channel_id, m.external_id, m.id FROM messages m \
         JOIN unnest($1::uuid[], $2::text[]) AS w(channel_id, external_id) \
           ON m.channel_id = w.channel_id AND m.external_id = w.external_id",
        pairs.iter().copied(),
    )
    .prepared()
    .load(conn)
    .await?;
    Ok(found
        .into_iter()
        .map(|f| (f.channel_id, f.external_id, f.id))
        .collect())
}

/// Records the platform ids Meta gave our queued sends `(message, platform id)`, in one
/// statement: each becomes SENT, or READ when the customer already read past it (the
/// ticket's read position). Only messages still queued without an id change; the changed
/// rows.
pub async fn record_platform_ids(
    conn: &mut AsyncPgConnection,
    sent: &[(MessageId, &str)],
) -> QueryResult<Vec<Message>> {
    use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
    if sent.is_empty() {
        return Ok(Vec::new());
    }
    diesel::sql_query(
        "UPDATE messages m SET external_id = x.external_id, \
           status = CASE WHEN t.customer_read_at >= m.sent_at THEN 'READ' ELSE 'SENT' END, \
           error_code = NULL, error_message = NULL, updated_at = now() \
         FROM unnest($1::uuid[], $2::text[]) AS x(id, external_id), tickets t \
         WHERE m.id = x.id AND t.id = m.ticket_id AND m.external_id IS NULL AND m.status = 'QUEUED' \
           AND NOT m.is_private_note \
         RETURNING m.*",
    )
    .bind::<Array<SqlUuid>, _>(sent.iter().map(|s| s.0).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(sent.iter().map(|s| s.1).collect::<Vec<_>>())
    .prepared()
    .load(conn)
    .await
}

/// Inserts the attachments of a new message, and queues a media job for each one whose
/// copy is pending (in the same transaction, so none is forgotten); the job tables it
/// added rows to.
pub async fn insert_attachments(
    mut conn: &AsyncPgConnection,
    rows: &[Attachment],
) -> QueryResult<NewJobs> {
    if rows.is_empty() {
        return Ok(NewJobs::NONE);
    }
    diesel::insert_into(attachments::table)
        .values(rows)
        .execute(&mut conn)
        .await?;
    let pending: Vec<_> = rows
        .iter()
        .filter(|a| a.storage == Some(MediaStorage::Pending))
        .map(|a| (a.org_id, a.id))
        .collect();
    super::media::enqueue(conn, &pending).await
}

/// The message of `channel` with this platform id, locked for update.
pub async fn find_by_external_id(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    external_id: &str,
) -> QueryResult<Option<Message>> {
    messages::table
        .filter(messages::channel_id.eq(channel))
        .filter(messages::external_id.eq(external_id))
        .for_update()
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()
}

/// Our id for the platform message `external_id` of `channel`, if we have it.
pub async fn id_by_external_id(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    external_id: &str,
) -> QueryResult<Option<MessageId>> {
    messages::table
        .filter(messages::channel_id.eq(channel))
        .filter(messages::external_id.eq(external_id))
        .select(messages::id)
        .first(conn)
        .await
        .optional()
}

/// Columns ingestion may change on an existing message; `None` keeps a column.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = messages)]
pub struct MessageChanges {
    /// New text (`Some(None)` blanks it).
    pub text: Option<Option<String>>,
    /// New status.
    pub status: Option<MessageStatus>,
    /// Failure code.
    pub error_code: Option<Option<i32>>,
    /// Failure reason.
    pub error_message: Option<Option<String>>,
    /// Unsent.
    pub is_deleted: Option<bool>,
    /// Edited at.
    pub edited_at: Option<Option<DateTime<Utc>>>,
    /// Platform id (set when our send is accepted).
    pub external_id: Option<Option<String>>,
    /// Platform details (emptied by an unsend).
    pub context: Option<serde_json::Value>,
}

impl MessageChanges {
    /// Applies the changes to a row not stored yet (so a message that arrives after its
    /// unsend or edit is stored as it ends, never as it began).
    pub fn apply_to(self, message: &mut Message) {
        let MessageChanges {
            text,
            status,
            error_code,
            error_message,
            is_deleted,
            edited_at,
            external_id,
            context,
        } = self;
        if let Some(text) = text {
            message.text = text;
        }
        if let Some(status) = status {
            message.status = status;
        }
        if let Some(code) = error_code {
            message.error_code = code;
        }
        if let Some(reason) = error_message {
            message.error_message = reason;
        }
        if let Some(deleted) = is_deleted {
            message.is_deleted = deleted;
        }
        if let Some(at) = edited_at {
            message.edited_at = at;
        }
        if let Some(id) = external_id {
            message.external_id = id;
        }
        if let Some(context) = context {
            message.context = context;
        }
    }
}

/// Applies `changes` to a message; the updated row.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: MessageId,
    changes: &MessageChanges,
) -> QueryResult<Message> {
    diesel::update(messages::table.find(id))
        .set((changes, messages::updated_at.eq(diesel::dsl::now)))
        .returning(Message::as_returning())
        .get_result(conn)
        .await
}

/// Deletes a message's attachments (after an unsend).
pub async fn delete_attachments(conn: &mut AsyncPgConnection, id: MessageId) -> QueryResult<usize> {
    diesel::delete(attachments::table.filter(attachments::message_id.eq(id)))
        .execute(conn)
        .await
}

/// Marks the outbound messages of `ticket` that went out (sent, delivered, or reported
/// failed) at or before `up_to` as READ; returns the ids changed. Queued messages and
/// private notes are left alone. READ is the top of the delivery order (see
/// [`crate::inbox::status`]), so nothing moves backwards.
pub async fn mark_outbound_read(
    conn: &mut AsyncPgConnection,
    ticket: TicketId,
    up_to: DateTime<Utc>,
) -> QueryResult<Vec<MessageId>> {
    diesel::update(messages::table)
        .filter(messages::ticket_id.eq(ticket))
        .filter(messages::direction.eq(MessageDirection::Outbound))
        .filter(messages::is_private_note.eq(false))
        .filter(messages::status.eq_any([
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Failed,
        ]))
        .filter(messages::sent_at.le(up_to))
        .set((
            messages::status.eq(MessageStatus::Read),
            messages::error_code.eq(None::<i32>),
            messages::error_message.eq(None::<String>),
            messages::updated_at.eq(diesel::dsl::now),
        ))
        .returning(messages::id)
        .get_results(conn)
        .await
}

/// Sets or removes one reactor's reaction, unless a newer change is already stored
/// (reactions can arrive out of order); `true` when something changed.
pub async fn upsert_reaction(
    conn: &mut AsyncPgConnection,
    reaction: &NewReaction<'_>,
) -> QueryResult<bool> {
    use diesel::sql_types::{Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
    let changed = diesel::sql_query(
        "INSERT INTO reactions (id, org_id, message_id, reactor_type, reactor_id, emoji, reaction, removed, reacted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (message_id, reactor_type, reactor_id) DO UPDATE SET \
           emoji = EXCLUDED.emoji, reaction = EXCLUDED.reaction, removed = EXCLUDED.removed, \
           reacted_at = EXCLUDED.reacted_at \
         WHERE reactions.reacted_at <= EXCLUDED.reacted_at",
    )
    .bind::<SqlUuid, _>(reaction.id)
    .bind::<SqlUuid, _>(reaction.org_id)
    .bind::<SqlUuid, _>(reaction.message_id)
    .bind::<Text, _>(reaction.reactor_type)
    .bind::<Text, _>(reaction.reactor_id)
    .bind::<Nullable<Text>, _>(reaction.emoji)
    .bind::<Nullable<Text>, _>(reaction.reaction)
    .bind::<Bool, _>(reaction.removed)
    .bind::<Timestamptz, _>(reaction.reacted_at)
    .prepared()
    .execute(conn)
    .await?;
    Ok(changed == 1)
}

/// A reaction change to store.
#[derive(Debug)]
pub struct NewReaction<'a> {
    /// Id (used when the reactor had no reaction yet).
    pub id: Uuid,
    /// Org.
    pub org_id: OrgId,
    /// The message.
    pub message_id: MessageId,
    /// Customer or agent.
    pub reactor_type: AuthorType,
    /// Who.
    pub reactor_id: &'a str,
    /// Emoji.
    pub emoji: Option<&'a str>,
    /// Platform reaction name.
    pub reaction: Option<&'a str>,
    /// Removal.
    pub removed: bool,
    /// When.
    pub reacted_at: DateTime<Utc>,
}

/// The message of `ticket` created with this `sendMessage` idempotency key.
pub async fn find_by_client_key(
    mut conn: &AsyncPgConnection,
    ticket: TicketId,
    key: &str,
) -> QueryResult<Option<Message>> {
    messages::table
        .filter(messages::ticket_id.eq(ticket))
        .filter(messages::client_key.eq(key))
        .select(Message::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// The latest inbound comment of a comment ticket.
pub async fn latest_inbound_comment(
    mut conn: &AsyncPgConnection,
    ticket: TicketId,
) -> QueryResult<Option<Message>> {
    messages::table
        .filter(messages::ticket_id.eq(ticket))
        .filter(messages::direction.eq(MessageDirection::Inbound))
        .filter(messages::kind.eq(MessageKind::Comment))
        .filter(messages::is_deleted.eq(false))
        .order((messages::sent_at.desc(), messages::id.desc()))
        .select(Message::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// Whether a private reply to `comment` was already sent or is on its way.
pub async fn has_private_reply(
    conn: &mut AsyncPgConnection,
    ticket: TicketId,
    comment: &str,
) -> QueryResult<bool> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Text};
    diesel::select(diesel::dsl::exists(
        messages::table
            .filter(messages::ticket_id.eq(ticket))
            .filter(messages::status.ne(MessageStatus::Failed))
            .filter(sql::<Bool>("context->>'private_reply_to' = ").bind::<Text, _>(comment)),
    ))
    .get_result(conn)
    .await
}

/// An outbound message that is still on its way and has no platform id yet, sent on
/// `ticket` with this text: what an early echo of our own send looks like.
pub async fn find_in_flight(
    conn: &mut AsyncPgConnection,
    ticket: TicketId,
    text: Option<&str>,
) -> QueryResult<Option<Message>> {
    messages::table
        .filter(messages::ticket_id.eq(ticket))
        .filter(messages::direction.eq(MessageDirection::Outbound))
        .filter(messages::author_type.eq(AuthorType::User))
        .filter(messages::is_private_note.eq(false))
        .filter(messages::status.eq(MessageStatus::Queued))
        .filter(messages::external_id.is_null())
        .filter(messages::text.is_not_distinct_from(text))
        .order((messages::sent_at, messages::id))
        .for_update()
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()
}

/// The message a ticket's summary shows: the latest visible one in conversation order,
/// or the latest unsent one when none is visible. Ties in time go to the greater platform
/// id, so the choice does not depend on arrival order.
pub async fn latest_for_summary(
    conn: &mut AsyncPgConnection,
    ticket: TicketId,
) -> QueryResult<Option<Message>> {
    messages::table
        .filter(messages::ticket_id.eq(ticket))
        .order((
            messages::is_deleted.asc(),
            messages::sent_at.desc(),
            diesel::dsl::sql::<diesel::sql_types::Text>("coalesce(external_id, '') DESC"),
            messages::id.desc(),
        ))
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()
}

/// Links the replies stored before the messages they answer: for each new message
/// `(channel, external id, id)`, the replies of that channel naming that external id.
pub async fn link_waiting_replies(
    conn: &mut AsyncPgConnection,
    new: &[(ChannelId, &str, MessageId)],
) -> QueryResult<usize> {
    use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
    if new.is_empty() {
        return Ok(0);
    }
    diesel::sql_query(
        "UPDATE messages m SET reply_to_message_id = n.id \
         FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS n(channel_id, external_id, id) \
         WHERE m.channel_id = n.channel_id AND m.reply_to_external_id = n.external_id \
           AND m.reply_to_message_id IS NULL",
    )
    .bind::<Array<SqlUuid>, _>(new.iter().map(|n| n.0).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(new.iter().map(|n| n.1).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(new.iter().map(|n| n.2).collect::<Vec<_>>())
    .prepared()
    .execute(conn)
    .await
}

/// Moves the reactions of message `from` to message `to` (merging an echo-created twin).
pub async fn move_reactions(
    conn: &mut AsyncPgConnection,
    from: MessageId,
    to: MessageId,
) -> QueryResult<usize> {
    diesel::update(reactions::table.filter(reactions::message_id.eq(from)))
        .set(reactions::message_id.eq(to))
        .execute(conn)
        .await
}

/// Deletes a message (an echo-created twin of one of our sends).
pub async fn delete(conn: &mut AsyncPgConnection, id: MessageId) -> QueryResult<usize> {
    diesel::update(crate::db::schema::tickets::table)
        .filter(crate::db::schema::tickets::last_message_id.eq(id))
        .set(crate::db::schema::tickets::last_message_id.eq(None::<MessageId>))
        .execute(conn)
        .await?;
    diesel::delete(messages::table.find(id)).execute(conn).await
}
