//! The team's daily workflow (issue 14): labels and inbox filters, snoozing and response
//! times, bulk updates, blocking, canned responses, mentions and reply options; each
//! mutation's role matrix and cross-tenant ids.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use delightchat::simulate::{Kind, Params, build};
use serde_json::{Value, json};

use crate::support::seed;
use crate::support::{Session, TestApp, error_code};

const SECRET: &str = "workflow-secret";
const IG: &str = "17841400000000777";

struct Org {
    admin: Session,
    agent: Session,
    channel: String,
}

async fn org(app: &TestApp, name: &str, account: &str) -> Org {
    let slug = name.to_lowercase().replace(' ', "");
    let admin = app.signup(name, &format!("admin@{slug}.example")).await;
    let agent = app
        .add_member(&admin, &format!("agent@{slug}.example"), "AGENT")
        .await;
    let channel = app
        .create_channel(&admin, "INSTAGRAM", account, SECRET)
        .await;
    Org {
        admin,
        agent,
        channel,
    }
}

/// Seeds `n` tickets (one customer each), the i-th last active `i` minutes ago.
async fn tickets(app: &TestApp, org: &Org, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let c = seed::conversation(
            app,
            &org.admin.org_id,
            &org.channel,
            &format!("Customer{i}"),
            &format!("cust-{}-{i}", &org.channel[..8]),
            1,
            Utc::now() - Duration::minutes(i as i64 + 1),
        )
        .await;
        ids.push(c.ticket_id);
    }
    ids
}

async fn create_label(app: &TestApp, who: &Session, name: &str) -> Value {
    app.graphql(
        Some(&who.token),
        "mutation($o: ID!, $i: CreateLabelInput!) { createLabel(orgId: $o, input: $i) { id name colour } }",
        json!({"o": who.org_id, "i": {"name": name, "colour": "#AA00ff"}}),
    )
    .await
}

