//! What Meta does after accepting a send, played back through our own webhook route:
//! the echo and the receipts of a reply, in each platform's shape (shared Meta reference
//! §4, §6, §7), signed with the channel's app secret.
//!
//! | platform | deliveries, about a second apart | statuses seen |
//! |---|---|---|
//! | Instagram | echo, `read {mid}` | SENT → READ (Instagram has no delivery receipt) |
//! | Messenger | echo (with the `metadata`), `delivery {mids}`, `read {watermark}` | SENT → DELIVERED → READ |
//! | WhatsApp | `statuses` sent, delivered, read | SENT → DELIVERED → READ |
//!
//! Feedback starts once the sender has recorded the message id Meta returned, as it
//! would with real Meta traffic, so an echo is never mistaken for a message typed in
//! Meta's own app.

use crate::db::enums::Platform;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use super::graph_api::SandboxState;
use crate::crypto::aad;
use crate::db::{channels, messages};
use crate::webhooks::signature;

/// Pause between two deliveries, so the statuses can be watched changing.
const STEP: Duration = Duration::from_millis(800);
/// Longest wait for the sender to record the send.
const RECORD_TIMEOUT: Duration = Duration::from_secs(15);

/// A send the fake accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The channel it was sent from.
    pub channel: channels::Channel,
    /// The customer's platform id (or the comment id of a private reply).
    pub customer: String,
    /// The id the fake returned.
    pub message_id: String,
    /// The text, for the echo.
    pub text: Option<String>,
    /// Messenger's echo correlation string.
    pub metadata: Option<String>,
}

/// Plays the feedback of `sent` in the background.
pub fn schedule(sandbox: SandboxState, sent: Sent) {
    tokio::spawn(async move {
        if let Err(e) = play(&sandbox, &sent).await {
            tracing::warn!(channel.id = %sent.channel.id, error = %format!("{e:#}"), "Meta sandbox could not deliver receipts");
        }
    });
}

async fn play(sandbox: &SandboxState, sent: &Sent) -> anyhow::Result<()> {
    wait_until_recorded(sandbox, sent).await?;
    let secret = sandbox.app.secrets().open(
        &sent.channel.app_secret_enc,
        &aad(sent.channel.id.0, "app_secret"),
    )?;
    for body in bodies(sent, Utc::now().timestamp_millis()) {
        tokio::time::sleep(STEP).await;
        let raw = serde_json::to_vec(&body)?;
        let status = sandbox
            .http
            .post(format!(
                "{}/webhook/{}",
                sandbox.webhook_base, sent.channel.id
            ))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                signature::sign(&raw, secret.as_bytes()),
            )
            .body(raw)
            .send()
            .await?
            .status();
        anyhow::ensure!(status.is_success(), "the webhook route answered {status}");
    }
    Ok(())
}

async fn wait_until_recorded(sandbox: &SandboxState, sent: &Sent) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + RECORD_TIMEOUT;
    loop {
        let mut conn = sandbox.app.system_conn().await?;
        if messages::id_by_external_id(&mut conn, sent.channel.id, &sent.message_id)
            .await?
            .is_some()
        {
            return Ok(());
        }
        drop(conn);
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the sender did not record message {}",
            sent.message_id
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The deliveries that follow `sent`, in order (`now` in epoch milliseconds).
pub fn bodies(sent: &Sent, now: i64) -> Vec<Value> {
    let account = sent.channel.external_account_id.as_str();
    let customer = sent.customer.as_str();
    let mid = sent.message_id.as_str();
    let messaging = |object: &str, item: Value| json!({"object": object, "entry": [{"id": account, "time": now, "messaging": [item]}]});
    let from_business = |event: &str, value: Value| json!({"sender": {"id": account}, "recipient": {"id": customer}, "timestamp": now, event: value});
    let from_customer = |event: &str, value: Value| json!({"sender": {"id": customer}, "recipient": {"id": account}, "timestamp": now, event: value});
    match sent.channel.platform {
        Platform::Instagram => vec![
            messaging(
                "instagram",
                from_business(
                    "message",
                    json!({"mid": mid, "text": sent.text, "is_echo": true}),
                ),
            ),
            messaging("instagram", from_customer("read", json!({"mid": mid}))),
        ],
        Platform::Messenger => {
            let mut echo = json!({"mid": mid, "text": sent.text, "is_echo": true, "app_id": 0});
            if let Some(metadata) = &sent.metadata {
                echo["metadata"] = json!(metadata);
            }
            vec![
                messaging("page", from_business("message", echo)),
                messaging(
                    "page",
                    from_customer("delivery", json!({"mids": [mid], "watermark": now})),
                ),
                messaging("page", from_customer("read", json!({"watermark": now + 1}))),
            ]
        }
        Platform::WhatsApp => ["sent", "delivered", "read"]
            .iter()
            .map(|status| {
                json!({"object": "whatsapp_business_account", "entry": [{"id": "0", "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": account, "phone_number_id": account},
                    "statuses": [{"id": mid, "status": status,
                        "timestamp": (now / 1000).to_string(), "recipient_id": customer}],
                }}]}]})
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbox::normalized::NormalizedEvent;
    use crate::webhooks::meta;

    fn sent(platform: Platform) -> Sent {
        Sent {
            channel: channels::Channel::for_tests(platform, "17841400000000101"),
            customer: "5500000000000011".into(),
            message_id: "m_sandbox_1".into(),
            text: Some("On its way".into()),
            metadata: Some("dc:1".into()),
        }
    }

    #[test]
    fn every_body_parses_as_the_platform_would_send_it() {
        for (platform, count) in [
            (Platform::Instagram, 2),
            (Platform::Messenger, 3),
            (Platform::WhatsApp, 3),
        ] {
            let bodies = bodies(&sent(platform), 1_784_800_000_000);
            assert_eq!(bodies.len(), count, "{platform}");
            let mut kinds = Vec::new();
            for body in bodies {
                let raw = serde_json::to_vec(&body).unwrap();
                let delivery = meta::parse(&raw).unwrap();
                for event in delivery.entries.iter().flat_map(|e| &e.events) {
                    kinds.push(match event {
                        NormalizedEvent::Echo(_) => "echo",
                        NormalizedEvent::Read { .. } => "read",
                        NormalizedEvent::Status(_) => "status",
                        other => panic!("{platform}: unexpected {other:?}"),
                    });
                }
            }
            let expected: &[&str] = match platform {
                Platform::Instagram => &["echo", "read"],
                Platform::Messenger => &["echo", "status", "read"],
                Platform::WhatsApp => &["status", "status", "status"],
            };
            assert_eq!(kinds, expected, "{platform}");
        }
    }
}
