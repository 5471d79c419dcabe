//! Applies normalized Meta events to the inbox inside the caller's transaction.
//!
//! **The rule: the inbox state is a function of the set of deliveries received**, never of
//! their order, timing, duplication, or how many workers applied them. Every step is a
//! merge that ends the same in any order:
//! - first contact creates the customer; a profile field takes the value of the newest
//!   event that reported it (by Meta's time);
//! - a message finds (or reopens, or creates) its ticket, and every insert is idempotent
//!   on the platform's ids, so a delivery applied twice, or the same message in two
//!   deliveries, changes nothing the second time;
//! - a fact about a message that has not arrived yet (unsend, edit, reaction, read,
//!   status) is kept and applied when the message is stored ([`super::facts`]); an unsent
//!   message's content is never written, even for a moment;
//! - ties are decided by Meta's timestamps and ids, never by arrival: the ticket shows its
//!   latest visible message (by time, then platform id), statuses only climb
//!   ([`super::status`]), the newest edit and each reactor's newest reaction win, the
//!   customer's read position only rises and also marks messages that arrive later;
//! - a message that arrives already unsent still counts as received: it bumps the unread
//!   count and the notification like any other, so counters end the same in every order,
//!   and agents see a "Message unsent" placeholder, never its content.
//!
//! **Lock order**, to keep concurrent deliveries from deadlocking and from interleaving
//! on one conversation: all advisory locks first, taken up front in one sorted batch (one
//! per customer and one per platform message id the events name, see `lock_keys`), then
//! tickets, messages, notifications, and the org's event counter last (when the outbox is
//! flushed). A ticket's row is locked (`FOR UPDATE`) before its summary is read and
//! rewritten, so two transactions that touch one ticket through different keys (an
//! edit and an echo, a customer's comment and the business's reply) never overwrite each
//! other's choice of last message. The message-id locks are what make "kept for later" safe: a fact cannot be
//! kept as pending while another transaction is inserting the message it names. The
//! outbound sender takes the same message-id lock before it records a platform id.

use chrono::Utc;
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::arrivals::{self, Sighting, Wanted};
use super::facts::{self, Fact};
use super::normalized::{
    Attachment, Contact, EchoMessage, NormalizedEvent, OwnComment, ReadUpTo, Thread,
};
use super::outbox::Outbox;
use super::updates::{self, UNSENT_PREVIEW};
use crate::db::channels::Channel;
use crate::db::enums::{
    AttachmentType, AuthorType, EventKind, FactKind, MediaStorage, MessageDirection, MessageKind,
    MessageStatus,
};
use crate::db::ids::{ChannelId, MessageId, OrgId};
use crate::db::messages::{self, Message};
use crate::db::pending_facts::{self, NewFact};
use crate::db::prepared::PrepareOnce as _;
use crate::db::tickets::{self, Activity, Ticket};

/// Longest ticket preview, in characters.
const PREVIEW_CHARS: usize = 200;

/// The events of one delivery that were routed to one channel.
pub struct Routed<'a> {
    /// The channel.
    pub channel: &'a Channel,
    /// Its events, in delivery order.
    pub events: &'a [NormalizedEvent],
}

/// Applies every routed event of a group of deliveries, queueing live events in
/// `outbox`. Facts, echoes and the business's comments are applied one by one first (they
/// are few); the customers' messages then land as one set ([`super::arrivals`]) and take
/// whatever facts wait for them, so an unsend or edit in the same group is folded in before
/// the message is written.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    routed: &[Routed<'_>],
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    lock(conn, lock_keys(routed)).await?;
    let mut messages = Vec::new();
    for Routed { channel, events } in routed {
        for event in events.iter() {
            match event {
                NormalizedEvent::Message(message) => messages.push((*channel, message)),
                other => apply_event(conn, channel, other, outbox).await?,
            }
        }
    }
    arrivals::customer_messages(conn, &messages, outbox).await
}

