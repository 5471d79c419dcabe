//! `sendMessage`, `retryMessage`.

use async_graphql::{Context, ID, InputObject, Object, Result};

use crate::db::enums::AttachmentType;
use crate::db::enums::Role;
use crate::db::ids::{CannedResponseId, MessageId, TicketId};
use crate::error::AppError;
use crate::graphql::context::org_call;
use crate::graphql::types::message::Message;
use crate::graphql::types::parse_id;
use crate::inbox::canned;
use crate::inbox::replies::{self, Reply};

/// A reply (or internal note) to send on a ticket.
#[derive(InputObject)]
pub struct SendMessageInput {
    /// Text of the reply.
    #[graphql(validator(max_length = 10000))]
    text: Option<String>,
    /// An attachment to send by URL (https).
    #[graphql(validator(max_length = 2048))]
    attachment_url: Option<String>,
    /// IMAGE, VIDEO, AUDIO or FILE (required with `attachmentUrl`).
    attachment_type: Option<AttachmentType>,
    /// The message answered. On COMMENT tickets: the comment to answer (default: the
    /// latest inbound comment).
    reply_to_message_id: Option<ID>,
    /// Answer a comment with a direct message instead of a public reply (Instagram).
    #[graphql(default)]
    private_reply: bool,
    /// An internal note: stored and shown to agents, never sent.
    #[graphql(default)]
    private_note: bool,
    /// Send this canned response (rendered on the server for this ticket and sender)
    /// instead of `text`.
    canned_response_id: Option<ID>,
    /// Your idempotency key: retrying with the same key returns the same message
    /// instead of sending twice.
    #[graphql(validator(max_length = 128))]
    client_message_id: Option<String>,
}

/// Sending replies.
#[derive(Default)]
pub struct MessageMutation;

#[Object]
impl MessageMutation {
    /// Queues a reply (status QUEUED; SENT, DELIVERED, READ or FAILED follow live).
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        ticket_id: ID,
        input: SendMessageInput,
    ) -> Result<Message> {
        let ticket = parse_id(&ticket_id, TicketId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let attachment = match (input.attachment_url, input.attachment_type) {
            (None, None) => None,
            (Some(url), Some(kind)) => Some((sendable(kind)?, url.trim().to_owned())),
            _ => {
                return Err(
                    AppError::bad_input("attachmentUrl and attachmentType go together").into(),
                );
            }
        };
        let text = match input.canned_response_id {
            None => input.text,
            Some(_) if input.text.is_some() => {
                return Err(AppError::bad_input("give text or cannedResponseId, not both").into());
            }
            Some(id) => {
                let id = parse_id(&id, CannedResponseId::parse)?;
                Some(canned::render_for(&mut call.conn, call.org, call.user, id, ticket).await?)
            }
        };
        let reply = Reply {
            text,
            attachment,
            reply_to: input
                .reply_to_message_id
                .as_ref()
                .map(|id| parse_id(id, MessageId::parse))
                .transpose()?,
            private_reply: input.private_reply,
            private_note: input.private_note,
            client_key: input.client_message_id,
        };
        let sent = replies::send(&mut call.conn, call.org, ticket, call.user, reply).await?;
        let message = call.state.publish(sent);
        if !message.is_private_note {
            call.state.wakeups().outbound.notify_waiters();
        }
        Ok(Message(message))
    }

    /// Sends a FAILED reply again.
    async fn retry_message(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        message_id: ID,
    ) -> Result<Message> {
        let id = parse_id(&message_id, MessageId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let message = call
            .state
            .publish(replies::retry(&mut call.conn, call.org, id).await?);
        call.state.wakeups().outbound.notify_waiters();
        Ok(Message(message))
    }
}

fn sendable(kind: AttachmentType) -> Result<AttachmentType, AppError> {
    match kind {
        AttachmentType::Image
        | AttachmentType::Video
        | AttachmentType::Audio
        | AttachmentType::File => Ok(kind),
        _ => Err(AppError::bad_input(
            "attachmentType must be IMAGE, VIDEO, AUDIO or FILE",
        )),
    }
}
