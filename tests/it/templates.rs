//! WhatsApp templates through a fake Graph API: sync on connect and on demand (every page
//! of `GET /{waba-id}/message_templates`), status webhooks, parameter validation, refused
//! statuses, and the 24-hour window with and without a template.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use delightchat::simulate::{Kind, Params, build};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Session, TestApp, error_code};

const SECRET: &str = "template-secret";
const WA: &str = "310000000000401";
const WABA: &str = "218600000000401";
const CUSTOMER: &str = "447700900401";

const SEND_TEMPLATE: &str = "mutation($o: ID!, $t: ID!, $i: SendTemplateInput!) {
    sendTemplate(orgId: $o, ticketId: $t, input: $i) { id status text externalId errorMessage } }";
const TEMPLATES: &str = "query($o: ID!, $c: ID!) { org(id: $o) { channel(id: $c) { templates {
    name language category status statusReason refusal variables { place key kind example } } } } }";

fn order_update(status: &str) -> Value {
    json!({"name": "order_update", "language": "en_US", "status": status, "category": "UTILITY",
        "id": "900000000000001", "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["https://scontent.example.test/h.jpg"]}},
            {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.", "example": {"body_text": [["Ada", "#1042"]]}},
            {"type": "FOOTER", "text": "Kettle Shop"}]})
}

fn welcome() -> Value {
    json!({"name": "welcome_back", "language": "en_US", "status": "APPROVED", "category": "MARKETING",
        "id": "900000000000002", "components": [{"type": "BODY", "text": "We miss you, {{1}}!"}]})
}

fn follow_up() -> Value {
    json!({"name": "follow_up", "language": "pt_BR", "status": "REJECTED", "category": "MARKETING",
        "rejected_reason": "INVALID_FORMAT", "id": "900000000000003",
        "components": [{"type": "BODY", "text": "Olá!"}]})
}

struct Setup {
    app: TestApp,
    admin: Session,
    graph: MockServer,
    channel: String,
}

/// Meta lists `first` on page one (pointing at a second page) and `second` on page two.
async fn mount_two_pages(graph: &MockServer, first: Vec<Value>, second: Vec<Value>) {
    let route = format!("/v25.0/{WABA}/message_templates");
    Mock::given(method("GET"))
        .and(path(route.as_str()))
        .and(query_param("after", "QVFIUpage2"))
        .and(header(
            "authorization",
            format!("Bearer EAAG-token-of-{WA}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": second, "paging": {"cursors": {"before": "QVFIUpage2", "after": "QVFIUend"}}})))
        .mount(graph)
        .await;
    Mock::given(method("GET"))
        .and(path(route.as_str()))
        .and(query_param("limit", "100"))
        .and(header("authorization", format!("Bearer EAAG-token-of-{WA}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": first, "paging": {"cursors": {"before": "QVFIUpage1", "after": "QVFIUpage2"},
                "next": format!("https://graph.facebook.com/v25.0/{WABA}/message_templates?after=QVFIUpage2")}})))
        .mount(graph)
        .await;
}

async fn setup(first: Vec<Value>, second: Vec<Value>) -> Setup {
    let graph = MockServer::start().await;
    mount_two_pages(&graph, first, second).await;
    crate::support::fake_graph::mount_ownership(&graph).await;
    let uri = graph.uri();
    let app = TestApp::with_config(|c| c.graph_api_base_url = uri).await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let data = app
        .gql_ok(
            Some(&admin.token),
            "mutation($o: ID!, $i: CreateChannelInput!) { createChannel(orgId: $o, input: $i) { id businessAccountId } }",
            json!({"o": admin.org_id, "i": {
                "platform": "WHATSAPP", "name": "WhatsApp", "externalAccountId": WA,
                "businessAccountId": WABA, "accessToken": format!("EAAG-token-of-{WA}"),
                "appSecret": SECRET, "verifyToken": "verify-wa"}}),
        )
        .await;
    assert_eq!(data["createChannel"]["businessAccountId"], WABA);
    let channel = data["createChannel"]["id"].as_str().unwrap().to_owned();
    Setup {
        app,
        admin,
        graph,
        channel,
    }
}

