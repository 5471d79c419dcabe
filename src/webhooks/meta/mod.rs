//! Pure parsers for Meta webhook deliveries (Instagram, Messenger, WhatsApp).
//!
//! A delivery's raw bytes go in, a [`Delivery`] of per-account [`Entry`]s with
//! [`NormalizedEvent`]s comes out. Nothing here touches the database, the network or
//! axum: the processor routes each entry to its channel and applies the events.
//!
//! Unknown objects, fields and event kinds are data ([`NormalizedEvent::Skipped`]),
//! never errors; only a body that is not a JSON object envelope is a [`ParseError`].

mod comments;
mod messaging;
mod whatsapp;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use crate::db::enums::Platform;
use crate::db::enums::{AttachmentType, MessageKind, MessageStatus};
use crate::inbox::normalized::{
    Attachment, Contact, EchoMessage, InboundMessage, NormalizedEvent, OwnComment, Reaction,
    ReadUpTo, StatusUpdate, Thread,
};

/// Why a body could not be read as a Meta delivery at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// The bytes are not JSON.
    #[error("body is not valid json: {0}")]
    InvalidJson(String),
    /// Valid JSON, but not an object with an `object` string and an `entry` array.
    #[error("body is not a meta webhook envelope: {0}")]
    NotAnEnvelope(&'static str),
}

/// One parsed POST body.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `None` when the `object` is one we do not handle (the entries are then empty).
    pub platform: Option<Platform>,
    /// The raw `object` value, for logs.
    pub object: String,
    /// One item per `entry[]` element, in body order.
    pub entries: Vec<Entry>,
}

/// The events of one `entry[]` element, all for one business account.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The account the entry is routed by: `entry.id` for Instagram and Messenger,
    /// `value.metadata.phone_number_id` for WhatsApp. Empty when the entry names none
    /// (such an entry is never routed).
    pub account_id: String,
    /// Normalized events in body order.
    pub events: Vec<NormalizedEvent>,
}

/// Parses a delivery body. Pure: no IO, no panics on any input.
pub fn parse(body: &[u8]) -> Result<Delivery, ParseError> {
    let mut value: Value =
        serde_json::from_slice(body).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    make_storable(&mut value);
    let envelope = value
        .as_object()
        .ok_or(ParseError::NotAnEnvelope("top level is not an object"))?;
    let object = envelope
        .get("object")
        .and_then(Value::as_str)
        .ok_or(ParseError::NotAnEnvelope("missing `object` string"))?;
    let entries = envelope
        .get("entry")
        .and_then(Value::as_array)
        .ok_or(ParseError::NotAnEnvelope("missing `entry` array"))?;
    let platform = match object {
        "instagram" => Some(Platform::Instagram),
        "page" => Some(Platform::Messenger),
        "whatsapp_business_account" => Some(Platform::WhatsApp),
        _ => None,
    };
    let entries = match platform {
        Some(Platform::WhatsApp) => entries.iter().flat_map(whatsapp::parse_entry).collect(),
        Some(p) => entries.iter().map(|e| parse_meta_entry(p, e)).collect(),
        None => Vec::new(),
    };
    Ok(Delivery {
        platform,
        object: object.to_owned(),
        entries,
    })
}

/// Replaces every NUL in the strings of `value` by U+FFFD: PostgreSQL text cannot hold
/// NUL, and one customer's odd message must not fail the entry. serde_json's recursion
/// limit (128) bounds the walk.
fn make_storable(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(make_storable),
        Value::Object(fields) => fields.values_mut().for_each(make_storable),
        _ => {}
    }
}

/// Instagram / Messenger entry: `messaging[]`, `standby[]`, `changes[]` and the flat
/// `field` / `value` variant, all in one [`Entry`] routed by `entry.id`.
fn parse_meta_entry(platform: Platform, entry: &Value) -> Entry {
    let account_id = id_string(entry.get("id")).unwrap_or_default();
    if !entry.is_object() {
        let events = vec![NormalizedEvent::skipped("entry", "entry is not an object")];
        return Entry { account_id, events };
    }
    let mut events = Vec::new();
    for (key, standby) in [("messaging", false), ("standby", true)] {
        for item in entry
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            events.extend(messaging::parse_event(platform, &account_id, item, standby));
        }
    }
    for change in entry
        .get("changes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        events.extend(comments::parse_change(platform, &account_id, entry, change));
    }
    if entry.get("field").is_some() && entry.get("value").is_some() {
        events.extend(comments::parse_change(platform, &account_id, entry, entry));
    }
    Entry { account_id, events }
}