/// Applies one event other than a customer's message.
async fn apply_event(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    event: &NormalizedEvent,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    match event {
        NormalizedEvent::Message(_) => Ok(()),
        NormalizedEvent::Echo(echo) => business_echo(conn, channel, echo, outbox).await,
        NormalizedEvent::OwnComment(comment) => own_comment(conn, channel, comment, outbox).await,
        NormalizedEvent::Reaction(reaction) => {
            let fact = Fact::Reaction(reaction.clone());
            facts::record(conn, channel, &reaction.target_external_id, fact, outbox).await
        }
        NormalizedEvent::Read {
            up_to: ReadUpTo::Message(mid),
            at,
            ..
        } => facts::record(conn, channel, mid, Fact::Read { at: *at }, outbox).await,
        NormalizedEvent::Read {
            customer_id,
            up_to: ReadUpTo::Watermark(at),
            ..
        } => facts::record_watermark(conn, channel, customer_id, *at, outbox).await,
        NormalizedEvent::Unsend { external_id, .. } => {
            facts::record(conn, channel, external_id, Fact::Unsend, outbox).await
        }
        NormalizedEvent::Edit {
            external_id,
            text,
            at,
            ..
        } => {
            let fact = Fact::Edit {
                text: text.clone(),
                at: *at,
            };
            facts::record(conn, channel, external_id, fact, outbox).await
        }
        NormalizedEvent::Status(status) => {
            let fact = Fact::Status(status.clone());
            facts::record(conn, channel, &status.external_id, fact, outbox).await
        }
        NormalizedEvent::TemplateStatus(update) => {
            let Some(waba) = channel.business_account_id.as_deref() else {
                return Ok(());
            };
            let changed = crate::db::templates::set_status(
                conn,
                waba,
                update.template_id.as_deref(),
                &update.name,
                &update.language,
                update.status,
                update.reason.as_deref(),
            )
            .await?;
            tracing::info!(channel.id = %channel.id, template = %update.name, status = %update.status, changed, "WhatsApp template status updated");
            Ok(())
        }
        NormalizedEvent::PlatformError { code, message } => {
            tracing::warn!(channel.id = %channel.id, code, "meta reported a platform error: {message}");
            Ok(())
        }
        NormalizedEvent::Skipped { kind, reason } => {
            tracing::info!(channel.id = %channel.id, kind, reason, "skipped webhook event {kind}");
            Ok(())
        }
    }
}

