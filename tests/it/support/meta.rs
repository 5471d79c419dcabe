//! Builders of Meta webhook bodies (Instagram, Messenger, WhatsApp) in the shapes of the
//! fixtures in `tests/fixtures/meta`, for tests that need many small deliveries.
//! Times are Unix milliseconds (WhatsApp and comments carry seconds on the wire).

use serde_json::{Value, json};

/// One `messaging[]` item from `sender` to `recipient` on an Instagram or Messenger
/// account, wrapped in a delivery.
fn messaging(
    object: &str,
    account: &str,
    sender: &str,
    recipient: &str,
    at: i64,
    event: (&str, Value),
) -> Value {
    let mut item =
        json!({"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": at});
    item[event.0] = event.1;
    json!({"object": object, "entry": [{"id": account, "time": at, "messaging": [item]}]})
}

/// `instagram` or `page` (Messenger).
pub fn object(messenger: bool) -> &'static str {
    if messenger { "page" } else { "instagram" }
}

/// A customer's text message.
pub fn message(
    messenger: bool,
    account: &str,
    customer: &str,
    mid: &str,
    text: &str,
    at: i64,
) -> Value {
    let body = json!({"mid": mid, "text": text});
    messaging(
        object(messenger),
        account,
        customer,
        account,
        at,
        ("message", body),
    )
}

/// The echo of a message the business sent (typed in Meta's apps).
pub fn echo(
    messenger: bool,
    account: &str,
    customer: &str,
    mid: &str,
    text: &str,
    at: i64,
) -> Value {
    let body = json!({"mid": mid, "text": text, "is_echo": true});
    messaging(
        object(messenger),
        account,
        account,
        customer,
        at,
        ("message", body),
    )
}

/// A reaction (`Some(emoji)`) or its removal (`None`) on message `mid`.
pub fn reaction(account: &str, customer: &str, mid: &str, emoji: Option<&str>, at: i64) -> Value {
    let body = match emoji {
        Some(emoji) => json!({"mid": mid, "action": "react", "reaction": "love", "emoji": emoji}),
        None => json!({"mid": mid, "action": "unreact"}),
    };
    messaging(
        "instagram",
        account,
        customer,
        account,
        at,
        ("reaction", body),
    )
}

/// The customer read up to message `mid` (Instagram).
pub fn read(account: &str, customer: &str, mid: &str, at: i64) -> Value {
    messaging(
        "instagram",
        account,
        customer,
        account,
        at,
        ("read", json!({"mid": mid})),
    )
}

/// The customer read everything up to `watermark` (Messenger).
pub fn watermark(page: &str, customer: &str, watermark: i64, at: i64) -> Value {
    messaging(
        "page",
        page,
        customer,
        page,
        at,
        ("read", json!({"watermark": watermark})),
    )
}

/// Messenger delivery receipts for `mids`.
pub fn delivered(page: &str, customer: &str, mids: &[&str], at: i64) -> Value {
    let body = json!({"mids": mids, "watermark": at});
    messaging("page", page, customer, page, at, ("delivery", body))
}

/// The customer unsent message `mid`.
pub fn unsend(account: &str, customer: &str, mid: &str, at: i64) -> Value {
    let body = json!({"mid": mid, "is_deleted": true});
    messaging(
        "instagram",
        account,
        customer,
        account,
        at,
        ("message", body),
    )
}

/// The customer edited message `mid`.
pub fn edit(account: &str, customer: &str, mid: &str, text: &str, number: u32, at: i64) -> Value {
    let body = json!({"mid": mid, "text": text, "num_edit": number});
    messaging(
        "instagram",
        account,
        customer,
        account,
        at,
        ("message_edit", body),
    )
}

/// A comment by `from` (the business itself when `from == account`) on `media`.
pub fn comment(
    account: &str,
    from: &str,
    id: &str,
    media: &str,
    text: &str,
    parent: Option<&str>,
    at: i64,
) -> Value {
    let mut value = json!({"from": {"id": from, "username": format!("user{from}")},
        "media": {"id": media, "media_product_type": "FEED"}, "id": id, "text": text});
    if let Some(parent) = parent {
        value["parent_id"] = json!(parent);
    }
    json!({"object": "instagram", "entry": [{"id": account, "time": at / 1000,
        "changes": [{"field": "comments", "value": value}]}]})
}

fn whatsapp(phone: &str, value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550001111", "phone_number_id": phone});
    json!({"object": "whatsapp_business_account", "entry": [{"id": "200000000000009",
        "changes": [{"field": "messages", "value": value}]}]})
}

/// A WhatsApp text from `from`, whose profile name is `name`.
pub fn wa_text(phone: &str, from: &str, name: &str, wamid: &str, text: &str, at: i64) -> Value {
    whatsapp(
        phone,
        json!({"contacts": [{"profile": {"name": name}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": (at / 1000).to_string(), "type": "text", "text": {"body": text}}]}),
    )
}

/// A WhatsApp delivery status (`sent`, `delivered`, `read`, `failed`) of our `wamid`.
pub fn wa_status(phone: &str, to: &str, wamid: &str, status: &str, at: i64) -> Value {
    let mut item = json!({"id": wamid, "status": status, "timestamp": (at / 1000).to_string(), "recipient_id": to});
    if status == "failed" {
        item["errors"] = json!([{"code": 131026, "title": "Message undeliverable",
            "error_data": {"details": "Receiver is incapable of receiving this message"}}]);
    }
    whatsapp(phone, json!({"statuses": [item]}))
}

/// A WhatsApp image (media `media_id`, Meta's base64 `sha256`) from `from`.
pub fn wa_image(
    phone: &str,
    from: &str,
    wamid: &str,
    media_id: &str,
    sha256: &str,
    at: i64,
) -> Value {
    whatsapp(
        phone,
        json!({"contacts": [{"profile": {"name": "Priya"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": (at / 1000).to_string(), "type": "image",
            "image": {"caption": "the water under it", "mime_type": "image/jpeg", "sha256": sha256, "id": media_id}}]}),
    )
}

/// An Instagram or Messenger message carrying one attachment of `kind` at a CDN `url`.
pub fn attachment(
    messenger: bool,
    account: &str,
    customer: &str,
    mid: &str,
    kind: &str,
    url: &str,
    at: i64,
) -> Value {
    let body = json!({"mid": mid, "attachments": [{"type": kind, "payload": {"url": url}}]});
    messaging(
        object(messenger),
        account,
        customer,
        account,
        at,
        ("message", body),
    )
}
