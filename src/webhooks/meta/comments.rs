//! Instagram `changes[]` items (and the flat `field` / `value` entry variant).
//!
//! `comments` and `live_comments` become comment messages (or [`NormalizedEvent::OwnComment`]
//! when the business wrote them); `messages` (the dashboard "Test" button) is read like a
//! `messaging[]` item; every other field is [`NormalizedEvent::Skipped`].

use serde_json::{Map, Value};

use super::{
    Contact, InboundMessage, MessageKind, NormalizedEvent, OwnComment, Platform, Thread, id_string,
    insert_present, messaging, string, timestamp,
};

/// `media` keys copied into a comment's context when present.
const MEDIA_CONTEXT_KEYS: [&str; 4] = [
    "media_product_type",
    "ad_id",
    "ad_title",
    "original_media_id",
];

/// Parses one `changes[]` item (or an entry carrying `field` / `value` itself); `entry`
/// gives the fallback timestamp (`entry.time`).
pub(super) fn parse_change(
    platform: Platform,
    account_id: &str,
    entry: &Value,
    change: &Value,
) -> Vec<NormalizedEvent> {
    let Some(field) = change.get("field").and_then(Value::as_str) else {
        return vec![NormalizedEvent::skipped("changes", "missing field")];
    };
    let value = change.get("value").unwrap_or(&Value::Null);
    let event = match field {
        "comments" | "live_comments" => comment(account_id, entry, field, value),
        "messages" => return messaging::parse_event(platform, account_id, value, false),
        _ => Err("unsupported field"),
    };
    vec![
        event.unwrap_or_else(|reason| NormalizedEvent::skipped(format!("changes.{field}"), reason)),
    ]
}

/// A `comments` / `live_comments` value: the customer's comment, or the business's own.
fn comment(
    account_id: &str,
    entry: &Value,
    field: &str,
    value: &Value,
) -> Result<NormalizedEvent, &'static str> {
    if !value.is_object() {
        return Err("value is not an object");
    }
    let external_id = id_string(value.get("id"))
        .or_else(|| id_string(value.get("comment_id")))
        .ok_or("missing comment id")?;
    let media_id = id_string(value.pointer("/media/id")).ok_or("missing media id")?;
    let author = id_string(value.pointer("/from/id")).ok_or("missing sender id")?;
    let sent_at = timestamp(entry.get("time"))
        .or_else(|| timestamp(value.get("timestamp")))
        .ok_or("missing timestamp")?;
    let text = string(value.get("text"));
    let parent_id = id_string(value.get("parent_id"));
    if author == account_id {
        return Ok(NormalizedEvent::OwnComment(OwnComment {
            external_id,
            parent_id,
            media_id,
            text,
            sent_at,
        }));
    }
    Ok(NormalizedEvent::Message(InboundMessage {
        external_id,
        customer: Contact {
            external_id: author,
            username: string(value.pointer("/from/username")),
            display_name: None,
        },
        sent_at,
        kind: MessageKind::Comment,
        text,
        attachments: Vec::new(),
        reply_to: parent_id,
        thread: Thread::Comment { media_id },
        context: comment_context(field, value.get("media")),
        standby: false,
    }))
}

