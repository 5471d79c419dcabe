//! WhatsApp Cloud API entries (`object: "whatsapp_business_account"`).
//!
//! One `entry[]` holds `changes[]`; each change is routed on its own by
//! `value.metadata.phone_number_id` and becomes one [`Entry`]. A `messages` change can
//! carry `messages[]`, `statuses[]` and `errors[]` at once; all three are read.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::db::enums::TemplateStatus;
use crate::inbox::normalized::TemplateStatusUpdate;

use super::{
    Attachment, AttachmentType, Contact, Entry, InboundMessage, MessageKind, MessageStatus,
    NormalizedEvent, Reaction, StatusUpdate, Thread, context_value, id_string, insert_present,
    string, timestamp,
};

/// Result of one handler: the event, or why the item was skipped.
type Outcome = Result<NormalizedEvent, &'static str>;

/// Parses one WhatsApp `entry[]` into one [`Entry`] per `changes[]` item.
pub(super) fn parse_entry(entry: &Value) -> Vec<Entry> {
    match entry.get("changes").and_then(Value::as_array) {
        Some(changes) => {
            let waba = id_string(entry.get("id")).unwrap_or_default();
            changes.iter().map(|c| parse_change(c, &waba)).collect()
        }
        None => {
            let reason = if entry.is_object() {
                "missing changes"
            } else {
                "entry is not an object"
            };
            vec![Entry {
                account_id: String::new(),
                events: vec![NormalizedEvent::skipped("entry", reason)],
            }]
        }
    }
}

/// One change, routed by its phone number id (empty when missing); a template status
/// change names only the WhatsApp Business Account `waba` and is routed by it.
fn parse_change(change: &Value, waba: &str) -> Entry {
    let value = change.get("value").unwrap_or(&Value::Null);
    let field = change.get("field").and_then(Value::as_str);
    if field == Some("message_template_status_update") {
        return Entry {
            account_id: waba.to_owned(),
            events: vec![template_status(value)],
        };
    }
    let account_id = id_string(value.pointer("/metadata/phone_number_id")).unwrap_or_default();
    let events = match field {
        Some("messages") => parse_value(value),
        Some(field) => vec![NormalizedEvent::skipped(
            format!("changes.{field}"),
            "unsupported field",
        )],
        None => vec![NormalizedEvent::skipped("changes", "missing field")],
    };
    Entry { account_id, events }
}

/// A `message_template_status_update` value: `{event, message_template_id,
/// message_template_name, message_template_language, reason}`.
fn template_status(value: &Value) -> NormalizedEvent {
    let (Some(name), Some(language), Some(event)) = (
        string(value.get("message_template_name")),
        string(value.get("message_template_language")),
        string(value.get("event")),
    ) else {
        return NormalizedEvent::skipped(
            "changes.message_template_status_update",
            "missing template name, language or event",
        );
    };
    NormalizedEvent::TemplateStatus(TemplateStatusUpdate {
        template_id: id_string(value.get("message_template_id")),
        name,
        language,
        status: event.parse().unwrap_or(TemplateStatus::Unknown),
        reason: string(value.get("reason")).filter(|r| r != "NONE"),
    })
}

