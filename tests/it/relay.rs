//! Relay and Apollo conventions: `Node` with `node(id:)` / `nodes(ids:)` scoped to the
//! caller, and `totalCount` where counting is cheap.

use serde_json::{Value, json};

use crate::support::{Session, TestApp, error_code, fixture};

const SECRET: &str = "relay-secret";
const IG: &str = "17841400000000101";

const NODES: &str = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
    ... on Ticket { status } ... on Message { text } ... on Org { name viewerRole } } }";

/// An org with a channel, a customer, a ticket, a message and a notification; their ids.
async fn inbox(app: &TestApp) -> (Session, Vec<(&'static str, String)>) {
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    app.post_webhook(&channel, &fixture("ig_dm_text"), SECRET)
        .await;
    app.drain_inbound().await;
    let data = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!) { org(id: $o) { tickets(first: 1) { edges { node { id customer { id }
                messages(first: 1) { edges { node { id } } } } } } notifications(first: 1) { edges { node { id } } } } }",
            json!({"o": admin.org_id}),
        )
        .await;
    let ticket = &data["org"]["tickets"]["edges"][0]["node"];
    let id = |v: &Value| v.as_str().unwrap().to_owned();
    let ids = vec![
        ("Org", admin.org_id.clone()),
        ("Channel", channel),
        ("Customer", id(&ticket["customer"]["id"])),
        ("Ticket", id(&ticket["id"])),
        ("Message", id(&ticket["messages"]["edges"][0]["node"]["id"])),
        (
            "Notification",
            id(&data["org"]["notifications"]["edges"][0]["node"]["id"]),
        ),
    ];
    (admin, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_and_nodes_resolve_every_kind_the_caller_may_see() {
    let app = TestApp::new().await;
    let (admin, ids) = inbox(&app).await;
    let list: Vec<&str> = ids.iter().map(|(_, id)| id.as_str()).collect();
    let data = app
        .gql_ok(Some(&admin.token), NODES, json!({"ids": list}))
        .await;
    for ((kind, id), node) in ids.iter().zip(data["nodes"].as_array().unwrap()) {
        assert_eq!(node["__typename"], *kind, "{node}");
        assert_eq!(node["id"], id.as_str());
    }
    assert_eq!(data["nodes"][0]["viewerRole"], "ADMIN");
    assert_eq!(data["nodes"][3]["status"], "OPEN");
    assert_eq!(
        data["nodes"][4]["text"],
        "Hello! Is the blue kettle back in stock?"
    );
    let one = app
        .gql_ok(
            Some(&admin.token),
            "query($id: ID!) { node(id: $id) { id ... on Ticket { status } } }",
            json!({"id": ids[3].1}),
        )
        .await;
    assert_eq!(one["node"]["status"], "OPEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_orgs_ids_resolve_to_null_exactly_like_missing_ones() {
    let app = TestApp::new().await;
    let (_, ids) = inbox(&app).await;
    let intruder = app.signup("Globex", "bo@example.com").await;
    let mut list: Vec<String> = ids.iter().map(|(_, id)| id.clone()).collect();
    list.push(uuid::Uuid::new_v4().to_string());
    list.push("not-an-id".into());
    let data = app
        .gql_ok(Some(&intruder.token), NODES, json!({"ids": list}))
        .await;
    assert_eq!(data["nodes"], json!(vec![Value::Null; 8]));
    let r = app
        .graphql(
            Some(&intruder.token),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": ids[3].1}),
        )
        .await;
    assert_eq!(r, json!({"data": {"node": null}}));
    // Without a token: UNAUTHENTICATED, not a leak.
    let r = app.graphql(None, NODES, json!({"ids": [ids[3].1]})).await;
    assert_eq!(error_code(&r), "UNAUTHENTICATED");
    let too_many: Vec<String> = (0..101).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let r = app
        .graphql(
            Some(&intruder.token),
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({"ids": too_many}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_count_counts_a_tickets_messages_and_the_callers_notifications() {
    let app = TestApp::new().await;
    let (admin, ids) = inbox(&app).await;
    let data = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!, $t: ID!) { org(id: $o) { ticket(id: $t) { messages(first: 0) { totalCount edges { cursor } } }
                notifications(first: 0) { totalCount } unread: notifications(unreadOnly: true, first: 1) { totalCount } } }",
            json!({"o": admin.org_id, "t": ids[3].1}),
        )
        .await;
    assert_eq!(data["org"]["ticket"]["messages"]["totalCount"], 1);
    assert_eq!(data["org"]["ticket"]["messages"]["edges"], json!([]));
    assert_eq!(data["org"]["notifications"]["totalCount"], 1);
    assert_eq!(data["org"]["unread"]["totalCount"], 1);
}