impl Setup {
    async fn templates(&self) -> Vec<Value> {
        let data = self
            .app
            .gql_ok(
                Some(&self.admin.token),
                TEMPLATES,
                json!({"o": self.admin.org_id, "c": self.channel}),
            )
            .await;
        data["org"]["channel"]["templates"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// The customer writes `ago` in the past; their ticket's id.
    async fn customer_writes(&self, ago: Duration) -> String {
        let params = Params {
            account_id: WA.into(),
            from: CUSTOMER.into(),
            name: "Ada".into(),
            text: "Where is my kettle?".into(),
            message_id: None,
            status: "delivered".into(),
            unique: uuid::Uuid::new_v4().simple().to_string(),
        };
        let body = build(Kind::WaText, &params, Utc::now() - ago).unwrap();
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

    async fn send_template(&self, ticket: &str, input: Value) -> Value {
        self.app
            .graphql(
                Some(&self.admin.token),
                SEND_TEMPLATE,
                json!({"o": self.admin.org_id, "t": ticket, "i": input}),
            )
            .await
    }

    async fn status_webhook(&self, event: &str, reason: &str) {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "time": 1_785_000_000,
            "changes": [{"field": "message_template_status_update", "value": {
                "event": event, "message_template_id": 900_000_000_000_001_u64,
                "message_template_name": "order_update", "message_template_language": "en_US",
                "reason": reason}}]}]});
        let bytes = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            self.app.post_webhook(&self.channel, &bytes, SECRET).await,
            StatusCode::OK
        );
        self.app.drain_inbound().await;
    }
}