/// The advisory-lock keys of a group of events: each customer (first contact must create
/// one customer, not two; one conversation is applied by one transaction at a time) and
/// each platform message id they name (a fact and its message are never applied apart).
fn lock_keys(routed: &[Routed<'_>]) -> Vec<String> {
    let mut keys = Vec::new();
    for Routed { channel, events } in routed {
        let id = channel.id;
        for event in events.iter() {
            let (customer, message) = match event {
                NormalizedEvent::Message(m) => {
                    (Some(m.customer.external_id.as_str()), Some(&m.external_id))
                }
                NormalizedEvent::Echo(e) => (Some(e.customer_id.as_str()), Some(&e.external_id)),
                NormalizedEvent::OwnComment(c) => {
                    // The comment it answers: a reply and its parent are never applied apart.
                    keys.extend(c.parent_id.as_deref().map(|p| message_key(id, p)));
                    (None, Some(&c.external_id))
                }
                NormalizedEvent::Reaction(r) => {
                    (Some(r.customer_id.as_str()), Some(&r.target_external_id))
                }
                NormalizedEvent::Read {
                    customer_id, up_to, ..
                } => match up_to {
                    ReadUpTo::Message(mid) => (Some(customer_id.as_str()), Some(mid)),
                    ReadUpTo::Watermark(_) => (Some(customer_id.as_str()), None),
                },
                NormalizedEvent::Unsend {
                    external_id,
                    customer_id,
                } => (Some(customer_id.as_str()), Some(external_id)),
                NormalizedEvent::Edit {
                    external_id,
                    customer_id,
                    ..
                } => (Some(customer_id.as_str()), Some(external_id)),
                NormalizedEvent::Status(s) => (s.customer_id.as_deref(), Some(&s.external_id)),
                NormalizedEvent::PlatformError { .. }
                | NormalizedEvent::Skipped { .. }
                | NormalizedEvent::TemplateStatus(_) => (None, None),
            };
            keys.extend(customer.map(|c| customer_key(id, c)));
            keys.extend(message.map(|m| message_key(id, m)));
        }
    }
    keys
}

fn customer_key(channel: ChannelId, external_id: &str) -> String {
    format!("customer:{channel}:{external_id}")
}

fn message_key(channel: ChannelId, external_id: &str) -> String {
    format!("message:{channel}:{external_id}")
}

/// Takes the locks of platform message ids of `channel` (for work outside ingest that
/// gives a message its platform id, like the outbound sender); call it before touching
/// any row.
pub async fn lock_message_ids(
    conn: &mut AsyncPgConnection,
    channel: ChannelId,
    external_ids: &[&str],
) -> diesel::QueryResult<()> {
    let keys = external_ids
        .iter()
        .map(|id| message_key(channel, id))
        .collect();
    lock(conn, keys).await
}

/// [`lock_message_ids`] for ids of several channels.
pub async fn lock_message_keys(
    conn: &mut AsyncPgConnection,
    keys: &[(ChannelId, &str)],
) -> diesel::QueryResult<()> {
    let keys = keys.iter().map(|(c, id)| message_key(*c, id)).collect();
    lock(conn, keys).await
}

/// Takes transaction-scoped advisory locks on `keys`, in one sorted order.
async fn lock(conn: &mut AsyncPgConnection, mut keys: Vec<String>) -> diesel::QueryResult<()> {
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(h) FROM \
         (SELECT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS sorted",
    )
    .bind::<Array<Text>, _>(&keys)
    .prepared()
    .execute(conn)
    .await?;
    Ok(())
}

/// A message the business sent. Our own sends are matched by platform id (or by the
/// Messenger `metadata` we attached) and only move their status on; anything else was
/// typed in Meta's own apps and is recorded as an outbound message from the business.
async fn business_echo(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    echo: &EchoMessage,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    if updates::confirm_own_send(
        conn,
        channel,
        &echo.external_id,
        echo.metadata.as_deref(),
        outbox,
    )
    .await?
    {
        return Ok(());
    }
    let contact = Contact {
        external_id: echo.customer_id.clone(),
        username: None,
        display_name: None,
    };
    let sighting = Sighting {
        channel,
        contact: &contact,
        at: echo.sent_at,
    };
    let customers = arrivals::customers_of(conn, &[sighting]).await?;
    let customer = customers
        .get(&(channel.id, echo.customer_id.clone()))
        .copied()
        .ok_or(diesel::result::Error::NotFound)?;
    let wanted = Wanted {
        channel,
        customer,
        contact: &echo.customer_id,
        thread: &Thread::Direct,
        at: echo.sent_at,
    };
    let (ticket, created) = arrivals::tickets_of(conn, &[wanted], outbox)
        .await?
        .remove(&arrivals::thread_key(&wanted))
        .ok_or(diesel::result::Error::NotFound)?;
    if !created
        && updates::adopt_in_flight(
            conn,
            ticket.id,
            &echo.external_id,
            echo.text.as_deref(),
            outbox,
        )
        .await?
    {
        return Ok(());
    }
    let kind = if echo.attachments.is_empty() {
        MessageKind::Text
    } else {
        MessageKind::Media
    };
    let row = Message {
        text: echo.text.clone(),
        external_id: Some(echo.external_id.clone()),
        sent_at: echo.sent_at,
        ..new_message(channel, &ticket, Origin::BUSINESS, kind)
    };
    let arrival = Arrival {
        channel,
        ticket: &ticket,
        created,
    };
    record_new(conn, arrival, row, &echo.attachments, outbox).await?;
    Ok(())
}

/// The business's own public comment: a reply in the thread of the comment it answers.
/// A reply to a comment we do not have yet waits for it.
pub(super) async fn own_comment(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    comment: &OwnComment,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    if updates::confirm_own_send(conn, channel, &comment.external_id, None, outbox).await? {
        return Ok(());
    }
    let Some(parent_id) = &comment.parent_id else {
        tracing::info!(channel.id = %channel.id, "business comment outside any thread skipped");
        return Ok(());
    };
    let Some(parent) = messages::find_by_external_id(conn, channel.id, parent_id).await? else {
        let waiting = NewFact {
            channel_id: channel.id,
            external_id: parent_id,
            kind: FactKind::Reply,
            reactor_id: &comment.external_id,
            rank: 0,
            occurred_at: comment.sent_at,
            payload: serde_json::to_value(comment).unwrap_or_default(),
        };
        return pending_facts::keep(conn, &waiting).await;
    };
    let Some(ticket) = tickets::find_for_update(conn, channel.org_id, parent.ticket_id).await?
    else {
        return Ok(());
    };
    if updates::adopt_in_flight(
        conn,
        ticket.id,
        &comment.external_id,
        comment.text.as_deref(),
        outbox,
    )
    .await?
    {
        return Ok(());
    }
    let row = Message {
        text: comment.text.clone(),
        external_id: Some(comment.external_id.clone()),
        reply_to_message_id: Some(parent.id),
        reply_to_external_id: Some(parent.external_id.clone().unwrap_or_default()),
        sent_at: comment.sent_at,
        ..new_message(channel, &ticket, Origin::BUSINESS, MessageKind::Comment)
    };
    let arrival = Arrival {
        channel,
        ticket: &ticket,
        created: false,
    };
    record_new(conn, arrival, row, &[], outbox).await?;
    Ok(())
}

/// Where a new message from Meta lands.
#[derive(Clone, Copy)]
struct Arrival<'a> {
    channel: &'a Channel,
    ticket: &'a Ticket,
    /// The ticket was created for this message.
    created: bool,
}

