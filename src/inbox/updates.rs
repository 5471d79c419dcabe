//! Ingested changes to messages we already have: reactions, read receipts, unsends,
//! edits, delivery statuses, and the echoes that confirm our own sends. An event about a
//! message we do not know is ignored (logged), never an error.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::normalized::{Reaction, ReadUpTo, StatusUpdate};
use super::outbox::Outbox;
use super::status;
use crate::db::channels::Channel;
use crate::db::enums::{AuthorType, EventKind, MessageDirection, MessageStatus, TicketKind};
use crate::db::ids::MessageId;
use crate::db::messages::{self, Message, MessageChanges, NewReaction};
use crate::db::{customers, status_hints, tickets};

/// Prefix of the Messenger `metadata` string our sends carry: `outbound:<message id>`.
pub const SEND_METADATA_PREFIX: &str = "outbound:";

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

/// Records the platform's id on one of our sends and marks it at least SENT.
async fn take_platform_id(
    conn: &mut AsyncPgConnection,
    message: &Message,
    external_id: &str,
    outbox: &mut Outbox,
) -> diesel::QueryResult<Message> {
    let changes = MessageChanges {
        external_id: Some(Some(external_id.to_owned())),
        ..Default::default()
    };
    let message = messages::update(conn, message.id, &changes).await?;
    advance(conn, &message, MessageStatus::Sent, None, outbox).await?;
    Ok(message)
}

/// A delivery status from the platform (WhatsApp `statuses`, Messenger `delivery`).
pub async fn status(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    update: &StatusUpdate,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let Some(message) =
        messages::find_by_external_id(conn, channel.id, &update.external_id).await?
    else {
        // Possibly our own send whose response has not been recorded yet: keep the
        // status until the sender records the id (pruned after the retention).
        let code = update.error_code.and_then(|c| i32::try_from(c).ok());
        let error = update.error_message.as_deref();
        status_hints::remember(
            conn,
            channel.id,
            &update.external_id,
            update.status,
            code,
            error,
        )
        .await?;
        return Ok(());
    };
    let failure = (update.error_code, update.error_message.clone());
    advance(conn, &message, update.status, Some(failure), outbox).await
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

/// Moves an outbound message's status forward (never backwards); a `FAILED` update
/// records `failure` (Meta's code and reason).
pub(crate) async fn advance(
    conn: &mut AsyncPgConnection,
    message: &Message,
    update: MessageStatus,
    failure: Option<(Option<i64>, Option<String>)>,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    if message.direction != MessageDirection::Outbound || message.is_private_note {
        return Ok(());
    }
    let Some(next) = status::advance(message.status, update) else {
        return Ok(());
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
    change(conn, message, &changes, outbox).await?;
    Ok(())
}

/// A customer's reaction added to or removed from a message.
pub async fn reaction(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    reaction: &Reaction,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let Some(target) =
        messages::find_by_external_id(conn, channel.id, &reaction.target_external_id).await?
    else {
        tracing::debug!(channel.id = %channel.id, "reaction to a message we do not know; ignored");
        return Ok(());
    };
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

/// The customer has seen our messages up to a message or a time.
pub async fn read(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    customer_id: &str,
    up_to: &ReadUpTo,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let (ticket, until) = match up_to {
        ReadUpTo::Message(mid) => match messages::find_by_external_id(conn, channel.id, mid).await?
        {
            Some(message) => (message.ticket_id, message.sent_at),
            None => return Ok(()),
        },
        ReadUpTo::Watermark(at) => {
            let Some(identity) = customers::find_identity(conn, channel.id, customer_id).await?
            else {
                return Ok(());
            };
            match tickets::find_thread_for_update(
                conn,
                channel.id,
                identity.customer_id,
                TicketKind::Direct,
                "",
            )
            .await?
            {
                Some(ticket) => (ticket.id, *at),
                None => return Ok(()),
            }
        }
    };
    for id in messages::mark_outbound_read(conn, ticket, until).await? {
        outbox.message(channel.org_id, EventKind::MessageUpdated, ticket, id);
    }
    Ok(())
}

/// The customer unsent a message: it stays as a deleted placeholder, content dropped.
pub async fn unsend(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    external_id: &str,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let Some(message) = inbound_message(conn, channel, external_id).await? else {
        return Ok(());
    };
    if message.is_deleted {
        return Ok(());
    }
    let changes = MessageChanges {
        text: Some(None),
        is_deleted: Some(true),
        ..Default::default()
    };
    change(conn, &message, &changes, outbox).await?;
    messages::delete_attachments(conn, message.id).await?;
    tickets::replace_preview(conn, message.ticket_id, message.id, "Message unsent").await?;
    outbox.ticket(message.org_id, EventKind::TicketUpdated, message.ticket_id);
    Ok(())
}

/// The customer edited a message.
pub async fn edit(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    external_id: &str,
    text: Option<&str>,
    at: DateTime<Utc>,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    let Some(message) = inbound_message(conn, channel, external_id).await? else {
        return Ok(());
    };
    if message.is_deleted || message.edited_at.is_some_and(|e| e >= at) {
        return Ok(());
    }
    let changes = MessageChanges {
        text: Some(text.map(str::to_owned)),
        edited_at: Some(Some(at)),
        ..Default::default()
    };
    change(conn, &message, &changes, outbox).await?;
    Ok(())
}

async fn inbound_message(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    external_id: &str,
) -> diesel::QueryResult<Option<Message>> {
    let message = messages::find_by_external_id(conn, channel.id, external_id).await?;
    Ok(message.filter(|m| m.direction == MessageDirection::Inbound))
}

/// An echo of a send still in flight (its echo beat the Graph API's response): the
/// oldest queued reply on `ticket` with the same text takes the platform id and is
/// recorded as at least SENT; `true` when one did.
pub async fn adopt_in_flight(
    conn: &mut AsyncPgConnection,
    ticket: crate::db::ids::TicketId,
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