/// `{"media_product_type", "ad_id", ..., "live"}` for agents: where the comment was made.
fn comment_context(field: &str, media: Option<&Value>) -> Value {
    let mut context = Map::new();
    for key in MEDIA_CONTEXT_KEYS {
        insert_present(&mut context, key, media.and_then(|m| m.get(key)));
    }
    context.insert("live".to_owned(), Value::Bool(field == "live_comments"));
    Value::Object(context)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        all_events, delivery, fixture, only_event, only_message, secs, skipped_reason,
    };
    use super::super::{MessageKind, NormalizedEvent, OwnComment, Thread};
    use serde_json::json;

    const MEDIA: &str = "17900000000000777";

    /// One Instagram body whose only entry has `change` in `changes[]`.
    fn change_body(change: serde_json::Value) -> Vec<u8> {
        let body = json!({"object": "instagram", "entry": [
            {"id": "17841400000000101", "time": 1784801300, "changes": [change]}]});
        serde_json::to_vec(&body).expect("serializable")
    }

    #[test]
    fn comment_is_a_comment_message_in_its_media_thread() {
        let m = only_message(fixture!("ig_comment.json"));
        assert_eq!(m.kind, MessageKind::Comment);
        assert_eq!(m.external_id, "18000000000008001");
        assert_eq!(m.customer.external_id, "6600000000000044");
        assert_eq!(m.customer.username.as_deref(), Some("sam.knits"));
        assert_eq!(m.text.as_deref(), Some("Is this available in wool?"));
        assert_eq!(
            m.thread,
            Thread::Comment {
                media_id: MEDIA.to_owned()
            }
        );
        assert_eq!(m.reply_to, None);
        assert_eq!(m.sent_at, secs(1_784_801_300));
        assert_eq!(
            m.context,
            json!({"media_product_type": "FEED", "live": false})
        );
    }

    #[test]
    fn comment_reply_points_at_its_parent() {
        let m = only_message(fixture!("ig_comment_reply.json"));
        assert_eq!(m.customer.username.as_deref(), Some("rio_cycles"));
        assert_eq!(m.reply_to.as_deref(), Some("18000000000008001"));
        assert_eq!(
            m.thread,
            Thread::Comment {
                media_id: MEDIA.to_owned()
            }
        );
    }

    #[test]
    fn own_comment_is_not_a_customer_message() {
        let event = only_event(fixture!("ig_own_comment.json"));
        assert_eq!(
            event,
            NormalizedEvent::OwnComment(OwnComment {
                external_id: "18000000000008003".to_owned(),
                parent_id: Some("18000000000008001".to_owned()),
                media_id: MEDIA.to_owned(),
                text: Some("Yes! Check your DMs.".to_owned()),
                sent_at: secs(1_784_801_420),
            })
        );
    }

    #[test]
    fn live_comment_reads_comment_id_and_is_marked_live() {
        let m = only_message(fixture!("ig_live_comment.json"));
        assert_eq!(m.kind, MessageKind::Comment);
        assert_eq!(m.external_id, "18000000000008004");
        assert_eq!(
            m.thread,
            Thread::Comment {
                media_id: "17900000000000888".to_owned()
            }
        );
        assert_eq!(m.context, json!({"live": true}));
    }

    #[test]
    fn flat_field_value_entry_is_parsed_with_ad_context() {
        let m = only_message(fixture!("ig_ad_comment_flat.json"));
        assert_eq!(m.external_id, "18000000000008005");
        assert_eq!(
            m.context,
            json!({"media_product_type": "AD", "ad_id": "23800000000000001",
                   "ad_title": "Spring sale", "live": false})
        );
    }

    #[test]
    fn mentions_are_skipped() {
        skipped_reason(
            &only_event(fixture!("ig_mentions.json")),
            "changes.mentions",
        );
    }

    #[test]
    fn dashboard_test_messages_change_is_read_like_a_messaging_item() {
        let delivery = delivery(fixture!("ig_test_button.json"));
        assert_eq!(delivery.entries[0].account_id, "17841400000000101");
        let m = only_message(fixture!("ig_test_button.json"));
        assert_eq!(m.kind, MessageKind::Text);
        assert_eq!(m.external_id, "random_mid");
        assert_eq!(m.customer.external_id, "12334");
        assert_eq!(m.sent_at, secs(1_784_801_660));
    }

    #[test]
    fn comment_without_media_id_is_skipped() {
        let change =
            json!({"field": "comments", "value": {"id": "1", "from": {"id": "2"}, "text": "hi"}});
        let reason = skipped_reason(&only_event(&change_body(change)), "changes.comments");
        assert_eq!(reason, "missing media id");
    }

    #[test]
    fn comment_without_author_or_id_is_skipped() {
        let no_author = json!({"field": "comments", "value": {"id": "1", "media": {"id": "3"}}});
        let no_id =
            json!({"field": "live_comments", "value": {"from": {"id": "2"}, "media": {"id": "3"}}});
        assert_eq!(
            skipped_reason(&only_event(&change_body(no_author)), "changes.comments"),
            "missing sender id"
        );
        assert_eq!(
            skipped_reason(&only_event(&change_body(no_id)), "changes.live_comments"),
            "missing comment id"
        );
    }

    #[test]
    fn comment_without_any_timestamp_is_skipped() {
        let body = json!({"object": "instagram", "entry": [{"id": "17841400000000101", "changes": [
            {"field": "comments", "value": {"id": "1", "from": {"id": "2"}, "media": {"id": "3"}}}]}]});
        let bytes = serde_json::to_vec(&body).expect("serializable");
        assert_eq!(
            skipped_reason(&only_event(&bytes), "changes.comments"),
            "missing timestamp"
        );
    }

    #[test]
    fn malformed_changes_are_skipped() {
        let body = json!({"object": "instagram", "entry": [{"id": "17841400000000101", "time": 1784801300,
            "changes": [7, {"field": 3}, {"field": "comments", "value": []}, {"field": "feed", "value": {}}]}]});
        let bytes = serde_json::to_vec(&body).expect("serializable");
        let events = all_events(&bytes);
        assert_eq!(events.len(), 4);
        skipped_reason(&events[0], "changes");
        skipped_reason(&events[1], "changes");
        assert_eq!(
            skipped_reason(&events[2], "changes.comments"),
            "value is not an object"
        );
        skipped_reason(&events[3], "changes.feed");
    }
}