/// Stores a new message from Meta with the facts that were waiting for it: an unsend or
/// edit is folded in before the row is written; reactions, reads and statuses follow in
/// the same transaction. Updates the ticket's summary, links replies that were waiting for
/// it, and queues the live events. `None` when the message was already stored.
async fn record_new(
    conn: &mut AsyncPgConnection,
    arrival: Arrival<'_>,
    mut row: Message,
    attachments: &[Attachment],
    outbox: &mut Outbox,
) -> diesel::QueryResult<Option<(Message, Ticket)>> {
    let Arrival {
        channel,
        ticket,
        created,
    } = arrival;
    let external_id = row.external_id.clone().unwrap_or_default();
    let waiting = facts::take_for(conn, channel.id, &external_id).await?;
    let mut attachments = attachments.to_vec();
    let later = facts::fold_into_new(&mut row, &mut attachments, waiting.clone());
    if let Some(read) = updates::next_status(&row, row.status, ticket.customer_read_at) {
        row.status = read;
    }
    if !messages::insert_if_new(conn, &row).await? {
        // A duplicate: facts kept meanwhile belong to the stored message.
        if let Some(stored) = messages::find_by_external_id(conn, channel.id, &external_id).await? {
            facts::apply_all(conn, channel, &stored, waiting, outbox).await?;
        }
        tracing::debug!(channel.id = %channel.id, "message already stored; duplicate delivery ignored");
        return Ok(None);
    }
    let rows = attachment_rows(channel.org_id, row.id, &attachments);
    outbox.queued(messages::insert_attachments(conn, &rows).await?);
    messages::link_waiting_replies(conn, &[(channel.id, &external_id, row.id)]).await?;
    let kinds: Vec<AttachmentType> = attachments.iter().map(|a| a.kind).collect();
    let preview = if row.is_deleted {
        UNSENT_PREVIEW.to_owned()
    } else {
        preview(row.text.as_deref(), row.kind, &kinds)
    };
    let activity = Activity::of_one(
        ticket.id,
        row.id,
        row.sent_at,
        row.external_id.as_deref(),
        row.is_deleted,
        &preview,
        row.direction == MessageDirection::Inbound,
    );
    let ticket = tickets::record_activity(conn, &activity).await?;
    let kind = if created {
        EventKind::TicketCreated
    } else {
        EventKind::TicketUpdated
    };
    outbox.ticket_row(kind, &ticket);
    outbox.message_row(EventKind::MessageAdded, &row);
    facts::apply_all(conn, channel, &row, later, outbox).await?;
    for reply in pending_facts::take(conn, channel.id, &external_id, &[FactKind::Reply]).await? {
        match serde_json::from_value::<OwnComment>(reply.payload) {
            // Boxed: a reply is stored through this same function.
            Ok(reply) => Box::pin(own_comment(conn, channel, &reply, outbox)).await?,
            Err(e) => tracing::warn!(error = %e, "unreadable waiting reply dropped"),
        }
    }
    Ok(Some((row, ticket)))
}