/// The array at `v`, or an empty slice when it is missing or not an array.
fn list(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// All messages, then all statuses, then all errors of a `messages` value.
fn parse_value(value: &Value) -> Vec<NormalizedEvent> {
    let contacts = list(value.get("contacts"));
    let mut events: Vec<NormalizedEvent> = list(value.get("messages"))
        .iter()
        .map(|msg| message(msg, contacts))
        .collect();
    events.extend(list(value.get("statuses")).iter().map(status));
    events.extend(list(value.get("errors")).iter().map(platform_error));
    if events.is_empty() {
        events.push(NormalizedEvent::skipped(
            "changes.messages",
            "no messages, statuses or errors",
        ));
    }
    events
}

/// One `messages[]` item, skipped with a reason when it lacks an id we need.
fn message(msg: &Value, contacts: &[Value]) -> NormalizedEvent {
    let kind = string(msg.get("type")).unwrap_or_else(|| "unknown".to_owned());
    inbound(msg, contacts, &kind)
        .unwrap_or_else(|reason| NormalizedEvent::skipped(format!("messages.{kind}"), reason))
}

/// A customer's message or reaction of type `kind`.
fn inbound(msg: &Value, contacts: &[Value], kind: &str) -> Outcome {
    if !msg.is_object() {
        return Err("message is not an object");
    }
    let external_id = id_string(msg.get("id")).ok_or("missing message id")?;
    let customer = customer(msg, contacts).ok_or("missing customer id (no phone, no user id)")?;
    let sent_at = timestamp(msg.get("timestamp")).ok_or("missing timestamp")?;
    if kind == "reaction" {
        return reaction(msg, customer.external_id, sent_at);
    }
    let content = content(kind, msg);
    let mut context = content.context;
    message_context(&mut context, msg);
    Ok(NormalizedEvent::Message(InboundMessage {
        external_id,
        customer,
        sent_at,
        kind: content.kind,
        text: content.text,
        attachments: content.attachments,
        reply_to: id_string(msg.pointer("/context/id")),
        thread: Thread::Direct,
        context: context_value(context),
        standby: false,
    }))
}

/// The customer: `from` or the contact's `wa_id`, else the business-scoped user id.
fn customer(msg: &Value, contacts: &[Value]) -> Option<Contact> {
    let from = id_string(msg.get("from"));
    let from_user = id_string(msg.get("from_user_id"));
    let card = matching_contact(contacts, from.as_deref(), from_user.as_deref());
    let card_id = |key: &str| card.and_then(|c| id_string(c.get(key)));
    let external_id = from
        .or_else(|| card_id("wa_id"))
        .or(from_user)
        .or_else(|| card_id("user_id"))?;
    let profile = card.and_then(|c| c.get("profile"));
    Some(Contact {
        external_id,
        username: string(profile.and_then(|p| p.get("username"))),
        display_name: string(profile.and_then(|p| p.get("name"))),
    })
}

/// The `contacts[]` item for a message: same `wa_id` or `user_id`, else the only one.
fn matching_contact<'c>(
    contacts: &'c [Value],
    from: Option<&str>,
    from_user: Option<&str>,
) -> Option<&'c Value> {
    let same = |card: &Value, key: &str, id: Option<&str>| {
        id.is_some() && id_string(card.get(key)).as_deref() == id
    };
    contacts
        .iter()
        .find(|c| same(c, "wa_id", from) || same(c, "user_id", from_user))
        .or(match contacts {
            [only] => Some(only),
            _ => None,
        })
}

/// `reaction`: added with an emoji, removed without one.
fn reaction(msg: &Value, customer_id: String, at: DateTime<Utc>) -> Outcome {
    let body = msg.get("reaction");
    let target =
        id_string(body.and_then(|b| b.get("message_id"))).ok_or("missing reacted message id")?;
    let emoji = string(body.and_then(|b| b.get("emoji")));
    Ok(NormalizedEvent::Reaction(Reaction {
        target_external_id: target,
        customer_id,
        removed: emoji.is_none(),
        emoji,
        reaction: None,
        at,
    }))
}

/// What a message says, by type.
struct Content {
    /// Message kind.
    kind: MessageKind,
    /// Text, caption or title.
    text: Option<String>,
    /// Media, when the type is a media type.
    attachments: Vec<Attachment>,
    /// Type-specific context fields.
    context: Map<String, Value>,
}

impl Content {
    /// Content of `kind` with `text` and nothing else.
    fn new(kind: MessageKind, text: Option<String>) -> Self {
        Content {
            kind,
            text,
            attachments: Vec::new(),
            context: Map::new(),
        }
    }

    /// Adds a context field unless the value is absent or null.
    fn with(mut self, key: &str, value: Option<&Value>) -> Self {
        insert_present(&mut self.context, key, value);
        self
    }
}

/// Reads the type-named object of a message (`text`, `image`, `location`...).
fn content(kind: &str, msg: &Value) -> Content {
    let body = msg.get(kind).unwrap_or(&Value::Null);
    match kind {
        "text" => Content::new(MessageKind::Text, string(body.get("body"))),
        "image" | "video" | "audio" | "document" | "sticker" => media(kind, body),
        "location" => location(body),
        "contacts" => shared_contacts(body),
        "interactive" => interactive(body),
        "button" => Content::new(MessageKind::Interactive, string(body.get("text")))
            .with("button_payload", body.get("payload")),
        "unsupported" => unsupported(string(body.get("type")).as_deref().unwrap_or(kind)),
        other => unsupported(other),
    }
}

