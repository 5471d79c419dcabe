//! Agents' replies: validated, checked against the platform's messaging window, and
//! stored as a QUEUED message together with its delivery job in one transaction (the
//! outbound worker sends it). Private notes are stored and never sent; the members they
//! @mention are notified ([`super::mentions`]).
//!
//! What may be sent at all (channel, blocked customer, messaging windows) is decided by
//! [`super::reply_options::decide`], the same decision `Ticket.replyOptions` shows; this
//! module adds the per-message rules (a private reply to a comment must come within 7
//! days and only once per comment, text limits). Refusals say why, rather than burning
//! a Graph call.

use chrono::Utc;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use super::ingest::preview;
use super::outbox::{Committed, Outbox};
use super::reply_options::{self, EXTENDED_WINDOW, ReplyMode, ReplyOptions};
use crate::db::channels::{self, Channel};
use crate::db::enums::{
    AttachmentType, AuthorType, EventKind, MediaStorage, MessageDirection, MessageKind,
    MessageStatus, Platform, TicketKind,
};
use crate::db::ids::{ChannelId, MessageId, OrgId, TicketId, UserId};
use crate::db::media::MediaObject;
use crate::db::messages::{self, Message, MessageChanges};
use crate::db::outbound_jobs;
use crate::db::queue::NewJobs;
use crate::db::templates;
use crate::db::tickets::{self, Activity, Ticket};
use crate::error::{AppError, AppResult};
use crate::media::limits;

/// Longest private note.
const NOTE_CHARS: usize = 10_000;

/// What an agent wants to send.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// Text.
    pub text: Option<String>,
    /// An attachment: its kind and where it is.
    pub attachment: Option<(AttachmentType, AttachmentSource)>,
    /// The message answered (for comment tickets: the comment; default the latest).
    pub reply_to: Option<MessageId>,
    /// Answer a comment with a direct message instead of publicly.
    pub private_reply: bool,
    /// Internal note: stored, never sent.
    pub private_note: bool,
    /// Idempotency key: the same key on the same ticket returns the same message.
    pub client_key: Option<String>,
}

/// Where an outgoing attachment comes from.
#[derive(Debug, Clone)]
pub enum AttachmentSource {
    /// An https URL the platform fetches.
    Url(String),
    /// A file uploaded to our media storage (`POST /media`).
    Stored(MediaObject),
}

/// How a reply will be delivered, decided when it is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A normal reply inside the 24-hour window.
    Standard,
    /// With the HUMAN_AGENT tag (24 h to 7 days).
    HumanAgent,
    /// Public reply to a comment.
    PublicComment,
    /// Private reply (DM) to a comment.
    PrivateComment,
}

/// Validates and queues a reply (or stores a note); returns the new message, and the
/// outbound job for the caller to announce after commit (none for a private note).
pub async fn send(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    ticket: TicketId,
    author: UserId,
    reply: Reply,
) -> AppResult<Committed<Message>> {
    let reply = validate_shape(reply)?;
    conn.transaction(async |conn| {
        // One round: PostgreSQL runs them in this order, so the two reads run once the
        // ticket's lock is held (a duplicate's key committed meanwhile is seen).
        let shared: &AsyncPgConnection = conn;
        let (locked, existing, channel) = futures_util::try_join!(
            tickets::find_for_update(shared, org, ticket),
            async {
                match &reply.client_key {
                    Some(key) => messages::find_by_client_key(shared, ticket, key).await,
                    None => Ok(None),
                }
            },
            async {
                if reply.private_note {
                    return Ok(None);
                }
                channels::of_ticket_with_blocked(shared, ticket).await
            },
        )?;
        let ticket = locked.ok_or(AppError::NotFound)?;
        if let Some(existing) = existing {
            return Ok(Committed::quiet(existing));
        }
        let planned = match channel {
            Some((channel, blocked)) => Some(plan(conn, &ticket, &reply, channel, blocked).await?),
            None if reply.private_note => None,
            None => return Err(AppError::NotFound),
        };
        Ok(store(conn, &ticket, author, &reply, planned).await?)
    })
    .await
}