/// Reads an id that Meta may send as a string or (in older payloads) a number; ids stay
/// strings because some exceed 2^53.
pub(crate) fn id_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads a non-empty string; any other JSON type (or `""`) is `None`.
pub(crate) fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Inserts a copy of `value` under `key` unless it is absent or null.
pub(crate) fn insert_present(
    fields: &mut serde_json::Map<String, Value>,
    key: &str,
    value: Option<&Value>,
) {
    if let Some(value) = value.filter(|v| !v.is_null()) {
        fields.insert(key.to_owned(), value.clone());
    }
}

/// Turns collected context fields into [`InboundMessage::context`]: `Value::Null` when
/// there are none, the object otherwise.
pub(crate) fn context_value(fields: serde_json::Map<String, Value>) -> Value {
    if fields.is_empty() {
        Value::Null
    } else {
        Value::Object(fields)
    }
}

/// Reads a Meta timestamp leniently: integer or string, seconds or milliseconds
/// (values above 10^11 are taken as milliseconds).
pub(crate) fn timestamp(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let n = match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    if n >= 100_000_000_000 {
        DateTime::from_timestamp_millis(n)
    } else {
        DateTime::from_timestamp(n, 0)
    }
}

#[cfg(test)]
mod tests {
    //! Envelope tests, plus helpers shared by the submodules' tests.

    use super::*;

