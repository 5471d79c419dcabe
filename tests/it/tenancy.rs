//! Cross-tenant isolation: another org's token and ids get FORBIDDEN or NOT_FOUND (or
//! null), never data, and change nothing.

use chrono::Utc;
use serde_json::{Value, json};

use crate::support::seed;
use crate::support::{TestApp, error_code};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_orgs_ids_are_never_resolved_read_or_written() {
    let app = TestApp::new().await;
    let a = app.signup("Acme", "ana@example.com").await;
    let b = app.signup("Globex", "bo@example.com").await;
    let a_channel = app
        .create_channel(&a, "INSTAGRAM", "17841400000000020", "s")
        .await;
    let conv = seed::conversation(
        &app,
        &a.org_id,
        &a_channel,
        "Secret Customer",
        "ig-secret",
        2,
        Utc::now(),
    )
    .await;
    let a_notification = seed::notification(&app, &a.org_id, &a.user_id, &conv.ticket_id, 1).await;

    // 1. Org A's id with B's token: FORBIDDEN for every org-scoped operation.
    let with_a_org: Vec<(&str, Value)> = vec![
        ("query($o: ID!) { org(id: $o) { name } }", json!({})),
        (
            "mutation($o: ID!) { inviteMember(orgId: $o, input: {email: \"x@example.com\", role: ADMIN}) { token } }",
            json!({}),
        ),
        (
            "mutation($o: ID!) { createChannel(orgId: $o, input: {platform: INSTAGRAM, name: \"x\", externalAccountId: \"1\", accessToken: \"t\", appSecret: \"s\", verifyToken: \"v\"}) { id } }",
            json!({}),
        ),
        (
            "mutation($o: ID!, $x: ID!) { updateChannel(orgId: $o, id: $x, input: {name: \"pwned\"}) { id } }",
            json!({"x": a_channel}),
        ),
        (
            "mutation($o: ID!, $x: ID!) { deleteChannel(orgId: $o, id: $x) }",
            json!({"x": a_channel}),
        ),
        (
            "mutation($o: ID!, $x: ID!) { updateTicket(orgId: $o, id: $x, input: {status: RESOLVED}) { id } }",
            json!({"x": conv.ticket_id}),
        ),
        (
            "mutation($o: ID!, $x: ID!) { markTicketRead(orgId: $o, id: $x) { id } }",
            json!({"x": conv.ticket_id}),
        ),
        (
            "mutation($o: ID!, $x: ID!) { markNotificationRead(orgId: $o, id: $x) { id } }",
            json!({"x": a_notification}),
        ),
        (
            "mutation($o: ID!) { markAllNotificationsRead(orgId: $o) }",
            json!({}),
        ),
        (
            "mutation($o: ID!, $x: ID!) { mergeCustomers(orgId: $o, targetId: $x, sourceId: $x) { id } }",
            json!({"x": conv.customer_id}),
        ),
    ];
    for (query, extra) in with_a_org {
        let mut vars = json!({"o": a.org_id});
        vars.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = app.graphql(Some(&b.token), query, vars).await;
        assert_eq!(error_code(&r), "FORBIDDEN", "{query}: {r}");
        assert!(!r.to_string().contains("Secret Customer"));
    }

    // 2. A's object ids inside B's own org: not found, exactly like ids that never existed.
    let with_b_org: Vec<(&str, Value)> = vec![
        (
            "mutation($o: ID!, $x: ID!) { updateChannel(orgId: $o, id: $x, input: {name: \"pwned\"}) { id } }",
            json!({"x": a_channel}),
        ),
        (
            "mutation($o: ID!, $x: ID!) { deleteChannel(orgId: $o, id: $x) }",
            json!({"x": a_channel}),
        ),
        (
            "mutation($o: ID!, $x: ID!) { updateTicket(orgId: $o, id: $x, input: {status: RESOLVED}) { id } }",
            json!({"x": conv.ticket_id}),
        ),
        (
            "mutation($o: ID!, $x: ID!) { markTicketRead(orgId: $o, id: $x) { id } }",
            json!({"x": conv.ticket_id}),
        ),
        (
            "mutation($o: ID!, $x: ID!) { markNotificationRead(orgId: $o, id: $x) { id } }",
            json!({"x": a_notification}),
        ),
    ];
    for (query, extra) in with_b_org {
        let mut vars = json!({"o": b.org_id});
        vars.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = app.graphql(Some(&b.token), query, vars.clone()).await;
        assert_eq!(error_code(&r), "NOT_FOUND", "{query}: {r}");
        let fresh = vars
            .as_object()
            .unwrap()
            .get("x")
            .map(|_| uuid::Uuid::new_v4().to_string());
        let mut never = vars.clone();
        never["x"] = json!(fresh);
        let r2 = app.graphql(Some(&b.token), query, never).await;
        assert_eq!(
            r["errors"][0]["message"], r2["errors"][0]["message"],
            "foreign and missing ids must look alike"
        );
    }
    let b_channel = app
        .create_channel(&b, "INSTAGRAM", "17841400000000021", "s")
        .await;
    let b_conv = seed::conversation(
        &app,
        &b.org_id,
        &b_channel,
        "B Customer",
        "ig-b",
        1,
        Utc::now(),
    )
    .await;
    let r = app
        .graphql(Some(&b.token), "mutation($o: ID!, $t: ID!, $s: ID!) { mergeCustomers(orgId: $o, targetId: $t, sourceId: $s) { id } }", json!({"o": b.org_id, "t": b_conv.customer_id, "s": conv.customer_id}))
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND");
    let r = app
        .graphql(Some(&b.token), "mutation($o: ID!, $t: ID!, $u: ID!) { updateTicket(orgId: $o, id: $t, input: {assigneeId: $u}) { id } }", json!({"o": b.org_id, "t": b_conv.ticket_id, "u": a.user_id}))
        .await;
    assert_eq!(
        error_code(&r),
        "BAD_USER_INPUT",
        "assignee from another org"
    );

    let reads = "query($o: ID!, $c: ID!, $t: ID!, $cu: ID!, $u: ID!) { org(id: $o) {
        channel(id: $c) { id } ticket(id: $t) { id } customer(id: $cu) { id }
        byChannel: tickets(channelId: $c) { edges { node { id } } }
        byAssignee: tickets(assigneeId: $u) { edges { node { id } } }
        customers(search: \"Secret\") { edges { node { id } } } } }";
    let data = app
        .gql_ok(Some(&b.token), reads, json!({"o": b.org_id, "c": a_channel, "t": conv.ticket_id, "cu": conv.customer_id, "u": a.user_id}))
        .await;
    assert_eq!(data["org"]["channel"], Value::Null);
    assert_eq!(data["org"]["ticket"], Value::Null);
    assert_eq!(data["org"]["customer"], Value::Null);
    assert_eq!(data["org"]["byChannel"]["edges"], json!([]));
    assert_eq!(data["org"]["byAssignee"]["edges"], json!([]));
    assert_eq!(data["org"]["customers"]["edges"], json!([]));
    // A member of B does not learn A's org memberships through a shared user.
    let me = app
        .gql_ok(
            Some(&b.token),
            "{ me { memberships { org { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(me["me"]["memberships"].as_array().unwrap().len(), 1);

    // 3. Org A is untouched.
    let check = "query($o: ID!, $t: ID!) { org(id: $o) { channels { name status } ticket(id: $t) { status unreadCount } unreadNotificationCount } }";
    let data = app
        .gql_ok(
            Some(&a.token),
            check,
            json!({"o": a.org_id, "t": conv.ticket_id}),
        )
        .await;
    assert_eq!(
        data["org"]["channels"],
        json!([{"name": "INSTAGRAM 17841400000000020", "status": "ACTIVE"}])
    );
    assert_eq!(
        data["org"]["ticket"],
        json!({"status": "OPEN", "unreadCount": 2})
    );
    assert_eq!(data["org"]["unreadNotificationCount"], 1);
}
