//! `messages`, `attachments` and `reactions`: the content of conversations, in the order
//! the customer or agent sent it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::ids::{ChannelId, CustomerId, MessageId, OrgId, TicketId, UserId};
use super::page::{Keyset, PageQuery, PageRows};
use super::schema::{attachments, messages, reactions};

/// A message row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
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
    /// `INBOUND` or `OUTBOUND`.
    pub direction: String,
    /// `TEXT`, `MEDIA`, `STORY_REPLY`, `STORY_MENTION`, `COMMENT`...
    pub kind: String,
    /// `CUSTOMER`, `USER` or `BUSINESS` (echo of a message sent outside the inbox).
    pub author_type: String,
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
    /// `RECEIVED`, `QUEUED`, `SENT`, `DELIVERED`, `READ` or `FAILED`.
    pub status: String,
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
    /// Normalized type (`IMAGE`, `SHARE`...).
    pub type_: String,
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
    /// `CUSTOMER` or `USER`.
    pub reactor_type: String,
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
    conn: &mut AsyncPgConnection,
    ticket: TicketId,
    page: &PageQuery,
) -> QueryResult<PageRows<Message>> {
    let mut query = messages::table
        .filter(messages::ticket_id.eq(ticket))
        .select(Message::as_select())
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
    Ok(PageRows::from_fetched(query.load(conn).await?, page))
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

/// Messages by id.
pub async fn find_many(
    conn: &mut AsyncPgConnection,
    ids: &[MessageId],
) -> QueryResult<Vec<Message>> {
    messages::table
        .filter(messages::id.eq_any(ids))
        .select(Message::as_select())
        .load(conn)
        .await
}

/// Attachments of these messages, in message order.
pub async fn attachments_of(
    conn: &mut AsyncPgConnection,
    ids: &[MessageId],
) -> QueryResult<Vec<Attachment>> {
    attachments::table
        .filter(attachments::message_id.eq_any(ids))
        .order((attachments::message_id, attachments::position))
        .select(Attachment::as_select())
        .load(conn)
        .await
}

/// Current (not removed) reactions on these messages.
pub async fn reactions_of(
    conn: &mut AsyncPgConnection,
    ids: &[MessageId],
) -> QueryResult<Vec<Reaction>> {
    reactions::table
        .filter(reactions::message_id.eq_any(ids))
        .filter(reactions::removed.eq(false))
        .order((reactions::message_id, reactions::reacted_at))
        .select(Reaction::as_select())
        .load(conn)
        .await
}