    /// Reads one fixture file of `tests/fixtures/meta` (every parser file sits in this
    /// folder, so the relative path is the same for all callers).
    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!("../../../tests/fixtures/meta/", $name))
        };
    }
    pub(super) use fixture;

    /// Parses a fixture body, panicking when it is not a delivery.
    pub(super) fn delivery(body: &[u8]) -> Delivery {
        parse(body).expect("body parses as a delivery")
    }

    /// Every event of every entry, in body order.
    pub(super) fn all_events(body: &[u8]) -> Vec<NormalizedEvent> {
        delivery(body)
            .entries
            .into_iter()
            .flat_map(|e| e.events)
            .collect()
    }

    /// The only event of a body that must hold exactly one entry with one event.
    pub(super) fn only_event(body: &[u8]) -> NormalizedEvent {
        let delivery = delivery(body);
        assert_eq!(delivery.entries.len(), 1, "{delivery:#?}");
        let events = &delivery.entries[0].events;
        assert_eq!(events.len(), 1, "{events:#?}");
        events[0].clone()
    }

    /// The only event, which must be an inbound message.
    pub(super) fn only_message(body: &[u8]) -> InboundMessage {
        match only_event(body) {
            NormalizedEvent::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Asserts `event` is `Skipped` with this kind, and returns its reason.
    pub(super) fn skipped_reason(event: &NormalizedEvent, expected_kind: &str) -> String {
        match event {
            NormalizedEvent::Skipped { kind, reason } if kind == expected_kind => reason.clone(),
            other => panic!("expected Skipped {{ kind: {expected_kind} }}, got {other:?}"),
        }
    }

    /// Unix milliseconds as a time.
    pub(super) fn ms(n: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(n).expect("valid test timestamp")
    }

    /// Unix seconds as a time.
    pub(super) fn secs(n: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(n, 0).expect("valid test timestamp")
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(matches!(
            parse(b"{\"object\": \"page\", \"entry\": ["),
            Err(ParseError::InvalidJson(_))
        ));
        assert!(matches!(parse(b""), Err(ParseError::InvalidJson(_))));
    }

    #[test]
    fn non_object_top_level_is_not_an_envelope() {
        let body = br#"[{"object": "page", "entry": []}]"#;
        assert_eq!(
            parse(body),
            Err(ParseError::NotAnEnvelope("top level is not an object"))
        );
        assert!(matches!(parse(b"42"), Err(ParseError::NotAnEnvelope(_))));
    }

    #[test]
    fn missing_entry_or_object_is_not_an_envelope() {
        assert_eq!(
            parse(br#"{"object": "instagram"}"#),
            Err(ParseError::NotAnEnvelope("missing `entry` array"))
        );
        assert_eq!(
            parse(br#"{"object": "instagram", "entry": {}}"#),
            Err(ParseError::NotAnEnvelope("missing `entry` array"))
        );
        assert_eq!(
            parse(br#"{"object": 7, "entry": []}"#),
            Err(ParseError::NotAnEnvelope("missing `object` string"))
        );
    }

    #[test]
    fn unknown_object_is_ok_with_no_platform_and_no_entries() {
        let body = br#"{"object": "user", "entry": [{"id": "1", "changes": []}]}"#;
        let delivery = delivery(body);
        assert_eq!(delivery.platform, None);
        assert_eq!(delivery.object, "user");
        assert!(delivery.entries.is_empty());
    }

    #[test]
    fn entry_that_is_not_an_object_is_skipped_and_unrouted() {
        for object in ["instagram", "page", "whatsapp_business_account"] {
            let body = format!(r#"{{"object": "{object}", "entry": [42]}}"#);
            let delivery = delivery(body.as_bytes());
            assert_eq!(delivery.entries.len(), 1, "{object}");
            let entry = &delivery.entries[0];
            assert_eq!(entry.account_id, "", "{object}");
            assert_eq!(entry.events.len(), 1, "{object}");
            skipped_reason(&entry.events[0], "entry");
        }
    }

    #[test]
    fn escaped_unicode_and_slashes_decode_to_the_real_text() {
        let message = only_message(fixture!("ig_escaped_unicode.json"));
        assert_eq!(
            message.text.as_deref(),
            Some("Olá! ¿Precio? \u{2764}\u{fe0f} \u{1f600} https://example.com/p/42")
        );
    }

    #[test]
    fn numeric_ids_and_string_timestamps_are_read_leniently() {
        let body = br#"{"object": "page", "entry": [{"id": 104400000000001, "messaging": [
            {"sender": {"id": 8800000000000066}, "recipient": {"id": 104400000000001},
             "timestamp": "1784802000000", "message": {"mid": "m_1", "text": "hi"}}]}]}"#;
        let delivery = delivery(body);
        assert_eq!(delivery.platform, Some(Platform::Messenger));
        assert_eq!(delivery.entries[0].account_id, "104400000000001");
        let NormalizedEvent::Message(message) = &delivery.entries[0].events[0] else {
            panic!("expected a message: {delivery:?}");
        };
        assert_eq!(message.customer.external_id, "8800000000000066");
        assert_eq!(message.sent_at, ms(1_784_802_000_000));
    }

    #[test]
    fn timestamp_reads_seconds_and_milliseconds() {
        let s = Value::from(1_784_800_000_i64);
        let millis = Value::from(1_784_800_000_123_i64);
        assert_eq!(timestamp(Some(&s)), Some(secs(1_784_800_000)));
        assert_eq!(timestamp(Some(&millis)), Some(ms(1_784_800_000_123)));
        assert_eq!(timestamp(Some(&Value::from("soon"))), None);
        assert_eq!(timestamp(Some(&Value::from(u64::MAX))), None);
    }

    /// Fixtures the mutation test below distorts, covering every parser.
    const MUTATED_FIXTURES: [&[u8]; 12] = [
        fixture!("ig_batched.json"),
        fixture!("ig_share_post.json"),
        fixture!("ig_story_reply.json"),
        fixture!("ig_reaction.json"),
        fixture!("ig_comment_reply.json"),
        fixture!("ig_test_button.json"),
        fixture!("messenger_delivery.json"),
        fixture!("messenger_sticker.json"),
        fixture!("wa_contacts.json"),
        fixture!("wa_bsuid.json"),
        fixture!("wa_statuses.json"),
        fixture!("wa_forwarded_referral.json"),
    ];

    /// Every node of `root` replaced, one at a time, by `replacement`.
    fn mutations(root: &Value, replacement: &Value) -> Vec<Value> {
        let mut paths = Vec::new();
        collect_paths(root, String::new(), &mut paths);
        paths
            .iter()
            .map(|path| {
                let mut copy = root.clone();
                if let Some(node) = copy.pointer_mut(path) {
                    *node = replacement.clone();
                }
                copy
            })
            .collect()
    }

    /// JSON pointers of every node under `v` (excluding the root).
    fn collect_paths(v: &Value, prefix: String, out: &mut Vec<String>) {
        let children: Vec<(String, &Value)> = match v {
            Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            _ => Vec::new(),
        };
        for (key, child) in children {
            let path = format!("{prefix}/{key}");
            out.push(path.clone());
            collect_paths(child, path, out);
        }
    }

    #[test]
    fn any_node_of_any_type_never_panics() {
        let replacements = [
            Value::Null,
            Value::from(-1),
            Value::from(1.5),
            Value::from(""),
            Value::from("x"),
            Value::Bool(true),
            Value::Array(Vec::new()),
            Value::Object(serde_json::Map::new()),
        ];
        let mut parsed = 0;
        for fixture in MUTATED_FIXTURES {
            let root: Value = serde_json::from_slice(fixture).expect("fixture is json");
            for replacement in &replacements {
                for body in mutations(&root, replacement) {
                    let bytes = serde_json::to_vec(&body).expect("serializable");
                    let _ = parse(&bytes);
                    parsed += 1;
                }
            }
        }
        assert!(parsed > 1000, "only {parsed} mutations");
    }
}