fn shipped_parameters() -> Value {
    json!({"name": "order_update", "language": "en_US", "parameters": [
        {"mediaUrl": "https://cdn.example.test/kettle.jpg"}, {"text": "Ada"}, {"text": "#1042"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_sync_on_connect_across_every_page_with_their_variables() {
    let s = setup(vec![order_update("APPROVED"), welcome()], vec![follow_up()]).await;
    let templates = s.templates().await;
    let names: Vec<&str> = templates
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["follow_up", "order_update", "welcome_back"]);
    let order = &templates[1];
    assert_eq!(order["status"], "APPROVED");
    assert_eq!(order["category"], "UTILITY");
    assert_eq!(order["refusal"], Value::Null);
    assert_eq!(
        order["variables"],
        json!([
            {"place": "HEADER", "key": "IMAGE", "kind": "IMAGE", "example": "https://scontent.example.test/h.jpg"},
            {"place": "BODY", "key": "1", "kind": "TEXT", "example": "Ada"},
            {"place": "BODY", "key": "2", "kind": "TEXT", "example": "#1042"}
        ])
    );
    assert_eq!(templates[0]["status"], "REJECTED");
    assert_eq!(templates[0]["statusReason"], "INVALID_FORMAT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_templates_on_demand_replaces_what_meta_no_longer_lists() {
    let s = setup(vec![order_update("APPROVED"), welcome()], vec![]).await;
    assert_eq!(s.templates().await.len(), 2);
    s.graph.reset().await;
    Mock::given(method("GET"))
        .and(path(format!("/v25.0/{WABA}/message_templates")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [order_update("PAUSED")], "paging": {"cursors": {"before": "a", "after": "b"}}})))
        .expect(1)
        .mount(&s.graph)
        .await;
    let data = s
        .app
        .gql_ok(
            Some(&s.admin.token),
            "mutation($o: ID!, $c: ID!) { syncTemplates(orgId: $o, channelId: $c) { name status } }",
            json!({"o": s.admin.org_id, "c": s.channel}),
        )
        .await;
    assert_eq!(
        data["syncTemplates"],
        json!([{"name": "order_update", "status": "PAUSED"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_says_why_and_keeps_the_stored_templates() {
    let s = setup(vec![welcome()], vec![]).await;
    s.graph.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "(#200) Permissions error", "type": "OAuthException", "code": 200, "fbtrace_id": "A1"}})))
        .mount(&s.graph)
        .await;
    let response = s
        .app
        .graphql(
            Some(&s.admin.token),
            "mutation($o: ID!, $c: ID!) { syncTemplates(orgId: $o, channelId: $c) { name } }",
            json!({"o": s.admin.org_id, "c": s.channel}),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert_eq!(s.templates().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_webhook_pauses_a_template_and_sending_it_is_refused_with_the_reason() {
    let s = setup(vec![order_update("APPROVED")], vec![]).await;
    let ticket = s.customer_writes(Duration::minutes(5)).await;
    s.status_webhook("PAUSED", "Low quality: customers blocked the business")
        .await;
    let templates = s.templates().await;
    assert_eq!(templates[0]["status"], "PAUSED");
    let response = s.send_template(&ticket, shipped_parameters()).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("paused") && message.contains("Low quality"),
        "{message}"
    );
    for status in ["REJECTED", "DISABLED"] {
        s.status_webhook(status, "NONE").await;
        let response = s.send_template(&ticket, shipped_parameters()).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{status}");
    }
    // Approved again: it goes.
    s.status_webhook("APPROVED", "NONE").await;
    let response = s.send_template(&ticket, shipped_parameters()).await;
    assert_eq!(
        response["data"]["sendTemplate"]["status"], "QUEUED",
        "{response}"
    );
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_checked_for_count_type_and_header_media_before_queueing() {
    let s = setup(vec![order_update("APPROVED")], vec![]).await;
    let ticket = s.customer_writes(Duration::minutes(5)).await;
    let cases = [
        (
            json!([{"text": "Ada"}, {"text": "#1042"}]),
            "takes 3 parameter(s), 2 given",
        ),
        (
            json!([{"text": "a picture"}, {"text": "Ada"}, {"text": "#1042"}]),
            "image header",
        ),
        (
            json!([{"mediaUrl": "http://cdn.example.test/k.jpg"}, {"text": "Ada"}, {"text": "#1042"}]),
            "image header",
        ),
        (
            json!([{"mediaUrl": "https://cdn.example.test/k.jpg"}, {"mediaUrl": "https://cdn.example.test/k.jpg"}, {"text": "#1042"}]),
            "must be text",
        ),
    ];
    for (parameters, expected) in cases {
        let response = s
            .send_template(
                &ticket,
                json!({"name": "order_update", "language": "en_US", "parameters": parameters}),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
        let message = response["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message} lacks {expected}");
    }
    let unknown = s
        .send_template(
            &ticket,
            json!({"name": "order_update", "language": "de_DE", "parameters": []}),
        )
        .await;
    assert_eq!(error_code(&unknown), "BAD_USER_INPUT");
    assert_eq!(
        s.app
            .count("SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'")
            .await,
        0,
        "nothing was queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_24_hours_free_text_is_refused_but_a_template_reaches_whatsapp() {
    let s = setup(vec![order_update("APPROVED")], vec![]).await;
    let ticket = s.customer_writes(Duration::hours(30)).await;
    let text = s
        .app
        .graphql(
            Some(&s.admin.token),
            "mutation($o: ID!, $t: ID!) { sendMessage(orgId: $o, ticketId: $t, input: {text: \"Hello?\"}) { id } }",
            json!({"o": s.admin.org_id, "t": ticket}),
        )
        .await;
    assert_eq!(error_code(&text), "BAD_USER_INPUT");
    assert!(
        text["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("template")
    );
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{WA}/messages")))
        .and(header("authorization", format!("Bearer EAAG-token-of-{WA}").as_str()))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "type": "template", "template": {"name": "order_update", "language": {"code": "en_US"},
                "components": [
                    {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.test/kettle.jpg"}}]},
                    {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "#1042"}]}
                ]}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}],
            "messages": [{"id": "wamid.TEMPLATE01", "message_status": "accepted"}]})))
        .expect(1)
        .mount(&s.graph)
        .await;
    let response = s.send_template(&ticket, shipped_parameters()).await;
    let sent = &response["data"]["sendTemplate"];
    assert_eq!(sent["status"], "QUEUED", "{response}");
    assert_eq!(
        sent["text"],
        "[image]\nHi Ada, your order #1042 has shipped.\nKettle Shop"
    );
    s.app.drain_outbound().await;
    let status = s
        .app
        .rows("SELECT status || ':' || coalesce(external_id, '') AS row FROM messages WHERE direction = 'OUTBOUND'")
        .await;
    assert_eq!(status, ["SENT:wamid.TEMPLATE01"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_only_for_whatsapp_tickets_of_the_callers_org() {
    let s = setup(vec![welcome()], vec![]).await;
    let ticket = s.customer_writes(Duration::minutes(1)).await;
    let other = s.app.signup("Other Shop", "olu@example.com").await;
    let response = s
        .app
        .graphql(
            Some(&other.token),
            SEND_TEMPLATE,
            json!({"o": other.org_id, "t": ticket, "i": {"name": "welcome_back", "language": "en_US", "parameters": [{"text": "x"}]}}),
        )
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_sandbox_lists_templates_and_accepts_a_template_after_24_hours() {
    let sandbox = delightchat::sandbox::Sandbox::bind().await.unwrap();
    let url = sandbox.url().to_owned();
    // As `serve` does with the sandbox: it cannot prove whose a token is.
    let app = TestApp::with_config(|c| {
        c.graph_api_base_url = url;
        c.verify_channel_ownership = false;
    })
    .await;
    sandbox.start(app.state.clone(), "127.0.0.1:9".parse().unwrap());
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "WHATSAPP", WA, SECRET).await;
    // Connected without a WABA id first: adding it syncs the templates.
    app.gql_ok(
        Some(&admin.token),
        "mutation($o: ID!, $c: ID!) { updateChannel(orgId: $o, id: $c, input: {businessAccountId: \"218600000000401\"}) { id } }",
        json!({"o": admin.org_id, "c": channel}),
    )
    .await;
    let s = Setup {
        app,
        admin,
        graph: MockServer::start().await,
        channel,
    };
    let names: Vec<String> = s
        .templates()
        .await
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["follow_up", "hello_world"]);
    let ticket = s.customer_writes(Duration::hours(30)).await;
    let response = s
        .send_template(
            &ticket,
            json!({"name": "follow_up", "language": "en_US", "parameters": [{"text": "Ada"}, {"text": "#1042"}]}),
        )
        .await;
    assert_eq!(
        response["data"]["sendTemplate"]["text"],
        "Hi Ada, we are following up on your request #1042.\nReply STOP to opt out"
    );
    s.app.drain_outbound().await;
    let sent = s
        .app
        .count("SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND' AND status = 'SENT' AND external_id LIKE 'wamid.SANDBOX%'")
        .await;
    assert_eq!(sent, 1);
}

const REPLY_OPTIONS: &str = "query($o: ID!, $t: ID!) { org(id: $o) { ticket(id: $t) { replyOptions {
    mode reason templates { name language category status variables { place key kind example } } } } } }";

