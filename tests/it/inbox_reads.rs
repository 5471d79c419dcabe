//! The read side of the inbox and the agent actions that need no Meta call.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::support::seed;
use crate::support::{Session, TestApp, error_code};

const INBOX: &str =
    "query($o: ID!, $first: Int, $after: String, $status: TicketStatus, $assignee: ID) {
  org(id: $o) { tickets(first: $first, after: $after, status: $status, assigneeId: $assignee) {
    edges { cursor node { id status priority lastMessageAt lastMessagePreview unreadCount
      customer { id name identities { platform externalId username channel { id } } }
      channel { id name platform } assignee { id name } lastMessage { id text createdAt } } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } } }";

async fn setup() -> (TestApp, Session, String) {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let channel = app
        .create_channel(&admin, "INSTAGRAM", "17841400000000010", "s")
        .await;
    (app, admin, channel)
}

/// Dana's Instagram conversation of `messages` messages, the last one now.
async fn dana(
    app: &TestApp,
    admin: &Session,
    channel: &str,
    messages: usize,
) -> seed::Conversation {
    seed::conversation(
        app,
        &admin.org_id,
        channel,
        "Dana",
        "ig-dana",
        messages,
        Utc::now(),
    )
    .await
}

fn ids(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_pages_through_tickets_by_last_activity_without_gaps_or_repeats() {
    let (app, admin, channel) = setup().await;
    let now = Utc::now();
    let mut expected = Vec::new();
    for i in 0..7 {
        let c = seed::conversation(
            &app,
            &admin.org_id,
            &channel,
            &format!("C{i}"),
            &format!("ig-{i}"),
            2,
            now - Duration::hours(i),
        )
        .await;
        expected.push(c.ticket_id);
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .gql_ok(
                Some(&admin.token),
                INBOX,
                json!({"o": admin.org_id, "first": 3, "after": after}),
            )
            .await;
        let tickets = &data["org"]["tickets"];
        seen.extend(ids(tickets));
        if !tickets["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = tickets["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, expected, "newest activity first, each ticket once");
    let first = app
        .gql_ok(
            Some(&admin.token),
            INBOX,
            json!({"o": admin.org_id, "first": 1}),
        )
        .await;
    let node = &first["org"]["tickets"]["edges"][0]["node"];
    assert_eq!(node["customer"]["name"], "C0");
    assert_eq!(node["customer"]["identities"][0]["externalId"], "ig-0");
    assert_eq!(node["channel"]["platform"], "INSTAGRAM");
    assert_eq!(node["lastMessage"]["text"], "message 1 from C0");
    assert_eq!(node["unreadCount"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_page_of_50_costs_a_constant_number_of_queries() {
    let (app, admin, channel) = setup().await;
    let now = Utc::now();
    // (queries, statements that scoped a checkout for row-level security, tickets)
    let count_for = async |app: &TestApp| {
        let before = (app.state.query_count(), app.state.scoping_count());
        let data = app
            .gql_ok(
                Some(&admin.token),
                INBOX,
                json!({"o": admin.org_id, "first": 50}),
            )
            .await;
        let scoping = app.state.scoping_count() - before.1;
        (
            app.state.query_count() - before.0 - scoping,
            scoping,
            ids(&data["org"]["tickets"]).len(),
        )
    };
    for i in 0..5 {
        seed::conversation(
            &app,
            &admin.org_id,
            &channel,
            &format!("C{i}"),
            &format!("a-{i}"),
            1,
            now - Duration::minutes(i),
        )
        .await;
    }
    let (small, small_scoping, n) = count_for(&app).await;
    assert_eq!(n, 5);
    for i in 5..50 {
        seed::conversation(
            &app,
            &admin.org_id,
            &channel,
            &format!("C{i}"),
            &format!("a-{i}"),
            1,
            now - Duration::minutes(i),
        )
        .await;
    }
    let (large, large_scoping, n) = count_for(&app).await;
    assert_eq!(n, 50);
    assert_eq!(small, large, "queries must not grow with the page");
    assert_eq!(
        small_scoping, large_scoping,
        "checkouts must not grow with the page"
    );
    // tickets + customers + identities + last messages + read counts + channels; the
    // membership check comes with the checkout's scoping statement, and the page of
    // tickets, read beside it, is not read again by its field.
    assert_eq!(large, 6, "inbox page took {large} queries");
    // A query operation reads through one connection, scoped once when checked out;
    // the page's parallel loads are pipelined on it.
    assert_eq!(large_scoping, 1, "{large_scoping} checkouts for one page");
    println!("inbox page of 50 tickets: {large} SQL queries, {large_scoping} scoping statements");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_page_forward_from_the_oldest_and_backward_from_the_newest() {
    let (app, admin, channel) = setup().await;
    let conv = dana(&app, &admin, &channel, 5).await;
    let q = "query($o: ID!, $t: ID!, $first: Int, $after: String, $last: Int, $before: String) {
      org(id: $o) { ticket(id: $t) { messages(first: $first, after: $after, last: $last, before: $before) {
        edges { cursor node { id text direction status author { type customer { name } } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } } }";
    let vars = |extra: Value| {
        let mut v = json!({"o": admin.org_id, "t": conv.ticket_id});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let first = app
        .gql_ok(Some(&admin.token), q, vars(json!({"first": 2})))
        .await;
    let page = &first["org"]["ticket"]["messages"];
    assert_eq!(ids(page), conv.message_ids[..2].to_vec());
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(
        page["edges"][0]["node"]["author"]["customer"]["name"],
        "Dana"
    );
    let next = app
        .gql_ok(
            Some(&admin.token),
            q,
            vars(json!({"first": 10, "after": page["pageInfo"]["endCursor"]})),
        )
        .await;
    assert_eq!(
        ids(&next["org"]["ticket"]["messages"]),
        conv.message_ids[2..].to_vec()
    );
    assert_eq!(
        next["org"]["ticket"]["messages"]["pageInfo"]["hasNextPage"],
        false
    );

    let last = app
        .gql_ok(Some(&admin.token), q, vars(json!({"last": 2})))
        .await;
    let page = &last["org"]["ticket"]["messages"];
    assert_eq!(
        ids(page),
        conv.message_ids[3..].to_vec(),
        "latest two, still oldest first"
    );
    assert_eq!(page["pageInfo"]["hasPreviousPage"], true);
    let earlier = app
        .gql_ok(
            Some(&admin.token),
            q,
            vars(json!({"last": 2, "before": page["pageInfo"]["startCursor"]})),
        )
        .await;
    assert_eq!(
        ids(&earlier["org"]["ticket"]["messages"]),
        conv.message_ids[1..3].to_vec()
    );

    for bad in [
        json!({"first": 101}),
        json!({"first": 1, "last": 1}),
        json!({"first": 1, "after": "garbage"}),
        json!({"first": -1}),
    ] {
        let r = app.graphql(Some(&admin.token), q, vars(bad.clone())).await;
        assert_eq!(error_code(&r), "BAD_USER_INPUT", "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_filter_by_platform_and_search_name_or_username() {
    let (app, admin, channel) = setup().await;
    let wa = app
        .create_channel(&admin, "WHATSAPP", "330915846700010", "s")
        .await;
    seed::conversation(
        &app,
        &admin.org_id,
        &channel,
        "Lena",
        "ig-lena",
        1,
        Utc::now(),
    )
    .await;
    seed::conversation(
        &app,
        &admin.org_id,
        &wa,
        "Priya",
        "447700900318",
        1,
        Utc::now(),
    )
    .await;
    seed::conversation(
        &app,
        &admin.org_id,
        &channel,
        "Omar_100%",
        "ig-omar",
        1,
        Utc::now(),
    )
    .await;
    let q = "query($o: ID!, $p: Platform, $s: String) { org(id: $o) { customers(platform: $p, search: $s) { edges { node { name } } } } }";
    let names = async |p: Value, s: Value| -> Vec<String> {
        let data = app
            .gql_ok(
                Some(&admin.token),
                q,
                json!({"o": admin.org_id, "p": p, "s": s}),
            )
            .await;
        let mut names: Vec<String> = data["org"]["customers"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(json!("WHATSAPP"), Value::Null).await, vec!["Priya"]);
    assert_eq!(names(Value::Null, json!("LEN")).await, vec!["Lena"]);
    assert_eq!(
        names(Value::Null, json!("priya_handle")).await,
        vec!["Priya"],
        "search covers usernames"
    );
    assert_eq!(
        names(Value::Null, json!("%")).await,
        vec!["Omar_100%"],
        "LIKE wildcards match literally"
    );
    assert_eq!(
        names(json!("INSTAGRAM"), Value::Null).await,
        vec!["Lena", "Omar_100%"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_update_assign_and_read_tickets() {
    let (app, admin, channel) = setup().await;
    let agent = app.add_member(&admin, "carl@example.com", "AGENT").await;
    let conv = seed::conversation(
        &app,
        &admin.org_id,
        &channel,
        "Eve",
        "ig-eve",
        3,
        Utc::now(),
    )
    .await;
    let update = "mutation($o: ID!, $t: ID!, $i: UpdateTicketInput!) { updateTicket(orgId: $o, id: $t, input: $i) { status priority assignee { id } } }";
    let data = app
        .gql_ok(Some(&admin.token), update, json!({"o": admin.org_id, "t": conv.ticket_id, "i": {"status": "PENDING", "priority": "HIGH", "assigneeId": agent.user_id}}))
        .await;
    assert_eq!(
        data["updateTicket"],
        json!({"status": "PENDING", "priority": "HIGH", "assignee": {"id": agent.user_id}})
    );
    // The assignee is notified.
    let notes = app
        .gql_ok(Some(&agent.token), "query($o: ID!) { org(id: $o) { unreadNotificationCount notifications { edges { node { type ticket { id } } } } } }", json!({"o": admin.org_id}))
        .await;
    assert_eq!(notes["org"]["unreadNotificationCount"], 1);
    assert_eq!(
        notes["org"]["notifications"]["edges"][0]["node"]["type"],
        "ASSIGNED"
    );
    // Filter by assignee and status.
    let mine = app
        .gql_ok(
            Some(&agent.token),
            INBOX,
            json!({"o": admin.org_id, "assignee": agent.user_id, "status": "PENDING"}),
        )
        .await;
    assert_eq!(ids(&mine["org"]["tickets"]), vec![conv.ticket_id.clone()]);
    let node = &mine["org"]["tickets"]["edges"][0]["node"];
    assert_eq!(node["assignee"]["id"], json!(agent.user_id));
    // Assigning to someone outside the org changes nothing.
    let outsider = app.signup("Other", "zed@example.com").await;
    let r = app
        .graphql(
            Some(&admin.token),
            update,
            json!({"o": admin.org_id, "t": conv.ticket_id, "i": {"assigneeId": outsider.user_id}}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    let r = app
        .gql_ok(
            Some(&admin.token),
            update,
            json!({"o": admin.org_id, "t": conv.ticket_id, "i": {"assigneeId": null}}),
        )
        .await;
    assert_eq!(r["updateTicket"]["assignee"], Value::Null);
    assert_eq!(r["updateTicket"]["status"], "PENDING");

    // Unread counts are per agent.
    let read = "mutation($o: ID!, $t: ID!) { markTicketRead(orgId: $o, id: $t) { unreadCount } }";
    let unread = "query($o: ID!, $t: ID!) { org(id: $o) { ticket(id: $t) { unreadCount } } }";
    let vars = json!({"o": admin.org_id, "t": conv.ticket_id});
    app.gql_ok(Some(&agent.token), read, vars.clone()).await;
    let agent_view = app.gql_ok(Some(&agent.token), unread, vars.clone()).await;
    let admin_view = app.gql_ok(Some(&admin.token), unread, vars).await;
    assert_eq!(agent_view["org"]["ticket"]["unreadCount"], 0);
    assert_eq!(admin_view["org"]["ticket"]["unreadCount"], 3);
    // The same on an inbox page, which reads each viewer's counts in one batch.
    let unread_on_page = async |session: &Session| {
        let page = app
            .gql_ok(Some(&session.token), INBOX, json!({"o": admin.org_id}))
            .await;
        page["org"]["tickets"]["edges"][0]["node"]["unreadCount"].clone()
    };
    assert_eq!(unread_on_page(&agent).await, 0);
    assert_eq!(unread_on_page(&admin).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_read_one_by_one_or_all_at_once() {
    let (app, admin, channel) = setup().await;
    let a = seed::conversation(&app, &admin.org_id, &channel, "A", "ig-a", 1, Utc::now()).await;
    let b = seed::conversation(&app, &admin.org_id, &channel, "B", "ig-b", 1, Utc::now()).await;
    let n1 = seed::notification(&app, &admin.org_id, &admin.user_id, &a.ticket_id, 3).await;
    seed::notification(&app, &admin.org_id, &admin.user_id, &b.ticket_id, 1).await;
    let count = "query($o: ID!) { org(id: $o) { unreadNotificationCount notifications(unreadOnly: true) { edges { node { id count } } } } }";
    let data = app
        .gql_ok(Some(&admin.token), count, json!({"o": admin.org_id}))
        .await;
    assert_eq!(data["org"]["unreadNotificationCount"], 2);
    let one = app
        .gql_ok(Some(&admin.token), "mutation($o: ID!, $n: ID!) { markNotificationRead(orgId: $o, id: $n) { id count readAt } }", json!({"o": admin.org_id, "n": n1}))
        .await;
    assert_eq!(one["markNotificationRead"]["count"], 3);
    assert!(one["markNotificationRead"]["readAt"].is_string());
    let data = app
        .gql_ok(Some(&admin.token), count, json!({"o": admin.org_id}))
        .await;
    assert_eq!(data["org"]["unreadNotificationCount"], 1);
    let all = app
        .gql_ok(
            Some(&admin.token),
            "mutation($o: ID!) { markAllNotificationsRead(orgId: $o) }",
            json!({"o": admin.org_id}),
        )
        .await;
    assert_eq!(all["markAllNotificationsRead"], 1);
    let data = app
        .gql_ok(Some(&admin.token), count, json!({"o": admin.org_id}))
        .await;
    assert_eq!(data["org"]["unreadNotificationCount"], 0);
    // Another member cannot read or mark someone else's notification.
    let agent = app.add_member(&admin, "carl@example.com", "AGENT").await;
    let r = app
        .graphql(
            Some(&agent.token),
            "mutation($o: ID!, $n: ID!) { markNotificationRead(orgId: $o, id: $n) { id } }",
            json!({"o": admin.org_id, "n": n1}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merging_customers_moves_identities_tickets_and_messages() {
    let (app, admin, channel) = setup().await;
    let wa = app
        .create_channel(&admin, "WHATSAPP", "330915846700011", "s")
        .await;
    let ig = seed::conversation(
        &app,
        &admin.org_id,
        &channel,
        "Priya IG",
        "ig-priya",
        2,
        Utc::now() - Duration::hours(1),
    )
    .await;
    let whatsapp = seed::conversation(
        &app,
        &admin.org_id,
        &wa,
        "Priya WA",
        "447700900318",
        3,
        Utc::now(),
    )
    .await;
    let merged = app
        .gql_ok(
            Some(&admin.token),
            "mutation($o: ID!, $t: ID!, $s: ID!) { mergeCustomers(orgId: $o, targetId: $t, sourceId: $s) { id name identities { platform } tickets(first: 10) { edges { node { id messages(first: 10) { edges { node { id } } } } } } } }",
            json!({"o": admin.org_id, "t": ig.customer_id, "s": whatsapp.customer_id}),
        )
        .await;
    let customer = &merged["mergeCustomers"];
    assert_eq!(customer["name"], "Priya IG");
    let platforms: Vec<_> = customer["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["platform"].clone())
        .collect();
    assert_eq!(platforms.len(), 2);
    assert_eq!(
        ids(&customer["tickets"]),
        vec![whatsapp.ticket_id.clone(), ig.ticket_id.clone()]
    );
    let gone = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!, $c: ID!) { org(id: $o) { customer(id: $c) { id } } }",
            json!({"o": admin.org_id, "c": whatsapp.customer_id}),
        )
        .await;
    assert_eq!(gone["org"]["customer"], Value::Null);
    let r = app
        .graphql(Some(&admin.token), "mutation($o: ID!, $c: ID!) { mergeCustomers(orgId: $o, targetId: $c, sourceId: $c) { id } }", json!({"o": admin.org_id, "c": ig.customer_id}))
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
}

/// Two customers' conversations on `channel`: Old's two messages two hours ago, and New's
/// `messages` messages ending now.
async fn old_and_new(
    app: &TestApp,
    admin: &Session,
    channel: &str,
    messages: usize,
) -> (seed::Conversation, seed::Conversation) {
    let old = seed::conversation(
        app,
        &admin.org_id,
        channel,
        "Old",
        "ig-old",
        2,
        Utc::now() - Duration::hours(2),
    )
    .await;
    let new = seed::conversation(
        app,
        &admin.org_id,
        channel,
        "New",
        "ig-new",
        messages,
        Utc::now(),
    )
    .await;
    (old, new)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merging_two_customers_on_the_same_channel_joins_their_conversations() {
    let (app, admin, channel) = setup().await;
    let (older, newer) = old_and_new(&app, &admin, &channel, 2).await;
    let merged = app
        .gql_ok(
            Some(&admin.token),
            "mutation($o: ID!, $t: ID!, $s: ID!) { mergeCustomers(orgId: $o, targetId: $t, sourceId: $s) { tickets(first: 10) { edges { node { id unreadCount lastMessage { id } messages(first: 10) { edges { node { id } } } } } } } }",
            json!({"o": admin.org_id, "t": older.customer_id, "s": newer.customer_id}),
        )
        .await;
    let tickets = &merged["mergeCustomers"]["tickets"]["edges"];
    assert_eq!(tickets.as_array().unwrap().len(), 1);
    let ticket = &tickets[0]["node"];
    assert_eq!(ticket["id"], older.ticket_id.as_str());
    assert_eq!(ticket["unreadCount"], 4);
    assert_eq!(ticket["lastMessage"]["id"], newer.message_ids[1].as_str());
    let expected: Vec<String> = older
        .message_ids
        .iter()
        .chain(&newer.message_ids)
        .cloned()
        .collect();
    assert_eq!(ids(&ticket["messages"]), expected);
}

/// Merging keeps what agents set on both sides: the source customer's labels and block,
/// the source ticket's labels, priority and open status, each agent's read position and
/// unread notification, and a summary computed over both threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merging_conversations_keeps_labels_reads_notifications_and_status() {
    let (app, admin, channel) = setup().await;
    let (target, source) = old_and_new(&app, &admin, &channel, 3).await;
    let label = async |name: &str| {
        app.gql_ok(
            Some(&admin.token),
            "mutation($o: ID!, $n: String!) { createLabel(orgId: $o, input: { name: $n, colour: \"#336699\" }) { id } }",
            json!({"o": admin.org_id, "n": name}),
        )
        .await["createLabel"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (vip, billing, kept) = (
        label("vip").await,
        label("billing").await,
        label("kept").await,
    );
    let on_customer = "mutation($o: ID!, $c: ID!, $l: [ID!]!) { setCustomerLabels(orgId: $o, customerId: $c, addLabelIds: $l) { id } }";
    app.gql_ok(
        Some(&admin.token),
        on_customer,
        json!({"o": admin.org_id, "c": source.customer_id, "l": [vip]}),
    )
    .await;
    app.gql_ok(
        Some(&admin.token),
        on_customer,
        json!({"o": admin.org_id, "c": target.customer_id, "l": [kept]}),
    )
    .await;
    app.gql_ok(
        Some(&admin.token),
        "mutation($o: ID!, $t: ID!, $l: [ID!]!) { setTicketLabels(orgId: $o, ticketId: $t, addLabelIds: $l) { id } }",
        json!({"o": admin.org_id, "t": source.ticket_id, "l": [billing]}),
    )
    .await;
    let update = "mutation($o: ID!, $t: ID!, $i: UpdateTicketInput!) { updateTicket(orgId: $o, id: $t, input: $i) { id } }";
    app.gql_ok(
        Some(&admin.token),
        update,
        json!({"o": admin.org_id, "t": target.ticket_id, "i": {"status": "RESOLVED"}}),
    )
    .await;
    app.gql_ok(
        Some(&admin.token),
        update,
        json!({"o": admin.org_id, "t": source.ticket_id, "i": {"priority": "HIGH"}}),
    )
    .await;
    app.gql_ok(
        Some(&admin.token),
        "mutation($o: ID!, $t: ID!) { markTicketRead(orgId: $o, id: $t) { id } }",
        json!({"o": admin.org_id, "t": source.ticket_id}),
    )
    .await;
    app.gql_ok(
        Some(&admin.token),
        "mutation($o: ID!, $c: ID!) { blockCustomer(orgId: $o, id: $c) { id } }",
        json!({"o": admin.org_id, "c": source.customer_id}),
    )
    .await;
    seed::notification(&app, &admin.org_id, &admin.user_id, &target.ticket_id, 2).await;
    let folded =
        seed::notification(&app, &admin.org_id, &admin.user_id, &source.ticket_id, 3).await;
    let updated = format!(
        "SELECT count(*) AS n FROM events WHERE kind = 'CUSTOMER_UPDATED' \
         AND payload::jsonb -> 'customer' ->> 'id' = '{}'",
        target.customer_id
    );
    let updates_before = app.count(&updated).await;

    let merged = app
        .gql_ok(
            Some(&admin.token),
            "mutation($o: ID!, $t: ID!, $s: ID!) { mergeCustomers(orgId: $o, targetId: $t, sourceId: $s) {
               blockedAt labels { name }
               tickets(first: 10) { edges { node { id status priority unreadCount waitingSince
                 labels { name } messages(first: 1) { edges { node { createdAt } } } } } } } }",
            json!({"o": admin.org_id, "t": target.customer_id, "s": source.customer_id}),
        )
        .await;
    let customer = &merged["mergeCustomers"];
    assert!(customer["blockedAt"].is_string(), "{customer}");
    assert_eq!(
        customer["labels"],
        json!([{"name": "kept"}, {"name": "vip"}])
    );
    let ticket = &customer["tickets"]["edges"][0]["node"];
    assert_eq!(ticket["id"], target.ticket_id.as_str());
    assert_eq!(ticket["labels"], json!([{"name": "billing"}]));
    assert_eq!(ticket["status"], "OPEN");
    assert_eq!(ticket["priority"], "HIGH");
    // The target's two messages are unread; the source's three were read.
    assert_eq!(ticket["unreadCount"], 2);
    let first_at = ticket["messages"]["edges"][0]["node"]["createdAt"]
        .as_str()
        .unwrap();
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    assert_eq!(at(ticket["waitingSince"].as_str().unwrap()), at(first_at));

    let notifications = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!) { org(id: $o) { notifications(unreadOnly: true) { edges { node { count ticket { id } } } } } }",
            json!({"o": admin.org_id}),
        )
        .await;
    assert_eq!(
        notifications["org"]["notifications"]["edges"],
        json!([{"node": {"count": 5, "ticket": {"id": target.ticket_id}}}])
    );
    let live = format!(
        "SELECT count(*) AS n FROM events WHERE kind = 'NOTIFICATION_ADDED' AND ticket_id = '{}'",
        target.ticket_id
    );
    assert_eq!(
        app.count(&live).await,
        1,
        "dashboards hear of the bumped count"
    );
    assert_eq!(
        app.count(&updated).await,
        updates_before + 1,
        "and of the merged customer"
    );
    let gone = format!(
        "SELECT count(*) AS n FROM events WHERE (kind = 'TICKET_DELETED' AND ticket_id = '{}') \
         OR (kind = 'CUSTOMER_DELETED' AND payload::jsonb -> 'customer' ->> 'id' = '{}')",
        source.ticket_id, source.customer_id
    );
    assert_eq!(
        app.count(&gone).await,
        2,
        "and of the ticket and customer gone"
    );
    let folded_away = format!(
        "SELECT count(*) AS n FROM events WHERE kind = 'NOTIFICATION_DELETED' \
         AND user_id = '{}' AND notification_id = '{folded}' \
         AND payload::jsonb -> 'notification' ->> 'id' = '{folded}' \
         AND (payload::jsonb -> 'notification' ->> 'count')::int = 3",
        admin.user_id
    );
    assert_eq!(
        app.count(&folded_away).await,
        1,
        "and of the notification folded away, as it was, for its owner"
    );
}

/// A page of messages loads its attachments and reactions with queries that select the
/// page themselves, beside the page query (not after it): each message gets exactly its
/// own, on every page window, in a constant number of statements on one checkout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_page_loads_its_attachments_and_reactions_beside_the_page() {
    let (app, admin, channel) = setup().await;
    let conv = dana(&app, &admin, &channel, 6).await;
    // Message i has i attachments; odd messages carry a reaction, message 5's removed.
    for (i, id) in conv.message_ids.iter().enumerate() {
        for position in 0..i {
            app.execute(&format!(
                "INSERT INTO attachments (id, org_id, message_id, position, type, url) \
                 SELECT gen_random_uuid(), org_id, id, {position}, 'IMAGE', 'https://cdn.example/{i}-{position}' \
                 FROM messages WHERE id = '{id}'"
            ))
            .await;
        }
        if i % 2 == 1 {
            app.execute(&format!(
                "INSERT INTO reactions (id, org_id, message_id, reactor_type, reactor_id, emoji, removed, reacted_at) \
                 SELECT gen_random_uuid(), org_id, id, 'CUSTOMER', 'ig-dana', 'e{i}', {}, now() \
                 FROM messages WHERE id = '{id}'",
                i == 5
            ))
            .await;
        }
    }
    let q = "query($o: ID!, $t: ID!, $last: Int, $before: String) {
      org(id: $o) { ticket(id: $t) { customer { name } messages(last: $last, before: $before) {
        edges { node { id attachments { url } reactions { emoji } } }
        pageInfo { hasPreviousPage startCursor } } } } }";
    let page = async |last: i64, before: Value| {
        let (queries, scoping) = (app.state.query_count(), app.state.scoping_count());
        let data = app
            .gql_ok(
                Some(&admin.token),
                q,
                json!({"o": admin.org_id, "t": conv.ticket_id, "last": last, "before": before}),
            )
            .await;
        let scoping = app.state.scoping_count() - scoping;
        let statements = app.state.query_count() - queries - scoping;
        (
            data["org"]["ticket"]["messages"].clone(),
            statements,
            scoping,
        )
    };
    let expect = |messages: &Value, from: usize| {
        for (n, edge) in messages["edges"].as_array().unwrap().iter().enumerate() {
            let i = from + n;
            let node = &edge["node"];
            assert_eq!(node["id"], conv.message_ids[i].as_str());
            let urls: Vec<String> = (0..i)
                .map(|p| format!("https://cdn.example/{i}-{p}"))
                .collect();
            assert_eq!(
                node["attachments"],
                json!(urls.iter().map(|u| json!({"url": u})).collect::<Vec<_>>()),
                "message {i}"
            );
            let reactions = if i % 2 == 1 && i != 5 {
                json!([{"emoji": format!("e{i}")}])
            } else {
                json!([])
            };
            assert_eq!(node["reactions"], reactions, "message {i}");
        }
    };
    // The ticket, the page, its attachments, its reactions and the customer (the last
    // four read beside the ticket, by its id), once each, on one checkout.
    let (latest, statements, scoping) = page(3, Value::Null).await;
    expect(&latest, 3);
    assert_eq!(statements, 5, "{statements} statements");
    assert_eq!(scoping, 1, "{scoping} checkouts");
    let (earlier, statements, _) = page(3, latest["pageInfo"]["startCursor"].clone()).await;
    expect(&earlier, 0);
    assert_eq!(earlier["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(statements, 5, "{statements} statements");
}

/// What a ticket's selection reads in the ticket's own round is only what the selection
/// asks for: two pages of the same conversation, a page whose arguments are refused, and
/// a ticket of another org each get their own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_read_beside_their_ticket_are_the_pages_asked_for() {
    let (app, admin, channel) = setup().await;
    let conv = dana(&app, &admin, &channel, 4).await;
    let data = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!, $t: ID!) { org(id: $o) { ticket(id: $t) { customer { name }
               old: messages(first: 1) { edges { node { id } } }
               new: messages(last: 2) { edges { node { id } } } } } }",
            json!({"o": admin.org_id, "t": conv.ticket_id}),
        )
        .await;
    let ticket = &data["org"]["ticket"];
    assert_eq!(ticket["customer"]["name"], "Dana");
    assert_eq!(ids(&ticket["old"]), conv.message_ids[..1].to_vec());
    assert_eq!(ids(&ticket["new"]), conv.message_ids[2..].to_vec());

    let refused = app
        .graphql(
            Some(&admin.token),
            "query($o: ID!, $t: ID!) { org(id: $o) { ticket(id: $t) { id
               messages(first: 1, last: 1) { edges { node { id } } } } } }",
            json!({"o": admin.org_id, "t": conv.ticket_id}),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");

    // A member of both orgs asks one org for the other's ticket: it is not there, though
    // its rows are visible to them.
    let other = app.signup("Other Shop", "cleo@example.com").await;
    app.join(&admin, "ana@example.com", &other, "AGENT").await;
    let data = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!, $p: ID!, $t: ID!) {
               other: org(id: $o) { ticket(id: $t) { customer { name } messages(last: 2) { edges { node { id } } } } }
               own: org(id: $p) { ticket(id: $t) { messages(last: 1) { edges { node { id } } } } } }",
            json!({"o": other.org_id, "p": admin.org_id, "t": conv.ticket_id}),
        )
        .await;
    assert_eq!(data["other"]["ticket"], Value::Null, "{data}");
    assert_eq!(
        ids(&data["own"]["ticket"]["messages"]),
        conv.message_ids[3..].to_vec()
    );
}

/// The argument-free leaf fields (scalars and enums) of object type `ty`, from the
/// schema, with `__typename`.
async fn leaf_fields(app: &TestApp, session: &Session, ty: &str) -> String {
    let data = app
        .gql_ok(
            Some(&session.token),
            "query($t: String!) { __type(name: $t) { fields { name args { name }
               type { kind ofType { kind ofType { kind ofType { kind } } } } } } }",
            json!({"t": ty}),
        )
        .await;
    let mut leaves = vec!["__typename".to_owned()];
    for field in data["__type"]["fields"].as_array().unwrap() {
        let mut kind = &field["type"];
        while ["NON_NULL", "LIST"].contains(&kind["kind"].as_str().unwrap()) {
            kind = &kind["ofType"];
        }
        let leaf = ["SCALAR", "ENUM"].contains(&kind["kind"].as_str().unwrap());
        if leaf && field["args"].as_array().unwrap().is_empty() {
            leaves.push(field["name"].as_str().unwrap().to_owned());
        }
    }
    assert!(leaves.len() > 1, "{ty} has leaf fields");
    leaves.join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_leaf_field_reads_the_same_on_the_one_pass_path_and_on_async_graphqls() {
    let (app, admin, channel) = setup().await;
    let conv = dana(&app, &admin, &channel, 4).await;
    seed::conversation(
        &app,
        &admin.org_id,
        &channel,
        "Eli",
        "ig-eli",
        2,
        Utc::now(),
    )
    .await;
    // Fill the nullable columns of some rows, so both null and set values are compared.
    let (ticket, first, second) = (&conv.ticket_id, &conv.message_ids[0], &conv.message_ids[1]);
    for sql in [
        format!(
            "UPDATE tickets SET status = 'SNOOZED', snoozed_until = now(), waiting_since = now(), first_response_at = now(), \
             resolved_at = now(), last_inbound_at = now(), kind = 'COMMENT', thread_key = 'media-1' WHERE id = '{ticket}'"
        ),
        format!(
            "UPDATE messages SET error_code = 10, error_message = 'outside the window', edited_at = now(), \
             reply_to_external_id = 'm-0', is_deleted = true, context = '{{\"story\": 1}}' WHERE id = '{first}'"
        ),
        "UPDATE customers SET notes = 'vip', avatar_url = 'https://cdn.example/a', blocked_at = now() \
         WHERE name = 'Dana'"
            .to_owned(),
        "UPDATE customer_identities SET display_name = 'Dana D', profile_pic_url = 'https://cdn.example/p', \
         is_verified = true, follower_count = 12, profile_fetched_at = now() WHERE external_id = 'ig-dana'"
            .to_owned(),
        format!(
            "INSERT INTO attachments (id, org_id, message_id, position, type, url, mime_type, media_id, title) \
             SELECT gen_random_uuid(), org_id, id, 0, 'IMAGE', 'https://cdn.example/1', 'image/png', 'media-9', 'cat' \
             FROM messages WHERE id = '{second}'"
        ),
        format!(
            "INSERT INTO reactions (id, org_id, message_id, reactor_type, reactor_id, emoji, reaction, reacted_at) \
             SELECT gen_random_uuid(), org_id, id, 'CUSTOMER', 'ig-dana', '❤', 'love', now() \
             FROM messages WHERE id = '{second}'"
        ),
    ] {
        app.execute(&sql).await;
    }
    let mut leaves = std::collections::HashMap::new();
    for ty in [
        "Ticket",
        "Message",
        "Customer",
        "CustomerIdentity",
        "Channel",
        "Attachment",
        "Reaction",
        "Author",
    ] {
        leaves.insert(ty, leaf_fields(&app, &admin, ty).await);
    }
    // A selection set of `ty`: plain, or wrapped in an inline fragment, which takes
    // async-graphql's own path.
    let set = |ty: &str, children: &str, wrapped: bool| {
        let inner = format!("{} {children}", leaves[ty]);
        if wrapped {
            format!("{{ ... on {ty} {{ {inner} }} }}")
        } else {
            format!("{{ {inner} }}")
        }
    };
    let document = |wrapped: bool| {
        let message = |children: &str| set("Message", children, wrapped);
        let channel = set("Channel", "", wrapped);
        let message_children = format!(
            "attachments {} reactions {} author {}",
            set("Attachment", "", wrapped),
            set("Reaction", "", wrapped),
            set("Author", "", wrapped)
        );
        let customer = set(
            "Customer",
            &format!(
                "identities {}",
                set("CustomerIdentity", &format!("channel {channel}"), wrapped)
            ),
            wrapped,
        );
        let ticket = set(
            "Ticket",
            &format!(
                "customer {customer} channel {channel} lastMessage {} \
                 messages(last: 10) {{ edges {{ node {} }} }}",
                message(""),
                message(&message_children)
            ),
            wrapped,
        );
        format!(
            "query($o: ID!) {{ org(id: $o) {{ tickets(first: 5) {{ edges {{ node {ticket} }} }} }} }}"
        )
    };
    let read = async |wrapped: bool| {
        app.gql_ok(
            Some(&admin.token),
            &document(wrapped),
            json!({"o": admin.org_id}),
        )
        .await
    };
    let (one_pass, own_path) = (read(false).await, read(true).await);
    assert_eq!(one_pass, own_path);
    // The comparison covered set values of every kind.
    let text = one_pass.to_string();
    for expected in [
        "vip",
        "outside the window",
        "Dana D",
        "image/png",
        "love",
        "media-1",
        "\"followerCount\":12",
    ] {
        assert!(text.contains(expected), "{expected} is in {text}");
    }
}

/// A page of tickets read beside the checkout's scoping is only ever the page the field
/// asks for, of the org it asks in: orgs side by side, two pages of one org, arguments
/// the field refuses, cursors from variables, and an org the caller is not a member of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_tickets_read_beside_the_scoping_are_the_pages_asked_for() {
    let (app, admin, channel) = setup().await;
    let other = app.signup("Other Shop", "cleo@example.com").await;
    let other_channel = app
        .create_channel(&other, "INSTAGRAM", "17841400000000011", "s")
        .await;
    let now = Utc::now();
    let mut own = Vec::new();
    let mut theirs = Vec::new();
    for i in 0..4 {
        let at = now - Duration::minutes(i);
        own.push(
            seed::conversation(
                &app,
                &admin.org_id,
                &channel,
                &format!("A{i}"),
                &format!("a-{i}"),
                1,
                at,
            )
            .await
            .ticket_id,
        );
        theirs.push(
            seed::conversation(
                &app,
                &other.org_id,
                &other_channel,
                &format!("B{i}"),
                &format!("b-{i}"),
                1,
                at,
            )
            .await
            .ticket_id,
        );
    }

    // Not a member yet: the other org is FORBIDDEN, and nothing of it comes back.
    let refused = app
        .graphql(
            Some(&admin.token),
            "query($o: ID!) { org(id: $o) { tickets(first: 3) { edges { node { id } } } } }",
            json!({"o": other.org_id}),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    assert_eq!(refused["data"], Value::Null, "{refused}");

    app.join(&admin, "ana@example.com", &other, "AGENT").await;
    let data = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!, $p: ID!) {
               own: org(id: $o) { tickets(first: 2) { edges { node { id } } } }
               theirs: org(id: $p) { tickets(first: 3) { edges { node { id } } } } }",
            json!({"o": admin.org_id, "p": other.org_id}),
        )
        .await;
    assert_eq!(ids(&data["own"]["tickets"]), own[..2].to_vec());
    assert_eq!(ids(&data["theirs"]["tickets"]), theirs[..3].to_vec());

    let data = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!) { org(id: $o) {
               x: tickets(first: 1) { edges { node { id } } }
               y: tickets(first: 3, status: OPEN) { edges { node { id } } pageInfo { endCursor } } } }",
            json!({"o": admin.org_id}),
        )
        .await;
    assert_eq!(ids(&data["org"]["x"]), own[..1].to_vec());
    assert_eq!(ids(&data["org"]["y"]), own[..3].to_vec());

    let cursor = &data["org"]["y"]["pageInfo"]["endCursor"];
    let data = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!, $after: String) { org(id: $o) {
               tickets(first: 3, after: $after) { edges { node { id } } } } }",
            json!({"o": admin.org_id, "after": cursor}),
        )
        .await;
    assert_eq!(ids(&data["org"]["tickets"]), own[3..].to_vec());

    let refused = app
        .graphql(
            Some(&admin.token),
            "query($o: ID!, $u: ID!) { org(id: $o) {
               tickets(assignee: ME, assigneeId: $u) { edges { node { id } } } } }",
            json!({"o": admin.org_id, "u": admin.user_id}),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
}
