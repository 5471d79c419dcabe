//! Signed Meta deliveries over HTTP, processed by the inbound worker, read back through
//! GraphQL.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use crate::support::{Session, TestApp, fixture};

const SECRET: &str = "test-app-secret-0001";
const IG_A: &str = "17841400000000101";
const IG_B: &str = "17841400000000202";
const PAGE: &str = "104400000000001";
const WA_PHONE: &str = "310000000000001";

struct Inbox {
    app: TestApp,
    admin: Session,
    ig: String,
}

async fn inbox() -> Inbox {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let ig = app.create_channel(&admin, "INSTAGRAM", IG_A, SECRET).await;
    Inbox { app, admin, ig }
}

impl Inbox {
    async fn deliver(&self, name: &str) {
        let status = self
            .app
            .post_webhook(&self.ig, &fixture(name), SECRET)
            .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        self.app.drain_inbound().await;
    }

    async fn tickets(&self) -> Value {
        let q = "query($o: ID!) { org(id: $o) { tickets(first: 5) { edges { node { id kind status lastMessagePreview unreadCount
            customer { name identities { externalId username platform } }
            messages(first: 30) { edges { node { id kind direction status text externalId isDeleted replyTo { externalId }
              replyToExternalId context attachments { type url title } reactions { emoji reaction } author { type } } } } } } } } }";
        let data = self
            .app
            .gql_ok(Some(&self.admin.token), q, json!({"o": self.admin.org_id}))
            .await;
        data["org"]["tickets"]["edges"].clone()
    }

    async fn messages(&self) -> Vec<Value> {
        let tickets = self.tickets().await;
        tickets
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| {
                t["node"]["messages"]["edges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["node"].clone())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    async fn message(&self, external_id: &str) -> Value {
        self.messages()
            .await
            .into_iter()
            .find(|m| m["externalId"] == external_id)
            .unwrap_or_else(|| panic!("no message {external_id}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_is_checked_on_the_exact_bytes_and_bad_ones_store_nothing() {
    let i = inbox().await;
    let body = fixture("ig_dm_text");
    let post = |headers: Vec<(&'static str, String)>, body: Vec<u8>, channel: String| {
        let mut request = Request::post(format!("/webhook/{channel}"))
            .header(header::CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            request = request.header(k, v);
        }
        request.body(Body::from(body)).unwrap()
    };
    let good = delightchat::webhooks::signature::sign(&body, SECRET.as_bytes());
    let mut flipped = body.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x01;
    let cases = [
        (
            "missing header",
            vec![],
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "sha1 prefix",
            vec![("x-hub-signature-256", good.replace("sha256=", "sha1="))],
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "one byte changed",
            vec![("x-hub-signature-256", good.clone())],
            flipped,
            StatusCode::FORBIDDEN,
        ),
        (
            "wrong secret",
            vec![(
                "x-hub-signature-256",
                delightchat::webhooks::signature::sign(&body, b"another secret"),
            )],
            body.clone(),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (name, headers, body, expected) in cases {
        let (status, _, _) = i.app.request(post(headers, body, i.ig.clone())).await;
        assert_eq!(status, expected, "{name}");
    }
    let (status, _, _) = i
        .app
        .request(post(
            vec![("x-hub-signature-256", good.clone())],
            body.clone(),
            uuid::Uuid::new_v4().to_string(),
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        i.app
            .count("SELECT count(*) AS n FROM webhook_events")
            .await,
        0,
        "refused deliveries must store nothing"
    );

    let huge = vec![b' '; 6 * 1024 * 1024];
    let huge_sig = delightchat::webhooks::signature::sign(&huge, SECRET.as_bytes());
    let (status, _, _) = i
        .app
        .request(post(
            vec![("x-hub-signature-256", huge_sig)],
            huge,
            i.ig.clone(),
        ))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, _, _) = i
        .app
        .request(post(
            vec![("x-hub-signature-256", good)],
            body,
            i.ig.clone(),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        i.app
            .count("SELECT count(*) AS n FROM webhook_events")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_dm_creates_customer_ticket_message_and_notification() {
    let i = inbox().await;
    i.deliver("ig_dm_text").await;
    let tickets = i.tickets().await;
    assert_eq!(tickets.as_array().unwrap().len(), 1);
    let ticket = &tickets[0]["node"];
    assert_eq!(ticket["kind"], "DIRECT");
    assert_eq!(ticket["status"], "OPEN");
    assert_eq!(ticket["unreadCount"], 1);
    assert_eq!(
        ticket["lastMessagePreview"],
        "Hello! Is the blue kettle back in stock?"
    );
    assert_eq!(
        ticket["customer"]["identities"][0],
        json!({"externalId": "5500000000000011", "username": null, "platform": "INSTAGRAM"})
    );
    let message = &ticket["messages"]["edges"][0]["node"];
    assert_eq!(message["direction"], "INBOUND");
    assert_eq!(message["status"], "RECEIVED");
    assert_eq!(message["author"]["type"], "CUSTOMER");
    let notes = i
        .app
        .gql_ok(Some(&i.admin.token), "query($o: ID!) { org(id: $o) { notifications { edges { node { type count ticket { id } message { text } } } } } }", json!({"o": i.admin.org_id}))
        .await;
    let note = &notes["org"]["notifications"]["edges"][0]["node"];
    assert_eq!(note["type"], "NEW_MESSAGE");
    assert_eq!(note["count"], 1);
    assert_eq!(
        note["message"]["text"],
        "Hello! Is the blue kettle back in stock?"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_and_concurrent_duplicates_end_in_one_of_everything() {
    let i = inbox().await;
    let body = fixture("ig_dm_text");
    // Five copies, posted concurrently, processed by two workers at once.
    let posts = (0..5).map(|_| i.app.post_webhook(&i.ig, &body, SECRET));
    for status in futures_util::future::join_all(posts).await {
        assert_eq!(status, StatusCode::OK);
    }
    let state = i.app.state.clone();
    let worker = delightchat::jobs::WorkerConfig::for_this_process();
    let (a, b) = tokio::join!(
        delightchat::webhooks::processor::run_once(&state, &worker),
        delightchat::webhooks::processor::run_once(&state, &worker)
    );
    a.unwrap();
    b.unwrap();
    i.app.drain_inbound().await;
    // The same message again inside a different delivery.
    let mut other: Value = serde_json::from_slice(&body).unwrap();
    other["entry"][0]["time"] = json!(1784899999000u64);
    i.deliver_value(&other).await;
    for (table, expected) in [
        ("customers", 1),
        ("customer_identities", 1),
        ("tickets", 1),
        ("messages", 1),
        ("notifications", 1),
    ] {
        assert_eq!(
            i.app
                .count(&format!("SELECT count(*) AS n FROM {table}"))
                .await,
            expected,
            "{table}"
        );
    }
    assert_eq!(
        i.app
            .count("SELECT count::bigint AS n FROM notifications")
            .await,
        1,
        "notification bumped once"
    );
    assert_eq!(
        i.app.count("SELECT inbound_count AS n FROM tickets").await,
        1,
        "unread bumped once"
    );
    assert_eq!(
        i.app
            .count("SELECT count(*) AS n FROM webhook_events WHERE state = 'PROCESSED'")
            .await,
        6
    );
}

impl Inbox {
    async fn deliver_value(&self, body: &Value) {
        let bytes = serde_json::to_vec(body).unwrap();
        assert_eq!(
            self.app.post_webhook(&self.ig, &bytes, SECRET).await,
            StatusCode::OK
        );
        self.app.drain_inbound().await;
    }
}

/// The Instagram conversation of the reference fixtures, in Meta's order.
const INSTAGRAM_CONVERSATION: [&str; 12] = [
    "ig_dm_text",
    "ig_dm_image",
    "ig_dm_multiple_attachments",
    "ig_story_reply",
    "ig_story_mention",
    "ig_echo",
    "ig_reaction",
    "ig_read",
    "ig_reply_to_message",
    "ig_share_post",
    "ig_postback",
    "ig_unsend",
];

/// `names` in Meta's order, or reversed.
fn ordered(names: &[&'static str], reverse: bool) -> Vec<&'static str> {
    let mut names = names.to_vec();
    if reverse {
        names.reverse();
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instagram_conversation_lands_as_the_reference_describes() {
    instagram_conversation_lands(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instagram_conversation_posted_in_reverse_lands_the_same() {
    instagram_conversation_lands(true).await;
}

async fn instagram_conversation_lands(reverse: bool) {
    let i = inbox().await;
    for name in ordered(&INSTAGRAM_CONVERSATION, reverse) {
        i.deliver(name).await;
    }
    let tickets = i.tickets().await;
    assert_eq!(
        tickets.as_array().unwrap().len(),
        2,
        "customers A and B each have one DIRECT ticket"
    );

    let image = i.message("aWdfZAG1faXRlbToxOlRFU1RfTUlEXwSW1hZ2Ux").await;
    assert_eq!(image["kind"], "MEDIA");
    assert_eq!(image["attachments"][0]["type"], "IMAGE");
    let multi = i.message("aWdfZAG1faXRlbToxOlRFU1RfTUlEXwTXVsdGkx").await;
    let types: Vec<_> = multi["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].clone())
        .collect();
    assert_eq!(
        types,
        vec![json!("IMAGE"), json!("IMAGE"), json!("VIDEO")],
        "one message, attachments in order"
    );
    let story = i.message("aWdfZAG1faXRlbToxOlRFU1RfTUlEXwU3RvcnlSMQ").await;
    assert_eq!(story["kind"], "STORY_REPLY");
    assert_eq!(story["context"]["story"]["id"], "18000000000003001");
    let mention = i
        .message("aWdfZAG1faXRlbToxOlRFU1RfTUlEXwTWVudGlvbjE")
        .await;
    assert_eq!(mention["kind"], "STORY_MENTION");
    assert!(
        mention["attachments"][0]["url"]
            .as_str()
            .unwrap()
            .contains("asset_id=4001")
    );

    let echo = i.message("aWdfZAG1faXRlbToxOlRFU1RfTUlEXwRWNobzAx").await;
    assert_eq!(echo["direction"], "OUTBOUND");
    assert_eq!(echo["author"]["type"], "BUSINESS");
    assert_eq!(echo["status"], "READ", "the read receipt moved it on");
    assert_eq!(
        echo["reactions"],
        json!([{"emoji": "❤️", "reaction": "love"}])
    );

    let reply = i.message("aWdfZAG1faXRlbToxOlRFU1RfTUlEXwUmVwbHkx").await;
    assert_eq!(
        reply["replyTo"]["externalId"],
        "aWdfZAG1faXRlbToxOlRFU1RfTUlEXwRWNobzAx"
    );
    let share = i.message("aWdfZAG1faXRlbToxOlRFU1RfTUlEXwU2hhcmUx").await;
    assert_eq!(
        share["attachments"].as_array().unwrap().len(),
        1,
        "share and ig_post are one post"
    );
    assert_eq!(share["attachments"][0]["title"], "Spring menu is here");
    let postback = i
        .message("aWdfZAG1faXRlbToxOlRFU1RfTUlEXwUG9zdGJhY2sx")
        .await;
    assert_eq!(postback["kind"], "POSTBACK");
    assert_eq!(postback["text"], "See opening hours");

    let unsent = i.message("aWdfZAG1faXRlbToxOlRFU1RfTUlEXwVGV4dDAx").await;
    assert_eq!(unsent["isDeleted"], true);
    assert_eq!(unsent["text"], Value::Null);
    // Echoes never notify; customer messages do, coalesced per ticket.
    let counts = i
        .app
        .count("SELECT sum(count)::bigint AS n FROM notifications")
        .await;
    let inbound = i
        .app
        .count("SELECT count(*) AS n FROM messages WHERE direction = 'INBOUND'")
        .await;
    assert_eq!(counts, inbound);
    assert_eq!(
        i.app.count("SELECT count(*) AS n FROM notifications").await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_get_their_own_threads_and_the_business_own_comments_are_not_customers() {
    comments_get_their_threads(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_posted_in_reverse_get_the_same_threads() {
    comments_get_their_threads(true).await;
}

async fn comments_get_their_threads(reverse: bool) {
    let i = inbox().await;
    let names = [
        "ig_dm_text",
        "ig_comment",
        "ig_comment_reply",
        "ig_own_comment",
    ];
    for name in ordered(&names, reverse) {
        i.deliver(name).await;
    }
    let tickets = i.tickets().await;
    let kinds: Vec<_> = tickets
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["node"]["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "COMMENT").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| *k == "DIRECT").count(), 1);
    let reply = i.message("18000000000008002").await;
    assert_eq!(reply["kind"], "COMMENT");
    assert_eq!(reply["replyTo"]["externalId"], "18000000000008001");
    let own = i.message("18000000000008003").await;
    assert_eq!(own["direction"], "OUTBOUND");
    assert_eq!(own["author"]["type"], "BUSINESS");
    assert_eq!(
        i.app.count("SELECT count(*) AS n FROM customers").await,
        3,
        "the business never becomes a customer"
    );
    assert_eq!(
        i.app
            .count("SELECT count(*) AS n FROM notifications WHERE type = 'NEW_COMMENT'")
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_entries_are_routed_by_account_and_never_to_another_tenant() {
    let i = inbox().await;
    let other_org = i.app.signup("Bistro", "bo@example.com").await;
    // Account B belongs to another org but the same Meta app (same secret): routed there.
    let b = i
        .app
        .create_channel(&other_org, "INSTAGRAM", IG_B, SECRET)
        .await;
    i.deliver("ig_batched").await;
    let a_customers = i
        .app
        .count(&format!(
            "SELECT count(*) AS n FROM customers WHERE org_id = '{}'",
            i.admin.org_id
        ))
        .await;
    let b_customers = i
        .app
        .count(&format!(
            "SELECT count(*) AS n FROM customers WHERE org_id = '{}'",
            other_org.org_id
        ))
        .await;
    assert_eq!((a_customers, b_customers), (1, 1));
    let b_text = i
        .app
        .count(
            "SELECT count(*) AS n FROM messages m JOIN channels c ON c.id = m.channel_id \
        WHERE c.external_account_id = '17841400000000202' AND m.text = 'Table for two at 8?'",
        )
        .await;
    assert_eq!(b_text, 1);

    // With a different app secret, B's entry is skipped: never filed under A.
    let fresh = inbox().await;
    let other = fresh.app.signup("Bistro", "bo@example.com").await;
    fresh
        .app
        .create_channel(&other, "INSTAGRAM", IG_B, "a different app secret")
        .await;
    fresh.deliver("ig_batched").await;
    assert_eq!(
        fresh.app.count("SELECT count(*) AS n FROM messages").await,
        1,
        "only A's own message"
    );
    assert_eq!(
        fresh
            .app
            .count("SELECT count(*) AS n FROM messages WHERE text = 'Table for two at 8?'")
            .await,
        0
    );
    let _ = b;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_messages_and_out_of_order_statuses() {
    let app = TestApp::new().await;
    let admin = app.signup("Appliances", "ana@example.com").await;
    let wa = app
        .create_channel(&admin, "WHATSAPP", WA_PHONE, SECRET)
        .await;
    assert_eq!(
        app.post_webhook(&wa, &fixture("wa_text"), SECRET).await,
        StatusCode::OK
    );
    app.drain_inbound().await;
    let q = "query($o: ID!) { org(id: $o) { customers(first: 5) { edges { node { name identities { externalId displayName } tickets(first: 5) { edges { node { id messages(first: 10) { edges { node { text } } } } } } } } } } }";
    let data = app
        .gql_ok(Some(&admin.token), q, json!({"o": admin.org_id}))
        .await;
    let customer = &data["org"]["customers"]["edges"][0]["node"];
    assert_eq!(customer["name"], "Ada Moreau");
    assert_eq!(customer["identities"][0]["externalId"], "447700900111");
    let ticket_id = customer["tickets"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // One of our outbound messages, already sent with a wamid.
    app.execute(&format!(
        "INSERT INTO messages (id, org_id, ticket_id, channel_id, direction, kind, author_type, text, external_id, status, sent_at) \
         VALUES (gen_random_uuid(), '{}', '{ticket_id}', '{wa}', 'OUTBOUND', 'TEXT', 'USER', 'On my way', 'wamid.OUT-1', 'SENT', now())",
        admin.org_id
    ))
    .await;
    let status = |s: &str, ts: u64, extra: Value| {
        let mut item = json!({"id": "wamid.OUT-1", "status": s, "timestamp": ts.to_string(), "recipient_id": "447700900111"});
        item.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [{"id": "200000000000009", "changes": [{"field": "messages",
            "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001111", "phone_number_id": WA_PHONE}, "statuses": [item]}}]}]}))
        .unwrap()
    };
    let current = async || {
        app.count("SELECT CASE status WHEN 'SENT' THEN 1 WHEN 'DELIVERED' THEN 2 WHEN 'READ' THEN 3 WHEN 'FAILED' THEN 4 END::bigint AS n FROM messages WHERE external_id = 'wamid.OUT-1'").await
    };
    for (s, ts, expected) in [
        ("read", 1784803802, 3),
        ("delivered", 1784803801, 3),
        ("sent", 1784803800, 3),
    ] {
        assert_eq!(
            app.post_webhook(&wa, &status(s, ts, json!({})), SECRET)
                .await,
            StatusCode::OK
        );
        app.drain_inbound().await;
        assert_eq!(current().await, expected, "after {s}");
    }
    let failed = json!({"errors": [{"code": 131026, "title": "Message undeliverable", "error_data": {"details": "Receiver is incapable of receiving this message"}}]});
    assert_eq!(
        app.post_webhook(&wa, &status("failed", 1784803900, failed), SECRET)
            .await,
        StatusCode::OK
    );
    app.drain_inbound().await;
    assert_eq!(current().await, 3, "a failure never overrides a read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_failure_keeps_meta_code_and_reason() {
    let app = TestApp::new().await;
    let admin = app.signup("Appliances", "ana@example.com").await;
    let wa = app
        .create_channel(&admin, "WHATSAPP", WA_PHONE, SECRET)
        .await;
    assert_eq!(
        app.post_webhook(&wa, &fixture("wa_text"), SECRET).await,
        StatusCode::OK
    );
    app.drain_inbound().await;
    app.execute(&format!(
        "INSERT INTO messages (id, org_id, ticket_id, channel_id, direction, kind, author_type, text, external_id, status, sent_at) \
         SELECT gen_random_uuid(), org_id, id, channel_id, 'OUTBOUND', 'TEXT', 'USER', 'hello again', 'wamid.OUT-2', 'SENT', now() FROM tickets WHERE channel_id = '{wa}'"
    ))
    .await;
    let body = serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"metadata": {"phone_number_id": WA_PHONE}, "statuses": [{"id": "wamid.OUT-2", "status": "failed", "timestamp": "1784803900",
        "recipient_id": "447700900111", "errors": [{"code": 131047, "title": "Re-engagement message", "error_data": {"details": "More than 24 hours have passed"}}]}]}}]}]}))
    .unwrap();
    assert_eq!(app.post_webhook(&wa, &body, SECRET).await, StatusCode::OK);
    app.drain_inbound().await;
    let q = "query($o: ID!) { org(id: $o) { tickets(first: 5) { edges { node { messages(first: 10) { edges { node { externalId status errorCode errorMessage } } } } } } } }";
    let data = app
        .gql_ok(Some(&admin.token), q, json!({"o": admin.org_id}))
        .await;
    let messages = data["org"]["tickets"]["edges"][0]["node"]["messages"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    let failed = messages
        .iter()
        .map(|e| &e["node"])
        .find(|m| m["externalId"] == "wamid.OUT-2")
        .unwrap();
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["errorCode"], 131047);
    assert_eq!(failed["errorMessage"], "More than 24 hours have passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_text_echo_and_read_watermark() {
    messenger_conversation(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_read_watermark_posted_first_still_marks_the_echo_read() {
    messenger_conversation(true).await;
}

async fn messenger_conversation(reverse: bool) {
    let app = TestApp::new().await;
    let admin = app.signup("Parcels", "ana@example.com").await;
    let page = app.create_channel(&admin, "MESSENGER", PAGE, SECRET).await;
    let names = ["messenger_text", "messenger_echo", "messenger_read"];
    for name in ordered(&names, reverse) {
        assert_eq!(
            app.post_webhook(&page, &fixture(name), SECRET).await,
            StatusCode::OK,
            "{name}"
        );
        app.drain_inbound().await;
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM tickets").await, 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM messages WHERE direction = 'INBOUND'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND' AND author_type = 'BUSINESS' AND status = 'READ'").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_ticket_reopens_and_messages_keep_metas_order() {
    let i = inbox().await;
    i.deliver("ig_dm_image").await; // 1784800060000
    let ticket = i.tickets().await[0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    i.app
        .gql_ok(Some(&i.admin.token), "mutation($o: ID!, $t: ID!) { updateTicket(orgId: $o, id: $t, input: {status: RESOLVED}) { status } }", json!({"o": i.admin.org_id, "t": ticket}))
        .await;
    i.deliver("ig_dm_text").await; // older (1784800000000) but arrives later
    let tickets = i.tickets().await;
    let node = &tickets[0]["node"];
    assert_eq!(node["id"], ticket.as_str(), "same ticket, not a new one");
    assert_eq!(node["status"], "OPEN");
    assert_eq!(
        node["lastMessagePreview"], "Sent a photo",
        "an older message does not rewind the preview"
    );
    let order: Vec<_> = node["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].clone())
        .collect();
    assert_eq!(
        order,
        vec![json!("TEXT"), json!("MEDIA")],
        "ordered by Meta's time, not arrival"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_go_to_the_assignee_only_and_coalesce() {
    let i = inbox().await;
    let agent = i
        .app
        .add_member(&i.admin, "carl@example.com", "AGENT")
        .await;
    i.deliver("ig_dm_text").await;
    let ticket = i.tickets().await[0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    i.app
        .gql_ok(Some(&i.admin.token), "mutation($o: ID!, $t: ID!, $u: ID!) { updateTicket(orgId: $o, id: $t, input: {assigneeId: $u}) { id } }", json!({"o": i.admin.org_id, "t": ticket, "u": agent.user_id}))
        .await;
    i.app
        .execute("UPDATE notifications SET read_at = now()")
        .await;
    i.deliver("ig_dm_image").await;
    i.deliver("ig_dm_multiple_attachments").await;
    let unread = "query($o: ID!) { org(id: $o) { unreadNotificationCount notifications(unreadOnly: true) { edges { node { count type } } } } }";
    let agent_view = i
        .app
        .gql_ok(Some(&agent.token), unread, json!({"o": i.admin.org_id}))
        .await;
    assert_eq!(agent_view["org"]["unreadNotificationCount"], 1);
    assert_eq!(
        agent_view["org"]["notifications"]["edges"][0]["node"],
        json!({"count": 2, "type": "NEW_MESSAGE"})
    );
    let admin_view = i
        .app
        .gql_ok(Some(&i.admin.token), unread, json!({"o": i.admin.org_id}))
        .await;
    assert_eq!(admin_view["org"]["unreadNotificationCount"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_and_poison_deliveries_are_parked_without_blocking_others() {
    let i = inbox().await;
    assert_eq!(
        i.app.post_webhook(&i.ig, b"this is not json", SECRET).await,
        StatusCode::OK
    );
    // Valid JSON that PostgreSQL refuses to store, every attempt. (A NUL in text used to
    // be such a poison; it is now replaced on the way in, see
    // `a_nul_in_message_text_is_stored_replaced_and_loses_nothing_else`, so a trigger
    // plays the part of the refusing database.)
    i.app
        .execute(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.external_id = 'poison-mid' THEN RAISE EXCEPTION 'refused'; END IF; \
             RETURN NEW; END $$",
        )
        .await;
    i.app
        .execute(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages \
             FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
        )
        .await;
    let mut poison: Value = serde_json::from_slice(&fixture("ig_dm_text")).unwrap();
    poison["entry"][0]["messaging"][0]["message"]["mid"] = json!("poison-mid");
    assert_eq!(
        i.app
            .post_webhook(&i.ig, &serde_json::to_vec(&poison).unwrap(), SECRET)
            .await,
        StatusCode::OK
    );
    i.deliver("ig_dm_image").await;
    assert_eq!(
        i.app.count("SELECT count(*) AS n FROM messages").await,
        1,
        "the good delivery went through"
    );
    assert_eq!(
        i.app
            .count("SELECT count(*) AS n FROM webhook_events WHERE state = 'PARKED'")
            .await,
        1,
        "garbage parked at once"
    );
    for _ in 0..delightchat::webhooks::processor::MAX_ATTEMPTS {
        i.app
            .execute("UPDATE webhook_events SET run_at = now() WHERE state = 'PENDING'")
            .await;
        i.app.drain_inbound().await;
    }
    assert_eq!(i.app.count("SELECT count(*) AS n FROM webhook_events WHERE state = 'PARKED' AND last_error IS NOT NULL").await, 2);
    assert_eq!(
        i.app
            .count("SELECT max(attempts)::bigint AS n FROM webhook_events")
            .await,
        i64::from(delightchat::webhooks::processor::MAX_ATTEMPTS)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_level_route_routes_purely_by_account_id() {
    let app = TestApp::with_config(|c| {
        c.meta_app_secret = Some("hosted-app-secret".into());
        c.meta_verify_token = Some("hosted-verify".into());
    })
    .await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    app.create_channel(&admin, "INSTAGRAM", IG_A, "per-channel secret")
        .await;
    let (status, _, body) = app
        .request(
            Request::get(
                "/webhook?hub.mode=subscribe&hub.verify_token=hosted-verify&hub.challenge=77",
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"77"[..]));
    let body = fixture("ig_dm_text");
    let post = |sig: String| {
        Request::post("/webhook")
            .header("x-hub-signature-256", sig)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    let (status, _, _) = app
        .request(post(delightchat::webhooks::signature::sign(
            &body,
            b"per-channel secret",
        )))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = app
        .request(post(delightchat::webhooks::signature::sign(
            &body,
            b"hosted-app-secret",
        )))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.drain_inbound().await;
    assert_eq!(app.count("SELECT count(*) AS n FROM messages").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_entry_never_loses_the_other_entries_or_deliveries_of_its_batch() {
    let i = inbox().await;
    // A second account of the same Meta app: its entries may come in the same POST.
    i.app
        .create_channel(&i.admin, "INSTAGRAM", IG_B, SECRET)
        .await;
    // A database fault that only this entry's message triggers.
    i.app
        .execute(
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.text = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$",
        )
        .await;
    i.app
        .execute("CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION poison()")
        .await;
    let entry = |account: &str, customer: &str, mid: &str, text: &str| {
        crate::support::meta::message(false, account, customer, mid, text, 1_784_900_000_000)["entry"][0].clone()
    };
    let two_entries = json!({"object": "instagram", "entry": [
        entry(IG_A, "5500000000000011", "mid-poison", "poison"),
        entry(IG_B, "5500000000000022", "mid-fine", "fine"),
    ]});
    let other = crate::support::meta::message(
        false,
        IG_A,
        "5500000000000033",
        "mid-other",
        "other",
        1_784_900_001_000,
    );
    for body in [&two_entries, &other] {
        let bytes = serde_json::to_vec(body).unwrap();
        assert_eq!(
            i.app.post_webhook(&i.ig, &bytes, SECRET).await,
            StatusCode::OK
        );
    }
    i.app.drain_inbound().await;
    let stored = i
        .app
        .rows("SELECT external_id AS row FROM messages ORDER BY 1")
        .await;
    assert_eq!(
        stored,
        vec!["mid-fine", "mid-other"],
        "the good entry and delivery landed"
    );
    assert_eq!(
        i.app
            .count("SELECT count(*) AS n FROM webhook_events WHERE state = 'PENDING' AND last_error LIKE '%poisoned%'")
            .await,
        1,
        "only the failing entry waits for a retry"
    );
    assert_eq!(
        i.app
            .count("SELECT count(*) AS n FROM webhook_events WHERE state = 'PROCESSED'")
            .await,
        2
    );
    // Once the fault is gone the split-off entry lands too, and nothing is lost.
    i.app.execute("DROP TRIGGER poison ON messages").await;
    i.app
        .execute("UPDATE webhook_events SET run_at = now() WHERE state = 'PENDING'")
        .await;
    i.app.drain_inbound().await;
    assert_eq!(
        i.app
            .rows("SELECT external_id AS row FROM messages ORDER BY 1")
            .await,
        vec!["mid-fine", "mid-other", "mid-poison"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_message_text_is_stored_replaced_and_loses_nothing_else() {
    let i = inbox().await;
    let entry = |customer: &str, mid: &str, text: &str| {
        crate::support::meta::message(false, IG_A, customer, mid, text, 1_784_900_000_000)["entry"]
            [0]
        .clone()
    };
    let body = json!({"object": "instagram", "entry": [
        entry("5500000000000011", "mid-nul", "bad\u{0}byte"),
        entry("5500000000000022", "mid-plain", "plain"),
    ]});
    let bytes = serde_json::to_vec(&body).unwrap();
    assert!(
        bytes.windows(6).any(|w| w == b"\\u0000"),
        "the body carries a JSON NUL escape"
    );
    assert_eq!(
        i.app.post_webhook(&i.ig, &bytes, SECRET).await,
        StatusCode::OK
    );
    i.app.drain_inbound().await;
    assert_eq!(
        i.app
            .rows("SELECT external_id || ':' || text AS row FROM messages ORDER BY 1")
            .await,
        vec!["mid-nul:bad\u{FFFD}byte", "mid-plain:plain"]
    );
    assert_eq!(
        i.app
            .count("SELECT count(*) AS n FROM webhook_events WHERE state <> 'PROCESSED'")
            .await,
        0,
        "nothing waits for a retry"
    );
}
