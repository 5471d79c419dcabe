//! Replies through a fake Graph API: exact requests per destination, retries, permanent
//! failures, messaging windows, crash recovery and races with echoes and statuses.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use delightchat::simulate::{Kind, Params, build};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::plans::index_use_of;
use crate::support::{Session, TestApp, error_code};

const SECRET: &str = "outbound-secret";
const IG: &str = "17841400000000101";
const PAGE: &str = "104400000000001";
const WA: &str = "310000000000001";
const CUSTOMER: &str = "5500000000000011";

const SEND: &str = "mutation($o: ID!, $t: ID!, $i: SendMessageInput!) { sendMessage(orgId: $o, ticketId: $t, input: $i) {
    id status text isPrivateNote externalId errorCode errorMessage } }";

struct Setup {
    app: TestApp,
    admin: Session,
    graph: MockServer,
    channel: String,
}

async fn setup(platform: &str, account: &str) -> Setup {
    let graph = crate::support::fake_graph::start().await;
    let uri = graph.uri();
    let app = TestApp::with_config(|c| c.graph_api_base_url = uri).await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, platform, account, SECRET).await;
    // From here on the fake sees only what the tests expect: the sends.
    graph.reset().await;
    Setup {
        app,
        admin,
        graph,
        channel,
    }
}

impl Setup {
    /// A customer message `ago` in the past; returns its ticket id.
    async fn customer_writes(&self, kind: Kind, account: &str, ago: Duration) -> String {
        let params = Params {
            account_id: account.into(),
            from: CUSTOMER.into(),
            name: "Sam".into(),
            text: "Is the blue kettle back?".into(),
            message_id: None,
            status: "delivered".into(),
            unique: uuid::Uuid::new_v4().simple().to_string(),
        };
        let body = build(kind, &params, Utc::now() - ago).unwrap();
        assert_eq!(
            self.app.post_webhook(&self.channel, &body, SECRET).await,
            StatusCode::OK
        );
        self.app.drain_inbound().await;
        let data = self
            .app
            .gql_ok(
                Some(&self.admin.token),
                "query($o: ID!) { org(id: $o) { tickets(first: 1) { edges { node { id } } } } }",
                json!({"o": self.admin.org_id}),
            )
            .await;
        data["org"]["tickets"]["edges"][0]["node"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn send(&self, ticket: &str, input: Value) -> Value {
        self.app
            .graphql(
                Some(&self.admin.token),
                SEND,
                json!({"o": self.admin.org_id, "t": ticket, "i": input}),
            )
            .await
    }

    async fn send_ok(&self, ticket: &str, input: Value) -> Value {
        let r = self.send(ticket, input).await;
        assert!(r.get("errors").is_none(), "{r:#}");
        r["data"]["sendMessage"].clone()
    }

    /// Makes every pending job due now (time travel for retries and reconciliation).
    async fn make_due(&self) {
        self.app.execute("UPDATE outbound_jobs SET run_at = now(), uncertain_since = uncertain_since - interval '10 minutes' WHERE state = 'PENDING'").await;
    }

    async fn message(&self, id: &str) -> Value {
        let q = "query($o: ID!) { org(id: $o) { tickets(first: 5) { edges { node { messages(last: 50) { edges { node {
            id status externalId errorCode errorMessage direction author { type } text } } } } } } } }";
        let data = self
            .app
            .gql_ok(Some(&self.admin.token), q, json!({"o": self.admin.org_id}))
            .await;
        data["org"]["tickets"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| t["node"]["messages"]["edges"].as_array().unwrap().clone())
            .map(|e| e["node"].clone())
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("message {id} not found"))
    }
}

fn token(account: &str) -> String {
    format!("Bearer EAAG-token-of-{account}")
}