/// A placeholder for a type we cannot show, naming the type for the agent.
fn unsupported(raw_type: &str) -> Content {
    let raw_type = Value::String(raw_type.to_owned());
    Content::new(MessageKind::Unsupported, None).with("unsupported_type", Some(&raw_type))
}

/// Image, video, audio, document or sticker: one attachment, caption as text.
fn media(kind: &str, body: &Value) -> Content {
    let attachment = Attachment {
        kind: match kind {
            "image" => AttachmentType::Image,
            "video" => AttachmentType::Video,
            "audio" => AttachmentType::Audio,
            "sticker" => AttachmentType::Sticker,
            _ => AttachmentType::File,
        },
        raw_type: kind.to_owned(),
        url: string(body.get("url")),
        mime_type: string(body.get("mime_type")),
        media_id: id_string(body.get("id")),
        title: string(body.get("filename")),
        sha256: string(body.get("sha256")),
    };
    Content {
        attachments: vec![attachment],
        ..Content::new(MessageKind::Media, string(body.get("caption")))
    }
}

/// Location: text is "name, address" (or the coordinates), the object goes to context.
fn location(body: &Value) -> Content {
    let parts: Vec<String> = ["name", "address"]
        .iter()
        .filter_map(|key| string(body.get(*key)))
        .collect();
    let text = if parts.is_empty() {
        coordinates(body)
    } else {
        Some(parts.join(", "))
    };
    Content::new(MessageKind::Location, text).with("location", Some(body))
}

/// "latitude, longitude" when both are numbers.
fn coordinates(body: &Value) -> Option<String> {
    let latitude = body.get("latitude")?.as_f64()?;
    let longitude = body.get("longitude")?.as_f64()?;
    Some(format!("{latitude}, {longitude}"))
}

/// Shared contact cards: names as text, the cards in context.
fn shared_contacts(body: &Value) -> Content {
    let names: Vec<String> = list(Some(body)).iter().filter_map(card_name).collect();
    let text = (!names.is_empty()).then(|| names.join(", "));
    Content::new(MessageKind::Contacts, text).with("contacts", Some(body))
}

/// A contact card's `formatted_name`, else first and last name.
fn card_name(card: &Value) -> Option<String> {
    let name = card.get("name")?;
    string(name.get("formatted_name")).or_else(|| {
        let parts: Vec<String> = ["first_name", "last_name"]
            .iter()
            .filter_map(|key| string(name.get(*key)))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })
}

/// Interactive replies: button or list choice (title + id), or a Flow (`nfm_reply`).
fn interactive(body: &Value) -> Content {
    let subtype = body.get("type").and_then(Value::as_str).unwrap_or("");
    let reply = body.get(subtype).unwrap_or(&Value::Null);
    let choice = || {
        Content::new(MessageKind::Interactive, string(reply.get("title")))
            .with("button_id", reply.get("id"))
    };
    match subtype {
        "button_reply" => choice(),
        "list_reply" => choice().with("description", reply.get("description")),
        "nfm_reply" => Content::new(MessageKind::Interactive, string(reply.get("body")))
            .with("nfm_reply", Some(reply)),
        "" => unsupported("interactive"),
        other => unsupported(&format!("interactive.{other}")),
    }
}

/// Quoted-message details and ad referral worth keeping on any message.
fn message_context(context: &mut Map<String, Value>, msg: &Value) {
    let quoted = msg.get("context");
    for key in ["forwarded", "frequently_forwarded"] {
        if quoted.and_then(|q| q.get(key)).and_then(Value::as_bool) == Some(true) {
            context.insert(key.to_owned(), Value::Bool(true));
        }
    }
    let product = quoted.and_then(|q| q.get("referred_product"));
    insert_present(context, "referred_product", product);
    insert_present(context, "referral", msg.get("referral"));
}

/// One `statuses[]` item; unknown statuses are skipped.
fn status(item: &Value) -> NormalizedEvent {
    let raw = item.get("status").and_then(Value::as_str).unwrap_or("");
    status_update(item, raw).unwrap_or_else(|reason| {
        let kind = if raw.is_empty() {
            "statuses".to_owned()
        } else {
            format!("statuses.{raw}")
        };
        NormalizedEvent::skipped(kind, reason)
    })
}

