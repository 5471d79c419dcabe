//! The local loop without Meta: the sandbox (`GRAPH_API_BASE_URL=sandbox`) takes a
//! reply all the way to READ through the real binary, a development server that cannot
//! reach Meta says so at once, `simulate` targets the latest reply and refuses a
//! delivery of another platform than the channel's, and simulated images are copied
//! from the sandbox and open through their signed URLs.

use std::time::{Duration, Instant};

use chrono::Utc;
use delightchat::simulate::{Kind, Params, build};
use serde_json::{Value, json};

use crate::support::process::Process;
use crate::support::{Session, TestApp};

const SECRET: &str = "sandbox-app-secret";
const CUSTOMER: &str = "5500000000000011";

const SEND: &str = "mutation($o: ID!, $t: ID!, $i: SendMessageInput!) { sendMessage(orgId: $o, ticketId: $t, input: $i) { id status } }";
const MESSAGES: &str = "query($o: ID!) { org(id: $o) { tickets(first: 1) { edges { node { id
    messages(last: 10) { edges { node { id direction status errorMessage } } } } } } } }";

async fn gql(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    let response: Value = client
        .post(format!("{url}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(response.get("errors").is_none(), "{response:#}");
    response["data"].clone()
}

/// Statuses of the org's outbound messages, and the first ticket's id.
async fn outbound(
    client: &reqwest::Client,
    url: &str,
    admin: &Session,
) -> (Option<String>, Vec<String>) {
    let data = gql(
        client,
        url,
        &admin.token,
        MESSAGES,
        json!({"o": admin.org_id}),
    )
    .await;
    let ticket = &data["org"]["tickets"]["edges"][0]["node"];
    let statuses = ticket["messages"]["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .filter(|e| e["node"]["direction"] == "OUTBOUND")
                .map(|e| e["node"]["status"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (ticket["id"].as_str().map(str::to_owned), statuses)
}

/// A customer's message to `account`, just now.
fn customer_dm(account: &str) -> Params {
    Params {
        account_id: account.into(),
        from: CUSTOMER.into(),
        name: "Sam".into(),
        text: "Is the blue kettle back?".into(),
        message_id: None,
        status: "delivered".into(),
        unique: uuid::Uuid::new_v4().simple().to_string(),
    }
}

async fn reply_reaches_read(platform: &str, account: &str, kind: Kind, expected: &[&str]) {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, platform, account, SECRET).await;
    let server = Process::serve(&app.db.url(), &[], &[("GRAPH_API_BASE_URL", "sandbox")]).await;
    let url = server.url();
    let client = reqwest::Client::new();
    let body = build(kind, &customer_dm(account), Utc::now()).unwrap();
    let status = client
        .post(format!("{url}/webhook/{channel}"))
        .header(
            "x-hub-signature-256",
            delightchat::webhooks::signature::sign(&body, SECRET.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    let ticket = loop {
        if let (Some(ticket), _) = outbound(&client, &url, &admin).await {
            break ticket;
        }
        assert!(
            Instant::now() < deadline,
            "the customer's ticket never appeared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let sent = gql(
        &client,
        &url,
        &admin.token,
        SEND,
        json!({"o": admin.org_id, "t": ticket, "i": {"text": "Yes, since Monday!"}}),
    )
    .await;
    assert_eq!(sent["sendMessage"]["status"], "QUEUED");
    let mut seen: Vec<String> = vec!["QUEUED".into()];
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.last().map(String::as_str) != Some("READ") {
        assert!(
            Instant::now() < deadline,
            "the reply never became READ: {seen:?}"
        );
        let (_, statuses) = outbound(&client, &url, &admin).await;
        assert_eq!(
            statuses.len(),
            1,
            "the echo must not add a message: {statuses:?}"
        );
        if seen.last() != Some(&statuses[0]) {
            seen.push(statuses[0].clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Whatever the polling caught, statuses only ever moved forward along `expected`.
    let mut rest = expected.iter();
    for status in &seen {
        assert!(
            rest.any(|s| s == status),
            "{seen:?} is not in the order {expected:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messenger_reply_goes_queued_sent_delivered_read_through_the_sandbox() {
    reply_reaches_read(
        "MESSENGER",
        "104400000000001",
        Kind::MessengerText,
        &["QUEUED", "SENT", "DELIVERED", "READ"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_and_instagram_replies_reach_read_through_the_sandbox() {
    reply_reaches_read(
        "WHATSAPP",
        "310000000000001",
        Kind::WaText,
        &["QUEUED", "SENT", "DELIVERED", "READ"],
    )
    .await;
    reply_reaches_read(
        "INSTAGRAM",
        "17841400000000101",
        Kind::IgDm,
        &["QUEUED", "SENT", "READ"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_development_server_that_cannot_reach_meta_says_so_at_once() {
    // The channel was connected while Meta answered; now it cannot be reached: port 1
    // on loopback refuses connections, like a machine without Meta's DNS.
    let connected = TestApp::new().await;
    let admin = connected.signup("Kettle Shop", "ana@example.com").await;
    let channel = connected
        .create_channel(&admin, "INSTAGRAM", "17841400000000101", SECRET)
        .await;
    let app = connected.sibling(|c| c.graph_api_base_url = "http://127.0.0.1:1".into());
    let dm = build(Kind::IgDm, &customer_dm("17841400000000101"), Utc::now()).unwrap();
    app.post_webhook(&channel, &dm, SECRET).await;
    app.drain_inbound().await;
    let data = app
        .gql_ok(Some(&admin.token), MESSAGES, json!({"o": admin.org_id}))
        .await;
    let ticket = data["org"]["tickets"]["edges"][0]["node"]["id"].clone();
    app.gql_ok(
        Some(&admin.token),
        SEND,
        json!({"o": admin.org_id, "t": ticket, "i": {"text": "Hello"}}),
    )
    .await;
    app.drain_outbound().await;
    let data = app
        .gql_ok(Some(&admin.token), MESSAGES, json!({"o": admin.org_id}))
        .await;
    let reply = data["org"]["tickets"]["edges"][0]["node"]["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .find(|m| m["direction"] == "OUTBOUND")
        .unwrap()
        .clone();
    assert_eq!(reply["status"], "FAILED", "{reply}");
    let reason = reply["errorMessage"].as_str().unwrap();
    assert!(reason.contains("GRAPH_API_BASE_URL=sandbox"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_targets_the_latest_reply_and_refuses_another_platforms_kind() {
    use wiremock::matchers::method;
    use wiremock::{Mock, ResponseTemplate};
    let graph = crate::support::fake_graph::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"messaging_product": "whatsapp",
            "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}], "messages": [{"id": "wamid.LATEST1"}]})))
        .mount(&graph)
        .await;
    let uri = graph.uri();
    let app = TestApp::with_config(|c| c.graph_api_base_url = uri).await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let wa = "310000000000001";
    let channel = app.create_channel(&admin, "WHATSAPP", wa, SECRET).await;
    let dm = build(Kind::WaText, &customer_dm(wa), Utc::now()).unwrap();
    app.post_webhook(&channel, &dm, SECRET).await;
    app.drain_inbound().await;
    let data = app
        .gql_ok(Some(&admin.token), MESSAGES, json!({"o": admin.org_id}))
        .await;
    let ticket = data["org"]["tickets"]["edges"][0]["node"]["id"].clone();
    app.gql_ok(
        Some(&admin.token),
        SEND,
        json!({"o": admin.org_id, "t": ticket, "i": {"text": "Hello"}}),
    )
    .await;
    app.drain_outbound().await;
    let addr = app.serve().await;
    let simulate = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_delightchat"));
        command
            .arg("simulate")
            .args(args)
            .args(["--channel", &channel, "--url", &format!("http://{addr}")])
            .env("DATABASE_URL", app.db.url())
            .env("SECRET_KEY", hex::encode(app.state.config().secret_key))
            .env("RUST_LOG", "error");
        command.output().unwrap()
    };
    let wrong = simulate(&["messenger-text"]);
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("WHATSAPP channel") && stderr.contains("wa-text"),
        "{stderr}"
    );
    let read = simulate(&["wa-status", "--latest", "--status", "read"]);
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    app.drain_inbound().await;
    let (_, statuses) = outbound_statuses(&app, &admin).await;
    assert_eq!(statuses, ["READ"]);
}

async fn outbound_statuses(app: &TestApp, admin: &Session) -> (Value, Vec<String>) {
    let data = app
        .gql_ok(Some(&admin.token), MESSAGES, json!({"o": admin.org_id}))
        .await;
    let node = data["org"]["tickets"]["edges"][0]["node"].clone();
    let statuses = node["messages"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["direction"] == "OUTBOUND")
        .map(|e| e["node"]["status"].as_str().unwrap().to_owned())
        .collect();
    (node, statuses)
}

const ATTACHMENTS: &str = "query($o: ID!) { org(id: $o) { tickets(first: 5) { edges { node {
    messages(last: 5) { edges { node { attachments { storage storageError url } } } } } } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_images_are_stored_from_the_sandbox_and_open_through_signed_urls() {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let wa = "310000000000001";
    let ig = "17841400000000101";
    let wa_channel = app.create_channel(&admin, "WHATSAPP", wa, SECRET).await;
    let ig_channel = app.create_channel(&admin, "INSTAGRAM", ig, SECRET).await;
    let server = Process::serve(&app.db.url(), &[], &[("GRAPH_API_BASE_URL", "sandbox")]).await;
    let url = server.url();
    let client = reqwest::Client::new();
    for (channel, kind, account) in [
        (&wa_channel, Kind::WaImage, wa),
        (&ig_channel, Kind::IgImage, ig),
    ] {
        let body = build(kind, &customer_dm(account), Utc::now()).unwrap();
        let status = client
            .post(format!("{url}/webhook/{channel}"))
            .header(
                "x-hub-signature-256",
                delightchat::webhooks::signature::sign(&body, SECRET.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let attachments = loop {
        let data = gql(
            &client,
            &url,
            &admin.token,
            ATTACHMENTS,
            json!({"o": admin.org_id}),
        )
        .await;
        let attachments: Vec<Value> = data["org"]["tickets"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| t["node"]["messages"]["edges"].as_array().unwrap().clone())
            .flat_map(|m| m["node"]["attachments"].as_array().unwrap().clone())
            .collect();
        if attachments.len() == 2 && attachments.iter().all(|a| a["storage"] != "PENDING") {
            break attachments;
        }
        assert!(
            Instant::now() < deadline,
            "the images were never copied: {attachments:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for attachment in attachments {
        assert_eq!(attachment["storage"], "STORED", "{attachment:#}");
        let signed = attachment["url"].as_str().unwrap();
        assert!(signed.contains("/media/"), "{signed}");
        let response = client.get(signed).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "image/png");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), delightchat::sandbox::media::SAMPLE_IMAGE);
    }
}