impl Setup {
    async fn reply_options(&self, ticket: &str) -> Value {
        let data = self
            .app
            .gql_ok(
                Some(&self.admin.token),
                REPLY_OPTIONS,
                json!({"o": self.admin.org_id, "t": ticket}),
            )
            .await;
        data["org"]["ticket"]["replyOptions"].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_24_hours_reply_options_list_the_approved_templates_and_one_reaches_whatsapp() {
    let mut paused = welcome();
    paused["status"] = json!("PAUSED");
    let s = setup(vec![order_update("APPROVED"), paused], vec![follow_up()]).await;
    let ticket = s.customer_writes(Duration::hours(25)).await;
    let options = s.reply_options(&ticket).await;
    assert_eq!(options["mode"], "TEMPLATES_ONLY", "{options:#}");
    assert_eq!(
        options["templates"],
        json!([{"name": "order_update", "language": "en_US", "category": "UTILITY", "status": "APPROVED",
            "variables": [
                {"place": "HEADER", "key": "IMAGE", "kind": "IMAGE", "example": "https://scontent.example.test/h.jpg"},
                {"place": "BODY", "key": "1", "kind": "TEXT", "example": "Ada"},
                {"place": "BODY", "key": "2", "kind": "TEXT", "example": "#1042"}]}]),
        "the paused and the rejected template are not offered"
    );
    let reason = options["reason"].as_str().unwrap();
    assert!(
        reason.contains("1 approved template(s)") && reason.contains("sendTemplate"),
        "{reason}"
    );
    let text = s
        .app
        .graphql(
            Some(&s.admin.token),
            "mutation($o: ID!, $t: ID!) { sendMessage(orgId: $o, ticketId: $t, input: {text: \"Hello?\"}) { id } }",
            json!({"o": s.admin.org_id, "t": ticket}),
        )
        .await;
    assert_eq!(error_code(&text), "BAD_USER_INPUT");
    assert_eq!(
        text["errors"][0]["message"], options["reason"],
        "same reason"
    );
    Mock::given(method("POST"))
        .and(path(format!("/v25.0/{WA}/messages")))
        .and(body_json(json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER,
            "type": "template", "template": {"name": "order_update", "language": {"code": "en_US"},
                "components": [
                    {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.test/kettle.jpg"}}]},
                    {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "#1042"}]}
                ]}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}],
            "messages": [{"id": "wamid.LISTED01", "message_status": "accepted"}]})))
        .expect(1)
        .mount(&s.graph)
        .await;
    let listed = &options["templates"][0];
    let response = s
        .send_template(
            &ticket,
            json!({"name": listed["name"], "language": listed["language"], "parameters": [
                {"mediaUrl": "https://cdn.example.test/kettle.jpg"}, {"text": "Ada"}, {"text": "#1042"}]}),
        )
        .await;
    assert_eq!(
        response["data"]["sendTemplate"]["status"], "QUEUED",
        "{response}"
    );
    s.app.drain_outbound().await;
    let sent = s
        .app
        .rows("SELECT status || ':' || coalesce(external_id, '') AS row FROM messages WHERE direction = 'OUTBOUND'")
        .await;
    assert_eq!(sent, ["SENT:wamid.LISTED01"]);

    // Paused too: nothing is offered, and the reason says so.
    s.status_webhook("PAUSED", "Low quality").await;
    let options = s.reply_options(&ticket).await;
    assert_eq!(options["mode"], "TEMPLATES_ONLY");
    assert_eq!(options["templates"], json!([]));
    let reason = options["reason"].as_str().unwrap();
    assert!(reason.contains("no approved template"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_the_window_reply_options_list_no_templates() {
    let s = setup(vec![order_update("APPROVED")], vec![]).await;
    let ig = s
        .app
        .create_channel(&s.admin, "INSTAGRAM", "17841400000000401", SECRET)
        .await;
    let params = Params {
        account_id: "17841400000000401".into(),
        from: "5500000000000401".into(),
        name: "Ada".into(),
        text: "Is the kettle back?".into(),
        message_id: None,
        status: "delivered".into(),
        unique: uuid::Uuid::new_v4().simple().to_string(),
    };
    let body = build(Kind::IgDm, &params, Utc::now() - Duration::hours(1)).unwrap();
    assert_eq!(s.app.post_webhook(&ig, &body, SECRET).await, StatusCode::OK);
    s.app.drain_inbound().await;
    let data = s
        .app
        .gql_ok(
            Some(&s.admin.token),
            "query($o: ID!, $c: ID!) { org(id: $o) { tickets(first: 1, channelId: $c) { edges { node { id } } } } }",
            json!({"o": s.admin.org_id, "c": ig}),
        )
        .await;
    let ticket = data["org"]["tickets"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let options = s.reply_options(&ticket).await;
    assert_eq!(options["mode"], "FREE_TEXT", "{options:#}");
    assert_eq!(options["templates"], json!([]));
    assert_eq!(options["reason"], Value::Null);
    // A WhatsApp customer inside the window: free text, no templates either.
    let ticket = s.customer_writes(Duration::hours(2)).await;
    let options = s.reply_options(&ticket).await;
    assert_eq!(options["mode"], "FREE_TEXT", "{options:#}");
    assert_eq!(options["templates"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_of_a_page_are_batched_and_not_loaded_unless_asked_for() {
    let s = setup(vec![order_update("APPROVED"), welcome()], vec![]).await;
    let page = |fields: &str| {
        format!(
            "query($o: ID!) {{ org(id: $o) {{ tickets(first: 50) {{ edges {{ node {{ id replyOptions {{ {fields} }} }} }} }} }} }}"
        )
    };
    let (bare, full) = (
        page("mode"),
        page("mode reason templates { name variables { key } }"),
    );
    let count = async |query: &str| {
        let before = s.app.state.query_count();
        let data = s
            .app
            .gql_ok(Some(&s.admin.token), query, json!({"o": s.admin.org_id}))
            .await;
        let edges = data["org"]["tickets"]["edges"].as_array().unwrap().clone();
        for edge in &edges {
            assert_eq!(edge["node"]["replyOptions"]["mode"], "TEMPLATES_ONLY");
        }
        (s.app.state.query_count() - before, edges)
    };
    let mut extra = Vec::new();
    for (from, to) in [(0, 3), (3, 12)] {
        for i in from..to {
            crate::support::seed::conversation(
                &s.app,
                &s.admin.org_id,
                &s.channel,
                &format!("C{i}"),
                &format!("4477009{i:05}"),
                1,
                Utc::now() - Duration::hours(30),
            )
            .await;
        }
        let (without, _) = count(&bare).await;
        let (with, edges) = count(&full).await;
        assert_eq!(edges.len(), to);
        for edge in &edges {
            assert_eq!(
                edge["node"]["replyOptions"]["templates"]
                    .as_array()
                    .unwrap()
                    .len(),
                2
            );
        }
        extra.push(with - without);
    }
    // The loader batches the keys that sibling fields ask for in one pass; the tickets'
    // channels and customers come through it too, so their templates are asked for
    // together: a second batch is possible, never one per ticket.
    assert!(extra[0] >= 1, "{extra:?}");
    assert!(
        (1..12).contains(&extra[1]),
        "templates are batched, not loaded per ticket: {extra:?}"
    );
}
