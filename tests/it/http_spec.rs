//! GraphQL over HTTP as clients and tools expect it: the SHOULD cases of the
//! graphql-http audit (media types, status codes, no `data` on request errors), field
//! order on HTTP and WebSocket, actionable auth errors, and automatic persisted queries.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::ws::WsClient;
use crate::support::{TestApp, error_code};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

async fn post(
    app: &TestApp,
    accept: Option<&str>,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let (status, headers, body) = app
        .request(request.body(Body::from(body.to_string())).unwrap())
        .await;
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_errors_are_400_without_data_when_the_client_accepts_graphql_response_json() {
    let app = TestApp::new().await;
    let request_errors = [
        ("parse", json!({"query": "{"})),
        (
            "validation",
            json!({"query": "{ 8f31403dfe404bccbb0e835f2629c6a7 }"}),
        ),
        (
            "variable coercion",
            json!({"query": "query CoerceFailure($id: ID!){ __typename }", "variables": {"id": null}}),
        ),
    ];
    for (what, body) in &request_errors {
        let (status, headers, text) = post(&app, Some(GRAPHQL_RESPONSE), None, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {text}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(GRAPHQL_RESPONSE)
        );
        let response = json_of(&text);
        assert!(response.get("data").is_none(), "{what}: {text}");
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{what}");
        // Legacy clients get 200, still without `data`.
        let (status, headers, text) =
            post(&app, Some("application/json"), None, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{what}: {text}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        assert!(json_of(&text).get("data").is_none(), "{what}: {text}");
    }
    // JSON that does not parse is a 400 for both.
    for accept in [GRAPHQL_RESPONSE, "application/json"] {
        let request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, accept)
            .body(Body::from("{ \"not a JSON"))
            .unwrap();
        assert_eq!(app.request(request).await.0, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_types_are_negotiated_by_accept() {
    let app = TestApp::new().await;
    let query = json!({"query": "{ __typename }"});
    for (accept, expected) in [
        (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
        (Some("application/json"), "application/json"),
        (Some("*/*"), "application/json"),
        (None, "application/json"),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            GRAPHQL_RESPONSE,
        ),
    ] {
        let (status, headers, text) = post(&app, accept, None, query.clone()).await;
        assert_eq!(status, StatusCode::OK, "{accept:?}");
        let content_type = headers[header::CONTENT_TYPE].to_str().unwrap();
        assert!(
            content_type.starts_with(expected),
            "{accept:?}: {content_type}"
        );
        assert!(content_type.contains("charset=utf-8"));
        assert_eq!(json_of(&text)["data"]["__typename"], "Query");
    }
    let (status, _, _) = post(&app, Some("text/html"), None, query).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    // Parameters of the wrong JSON type are a 400.
    let (status, _, _) = post(&app, None, None, json!({"qeury": "{ __typename }"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = post(
        &app,
        None,
        None,
        json!({"query": "{ __typename }", "variables": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_errors_stay_200_and_ask_for_a_token_when_none_was_sent() {
    let app = TestApp::new().await;
    let (status, headers, text) = post(
        &app,
        Some(GRAPHQL_RESPONSE),
        None,
        json!({"query": "{ me { id } }"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let response = json_of(&text);
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    assert!(response.get("data").is_some(), "execution ran: {text}");
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        "Bearer realm=\"delightchat\""
    );
    // A wrong password is not a missing token: no challenge.
    let login = json!({"query": "mutation { login(email: \"a@example.com\", password: \"wrong one\") { accessToken } }"});
    let (_, headers, text) = post(&app, None, None, login).await;
    assert_eq!(error_code(&json_of(&text)), "UNAUTHENTICATED");
    assert!(!headers.contains_key(header::WWW_AUTHENTICATE));
}

/// An access token signed with the app's key that expired an hour ago.
fn expired_token(app: &TestApp, user_id: &str) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("v1".into());
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": user_id, "iss": "delightchat", "aud": "delightchat-api", "iat": now - 7200, "exp": now - 3600});
    let key = jsonwebtoken::EncodingKey::from_secret(&app.state.config().jwt_secret);
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_token_expired_and_a_bad_one_unauthenticated() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let expired = expired_token(&app, &admin.user_id);
    let query = json!({"query": "{ me { id } }"});
    let (status, headers, text) = post(&app, None, Some(&expired), query.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&json_of(&text)), "TOKEN_EXPIRED");
    let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    assert!(challenge.contains("expired"), "{challenge}");
    // Garbage, and an expired token signed with another key, are not "expired".
    let mut forged_app_config = app.state.config().clone();
    forged_app_config.jwt_secret = b"another key of at least thirty-two bytes".to_vec();
    let other = TestApp::with_config(|c| *c = forged_app_config).await;
    for token in [
        "not-a-token".to_owned(),
        expired_token(&other, &admin.user_id),
    ] {
        let (status, headers, text) = post(&app, None, Some(&token), query.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(&json_of(&text)), "UNAUTHENTICATED", "{token}");
        let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.contains("error=\"invalid_token\"") && !challenge.contains("expired"));
    }
    // Over WebSocket: 4498 for expired, 4403 for invalid.
    let addr = app.serve().await;
    let mut c = WsClient::connect(addr, "graphql-transport-ws").await;
    c.send(json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {expired}")}}))
        .await;
    assert_eq!(c.close_code().await, 4498);
    let mut c = WsClient::connect(addr, "graphql-transport-ws").await;
    c.send(json!({"type": "connection_init", "payload": {"authorization": "Bearer nope"}}))
        .await;
    assert_eq!(c.close_code().await, 4403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_login_says_when_to_try_again() {
    let app = TestApp::new().await;
    app.signup("Acme", "ana@example.com").await;
    let login = json!({"query": "mutation { login(email: \"ana@example.com\", password: \"wrong password\") { accessToken } }"});
    let mut last = Value::Null;
    for _ in 0..7 {
        last = json_of(&post(&app, None, None, login.clone()).await.2);
    }
    assert_eq!(error_code(&last), "RATE_LIMITED", "{last}");
    let retry_after = last["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{last}");
}

/// Keys of every JSON object in `text`, in the order written.
fn keys_in_order(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("\":") {
        let start = rest[..at].rfind('"').unwrap();
        keys.push(rest[start + 1..at].to_owned());
        rest = &rest[at + 2..];
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_keep_the_document_order_over_http_and_websocket() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    // Reverse-alphabetical, with fields that wait on the database before ones that don't.
    let query = "query($o: ID!) { org(id: $o) { tickets(first: 5) { edges { cursor } pageInfo { hasNextPage endCursor } } \
        viewerRole name id } me { name id email memberships { role org { name } } } }";
    let expected = [
        "data",
        "org",
        "tickets",
        "edges",
        "pageInfo",
        "hasNextPage",
        "endCursor",
        "viewerRole",
        "name",
        "id",
        "me",
        "name",
        "id",
        "email",
        "memberships",
        "role",
        "org",
        "name",
    ];
    for _ in 0..5 {
        let (_, _, text) = post(
            &app,
            None,
            Some(&admin.token),
            json!({"query": query, "variables": {"o": admin.org_id}}),
        )
        .await;
        assert_eq!(keys_in_order(&text), expected, "{text}");
    }
    let addr = app.serve().await;
    let mut c = WsClient::authenticated(addr, &admin.token).await;
    c.subscribe("1", query, json!({"o": admin.org_id})).await;
    let text = c.text().await;
    let payload = &text[text.find("\"payload\":").unwrap() + 10..];
    assert_eq!(keys_in_order(payload), expected, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_persisted_queries_work_over_post_and_get() {
    let app = TestApp::new().await;
    let query = "query Persisted { __typename }";
    let hash = hex::encode(Sha256::digest(query.as_bytes()));
    let extensions = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
    // Unknown hash: the client is asked for the text.
    let (status, _, text) = post(&app, None, None, json!({"extensions": extensions})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        error_code(&json_of(&text)),
        "PERSISTED_QUERY_NOT_FOUND",
        "{text}"
    );
    assert_eq!(
        json_of(&text)["errors"][0]["message"],
        "PersistedQueryNotFound"
    );
    // A text that does not match its hash is refused and not remembered.
    let (_, _, text) = post(
        &app,
        None,
        None,
        json!({"query": "{ __schema { description } }", "extensions": extensions}),
    )
    .await;
    assert_eq!(error_code(&json_of(&text)), "BAD_USER_INPUT");
    // Text and hash: runs and is remembered...
    let (_, _, text) = post(
        &app,
        None,
        None,
        json!({"query": query, "extensions": extensions}),
    )
    .await;
    assert_eq!(json_of(&text)["data"]["__typename"], "Query");
    // ...so the hash alone works, over POST and GET.
    let (_, _, text) = post(&app, None, None, json!({"extensions": extensions})).await;
    assert_eq!(json_of(&text)["data"]["__typename"], "Query", "{text}");
    let uri = format!("/graphql?extensions={}", urlencode(&extensions.to_string()));
    let (status, _, body) = app
        .request(Request::get(uri).body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["data"]["__typename"],
        "Query"
    );
    // A persisted mutation still cannot run over GET.
    let mutation =
        "mutation { login(email: \"a@example.com\", password: \"long enough\") { accessToken } }";
    let mutation_hash = hex::encode(Sha256::digest(mutation.as_bytes()));
    let mutation_extensions =
        json!({"persistedQuery": {"version": 1, "sha256Hash": mutation_hash}});
    post(
        &app,
        None,
        None,
        json!({"query": mutation, "extensions": mutation_extensions}),
    )
    .await;
    let uri = format!(
        "/graphql?extensions={}",
        urlencode(&mutation_extensions.to_string())
    );
    let (status, _, _) = app
        .request(Request::get(uri).body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
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
async fn graphiql_is_served_from_our_origin_under_a_strict_csp_and_never_in_production() {
    let app = TestApp::new().await;
    let (status, headers, page) = app
        .request(Request::get("/graphql").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self';"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe") && !csp.contains("http"), "{csp}");
    let page = String::from_utf8(page.to_vec()).unwrap();
    assert!(!page.contains("https://") && !page.contains("unpkg") && !page.contains("jsdelivr"));
    let urls = delightchat::graphql::graphiql::asset_urls();
    assert_eq!(urls.len(), 7);
    for url in urls {
        assert!(page.contains(url.as_str()), "{url}");
        let (status, headers, body) = app
            .request(Request::get(url.as_str()).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert!(!body.is_empty());
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
    }
    // A stale hash is not served (so an immutable cache can never hold a wrong file).
    let stale = urls[0].replacen("/graphiql/", "/graphiql/0000000000000000", 1);
    let (status, _, _) = app
        .request(Request::get(stale).body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let production = TestApp::with_config(|c| c.graphql_introspection = false).await;
    for url in urls.iter().map(String::as_str).chain(["/graphql"]) {
        let (status, _, _) = production
            .request(Request::get(url).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{url}");
    }
}
