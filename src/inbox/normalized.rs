//! What Meta told us, normalized across platforms: the input of [`super::ingest`].
//!
//! The webhook parsers turn each platform's payloads into these events; the inbox applies
//! them. They carry Meta's ids and timestamps as the platform sent them, so applying them
//! never depends on when or in which order they arrived.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::db::enums::{AttachmentType, MessageKind, MessageStatus, TemplateStatus};

/// Who the customer is on this channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    /// IGSID, PSID, WhatsApp `wa_id` or, without a phone number, the business-scoped user
    /// id. Never empty: parsers drop events whose customer has no id.
    pub external_id: String,
    /// Handle (`from.username`, WhatsApp `profile.username`), when the event carries one.
    pub username: Option<String>,
    /// Display name (WhatsApp `profile.name`), when the event carries one.
    pub display_name: Option<String>,
}

/// Which conversation of a customer a message belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Thread {
    /// The customer's direct-message conversation with the business.
    Direct,
    /// Comments by the customer on one media object (`media.id`).
    Comment {
        /// The commented media's id.
        media_id: String,
    },
}

/// One attachment of a message, in the order the platform sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Normalized kind.
    pub kind: AttachmentType,
    /// The platform's own type string (`image`, `ig_post`, `ephemeral`...), for display.
    pub raw_type: String,
    /// CDN URL (Instagram / Messenger), when present.
    pub url: Option<String>,
    /// MIME type (WhatsApp media), when present.
    pub mime_type: Option<String>,
    /// Platform media id (WhatsApp media id, `ig_post_media_id`, sticker id), when present.
    pub media_id: Option<String>,
    /// Title or caption (shared post caption, document filename).
    pub title: Option<String>,
    /// SHA-256 of the file as Meta reports it (WhatsApp), when present.
    pub sha256: Option<String>,
}

impl Attachment {
    /// Whether we keep our own copy: media with a file behind it (a CDN URL or a WhatsApp
    /// media id), not links to posts or reels, which stay the platform's.
    pub fn is_copied(&self) -> bool {
        matches!(
            self.kind,
            AttachmentType::Image
                | AttachmentType::Video
                | AttachmentType::Audio
                | AttachmentType::File
                | AttachmentType::Sticker
                | AttachmentType::StoryMention
        ) && (self.url.is_some() || self.media_id.is_some())
    }
}

/// A message written by the customer.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// `mid`, `wamid` or comment id: unique per channel, the idempotency key.
    pub external_id: String,
    /// The customer who wrote it.
    pub customer: Contact,
    /// When the customer sent it (Meta's timestamp, not our arrival time).
    pub sent_at: DateTime<Utc>,
    /// Kind of message.
    pub kind: MessageKind,
    /// Text, caption, postback title or button title; `None` when there is none.
    pub text: Option<String>,
    /// Attachments in order (deduplicated shares).
    pub attachments: Vec<Attachment>,
    /// External id of the message or comment this one answers (`reply_to.mid`,
    /// WhatsApp `context.id`, comment `parent_id`).
    pub reply_to: Option<String>,
    /// Direct conversation or comment thread on a media.
    pub thread: Thread,
    /// Platform details worth keeping for agents: story id/url, postback or quick-reply
    /// payload, button id, location, contacts, referral, media product type... A JSON
    /// object, `Value::Null` when there is nothing.
    pub context: Value,
    /// Delivered through `standby[]` (another app owns the thread): store, never auto-reply.
    pub standby: bool,
}

/// A message the business sent (an echo), through our API or typed in Meta's own apps.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoMessage {
    /// The `mid` (matches the id our own send got back).
    pub external_id: String,
    /// The customer it was sent to.
    pub customer_id: String,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// Text, if any.
    pub text: Option<String>,
    /// Attachments, if any.
    pub attachments: Vec<Attachment>,
    /// Messenger `metadata` correlation string we passed in the send call, if any.
    pub metadata: Option<String>,
}