fn sent(mid: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"recipient_id": CUSTOMER, "message_id": mid}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instagram_dm_reply_goes_out_once_and_becomes_sent() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s
        .customer_writes(Kind::IgDm, IG, Duration::minutes(5))
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{IG}/messages")))
        .and(header("authorization", token(IG).as_str()))
        .and(body_json(json!({"recipient": {"id": CUSTOMER}, "messaging_type": "RESPONSE", "message": {"text": "Yes, since Monday!"}})))
        .respond_with(sent("mid.out.1"))
        .expect(1)
        .mount(&s.graph)
        .await;
    let queued = s
        .send_ok(&ticket, json!({"text": "Yes, since Monday!"}))
        .await;
    assert_eq!(queued["status"], "QUEUED");
    s.app.drain_outbound().await;
    let message = s.message(queued["id"].as_str().unwrap()).await;
    assert_eq!(
        (message["status"].as_str(), message["externalId"].as_str()),
        (Some("SENT"), Some("mid.out.1"))
    );
    assert_eq!(message["author"]["type"], "USER");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_replies_carry_the_correlation_metadata() {
    let s = setup("MESSENGER", PAGE).await;
    let ticket = s
        .customer_writes(Kind::MessengerText, PAGE, Duration::minutes(5))
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{PAGE}/messages")))
        .and(header("authorization", token(PAGE).as_str()))
        .and(body_partial_json(
            json!({"recipient": {"id": CUSTOMER}, "messaging_type": "RESPONSE"}),
        ))
        .respond_with(sent("m_out_1"))
        .expect(1)
        .mount(&s.graph)
        .await;
    let queued = s.send_ok(&ticket, json!({"text": "Checking now"})).await;
    s.app.drain_outbound().await;
    let requests = s.graph.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        body["message"]["metadata"],
        format!("outbound:{}", queued["id"].as_str().unwrap())
    );
    assert_eq!(
        s.message(queued["id"].as_str().unwrap()).await["status"],
        "SENT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comment_tickets_get_public_or_private_replies() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s
        .customer_writes(Kind::IgComment, IG, Duration::minutes(5))
        .await;
    let comment_id: String = {
        let data = s.app.gql_ok(Some(&s.admin.token), "query($o: ID!, $t: ID!) { org(id: $o) { ticket(id: $t) { messages { edges { node { externalId } } } } } }", json!({"o": s.admin.org_id, "t": ticket})).await;
        data["org"]["ticket"]["messages"]["edges"][0]["node"]["externalId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{comment_id}/replies")))
        .and(header("authorization", token(IG).as_str()))
        .and(body_json(json!({"message": "Yes, in wool too"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "18000000000009999"})))
        .expect(1)
        .mount(&s.graph)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{IG}/messages")))
        .and(body_json(json!({"recipient": {"comment_id": comment_id}, "messaging_type": "RESPONSE", "message": {"text": "Sent you the size chart"}})))
        .respond_with(sent("mid.private.1"))
        .expect(1)
        .mount(&s.graph)
        .await;
    let public = s
        .send_ok(&ticket, json!({"text": "Yes, in wool too"}))
        .await;
    let private = s
        .send_ok(
            &ticket,
            json!({"text": "Sent you the size chart", "privateReply": true}),
        )
        .await;
    s.app.drain_outbound().await;
    assert_eq!(
        s.message(public["id"].as_str().unwrap()).await["externalId"],
        "18000000000009999"
    );
    assert_eq!(
        s.message(private["id"].as_str().unwrap()).await["externalId"],
        "mid.private.1"
    );
    // Meta allows one private reply per comment.
    let again = s
        .send(
            &ticket,
            json!({"text": "and another", "privateReply": true}),
        )
        .await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT");
    // The business's own comment webhook for our public reply is recognised, not duplicated.
    let own = json!({"object": "instagram", "entry": [{"id": IG, "time": Utc::now().timestamp(), "changes": [{"field": "comments",
        "value": {"from": {"id": IG, "username": "shop"}, "media": {"id": "17900000000000001"}, "id": "18000000000009999",
        "parent_id": comment_id, "text": "Yes, in wool too"}}]}]});
    s.app
        .post_webhook(&s.channel, own.to_string().as_bytes(), SECRET)
        .await;
    s.app.drain_inbound().await;
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'")
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_replies_use_the_phone_number_and_reply_context() {
    let s = setup("WHATSAPP", WA).await;
    let ticket = s
        .customer_writes(Kind::WaText, WA, Duration::minutes(5))
        .await;
    let inbound_id: String = {
        let data = s.app.gql_ok(Some(&s.admin.token), "query($o: ID!, $t: ID!) { org(id: $o) { ticket(id: $t) { messages { edges { node { id externalId } } } } } }", json!({"o": s.admin.org_id, "t": ticket})).await;
        data["org"]["ticket"]["messages"]["edges"][0]["node"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{WA}/messages")))
        .and(header("authorization", token(WA).as_str()))
        .and(body_partial_json(json!({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "image",
            "image": {"link": "https://cdn.example.com/chart.png", "caption": "Size chart"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"messaging_product": "whatsapp",
            "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}], "messages": [{"id": "wamid.OUT-9"}]})))
        .expect(1)
        .mount(&s.graph)
        .await;
    let queued = s
        .send_ok(&ticket, json!({"text": "Size chart", "attachmentUrl": "https://cdn.example.com/chart.png", "attachmentType": "IMAGE", "replyToMessageId": inbound_id}))
        .await;
    s.app.drain_outbound().await;
    let requests = s.graph.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert!(
        body["context"]["message_id"]
            .as_str()
            .unwrap()
            .starts_with("wamid.SIM"),
        "{body}"
    );
    assert_eq!(
        s.message(queued["id"].as_str().unwrap()).await["externalId"],
        "wamid.OUT-9"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_are_retried_until_sent() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s
        .customer_writes(Kind::IgDm, IG, Duration::minutes(5))
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "An unexpected error has occurred.", "type": "OAuthException", "code": 2, "is_transient": true}})))
        .up_to_n_times(2)
        .expect(2)
        .mount(&s.graph)
        .await;
    Mock::given(method("POST"))
        .respond_with(sent("mid.after.retries"))
        .expect(1)
        .mount(&s.graph)
        .await;
    let queued = s.send_ok(&ticket, json!({"text": "hello"})).await;
    let id = queued["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        s.app.drain_outbound().await;
        s.make_due().await;
    }
    let message = s.message(&id).await;
    assert_eq!(
        (message["status"].as_str(), message["externalId"].as_str()),
        (Some("SENT"), Some("mid.after.retries"))
    );
    // The mocks check the three attempts; a sent reply's job is removed, and the queue
    // holds only waiting or given-up jobs.
    assert_eq!(
        s.app.count("SELECT count(*) AS n FROM outbound_jobs").await,
        0
    );
    assert_eq!(
        s.app
            .rows(
                "SELECT pg_get_constraintdef(oid) AS row FROM pg_constraint \
                 WHERE conname = 'outbound_jobs_state_check'"
            )
            .await,
        ["CHECK ((state = ANY (ARRAY['PENDING'::text, 'FAILED'::text])))"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_fail_once_with_metas_code_and_an_expired_token_flags_the_channel() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s
        .customer_writes(Kind::IgDm, IG, Duration::minutes(5))
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": {"message": "Error validating access token: Session has expired.",
            "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": "Ax1"}}),
        ))
        .expect(1)
        .mount(&s.graph)
        .await;
    let queued = s.send_ok(&ticket, json!({"text": "hello"})).await;
    s.app.drain_outbound().await;
    s.make_due().await;
    s.app.drain_outbound().await;
    let message = s.message(queued["id"].as_str().unwrap()).await;
    assert_eq!(message["status"], "FAILED");
    assert_eq!(message["errorCode"], 190);
    assert!(
        message["errorMessage"]
            .as_str()
            .unwrap()
            .contains("reconnect"),
        "{message}"
    );
    let channel = s
        .app
        .gql_ok(
            Some(&s.admin.token),
            "query($o: ID!) { org(id: $o) { channels { status statusReason } } }",
            json!({"o": s.admin.org_id}),
        )
        .await;
    assert_eq!(channel["org"]["channels"][0]["status"], "NEEDS_REAUTH");
    // Further replies are refused with the reason instead of burning calls.
    let refused = s.send(&ticket, json!({"text": "again"})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_outside_the_window_are_refused_unless_human_agent_is_allowed() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s.customer_writes(Kind::IgDm, IG, Duration::days(2)).await;
    let refused = s.send(&ticket, json!({"text": "Sorry for the wait"})).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("24 hours"),
        "{refused}"
    );
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'")
            .await,
        0
    );
    assert_eq!(
        s.app.count("SELECT count(*) AS n FROM outbound_jobs").await,
        0
    );

    s.app
        .gql_ok(Some(&s.admin.token), "mutation($o: ID!, $c: ID!) { updateChannel(orgId: $o, id: $c, input: {humanAgentEnabled: true}) { humanAgentEnabled } }", json!({"o": s.admin.org_id, "c": s.channel}))
        .await;
    Mock::given(method("POST"))
        .and(body_partial_json(
            json!({"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}),
        ))
        .respond_with(sent("mid.tagged"))
        .expect(1)
        .mount(&s.graph)
        .await;
    s.send_ok(&ticket, json!({"text": "Sorry for the wait"}))
        .await;
    s.app.drain_outbound().await;

    // WhatsApp has no tag: 24 hours, then templates only.
    let wa = setup("WHATSAPP", WA).await;
    let wa_ticket = wa
        .customer_writes(Kind::WaText, WA, Duration::hours(25))
        .await;
    let refused = wa.send(&wa_ticket, json!({"text": "hello"})).await;
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("template"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_stores_nothing() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s
        .customer_writes(Kind::IgDm, IG, Duration::minutes(5))
        .await;
    for input in [
        json!({"text": "   "}),
        json!({}),
        json!({"text": "x".repeat(1001)}),
        json!({"attachmentUrl": "http://insecure.example.com/a.png", "attachmentType": "IMAGE"}),
        json!({"attachmentUrl": "https://cdn.example.com/a.png"}),
        json!({"attachmentUrl": "https://cdn.example.com/a.png", "attachmentType": "STORY_MENTION"}),
        json!({"text": "caption", "attachmentUrl": "https://cdn.example.com/a.png", "attachmentType": "IMAGE"}),
        json!({"text": "hi", "privateReply": true}),
    ] {
        let r = s.send(&ticket, input.clone()).await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{input}: {r}");
    }
    s.app
        .gql_ok(Some(&s.admin.token), "mutation($o: ID!, $c: ID!) { updateChannel(orgId: $o, id: $c, input: {enabled: false}) { status } }", json!({"o": s.admin.org_id, "c": s.channel}))
        .await;
    let r = s.send(&ticket, json!({"text": "hello"})).await;
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("disabled"),
        "{r}"
    );
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_notes_are_never_sent_and_client_keys_make_sends_idempotent() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s
        .customer_writes(Kind::IgDm, IG, Duration::minutes(5))
        .await;
    Mock::given(method("POST"))
        .respond_with(sent("mid.once"))
        .expect(1)
        .mount(&s.graph)
        .await;
    let note = s
        .send_ok(
            &ticket,
            json!({"text": "VIP, handle with care", "privateNote": true}),
        )
        .await;
    assert_eq!(note["isPrivateNote"], true);
    let first = s
        .send_ok(
            &ticket,
            json!({"text": "hello", "clientMessageId": "draft-42"}),
        )
        .await;
    let second = s
        .send_ok(
            &ticket,
            json!({"text": "hello", "clientMessageId": "draft-42"}),
        )
        .await;
    assert_eq!(first["id"], second["id"]);
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM outbound_jobs WHERE state = 'PENDING'")
            .await,
        1
    );
    s.app.drain_outbound().await;
    assert_eq!(
        s.app.count("SELECT count(*) AS n FROM outbound_jobs").await,
        0
    );
    // Sent at once, one key still makes one message: its lookup runs under the ticket's
    // lock, after any other send of it has committed.
    let at_once = (0..4).map(|_| {
        s.send_ok(
            &ticket,
            json!({"text": "again", "clientMessageId": "draft-43"}),
        )
    });
    let ids: std::collections::HashSet<String> = futures_util::future::join_all(at_once)
        .await
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM messages WHERE client_key = 'draft-43'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reply_can_be_retried() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s
        .customer_writes(Kind::IgDm, IG, Duration::minutes(5))
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "This person isn't available right now.", "code": 551, "error_subcode": 1545041}})))
        .up_to_n_times(1)
        .mount(&s.graph)
        .await;
    Mock::given(method("POST"))
        .respond_with(sent("mid.second.try"))
        .mount(&s.graph)
        .await;
    let queued = s.send_ok(&ticket, json!({"text": "hello"})).await;
    let id = queued["id"].as_str().unwrap().to_owned();
    s.app.drain_outbound().await;
    assert_eq!(s.message(&id).await["errorCode"], 551);
    let retried = s
        .app
        .gql_ok(Some(&s.admin.token), "mutation($o: ID!, $m: ID!) { retryMessage(orgId: $o, messageId: $m) { status errorCode } }", json!({"o": s.admin.org_id, "m": id}))
        .await;
    assert_eq!(
        retried["retryMessage"],
        json!({"status": "QUEUED", "errorCode": null})
    );
    s.app.drain_outbound().await;
    assert_eq!(s.message(&id).await["status"], "SENT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_claim_and_send_is_recovered_without_sending_twice() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s
        .customer_writes(Kind::IgDm, IG, Duration::minutes(5))
        .await;
    let queued = s.send_ok(&ticket, json!({"text": "On its way"})).await;
    let id = queued["id"].as_str().unwrap().to_owned();
    // A worker claims the job and dies: its lease runs out.
    let mut conn = s.app.db.connect().await;
    let claimed = delightchat::db::outbound_jobs::claim(
        &mut conn,
        10,
        std::time::Duration::from_secs(60),
        "test-worker",
    )
    .await
    .unwrap();
    assert_eq!(claimed.len(), 1);
    s.app
        .execute("UPDATE outbound_jobs SET locked_until = now() - interval '1 second'")
        .await;
    // Meta had accepted it: the echo arrives and is matched to the send in flight.
    let echo = json!({"object": "instagram", "entry": [{"id": IG, "time": Utc::now().timestamp_millis(), "messaging": [{
        "sender": {"id": IG}, "recipient": {"id": CUSTOMER}, "timestamp": Utc::now().timestamp_millis(),
        "message": {"mid": "mid.from.echo", "text": "On its way", "is_echo": true}}]}]});
    s.app
        .post_webhook(&s.channel, echo.to_string().as_bytes(), SECRET)
        .await;
    s.app.drain_inbound().await;
    Mock::given(method("POST"))
        .respond_with(sent("mid.duplicate"))
        .expect(0)
        .mount(&s.graph)
        .await;
    s.app.drain_outbound().await;
    s.make_due().await;
    s.app.drain_outbound().await;
    let message = s.message(&id).await;
    assert_eq!(
        (message["status"].as_str(), message["externalId"].as_str()),
        (Some("SENT"), Some("mid.from.echo"))
    );
    assert_eq!(
        s.app.count("SELECT count(*) AS n FROM outbound_jobs").await,
        0
    );
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncertain_whatsapp_send_fails_visibly_instead_of_risking_a_duplicate() {
    let s = setup("WHATSAPP", WA).await;
    let ticket = s
        .customer_writes(Kind::WaText, WA, Duration::minutes(5))
        .await;
    // 2xx without a message id: Meta may or may not have it.
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"messaging_product": "whatsapp"})),
        )
        .expect(1)
        .mount(&s.graph)
        .await;
    let queued = s.send_ok(&ticket, json!({"text": "hello"})).await;
    s.app.drain_outbound().await;
    assert_eq!(
        s.message(queued["id"].as_str().unwrap()).await["status"],
        "QUEUED",
        "waiting to reconcile"
    );
    s.make_due().await;
    s.app.drain_outbound().await;
    let message = s.message(queued["id"].as_str().unwrap()).await;
    assert_eq!(message["status"], "FAILED");
    assert!(
        message["errorMessage"]
            .as_str()
            .unwrap()
            .contains("did not confirm"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoes_and_statuses_that_beat_the_send_response_end_in_one_message_with_the_right_status()
{
    // WhatsApp: the delivered status arrives before we record the wamid.
    let s = setup("WHATSAPP", WA).await;
    let ticket = s
        .customer_writes(Kind::WaText, WA, Duration::minutes(5))
        .await;
    let queued = s.send_ok(&ticket, json!({"text": "hello"})).await;
    let params = Params {
        account_id: WA.into(),
        from: CUSTOMER.into(),
        name: "Sam".into(),
        text: String::new(),
        message_id: Some("wamid.RACE".into()),
        status: "delivered".into(),
        unique: "u".into(),
    };
    s.app
        .post_webhook(
            &s.channel,
            &build(Kind::WaStatus, &params, Utc::now()).unwrap(),
            SECRET,
        )
        .await;
    s.app.drain_inbound().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"messages": [{"id": "wamid.RACE"}]})),
        )
        .mount(&s.graph)
        .await;
    s.app.drain_outbound().await;
    let message = s.message(queued["id"].as_str().unwrap()).await;
    assert_eq!(
        (message["status"].as_str(), message["externalId"].as_str()),
        (Some("DELIVERED"), Some("wamid.RACE"))
    );

    // Instagram: an echo with the id arrives first and is recorded on its own; our
    // recorded send absorbs it.
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s
        .customer_writes(Kind::IgDm, IG, Duration::minutes(5))
        .await;
    let queued = s.send_ok(&ticket, json!({"text": "hello there"})).await;
    let echo = json!({"object": "instagram", "entry": [{"id": IG, "time": Utc::now().timestamp_millis(), "messaging": [{
        "sender": {"id": IG}, "recipient": {"id": CUSTOMER}, "timestamp": Utc::now().timestamp_millis(),
        "message": {"mid": "mid.RACE", "text": "hello there!!", "is_echo": true}}]}]});
    s.app
        .post_webhook(&s.channel, echo.to_string().as_bytes(), SECRET)
        .await;
    s.app.drain_inbound().await;
    Mock::given(method("POST"))
        .respond_with(sent("mid.RACE"))
        .mount(&s.graph)
        .await;
    s.app.drain_outbound().await;
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'")
            .await,
        1
    );
    let message = s.message(queued["id"].as_str().unwrap()).await;
    assert_eq!(
        (message["status"].as_str(), message["externalId"].as_str()),
        (Some("SENT"), Some("mid.RACE"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_orgs_tickets_and_messages_cannot_be_replied_to_or_retried() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s
        .customer_writes(Kind::IgDm, IG, Duration::minutes(5))
        .await;
    let queued = s.send_ok(&ticket, json!({"text": "hello"})).await;
    let other = s.app.signup("Globex", "bo@example.com").await;
    let r = s
        .app
        .graphql(
            Some(&other.token),
            SEND,
            json!({"o": s.admin.org_id, "t": ticket, "i": {"text": "pwned"}}),
        )
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN");
    let r = s
        .app
        .graphql(
            Some(&other.token),
            SEND,
            json!({"o": other.org_id, "t": ticket, "i": {"text": "pwned"}}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND");
    let r = s
        .app
        .graphql(
            Some(&other.token),
            "mutation($o: ID!, $m: ID!) { retryMessage(orgId: $o, messageId: $m) { id } }",
            json!({"o": other.org_id, "m": queued["id"]}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND");
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM messages WHERE text = 'pwned'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_change_is_a_live_event() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s
        .customer_writes(Kind::IgDm, IG, Duration::minutes(5))
        .await;
    Mock::given(method("POST"))
        .respond_with(sent("mid.live"))
        .mount(&s.graph)
        .await;
    let org = delightchat::db::ids::OrgId::parse(&s.admin.org_id).unwrap();
    let user = delightchat::db::ids::UserId::parse(&s.admin.user_id).unwrap();
    let mut stream = delightchat::events::stream::open(
        s.app.state.pool().clone(),
        s.app.state.bus_handle(),
        org,
        (user, None),
        None,
    )
    .await
    .unwrap();
    let queued = s.send_ok(&ticket, json!({"text": "hello"})).await;
    s.app.drain_outbound().await;
    let mut statuses = Vec::new();
    use futures_util::StreamExt as _;
    while statuses.last().map(String::as_str) != Some("SENT") {
        let event = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(m) = &event.snapshot.message
            && m.id.to_string() == queued["id"].as_str().unwrap()
        {
            statuses.push(m.status.to_string());
        }
    }
    assert_eq!(statuses, vec!["QUEUED", "SENT"]);
}

/// A fake Send API that accepts everything and gives each send an id of its own.
struct Accepting(std::sync::atomic::AtomicU64);

impl wiremock::Respond for Accepting {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ResponseTemplate::new(200)
            .set_body_json(json!({"recipient_id": CUSTOMER, "message_id": format!("mid-sent-{n}")}))
    }
}

/// Statements the outbound worker runs to send and record `replies` replies.
async fn statements_to_send(replies: usize) -> u64 {
    let s = setup("INSTAGRAM", IG).await;
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{IG}/messages")))
        .respond_with(Accepting(std::sync::atomic::AtomicU64::new(0)))
        .mount(&s.graph)
        .await;
    let ticket = s
        .customer_writes(Kind::IgDm, IG, Duration::minutes(1))
        .await;
    for n in 0..replies {
        s.send_ok(&ticket, json!({"text": format!("reply {n}")}))
            .await;
    }
    let before = s.app.state.query_count();
    s.app.drain_outbound().await;
    let statements = s.app.state.query_count() - before;
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM messages WHERE status = 'SENT' AND external_id LIKE 'mid-sent-%'")
            .await,
        replies as i64
    );
    statements
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_a_batch_of_replies_costs_a_constant_number_of_statements() {
    let small = statements_to_send(4).await;
    let large = statements_to_send(40).await;
    println!("{small} statements for 4 replies, {large} for 40");
    // Claimed, prefetched, and recorded together: not once per reply.
    assert!(large <= small + 2, "{small} for 4 replies, {large} for 40");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_is_queued_in_a_handful_of_statements() {
    let s = setup("INSTAGRAM", IG).await;
    let ticket = s
        .customer_writes(Kind::IgDm, IG, Duration::minutes(1))
        .await;
    s.send_ok(&ticket, json!({"text": "warm-up"})).await;
    let before = (s.app.state.query_count(), s.app.state.scoping_count());
    s.send_ok(&ticket, json!({"text": "counted"})).await;
    let scoping = s.app.state.scoping_count() - before.1;
    let statements = s.app.state.query_count() - before.0 - scoping;
    // In one transaction: the ticket (locked), its channel, the message, its job, the
    // ticket's summary, the live events (one statement: the rows' snapshots are already
    // in hand), and BEGIN/COMMIT.
    assert!(statements <= 8, "{statements} statements");
    // One checkout, whose scoping statement also says the caller's role (the membership
    // check).
    assert_eq!(scoping, 1, "{scoping} scoping statements");
}

/// A channel with 2,000 replies queued after the queue's statistics were taken empty.
async fn backlog_after_empty_statistics() -> Setup {
    let s = setup("INSTAGRAM", IG).await;
    s.customer_writes(Kind::IgDm, IG, Duration::minutes(1))
        .await;
    s.app.execute("ANALYZE outbound_jobs").await;
    s.app
        .execute(
            "INSERT INTO messages (id, org_id, ticket_id, channel_id, direction, kind, author_type, \
                                   text, status, sent_at) \
             SELECT gen_random_uuid(), org_id, ticket_id, channel_id, 'OUTBOUND', 'TEXT', 'USER', \
                    'Back in stock', 'QUEUED', now() \
             FROM messages, generate_series(1, 2000)",
        )
        .await;
    s.app
        .execute(
            "INSERT INTO outbound_jobs (org_id, message_id, channel_id) \
             SELECT org_id, id, channel_id FROM messages WHERE direction = 'OUTBOUND'",
        )
        .await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_walks_the_queue_in_order_whatever_its_statistics_say() {
    let s = backlog_after_empty_statistics().await;
    let mut conn = s.app.state.system_conn().await.unwrap();
    let (claimed, claim_index) = index_use_of(&mut conn, "outbound_jobs_claim_idx", async |conn| {
        delightchat::db::outbound_jobs::claim(
            conn,
            100,
            std::time::Duration::from_secs(60),
            "test-worker",
        )
        .await
    })
    .await
    .unwrap();
    assert_eq!(claimed.len(), 100);
    assert!(
        claim_index.entries <= 101,
        "a claim of 100 read {} entries of the claim index: the whole backlog",
        claim_index.entries
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_jobs_are_removed_by_primary_key_whatever_the_queues_statistics_say() {
    use delightchat::db::outbound_jobs::{claim, remove_done};

    let s = backlog_after_empty_statistics().await;
    let mut conn = s.app.state.system_conn().await.unwrap();
    let claimed = claim(
        &mut conn,
        250,
        std::time::Duration::from_secs(60),
        "test-worker",
    )
    .await
    .unwrap();
    assert_eq!(claimed.len(), 250);

    let (removed, claim_index) = index_use_of(&mut conn, "outbound_jobs_claim_idx", async |conn| {
        remove_done(conn, &claimed.iter().collect::<Vec<_>>()).await
    })
    .await
    .unwrap();
    assert_eq!(removed, 250);
    assert_eq!(
        claim_index.scans, 0,
        "the backlog's claim index was walked to find jobs by id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replys_summary_update_reads_only_the_messages_after_the_latest_response() {
    use delightchat::db::ids::{MessageId, TicketId};
    use delightchat::db::tickets::{Activity, record_activity};

    let s = setup("INSTAGRAM", IG).await;
    s.customer_writes(Kind::IgDm, IG, Duration::hours(2)).await;
    // A long conversation: 500 replies after the customer's message, the latest one the
    // ticket's latest response.
    s.app
        .execute(
            "INSERT INTO messages (id, org_id, ticket_id, channel_id, direction, kind, author_type, \
                                   text, status, sent_at) \
             SELECT gen_random_uuid(), org_id, ticket_id, channel_id, 'OUTBOUND', 'TEXT', 'USER', \
                    'On it', 'SENT', sent_at + g * interval '1 second' \
             FROM messages, generate_series(1, 500) g",
        )
        .await;
    s.app
        .execute("UPDATE tickets SET last_response_at = (SELECT max(sent_at) FROM messages)")
        .await;
    let ticket = s.app.rows("SELECT id::text AS row FROM tickets").await;
    let reply = s
        .app
        .rows("SELECT id::text AS row FROM messages ORDER BY sent_at DESC LIMIT 1")
        .await;
    let ticket = TicketId(uuid::Uuid::parse_str(&ticket[0]).unwrap());
    let reply = MessageId(uuid::Uuid::parse_str(&reply[0]).unwrap());

    // The summary update of one more reply, under row-level security as the server runs it.
    let mut conn = s.app.state.system_conn().await.unwrap();
    let activity = Activity::of_one(ticket, reply, Utc::now(), None, false, "On it", false);
    let (updated, order_index) =
        index_use_of(&mut conn, "messages_ticket_order_idx", async |conn| {
            record_activity(conn, &activity).await
        })
        .await
        .unwrap();
    assert_eq!(updated.waiting_since, None, "answered: nobody is waiting");
    let read = order_index.entries;
    assert!(
        read <= 1,
        "the update read {read} of the ticket's 501 messages to find who waits"
    );
}
