//! Turns a queued reply into the Graph API request that delivers it. Pure.

use super::graph::{Content, MessagingType, Recipient, SendRequest};
use crate::db::channels::Channel;
use crate::db::enums::{AttachmentType, MessageKind, Platform};
use crate::db::messages::{Attachment, Message};
use crate::inbox::templates::CONTEXT_KEY as TEMPLATE_KEY;
use crate::inbox::updates::SEND_METADATA_PREFIX;

/// Everything needed to address a reply.
pub struct Outgoing<'a> {
    /// The channel it goes out on.
    pub channel: &'a Channel,
    /// The reply.
    pub message: &'a Message,
    /// The customer's id on the channel (IGSID, PSID, WhatsApp id).
    pub recipient: Option<&'a str>,
    /// Its attachments.
    pub attachments: &'a [Attachment],
}

/// The request delivering `out`, or why it cannot be sent (a permanent failure).
pub fn compose(out: &Outgoing<'_>) -> Result<SendRequest, String> {
    let message = out.message;
    let account = out.channel.external_account_id.clone();
    let context = |key: &str| {
        message
            .context
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    if let Some(comment_id) = context("private_reply_to") {
        return Ok(SendRequest::Message {
            account_id: account,
            recipient: Recipient::CommentId(comment_id),
            content: content(message, out.attachments)?,
            messaging_type: MessagingType::Response,
            metadata: None,
            reply_to_mid: None,
        });
    }
    if message.kind == MessageKind::Comment {
        let comment_id = message
            .reply_to_external_id
            .clone()
            .ok_or("the comment to answer is unknown")?;
        let text = message.text.clone().ok_or("a comment reply needs text")?;
        return Ok(SendRequest::CommentReply { comment_id, text });
    }
    let recipient = out
        .recipient
        .ok_or("the customer has no identity on this channel")?
        .to_owned();
    let reply_to = message.reply_to_external_id.clone();
    if let Some(template) = message.context.get(TEMPLATE_KEY) {
        if out.channel.platform != Platform::WhatsApp {
            return Err("templates can only be sent on WhatsApp".into());
        }
        let text = |key: &str| {
            template
                .get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("the template message has no {key}"))
        };
        return Ok(SendRequest::WhatsAppTemplate {
            phone_number_id: account,
            to: recipient,
            name: text("name")?,
            language: text("language")?,
            components: template
                .get("components")
                .cloned()
                .unwrap_or_else(|| serde_json::json!([])),
        });
    }
    match out.channel.platform {
        Platform::WhatsApp => Ok(SendRequest::WhatsApp {
            phone_number_id: account,
            to: recipient,
            content: content(message, out.attachments)?,
            context_message_id: reply_to,
        }),
        platform => Ok(SendRequest::Message {
            account_id: account,
            recipient: Recipient::Id(recipient),
            content: content(message, out.attachments)?,
            messaging_type: if context("tag").as_deref() == Some("HUMAN_AGENT") {
                MessagingType::HumanAgent
            } else {
                MessagingType::Response
            },
            // Messenger echoes carry it back, so an early echo is matched to this send.
            metadata: (platform == Platform::Messenger)
                .then(|| format!("{SEND_METADATA_PREFIX}{}", message.id)),
            reply_to_mid: reply_to,
        }),
    }
}

fn content(message: &Message, attachments: &[Attachment]) -> Result<Content, String> {
    match attachments.first() {
        Some(attachment) => {
            let kind = match attachment.type_ {
                kind @ (AttachmentType::Image
                | AttachmentType::Video
                | AttachmentType::Audio
                | AttachmentType::File) => kind,
                other => return Err(format!("attachments of type {other} cannot be sent")),
            };
            // A file uploaded to WhatsApp beforehand goes by its id.
            let media_id = attachment
                .media_id
                .clone()
                .filter(|_| attachment.media_object_id.is_some());
            let url = match (&media_id, &attachment.url) {
                (Some(_), url) => url.clone().unwrap_or_default(),
                (None, Some(url)) => url.clone(),
                (None, None) => return Err("the attachment has no URL".into()),
            };
            Ok(Content::Attachment {
                kind,
                url,
                caption: message.text.clone(),
                media_id,
            })
        }
        None => message
            .text
            .clone()
            .map(Content::Text)
            .ok_or_else(|| "the message is empty".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::enums::{AuthorType, MessageDirection, MessageStatus};
    use crate::db::ids::{ChannelId, MessageId, OrgId, TicketId};
    use chrono::Utc;

    fn channel(platform: Platform) -> Channel {
        Channel::for_tests(platform, "ACCOUNT")
    }

    fn message(kind: MessageKind, context: serde_json::Value) -> Message {
        Message {
            id: MessageId::new(),
            org_id: OrgId::new(),
            ticket_id: TicketId::new(),
            channel_id: ChannelId::new(),
            direction: MessageDirection::Outbound,
            kind,
            author_type: AuthorType::User,
            author_user_id: None,
            author_customer_id: None,
            text: Some("hello".into()),
            external_id: None,
            reply_to_message_id: None,
            reply_to_external_id: Some("REPLY-TO".into()),
            context,
            status: MessageStatus::Queued,
            error_code: None,
            error_message: None,
            is_deleted: false,
            is_private_note: false,
            edited_at: None,
            sent_at: Utc::now(),
            client_key: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn compose_for(platform: Platform, m: &Message) -> SendRequest {
        compose(&Outgoing {
            channel: &channel(platform),
            message: m,
            recipient: Some("customer-psid"),
            attachments: &[],
        })
        .unwrap()
    }

    #[test]
    fn each_destination_gets_its_request() {
        let dm = message(MessageKind::Text, serde_json::json!({}));
        assert!(matches!(compose_for(Platform::Instagram, &dm),
            SendRequest::Message { recipient: Recipient::Id(ref r), metadata: None, messaging_type: MessagingType::Response, .. } if r == "customer-psid"));
        assert!(matches!(compose_for(Platform::Messenger, &dm),
            SendRequest::Message { metadata: Some(ref m), .. } if m == &format!("outbound:{}", dm.id)));
        assert!(matches!(compose_for(Platform::WhatsApp, &dm),
            SendRequest::WhatsApp { ref to, context_message_id: Some(ref c), .. } if to == "customer-psid" && c == "REPLY-TO"));
        let tagged = message(MessageKind::Text, serde_json::json!({"tag": "HUMAN_AGENT"}));
        assert!(matches!(
            compose_for(Platform::Instagram, &tagged),
            SendRequest::Message {
                messaging_type: MessagingType::HumanAgent,
                ..
            }
        ));
        let public = message(MessageKind::Comment, serde_json::json!({}));
        assert_eq!(
            compose_for(Platform::Instagram, &public),
            SendRequest::CommentReply {
                comment_id: "REPLY-TO".into(),
                text: "hello".into()
            }
        );
        let private = message(
            MessageKind::Text,
            serde_json::json!({"private_reply_to": "C1"}),
        );
        assert!(
            matches!(compose_for(Platform::Instagram, &private), SendRequest::Message { recipient: Recipient::CommentId(ref c), .. } if c == "C1")
        );
    }

    #[test]
    fn a_direct_reply_without_a_recipient_cannot_be_sent() {
        let dm = message(MessageKind::Text, serde_json::json!({}));
        let out = Outgoing {
            channel: &channel(Platform::Instagram),
            message: &dm,
            recipient: None,
            attachments: &[],
        };
        assert!(compose(&out).is_err());
    }
}
