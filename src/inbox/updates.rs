//! Changes to messages we already have: unsends, edits, reactions, reads, delivery
//! statuses, and the echoes that confirm our own sends.
//!
//! Each change is a merge that ends the same whatever order changes arrive in: an unsend
//! wins over everything and drops the content for good; the newest edit (by Meta's time)
//! wins; each reactor's newest reaction wins; statuses only climb the delivery order of
//! [`super::status`]; the customer's read position only rises, and marks every outbound
//! message sent at or before it read, including ones that arrive later. A fact about a
//! message we do not have yet waits in [`super::facts`] and is applied through these same
//! functions when the message arrives.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::facts;
use super::ingest::preview;
use super::normalized::Reaction;
use super::outbox::Outbox;
use super::status;
use crate::db::channels::Channel;
use crate::db::enums::{AuthorType, EventKind, MessageDirection, MessageStatus};
use crate::db::ids::{MessageId, TicketId};
use crate::db::media;
use crate::db::messages::{self, Message, MessageChanges, NewReaction};
use crate::db::queue::NewJobs;
use crate::db::tickets;

/// Prefix of the Messenger `metadata` string our sends carry: `outbound:<message id>`.
pub const SEND_METADATA_PREFIX: &str = "outbound:";

/// The preview of a ticket whose messages were all unsent.
pub const UNSENT_PREVIEW: &str = "Message unsent";

/// If `external_id` (or the Messenger `metadata` we attached, which holds our message
/// id) identifies one of our own sends on `channel`, records it as at least SENT and
/// returns `true`. Without either, see [`adopt_in_flight`].
pub async fn confirm_own_send(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    external_id: &str,
    metadata: Option<&str>,
    outbox: &mut Outbox,
) -> diesel::QueryResult<bool> {
    if let Some(message) = messages::find_by_external_id(conn, channel.id, external_id).await? {
        advance(conn, &message, MessageStatus::Sent, None, outbox).await?;
        return Ok(true);
    }
    let Some(ours) =
        metadata.and_then(|m| MessageId::parse(m.strip_prefix(SEND_METADATA_PREFIX).unwrap_or(m)))
    else {
        return Ok(false);
    };
    let Some(message) = messages::find(conn, channel.org_id, ours).await? else {
        return Ok(false);
    };
    if message.channel_id != channel.id
        || message.direction != MessageDirection::Outbound
        || message.external_id.is_some()
    {
        return Ok(false);
    }
    take_platform_id(conn, &message, external_id, outbox).await?;
    Ok(true)
}

/// Records the platform's id on one of our sends, marks it at least SENT, and applies
/// the facts that were waiting for that id. The caller holds the id's lock
/// ([`super::ingest::lock_message_ids`]).
pub async fn take_platform_id(
    conn: &mut AsyncPgConnection,
    message: &Message,
    external_id: &str,
    outbox: &mut Outbox,
) -> diesel::QueryResult<Message> {
    let changes = MessageChanges {
        external_id: Some(Some(external_id.to_owned())),
        ..Default::default()
    };
    let message = change(conn, message, &changes, outbox).await?;
    let message = advance(conn, &message, MessageStatus::Sent, None, outbox).await?;
    facts::settle(conn, &message, outbox).await
}

/// Applies `changes` to `message` and queues the MESSAGE_UPDATED event dashboards
/// need; the updated row.
pub(crate) async fn change(
    conn: &mut AsyncPgConnection,
    message: &Message,
    changes: &MessageChanges,
    outbox: &mut Outbox,
) -> diesel::QueryResult<Message> {
    let updated = messages::update(conn, message.id, changes).await?;
    outbox.message(
        message.org_id,
        EventKind::MessageUpdated,
        message.ticket_id,
        message.id,
    );
    Ok(updated)
}

/// The status an outbound message takes when `update` arrives: the higher of the two in
/// the delivery order, and READ once the customer has read past the message. `None` when
/// nothing changes.
pub fn next_status(
    message: &Message,
    update: MessageStatus,
    read_position: Option<DateTime<Utc>>,
) -> Option<MessageStatus> {
    if message.direction != MessageDirection::Outbound || message.is_private_note {
        return None;
    }
    let next = status::advance(message.status, update).unwrap_or(message.status);
    let gone_out = matches!(
        next,
        MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Failed
    );
    let read = gone_out && read_position.is_some_and(|at| message.sent_at <= at);
    let next = if read { MessageStatus::Read } else { next };
    (next != message.status).then_some(next)
}

/// Moves an outbound message's status forward (never backwards); a `FAILED` update
/// records `failure` (Meta's code and reason). Returns the row as it now is.
pub(crate) async fn advance(
    conn: &mut AsyncPgConnection,
    message: &Message,
    update: MessageStatus,
    failure: Option<(Option<i64>, Option<String>)>,
    outbox: &mut Outbox,
) -> diesel::QueryResult<Message> {
    if message.direction != MessageDirection::Outbound || message.is_private_note {
        return Ok(message.clone());
    }
    let read_position = tickets::read_position(conn, message.ticket_id).await?;
    let Some(next) = next_status(message, update, read_position) else {
        return Ok(message.clone());
    };
    let (error_code, error_message) = if next == MessageStatus::Failed {
        let (code, text) = failure.unwrap_or_default();
        (Some(code.and_then(|c| i32::try_from(c).ok())), Some(text))
    } else {
        (Some(None), Some(None))
    };
    let changes = MessageChanges {
        status: Some(next),
        error_code,
        error_message,
        ..Default::default()
    };
    change(conn, message, &changes, outbox).await
}

