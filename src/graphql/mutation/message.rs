//! `sendMessage`, `retryMessage`, `sendTemplate`, `syncTemplates`.

use async_graphql::{Context, ID, InputObject, Object, Result};

use crate::db::enums::AttachmentType;
use crate::db::enums::Role;
use crate::db::ids::{CannedResponseId, ChannelId, MediaId, MessageId, TicketId};
use crate::db::media;
use crate::error::AppError;
use crate::graphql::context::org_call;
use crate::graphql::types::message::Message;
use crate::graphql::types::parse_id;
use crate::graphql::types::template::WhatsAppTemplate;
use crate::inbox::canned;
use crate::inbox::replies::{self, AttachmentSource, Reply};
use crate::inbox::templates::{self, Parameter};

/// A reply (or internal note) to send on a ticket.
#[derive(InputObject)]
pub struct SendMessageInput {
    /// Text of the reply.
    #[graphql(validator(max_length = 10000))]
    text: Option<String>,
    /// An attachment to send by URL (https).
    #[graphql(validator(max_length = 2048))]
    attachment_url: Option<String>,
    /// IMAGE, VIDEO, AUDIO or FILE (required with `attachmentUrl`; with `attachmentId`
    /// the default follows the file's type).
    attachment_type: Option<AttachmentType>,
    /// A file uploaded with `uploadAttachment` or `POST /media` (instead of
    /// `attachmentUrl`).
    attachment_id: Option<ID>,
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

/// One parameter of a template message: `text` for a text variable, `mediaUrl` (https)
/// for a media header.
#[derive(InputObject)]
pub struct TemplateParameterInput {
    /// Text.
    #[graphql(validator(max_length = 1024))]
    text: Option<String>,
    /// Media by https URL.
    #[graphql(validator(max_length = 2048))]
    media_url: Option<String>,
}

/// A WhatsApp template message to send.
#[derive(InputObject)]
pub struct SendTemplateInput {
    /// The template's name.
    #[graphql(validator(max_length = 512))]
    name: String,
    /// Its language code, e.g. `en_US`.
    #[graphql(validator(max_length = 20))]
    language: String,
    /// One per variable, in the order of `WhatsAppTemplate.variables`.
    #[graphql(default, validator(max_items = 50))]
    parameters: Vec<TemplateParameterInput>,
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
        let attachment = match (
            input.attachment_id,
            input.attachment_url,
            input.attachment_type,
        ) {
            (Some(_), Some(_), _) => {
                return Err(
                    AppError::bad_input("send attachmentId or attachmentUrl, not both").into(),
                );
            }
            (Some(id), None, kind) => {
                let id = parse_id(&id, MediaId::parse)?;
                let object = media::find_object(&mut call.conn, call.org, id)
                    .await
                    .map_err(AppError::from)?
                    .ok_or(AppError::NotFound)?;
                let kind = match kind {
                    Some(kind) => sendable(kind)?,
                    None => kind_of(&object.content_type),
                };
                Some((kind, AttachmentSource::Stored(object)))
            }
            (None, None, None) => None,
            (None, Some(url), Some(kind)) => Some((
                sendable(kind)?,
                AttachmentSource::Url(url.trim().to_owned()),
            )),
            (None, _, _) => {
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
        Ok(Message(call.state.publish(sent)))
    }

    /// Queues an approved WhatsApp template message (allowed more than 24 hours after the
    /// customer's last message); the message shows the rendered text.
    async fn send_template(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        ticket_id: ID,
        input: SendTemplateInput,
    ) -> Result<Message> {
        let ticket = parse_id(&ticket_id, TicketId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let parameters: Vec<Parameter> = input
            .parameters
            .into_iter()
            .map(|p| Parameter {
                text: p.text,
                media_url: p.media_url,
            })
            .collect();
        let sent = templates::send(
            &mut call.conn,
            call.org,
            ticket,
            call.user,
            input.name.trim(),
            input.language.trim(),
            &parameters,
        )
        .await?;
        Ok(Message(call.state.publish(sent)))
    }

    /// Fetches a WhatsApp channel's templates from Meta now; the synced templates.
    async fn sync_templates(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        channel_id: ID,
    ) -> Result<Vec<WhatsAppTemplate>> {
        let channel = parse_id(&channel_id, ChannelId::parse)?;
        let call = org_call(ctx, &org_id, Role::Agent).await?;
        let found = crate::db::channels::find(&call.conn, call.org, channel)
            .await
            .map_err(AppError::from)?
            .ok_or(AppError::NotFound)?;
        let synced = crate::jobs::templates::sync(call.state, found.id).await?;
        Ok(synced.into_iter().map(WhatsAppTemplate).collect())
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

/// The attachment kind a stored file is sent as, from its content type.
fn kind_of(content_type: &str) -> AttachmentType {
    match content_type.split('/').next() {
        Some("image") => AttachmentType::Image,
        Some("video") => AttachmentType::Video,
        Some("audio") => AttachmentType::Audio,
        _ => AttachmentType::File,
    }
}
