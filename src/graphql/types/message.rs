//! `Message`, `Attachment`, `Reaction` and `Author`.

use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, Utc};

use super::customer::Customer;
use super::ticket::Ticket;
use super::to_id;
use super::user::User;
use crate::db::enums::{
    AttachmentType, AuthorType, MediaStorage, MessageDirection, MessageKind, MessageStatus,
};
use crate::db::{messages, tickets};
use crate::graphql::flat::{Flat, RowFields, out, text};
use crate::graphql::loaders::{AttachmentsOf, Loaders, ReactionsOf};

/// One message of a conversation.
pub struct Message(pub messages::Message);

#[Object]
impl Message {
    /// The object's id (a UUID); `Query.node(id:)` fetches it again.
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn ticket(&self, ctx: &Context<'_>) -> Result<Ticket> {
        let ticket: Option<tickets::Ticket> =
            ctx.data::<Loaders>()?.load_one(self.0.ticket_id).await?;
        ticket.map(Ticket).ok_or_else(|| "ticket not found".into())
    }

    async fn direction(&self) -> Result<MessageDirection> {
        Ok(self.0.direction)
    }

    async fn kind(&self) -> Result<MessageKind> {
        Ok(self.0.kind)
    }

    /// Text or caption; `null` once the author unsent it.
    async fn text(&self) -> Option<&str> {
        self.0.text.as_deref()
    }

    async fn status(&self) -> Result<MessageStatus> {
        Ok(self.0.status)
    }

    /// Meta's error code when the send failed.
    async fn error_code(&self) -> Option<i32> {
        self.0.error_code
    }

    /// Why the send failed, in words an agent can act on.
    async fn error_message(&self) -> Option<&str> {
        self.0.error_message.as_deref()
    }

    /// The platform's message id (mid, wamid, comment id).
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }

    async fn is_deleted(&self) -> bool {
        self.0.is_deleted
    }

    async fn is_private_note(&self) -> bool {
        self.0.is_private_note
    }

    /// The message this one answers, when we have it.
    async fn reply_to(&self, ctx: &Context<'_>) -> Result<Option<Message>> {
        let Some(id) = self.0.reply_to_message_id else {
            return Ok(None);
        };
        let message: Option<messages::Message> = ctx.data::<Loaders>()?.load_one(id).await?;
        Ok(message.filter(|m| m.org_id == self.0.org_id).map(Message))
    }

    /// The platform id of the message this one answers (also when we do not have it).
    async fn reply_to_external_id(&self) -> Option<&str> {
        self.0.reply_to_external_id.as_deref()
    }

    async fn attachments(&self, ctx: &Context<'_>) -> Result<Vec<Flat<Attachment>>> {
        if self.0.is_deleted {
            return Ok(Vec::new());
        }
        let rows = ctx
            .data::<Loaders>()?
            .load_one(AttachmentsOf(self.0.id))
            .await?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(|a| Flat(Attachment(a)))
            .collect())
    }

    async fn reactions(&self, ctx: &Context<'_>) -> Result<Vec<Flat<Reaction>>> {
        let rows = ctx
            .data::<Loaders>()?
            .load_one(ReactionsOf(self.0.id))
            .await?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(|r| Flat(Reaction(r)))
            .collect())
    }

    async fn author(&self) -> Flat<Author> {
        Flat(Author {
            author_type: self.0.author_type,
            user_id: self.0.author_user_id,
            customer_id: self.0.author_customer_id,
        })
    }

    /// Platform details: story, payloads, location, referral...
    async fn context(&self) -> Option<Json<serde_json::Value>> {
        let empty =
            self.0.context.as_object().is_some_and(|o| o.is_empty()) || self.0.context.is_null();
        (!empty).then(|| Json(self.0.context.clone()))
    }

    /// When it was sent (the conversation order).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.sent_at
    }

    /// When we stored it.
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn edited_at(&self) -> Option<DateTime<Utc>> {
        self.0.edited_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A file, media or shared post attached to a message.
pub struct Attachment(pub messages::Attachment);

#[Object]
impl Attachment {
    #[graphql(name = "type")]
    async fn attachment_type(&self) -> Result<AttachmentType> {
        Ok(self.0.type_)
    }

    /// The platform's own type name.
    async fn raw_type(&self) -> &str {
        &self.0.raw_type
    }

    /// Where to open it: once our copy is STORED, a short-lived signed URL of this
    /// server (fetch a fresh one when it expires); before that, or if the copy FAILED,
    /// the platform's URL (may expire; show a placeholder when it no longer loads).
    async fn url(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let Some(object) = self.0.media_object_id else {
            return Ok(self.0.url.clone());
        };
        let state = crate::graphql::context::state(ctx)?;
        Ok(Some(crate::media::signed_url(state, object, self.0.org_id)))
    }

    /// Our copy: PENDING while it is being made, STORED, or FAILED (see
    /// `storageError`); null for what we do not copy (shared posts).
    async fn storage(&self) -> Option<MediaStorage> {
        self.0.storage
    }

    /// Why our copy failed (the message itself is kept).
    async fn storage_error(&self) -> Option<&str> {
        self.0.storage_error.as_deref()
    }

    async fn mime_type(&self) -> Option<&str> {
        self.0.mime_type.as_deref()
    }

    /// Platform media id (WhatsApp media, shared post id...).
    async fn media_id(&self) -> Option<&str> {
        self.0.media_id.as_deref()
    }

    /// Caption or file name.
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
}

/// A reaction on a message.
pub struct Reaction(pub messages::Reaction);

#[Object]
impl Reaction {
    async fn emoji(&self) -> Option<&str> {
        self.0.emoji.as_deref()
    }

    /// Platform reaction name (`love`, `like`...).
    async fn reaction(&self) -> Option<&str> {
        self.0.reaction.as_deref()
    }

    async fn reactor_type(&self) -> Result<AuthorType> {
        Ok(self.0.reactor_type)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.reacted_at
    }
}

/// Who wrote a message.
pub struct Author {
    author_type: AuthorType,
    user_id: Option<crate::db::ids::UserId>,
    customer_id: Option<crate::db::ids::CustomerId>,
}

#[Object]
impl Author {
    #[graphql(name = "type")]
    async fn author_type(&self) -> Result<AuthorType> {
        Ok(self.author_type)
    }

    /// The agent, for messages sent from the inbox.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.user_id else {
            return Ok(None);
        };
        Ok(ctx.data::<Loaders>()?.load_one(id).await?.map(User::new))
    }

    /// The customer, for inbound messages.
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        let Some(id) = self.customer_id else {
            return Ok(None);
        };
        Ok(ctx.data::<Loaders>()?.load_one(id).await?.map(Customer))
    }
}