/// The business's own public comment (e.g. a reply typed in the Instagram app, or the
/// webhook that follows our own `/replies` call). Never a customer message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OwnComment {
    /// Comment id.
    pub external_id: String,
    /// The comment it answers, if it is a reply in a thread.
    pub parent_id: Option<String>,
    /// The commented media.
    pub media_id: String,
    /// Text, if any.
    pub text: Option<String>,
    /// When it was written.
    pub sent_at: DateTime<Utc>,
}

/// A reaction added to or removed from a message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reaction {
    /// The message reacted to.
    pub target_external_id: String,
    /// Who reacted.
    pub customer_id: String,
    /// Emoji, when the platform sends one (absent on removal).
    pub emoji: Option<String>,
    /// Instagram/Messenger reaction name (`love`, `like`...), when present.
    pub reaction: Option<String>,
    /// `true` when the reaction was removed.
    pub removed: bool,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// How far a customer has read.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadUpTo {
    /// Instagram: this message (and everything before it in the thread).
    Message(String),
    /// Messenger: every message sent at or before this time.
    Watermark(DateTime<Utc>),
}

/// A delivery-status update for an outbound message (WhatsApp `statuses[]`, Messenger
/// `delivery`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusUpdate {
    /// The outbound message (`wamid` / `mid`).
    pub external_id: String,
    /// The recipient (customer) id, when given.
    pub customer_id: Option<String>,
    /// New status.
    pub status: MessageStatus,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Meta's error code for `Failed`.
    pub error_code: Option<i64>,
    /// Meta's human-readable explanation for `Failed` (details, else message, else title).
    pub error_message: Option<String>,
}

/// A WhatsApp template's new review status.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateStatusUpdate {
    /// Meta's template id.
    pub template_id: Option<String>,
    /// Its name.
    pub name: String,
    /// Its language code.
    pub language: String,
    /// The new status (`event`).
    pub status: TemplateStatus,
    /// Meta's reason, when it gives one other than `NONE`.
    pub reason: Option<String>,
}

/// One thing that happened, normalized across platforms.
#[derive(Debug, Clone, PartialEq)]
pub enum NormalizedEvent {
    /// The customer wrote something (DM, story reply/mention, comment, postback...).
    Message(InboundMessage),
    /// The business sent something (`is_echo`).
    Echo(EchoMessage),
    /// The business commented on its own media.
    OwnComment(OwnComment),
    /// A reaction was added or removed.
    Reaction(Reaction),
    /// The customer read messages.
    Read {
        /// The reader.
        customer_id: String,
        /// Up to where.
        up_to: ReadUpTo,
        /// When.
        at: DateTime<Utc>,
    },
    /// The customer unsent (deleted) a message.
    Unsend {
        /// The deleted message.
        external_id: String,
        /// Who deleted it.
        customer_id: String,
    },
    /// The customer edited a message.
    Edit {
        /// The edited message.
        external_id: String,
        /// Who edited it.
        customer_id: String,
        /// The new text.
        text: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Delivery status of outbound messages moved on (one item per message id).
    Status(StatusUpdate),
    /// Meta reviewed a WhatsApp message template again (`message_template_status_update`).
    TemplateStatus(TemplateStatusUpdate),
    /// Meta reported an account-level problem inside the value (WhatsApp `value.errors`).
    PlatformError {
        /// Meta's error code.
        code: i64,
        /// Meta's message / details.
        message: String,
    },
    /// Something we recognised as not ours to handle (unknown field, event key, message
    /// type, self-test...). Logged by the processor, never an error.
    Skipped {
        /// What was skipped, e.g. `messaging.optin` or `changes.mentions`.
        kind: String,
        /// Why, e.g. `unsupported event` or `missing sender id`.
        reason: String,
    },
}

impl NormalizedEvent {
    /// Shorthand for [`NormalizedEvent::Skipped`].
    pub fn skipped(kind: impl Into<String>, reason: impl Into<String>) -> Self {
        NormalizedEvent::Skipped {
            kind: kind.into(),
            reason: reason.into(),
        }
    }
}