/// Who an ingested message comes from, and the columns that follow from it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Origin {
    direction: MessageDirection,
    author_type: AuthorType,
    status: MessageStatus,
}

impl Origin {
    /// The customer wrote it.
    pub(super) const CUSTOMER: Origin = Origin {
        direction: MessageDirection::Inbound,
        author_type: AuthorType::Customer,
        status: MessageStatus::Received,
    };
    /// The business sent it outside the inbox (an echo, or its own comment).
    const BUSINESS: Origin = Origin {
        direction: MessageDirection::Outbound,
        author_type: AuthorType::Business,
        status: MessageStatus::Sent,
    };
}

/// A `kind` message from `origin` for `ticket`, with neutral defaults; callers fill in
/// the rest.
pub(super) fn new_message(
    channel: &Channel,
    ticket: &Ticket,
    origin: Origin,
    kind: MessageKind,
) -> Message {
    let now = Utc::now();
    Message {
        id: MessageId::new(),
        org_id: channel.org_id,
        ticket_id: ticket.id,
        channel_id: channel.id,
        direction: origin.direction,
        kind,
        author_type: origin.author_type,
        author_user_id: None,
        author_customer_id: None,
        text: None,
        external_id: None,
        reply_to_message_id: None,
        reply_to_external_id: None,
        context: serde_json::Value::Object(Default::default()),
        status: origin.status,
        error_code: None,
        error_message: None,
        is_deleted: false,
        is_private_note: false,
        edited_at: None,
        sent_at: now,
        client_key: None,
        created_at: now,
        updated_at: now,
    }
}

pub(super) fn with_flag(context: serde_json::Value, flag: &str) -> serde_json::Value {
    let mut map = match context {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    map.insert(flag.to_owned(), serde_json::Value::Bool(true));
    serde_json::Value::Object(map)
}

pub(super) fn attachment_rows(
    org: OrgId,
    message: MessageId,
    attachments: &[Attachment],
) -> Vec<messages::Attachment> {
    attachments
        .iter()
        .enumerate()
        .map(|(position, a)| messages::Attachment {
            id: Uuid::new_v4(),
            org_id: org,
            message_id: message,
            position: i16::try_from(position).unwrap_or(i16::MAX),
            type_: a.kind,
            raw_type: a.raw_type.clone(),
            url: a.url.clone(),
            mime_type: a.mime_type.clone(),
            media_id: a.media_id.clone(),
            title: a.title.clone(),
            sha256: a.sha256.clone(),
            storage: a.is_copied().then_some(MediaStorage::Pending),
            storage_error: None,
            media_object_id: None,
        })
        .collect()
}

/// The inbox preview of a message: its text, or a description of what it carries (its
/// attachments' kinds, in order).
pub fn preview(text: Option<&str>, kind: MessageKind, attachments: &[AttachmentType]) -> String {
    if let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) {
        return text.chars().take(PREVIEW_CHARS).collect();
    }
    let what = match kind {
        MessageKind::StoryMention => "Mentioned you in their story",
        MessageKind::Unsupported => "Sent something the platform cannot show",
        MessageKind::Location => "Shared a location",
        MessageKind::Contacts => "Shared contacts",
        _ => match attachments.first() {
            Some(AttachmentType::Image) => "Sent a photo",
            Some(AttachmentType::Video) => "Sent a video",
            Some(AttachmentType::Audio) => "Sent a voice message",
            Some(AttachmentType::File) => "Sent a file",
            Some(AttachmentType::Share) => "Shared a post",
            Some(AttachmentType::Reel) => "Shared a reel",
            Some(AttachmentType::Sticker) => "Sent a sticker",
            _ => "Sent an attachment",
        },
    };
    what.to_owned()
}

#[cfg(test)]
mod tests {
    use super::preview;
    use crate::db::enums::MessageKind;

    #[test]
    fn previews_prefer_text_and_describe_the_rest() {
        assert_eq!(preview(Some("  hello "), MessageKind::Text, &[]), "hello");
        assert_eq!(
            preview(None, MessageKind::StoryMention, &[]),
            "Mentioned you in their story"
        );
        assert_eq!(
            preview(Some(&"é".repeat(500)), MessageKind::Text, &[])
                .chars()
                .count(),
            200
        );
    }
}