async fn label_id(app: &TestApp, admin: &Session, name: &str) -> String {
    let r = create_label(app, admin, name).await;
    r["data"]["createLabel"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r:#}"))
        .to_owned()
}

async fn inbox(app: &TestApp, who: &Session, args: &str) -> Vec<String> {
    let q = format!(
        "query($o: ID!) {{ org(id: $o) {{ tickets({args}) {{ edges {{ node {{ id }} }} }} }} }}"
    );
    let data = app
        .gql_ok(Some(&who.token), &q, json!({"o": who.org_id}))
        .await;
    data["org"]["tickets"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn set_labels(
    app: &TestApp,
    who: &Session,
    ticket: &str,
    add: &[&str],
    remove: &[&str],
) -> Value {
    app.graphql(
        Some(&who.token),
        "mutation($o: ID!, $t: ID!, $a: [ID!]!, $r: [ID!]!) { setTicketLabels(orgId: $o, ticketId: $t, addLabelIds: $a, removeLabelIds: $r) { id labels { name } } }",
        json!({"o": who.org_id, "t": ticket, "a": add, "r": remove}),
    )
    .await
}

async fn bulk(app: &TestApp, who: &Session, ids: &[String], input: Value) -> Value {
    app.graphql(
        Some(&who.token),
        "mutation($o: ID!, $ids: [ID!]!, $i: UpdateTicketsInput!) { updateTickets(orgId: $o, ids: $ids, input: $i) { id status assignee { id } labels { name } } }",
        json!({"o": who.org_id, "ids": ids, "i": input}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_filter_the_inbox_with_assignee_me_unassigned_and_snoozed() {
    let app = TestApp::new().await;
    let org = org(&app, "Label Shop", IG).await;
    let ids = tickets(&app, &org, 3).await;
    let vip = label_id(&app, &org.admin, "VIP").await;
    let r = create_label(&app, &org.admin, "vip").await;
    assert_eq!(
        error_code(&r),
        "BAD_USER_INPUT",
        "names are unique case-insensitively"
    );
    let r = set_labels(&app, &org.agent, &ids[1], &[&vip], &[]).await;
    assert_eq!(
        r["data"]["setTicketLabels"]["labels"][0]["name"], "VIP",
        "{r:#}"
    );

    assert_eq!(
        inbox(&app, &org.agent, &format!("labelId: \"{vip}\"")).await,
        vec![ids[1].clone()]
    );
    app.gql_ok(
        Some(&org.agent.token),
        "mutation($o: ID!, $t: ID!, $a: ID) { updateTicket(orgId: $o, id: $t, input: {assigneeId: $a}) { id } }",
        json!({"o": org.agent.org_id, "t": ids[2], "a": org.agent.user_id}),
    )
    .await;
    assert_eq!(
        inbox(&app, &org.agent, "assignee: ME").await,
        vec![ids[2].clone()]
    );
    assert!(inbox(&app, &org.admin, "assignee: ME").await.is_empty());
    assert_eq!(
        inbox(&app, &org.admin, "assignee: UNASSIGNED").await,
        vec![ids[0].clone(), ids[1].clone()]
    );

    let until = (Utc::now() + Duration::hours(2)).to_rfc3339();
    let data = app
        .gql_ok(
            Some(&org.agent.token),
            "mutation($o: ID!, $t: ID!, $u: DateTime!) { snoozeTicket(orgId: $o, id: $t, until: $u) { status snoozedUntil } }",
            json!({"o": org.agent.org_id, "t": ids[0], "u": until}),
        )
        .await;
    assert_eq!(data["snoozeTicket"]["status"], "SNOOZED");
    assert_eq!(
        inbox(&app, &org.agent, "status: SNOOZED").await,
        vec![ids[0].clone()]
    );

    // Removing the label empties the filter; deleting a label removes it everywhere.
    set_labels(&app, &org.agent, &ids[1], &[], &[&vip]).await;
    assert!(
        inbox(&app, &org.agent, &format!("labelId: \"{vip}\""))
            .await
            .is_empty()
    );
    set_labels(&app, &org.agent, &ids[1], &[&vip], &[]).await;
    app.gql_ok(
        Some(&org.admin.token),
        "mutation($o: ID!, $l: ID!) { deleteLabel(orgId: $o, id: $l) { id } }",
        json!({"o": org.admin.org_id, "l": vip}),
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM ticket_labels").await,
        0
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM events WHERE kind IN ('LABEL_CHANGED', 'LABEL_DELETED')"
        )
        .await,
        2
    );
}

/// Every ticket of `org` carrying `label` (and matching `args`), page by page, two a page.
async fn label_pages(app: &TestApp, who: &Session, label: &str, args: &str) -> Vec<String> {
    let q = format!(
        "query($o: ID!, $l: ID!, $a: String) {{ org(id: $o) {{ tickets(first: 2, after: $a, labelId: $l{args}) \
         {{ edges {{ node {{ id }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}"
    );
    let (mut ids, mut after) = (Vec::new(), Value::Null);
    loop {
        let data = app
            .gql_ok(
                Some(&who.token),
                &q,
                json!({"o": who.org_id, "l": label, "a": after}),
            )
            .await;
        let page = &data["org"]["tickets"];
        for edge in page["edges"].as_array().unwrap() {
            ids.push(edge["node"]["id"].as_str().unwrap().to_owned());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            return ids;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// The org's tickets carrying `label` (and matching `and`), in inbox order, by plain SQL.
async fn labelled(app: &TestApp, label: &str, and: &str) -> Vec<String> {
    app.rows(&format!(
        "SELECT t.id::text AS row FROM tickets t JOIN ticket_labels l ON l.ticket_id = t.id \
         WHERE l.label_id = '{label}' {and} ORDER BY t.last_message_at DESC, t.id DESC"
    ))
    .await
}

/// A label's page is read one of two ways (walking the list when the label is common
/// among its first tickets, from the label's rows when it is not, or when the walk comes
/// up short); every way gives every labelled ticket once, in order, page after page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labels_pages_hold_every_labelled_ticket_whether_the_label_is_common_or_rare() {
    let app = TestApp::new().await;
    let org = org(&app, "Paging Shop", IG).await;
    let recent = tickets(&app, &org, 6).await;
    // 450 older tickets, "Old 1" the newest of them.
    app.execute(&format!(
        "INSERT INTO customers (id, org_id, name) \
         SELECT gen_random_uuid(), '{}', 'Old ' || i FROM generate_series(1, 450) i",
        org.admin.org_id
    ))
    .await;
    app.execute(&format!(
        "INSERT INTO tickets (id, org_id, channel_id, customer_id, kind, last_message_at) \
         SELECT gen_random_uuid(), org_id, '{}', id, 'DIRECT', \
         now() - interval '1 day' - substr(name, 5)::int * interval '1 minute' \
         FROM customers WHERE name LIKE 'Old %'",
        org.channel
    ))
    .await;
    let label_old = |label: &str, from: i32, to: i32| {
        format!(
            "INSERT INTO ticket_labels (org_id, ticket_id, label_id) \
             SELECT t.org_id, t.id, '{label}' FROM tickets t JOIN customers c ON c.id = t.customer_id \
             WHERE c.name LIKE 'Old %' AND substr(c.name, 5)::int BETWEEN {from} AND {to}"
        )
    };
    // With pages of two (three rows fetched), the walk checks 24 tickets and is tried for
    // a label on 24 or more.
    let common = label_id(&app, &org.admin, "Common").await;
    for ticket in [&recent[0], &recent[1], &recent[3], &recent[4], &recent[5]] {
        set_labels(&app, &org.agent, ticket, &[&common], &[]).await;
    }
    app.execute(&label_old(&common, 1, 19)).await;
    let rare = label_id(&app, &org.admin, "Rare").await;
    set_labels(&app, &org.agent, &recent[2], &[&rare], &[]).await;
    let old = label_id(&app, &org.admin, "Old").await;
    app.execute(&label_old(&old, 421, 450)).await;

    let common_all = labelled(&app, &common, "").await;
    assert_eq!(common_all.len(), 24);
    assert_eq!(common_all[..5], [0, 1, 3, 4, 5].map(|i| recent[i].clone()));
    assert_eq!(label_pages(&app, &org.agent, &common, "").await, common_all);
    assert_eq!(
        label_pages(&app, &org.agent, &rare, "").await,
        [recent[2].clone()]
    );
    let old_all = labelled(&app, &old, "").await;
    assert_eq!(old_all.len(), 30);
    assert_eq!(label_pages(&app, &org.agent, &old, "").await, old_all);

    // With a column filter too: the walk and the label's rows both honour it.
    app.gql_ok(
        Some(&org.agent.token),
        "mutation($o: ID!, $t: ID!) { updateTicket(orgId: $o, id: $t, input: {status: RESOLVED}) { id } }",
        json!({"o": org.agent.org_id, "t": recent[1]}),
    )
    .await;
    app.execute(
        "UPDATE tickets SET status = 'RESOLVED' FROM customers c \
         WHERE c.id = tickets.customer_id AND c.name IN ('Old 5', 'Old 440')",
    )
    .await;
    for label in [&common, &old] {
        let open = labelled(&app, label, "AND t.status = 'OPEN'").await;
        assert_eq!(
            label_pages(&app, &org.agent, label, ", status: OPEN").await,
            open
        );
    }
    assert_eq!(
        labelled(&app, &common, "AND t.status = 'OPEN'").await.len(),
        22
    );

    // And in the other order, the longest-waiting first (every ticket waiting since its
    // last message, each at a different minute): the old tickets lead the list now.
    app.execute("UPDATE tickets SET waiting_since = last_message_at")
        .await;
    for label in [&common, &old] {
        let mut longest_first = labelled(&app, label, "").await;
        longest_first.reverse();
        assert_eq!(
            label_pages(&app, &org.agent, label, ", sort: WAITING_SINCE").await,
            longest_first
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_inbox_filter_is_served_by_an_index_leading_with_the_org() {
    let app = TestApp::new().await;
    let rows = app
        .rows(
            "SELECT indexdef AS row FROM pg_indexes WHERE tablename IN ('tickets', 'ticket_labels') \
             AND indexdef LIKE '%(org_id, %'",
        )
        .await
        .join("\n");
    for wanted in [
        "(org_id, status, last_message_at DESC",
        "(org_id, assignee_id, last_message_at DESC",
        "(org_id, waiting_since, id)",
        "(org_id, status, waiting_since, id)",
        "(org_id, assignee_id, waiting_since, id)",
        "(org_id, team_id, waiting_since, id)",
        "ticket_labels USING btree (org_id, label_id, ticket_id)",
    ] {
        assert!(rows.contains(wanted), "no index {wanted} in\n{rows}");
    }
    // The waiting order lists waiting tickets only, so its indexes hold only those: an
    // answered ticket's summary update then writes no entry into them.
    for waiting in rows
        .lines()
        .filter(|def| def.contains("waiting_since, id)"))
    {
        assert!(
            waiting.ends_with("WHERE (waiting_since IS NOT NULL)"),
            "not partial: {waiting}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_orgs_labels_and_tickets_are_not_found() {
    let app = TestApp::new().await;
    let a = org(&app, "Alpha Shop", IG).await;
    let b = org(&app, "Beta Shop", "17841400000000888").await;
    let b_tickets = tickets(&app, &b, 1).await;
    let a_tickets = tickets(&app, &a, 1).await;
    let b_label = label_id(&app, &b.admin, "Theirs").await;
    let a_label = label_id(&app, &a.admin, "Ours").await;

    let r = app
        .graphql(
            Some(&a.admin.token),
            "mutation($o: ID!, $l: ID!) { updateLabel(orgId: $o, id: $l, input: {name: \"x\"}) { id } }",
            json!({"o": a.admin.org_id, "l": b_label}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND");
    let r = app
        .graphql(
            Some(&a.admin.token),
            "mutation($o: ID!, $l: ID!) { deleteLabel(orgId: $o, id: $l) { id } }",
            json!({"o": a.admin.org_id, "l": b_label}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND");
    assert_eq!(
        error_code(&set_labels(&app, &a.agent, &a_tickets[0], &[&b_label], &[]).await),
        "NOT_FOUND"
    );
    assert_eq!(
        error_code(&set_labels(&app, &a.agent, &b_tickets[0], &[&a_label], &[]).await),
        "NOT_FOUND"
    );
    let r = bulk(
        &app,
        &a.agent,
        &[a_tickets[0].clone(), b_tickets[0].clone()],
        json!({"status": "RESOLVED"}),
    )
    .await;
    assert_eq!(error_code(&r), "NOT_FOUND");
    let r = app
        .graphql(
            Some(&a.agent.token),
            "mutation($o: ID!, $c: ID!) { blockCustomer(orgId: $o, id: $c) { id } }",
            json!({"o": a.agent.org_id, "c": app.rows(&format!("SELECT customer_id::text AS row FROM tickets WHERE id = '{}'", b_tickets[0])).await[0]}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM ticket_labels").await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tickets WHERE status <> 'OPEN'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customers WHERE blocked_at IS NOT NULL")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM labels WHERE name = 'x'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_matrix_of_label_ticket_and_customer_mutations() {
    let app = TestApp::new().await;
    let org = org(&app, "Role Shop", IG).await;
    let ids = tickets(&app, &org, 1).await;
    // Labels are defined by admins only.
    assert_eq!(
        error_code(&create_label(&app, &org.agent, "Nope").await),
        "FORBIDDEN"
    );
    let label = label_id(&app, &org.admin, "Refund").await;
    for (who, code) in [(&org.agent, Some("FORBIDDEN")), (&org.admin, None)] {
        let r = app
            .graphql(
                Some(&who.token),
                "mutation($o: ID!, $l: ID!) { updateLabel(orgId: $o, id: $l, input: {colour: \"#00ff00\"}) { colour } }",
                json!({"o": who.org_id, "l": label}),
            )
            .await;
        match code {
            Some(code) => assert_eq!(error_code(&r), code),
            None => assert_eq!(r["data"]["updateLabel"]["colour"], "#00ff00", "{r:#}"),
        }
    }
    // Agents and admins both work tickets and customers.
    let customer = app
        .rows(&format!(
            "SELECT customer_id::text AS row FROM tickets WHERE id = '{}'",
            ids[0]
        ))
        .await
        .remove(0);
    for who in [&org.agent, &org.admin] {
        let r = set_labels(&app, who, &ids[0], &[&label], &[]).await;
        assert!(r.get("errors").is_none(), "{r:#}");
        let r = bulk(&app, who, &ids, json!({"status": "PENDING"})).await;
        assert!(r.get("errors").is_none(), "{r:#}");
        let r = app
            .graphql(
                Some(&who.token),
                "mutation($o: ID!, $t: ID!, $u: DateTime!) { snoozeTicket(orgId: $o, id: $t, until: $u) { status } }",
                json!({"o": who.org_id, "t": ids[0], "u": (Utc::now() + Duration::hours(1)).to_rfc3339()}),
            )
            .await;
        assert!(r.get("errors").is_none(), "{r:#}");
        for m in ["blockCustomer", "unblockCustomer"] {
            let r = app
                .graphql(
                    Some(&who.token),
                    &format!(
                        "mutation($o: ID!, $c: ID!) {{ {m}(orgId: $o, id: $c) {{ blocked }} }}"
                    ),
                    json!({"o": who.org_id, "c": customer}),
                )
                .await;
            assert!(r.get("errors").is_none(), "{r:#}");
        }
        let r = app
            .graphql(
                Some(&who.token),
                "mutation($o: ID!, $c: ID!, $a: [ID!]!) { setCustomerLabels(orgId: $o, customerId: $c, addLabelIds: $a) { labels { name } } }",
                json!({"o": who.org_id, "c": customer, "a": [label]}),
            )
            .await;
        assert_eq!(
            r["data"]["setCustomerLabels"]["labels"][0]["name"], "Refund",
            "{r:#}"
        );
    }
    let r = app
        .graphql(
            Some(&org.agent.token),
            "mutation($o: ID!, $l: ID!) { deleteLabel(orgId: $o, id: $l) { id } }",
            json!({"o": org.agent.org_id, "l": label}),
        )
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_update_changes_up_to_100_tickets_at_once_or_nothing() {
    let app = TestApp::new().await;
    let org = org(&app, "Bulk Shop", IG).await;
    let ids = tickets(&app, &org, 3).await;
    let label = label_id(&app, &org.admin, "Batch").await;
    let r = bulk(
        &app,
        &org.admin,
        &ids,
        json!({"status": "RESOLVED", "assigneeId": org.agent.user_id, "addLabelIds": [label]}),
    )
    .await;
    let updated = r["data"]["updateTickets"]
        .as_array()
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(updated.len(), 3);
    for (t, id) in updated.iter().zip(&ids) {
        assert_eq!(t["id"], id.as_str(), "in the order given");
        assert_eq!(t["status"], "RESOLVED");
        assert_eq!(t["assignee"]["id"], org.agent.user_id.as_str());
        assert_eq!(t["labels"][0]["name"], "Batch");
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tickets WHERE resolved_at IS NOT NULL")
            .await,
        3
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM notifications WHERE type = 'ASSIGNED'")
            .await,
        3,
        "the new assignee is told about each ticket"
    );

    // 101 ids: refused, nothing changes (even the valid ones).
    let mut many: Vec<String> = (0..98).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    many.extend(ids.iter().cloned());
    let r = bulk(&app, &org.admin, &many, json!({"status": "OPEN"})).await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    // One unknown id among valid ones: NOT_FOUND and nothing changes.
    let mut some = ids.clone();
    some.push(uuid::Uuid::new_v4().to_string());
    let r = bulk(
        &app,
        &org.admin,
        &some,
        json!({"status": "OPEN", "removeLabelIds": [label]}),
    )
    .await;
    assert_eq!(error_code(&r), "NOT_FOUND");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tickets WHERE status = 'RESOLVED'")
            .await,
        3
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM ticket_labels").await,
        3
    );
    // SNOOZED needs a time.
    let r = bulk(&app, &org.admin, &ids, json!({"status": "SNOOZED"})).await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
}

/// A customer message through the webhook, `ago` in the past; returns nothing.
async fn customer_writes(app: &TestApp, org: &Org, from: &str, ago: Duration) {
    let params = Params {
        account_id: IG.into(),
        from: from.into(),
        name: "Sam".into(),
        text: "hello?".into(),
        message_id: None,
        status: "delivered".into(),
        unique: uuid::Uuid::new_v4().simple().to_string(),
    };
    let body = build(Kind::IgDm, &params, Utc::now() - ago).unwrap();
    assert_eq!(
        app.post_webhook(&org.channel, &body, SECRET).await,
        StatusCode::OK
    );
    app.drain_inbound().await;
}

async fn ticket_of(app: &TestApp, from: &str) -> String {
    app.rows(&format!(
        "SELECT t.id::text AS row FROM tickets t JOIN customer_identities i ON i.customer_id = t.customer_id \
         WHERE i.external_id = '{from}'"
    ))
    .await
    .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snoozed_ticket_wakes_exactly_once_with_two_workers() {
    let app = TestApp::new().await;
    let org = org(&app, "Snooze Shop", IG).await;
    let ids = tickets(&app, &org, 2).await;
    for id in &ids {
        app.gql_ok(
            Some(&org.agent.token),
            "mutation($o: ID!, $t: ID!, $u: DateTime!) { snoozeTicket(orgId: $o, id: $t, until: $u) { id } }",
            json!({"o": org.agent.org_id, "t": id, "u": (Utc::now() + Duration::minutes(5)).to_rfc3339()}),
        )
        .await;
    }
    // Not due yet: nothing wakes.
    assert_eq!(
        delightchat::jobs::snooze::run_once(&app.state)
            .await
            .unwrap(),
        0
    );
    app.execute(&format!(
        "UPDATE tickets SET snoozed_until = now() - interval '1 second' WHERE id = '{}'",
        ids[0]
    ))
    .await;
    let before = app
        .count("SELECT coalesce(max(seq), 0) AS n FROM events")
        .await;
    let (one, two) = tokio::join!(
        delightchat::jobs::snooze::run_once(&app.state),
        delightchat::jobs::snooze::run_once(&app.state)
    );
    assert_eq!(
        one.unwrap() + two.unwrap(),
        1,
        "woken once between two workers"
    );
    assert_eq!(
        delightchat::jobs::snooze::run_once(&app.state)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM events WHERE seq > {before} AND kind = 'TICKET_UPDATED' AND ticket_id = '{}'",
            ids[0]
        ))
        .await,
        1
    );
    assert_eq!(
        app.rows("SELECT status AS row FROM tickets ORDER BY snoozed_until NULLS FIRST")
            .await,
        vec!["OPEN", "SNOOZED"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_message_reopens_a_snoozed_ticket_at_once_and_sets_waiting_since() {
    let app = TestApp::new().await;
    let org = org(&app, "Wake Shop", IG).await;
    customer_writes(&app, &org, "5500000000000901", Duration::minutes(10)).await;
    let ticket = ticket_of(&app, "5500000000000901").await;
    let q = "query($o: ID!, $t: ID!) { org(id: $o) { ticket(id: $t) { status waitingSince firstResponseAt snoozedUntil } } }";
    let vars = json!({"o": org.agent.org_id, "t": ticket});
    let t = app.gql_ok(Some(&org.agent.token), q, vars.clone()).await["org"]["ticket"].clone();
    assert!(t["waitingSince"].is_string(), "{t:#}");
    assert!(t["firstResponseAt"].is_null());
    app.gql_ok(
        Some(&org.agent.token),
        "mutation($o: ID!, $t: ID!, $u: DateTime!) { snoozeTicket(orgId: $o, id: $t, until: $u) { id } }",
        json!({"o": org.agent.org_id, "t": ticket, "u": (Utc::now() + Duration::days(1)).to_rfc3339()}),
    )
    .await;
    customer_writes(&app, &org, "5500000000000901", Duration::minutes(1)).await;
    let t = app.gql_ok(Some(&org.agent.token), q, vars).await["org"]["ticket"].clone();
    assert_eq!(t["status"], "OPEN", "{t:#}");
    assert!(t["snoozedUntil"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_since_is_the_oldest_unanswered_message_in_any_arrival_order() {
    let app = TestApp::new().await;
    let org = org(&app, "Wait Shop", IG).await;
    let from = "5500000000000902";
    customer_writes(&app, &org, from, Duration::minutes(3)).await;
    let ticket = ticket_of(&app, from).await;
    // The agent answers.
    app.execute(&format!(
        "UPDATE channels SET status = 'ACTIVE' WHERE id = '{}'",
        org.channel
    ))
    .await;
    let r = app
        .graphql(
            Some(&org.agent.token),
            "mutation($o: ID!, $t: ID!) { sendMessage(orgId: $o, ticketId: $t, input: {text: \"on it\"}) { id } }",
            json!({"o": org.agent.org_id, "t": ticket}),
        )
        .await;
    assert!(r.get("errors").is_none(), "{r:#}");
    let answered = app
        .count(&format!("SELECT count(*) AS n FROM tickets WHERE id = '{ticket}' AND waiting_since IS NULL AND first_response_at IS NOT NULL"))
        .await;
    assert_eq!(answered, 1);
    // A message written before the reply but delivered after it stays answered...
    customer_writes(&app, &org, from, Duration::minutes(2)).await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM tickets WHERE id = '{ticket}' AND waiting_since IS NULL"
        ))
        .await,
        1
    );
    // ...and a new one waits.
    customer_writes(&app, &org, from, Duration::seconds(-5)).await;
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM tickets WHERE id = '{ticket}' AND waiting_since > first_response_at")).await,
        1
    );
    // The WAITING_SINCE order lists only waiting tickets.
    assert_eq!(
        inbox(&app, &org.agent, "sort: WAITING_SINCE").await,
        vec![ticket.clone()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_customers_messages_are_kept_but_reopen_and_notify_nothing() {
    let app = TestApp::new().await;
    let org = org(&app, "Block Shop", IG).await;
    let from = "5500000000000903";
    customer_writes(&app, &org, from, Duration::minutes(5)).await;
    let ticket = ticket_of(&app, from).await;
    let customer = app
        .rows(&format!(
            "SELECT customer_id::text AS row FROM tickets WHERE id = '{ticket}'"
        ))
        .await
        .remove(0);
    app.gql_ok(
        Some(&org.agent.token),
        "mutation($o: ID!, $t: ID!) { updateTicket(orgId: $o, id: $t, input: {status: RESOLVED}) { id } }",
        json!({"o": org.agent.org_id, "t": ticket}),
    )
    .await;
    app.gql_ok(
        Some(&org.agent.token),
        "mutation($o: ID!, $c: ID!) { blockCustomer(orgId: $o, id: $c) { blocked } }",
        json!({"o": org.agent.org_id, "c": customer}),
    )
    .await;
    let notifications = app
        .count("SELECT coalesce(sum(count), 0)::bigint AS n FROM notifications")
        .await;
    customer_writes(&app, &org, from, Duration::minutes(1)).await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM messages WHERE ticket_id = '{ticket}'"
        ))
        .await,
        2
    );
    assert_eq!(
        app.rows(&format!(
            "SELECT status AS row FROM tickets WHERE id = '{ticket}'"
        ))
        .await,
        vec!["RESOLVED"]
    );
    assert_eq!(
        app.count("SELECT coalesce(sum(count), 0)::bigint AS n FROM notifications")
            .await,
        notifications
    );
    let data = app
        .gql_ok(
            Some(&org.agent.token),
            "query($o: ID!) { org(id: $o) { customers(blocked: true) { edges { node { id blocked } } } } }",
            json!({"o": org.agent.org_id}),
        )
        .await;
    assert_eq!(
        data["org"]["customers"]["edges"][0]["node"]["id"],
        customer.as_str()
    );
}

async fn create_canned(
    app: &TestApp,
    who: &Session,
    code: &str,
    body: &str,
    personal: bool,
) -> Value {
    app.graphql(
        Some(&who.token),
        "mutation($o: ID!, $i: CreateCannedResponseInput!) { createCannedResponse(orgId: $o, input: $i) { id shortCode personal } }",
        json!({"o": who.org_id, "i": {"shortCode": code, "body": body, "personal": personal}}),
    )
    .await
}

async fn send_note_with(app: &TestApp, who: &Session, ticket: &str, canned: &str) -> Value {
    app.graphql(
        Some(&who.token),
        "mutation($o: ID!, $t: ID!, $c: ID!) { sendMessage(orgId: $o, ticketId: $t, input: {cannedResponseId: $c, privateNote: true}) { text } }",
        json!({"o": who.org_id, "t": ticket, "c": canned}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_responses_render_placeholders_and_refuse_unknown_ones_by_name() {
    let app = TestApp::new().await;
    let org = org(&app, "Canned Shop", IG).await;
    let ids = tickets(&app, &org, 1).await;
    let r = create_canned(
        &app,
        &org.admin,
        "hi",
        "Hi {{customer.name}}, {{agent.name}} here ({{ticket.id}})",
        false,
    )
    .await;
    let id = r["data"]["createCannedResponse"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r:#}"))
        .to_owned();
    let r = send_note_with(&app, &org.agent, &ids[0], &id).await;
    assert_eq!(
        r["data"]["sendMessage"]["text"],
        format!("Hi Customer0, Member here ({})", ids[0]).as_str(),
        "{r:#}"
    );
    let r = app
        .graphql(
            Some(&org.agent.token),
            "mutation($o: ID!, $c: ID!, $t: ID!) { renderCannedResponse(orgId: $o, id: $c, ticketId: $t) }",
            json!({"o": org.agent.org_id, "c": id, "t": ids[0]}),
        )
        .await;
    assert_eq!(
        r["data"]["renderCannedResponse"],
        format!("Hi Customer0, Member here ({})", ids[0]).as_str()
    );

    // Unknown placeholders are refused when saved...
    let r = create_canned(&app, &org.admin, "bad", "Your order {{order.id}}", false).await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("{{order.id}}"),
        "{r:#}"
    );
    // ...and when sent (a body that got in another way): nothing is stored.
    app.execute(&format!(
        "UPDATE canned_responses SET body = 'Your order {{{{order.id}}}}' WHERE id = '{id}'"
    ))
    .await;
    let before = app.count("SELECT count(*) AS n FROM messages").await;
    let r = send_note_with(&app, &org.agent, &ids[0], &id).await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("{{order.id}}"),
        "{r:#}"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM messages").await,
        before
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM messages WHERE text LIKE '%{{%'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_response_role_matrix_personal_privacy_and_other_orgs() {
    let app = TestApp::new().await;
    let a = org(&app, "Alpha Canned", IG).await;
    let b = org(&app, "Beta Canned", "17841400000000888").await;
    let a_ticket = tickets(&app, &a, 1).await.remove(0);
    // Org-wide: ADMIN only; personal: anyone.
    assert_eq!(
        error_code(&create_canned(&app, &a.agent, "orgwide", "x", false).await),
        "FORBIDDEN"
    );
    let org_wide =
        create_canned(&app, &a.admin, "orgwide", "x", false).await["data"]["createCannedResponse"]
            ["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let mine = create_canned(&app, &a.agent, "mine", "y", true).await["data"]["createCannedResponse"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        error_code(&create_canned(&app, &a.agent, "mine", "z", true).await),
        "BAD_USER_INPUT"
    );
    let theirs = create_canned(&app, &b.admin, "theirs", "z", false).await["data"]["createCannedResponse"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let update = |who: &Session, id: &str| {
        let vars = json!({"o": who.org_id, "c": id});
        let token = who.token.clone();
        let app = &app;
        async move {
            app.graphql(
                Some(&token),
                "mutation($o: ID!, $c: ID!) { updateCannedResponse(orgId: $o, id: $c, input: {body: \"new\"}) { body } }",
                vars,
            )
            .await
        }
    };
    assert_eq!(error_code(&update(&a.agent, &org_wide).await), "FORBIDDEN");
    assert_eq!(
        update(&a.admin, &org_wide).await["data"]["updateCannedResponse"]["body"],
        "new"
    );
    assert_eq!(
        update(&a.agent, &mine).await["data"]["updateCannedResponse"]["body"],
        "new"
    );
    // Another member's personal response and another org's are NOT_FOUND.
    assert_eq!(error_code(&update(&a.admin, &mine).await), "NOT_FOUND");
    assert_eq!(error_code(&update(&a.admin, &theirs).await), "NOT_FOUND");
    assert_eq!(
        error_code(&send_note_with(&app, &a.admin, &a_ticket, &mine).await),
        "NOT_FOUND"
    );
    assert_eq!(
        error_code(&send_note_with(&app, &a.admin, &a_ticket, &theirs).await),
        "NOT_FOUND"
    );
    let r = app
        .graphql(
            Some(&a.admin.token),
            "mutation($o: ID!, $c: ID!) { deleteCannedResponse(orgId: $o, id: $c) { id } }",
            json!({"o": a.admin.org_id, "c": theirs}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND");
    let list = |who: &Session| {
        let vars = json!({"o": who.org_id});
        let token = who.token.clone();
        let app = &app;
        async move {
            let d = app
                .gql_ok(
                    Some(&token),
                    "query($o: ID!) { org(id: $o) { cannedResponses { shortCode } } }",
                    vars,
                )
                .await;
            d["org"]["cannedResponses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["shortCode"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(&a.agent).await, vec!["mine", "orgwide"]);
    assert_eq!(list(&a.admin).await, vec!["orgwide"]);
    assert_eq!(list(&b.admin).await, vec!["theirs"]);
    // The personal response's events reach only its owner.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM events WHERE kind LIKE 'CANNED%' AND user_id = '{}'",
            a.agent.user_id
        ))
        .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_in_a_note_notify_exactly_the_mentioned_members_of_the_org() {
    let app = TestApp::new().await;
    let a = org(&app, "Mention Shop", IG).await;
    let b = org(&app, "Other Shop", "17841400000000888").await;
    let third = app
        .add_member(&a.admin, "carol@mentionshop.example", "AGENT")
        .await;
    let ticket = tickets(&app, &a, 1).await.remove(0);
    let note = |text: &str| {
        let vars = json!({"o": a.admin.org_id, "t": ticket, "x": text});
        let token = a.admin.token.clone();
        let app = &app;
        async move {
            app.gql_ok(
                Some(&token),
                "mutation($o: ID!, $t: ID!, $x: String!) { sendMessage(orgId: $o, ticketId: $t, input: {text: $x, privateNote: true}) { isPrivateNote } }",
                vars,
            )
            .await
        }
    };
    // The agent by email local part, an outsider by full email, the author themself.
    note("@agent please check; also @agent@othershop.example and @admin").await;
    let mention_rows = |user: &str| {
        format!(
            "SELECT count(*) AS n FROM notifications WHERE type = 'MENTION' AND user_id = '{user}'"
        )
    };
    assert_eq!(app.count(&mention_rows(&a.agent.user_id)).await, 1);
    assert_eq!(
        app.count(&mention_rows(&b.agent.user_id)).await,
        0,
        "not a member of the org"
    );
    assert_eq!(
        app.count(&mention_rows(&a.admin.user_id)).await,
        0,
        "not the author"
    );
    assert_eq!(
        app.count(&mention_rows(&third.user_id)).await,
        0,
        "not mentioned"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM notifications WHERE type = 'MENTION'")
            .await,
        1
    );
    // A second mention coalesces into the unread notification; carol gets her own.
    note("@AGENT and @carol@mentionshop.example").await;
    assert_eq!(
        app.count(&format!("SELECT sum(count)::bigint AS n FROM notifications WHERE type = 'MENTION' AND user_id = '{}'", a.agent.user_id)).await,
        2
    );
    assert_eq!(app.count(&mention_rows(&third.user_id)).await, 1);
    // Live, to the mentioned user only; and the notes never go out.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM events WHERE kind = 'NOTIFICATION_ADDED' AND user_id = '{}'",
            a.agent.user_id
        ))
        .await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM outbound_jobs").await,
        0
    );
    let data = app
        .gql_ok(
            Some(&a.agent.token),
            "query($o: ID!) { org(id: $o) { notifications { edges { node { type } } } } }",
            json!({"o": a.agent.org_id}),
        )
        .await;
    assert_eq!(
        data["org"]["notifications"]["edges"][0]["node"]["type"],
        "MENTION"
    );
    // Org B's view has nothing of org A's notes.
    let data = app
        .gql_ok(
            Some(&b.agent.token),
            "query($o: ID!) { org(id: $o) { unreadNotificationCount } }",
            json!({"o": b.agent.org_id}),
        )
        .await;
    assert_eq!(data["org"]["unreadNotificationCount"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_options_and_send_message_agree_for_every_window_case() {
    let app = TestApp::new().await;
    let admin = app.signup("Window Shop", "admin@windowshop.example").await;
    let ig = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let wa = app
        .create_channel(&admin, "WHATSAPP", "310000000000777", SECRET)
        .await;
    let ig_human = app
        .create_channel(&admin, "MESSENGER", "104400000000777", SECRET)
        .await;
    let ig_reauth = app
        .create_channel(&admin, "INSTAGRAM", "17841400000000999", SECRET)
        .await;
    app.execute(&format!(
        "UPDATE channels SET human_agent_enabled = true WHERE id = '{ig_human}'"
    ))
    .await;
    app.execute(&format!(
        "UPDATE channels SET status = 'NEEDS_REAUTH' WHERE id = '{ig_reauth}'"
    ))
    .await;
    let h = Duration::hours;
    // (case, channel, hours since the customer's last message, blocked, expected mode)
    let cases = [
        ("fresh instagram", &ig, h(1), false, "FREE_TEXT"),
        ("instagram after 24h", &ig, h(30), false, "NONE"),
        ("instagram after 7d", &ig, h(200), false, "NONE"),
        ("fresh whatsapp", &wa, h(23), false, "FREE_TEXT"),
        ("whatsapp after 24h", &wa, h(25), false, "TEMPLATES_ONLY"),
        ("human agent fresh", &ig_human, h(2), false, "FREE_TEXT"),
        (
            "human agent after 24h",
            &ig_human,
            h(72),
            false,
            "HUMAN_AGENT",
        ),
        ("human agent after 7d", &ig_human, h(170), false, "NONE"),
        ("needs reauth", &ig_reauth, h(1), false, "NONE"),
        ("blocked customer", &ig, h(1), true, "NONE"),
    ];
    for (i, (case, channel, ago, blocked, mode)) in cases.into_iter().enumerate() {
        let c = seed::conversation(
            &app,
            &admin.org_id,
            channel,
            &format!("C{i}"),
            &format!("ext-{i}"),
            1,
            Utc::now() - ago,
        )
        .await;
        if blocked {
            app.execute(&format!(
                "UPDATE customers SET blocked_at = now() WHERE id = '{}'",
                c.customer_id
            ))
            .await;
        }
        let data = app
            .gql_ok(
                Some(&admin.token),
                "query($o: ID!, $t: ID!) { org(id: $o) { ticket(id: $t) { replyOptions { mode reason freeTextUntil humanAgentExtends } } } }",
                json!({"o": admin.org_id, "t": c.ticket_id}),
            )
            .await;
        let options = &data["org"]["ticket"]["replyOptions"];
        assert_eq!(options["mode"], mode, "{case}: {options:#}");
        let r = app
            .graphql(
                Some(&admin.token),
                "mutation($o: ID!, $t: ID!) { sendMessage(orgId: $o, ticketId: $t, input: {text: \"hello\"}) { status } }",
                json!({"o": admin.org_id, "t": c.ticket_id}),
            )
            .await;
        if mode == "FREE_TEXT" || mode == "HUMAN_AGENT" {
            assert_eq!(
                r["data"]["sendMessage"]["status"], "QUEUED",
                "{case}: {r:#}"
            );
            assert!(options["reason"].is_null(), "{case}");
            assert!(options["freeTextUntil"].is_string(), "{case}");
            assert_eq!(options["humanAgentExtends"], *channel == ig_human, "{case}");
        } else {
            assert_eq!(error_code(&r), "BAD_USER_INPUT", "{case}: {r:#}");
            assert_eq!(
                r["errors"][0]["message"], options["reason"],
                "{case}: same reason"
            );
            assert!(
                options["reason"].as_str().is_some_and(|s| !s.is_empty()),
                "{case}"
            );
        }
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND'")
            .await,
        4,
        "exactly the allowed cases were queued"
    );
}