impl RowFields for Message {
    fn row_field(&self, name: &str) -> Option<async_graphql::Value> {
        let m = &self.0;
        Some(match name {
            "id" => out(&to_id(m.id)),
            "direction" => out(&m.direction),
            "kind" => out(&m.kind),
            "text" => text(m.text.as_deref()),
            "status" => out(&m.status),
            "errorCode" => out(&m.error_code),
            "errorMessage" => text(m.error_message.as_deref()),
            "externalId" => text(m.external_id.as_deref()),
            "isDeleted" => out(&m.is_deleted),
            "isPrivateNote" => out(&m.is_private_note),
            "replyToExternalId" => text(m.reply_to_external_id.as_deref()),
            "createdAt" => out(&m.sent_at),
            "receivedAt" => out(&m.created_at),
            "editedAt" => out(&m.edited_at),
            "updatedAt" => out(&m.updated_at),
            _ => return None,
        })
    }
}

impl RowFields for Attachment {
    fn row_field(&self, name: &str) -> Option<async_graphql::Value> {
        let a = &self.0;
        Some(match name {
            "type" => out(&a.type_),
            "rawType" => text(Some(&a.raw_type)),
            "url" if a.media_object_id.is_none() => text(a.url.as_deref()),
            "storage" => out(&a.storage),
            "storageError" => text(a.storage_error.as_deref()),
            "mimeType" => text(a.mime_type.as_deref()),
            "mediaId" => text(a.media_id.as_deref()),
            "title" => text(a.title.as_deref()),
            _ => return None,
        })
    }
}

impl RowFields for Reaction {
    fn row_field(&self, name: &str) -> Option<async_graphql::Value> {
        let r = &self.0;
        Some(match name {
            "emoji" => text(r.emoji.as_deref()),
            "reaction" => text(r.reaction.as_deref()),
            "reactorType" => out(&r.reactor_type),
            "createdAt" => out(&r.reacted_at),
            _ => return None,
        })
    }
}

impl RowFields for Author {
    fn row_field(&self, name: &str) -> Option<async_graphql::Value> {
        (name == "type").then(|| out(&self.author_type))
    }
}
