//! Abuse limits of `/graphql`: depth, complexity, directives, batches, methods, media
//! types, body size, and production hardening.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use crate::support::{TestApp, error_code};

async fn post_raw(app: &TestApp, content_type: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap();
    let (status, _, body) = app.request(request).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_queries_are_refused_before_any_database_work() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let mut selection = "id".to_owned();
    for _ in 0..15 {
        selection = format!("customer {{ tickets {{ edges {{ node {{ {selection} }} }} }} }}");
    }
    let query = format!(
        "query($o: ID!) {{ org(id: $o) {{ ticket(id: \"00000000-0000-0000-0000-000000000000\") {{ {selection} }} }} }}"
    );
    let before = app.state.query_count();
    let r = app
        .graphql(Some(&admin.token), &query, json!({"o": admin.org_id}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    assert_eq!(
        app.state.query_count(),
        before,
        "a refused query must not touch the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_introspection_query_of_graphql_js_passes() {
    let app = TestApp::new().await;
    let query = include_str!("../fixtures/graphql/introspection.graphql");
    let r = app.graphql(None, query, json!({})).await;
    assert!(r.get("errors").is_none(), "{r:#}");
    let types = r["data"]["__schema"]["types"].as_array().unwrap();
    let ticket = types.iter().find(|t| t["name"] == "Ticket").unwrap();
    assert_eq!(ticket["kind"], "OBJECT");
    assert!(!ticket["fields"].as_array().unwrap().is_empty());
    assert!(r["data"]["__schema"]["directives"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_nesting_that_multiplies_work_is_still_refused() {
    let app = TestApp::new().await;
    let mut selection = "name".to_owned();
    for _ in 0..7 {
        selection = format!("fields {{ type {{ {selection} }} }}");
    }
    let r = app
        .graphql(
            None,
            &format!("{{ __schema {{ types {{ {selection} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    assert!(r.get("data").is_none_or(Value::is_null), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_connections_and_alias_floods_are_too_complex() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let nested = "query($o: ID!) { org(id: $o) { tickets(first: 100) { edges { node { customer { tickets(first: 100) { edges { node { messages(first: 100) { edges { node { id } } } } } } } } } } } }";
    let r = app
        .graphql(Some(&admin.token), nested, json!({"o": admin.org_id}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{r}"
    );
    let aliases: String = (0..1000).map(|i| format!("a{i}: __typename ")).collect();
    let r = app
        .graphql(Some(&admin.token), &format!("{{ {aliases} }}"), json!({}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    let directives = "{ __typename @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) @skip(if: false) }";
    let r = app.graphql(Some(&admin.token), directives, json!({})).await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    let huge_page =
        "query($o: ID!) { org(id: $o) { tickets(first: 100000) { edges { node { id } } } } }";
    let r = app
        .graphql(Some(&admin.token), huge_page, json!({"o": admin.org_id}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_queries_pass_with_headroom() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let inbox = "query($o: ID!) { org(id: $o) { tickets(first: 100) { edges { cursor node { id kind status priority lastMessageAt lastMessagePreview unreadCount createdAt
        customer { id name avatarUrl identities { platform externalId username channel { id name } } }
        channel { id name platform status } assignee { id name email } lastMessage { id text kind direction status createdAt } } } pageInfo { hasNextPage endCursor } } } }";
    app.gql_ok(Some(&admin.token), inbox, json!({"o": admin.org_id}))
        .await;
    let conversation = "query($o: ID!, $t: ID!) { org(id: $o) { ticket(id: $t) { id status customer { name } messages(last: 100) { edges { cursor node {
        id direction kind text status errorCode errorMessage externalId isDeleted isPrivateNote createdAt
        replyTo { id text author { type } } attachments { type url mimeType title } reactions { emoji reaction reactorType }
        author { type user { id name } customer { id name } } } } pageInfo { hasPreviousPage startCursor } } } } }";
    app.gql_ok(
        Some(&admin.token),
        conversation,
        json!({"o": admin.org_id, "t": "00000000-0000-0000-0000-000000000000"}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_wrong_methods_media_types_and_big_bodies_are_refused() {
    let app = TestApp::new().await;
    let (status, body) = post_raw(
        &app,
        "application/json",
        json!([{"query": "{ __typename }"}, {"query": "{ __typename }"}]).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let signup = r#"mutation { signup(input: {orgName: "X", name: "X", email: "x@example.com", password: "long enough"}) { accessToken } }"#;
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let (status, _) = post_raw(&app, content_type, json!({"query": signup}).to_string()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
    }
    // Multipart (what a cross-site form can send) is for signed-in uploads only.
    let (status, body) = post_raw(
        &app,
        "multipart/form-data; boundary=x",
        json!({"query": signup}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let uri = format!("/graphql?query={}", urlencode(signup));
    let (status, headers, _) = app
        .request(Request::get(uri).body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "POST");
    // None of the refused signups ran.
    let r = app.graphql(None, "mutation { login(email: \"x@example.com\", password: \"long enough\") { accessToken } }", json!({})).await;
    assert_eq!(error_code(&r), "UNAUTHENTICATED");
    let big = format!(
        "{{\"query\": \"{{ __typename }}\", \"variables\": {{\"pad\": \"{}\"}}}}",
        "x".repeat(300 * 1024)
    );
    let (status, _) = post_raw(&app, "application/json", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A GET query works.
    let (status, _, body) = app
        .request(
            Request::get("/graphql?query=%7B__typename%7D")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["data"]["__typename"],
        "Query"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_config_hides_introspection_suggestions_and_graphiql() {
    let app = TestApp::with_config(|c| c.graphql_introspection = false).await;
    let r = app
        .graphql(None, "{ __schema { types { name } } }", json!({}))
        .await;
    assert_eq!(
        r["data"]["__schema"],
        Value::Null,
        "introspection must reveal nothing: {r}"
    );
    let r = app.graphql(None, "{ __typename }", json!({})).await;
    assert_eq!(r["data"]["__typename"], "Query");
    let r = app.graphql(None, "{ mee { id } }", json!({})).await;
    assert!(!r.to_string().contains("Did you mean"), "{r}");
    let (status, _, _) = app
        .request(Request::get("/graphql").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let dev = TestApp::new().await;
    let (status, _, body) = dev
        .request(Request::get("/graphql").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("graphiql"));
    let r = dev
        .graphql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(r["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let app = TestApp::new().await;
    let (status, headers, _) = app
        .request(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("x-request-id"));
    let (status, _, _) = app
        .request(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let admin = app.signup("Acme", "ana@example.com").await;
    app.create_channel(
        &admin,
        "INSTAGRAM",
        "17841400000000999",
        "metrics-canary-secret",
    )
    .await;
    let (status, _, body) = app
        .request(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body.to_vec()).unwrap();
    for metric in [
        "delightchat_webhooks_received_total",
        "delightchat_webhook_queue_depth 0",
        "delightchat_outbound_queue_depth 0",
        "delightchat_subscriptions_open",
        "delightchat_http_request_duration_seconds_count{route=\"graphql\"}",
    ] {
        assert!(text.contains(metric), "missing {metric} in {text}");
    }
    assert!(!text.contains("metrics-canary-secret") && !text.contains("EAAG-token"));
    app.state.begin_shutdown();
    let (status, _, _) = app
        .request(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "not ready while shutting down"
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_list_literal_is_refused_without_crashing() {
    let app = TestApp::new().await;
    let deep_list = format!(
        "{{ __typename(x: {}1{}) }}",
        "[".repeat(1_750),
        "]".repeat(1_750)
    );
    let deep_object = format!(
        "{{ __typename(x: {}1{}) }}",
        "{a: ".repeat(1_750),
        "}".repeat(1_750)
    );
    for query in [&deep_list, &deep_object] {
        // Built as text: a 1,750-deep JSON value would itself recurse in the test.
        let body = format!("{{\"query\": {}}}", serde_json::to_string(query).unwrap());
        let (status, response) = post_raw(&app, "application/json", body).await;
        assert_eq!(status, StatusCode::OK, "{response}");
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
        assert!(
            response["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("nested more than 64")
        );
        let (status, _, body) = app
            .request(
                Request::get(format!("/graphql?query={}", urlencode(query)))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let response: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, StatusCode::OK, "{response}");
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    }
    let deep_variables = format!(
        "{{\"query\": \"query($v: [Int]) {{ __typename }}\", \"variables\": {{\"v\": {}1{}}}}}",
        "[".repeat(1_750),
        "]".repeat(1_750)
    );
    let (status, response) = post_raw(&app, "application/json", deep_variables).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{response}");
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    // The server is still there and answers normally.
    let (status, response) =
        post_raw(&app, "application/json", r#"{"query": "{ __typename }"}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(response["data"]["__typename"], "Query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_subscription_is_refused_without_crashing() {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let addr = app.serve().await;
    let mut socket = crate::support::ws::WsClient::authenticated(addr, &admin.token).await;
    let deep = format!(
        "subscription {{ inboxEvents(orgId: {}\"x\"{}) {{ seq }} }}",
        "[".repeat(1_750),
        "]".repeat(1_750)
    );
    socket
        .send(json!({"id": "1", "type": "subscribe", "payload": {"query": deep}}))
        .await;
    let refused = socket.json().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    // A frame that is itself too deep closes the socket with the protocol's code.
    socket
        .send_text(&format!("{}1{}", "[".repeat(1_750), "]".repeat(1_750)))
        .await;
    assert_eq!(socket.close_code().await, 4400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_string_argument_is_refused_in_our_words_not_the_databases() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let search = "query($o: ID!, $s: String) { org(id: $o) { customers(search: $s) { edges { node { id } } } } }";
    let literal = format!(
        "{{ org(id: \"{}\") {{ customers(search: \"a\\u0000b\") {{ edges {{ node {{ id }} }} }} }} }}",
        admin.org_id
    );
    let before = app.state.query_count();
    for r in [
        app.graphql(
            Some(&admin.token),
            search,
            json!({"o": admin.org_id, "s": "a\u{0}b"}),
        )
        .await,
        app.graphql(Some(&admin.token), &literal, json!({})).await,
    ] {
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
        let message = r["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("NUL"), "{message}");
        assert!(!message.contains("UTF8"), "no database text: {message}");
    }
    assert_eq!(
        app.state.query_count(),
        before,
        "refused before the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_failure_shows_no_database_text_by_any_path() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    // Any statement reading customers now fails inside PostgreSQL.
    app.execute("ALTER TABLE customers RENAME COLUMN name TO name_gone")
        .await;
    let r = app
        .graphql(
            Some(&admin.token),
            "query($o: ID!) { org(id: $o) { customers { edges { node { id } } } } }",
            json!({"o": admin.org_id}),
        )
        .await;
    assert_eq!(error_code(&r), "INTERNAL", "{r}");
    assert_eq!(r["errors"][0]["message"], "internal error", "{r}");
    assert!(r["errors"][0]["extensions"]["requestId"].is_string(), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_aliases_of_one_org_cost_one_membership_query() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let aliases: String = (0..200)
        .map(|i| format!("o{i}: org(id: $o) {{ viewerRole }} "))
        .collect();
    let query = format!("query($o: ID!) {{ {aliases} }}");
    let before = app.state.query_count();
    let r = app
        .gql_ok(Some(&admin.token), &query, json!({"o": admin.org_id}))
        .await;
    assert_eq!(r["o199"]["viewerRole"], "ADMIN", "{r}");
    let queries = app.state.query_count() - before;
    assert!(queries <= 2, "200 aliases ran {queries} queries");
}