/// Reads a status with its first error (code and explanation) for `failed`.
fn status_update(item: &Value, raw: &str) -> Outcome {
    let status = match raw {
        "sent" => MessageStatus::Sent,
        "delivered" => MessageStatus::Delivered,
        "read" | "played" => MessageStatus::Read,
        "failed" => MessageStatus::Failed,
        "" => return Err("missing status"),
        _ => return Err("unknown status"),
    };
    let error = list(item.get("errors")).first();
    Ok(NormalizedEvent::Status(StatusUpdate {
        external_id: id_string(item.get("id")).ok_or("missing message id")?,
        customer_id: id_string(item.get("recipient_id"))
            .or_else(|| id_string(item.get("recipient_user_id"))),
        status,
        at: timestamp(item.get("timestamp")).ok_or("missing timestamp")?,
        error_code: error.and_then(|e| integer(e.get("code"))),
        error_message: error.and_then(error_text),
    }))
}

/// One `value.errors[]` item; a missing code reads as 0.
fn platform_error(error: &Value) -> NormalizedEvent {
    if !error.is_object() {
        return NormalizedEvent::skipped("errors", "error is not an object");
    }
    NormalizedEvent::PlatformError {
        code: integer(error.get("code")).unwrap_or(0),
        message: error_text(error).unwrap_or_default(),
    }
}

/// Meta's explanation of an error: `error_data.details`, else `message`, else `title`.
fn error_text(error: &Value) -> Option<String> {
    string(error.pointer("/error_data/details"))
        .or_else(|| string(error.get("message")))
        .or_else(|| string(error.get("title")))
}

