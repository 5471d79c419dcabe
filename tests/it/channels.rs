//! Channels: admin-only writes, secrets encrypted at rest and never returned, and the
//! webhook verification handshake.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::support::{TestApp, error_code};

const CHANNEL_FIELDS: &str = "id platform name externalAccountId status webhookPath hasAccessToken accessTokenHint createdAt";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_connects_lists_updates_and_deletes_a_channel() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let id = app
        .create_channel(
            &admin,
            "INSTAGRAM",
            "17841400000000001",
            "app-secret-canary-1",
        )
        .await;
    let q = format!("query($o: ID!) {{ org(id: $o) {{ channels {{ {CHANNEL_FIELDS} }} }} }}");
    let data = app
        .gql_ok(Some(&admin.token), &q, json!({"o": admin.org_id}))
        .await;
    let channel = &data["org"]["channels"][0];
    assert_eq!(channel["id"], id.as_str());
    assert_eq!(channel["platform"], "INSTAGRAM");
    assert_eq!(channel["status"], "ACTIVE");
    assert_eq!(channel["hasAccessToken"], true);
    assert_eq!(channel["webhookPath"], format!("/webhook/{id}"));
    assert_eq!(channel["accessTokenHint"], "••••0001");

    let updated = app
        .gql_ok(
            Some(&admin.token),
            "mutation($o: ID!, $id: ID!) { updateChannel(orgId: $o, id: $id, input: {name: \"Shop IG\", enabled: false}) { name status } }",
            json!({"o": admin.org_id, "id": id}),
        )
        .await;
    assert_eq!(
        updated["updateChannel"],
        json!({"name": "Shop IG", "status": "DISABLED"})
    );

    let deleted = app
        .gql_ok(
            Some(&admin.token),
            "mutation($o: ID!, $id: ID!) { deleteChannel(orgId: $o, id: $id) }",
            json!({"o": admin.org_id, "id": id}),
        )
        .await;
    assert_eq!(deleted["deleteChannel"], true);
    let data = app
        .gql_ok(Some(&admin.token), &q, json!({"o": admin.org_id}))
        .await;
    assert_eq!(data["org"]["channels"], json!([]));
    // The account can be connected again once the old channel is gone.
    app.create_channel(
        &admin,
        "INSTAGRAM",
        "17841400000000001",
        "app-secret-canary-1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_meta_account_cannot_back_two_live_channels() {
    let app = TestApp::new().await;
    let acme = app.signup("Acme", "ana@example.com").await;
    let globex = app.signup("Globex", "bo@example.com").await;
    app.create_channel(&acme, "WHATSAPP", "330915846700001", "s1")
        .await;
    let r = app
        .graphql(
            Some(&globex.token),
            "mutation($o: ID!, $i: CreateChannelInput!) { createChannel(orgId: $o, input: $i) { id } }",
            json!({"o": globex.org_id, "i": {"platform": "WHATSAPP", "name": "wa", "externalAccountId": "330915846700001",
                "accessToken": "t", "appSecret": "s", "verifyToken": "v"}}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_encrypted_at_rest_and_never_returned() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    app.create_channel(
        &admin,
        "MESSENGER",
        "108462217700001",
        "app-secret-canary-2",
    )
    .await;
    // Everything an admin can read about channels, including introspected fields.
    let q = "query($o: ID!) { org(id: $o) { channels { id name externalAccountId accessTokenHint verifyToken statusReason } } }";
    let response = app
        .graphql(Some(&admin.token), q, json!({"o": admin.org_id}))
        .await
        .to_string();
    assert!(!response.contains("app-secret-canary-2"));
    assert!(!response.contains("EAAG-token-of-108462217700001"));
    let sdl = delightchat::graphql::sdl();
    let channel_type = sdl
        .split("type Channel implements Node {")
        .nth(1)
        .unwrap()
        .split('}')
        .next()
        .unwrap();
    for field in ["accessToken:", "appSecret", "Enc"] {
        assert!(!channel_type.contains(field), "Channel exposes {field}");
    }

    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Bytea)]
        access_token_enc: Vec<u8>,
        #[diesel(sql_type = diesel::sql_types::Bytea)]
        app_secret_enc: Vec<u8>,
        #[diesel(sql_type = diesel::sql_types::Bytea)]
        verify_token_enc: Vec<u8>,
    }
    let mut conn = app.db.connect().await;
    let row: Row = diesel::sql_query(
        "SELECT access_token_enc, app_secret_enc, verify_token_enc FROM channels",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    for (bytes, plain) in [
        (&row.access_token_enc, "EAAG-token-of-108462217700001"),
        (&row.app_secret_enc, "app-secret-canary-2"),
        (&row.verify_token_enc, "verify-108462217700001"),
    ] {
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "plaintext {plain} in the database"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_cannot_manage_channels_members_or_read_verify_tokens() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let agent = app.add_member(&admin, "carl@example.com", "AGENT").await;
    let channel = app
        .create_channel(&admin, "INSTAGRAM", "17841400000000002", "s")
        .await;
    let attempts = [
        (
            "mutation($o: ID!) { createChannel(orgId: $o, input: {platform: INSTAGRAM, name: \"x\", externalAccountId: \"1\", accessToken: \"t\", appSecret: \"s\", verifyToken: \"v\"}) { id } }",
            json!({"o": admin.org_id}),
        ),
        (
            "mutation($o: ID!, $c: ID!) { updateChannel(orgId: $o, id: $c, input: {name: \"x\"}) { id } }",
            json!({"o": admin.org_id, "c": channel}),
        ),
        (
            "mutation($o: ID!, $c: ID!) { deleteChannel(orgId: $o, id: $c) }",
            json!({"o": admin.org_id, "c": channel}),
        ),
        (
            "mutation($o: ID!) { inviteMember(orgId: $o, input: {email: \"x@example.com\", role: ADMIN}) { token } }",
            json!({"o": admin.org_id}),
        ),
        (
            "query($o: ID!) { org(id: $o) { channels { verifyToken } } }",
            json!({"o": admin.org_id}),
        ),
    ];
    for (query, variables) in attempts {
        let r = app.graphql(Some(&agent.token), query, variables).await;
        assert_eq!(error_code(&r), "FORBIDDEN", "{query}: {r}");
    }
    let q = "query($o: ID!) { org(id: $o) { channels { name } members { role } } }";
    let data = app
        .gql_ok(Some(&agent.token), q, json!({"o": admin.org_id}))
        .await;
    assert_eq!(
        data["org"]["channels"][0]["name"], "INSTAGRAM 17841400000000002",
        "agents may still read channels"
    );
    assert_eq!(data["org"]["members"].as_array().unwrap().len(), 2);
    let admin_view = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!) { org(id: $o) { channels { verifyToken } } }",
            json!({"o": admin.org_id}),
        )
        .await;
    assert_eq!(
        admin_view["org"]["channels"][0]["verifyToken"],
        "verify-17841400000000002"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_verification_echoes_the_challenge_only_for_the_right_token() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let id = app
        .create_channel(&admin, "INSTAGRAM", "17841400000000003", "s")
        .await;
    let get = |uri: String| Request::get(uri).body(Body::empty()).unwrap();
    let (status, headers, body) = app
        .request(get(format!("/webhook/{id}?hub.mode=subscribe&hub.verify_token=verify-17841400000000003&hub.challenge=1158201444")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain");
    assert_eq!(&body[..], b"1158201444");
    let (status, _, _) = app
        .request(get(format!(
            "/webhook/{id}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"
        )))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = app
        .request(get(format!(
            "/webhook/{}?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1",
            uuid::Uuid::new_v4()
        )))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = app
        .request(get("/webhook/not-a-uuid?hub.mode=subscribe".into()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The app-level route is off until META_VERIFY_TOKEN is set.
    let (status, _, _) = app
        .request(get(
            "/webhook?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1".into(),
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

const CONNECT: &str = "mutation($o: ID!, $i: CreateChannelInput!) { createChannel(orgId: $o, input: $i) { id accessTokenHint } }";

fn connect_input(platform: &str, account: &str, token: &str) -> Value {
    json!({"platform": platform, "name": "Theirs", "externalAccountId": account,
        "accessToken": token, "appSecret": "s", "verifyToken": "v"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_cannot_squat_an_account_its_token_does_not_own() {
    let app = TestApp::new().await;
    let squatter = app.signup("Squat", "eve@example.com").await;
    let owner = app.signup("Kettle Shop", "ana@example.com").await;
    for (platform, account) in [
        ("INSTAGRAM", "17841400000000101"),
        ("MESSENGER", "104400000000001"),
        ("WHATSAPP", "310000000000001"),
    ] {
        // The squatter's own (valid) token, and a made-up one.
        for token in ["EAAG-token-of-55555", "made-up-token"] {
            let r = app
                .graphql(
                    Some(&squatter.token),
                    CONNECT,
                    json!({"o": squatter.org_id, "i": connect_input(platform, account, token)}),
                )
                .await;
            assert_eq!(error_code(&r), "BAD_USER_INPUT", "{platform} {token}: {r}");
            let message = r["errors"][0]["message"].as_str().unwrap();
            assert!(
                message.contains("does not belong") || message.contains("Meta refused"),
                "{message}"
            );
        }
        // The owner connects it, and is not told about anyone else.
        app.create_channel(&owner, platform, account, "owner-secret")
            .await;
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM channels").await, 3);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM channels c JOIN orgs o ON o.id = c.org_id WHERE o.name = 'Squat'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_to_another_accounts_token_is_refused_and_keeps_the_old_one() {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let account = "17841400000000101";
    let channel = app.create_channel(&admin, "INSTAGRAM", account, "s").await;
    let update = "mutation($o: ID!, $c: ID!, $t: String!) { updateChannel(orgId: $o, id: $c, input: {accessToken: $t}) { accessTokenHint } }";
    let stored = "SELECT encode(access_token_enc, 'hex') AS row FROM channels";
    let before = app.rows(stored).await;
    let r = app
        .graphql(
            Some(&admin.token),
            update,
            json!({"o": admin.org_id, "c": channel, "t": "EAAG-token-of-999999999"}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
    assert_eq!(app.rows(stored).await, before, "the old token must stay");
    app.gql_ok(
        Some(&admin.token),
        update,
        json!({"o": admin.org_id, "c": channel, "t": format!("EAAG-token-of-{account}")}),
    )
    .await;
    assert_ne!(
        app.rows(stored).await,
        before,
        "the account's own new token is taken"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_is_not_connected_while_meta_cannot_verify_its_token() {
    let app = TestApp::with_config(|c| c.graph_api_base_url = "http://127.0.0.1:1".into()).await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let r = app
        .graphql(
            Some(&admin.token),
            CONNECT,
            json!({"o": admin.org_id, "i": connect_input("MESSENGER", "104400000000001", "EAAG-token-of-104400000000001")}),
        )
        .await;
    assert_eq!(error_code(&r), "RATE_LIMITED", "{r}");
    assert!(
        r["errors"][0]["extensions"]["retryAfter"].is_number(),
        "{r}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM channels").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_stored_before_its_channel_is_deleted_is_processed_and_skipped() {
    const ACCOUNT: &str = "17841400000000003";
    const SECRET: &str = "app-secret-canary-3";
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let channel = app
        .create_channel(&admin, "INSTAGRAM", ACCOUNT, SECRET)
        .await;
    let body =
        crate::support::meta::message(false, ACCOUNT, "551", "mid-1", "hi", 1_784_900_000_000);
    let body = serde_json::to_vec(&body).unwrap();
    assert_eq!(
        app.post_webhook(&channel, &body, SECRET).await,
        StatusCode::OK
    );
    app.gql_ok(
        Some(&admin.token),
        "mutation($o: ID!, $c: ID!) { deleteChannel(orgId: $o, id: $c) }",
        json!({"o": admin.org_id, "c": channel}),
    )
    .await;
    app.drain_inbound().await;
    // Processed once, not retried or parked; its entry named no live channel, so nothing
    // was stored; and the delivery still names the channel that received it.
    let processed = app
        .count(
            "SELECT count(*) AS n FROM webhook_events e JOIN channels c ON c.id = e.channel_id \
             WHERE e.state = 'PROCESSED' AND e.attempts = 1 AND c.deleted_at IS NOT NULL",
        )
        .await;
    assert_eq!(processed, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM messages").await, 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM customers").await, 0);
}
