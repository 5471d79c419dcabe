//! Instagram and Messenger `messaging[]` / `standby[]` items.
//!
//! Each item has `sender.id`, `recipient.id`, a millisecond `timestamp` and one event key
//! (`message`, `reaction`, `read`, `delivery`, `postback`, `message_edit`...). Items we
//! cannot use, and items missing an id we need, become [`NormalizedEvent::Skipped`].

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{
    Attachment, AttachmentType, Contact, EchoMessage, InboundMessage, MessageKind, MessageStatus,
    NormalizedEvent, Platform, Reaction, ReadUpTo, StatusUpdate, Thread, context_value, id_string,
    insert_present, string, timestamp,
};

/// Event keys we turn into events, in the order we look for them.
const HANDLED_KEYS: [&str; 6] = [
    "message",
    "postback",
    "reaction",
    "read",
    "delivery",
    "message_edit",
];

/// Keys every item carries besides its event key.
const ENVELOPE_KEYS: [&str; 3] = ["sender", "recipient", "timestamp"];

/// Payload keys that name the platform object behind an attachment, in priority order.
const MEDIA_ID_KEYS: [&str; 4] = [
    "ig_post_media_id",
    "reel_video_id",
    "sticker_id",
    "story_media_id",
];

/// Result of one handler: the event, or why the item was skipped.
type Outcome<T = NormalizedEvent> = Result<T, &'static str>;

/// Parses one `messaging[]` (or, with `standby`, `standby[]`) item.
///
/// `platform` and `account_id` are part of the uniform signature; the shapes handled here
/// are the same on Instagram and Messenger, and only `is_echo` tells business messages
/// apart, so neither is needed yet.
pub(super) fn parse_event(
    _platform: Platform,
    _account_id: &str,
    item: &Value,
    standby: bool,
) -> Vec<NormalizedEvent> {
    if !item.is_object() {
        return vec![NormalizedEvent::skipped(
            "messaging",
            "item is not an object",
        )];
    }
    let Some((key, body)) = event_key(item) else {
        return vec![NormalizedEvent::skipped("messaging", "no event key")];
    };
    let item = Item::new(item, standby);
    let outcome = match key {
        "message" => message(&item, body).map(|e| vec![e]),
        "postback" => postback(&item, body).map(|e| vec![e]),
        "reaction" => reaction(&item, body).map(|e| vec![e]),
        "read" => read(&item, body).map(|e| vec![e]),
        "delivery" => delivery(&item, body),
        "message_edit" => edit(&item, body).map(|e| vec![e]),
        _ => Err("unsupported event"),
    };
    outcome
        .unwrap_or_else(|reason| vec![NormalizedEvent::skipped(format!("messaging.{key}"), reason)])
}

/// Finds the item's event key: a handled one first, else the first other non-envelope key.
fn event_key(item: &Value) -> Option<(&str, &Value)> {
    let fields = item.as_object()?;
    HANDLED_KEYS
        .iter()
        .find_map(|key| fields.get_key_value(*key))
        .or_else(|| {
            fields
                .iter()
                .find(|(key, _)| !ENVELOPE_KEYS.contains(&key.as_str()))
        })
        .map(|(key, value)| (key.as_str(), value))
}

/// What all events of one item share: who, to whom, when, and through which array.
struct Item<'a> {
    /// The whole item (for keys next to the event key, like a top-level `referral`).
    raw: &'a Value,
    /// `sender.id`.
    sender: Option<String>,
    /// `recipient.id`.
    recipient: Option<String>,
    /// `timestamp`.
    at: Option<DateTime<Utc>>,
    /// Came through `standby[]`.
    standby: bool,
}

impl<'a> Item<'a> {
    /// Reads the envelope of `raw`.
    fn new(raw: &'a Value, standby: bool) -> Self {
        Item {
            raw,
            sender: id_string(raw.pointer("/sender/id")),
            recipient: id_string(raw.pointer("/recipient/id")),
            at: timestamp(raw.get("timestamp")),
            standby,
        }
    }

    /// The sender's id, required.
    fn sender(&self) -> Outcome<String> {
        self.sender.clone().ok_or("missing sender id")
    }

    /// The sender as a customer contact (IGSID / PSID only; no name in these events).
    fn customer(&self) -> Outcome<Contact> {
        Ok(Contact {
            external_id: self.sender()?,
            ..Contact::default()
        })
    }

    /// The item's timestamp, required.
    fn at(&self) -> Outcome<DateTime<Utc>> {
        self.at.ok_or("missing timestamp")
    }
}

/// `true` only for a JSON `true` at `key`.
fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool) == Some(true)
}