/// An integer sent as a number or a numeric string.
fn integer(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        all_events, delivery, fixture, only_event, only_message, secs, skipped_reason,
    };
    use super::super::{
        AttachmentType, MessageKind, MessageStatus, NormalizedEvent, Platform, StatusUpdate,
    };
    use serde_json::json;

    const PHONE_ID: &str = "310000000000001";
    const ADA: &str = "447700900111";
    const WAMID_OUT: &str = "wamid.HBgMNDQ3NzAwOTAwMTExFQIAERgSSW52ZW50ZWRPdXQwMQA=";

    /// The statuses of a body, in order.
    fn statuses(body: &[u8]) -> Vec<StatusUpdate> {
        all_events(body)
            .into_iter()
            .filter_map(|e| match e {
                NormalizedEvent::Status(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn text_is_routed_by_phone_number_id_with_contact_name() {
        let delivery = delivery(fixture!("wa_text.json"));
        assert_eq!(delivery.platform, Some(Platform::WhatsApp));
        assert_eq!(delivery.entries.len(), 1);
        assert_eq!(delivery.entries[0].account_id, PHONE_ID);
        let m = only_message(fixture!("wa_text.json"));
        assert_eq!(m.kind, MessageKind::Text);
        assert_eq!(
            m.external_id,
            "wamid.HBgMNDQ3NzAwOTAwMTExFQIAEhgUSW52ZW50ZWQVGV4dA"
        );
        assert_eq!(m.customer.external_id, ADA);
        assert_eq!(m.customer.display_name.as_deref(), Some("Ada Moreau"));
        assert_eq!(m.customer.username, None);
        assert_eq!(
            m.text.as_deref(),
            Some("Hi, my dishwasher shows error E24.")
        );
        assert_eq!(m.sent_at, secs(1_784_803_000));
        assert_eq!(m.reply_to, None);
    }

    #[test]
    fn image_is_media_with_id_mime_sha_url_and_caption() {
        let m = only_message(fixture!("wa_image.json"));
        assert_eq!(m.kind, MessageKind::Media);
        assert_eq!(m.text.as_deref(), Some("the error screen"));
        let a = &m.attachments[0];
        assert_eq!(a.kind, AttachmentType::Image);
        assert_eq!(a.media_id.as_deref(), Some("1400000000000001"));
        assert_eq!(a.mime_type.as_deref(), Some("image/jpeg"));
        assert_eq!(
            a.sha256.as_deref(),
            Some("InventedSha256Base64ImageAAAAAAAAAAAAAAAAAAA=")
        );
        assert!(a.url.is_some());
    }

    #[test]
    fn document_is_a_file_titled_by_its_filename() {
        let m = only_message(fixture!("wa_document.json"));
        assert_eq!(m.kind, MessageKind::Media);
        assert_eq!(m.text.as_deref(), Some("my invoice"));
        let a = &m.attachments[0];
        assert_eq!(
            (a.kind, a.raw_type.as_str()),
            (AttachmentType::File, "document")
        );
        assert_eq!(a.title.as_deref(), Some("invoice-0042.pdf"));
        assert_eq!(a.mime_type.as_deref(), Some("application/pdf"));
        assert_eq!(a.url, None);
    }

    #[test]
    fn location_has_summary_text_and_location_context() {
        let m = only_message(fixture!("wa_location.json"));
        assert_eq!(m.kind, MessageKind::Location);
        assert_eq!(
            m.text.as_deref(),
            Some("Invented Café, 1 Example Street, Lisbon")
        );
        assert_eq!(m.context["location"]["latitude"], 38.7223);
        assert_eq!(m.context["location"]["longitude"], -9.1393);
    }

    #[test]
    fn contacts_have_names_as_text_and_cards_in_context() {
        let m = only_message(fixture!("wa_contacts.json"));
        assert_eq!(m.kind, MessageKind::Contacts);
        assert_eq!(m.text.as_deref(), Some("Bruno Silva, Carla Dias"));
        assert_eq!(m.context["contacts"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            m.context["contacts"][0]["phones"][0]["wa_id"],
            "351900000001"
        );
    }

    #[test]
    fn button_reply_is_interactive_with_button_id_and_quoted_message() {
        let m = only_message(fixture!("wa_interactive_button_reply.json"));
        assert_eq!(m.kind, MessageKind::Interactive);
        assert_eq!(m.text.as_deref(), Some("All fixed"));
        assert_eq!(m.context, json!({"button_id": "csat_yes"}));
        assert_eq!(m.reply_to.as_deref(), Some(WAMID_OUT));
    }

    #[test]
    fn list_reply_is_interactive_with_id_and_description() {
        let m = only_message(fixture!("wa_list_reply.json"));
        assert_eq!(m.kind, MessageKind::Interactive);
        assert_eq!(m.text.as_deref(), Some("Tuesday morning"));
        assert_eq!(
            m.context,
            json!({"button_id": "slot_tue_am", "description": "09:00-12:00"})
        );
    }

    #[test]
    fn template_button_is_interactive_with_payload() {
        let m = only_message(fixture!("wa_template_button.json"));
        assert_eq!(m.kind, MessageKind::Interactive);
        assert_eq!(m.text.as_deref(), Some("Confirm visit"));
        assert_eq!(m.context, json!({"button_payload": "CONFIRM_VISIT"}));
        assert_eq!(m.reply_to.as_deref(), Some(WAMID_OUT));
    }

    #[test]
    fn reaction_targets_the_quoted_message_with_its_emoji() {
        let NormalizedEvent::Reaction(r) = only_event(fixture!("wa_reaction.json")) else {
            panic!("expected a reaction");
        };
        assert_eq!(r.target_external_id, WAMID_OUT);
        assert_eq!(r.customer_id, ADA);
        assert_eq!(r.emoji.as_deref(), Some("\u{1f44d}"));
        assert!(!r.removed);
        assert_eq!(r.at, secs(1_784_803_480));
    }

    #[test]
    fn reaction_without_emoji_is_a_removal() {
        let NormalizedEvent::Reaction(r) = only_event(fixture!("wa_reaction_removed.json")) else {
            panic!("expected a reaction");
        };
        assert_eq!(r.target_external_id, WAMID_OUT);
        assert!(r.removed);
        assert_eq!(r.emoji, None);
    }

    #[test]
    fn unsupported_is_a_placeholder_naming_the_type() {
        let m = only_message(fixture!("wa_unsupported.json"));
        assert_eq!(m.kind, MessageKind::Unsupported);
        assert_eq!(m.text, None);
        assert_eq!(m.context, json!({"unsupported_type": "poll"}));
    }

    #[test]
    fn unknown_types_are_placeholders_and_flows_are_interactive() {
        let events = all_events(fixture!("wa_unknown_types.json"));
        let got: Vec<_> = events
            .iter()
            .map(|e| match e {
                NormalizedEvent::Message(m) => (m.kind, m.context.clone()),
                other => panic!("expected a message, got {other:?}"),
            })
            .collect();
        assert_eq!(
            got[0],
            (
                MessageKind::Unsupported,
                json!({"unsupported_type": "order"})
            )
        );
        assert_eq!(
            got[1],
            (
                MessageKind::Unsupported,
                json!({"unsupported_type": "unknown"})
            )
        );
        assert_eq!(
            got[2],
            (
                MessageKind::Unsupported,
                json!({"unsupported_type": "interactive.carousel_reply"})
            )
        );
        assert_eq!(got[3].0, MessageKind::Interactive);
        assert_eq!(got[3].1["nfm_reply"]["response_json"], "{\"rating\":\"5\"}");
    }

    #[test]
    fn bsuid_is_the_customer_when_the_phone_is_empty() {
        let m = only_message(fixture!("wa_bsuid.json"));
        assert_eq!(m.customer.external_id, "user.InventedBsuid0001");
        assert_eq!(m.customer.username.as_deref(), Some("dee.plants"));
        assert_eq!(m.customer.display_name.as_deref(), Some("Dee"));
        assert_eq!(m.text.as_deref(), Some("hello from my username"));
    }

    #[test]
    fn message_without_phone_or_user_id_is_skipped() {
        let reason = skipped_reason(
            &only_event(fixture!("wa_missing_ids.json")),
            "messages.text",
        );
        assert!(reason.contains("customer"), "{reason}");
    }

    #[test]
    fn contact_is_matched_by_wa_id_among_several() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
            "value": {"metadata": {"phone_number_id": PHONE_ID},
                "contacts": [{"profile": {"name": "Other"}, "wa_id": "1111"}, {"profile": {"name": "Ada"}, "wa_id": ADA}],
                "messages": [{"from": ADA, "id": "wamid.1", "timestamp": "1784803000", "type": "text", "text": {"body": "hi"}}]}}]}]});
        let m = only_message(&serde_json::to_vec(&body).expect("serializable"));
        assert_eq!(m.customer.display_name.as_deref(), Some("Ada"));
    }

    #[test]
    fn forwarded_product_and_ad_referral_are_kept_in_context() {
        let m = only_message(fixture!("wa_forwarded_referral.json"));
        assert_eq!(m.context["forwarded"], true);
        assert_eq!(
            m.context["referred_product"]["product_retailer_id"],
            "sku-42"
        );
        assert_eq!(m.context["referral"]["ctwa_clid"], "InventedClid");
        assert_eq!(m.reply_to, None);
    }

    #[test]
    fn statuses_map_to_delivery_states_and_failed_carries_the_error() {
        let body = fixture!("wa_statuses.json");
        let got: Vec<_> = statuses(body).iter().map(|s| s.status).collect();
        use MessageStatus::*;
        assert_eq!(got, [Sent, Delivered, Read, Read, Failed]);
        let failed = &statuses(body)[4];
        assert_eq!(failed.customer_id.as_deref(), Some("5511900000222"));
        assert_eq!(failed.error_code, Some(131047));
        assert_eq!(
            failed.error_message.as_deref(),
            Some("More than 24 hours have passed since the customer last replied.")
        );
        assert_eq!(failed.at, secs(1_784_803_804));
        let sent = &statuses(body)[0];
        assert_eq!(
            (sent.error_code, sent.customer_id.as_deref()),
            (None, Some(ADA))
        );
        let events = all_events(body);
        assert_eq!(events.len(), 6);
        assert_eq!(
            skipped_reason(&events[5], "statuses.deleted"),
            "unknown status"
        );
    }

    #[test]
    fn value_errors_are_platform_errors() {
        let events = all_events(fixture!("wa_value_errors.json"));
        assert_eq!(
            events,
            [
                NormalizedEvent::PlatformError {
                    code: 130429,
                    message: "Cloud API message throughput has been reached.".to_owned(),
                },
                NormalizedEvent::PlatformError {
                    code: 131000,
                    message: "Something went wrong".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn messages_and_statuses_in_one_value_are_both_kept() {
        let delivery = delivery(fixture!("wa_messages_and_statuses.json"));
        let events = &delivery.entries[0].events;
        assert_eq!(events.len(), 2);
        assert!(
            matches!(&events[0], NormalizedEvent::Message(m) if m.text.as_deref() == Some("thanks!"))
        );
        assert!(
            matches!(&events[1], NormalizedEvent::Status(s) if s.status == MessageStatus::Delivered)
        );
    }

    #[test]
    fn other_fields_are_skipped_under_the_available_account() {
        let delivery = delivery(fixture!("wa_other_field.json"));
        assert_eq!(delivery.entries[0].account_id, PHONE_ID);
        skipped_reason(
            &only_event(fixture!("wa_other_field.json")),
            "changes.account_update",
        );
    }

    #[test]
    fn each_change_is_its_own_entry_and_missing_metadata_gives_an_empty_account() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {"metadata": {"phone_number_id": "A1"}, "statuses": []}},
            {"field": "messages", "value": {"messages": [{"from": ADA, "id": "w1", "timestamp": "1784803000", "type": "text", "text": {"body": "x"}}]}}]}]});
        let delivery = delivery(&serde_json::to_vec(&body).expect("serializable"));
        let accounts: Vec<_> = delivery
            .entries
            .iter()
            .map(|e| e.account_id.as_str())
            .collect();
        assert_eq!(accounts, ["A1", ""]);
        skipped_reason(&delivery.entries[0].events[0], "changes.messages");
        assert!(matches!(
            delivery.entries[1].events[0],
            NormalizedEvent::Message(_)
        ));
    }

    #[test]
    fn malformed_values_are_skipped_not_panics() {
        let body = json!({"object": "whatsapp_business_account", "entry": [
            {"id": "1"},
            {"id": "2", "changes": [7, {"field": "messages", "value": {"messages": {}, "statuses": [1, {"status": "read"}],
                "contacts": "x", "errors": ["boom"]}}]},
            {"id": "3", "changes": [{"field": "messages", "value": {"messages": [
                "text", {"id": "w1", "from": 447700900111_i64, "timestamp": 1784803000, "type": "image", "image": "not an object"},
                {"id": "w2", "from": ADA, "type": "text", "text": {"body": "no time"}},
                {"id": "w3", "from": ADA, "timestamp": "1784803000", "type": "reaction", "reaction": {"emoji": "x"}}]}}]}]});
        let events = all_events(&serde_json::to_vec(&body).expect("serializable"));
        assert_eq!(events.len(), 9, "{events:#?}");
        skipped_reason(&events[0], "entry");
        skipped_reason(&events[1], "changes");
        skipped_reason(&events[2], "statuses");
        assert_eq!(
            skipped_reason(&events[3], "statuses.read"),
            "missing message id"
        );
        skipped_reason(&events[4], "errors");
        assert_eq!(
            skipped_reason(&events[5], "messages.unknown"),
            "message is not an object"
        );
        let NormalizedEvent::Message(m) = &events[6] else {
            panic!(
                "numeric from and timestamp are read leniently: {:?}",
                events[6]
            );
        };
        assert_eq!(
            (m.customer.external_id.as_str(), m.kind),
            (ADA, MessageKind::Media)
        );
        assert_eq!(m.attachments[0].media_id, None);
        assert_eq!(
            skipped_reason(&events[7], "messages.text"),
            "missing timestamp"
        );
        assert_eq!(
            skipped_reason(&events[8], "messages.reaction"),
            "missing reacted message id"
        );
    }

    #[test]
    fn template_status_updates_route_by_the_business_account() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "218604771935502",
            "time": 1_785_000_000, "changes": [{"field": "message_template_status_update", "value": {
                "event": "REJECTED", "message_template_id": 594_425_479_261_596_u64,
                "message_template_name": "order_update", "message_template_language": "en_US",
                "reason": "INCORRECT_CATEGORY"}}]}]});
        let parsed = delivery(&serde_json::to_vec(&body).unwrap_or_default());
        assert_eq!(parsed.entries[0].account_id, "218604771935502");
        assert_eq!(
            parsed.entries[0].events,
            vec![NormalizedEvent::TemplateStatus(
                crate::inbox::normalized::TemplateStatusUpdate {
                    template_id: Some("594425479261596".into()),
                    name: "order_update".into(),
                    language: "en_US".into(),
                    status: crate::db::enums::TemplateStatus::Rejected,
                    reason: Some("INCORRECT_CATEGORY".into()),
                }
            )]
        );
    }
}