/// Puts a FAILED reply back in the queue, after the same checks as a new one (the caller
/// announces its job after commit).
pub async fn retry(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: MessageId,
) -> AppResult<Committed<Message>> {
    conn.transaction(async |conn| {
        let message = messages::find(conn, org, id)
            .await?
            .ok_or(AppError::NotFound)?;
        if message.direction != MessageDirection::Outbound
            || message.is_private_note
            || message.author_type != AuthorType::User
        {
            return Err(AppError::bad_input(
                "only replies sent from the inbox can be retried",
            ));
        }
        if message.status != MessageStatus::Failed {
            return Err(AppError::bad_input("only FAILED messages can be retried"));
        }
        let ticket = tickets::find_for_update(conn, org, message.ticket_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let options = options_of(conn, &ticket).await?;
        // A template may go out where free text may not (after WhatsApp's 24 hours).
        let template_allowed = matches!(options.mode, ReplyMode::TemplatesOnly)
            && super::templates::is_template(&message);
        if !template_allowed {
            refusal(conn, &options, ticket.channel_id).await?;
        }
        let changes = MessageChanges {
            status: Some(MessageStatus::Queued),
            error_code: Some(None),
            error_message: Some(None),
            ..Default::default()
        };
        let message = messages::update(conn, message.id, &changes).await?;
        let mut outbox = Outbox::default();
        outbox.queued(outbound_jobs::enqueue(conn, org, message.id, message.channel_id).await?);
        outbox.message_row(EventKind::MessageUpdated, &message);
        Ok(outbox.commit(conn, message).await?)
    })
    .await
}

fn validate_shape(mut reply: Reply) -> AppResult<Reply> {
    reply.text = reply.text.filter(|t| !t.trim().is_empty());
    if reply.text.is_none() && reply.attachment.is_none() {
        return Err(AppError::bad_input("a message needs text or an attachment"));
    }
    if let Some((_, AttachmentSource::Url(url))) = &reply.attachment {
        let valid = url.len() <= 2048
            && url.starts_with("https://")
            && url.len() > "https://".len()
            && !url.chars().any(char::is_whitespace);
        if !valid {
            return Err(AppError::bad_input(
                "attachmentUrl must be an https:// URL of at most 2048 characters",
            ));
        }
    }
    if let Some(key) = &reply.client_key
        && (key.is_empty() || key.len() > 128)
    {
        return Err(AppError::bad_input(
            "clientMessageId must be 1 to 128 characters",
        ));
    }
    if reply.private_note {
        if reply.attachment.is_some() || reply.private_reply {
            return Err(AppError::bad_input("a private note is text only"));
        }
        if reply
            .text
            .as_deref()
            .is_some_and(|t| t.chars().count() > NOTE_CHARS)
        {
            return Err(AppError::bad_input(format!(
                "a private note is at most {NOTE_CHARS} characters"
            )));
        }
    }
    Ok(reply)
}

/// A reply's delivery plan: how it goes out and which comment it answers.
struct Plan {
    delivery: Delivery,
    reply_to: Option<Message>,
}

/// Checks the channel, the target and the window; the plan or why the reply is refused.
async fn plan(
    conn: &mut AsyncPgConnection,
    ticket: &Ticket,
    reply: &Reply,
    channel: Channel,
    blocked: bool,
) -> AppResult<Plan> {
    let options = options_with(conn, ticket, &channel, blocked).await?;
    refusal(conn, &options, channel.id).await?;
    let reply_to = match reply.reply_to {
        Some(id) => match messages::find(conn, ticket.org_id, id).await? {
            Some(m) if m.ticket_id == ticket.id => Some(m),
            _ => {
                return Err(AppError::bad_input(
                    "replyToMessageId is not a message of this ticket",
                ));
            }
        },
        None if ticket.kind == TicketKind::Comment => {
            messages::latest_inbound_comment(conn, ticket.id).await?
        }
        None => None,
    };
    let plan = if ticket.kind == TicketKind::Comment {
        comment_plan(conn, ticket, &channel, reply, reply_to).await?
    } else {
        if reply.private_reply {
            return Err(AppError::bad_input(
                "privateReply only applies to comment tickets",
            ));
        }
        let delivery = if options.mode == ReplyMode::HumanAgent {
            Delivery::HumanAgent
        } else {
            Delivery::Standard
        };
        Plan { delivery, reply_to }
    };
    check_text(&channel, plan.delivery, reply)?;
    if let Some((kind, AttachmentSource::Stored(object))) = &reply.attachment {
        let size = u64::try_from(object.byte_size).unwrap_or(u64::MAX);
        limits::check_outbound(channel.platform, *kind, &object.content_type, size)
            .map_err(AppError::bad_input)?;
    }
    Ok(plan)
}

async fn comment_plan(
    conn: &mut AsyncPgConnection,
    ticket: &Ticket,
    channel: &Channel,
    reply: &Reply,
    reply_to: Option<Message>,
) -> AppResult<Plan> {
    let Some(comment) = reply_to
        .filter(|m| m.kind == MessageKind::Comment && m.direction == MessageDirection::Inbound)
    else {
        return Err(AppError::bad_input(
            "comment replies must answer one of the customer's comments",
        ));
    };
    if reply.attachment.is_some() {
        return Err(AppError::bad_input(
            "comment replies cannot carry attachments",
        ));
    }
    if comment
        .context
        .get("live")
        .and_then(serde_json::Value::as_bool)
        == Some(true)
        && !reply.private_reply
    {
        return Err(AppError::bad_input(
            "live comments can only be answered with a private reply",
        ));
    }
    if !reply.private_reply {
        return Ok(Plan {
            delivery: Delivery::PublicComment,
            reply_to: Some(comment),
        });
    }
    if channel.platform != Platform::Instagram {
        return Err(AppError::bad_input(
            "private replies to comments are only supported on Instagram",
        ));
    }
    if Utc::now() - comment.sent_at > EXTENDED_WINDOW {
        return Err(AppError::bad_input(
            "a private reply must come within 7 days of the comment",
        ));
    }
    let comment_id = comment.external_id.clone().unwrap_or_default();
    if messages::has_private_reply(conn, ticket.id, &comment_id).await? {
        return Err(AppError::bad_input(
            "this comment already has a private reply (Meta allows one)",
        ));
    }
    Ok(Plan {
        delivery: Delivery::PrivateComment,
        reply_to: Some(comment),
    })
}

/// The reply options of `ticket` now, reading its channel and its customer's block.
async fn options_of(
    conn: &AsyncPgConnection,
    ticket: &Ticket,
) -> diesel::QueryResult<ReplyOptions> {
    let (channel, blocked) = channels::of_ticket_with_blocked(conn, ticket.id)
        .await?
        .ok_or(diesel::result::Error::NotFound)?;
    options_with(conn, ticket, &channel, blocked).await
}

/// The reply options of `ticket` now, given its channel and whether its customer is
/// blocked: the decision that both `Ticket.replyOptions` shows and [`send`] / [`retry`]
/// enforce.
pub async fn options_with(
    conn: &AsyncPgConnection,
    ticket: &Ticket,
    channel: &Channel,
    blocked: bool,
) -> diesel::QueryResult<ReplyOptions> {
    let latest = match ticket.kind {
        TicketKind::Comment => messages::latest_inbound_comment(conn, ticket.id).await?,
        TicketKind::Direct => None,
    };
    Ok(reply_options::decide(
        ticket,
        channel,
        blocked,
        latest.as_ref(),
        Utc::now(),
    ))
}

/// Refuses, with the decision's reason, when free text and comment replies are not
/// allowed; for TEMPLATES_ONLY the reason points at `channel`'s sendable templates, as
/// `Ticket.replyOptions` does.
async fn refusal(
    conn: &mut AsyncPgConnection,
    options: &ReplyOptions,
    channel: ChannelId,
) -> AppResult<()> {
    let reason = match options.mode {
        ReplyMode::None => options.reason.clone(),
        ReplyMode::TemplatesOnly => {
            let sendable = super::templates::sendable(templates::list(conn, channel).await?);
            options
                .clone()
                .with_sendable_templates(sendable.len())
                .reason
        }
        _ => return Ok(()),
    };
    Err(AppError::bad_input(reason.unwrap_or_default()))
}

fn check_text(channel: &Channel, delivery: Delivery, reply: &Reply) -> AppResult<()> {
    let Some(text) = &reply.text else {
        return Ok(());
    };
    if let Some((kind, _)) = &reply.attachment {
        let captionless = channel.platform != Platform::WhatsApp || *kind == AttachmentType::Audio;
        if captionless {
            return Err(AppError::bad_input(
                "this channel cannot send text with this attachment: send them as two messages",
            ));
        }
    }
    let (limit, too_long) = match (channel.platform, delivery) {
        (_, Delivery::PublicComment) => (2_200, text.chars().count() > 2_200),
        (Platform::Instagram, _) => (1_000, text.len() > 1_000),
        (Platform::Messenger, _) => (2_000, text.chars().count() > 2_000),
        (Platform::WhatsApp, _) => (4_096, text.chars().count() > 4_096),
    };
    if too_long {
        let unit = if channel.platform == Platform::Instagram && delivery != Delivery::PublicComment
        {
            "bytes"
        } else {
            "characters"
        };
        return Err(AppError::bad_input(format!(
            "text is too long for this channel (at most {limit} {unit})"
        )));
    }
    Ok(())
}

async fn store(
    conn: &mut AsyncPgConnection,
    ticket: &Ticket,
    author: UserId,
    reply: &Reply,
    plan: Option<Plan>,
) -> diesel::QueryResult<Committed<Message>> {
    let now = Utc::now();
    let mut context = serde_json::Map::new();
    let kind = match &plan {
        Some(Plan {
            delivery: Delivery::PublicComment,
            ..
        }) => MessageKind::Comment,
        _ if reply.attachment.is_some() => MessageKind::Media,
        _ => MessageKind::Text,
    };
    if let Some(plan) = &plan {
        match plan.delivery {
            Delivery::HumanAgent => {
                context.insert("tag".into(), json!("HUMAN_AGENT"));
            }
            Delivery::PrivateComment => {
                let comment = plan.reply_to.as_ref().and_then(|m| m.external_id.clone());
                context.insert("private_reply_to".into(), json!(comment));
            }
            Delivery::Standard | Delivery::PublicComment => {}
        }
    }
    let reply_to = plan.as_ref().and_then(|p| p.reply_to.as_ref());
    let message = Message {
        id: MessageId::new(),
        org_id: ticket.org_id,
        ticket_id: ticket.id,
        channel_id: ticket.channel_id,
        direction: MessageDirection::Outbound,
        kind,
        author_type: AuthorType::User,
        author_user_id: Some(author),
        author_customer_id: None,
        text: reply.text.clone(),
        external_id: None,
        reply_to_message_id: reply_to.map(|m| m.id),
        reply_to_external_id: reply_to.and_then(|m| m.external_id.clone()),
        context: serde_json::Value::Object(context),
        status: if plan.is_some() {
            MessageStatus::Queued
        } else {
            MessageStatus::Sent
        },
        error_code: None,
        error_message: None,
        is_deleted: false,
        is_private_note: plan.is_none(),
        edited_at: None,
        sent_at: now,
        client_key: reply.client_key.clone(),
        created_at: now,
        updated_at: now,
    };
    let rows: Vec<messages::Attachment> = reply
        .attachment
        .iter()
        .map(|(kind, source)| {
            let stored = match source {
                AttachmentSource::Stored(object) => Some(object),
                AttachmentSource::Url(_) => None,
            };
            messages::Attachment {
                id: Uuid::new_v4(),
                org_id: ticket.org_id,
                message_id: message.id,
                position: 0,
                type_: *kind,
                raw_type: kind.as_str().to_lowercase(),
                url: match source {
                    AttachmentSource::Url(url) => Some(url.clone()),
                    AttachmentSource::Stored(_) => None,
                },
                mime_type: stored.map(|o| o.content_type.clone()),
                media_id: None,
                title: stored.and_then(|o| o.filename.clone()),
                sha256: stored.map(|o| o.sha256.clone()),
                storage: stored.map(|_| MediaStorage::Stored),
                storage_error: None,
                media_object_id: stored.map(|o| o.id),
            }
        })
        .collect();
    let mut outbox = Outbox::default();
    if plan.is_some() {
        let (ticket, jobs) = queue_outgoing(conn, &message, &rows).await?;
        outbox.queued(jobs);
        outbox.ticket_row(EventKind::TicketUpdated, &ticket);
    } else {
        // A private note: text only, never sent, and the ticket's summary keeps showing
        // the conversation.
        messages::insert_if_new(conn, &message).await?;
    }
    outbox.message_row(EventKind::MessageAdded, &message);
    if message.is_private_note {
        let text = message.text.as_deref().unwrap_or_default();
        super::mentions::notify(conn, &mut outbox, ticket, message.id, author, text).await?;
    }
    outbox.commit(conn, message).await
}

/// Stores an outgoing message to send: the message, its attachments, its delivery job
/// and its ticket's summary, in one round trip. PostgreSQL runs the statements in this
/// order (they go out on the transaction's connection in the order they are polled), so
/// the job and the summary find the message they refer to. (Attachments whose copy is
/// pending queue it in a second round; a reply's never are.) Returns the updated ticket
/// and the job tables that got rows.
pub(super) async fn queue_outgoing(
    conn: &AsyncPgConnection,
    message: &Message,
    attachments: &[messages::Attachment],
) -> diesel::QueryResult<(Ticket, NewJobs)> {
    let kinds: Vec<AttachmentType> = attachments.iter().map(|a| a.type_).collect();
    let preview = preview(message.text.as_deref(), message.kind, &kinds);
    let activity = Activity::of_one(
        message.ticket_id,
        message.id,
        message.sent_at,
        None,
        false,
        &preview,
        false,
    );
    let (_, media_jobs, send_job, ticket) = futures_util::try_join!(
        messages::insert_if_new(conn, message),
        messages::insert_attachments(conn, attachments),
        outbound_jobs::enqueue(conn, message.org_id, message.id, message.channel_id),
        tickets::record_activity(conn, &activity),
    )?;
    let mut jobs = media_jobs;
    jobs.add(send_job);
    Ok((ticket, jobs))
}