/// The `mid` of an event body, required.
fn mid(body: &Value) -> Outcome<String> {
    id_string(body.get("mid")).ok_or("missing mid")
}

/// `message`: a customer message, an echo, an unsend or a self-test.
fn message(item: &Item, msg: &Value) -> Outcome {
    if !msg.is_object() {
        Err("message is not an object")
    } else if flag(msg, "is_echo") {
        echo(item, msg)
    } else if flag(msg, "is_self") {
        Err("self-test message (is_self)")
    } else if flag(msg, "is_deleted") {
        Ok(NormalizedEvent::Unsend {
            external_id: mid(msg)?,
            customer_id: item.sender()?,
        })
    } else {
        inbound(item, msg)
    }
}

/// `message` with `is_echo`: something the business sent to `recipient.id`.
fn echo(item: &Item, msg: &Value) -> Outcome {
    if flag(msg, "is_deleted") {
        return Err("echo of a deleted message");
    }
    Ok(NormalizedEvent::Echo(EchoMessage {
        external_id: mid(msg)?,
        customer_id: item.recipient.clone().ok_or("missing recipient id")?,
        sent_at: item.at()?,
        text: string(msg.get("text")),
        attachments: attachments(msg.get("attachments")),
        metadata: string(msg.get("metadata")),
    }))
}

/// A message written by the customer (text, media, story reply or mention...).
fn inbound(item: &Item, msg: &Value) -> Outcome {
    let external_id = mid(msg)?;
    let customer = item.customer()?;
    let sent_at = item.at()?;
    let unsupported = flag(msg, "is_unsupported");
    let text = string(msg.get("text")).filter(|_| !unsupported);
    let attachments = attachments(msg.get("attachments"));
    let story = msg.pointer("/reply_to/story").filter(|s| s.is_object());
    let mut context = Map::new();
    if let Some(story) = story {
        let id = id_string(story.get("id"));
        let url = string(story.get("url"));
        context.insert("story".to_owned(), json!({ "id": id, "url": url }));
    }
    insert_present(
        &mut context,
        "quick_reply_payload",
        msg.pointer("/quick_reply/payload"),
    );
    let referral = msg.get("referral").or_else(|| item.raw.get("referral"));
    insert_present(&mut context, "referral", referral);
    Ok(NormalizedEvent::Message(InboundMessage {
        kind: message_kind(unsupported, story.is_some(), &attachments, text.is_some()),
        external_id,
        customer,
        sent_at,
        text,
        attachments,
        reply_to: id_string(msg.pointer("/reply_to/mid")),
        thread: Thread::Direct,
        context: context_value(context),
        standby: item.standby,
    }))
}

/// Picks the message kind; a message with nothing we can show is an `Unsupported`
/// placeholder.
fn message_kind(
    unsupported: bool,
    story_reply: bool,
    attachments: &[Attachment],
    has_text: bool,
) -> MessageKind {
    if unsupported {
        MessageKind::Unsupported
    } else if story_reply {
        MessageKind::StoryReply
    } else if attachments
        .iter()
        .any(|a| a.kind == AttachmentType::StoryMention)
    {
        MessageKind::StoryMention
    } else if !attachments.is_empty() {
        MessageKind::Media
    } else if has_text {
        MessageKind::Text
    } else {
        MessageKind::Unsupported
    }
}

/// Maps `attachments[]` in order, keeping one attachment per shared post (`share` +
/// `ig_post`) and per sticker (`sticker` + `image`).
fn attachments(list: Option<&Value>) -> Vec<Attachment> {
    let mut out: Vec<Attachment> = Vec::new();
    for attachment in list
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(attachment)
    {
        match out.iter_mut().find(|kept| same_object(kept, &attachment)) {
            Some(kept) => merge(kept, attachment),
            None => out.push(attachment),
        }
    }
    out
}

/// Looks `key` up in the attachment's `payload`, then on the attachment itself (old
/// Messenger `fallback` attachments carry `url` / `title` there).
fn lookup<'v>(attachment: &'v Value, key: &str) -> Option<&'v Value> {
    attachment
        .get("payload")
        .and_then(|p| p.get(key))
        .or_else(|| attachment.get(key))
}

/// Maps one attachment; unknown or missing types become [`AttachmentType::Unknown`].
fn attachment(v: &Value) -> Attachment {
    let raw_type = string(v.get("type")).unwrap_or_else(|| "unknown".to_owned());
    Attachment {
        kind: attachment_kind(&raw_type),
        url: string(lookup(v, "url")).or_else(|| string(lookup(v, "story_media_url"))),
        mime_type: None,
        media_id: MEDIA_ID_KEYS
            .iter()
            .find_map(|key| id_string(lookup(v, key))),
        title: string(lookup(v, "title")).or_else(|| string(lookup(v, "caption"))),
        sha256: None,
        raw_type,
    }
}

