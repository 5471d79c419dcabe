//! Request encoding: what one send carries ([`SendRequest`]), the JSON body POSTed for it,
//! and where Meta puts the created message's id in its answer ([`SuccessShape`], [`Sent`]).

use crate::db::enums::AttachmentType;
use serde_json::{Map, Value, json};

/// What to send; each variant maps to one endpoint and body.
#[derive(Debug, Clone, PartialEq)]
pub enum SendRequest {
    /// Instagram or Messenger Send API: `POST /{version}/{account_id}/messages`.
    Message {
        /// IG professional account id or Page id (the channel's external account id).
        account_id: String,
        /// Who receives it: a user (IGSID / PSID) or, for a private reply, a comment.
        recipient: Recipient,
        /// The text or attachment. An attachment's `caption` is not sent: the Send API has
        /// no caption field, so the caller sends the text as a separate message.
        content: Content,
        /// Inside the standard window or with the `HUMAN_AGENT` tag.
        messaging_type: MessagingType,
        /// Messenger echo correlation: sent inside `"message"` as `"metadata"` (only when Some).
        metadata: Option<String>,
        /// Quotes a message: `"reply_to":{"mid":..}` at top level (only when Some).
        reply_to_mid: Option<String>,
    },
    /// Public reply to an Instagram comment: `POST /{version}/{comment_id}/replies` with JSON body {"message": text}.
    CommentReply {
        /// The (top-level) comment being answered.
        comment_id: String,
        /// The reply's text.
        text: String,
    },
    /// WhatsApp Cloud API: `POST /{version}/{phone_number_id}/messages` with
    /// `{"messaging_product":"whatsapp","recipient_type":"individual","to":to, "type":"text","text":{"preview_url":false,"body":..}}`
    /// or `"type":"image|video|audio|document","<type>":{"link":url, "caption":optional text (not for audio)}`; plus `"context":{"message_id":..}` when replying.
    WhatsApp {
        /// The business phone number id sending the message.
        phone_number_id: String,
        /// The customer's phone number or WhatsApp id.
        to: String,
        /// The text or attachment.
        content: Content,
        /// The wamid being replied to, if any.
        context_message_id: Option<String>,
    },
    /// A WhatsApp template message: `POST /{version}/{phone_number_id}/messages` with
    /// `{"messaging_product":"whatsapp","recipient_type":"individual","to":..,"type":"template",
    /// "template":{"name":..,"language":{"code":..},"components":[..]}}` (components only
    /// when the template has parameters).
    WhatsAppTemplate {
        /// The business phone number id sending the message.
        phone_number_id: String,
        /// The customer's phone number or WhatsApp id.
        to: String,
        /// The template's name.
        name: String,
        /// Its language code.
        language: String,
        /// The parameters per component, in the Cloud API's shape.
        components: Value,
    },
}

impl SendRequest {
    /// The node id and edge of the endpoint this request is POSTed to.
    pub(super) fn endpoint(&self) -> (&str, &'static str) {
        match self {
            Self::Message { account_id, .. } => (account_id, "messages"),
            Self::CommentReply { comment_id, .. } => (comment_id, "replies"),
            Self::WhatsApp {
                phone_number_id, ..
            }
            | Self::WhatsAppTemplate {
                phone_number_id, ..
            } => (phone_number_id, "messages"),
        }
    }

    /// Where the id of the created message sits in a success body for this request.
    pub fn success_shape(&self) -> SuccessShape {
        match self {
            Self::Message { .. } => SuccessShape::SendApi,
            Self::CommentReply { .. } => SuccessShape::CommentReply,
            Self::WhatsApp { .. } | Self::WhatsAppTemplate { .. } => SuccessShape::WhatsApp,
        }
    }

    /// The JSON body POSTed for this request.
    pub(super) fn body(&self) -> Value {
        match self {
            Self::Message {
                recipient,
                content,
                messaging_type,
                metadata,
                reply_to_mid,
                ..
            } => {
                let recipient = match recipient {
                    Recipient::Id(id) => json!({ "id": id }),
                    Recipient::CommentId(id) => json!({ "comment_id": id }),
                };
                let mut message = match content {
                    Content::Text(text) => json_object(json!({ "text": text })),
                    Content::Attachment { kind, url, .. } => json_object(json!({
                        "attachment": { "type": send_api_type(*kind), "payload": { "url": url } }
                    })),
                };
                if let Some(metadata) = metadata {
                    message.insert("metadata".to_owned(), json!(metadata));
                }
                let mut body = Map::new();
                body.insert("recipient".to_owned(), recipient);
                body.insert("message".to_owned(), Value::Object(message));
                match messaging_type {
                    MessagingType::Response => {
                        body.insert("messaging_type".to_owned(), json!("RESPONSE"));
                    }
                    MessagingType::HumanAgent => {
                        body.insert("messaging_type".to_owned(), json!("MESSAGE_TAG"));
                        body.insert("tag".to_owned(), json!("HUMAN_AGENT"));
                    }
                }
                if let Some(mid) = reply_to_mid {
                    body.insert("reply_to".to_owned(), json!({ "mid": mid }));
                }
                Value::Object(body)
            }
            Self::CommentReply { text, .. } => json!({ "message": text }),
            Self::WhatsApp {
                to,
                content,
                context_message_id,
                ..
            } => {
                let mut body = json_object(json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to,
                }));
                match content {
                    Content::Text(text) => {
                        body.insert("type".to_owned(), json!("text"));
                        body.insert(
                            "text".to_owned(),
                            json!({ "preview_url": false, "body": text }),
                        );
                    }
                    Content::Attachment {
                        kind,
                        url,
                        caption,
                        media_id,
                    } => {
                        let mut media = match media_id {
                            Some(id) => json_object(json!({ "id": id })),
                            None => json_object(json!({ "link": url })),
                        };
                        if let Some(caption) = caption.as_ref().filter(|_| has_caption(*kind)) {
                            media.insert("caption".to_owned(), json!(caption));
                        }
                        let kind = whatsapp_type(*kind);
                        body.insert("type".to_owned(), json!(kind));
                        body.insert(kind.to_owned(), Value::Object(media));
                    }
                }
                if let Some(message_id) = context_message_id {
                    body.insert("context".to_owned(), json!({ "message_id": message_id }));
                }
                Value::Object(body)
            }
            Self::WhatsAppTemplate {
                to,
                name,
                language,
                components,
                ..
            } => {
                let mut template = json_object(json!({
                    "name": name,
                    "language": { "code": language },
                }));
                if components.as_array().is_some_and(|c| !c.is_empty()) {
                    template.insert("components".to_owned(), components.clone());
                }
                json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to,
                    "type": "template",
                    "template": template,
                })
            }
        }
    }
}