/// Sets or removes a customer's reaction on `target`, unless a newer change by the same
/// customer is stored.
pub async fn react(
    conn: &mut AsyncPgConnection,
    target: &Message,
    reaction: &Reaction,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let new = NewReaction {
        id: Uuid::new_v4(),
        org_id: target.org_id,
        message_id: target.id,
        reactor_type: AuthorType::Customer,
        reactor_id: &reaction.customer_id,
        emoji: reaction.emoji.as_deref(),
        reaction: reaction.reaction.as_deref(),
        removed: reaction.removed,
        reacted_at: reaction.at,
    };
    if messages::upsert_reaction(conn, &new).await? {
        outbox.message(
            target.org_id,
            EventKind::MessageUpdated,
            target.ticket_id,
            target.id,
        );
    }
    Ok(())
}

/// The customer has read `ticket` up to `at`: the read position rises, and every
/// outbound message that went out at or before it is READ. Returns the position.
pub async fn read_up_to(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    ticket: TicketId,
    at: DateTime<Utc>,
    outbox: &mut Outbox,
) -> diesel::QueryResult<DateTime<Utc>> {
    let position = tickets::raise_read_position(conn, ticket, at).await?;
    for id in messages::mark_outbound_read(conn, ticket, position).await? {
        outbox.message(channel.org_id, EventKind::MessageUpdated, ticket, id);
    }
    Ok(position)
}

/// What an unsend changes on `message`: the text, details and edit mark are dropped and
/// the message stays as a deleted placeholder. `None` when there is nothing to do (already
/// unsent, or not the customer's message).
pub fn unsend_changes(message: &Message) -> Option<MessageChanges> {
    (message.direction == MessageDirection::Inbound && !message.is_deleted).then(|| {
        MessageChanges {
            text: Some(None),
            is_deleted: Some(true),
            edited_at: Some(None),
            context: Some(serde_json::Value::Object(Default::default())),
            ..Default::default()
        }
    })
}

/// What an edit to `text` at `at` changes on `message`: nothing when the message was
/// unsent or a newer edit is stored (same time: the greater text wins, so the outcome
/// does not depend on arrival order).
pub fn edit_changes(
    message: &Message,
    text: Option<&str>,
    at: DateTime<Utc>,
) -> Option<MessageChanges> {
    if message.direction != MessageDirection::Inbound || message.is_deleted {
        return None;
    }
    let newer = match message.edited_at {
        None => true,
        Some(edited) => (at, text) > (edited, message.text.as_deref()),
    };
    newer.then(|| MessageChanges {
        text: Some(text.map(str::to_owned)),
        edited_at: Some(Some(at)),
        ..Default::default()
    })
}

/// Unsends a stored message: content dropped, attachments deleted with our stored copies
/// of them (the bytes are erased by the media worker after the commit), and the ticket's
/// summary falls back to the latest visible message.
pub async fn unsend(
    conn: &mut AsyncPgConnection,
    message: &Message,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let Some(changes) = unsend_changes(message) else {
        return Ok(());
    };
    change(conn, message, &changes, outbox).await?;
    let erasures = media::forget_objects_of(conn, message.id).await?;
    outbox.queued(NewJobs::MEDIA_JOBS.when(erasures > 0));
    messages::delete_attachments(conn, message.id).await?;
    refresh_summary(conn, message.ticket_id, outbox).await
}

/// Edits a stored message (when the edit is the newest) and refreshes the ticket's
/// preview.
pub async fn edit(
    conn: &mut AsyncPgConnection,
    message: &Message,
    text: Option<&str>,
    at: DateTime<Utc>,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let Some(changes) = edit_changes(message, text, at) else {
        return Ok(());
    };
    change(conn, message, &changes, outbox).await?;
    refresh_summary(conn, message.ticket_id, outbox).await
}

/// Points the ticket's summary at the message it should show (the latest visible one,
/// else the latest unsent one), with its current preview.
pub(crate) async fn refresh_summary(
    conn: &mut AsyncPgConnection,
    ticket: TicketId,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    // Lock first: the choice must see every message committed before it is written.
    tickets::lock(conn, ticket).await?;
    let Some(latest) = messages::latest_for_summary(conn, ticket).await? else {
        return Ok(());
    };
    let text = if latest.is_deleted {
        UNSENT_PREVIEW.to_owned()
    } else {
        let attachments = messages::attachments_of(conn, &[latest.id]).await?;
        let kinds: Vec<_> = attachments.iter().map(|a| a.type_).collect();
        preview(latest.text.as_deref(), latest.kind, &kinds)
    };
    tickets::set_last_message(conn, ticket, latest.id, &text).await?;
    outbox.ticket(latest.org_id, EventKind::TicketUpdated, ticket);
    Ok(())
}

/// An echo of a send still in flight (its echo beat the Graph API's response): the
/// oldest queued reply on `ticket` with the same text takes the platform id and is
/// recorded as at least SENT; `true` when one did.
pub async fn adopt_in_flight(
    conn: &mut AsyncPgConnection,
    ticket: TicketId,
    external_id: &str,
    text: Option<&str>,
    outbox: &mut Outbox,
) -> diesel::QueryResult<bool> {
    let Some(message) = messages::find_in_flight(conn, ticket, text).await? else {
        return Ok(false);
    };
    let message = take_platform_id(conn, &message, external_id, outbox).await?;
    tracing::info!(message.id = %message.id, "early echo matched to a send in flight");
    Ok(true)
}