/// Normalizes an Instagram / Messenger attachment type.
fn attachment_kind(raw_type: &str) -> AttachmentType {
    match raw_type {
        "image" => AttachmentType::Image,
        "video" => AttachmentType::Video,
        "audio" => AttachmentType::Audio,
        "file" => AttachmentType::File,
        "share" | "ig_post" | "fallback" => AttachmentType::Share,
        "story_mention" => AttachmentType::StoryMention,
        "reel" | "ig_reel" => AttachmentType::Reel,
        "sticker" => AttachmentType::Sticker,
        _ => AttachmentType::Unknown,
    }
}

/// Attachments that may describe the same object twice: shares, and stickers (a sticker,
/// or an image carrying a sticker id).
#[derive(PartialEq)]
enum DedupeGroup {
    /// `share`, `ig_post`, `fallback`.
    Share,
    /// `sticker`, or `image` with `sticker_id`.
    Sticker,
}

/// The dedupe group of an attachment, if it can have a twin.
fn dedupe_group(a: &Attachment) -> Option<DedupeGroup> {
    match a.kind {
        AttachmentType::Share => Some(DedupeGroup::Share),
        AttachmentType::Sticker => Some(DedupeGroup::Sticker),
        AttachmentType::Image if a.media_id.is_some() => Some(DedupeGroup::Sticker),
        _ => None,
    }
}

/// Whether two attachments describe one object (same group, same media id or url).
fn same_object(a: &Attachment, b: &Attachment) -> bool {
    let equal = |x: &Option<String>, y: &Option<String>| x.is_some() && x == y;
    dedupe_group(a).is_some()
        && dedupe_group(a) == dedupe_group(b)
        && (equal(&a.media_id, &b.media_id) || equal(&a.url, &b.url))
}

/// Whether an attachment is the newer form of a duplicated pair (`ig_post`, `sticker`).
fn preferred(a: &Attachment) -> bool {
    matches!(a.raw_type.as_str(), "ig_post" | "sticker")
}

/// Merges a twin into the kept attachment: the preferred form's data wins, the other
/// only fills gaps; the position of the first one is kept.
fn merge(kept: &mut Attachment, twin: Attachment) {
    let other = if preferred(&twin) && !preferred(kept) {
        std::mem::replace(kept, twin)
    } else {
        twin
    };
    kept.url = kept.url.take().or(other.url);
    kept.media_id = kept.media_id.take().or(other.media_id);
    kept.title = kept.title.take().or(other.title);
}

/// `postback`: an ice-breaker or button tap, stored as a message with the payload.
fn postback(item: &Item, body: &Value) -> Outcome {
    let external_id = id_string(body.get("mid")).ok_or("postback without mid")?;
    let mut context = Map::new();
    insert_present(&mut context, "postback_payload", body.get("payload"));
    insert_present(&mut context, "referral", body.get("referral"));
    Ok(NormalizedEvent::Message(InboundMessage {
        external_id,
        customer: item.customer()?,
        sent_at: item.at()?,
        kind: MessageKind::Postback,
        text: string(body.get("title")),
        attachments: Vec::new(),
        reply_to: None,
        thread: Thread::Direct,
        context: context_value(context),
        standby: item.standby,
    }))
}

/// `reaction`: `react` / `unreact` on a message.
fn reaction(item: &Item, body: &Value) -> Outcome {
    let emoji = string(body.get("emoji"));
    let name = string(body.get("reaction"));
    let removed = match body.get("action").and_then(Value::as_str) {
        Some("unreact") => true,
        Some("react") => false,
        None => emoji.is_none() && name.is_none(),
        Some(_) => return Err("unknown reaction action"),
    };
    Ok(NormalizedEvent::Reaction(Reaction {
        target_external_id: mid(body)?,
        customer_id: item.sender()?,
        emoji,
        reaction: name,
        removed,
        at: item.at()?,
    }))
}

/// `read`: Instagram names a message (`mid`), Messenger a time (`watermark`).
fn read(item: &Item, body: &Value) -> Outcome {
    let up_to = match id_string(body.get("mid")) {
        Some(mid) => ReadUpTo::Message(mid),
        None => ReadUpTo::Watermark(
            timestamp(body.get("watermark")).ok_or("read without mid or watermark")?,
        ),
    };
    Ok(NormalizedEvent::Read {
        customer_id: item.sender()?,
        up_to,
        at: item.at()?,
    })
}

