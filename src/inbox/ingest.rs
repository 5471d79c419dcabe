//! Applies normalized Meta events to the inbox inside the caller's transaction: first
//! contact creates the customer, a message finds (or reopens, or creates) its ticket, and
//! every insert is idempotent on the platform's ids, so a delivery applied twice, or the
//! same message in two deliveries, changes nothing the second time.
//!
//! Lock order, to keep concurrent deliveries from deadlocking: per-customer advisory
//! locks (all taken up front, sorted), then tickets, messages, notifications, and the
//! org's event counter last (when the outbox is flushed).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::normalized::{
    Attachment, Contact, EchoMessage, InboundMessage, NormalizedEvent, OwnComment, Thread,
};
use super::outbox::Outbox;
use super::updates;
use crate::db::channels::Channel;
use crate::db::enums::{
    AttachmentType, AuthorType, EventKind, MessageDirection, MessageKind, MessageStatus,
    NotificationType, TicketKind,
};
use crate::db::ids::{CustomerId, MessageId, OrgId, UserId};
use crate::db::messages::{self, Message};
use crate::db::tickets::{self, Activity, NewTicket, Ticket};
use crate::db::{customers, notifications, orgs};

/// Longest ticket preview, in characters.
const PREVIEW_CHARS: usize = 200;

/// The events of one delivery that were routed to one channel.
pub struct Routed<'a> {
    /// The channel.
    pub channel: &'a Channel,
    /// Its events, in delivery order.
    pub events: &'a [NormalizedEvent],
}

/// Per-transaction memo of org members (notification recipients).
#[derive(Default)]
struct Members(HashMap<OrgId, Vec<UserId>>);

impl Members {
    async fn of(
        &mut self,
        conn: &mut AsyncPgConnection,
        org: OrgId,
    ) -> diesel::QueryResult<Vec<UserId>> {
        if let Some(members) = self.0.get(&org) {
            return Ok(members.clone());
        }
        let members = orgs::member_ids(conn, org).await?;
        self.0.insert(org, members.clone());
        Ok(members)
    }
}

/// Applies every routed event of one delivery, queueing live events in `outbox`.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    routed: &[Routed<'_>],
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    lock_customers(conn, routed).await?;
    let mut members = Members::default();
    for Routed { channel, events } in routed {
        for event in events.iter() {
            apply_event(conn, channel, event, outbox, &mut members).await?;
        }
    }
    Ok(())
}