/// Who receives a Send API message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// An IGSID or PSID: `{"recipient":{"id":..}}`.
    Id(String),
    /// A comment id, for a private reply to its author: `{"recipient":{"comment_id":..}}`.
    CommentId(String),
}

/// The content of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// A media file Meta downloads from `url`.
    Attachment {
        /// The media type.
        kind: AttachmentType,
        /// A public URL of the file (unused when `media_id` is set).
        url: String,
        /// A file uploaded to WhatsApp beforehand (sent as `{"id": ..}`).
        media_id: Option<String>,
        /// Text under the media; sent on WhatsApp only, and not for audio.
        caption: Option<String>,
    },
}

/// `attachment.type` on the Instagram / Messenger Send API. Only images, videos, audio
/// and files can be sent ([`crate::outbound::compose`] refuses the rest); anything else
/// would go as a file.
fn send_api_type(kind: AttachmentType) -> &'static str {
    match kind {
        AttachmentType::Image => "image",
        AttachmentType::Video => "video",
        AttachmentType::Audio => "audio",
        _ => "file",
    }
}

/// `type` (and the media object's key) on the WhatsApp Cloud API.
fn whatsapp_type(kind: AttachmentType) -> &'static str {
    match kind {
        AttachmentType::Image => "image",
        AttachmentType::Video => "video",
        AttachmentType::Audio => "audio",
        _ => "document",
    }
}

/// Whether WhatsApp accepts a caption for this media type.
fn has_caption(kind: AttachmentType) -> bool {
    kind != AttachmentType::Audio
}

/// How a Send API message relates to Meta's messaging window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagingType {
    /// A reply inside the 24-hour window: `"messaging_type":"RESPONSE"`.
    Response,
    /// A human agent's reply up to 7 days later: `"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT"`.
    HumanAgent,
}

/// Where the created message's id sits in a 2xx body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuccessShape {
    /// Instagram / Messenger Send API: `{"recipient_id":..,"message_id":..}`.
    SendApi,
    /// Comment reply: `{"id":..}`.
    CommentReply,
    /// WhatsApp Cloud API: `{"messages":[{"id":..}],..}`.
    WhatsApp,
}

/// An accepted send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Meta's id of the created message: Send API `message_id`, comment reply `id`,
    /// WhatsApp `messages[0].id` (a wamid).
    pub external_id: String,
}

/// A `json!({..})` literal as its map.
fn json_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_audio_drops_the_caption_and_file_is_a_document() {
        let audio = SendRequest::WhatsApp {
            phone_number_id: "1".to_owned(),
            to: "15550001111".to_owned(),
            content: Content::Attachment {
                kind: AttachmentType::Audio,
                url: "https://cdn.example.test/a.ogg".to_owned(),
                caption: Some("listen".to_owned()),
                media_id: None,
            },
            context_message_id: None,
        };
        assert_eq!(
            audio.body(),
            json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "15550001111",
                "type": "audio", "audio": { "link": "https://cdn.example.test/a.ogg" }
            })
        );
        let file = SendRequest::WhatsApp {
            phone_number_id: "1".to_owned(),
            to: "15550001111".to_owned(),
            content: Content::Attachment {
                kind: AttachmentType::File,
                url: "https://cdn.example.test/invoice.pdf".to_owned(),
                caption: None,
                media_id: None,
            },
            context_message_id: None,
        };
        assert_eq!(
            file.body(),
            json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "15550001111",
                "type": "document", "document": { "link": "https://cdn.example.test/invoice.pdf" }
            })
        );
    }

    #[test]
    fn send_api_attachment_ignores_the_caption() {
        let request = SendRequest::Message {
            account_id: "1".to_owned(),
            recipient: Recipient::Id("2".to_owned()),
            content: Content::Attachment {
                kind: AttachmentType::Video,
                url: "https://cdn.example.test/v.mp4".to_owned(),
                caption: Some("look".to_owned()),
                media_id: None,
            },
            messaging_type: MessagingType::Response,
            metadata: None,
            reply_to_mid: None,
        };
        assert_eq!(
            request.body(),
            json!({
                "recipient": { "id": "2" },
                "messaging_type": "RESPONSE",
                "message": { "attachment": { "type": "video", "payload": { "url": "https://cdn.example.test/v.mp4" } } }
            })
        );
    }
}