/// `delivery` (Messenger): one `Delivered` status per listed mid.
fn delivery(item: &Item, body: &Value) -> Outcome<Vec<NormalizedEvent>> {
    let mids: Vec<String> = body
        .get("mids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|mid| id_string(Some(mid)))
        .collect();
    if mids.is_empty() {
        return Err("delivery without mids (watermarks are not tracked)");
    }
    let at = item
        .at
        .or_else(|| timestamp(body.get("watermark")))
        .ok_or("missing timestamp")?;
    let status = |external_id| {
        NormalizedEvent::Status(StatusUpdate {
            external_id,
            customer_id: item.sender.clone(),
            status: MessageStatus::Delivered,
            at,
            error_code: None,
            error_message: None,
        })
    };
    Ok(mids.into_iter().map(status).collect())
}

/// `message_edit`: the customer changed a message's text.
fn edit(item: &Item, body: &Value) -> Outcome {
    Ok(NormalizedEvent::Edit {
        external_id: mid(body)?,
        customer_id: item.sender()?,
        text: string(body.get("text")),
        at: item.at()?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        all_events, delivery, fixture, ms, only_event, only_message, skipped_reason,
    };
    use super::super::{
        AttachmentType, MessageKind, MessageStatus, NormalizedEvent, Platform, ReadUpTo, Thread,
    };
    use serde_json::json;

    const IG_ACCOUNT: &str = "17841400000000101";
    const CUSTOMER_A: &str = "5500000000000011";
    const MID_TEXT: &str = "aWdfZAG1faXRlbToxOlRFU1RfTUlEXwVGV4dDAx";
    const MID_ECHO: &str = "aWdfZAG1faXRlbToxOlRFU1RfTUlEXwRWNobzAx";

    /// One Instagram body with `item` as its only `messaging[]` element.
    fn ig_body(item: serde_json::Value) -> Vec<u8> {
        let body =
            json!({"object": "instagram", "entry": [{"id": IG_ACCOUNT, "messaging": [item]}]});
        serde_json::to_vec(&body).expect("serializable")
    }

    #[test]
    fn ig_text_is_a_text_message_from_the_sender() {
        let delivery = delivery(fixture!("ig_dm_text.json"));
        assert_eq!(delivery.platform, Some(Platform::Instagram));
        assert_eq!(delivery.entries[0].account_id, IG_ACCOUNT);
        let m = only_message(fixture!("ig_dm_text.json"));
        assert_eq!(m.external_id, MID_TEXT);
        assert_eq!(m.customer.external_id, CUSTOMER_A);
        assert_eq!(m.customer.username, None);
        assert_eq!(m.sent_at, ms(1_784_800_000_000));
        assert_eq!(m.kind, MessageKind::Text);
        assert_eq!(
            m.text.as_deref(),
            Some("Hello! Is the blue kettle back in stock?")
        );
        assert!(m.attachments.is_empty());
        assert_eq!(m.thread, Thread::Direct);
        assert_eq!(m.context, serde_json::Value::Null);
        assert!(!m.standby);
    }

    #[test]
    fn ig_image_is_a_media_message_with_the_cdn_url() {
        let m = only_message(fixture!("ig_dm_image.json"));
        assert_eq!(m.kind, MessageKind::Media);
        assert_eq!(m.text, None);
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].kind, AttachmentType::Image);
        assert_eq!(m.attachments[0].raw_type, "image");
        let url = m.attachments[0].url.as_deref().unwrap_or_default();
        assert!(url.contains("asset_id=1001"), "{url}");
    }

    #[test]
    fn ig_multiple_attachments_make_one_message_in_array_order() {
        let m = only_message(fixture!("ig_dm_multiple_attachments.json"));
        assert_eq!(m.kind, MessageKind::Media);
        let kinds: Vec<_> = m.attachments.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            [
                AttachmentType::Image,
                AttachmentType::Image,
                AttachmentType::Video
            ]
        );
        let urls: Vec<_> = m
            .attachments
            .iter()
            .filter_map(|a| a.url.as_deref())
            .collect();
        assert!(urls[0].contains("2001") && urls[1].contains("2002") && urls[2].contains("2003"));
    }

    #[test]
    fn ig_story_reply_keeps_text_and_story_context() {
        let m = only_message(fixture!("ig_story_reply.json"));
        assert_eq!(m.kind, MessageKind::StoryReply);
        assert_eq!(m.text.as_deref(), Some("Where can I buy that lamp?"));
        assert_eq!(m.reply_to, None);
        assert_eq!(m.context["story"]["id"], "18000000000003001");
        let url = m.context["story"]["url"].as_str().unwrap_or_default();
        assert!(url.contains("asset_id=3001"), "{url}");
    }

    #[test]
    fn ig_story_mention_has_story_mention_kind_and_attachment_url() {
        let m = only_message(fixture!("ig_story_mention.json"));
        assert_eq!(m.kind, MessageKind::StoryMention);
        assert_eq!(m.customer.external_id, "5500000000000022");
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].kind, AttachmentType::StoryMention);
        assert!(
            m.attachments[0]
                .url
                .as_deref()
                .unwrap_or_default()
                .contains("4001")
        );
    }

    #[test]
    fn ig_share_and_ig_post_of_one_post_keep_one_attachment_preferring_ig_post() {
        let m = only_message(fixture!("ig_share_post.json"));
        assert_eq!(m.kind, MessageKind::Media);
        assert_eq!(m.attachments.len(), 1, "{:?}", m.attachments);
        let share = &m.attachments[0];
        assert_eq!(share.kind, AttachmentType::Share);
        assert_eq!(share.raw_type, "ig_post");
        assert_eq!(share.media_id.as_deref(), Some("18100000000005001"));
        assert_eq!(share.title.as_deref(), Some("Spring menu is here"));
        assert!(
            share
                .url
                .as_deref()
                .unwrap_or_default()
                .contains("5001-new")
        );
    }

    #[test]
    fn ig_shares_of_different_posts_are_both_kept() {
        let item = json!({"sender": {"id": CUSTOMER_A}, "timestamp": 1784800000000_i64,
            "message": {"mid": "m1", "attachments": [
                {"type": "share", "payload": {"ig_post_media_id": "1", "url": "https://a"}},
                {"type": "ig_post", "payload": {"ig_post_media_id": "2", "url": "https://b"}}]}});
        assert_eq!(only_message(&ig_body(item)).attachments.len(), 2);
    }

    #[test]
    fn ig_postback_is_a_postback_message_with_title_and_payload() {
        let m = only_message(fixture!("ig_postback.json"));
        assert_eq!(m.kind, MessageKind::Postback);
        assert_eq!(m.external_id, "aWdfZAG1faXRlbToxOlRFU1RfTUlEXwUG9zdGJhY2sx");
        assert_eq!(m.text.as_deref(), Some("See opening hours"));
        assert_eq!(m.context, json!({"postback_payload": "ICEBREAKER_HOURS"}));
    }

    #[test]
    fn ig_postback_without_mid_is_skipped() {
        let item = json!({"sender": {"id": CUSTOMER_A}, "timestamp": 1784800000000_i64,
            "postback": {"title": "Hi", "payload": "P"}});
        let reason = skipped_reason(&only_event(&ig_body(item)), "messaging.postback");
        assert!(reason.contains("mid"), "{reason}");
    }

    #[test]
    fn ig_quick_reply_is_text_with_payload_in_context() {
        let m = only_message(fixture!("ig_quick_reply.json"));
        assert_eq!(m.kind, MessageKind::Text);
        assert_eq!(m.text.as_deref(), Some("Medium"));
        assert_eq!(m.context, json!({"quick_reply_payload": "SIZE_M"}));
    }

    #[test]
    fn ig_reply_to_mid_sets_reply_to() {
        let m = only_message(fixture!("ig_reply_to_message.json"));
        assert_eq!(m.kind, MessageKind::Text);
        assert_eq!(m.reply_to.as_deref(), Some(MID_ECHO));
    }

    #[test]
    fn ig_message_referral_goes_to_context() {
        let item = json!({"sender": {"id": CUSTOMER_A}, "timestamp": 1784800000000_i64,
            "message": {"mid": "m1", "text": "I saw your ad",
                "referral": {"ref": "spring", "ad_id": "42", "source": "ADS", "type": "OPEN_THREAD"}}});
        let m = only_message(&ig_body(item));
        assert_eq!(m.context["referral"]["ad_id"], "42");
    }

    #[test]
    fn ig_echo_is_outbound_to_the_recipient() {
        let NormalizedEvent::Echo(echo) = only_event(fixture!("ig_echo.json")) else {
            panic!("expected an echo");
        };
        assert_eq!(echo.external_id, MID_ECHO);
        assert_eq!(echo.customer_id, CUSTOMER_A);
        assert_eq!(echo.text.as_deref(), Some("Yes, it is back since Monday."));
        assert_eq!(echo.sent_at, ms(1_784_800_540_000));
        assert_eq!(echo.metadata, None);
        assert!(echo.attachments.is_empty());
    }

    #[test]
    fn echo_attachments_use_the_same_mapping_as_messages() {
        let item = json!({"sender": {"id": IG_ACCOUNT}, "recipient": {"id": CUSTOMER_A},
            "timestamp": 1784800000000_i64, "message": {"mid": "m1", "is_echo": true,
                "attachments": [{"type": "template", "payload": {"template_type": "generic"}},
                                {"type": "image", "payload": {"url": "https://img"}}]}});
        let NormalizedEvent::Echo(echo) = only_event(&ig_body(item)) else {
            panic!("expected an echo");
        };
        let kinds: Vec<_> = echo.attachments.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, [AttachmentType::Unknown, AttachmentType::Image]);
        assert_eq!(echo.attachments[0].raw_type, "template");
    }

    #[test]
    fn deleted_echo_is_skipped() {
        let item = json!({"sender": {"id": IG_ACCOUNT}, "recipient": {"id": CUSTOMER_A},
            "timestamp": 1784800000000_i64, "message": {"mid": "m1", "is_echo": true, "is_deleted": true}});
        skipped_reason(&only_event(&ig_body(item)), "messaging.message");
    }

    #[test]
    fn ig_reaction_has_target_emoji_and_name() {
        let NormalizedEvent::Reaction(r) = only_event(fixture!("ig_reaction.json")) else {
            panic!("expected a reaction");
        };
        assert_eq!(r.target_external_id, MID_ECHO);
        assert_eq!(r.customer_id, CUSTOMER_A);
        assert_eq!(r.emoji.as_deref(), Some("\u{2764}\u{fe0f}"));
        assert_eq!(r.reaction.as_deref(), Some("love"));
        assert!(!r.removed);
        assert_eq!(r.at, ms(1_784_800_600_000));
    }

    #[test]
    fn ig_unreact_removes_the_reaction() {
        let NormalizedEvent::Reaction(r) = only_event(fixture!("ig_unreact.json")) else {
            panic!("expected a reaction");
        };
        assert_eq!(r.target_external_id, MID_ECHO);
        assert!(r.removed);
        assert_eq!(r.emoji, None);
        assert_eq!(r.reaction, None);
    }

    #[test]
    fn ig_read_names_the_message_read() {
        let event = only_event(fixture!("ig_read.json"));
        assert_eq!(
            event,
            NormalizedEvent::Read {
                customer_id: CUSTOMER_A.to_owned(),
                up_to: ReadUpTo::Message(MID_ECHO.to_owned()),
                at: ms(1_784_800_720_000),
            }
        );
    }

    #[test]
    fn ig_deleted_message_is_an_unsend() {
        let event = only_event(fixture!("ig_unsend.json"));
        assert_eq!(
            event,
            NormalizedEvent::Unsend {
                external_id: MID_TEXT.to_owned(),
                customer_id: CUSTOMER_A.to_owned(),
            }
        );
    }

    #[test]
    fn ig_message_edit_is_an_edit_with_new_text() {
        let event = only_event(fixture!("ig_message_edit.json"));
        assert_eq!(
            event,
            NormalizedEvent::Edit {
                external_id: MID_TEXT.to_owned(),
                customer_id: CUSTOMER_A.to_owned(),
                text: Some("Hello! Is the red kettle back in stock?".to_owned()),
                at: ms(1_784_800_840_000),
            }
        );
    }

    #[test]
    fn ig_unsupported_is_a_placeholder_without_text() {
        let m = only_message(fixture!("ig_unsupported.json"));
        assert_eq!(m.kind, MessageKind::Unsupported);
        assert_eq!(m.text, None);
        assert!(m.attachments.is_empty());
    }

    #[test]
    fn message_without_text_or_attachments_is_an_unsupported_placeholder() {
        let item = json!({"sender": {"id": CUSTOMER_A}, "timestamp": 1784800000000_i64, "message": {"mid": "m1"}});
        let m = only_message(&ig_body(item));
        assert_eq!(m.kind, MessageKind::Unsupported);
        assert_eq!(m.external_id, "m1");
    }

    #[test]
    fn ig_ephemeral_attachment_is_an_unknown_placeholder_without_url() {
        let m = only_message(fixture!("ig_ephemeral.json"));
        assert_eq!(m.kind, MessageKind::Media);
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].kind, AttachmentType::Unknown);
        assert_eq!(m.attachments[0].raw_type, "ephemeral");
        assert_eq!(m.attachments[0].url, None);
    }

    #[test]
    fn ig_attachment_types_map_to_kinds_with_ids_and_urls() {
        let m = only_message(fixture!("ig_attachment_types.json"));
        let got: Vec<_> = m
            .attachments
            .iter()
            .map(|a| {
                (
                    a.kind,
                    a.raw_type.as_str(),
                    a.media_id.as_deref(),
                    a.url.is_some(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (AttachmentType::Audio, "audio", None, true),
                (AttachmentType::File, "file", None, true),
                (
                    AttachmentType::Reel,
                    "reel",
                    Some("18200000000006003"),
                    true
                ),
                (
                    AttachmentType::Reel,
                    "ig_reel",
                    Some("18200000000006004"),
                    true
                ),
                (
                    AttachmentType::Unknown,
                    "ig_story",
                    Some("18200000000006005"),
                    true
                ),
                (AttachmentType::Unknown, "template", None, true),
                (AttachmentType::Unknown, "unknown", None, true),
                (AttachmentType::Unknown, "hologram", None, false),
            ]
        );
        assert_eq!(m.attachments[2].title.as_deref(), Some("Behind the scenes"));
    }

    #[test]
    fn ig_standby_message_is_flagged_standby() {
        let m = only_message(fixture!("ig_standby.json"));
        assert!(m.standby);
        assert_eq!(m.text.as_deref(), Some("Anyone there?"));
    }

    #[test]
    fn ig_self_test_message_is_skipped() {
        skipped_reason(
            &only_event(fixture!("ig_is_self.json")),
            "messaging.message",
        );
    }

    #[test]
    fn other_event_keys_are_skipped_by_key() {
        let kinds: Vec<String> = all_events(fixture!("ig_skipped_events.json"))
            .into_iter()
            .map(|e| match e {
                NormalizedEvent::Skipped { kind, .. } => kind,
                other => panic!("expected Skipped, got {other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "messaging.referral",
                "messaging.optin",
                "messaging.account_linking",
                "messaging.pass_thread_control",
                "messaging.policy_enforcement",
            ]
        );
    }

    #[test]
    fn ig_batched_body_routes_each_entry_by_its_own_id() {
        let delivery = delivery(fixture!("ig_batched.json"));
        assert_eq!(delivery.entries.len(), 2);
        let (a, b) = (&delivery.entries[0], &delivery.entries[1]);
        assert_eq!(a.account_id, IG_ACCOUNT);
        assert_eq!(a.events.len(), 2);
        assert!(
            matches!(&a.events[0], NormalizedEvent::Message(m) if m.customer.external_id == "5500000000000022")
        );
        assert!(
            matches!(&a.events[1], NormalizedEvent::Read { up_to: ReadUpTo::Message(mid), .. } if mid == MID_ECHO)
        );
        assert_eq!(b.account_id, "17841400000000202");
        assert_eq!(b.events.len(), 1);
        assert!(
            matches!(&b.events[0], NormalizedEvent::Message(m) if m.customer.external_id == "5500000000000033")
        );
    }

    #[test]
    fn messenger_text_is_a_text_message_from_the_psid() {
        let delivery = delivery(fixture!("messenger_text.json"));
        assert_eq!(delivery.platform, Some(Platform::Messenger));
        assert_eq!(delivery.entries[0].account_id, "104400000000001");
        let m = only_message(fixture!("messenger_text.json"));
        assert_eq!(m.external_id, "m_InventedMessengerText01");
        assert_eq!(m.customer.external_id, "8800000000000066");
        assert_eq!(m.kind, MessageKind::Text);
        assert_eq!(m.text.as_deref(), Some("Hi, my parcel never arrived."));
    }

    #[test]
    fn messenger_echo_keeps_the_metadata_string() {
        let NormalizedEvent::Echo(echo) = only_event(fixture!("messenger_echo.json")) else {
            panic!("expected an echo");
        };
        assert_eq!(echo.external_id, "m_InventedMessengerEcho01");
        assert_eq!(echo.customer_id, "8800000000000066");
        assert_eq!(
            echo.metadata.as_deref(),
            Some("outbound:7d1c5e2a-0000-4000-8000-000000000001")
        );
    }

    #[test]
    fn messenger_read_is_a_watermark() {
        let event = only_event(fixture!("messenger_read.json"));
        assert_eq!(
            event,
            NormalizedEvent::Read {
                customer_id: "8800000000000066".to_owned(),
                up_to: ReadUpTo::Watermark(ms(1_784_802_060_000)),
                at: ms(1_784_802_120_000),
            }
        );
    }

    #[test]
    fn messenger_delivery_gives_one_status_per_mid_and_skips_watermark_only() {
        let events = all_events(fixture!("messenger_delivery.json"));
        assert_eq!(events.len(), 3, "{events:?}");
        for (event, mid) in events
            .iter()
            .zip(["m_InventedMessengerEcho01", "m_InventedMessengerEcho02"])
        {
            let NormalizedEvent::Status(status) = event else {
                panic!("expected a status, got {event:?}");
            };
            assert_eq!(status.external_id, mid);
            assert_eq!(status.status, MessageStatus::Delivered);
            assert_eq!(status.customer_id.as_deref(), Some("8800000000000066"));
            assert_eq!(status.at, ms(1_784_802_130_000));
        }
        skipped_reason(&events[2], "messaging.delivery");
    }

    #[test]
    fn messenger_sticker_and_image_twin_keep_one_sticker() {
        let m = only_message(fixture!("messenger_sticker.json"));
        assert_eq!(m.kind, MessageKind::Media);
        assert_eq!(m.attachments.len(), 1, "{:?}", m.attachments);
        let sticker = &m.attachments[0];
        assert_eq!(sticker.kind, AttachmentType::Sticker);
        assert_eq!(sticker.media_id.as_deref(), Some("369239263222822"));
        assert!(sticker.url.is_some(), "url filled from the image twin");
    }

    #[test]
    fn messenger_fallback_link_is_a_share_with_title_and_text() {
        let m = only_message(fixture!("messenger_fallback.json"));
        assert_eq!(m.kind, MessageKind::Media);
        assert_eq!(m.text.as_deref(), Some("look at this"));
        assert_eq!(m.attachments[0].kind, AttachmentType::Share);
        assert_eq!(m.attachments[0].title.as_deref(), Some("Invented article"));
        assert_eq!(
            m.attachments[0].url.as_deref(),
            Some("https://example.com/invented-article")
        );
    }

    #[test]
    fn missing_sender_mid_or_timestamp_is_skipped_with_a_reason() {
        let cases = [
            (
                json!({"timestamp": 1784800000000_i64, "message": {"mid": "m1", "text": "x"}}),
                "sender",
            ),
            (
                json!({"sender": {"id": ""}, "timestamp": 1784800000000_i64, "message": {"mid": "m1", "text": "x"}}),
                "sender",
            ),
            (
                json!({"sender": {"id": CUSTOMER_A}, "timestamp": 1784800000000_i64, "message": {"text": "x"}}),
                "mid",
            ),
            (
                json!({"sender": {"id": CUSTOMER_A}, "message": {"mid": "m1", "text": "x"}}),
                "missing timestamp",
            ),
            (
                json!({"sender": {"id": CUSTOMER_A}, "timestamp": 1784800000000_i64, "reaction": {"action": "react"}}),
                "mid",
            ),
            (
                json!({"timestamp": 1784800000000_i64, "read": {"mid": "m1"}}),
                "sender",
            ),
            (
                json!({"sender": {"id": CUSTOMER_A}, "timestamp": 1784800000000_i64, "read": {}}),
                "watermark",
            ),
        ];
        for (item, expected) in cases {
            let event = only_event(&ig_body(item.clone()));
            let NormalizedEvent::Skipped { reason, .. } = &event else {
                panic!("{item} gave {event:?}");
            };
            assert!(reason.contains(expected), "{item}: {reason}");
        }
    }

    #[test]
    fn wrong_types_in_an_item_are_skipped_not_panics() {
        let cases = [
            json!("a string"),
            json!(null),
            json!({}),
            json!({"sender": [], "timestamp": {}, "message": {"mid": 5, "text": 7}}),
            json!({"sender": {"id": CUSTOMER_A}, "timestamp": 1784800000000_i64, "message": "hello"}),
            json!({"sender": {"id": CUSTOMER_A}, "timestamp": 1784800000000_i64, "reaction": {"mid": "m1", "action": "wave"}}),
            json!({"sender": {"id": CUSTOMER_A}, "timestamp": 1784800000000_i64, "delivery": {"mids": "m1"}}),
        ];
        for item in cases {
            let event = only_event(&ig_body(item.clone()));
            assert!(
                matches!(event, NormalizedEvent::Skipped { .. }),
                "{item} gave {event:?}"
            );
        }
    }

    #[test]
    fn numbers_where_strings_are_expected_are_read_as_ids() {
        let item = json!({"sender": {"id": 5500000000000011_i64}, "timestamp": "1784800000000",
            "message": {"mid": 12345, "text": 7, "attachments": {"not": "a list"}}});
        let m = only_message(&ig_body(item));
        assert_eq!(m.customer.external_id, CUSTOMER_A);
        assert_eq!(m.external_id, "12345");
        assert_eq!(m.text, None);
        assert!(m.attachments.is_empty());
        assert_eq!(m.kind, MessageKind::Unsupported);
    }
}