async fn apply_event(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    event: &NormalizedEvent,
    outbox: &mut Outbox,
    members: &mut Members,
) -> diesel::QueryResult<()> {
    match event {
        NormalizedEvent::Message(message) => inbound(conn, channel, message, outbox, members).await,
        NormalizedEvent::Echo(echo) => business_echo(conn, channel, echo, outbox).await,
        NormalizedEvent::OwnComment(comment) => own_comment(conn, channel, comment, outbox).await,
        NormalizedEvent::Reaction(reaction) => {
            updates::reaction(conn, channel, reaction, outbox).await
        }
        NormalizedEvent::Read {
            customer_id, up_to, ..
        } => updates::read(conn, channel, customer_id, up_to, outbox).await,
        NormalizedEvent::Unsend { external_id, .. } => {
            updates::unsend(conn, channel, external_id, outbox).await
        }
        NormalizedEvent::Edit {
            external_id,
            text,
            at,
        } => updates::edit(conn, channel, external_id, text.as_deref(), *at, outbox).await,
        NormalizedEvent::Status(status) => updates::status(conn, channel, status, outbox).await,
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

/// Serializes concurrent work on the same customers (first contact must create one
/// customer, not two). Keys are locked in one sorted order.
async fn lock_customers(
    conn: &mut AsyncPgConnection,
    routed: &[Routed<'_>],
) -> diesel::QueryResult<()> {
    let mut keys: Vec<String> = routed
        .iter()
        .flat_map(|r| {
            r.events.iter().filter_map(move |e| match e {
                NormalizedEvent::Message(m) => {
                    Some(customer_lock_key(r.channel, &m.customer.external_id))
                }
                NormalizedEvent::Echo(e) => Some(customer_lock_key(r.channel, &e.customer_id)),
                _ => None,
            })
        })
        .collect();
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
    .execute(conn)
    .await?;
    Ok(())
}

fn customer_lock_key(channel: &Channel, external_id: &str) -> String {
    format!("customer:{}:{external_id}", channel.id)
}

/// The customer behind `contact` on `channel`, created on first contact.
async fn customer_for(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    contact: &Contact,
) -> diesel::QueryResult<CustomerId> {
    if let Some(identity) = customers::find_identity(conn, channel.id, &contact.external_id).await?
    {
        let changed = (contact.username.is_some() && contact.username != identity.username)
            || (contact.display_name.is_some() && contact.display_name != identity.display_name);
        if changed {
            customers::refresh_identity(
                conn,
                identity.id,
                contact.username.as_deref(),
                contact.display_name.as_deref(),
            )
            .await?;
            let name = contact
                .display_name
                .as_deref()
                .or(contact.username.as_deref());
            customers::name_if_unknown(conn, identity.customer_id, name).await?;
        }
        return Ok(identity.customer_id);
    }
    let now = Utc::now();
    let customer = customers::Customer {
        id: CustomerId::new(),
        org_id: channel.org_id,
        name: contact
            .display_name
            .clone()
            .or_else(|| contact.username.clone()),
        avatar_url: None,
        notes: None,
        created_at: now,
        updated_at: now,
    };
    let identity = customers::Identity {
        id: Uuid::new_v4(),
        org_id: channel.org_id,
        customer_id: customer.id,
        channel_id: channel.id,
        platform: channel.platform,
        external_id: contact.external_id.clone(),
        username: contact.username.clone(),
        display_name: contact.display_name.clone(),
        created_at: now,
    };
    customers::insert_with_identity(conn, &customer, &identity).await?;
    tracing::info!(org.id = %channel.org_id, customer.id = %customer.id, "new customer {} on first contact", customer.id);
    Ok(customer.id)
}

/// The customer's ticket for `thread`, created when missing; `true` when created.
async fn ticket_for(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    customer: CustomerId,
    thread: &Thread,
    at: DateTime<Utc>,
) -> diesel::QueryResult<(Ticket, bool)> {
    let (kind, key) = match thread {
        Thread::Direct => (TicketKind::Direct, ""),
        Thread::Comment { media_id } => (TicketKind::Comment, media_id.as_str()),
    };
    if let Some(ticket) =
        tickets::find_thread_for_update(conn, channel.id, customer, kind, key).await?
    {
        return Ok((ticket, false));
    }
    let new = NewTicket {
        id: crate::db::ids::TicketId::new(),
        org_id: channel.org_id,
        channel_id: channel.id,
        customer_id: customer,
        kind,
        thread_key: key.to_owned(),
        last_message_at: at,
    };
    Ok((tickets::insert(conn, &new).await?, true))
}

/// A customer's message: customer, ticket, message, summary, notifications, events.
async fn inbound(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    m: &InboundMessage,
    outbox: &mut Outbox,
    members: &mut Members,
) -> diesel::QueryResult<()> {
    let customer = customer_for(conn, channel, &m.customer).await?;
    let (ticket, created) = ticket_for(conn, channel, customer, &m.thread, m.sent_at).await?;
    let mut context = m.context.clone();
    if m.standby {
        context = with_flag(context, "standby");
    }
    let row = Message {
        author_customer_id: Some(customer),
        text: m.text.clone(),
        external_id: Some(m.external_id.clone()),
        reply_to_external_id: m.reply_to.clone(),
        reply_to_message_id: resolve(conn, channel, m.reply_to.as_deref()).await?,
        context,
        sent_at: m.sent_at,
        ..new_message(channel, &ticket, Origin::CUSTOMER, m.kind)
    };
    if !messages::insert_if_new(conn, &row).await? {
        tracing::debug!(channel.id = %channel.id, "message already stored; duplicate delivery ignored");
        return Ok(());
    }
    messages::insert_attachments(
        conn,
        &attachment_rows(channel.org_id, row.id, &m.attachments),
    )
    .await?;
    let preview = preview(row.text.as_deref(), row.kind, &m.attachments);
    let activity = Activity {
        message_id: row.id,
        at: m.sent_at,
        preview: &preview,
        inbound: true,
    };
    let ticket = tickets::record_activity(conn, ticket.id, &activity).await?;
    let kind = if created {
        EventKind::TicketCreated
    } else {
        EventKind::TicketUpdated
    };
    outbox.ticket(ticket.org_id, kind, ticket.id);
    outbox.message(ticket.org_id, EventKind::MessageAdded, ticket.id, row.id);
    notify(
        conn,
        &ticket,
        row.id,
        matches!(m.thread, Thread::Comment { .. }),
        outbox,
        members,
    )
    .await
}

/// NEW_MESSAGE / NEW_COMMENT for the assignee, or for every member when unassigned.
async fn notify(
    conn: &mut AsyncPgConnection,
    ticket: &Ticket,
    message: MessageId,
    comment: bool,
    outbox: &mut Outbox,
    members: &mut Members,
) -> diesel::QueryResult<()> {
    let recipients = match ticket.assignee_id {
        Some(assignee) => vec![assignee],
        None => members.of(conn, ticket.org_id).await?,
    };
    let kind = if comment {
        NotificationType::NewComment
    } else {
        NotificationType::NewMessage
    };
    let bumped = notifications::bump_many(
        conn,
        ticket.org_id,
        &recipients,
        kind,
        ticket.id,
        Some(message),
    )
    .await?;
    for (user, notification) in bumped {
        outbox.notification(
            ticket.org_id,
            EventKind::NotificationAdded,
            user,
            notification,
            Some(ticket.id),
        );
    }
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
    let customer = customer_for(conn, channel, &contact).await?;
    let (ticket, created) =
        ticket_for(conn, channel, customer, &Thread::Direct, echo.sent_at).await?;
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
    record_outbound(conn, &ticket, created, row, &echo.attachments, outbox).await
}

/// The business's own public comment: a reply in the thread of the comment it answers.
async fn own_comment(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    comment: &OwnComment,
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    if updates::confirm_own_send(conn, channel, &comment.external_id, None, outbox).await? {
        return Ok(());
    }
    let parent = match &comment.parent_id {
        Some(parent) => messages::find_by_external_id(conn, channel.id, parent).await?,
        None => None,
    };
    let Some(parent) = parent else {
        tracing::info!(channel.id = %channel.id, "business comment outside any known thread skipped");
        return Ok(());
    };
    let Some(ticket) = tickets::find(conn, channel.org_id, parent.ticket_id).await? else {
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
    record_outbound(conn, &ticket, false, row, &[], outbox).await
}

async fn record_outbound(
    conn: &mut AsyncPgConnection,
    ticket: &Ticket,
    created: bool,
    row: Message,
    attachments: &[Attachment],
    outbox: &mut Outbox,
) -> diesel::QueryResult<()> {
    if !messages::insert_if_new(conn, &row).await? {
        return Ok(());
    }
    messages::insert_attachments(conn, &attachment_rows(ticket.org_id, row.id, attachments))
        .await?;
    let preview = preview(row.text.as_deref(), row.kind, attachments);
    let activity = Activity {
        message_id: row.id,
        at: row.sent_at,
        preview: &preview,
        inbound: false,
    };
    tickets::record_activity(conn, ticket.id, &activity).await?;
    let kind = if created {
        EventKind::TicketCreated
    } else {
        EventKind::TicketUpdated
    };
    outbox.ticket(ticket.org_id, kind, ticket.id);
    outbox.message(ticket.org_id, EventKind::MessageAdded, ticket.id, row.id);
    Ok(())
}

/// Who an ingested message comes from, and the columns that follow from it.
#[derive(Debug, Clone, Copy)]
struct Origin {
    direction: MessageDirection,
    author_type: AuthorType,
    status: MessageStatus,
}

impl Origin {
    /// The customer wrote it.
    const CUSTOMER: Origin = Origin {
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
fn new_message(channel: &Channel, ticket: &Ticket, origin: Origin, kind: MessageKind) -> Message {
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

async fn resolve(
    conn: &mut AsyncPgConnection,
    channel: &Channel,
    external_id: Option<&str>,
) -> diesel::QueryResult<Option<MessageId>> {
    match external_id {
        Some(id) => messages::id_by_external_id(conn, channel.id, id).await,
        None => Ok(None),
    }
}

fn with_flag(context: serde_json::Value, flag: &str) -> serde_json::Value {
    let mut map = match context {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    map.insert(flag.to_owned(), serde_json::Value::Bool(true));
    serde_json::Value::Object(map)
}

fn attachment_rows(
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
        })
        .collect()
}

/// The inbox preview of a message: its text, or a description of what it carries.
pub fn preview(text: Option<&str>, kind: MessageKind, attachments: &[Attachment]) -> String {
    if let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) {
        return text.chars().take(PREVIEW_CHARS).collect();
    }
    let what = match kind {
        MessageKind::StoryMention => "Mentioned you in their story",
        MessageKind::Unsupported => "Sent something the platform cannot show",
        MessageKind::Location => "Shared a location",
        MessageKind::Contacts => "Shared contacts",
        _ => match attachments.first().map(|a| a.kind) {
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
