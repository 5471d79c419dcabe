//! Property tests: arbitrary bytes and arbitrary Meta-shaped JSON never panic the
//! parsers, never get a 5xx from the webhook route, and never crash the worker.

use axum::http::StatusCode;
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value};

use crate::support::TestApp;

/// Keys Meta payloads use, so random documents reach the parsers' deep paths.
const KEYS: &[&str] = &[
    "object",
    "entry",
    "id",
    "time",
    "messaging",
    "standby",
    "changes",
    "field",
    "value",
    "sender",
    "recipient",
    "timestamp",
    "message",
    "mid",
    "text",
    "attachments",
    "type",
    "payload",
    "url",
    "is_echo",
    "is_deleted",
    "is_unsupported",
    "reply_to",
    "story",
    "reaction",
    "action",
    "emoji",
    "read",
    "watermark",
    "postback",
    "title",
    "from",
    "username",
    "media",
    "parent_id",
    "metadata",
    "phone_number_id",
    "contacts",
    "wa_id",
    "profile",
    "name",
    "messages",
    "statuses",
    "status",
    "errors",
    "code",
    "context",
    "interactive",
    "button_reply",
    "delivery",
    "mids",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z0-9_.]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "instagram",
            "page",
            "whatsapp_business_account",
            "comments",
            "text",
            "image",
            "react",
            "unreact",
            "read",
            "failed",
            "17841400000000101",
            "1784800000000",
            "\u{0}",
            "é❤️"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..7).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// Envelope-shaped documents: a known or unknown `object` with arbitrary entries.
fn delivery() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "instagram",
            "page",
            "whatsapp_business_account",
            "user",
        ]),
        prop::collection::vec(json_value(), 0..4),
    )
        .prop_map(|(object, entries)| serde_json::json!({"object": object, "entry": entries}))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = delightchat::webhooks::meta::parse(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_meta_shaped_json(value in delivery()) {
        let parsed = delightchat::webhooks::meta::parse(value.to_string().as_bytes());
        prop_assert!(parsed.is_ok(), "an envelope must parse: {parsed:?}");
    }
}

fn samples<S: Strategy>(strategy: S, count: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_and_worker_survive_arbitrary_signed_and_unsigned_bodies() {
    let app = TestApp::new().await;
    let admin = app.signup("Fuzz", "ana@example.com").await;
    let channel = app
        .create_channel(&admin, "INSTAGRAM", "17841400000000101", "fuzz-secret")
        .await;
    let mut bodies: Vec<Vec<u8>> = samples(delivery(), 150)
        .into_iter()
        .map(|v| v.to_string().into_bytes())
        .collect();
    bodies.extend(samples(prop::collection::vec(any::<u8>(), 0..300), 50));
    for body in &bodies {
        assert_eq!(
            app.post_webhook(&channel, body, "fuzz-secret").await,
            StatusCode::OK
        );
        let unsigned = app.post_webhook(&channel, body, "wrong-secret").await;
        assert_eq!(unsigned, StatusCode::FORBIDDEN);
    }
    app.drain_inbound().await;
    let panics = app
        .count("SELECT count(*) AS n FROM webhook_events WHERE last_error LIKE 'panic%'")
        .await;
    assert_eq!(panics, 0, "the worker panicked on some input");
    let stuck = app
        .count(
            "SELECT count(*) AS n FROM webhook_events WHERE state = 'PENDING' AND run_at <= now()",
        )
        .await;
    assert_eq!(
        stuck, 0,
        "every delivery was processed, parked or scheduled for retry"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM webhook_events").await,
        bodies.len() as i64
    );
}
