//! Members, sessions, teams and auto-assignment: who may do what, what a removal or a
//! revoked session stops, and that concurrent auto-assignment never puts an agent over
//! capacity nor skips one while another holds more.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Value, json};

use crate::support::process::eventually;
use crate::support::seed;
use crate::support::test_app::{PASSWORD, Session};
use crate::support::ws::WsClient;
use crate::support::{TestApp, error_code};

const IG: &str = "17841400000000140";
const SECRET: &str = "team-secret";

async fn create_team(app: &TestApp, admin: &Session, name: &str, auto: bool, cap: i32) -> String {
    let data = app
        .gql_ok(
            Some(&admin.token),
            "mutation($o: ID!, $i: CreateTeamInput!) { createTeam(orgId: $o, input: $i) { id } }",
            json!({"o": admin.org_id, "i": {"name": name, "autoAssign": auto, "maxOpenTickets": cap}}),
        )
        .await;
    data["createTeam"]["id"].as_str().unwrap().to_owned()
}

async fn add_to_team(app: &TestApp, admin: &Session, team: &str, user: &str, cap: Option<i32>) {
    app.gql_ok(
        Some(&admin.token),
        "mutation($o: ID!, $t: ID!, $u: ID!, $c: Int) { addTeamMember(orgId: $o, teamId: $t, userId: $u, maxOpenTickets: $c) { id } }",
        json!({"o": admin.org_id, "t": team, "u": user, "c": cap}),
    )
    .await;
}

async fn set_availability(app: &TestApp, member: &Session, availability: &str) -> Value {
    app.graphql(
        Some(&member.token),
        "mutation($o: ID!, $a: Availability!) { setAvailability(orgId: $o, availability: $a) { availability } }",
        json!({"o": member.org_id, "a": availability}),
    )
    .await
}

async fn availability(app: &TestApp, user: &str) -> String {
    app.rows(&format!(
        "SELECT availability AS row FROM memberships WHERE user_id = '{user}'"
    ))
    .await
    .remove(0)
}

async fn update_ticket(app: &TestApp, member: &Session, ticket: &str, input: Value) -> Value {
    app.graphql(
        Some(&member.token),
        "mutation($o: ID!, $t: ID!, $i: UpdateTicketInput!) { updateTicket(orgId: $o, id: $t, input: $i) { id status assignee { id } team { id } } }",
        json!({"o": member.org_id, "t": ticket, "i": input}),
    )
    .await
}

async fn tickets(
    app: &TestApp,
    admin: &Session,
    channel: &str,
    n: usize,
    tag: &str,
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let conv = seed::conversation(
            app,
            &admin.org_id,
            channel,
            &format!("Customer {tag}{i}"),
            &format!("ig-{tag}-{i}"),
            1,
            Utc::now(),
        )
        .await;
        ids.push(conv.ticket_id);
    }
    ids
}

/// Open (OPEN or PENDING) tickets of the team per assignee.
async fn load(app: &TestApp, team: &str) -> HashMap<String, i64> {
    app.rows(&format!(
        "SELECT assignee_id::text || '=' || count(*) AS row FROM tickets WHERE team_id = '{team}' \
         AND assignee_id IS NOT NULL AND status IN ('OPEN', 'PENDING') GROUP BY assignee_id"
    ))
    .await
    .into_iter()
    .map(|row| {
        let (user, n) = row.split_once('=').unwrap();
        (user.to_owned(), n.parse().unwrap())
    })
    .collect()
}

async fn waiting(app: &TestApp, team: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) AS n FROM tickets WHERE team_id = '{team}' AND assignee_id IS NULL AND status = 'OPEN'"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_cannot_manage_members_or_teams_and_admins_can() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let agent = app.add_member(&admin, "bo@example.com", "AGENT").await;
    let other = app.add_member(&admin, "cy@example.com", "AGENT").await;
    let team = create_team(&app, &admin, "Support", false, 5).await;
    let admin_only = [
        "mutation($o: ID!, $u: ID!) { updateMemberRole(orgId: $o, userId: $u, role: AGENT) { role } }",
        "mutation($o: ID!) { createTeam(orgId: $o, input: {name: \"Sales\"}) { id } }",
        "mutation($o: ID!, $t: ID!) { updateTeam(orgId: $o, id: $t, input: {name: \"Help\"}) { name } }",
        "mutation($o: ID!, $t: ID!, $u: ID!) { addTeamMember(orgId: $o, teamId: $t, userId: $u) { id } }",
        "mutation($o: ID!, $t: ID!, $u: ID!) { removeTeamMember(orgId: $o, teamId: $t, userId: $u) { id } }",
        "mutation($o: ID!, $u: ID!) { removeMember(orgId: $o, userId: $u) }",
        "mutation($o: ID!, $t: ID!) { deleteTeam(orgId: $o, id: $t) }",
    ];
    for query in admin_only {
        let vars = json!({"o": admin.org_id, "t": team, "u": other.user_id});
        let denied = app.graphql(Some(&agent.token), query, vars.clone()).await;
        assert_eq!(error_code(&denied), "FORBIDDEN", "{query}: {denied}");
    }
    // Joining and team changes are live events carrying their rows.
    let joined = format!(
        "SELECT count(*) AS n FROM events WHERE kind = 'MEMBER_ADDED' AND payload->'member'->>'user_id' IN ('{}', '{}')",
        agent.user_id, other.user_id
    );
    assert_eq!(app.count(&joined).await, 2);
    let created = "SELECT count(*) AS n FROM events WHERE kind = 'TEAM_CREATED' AND payload->'team'->>'name' = 'Support'";
    assert_eq!(app.count(created).await, 1);
    // Nothing changed for the agent's attempts; now the admin does each of them.
    assert_eq!(app.count("SELECT count(*) AS n FROM teams").await, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM memberships").await, 3);
    for query in admin_only {
        let vars = json!({"o": admin.org_id, "t": team, "u": other.user_id});
        app.gql_ok(Some(&admin.token), query, vars).await;
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM teams").await,
        1,
        "Sales stays"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM memberships").await, 2);
    for kind in [
        "MEMBER_UPDATED",
        "MEMBER_REMOVED",
        "TEAM_UPDATED",
        "TEAM_DELETED",
    ] {
        let n = app
            .count(&format!(
                "SELECT count(*) AS n FROM events WHERE kind = '{kind}'"
            ))
            .await;
        assert!(n >= 1, "{kind} recorded");
    }

    // What any member may do for themselves.
    assert!(
        set_availability(&app, &agent, "BUSY")
            .await
            .get("errors")
            .is_none()
    );
    assert_eq!(availability(&app, &agent.user_id).await, "BUSY");
    let changed = app
        .graphql(
            Some(&agent.token),
            "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }",
            json!({"c": PASSWORD, "n": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    let out = app
        .graphql(Some(&agent.token), "mutation { logout }", json!({}))
        .await;
    assert_eq!(out["data"]["logout"], true, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_orgs_team_ids_are_not_found_and_change_nothing() {
    let app = TestApp::new().await;
    let a = app.signup("Acme", "ana@example.com").await;
    let b = app.signup("Globex", "bo@example.com").await;
    let a_agent = app.add_member(&a, "cy@example.com", "AGENT").await;
    let a_team = create_team(&app, &a, "A Support", true, 5).await;
    let b_team = create_team(&app, &b, "B Support", true, 5).await;
    let b_channel = app.create_channel(&b, "INSTAGRAM", IG, SECRET).await;
    let b_ticket = tickets(&app, &b, &b_channel, 1, "b").await.remove(0);
    let vars = json!({"o": b.org_id, "t": a_team, "u": b.user_id, "c": b_channel, "k": b_ticket});
    let attempts = [
        "mutation($o: ID!, $t: ID!) { updateTeam(orgId: $o, id: $t, input: {name: \"pwned\"}) { id } }",
        "mutation($o: ID!, $t: ID!) { deleteTeam(orgId: $o, id: $t) }",
        "mutation($o: ID!, $t: ID!, $u: ID!) { addTeamMember(orgId: $o, teamId: $t, userId: $u) { id } }",
        "mutation($o: ID!, $t: ID!, $u: ID!) { removeTeamMember(orgId: $o, teamId: $t, userId: $u) { id } }",
        "mutation($o: ID!, $t: ID!, $k: ID!) { updateTicket(orgId: $o, id: $k, input: {teamId: $t}) { id } }",
        "mutation($o: ID!, $t: ID!, $c: ID!) { updateChannel(orgId: $o, id: $c, input: {defaultTeamId: $t}) { id } }",
    ];
    for query in attempts {
        let response = app.graphql(Some(&b.token), query, vars.clone()).await;
        assert_eq!(error_code(&response), "NOT_FOUND", "{query}: {response}");
    }
    // Another org's member cannot be put in one's team, nor removed from one's org.
    for query in [
        "mutation($o: ID!, $t: ID!, $u: ID!) { addTeamMember(orgId: $o, teamId: $t, userId: $u) { id } }",
        "mutation($o: ID!, $u: ID!) { removeMember(orgId: $o, userId: $u) }",
        "mutation($o: ID!, $u: ID!) { updateMemberRole(orgId: $o, userId: $u, role: ADMIN) { role } }",
    ] {
        let vars = json!({"o": b.org_id, "t": b_team, "u": a_agent.user_id});
        let response = app.graphql(Some(&b.token), query, vars).await;
        assert_eq!(error_code(&response), "NOT_FOUND", "{query}: {response}");
    }
    let read = app
        .gql_ok(
            Some(&b.token),
            "query($o: ID!, $t: ID!) { org(id: $o) { team(id: $t) { id } teams { id } } }",
            json!({"o": b.org_id, "t": a_team}),
        )
        .await;
    assert_eq!(read["org"]["team"], Value::Null);
    let node = "query($t: ID!) { node(id: $t) { id ... on Team { name } } }";
    let theirs = app.gql_ok(Some(&b.token), node, json!({"t": a_team})).await;
    assert_eq!(theirs["node"], Value::Null);
    let own = app.gql_ok(Some(&a.token), node, json!({"t": a_team})).await;
    assert_eq!(own["node"]["name"], "A Support");
    assert_eq!(read["org"]["teams"], json!([{"id": b_team}]));
    assert_eq!(
        app.rows(&format!(
            "SELECT name AS row FROM teams WHERE id = '{a_team}'"
        ))
        .await,
        ["A Support"]
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM team_members").await, 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tickets WHERE team_id IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_loses_access_and_their_subscription_ends() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let agent = app.add_member(&admin, "bo@example.com", "AGENT").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let ticket = tickets(&app, &admin, &channel, 1, "r").await.remove(0);
    let assigned = update_ticket(&app, &admin, &ticket, json!({"assigneeId": agent.user_id})).await;
    assert_eq!(
        assigned["data"]["updateTicket"]["assignee"]["id"],
        agent.user_id.as_str()
    );

    let addr = app.serve().await;
    let mut client = WsClient::authenticated(addr, &agent.token).await;
    client
        .subscribe(
            "1",
            "subscription($o: ID!) { inboxEvents(orgId: $o) { kind member { user { id } role } ticket { id assignee { id } } } }",
            json!({"o": agent.org_id}),
        )
        .await;
    client.subscribe("2", "{ me { id } }", json!({})).await;
    assert_eq!(
        client.next_payload("2").await["data"]["me"]["id"],
        agent.user_id.as_str()
    );

    app.gql_ok(
        Some(&admin.token),
        "mutation($o: ID!, $u: ID!) { removeMember(orgId: $o, userId: $u) }",
        json!({"o": admin.org_id, "u": agent.user_id}),
    )
    .await;

    // The very next request in the org is refused.
    let denied = app
        .graphql(
            Some(&agent.token),
            "query($o: ID!) { org(id: $o) { name } }",
            json!({"o": agent.org_id}),
        )
        .await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
    // Their ticket went back to the pool.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM tickets WHERE assignee_id = '{}'",
            agent.user_id
        ))
        .await,
        0
    );

    // The subscription sees its own removal, then ends with FORBIDDEN and `complete`.
    let mut kinds = Vec::new();
    let mut forbidden = false;
    loop {
        let message = client.json().await;
        if message["id"] != "1" {
            continue;
        }
        match message["type"].as_str() {
            Some("next") => {
                let payload = &message["payload"];
                if let Some(errors) = payload.get("errors") {
                    forbidden = errors[0]["extensions"]["code"] == "FORBIDDEN";
                } else {
                    kinds.push(payload["data"]["inboxEvents"]["kind"].clone());
                }
            }
            Some("complete") => break,
            other => panic!("unexpected {other:?}: {message}"),
        }
    }
    assert!(forbidden, "the stream ends with FORBIDDEN");
    assert_eq!(kinds.last(), Some(&json!("MEMBER_REMOVED")), "{kinds:?}");
    assert!(kinds.contains(&json!("TICKET_UPDATED")), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_can_be_neither_demoted_nor_removed_even_concurrently() {
    let app = TestApp::new().await;
    let ana = app.signup("Acme", "ana@example.com").await;
    let demote = "mutation($o: ID!, $u: ID!) { updateMemberRole(orgId: $o, userId: $u, role: AGENT) { role } }";
    let remove = "mutation($o: ID!, $u: ID!) { removeMember(orgId: $o, userId: $u) }";
    for query in [demote, remove] {
        let response = app
            .graphql(
                Some(&ana.token),
                query,
                json!({"o": ana.org_id, "u": ana.user_id}),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    }
    // Two admins demote each other at the same moment: exactly one succeeds.
    for round in 0..3 {
        let bo = app
            .add_member(&ana, &format!("bo{round}@example.com"), "ADMIN")
            .await;
        let (x, y) = tokio::join!(
            app.graphql(
                Some(&ana.token),
                demote,
                json!({"o": ana.org_id, "u": bo.user_id})
            ),
            app.graphql(
                Some(&bo.token),
                demote,
                json!({"o": ana.org_id, "u": ana.user_id})
            ),
        );
        let ok = [&x, &y]
            .iter()
            .filter(|r| r.get("errors").is_none())
            .count();
        assert_eq!(ok, 1, "one demotion wins: {x} {y}");
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM memberships WHERE org_id = '{}' AND role = 'ADMIN'",
                ana.org_id
            ))
            .await,
            1
        );
        // Restore two admins for the next round: the remaining admin promotes ana back.
        let admin = if x.get("errors").is_none() { &ana } else { &bo };
        app.gql_ok(
            Some(&admin.token),
            "mutation($o: ID!, $u: ID!) { updateMemberRole(orgId: $o, userId: $u, role: ADMIN) { role } }",
            json!({"o": ana.org_id, "u": if admin.user_id == ana.user_id { &bo.user_id } else { &ana.user_id }}),
        )
        .await;
        app.gql_ok(
            Some(&ana.token),
            remove,
            json!({"o": ana.org_id, "u": bo.user_id}),
        )
        .await;
    }
}

async fn refresh(app: &TestApp, token: &str) -> Value {
    app.graphql(
        None,
        "mutation($t: String!) { refreshToken(token: $t) { accessToken refreshToken } }",
        json!({"t": token}),
    )
    .await
}

async fn login(app: &TestApp, email: &str, password: &str, org: &str) -> Session {
    let data = app
        .gql_ok(
            None,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken user { id } } }",
            json!({"e": email, "p": password}),
        )
        .await;
    Session {
        token: data["login"]["accessToken"].as_str().unwrap().into(),
        refresh: data["login"]["refreshToken"].as_str().unwrap().into(),
        org_id: org.into(),
        user_id: data["login"]["user"]["id"].as_str().unwrap().into(),
    }
}

async fn org_name(app: &TestApp, session: &Session) -> Value {
    app.graphql(
        Some(&session.token),
        "query($o: ID!) { org(id: $o) { name } }",
        json!({"o": session.org_id}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_ends_the_subscriptions_of_that_session_only() {
    // Access is re-checked on every tick of the streams (2 s) instead of every 30 s.
    let app = TestApp::with_config(|c| c.live_access_check = Duration::ZERO).await;
    let laptop = app.signup("Acme", "ana@example.com").await;
    let phone = login(&app, "ana@example.com", PASSWORD, &laptop.org_id).await;
    let addr = app.serve().await;
    // Both streams start after the org's latest event as it is now, so each sees the next
    // one whether it commits before or after the stream opens.
    let now = app
        .count(&format!(
            "SELECT last_seq AS n FROM org_event_seqs WHERE org_id = '{}'",
            laptop.org_id
        ))
        .await;
    let events = "subscription($o: ID!, $a: String) { inboxEvents(orgId: $o, after: $a) { kind label { name } } }";
    let mut sockets = Vec::new();
    for session in [&laptop, &phone] {
        let mut socket = WsClient::authenticated(addr, &session.token).await;
        socket
            .subscribe(
                "1",
                events,
                json!({"o": laptop.org_id, "a": now.to_string()}),
            )
            .await;
        sockets.push(socket);
    }
    let label = |name: &str| {
        let (app, phone, name) = (&app, &phone, name.to_owned());
        async move {
            app.gql_ok(
                Some(&phone.token),
                "mutation($o: ID!, $n: String!) { createLabel(orgId: $o, input: { name: $n, colour: \"#336699\" }) { id } }",
                json!({"o": phone.org_id, "n": name}),
            )
            .await;
        }
    };
    // Both streams are open once they see the same event (a subscription opened after
    // the logout would be refused at once, which would prove nothing here).
    label("before").await;
    for socket in &mut sockets {
        let payload = socket.next_payload("1").await;
        assert_eq!(
            payload["data"]["inboxEvents"]["label"]["name"], "before",
            "{payload}"
        );
    }

    let out = app
        .graphql(Some(&laptop.token), "mutation { logout }", json!({}))
        .await;
    assert_eq!(out["data"]["logout"], true, "{out}");

    // The laptop's stream ends with UNAUTHENTICATED and `complete`, long before its
    // access token expires; the phone's session goes on.
    let ended = sockets[0].next_payload("1").await;
    assert_eq!(error_code(&ended), "UNAUTHENTICATED", "{ended}");
    let complete = sockets[0].json().await;
    assert_eq!(complete["type"], "complete", "{complete}");
    label("after").await;
    let payload = sockets[1].next_payload("1").await;
    assert_eq!(
        payload["data"]["inboxEvents"]["label"]["name"], "after",
        "{payload}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_that_session_only() {
    let app = TestApp::new().await;
    let laptop = app.signup("Acme", "ana@example.com").await;
    let phone = login(&app, "ana@example.com", PASSWORD, &laptop.org_id).await;

    let out = app
        .graphql(Some(&laptop.token), "mutation { logout }", json!({}))
        .await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    assert_eq!(
        error_code(&refresh(&app, &laptop.refresh).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&org_name(&app, &laptop).await),
        "UNAUTHENTICATED"
    );

    assert!(org_name(&app, &phone).await.get("errors").is_none());
    let rotated = refresh(&app, &phone.refresh).await;
    assert!(rotated.get("errors").is_none(), "{rotated}");

    // A client holding only a refresh token can end that session too.
    let tablet = login(&app, "ana@example.com", PASSWORD, &laptop.org_id).await;
    let out = app
        .graphql(
            Some(&phone.token),
            "mutation($r: String!) { logout(refreshToken: $r) }",
            json!({"r": tablet.refresh}),
        )
        .await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    assert_eq!(
        error_code(&refresh(&app, &tablet.refresh).await),
        "UNAUTHENTICATED"
    );

    // Without an access token (it expired), the refresh token alone signs out; another
    // user's refresh token cannot be named by a signed-in caller.
    let watch = login(&app, "ana@example.com", PASSWORD, &laptop.org_id).await;
    let bo = app.signup("Globex", "bo@example.com").await;
    let foreign = app
        .graphql(
            Some(&bo.token),
            "mutation($r: String!) { logout(refreshToken: $r) }",
            json!({"r": watch.refresh}),
        )
        .await;
    assert_eq!(error_code(&foreign), "BAD_USER_INPUT", "{foreign}");
    assert!(refresh(&app, &watch.refresh).await.get("errors").is_none());
    let watch = login(&app, "ana@example.com", PASSWORD, &laptop.org_id).await;
    let out = app
        .graphql(
            None,
            "mutation($r: String!) { logout(refreshToken: $r) }",
            json!({"r": watch.refresh}),
        )
        .await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    assert_eq!(
        error_code(&refresh(&app, &watch.refresh).await),
        "UNAUTHENTICATED"
    );
    let nothing = app.graphql(None, "mutation { logout }", json!({})).await;
    assert_eq!(error_code(&nothing), "UNAUTHENTICATED");
    assert_eq!(
        error_code(&org_name(&app, &tablet).await),
        "UNAUTHENTICATED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_password_ends_every_other_session() {
    let app = TestApp::new().await;
    let here = app.signup("Acme", "ana@example.com").await;
    let elsewhere = login(&app, "ana@example.com", PASSWORD, &here.org_id).await;
    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";

    let wrong = app
        .graphql(
            Some(&here.token),
            change,
            json!({"c": "not my password", "n": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(error_code(&wrong), "BAD_USER_INPUT");
    assert!(org_name(&app, &elsewhere).await.get("errors").is_none());

    app.gql_ok(
        Some(&here.token),
        change,
        json!({"c": PASSWORD, "n": "a brand new passphrase"}),
    )
    .await;
    assert_eq!(
        error_code(&refresh(&app, &elsewhere.refresh).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&org_name(&app, &elsewhere).await),
        "UNAUTHENTICATED"
    );
    // This session carries on.
    assert!(org_name(&app, &here).await.get("errors").is_none());
    assert!(refresh(&app, &here.refresh).await.get("errors").is_none());
    // Only the new password signs in.
    let old = app
        .graphql(
            None,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
            json!({"e": "ana@example.com", "p": PASSWORD}),
        )
        .await;
    assert_eq!(error_code(&old), "UNAUTHENTICATED");
    login(
        &app,
        "ana@example.com",
        "a brand new passphrase",
        &here.org_id,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_goes_offline_once_their_last_socket_has_been_closed_long_enough() {
    let app = TestApp::with_config(|c| c.agent_offline_after = Duration::ZERO).await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let agent = app.add_member(&admin, "bo@example.com", "AGENT").await;
    assert_eq!(availability(&app, &agent.user_id).await, "OFFLINE");
    let addr = app.serve().await;
    let first = WsClient::authenticated(addr, &agent.token).await;
    let second = WsClient::authenticated(addr, &agent.token).await;
    let sockets = format!(
        "SELECT coalesce(sum(sockets), 0)::bigint AS n FROM user_presence WHERE user_id = '{}'",
        agent.user_id
    );
    eventually(Duration::from_secs(10), "two sockets recorded", || async {
        app.count(&sockets).await == 2
    })
    .await;
    let set = set_availability(&app, &agent, "ONLINE").await;
    assert_eq!(
        set["data"]["setAvailability"]["availability"], "ONLINE",
        "{set}"
    );

    // One socket closes: the other keeps the agent ONLINE.
    drop(second);
    eventually(Duration::from_secs(10), "one socket left", || async {
        app.count(&sockets).await == 1
    })
    .await;
    delightchat::presence::sweep(&app.state).await.unwrap();
    assert_eq!(availability(&app, &agent.user_id).await, "ONLINE");

    // The last one closes: the sweep sets them OFFLINE, live.
    drop(first);
    eventually(Duration::from_secs(10), "no socket left", || async {
        app.count(&sockets).await == 0
    })
    .await;
    assert_eq!(delightchat::presence::sweep(&app.state).await.unwrap(), 1);
    assert_eq!(availability(&app, &agent.user_id).await, "OFFLINE");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM events WHERE kind = 'MEMBER_UPDATED' AND payload->'member'->>'availability' = 'OFFLINE' AND payload->'member'->>'user_id' = '{}'",
            agent.user_id
        ))
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignee_must_belong_to_the_tickets_team() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let inside = app.add_member(&admin, "in@example.com", "AGENT").await;
    let outside = app.add_member(&admin, "out@example.com", "AGENT").await;
    let team = create_team(&app, &admin, "Support", false, 5).await;
    add_to_team(&app, &admin, &team, &inside.user_id, None).await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let ticket = tickets(&app, &admin, &channel, 1, "t").await.remove(0);

    let refused = update_ticket(
        &app,
        &inside,
        &ticket,
        json!({"teamId": team, "assigneeId": outside.user_id}),
    )
    .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    let ok = update_ticket(
        &app,
        &inside,
        &ticket,
        json!({"teamId": team, "assigneeId": inside.user_id}),
    )
    .await;
    assert_eq!(
        ok["data"]["updateTicket"]["team"]["id"],
        team.as_str(),
        "{ok}"
    );
    let refused = update_ticket(
        &app,
        &inside,
        &ticket,
        json!({"assigneeId": outside.user_id}),
    )
    .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    // Without a team, anyone in the org may be assigned; moving the ticket to a team its
    // assignee is not in unassigns it.
    let ok = update_ticket(
        &app,
        &inside,
        &ticket,
        json!({"teamId": null, "assigneeId": outside.user_id}),
    )
    .await;
    assert_eq!(
        ok["data"]["updateTicket"]["assignee"]["id"],
        outside.user_id.as_str(),
        "{ok}"
    );
    let moved = update_ticket(&app, &inside, &ticket, json!({"teamId": team})).await;
    assert_eq!(
        moved["data"]["updateTicket"]["assignee"],
        Value::Null,
        "{moved}"
    );
}

async fn update_tickets(app: &TestApp, member: &Session, ids: &[&str], input: Value) -> Value {
    app.graphql(
        Some(&member.token),
        "mutation($o: ID!, $ids: [ID!]!, $i: UpdateTicketsInput!) { updateTickets(orgId: $o, ids: $ids, input: $i) { id assignee { id } team { id } } }",
        json!({"o": member.org_id, "ids": ids, "i": input}),
    )
    .await
}

async fn team_inbox(app: &TestApp, who: &Session, team: &str) -> Vec<String> {
    let data = app
        .gql_ok(
            Some(&who.token),
            "query($o: ID!, $t: ID) { org(id: $o) { tickets(teamId: $t) { edges { node { id } } } } }",
            json!({"o": who.org_id, "t": team}),
        )
        .await;
    let mut ids: Vec<String> = data["org"]["tickets"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_updates_keep_assignees_in_the_tickets_team_and_the_inbox_filters_by_team() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let inside = app.add_member(&admin, "in@example.com", "AGENT").await;
    let outside = app.add_member(&admin, "out@example.com", "AGENT").await;
    let team = create_team(&app, &admin, "Support", false, 5).await;
    add_to_team(&app, &admin, &team, &inside.user_id, None).await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let ids = tickets(&app, &admin, &channel, 3, "b").await;
    let (a, b) = (ids[0].as_str(), ids[1].as_str());
    update_ticket(&app, &admin, a, json!({"assigneeId": outside.user_id})).await;
    update_ticket(&app, &admin, b, json!({"assigneeId": inside.user_id})).await;

    let refused = update_tickets(
        &app,
        &inside,
        &[a, b],
        json!({"teamId": team, "assigneeId": outside.user_id}),
    )
    .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tickets WHERE team_id IS NOT NULL")
            .await,
        0
    );
    assert!(team_inbox(&app, &inside, &team).await.is_empty());

    let moved = update_tickets(&app, &inside, &[a, b], json!({"teamId": team})).await;
    let rows = moved["data"]["updateTickets"].as_array().expect("tickets");
    assert_eq!(rows[0]["team"]["id"], team.as_str(), "{moved}");
    assert_eq!(rows[0]["assignee"], Value::Null, "{moved}");
    assert_eq!(
        rows[1]["assignee"]["id"],
        inside.user_id.as_str(),
        "{moved}"
    );
    let mut expected = vec![a.to_owned(), b.to_owned()];
    expected.sort();
    assert_eq!(team_inbox(&app, &inside, &team).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channels_default_team_gets_its_new_tickets_assigned_to_an_online_agent() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let agent = app.add_member(&admin, "bo@example.com", "AGENT").await;
    let team = create_team(&app, &admin, "Instagram", true, 5).await;
    add_to_team(&app, &admin, &team, &agent.user_id, None).await;
    set_availability(&app, &agent, "ONLINE").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let set = app
        .gql_ok(
            Some(&admin.token),
            "mutation($o: ID!, $c: ID!, $t: ID!) { updateChannel(orgId: $o, id: $c, input: {defaultTeamId: $t}) { defaultTeam { id } } }",
            json!({"o": admin.org_id, "c": channel, "t": team}),
        )
        .await;
    assert_eq!(set["updateChannel"]["defaultTeam"]["id"], team.as_str());

    let body = crate::support::meta::message(
        false,
        IG,
        "ig-customer-1",
        "mid.team.1",
        "Hi!",
        1_764_300_000_000,
    );
    assert_eq!(
        app.post_webhook(&channel, body.to_string().as_bytes(), SECRET)
            .await,
        StatusCode::OK
    );
    app.drain_inbound().await;
    let rows = app
        .rows("SELECT team_id::text || ' ' || coalesce(assignee_id::text, '-') AS row FROM tickets")
        .await;
    assert_eq!(rows, [format!("{team} {}", agent.user_id)]);
    // The assignee, not the whole org, is told about it (one coalesced notification).
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM notifications WHERE user_id = '{}'",
            agent.user_id
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM notifications WHERE user_id = '{}'",
            admin.user_id
        ))
        .await,
        0
    );
}

/// Moves tickets into `team` all at once, alternating between two instances.
async fn move_in(
    instances: [&TestApp; 2],
    admin: &Session,
    team: &str,
    ids: &[String],
) -> Vec<Value> {
    let moves = ids
        .iter()
        .enumerate()
        .map(|(i, id)| update_ticket(instances[i % 2], admin, id, json!({"teamId": team})));
    futures_util::future::join_all(moves).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_auto_assignment_on_two_instances_respects_capacity_and_balances() {
    let app = TestApp::new().await;
    let other_instance = app.sibling(|_| {});
    let admin = app.signup("Acme", "ana@example.com").await;
    let mut agents = Vec::new();
    for name in ["a", "b", "c"] {
        agents.push(
            app.add_member(&admin, &format!("{name}@example.com"), "AGENT")
                .await,
        );
    }
    let team = create_team(&app, &admin, "Support", true, 4).await;
    // b may hold only 2.
    for (i, agent) in agents.iter().enumerate() {
        add_to_team(&app, &admin, &team, &agent.user_id, (i == 1).then_some(2)).await;
        set_availability(&app, agent, "ONLINE").await;
    }
    let capacity: HashMap<String, i64> = agents
        .iter()
        .enumerate()
        .map(|(i, a)| (a.user_id.clone(), if i == 1 { 2 } else { 4 }))
        .collect();
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let ids = tickets(&app, &admin, &channel, 16, "c").await;

    // Phase 1: 5 tickets enter the team at once, through two instances.
    for response in move_in([&app, &other_instance], &admin, &team, &ids[..5]).await {
        assert!(response.get("errors").is_none(), "{response}");
    }
    let mut counts: Vec<i64> = load(&app, &team).await.values().copied().collect();
    counts.sort_unstable();
    assert_eq!(counts, [1, 2, 2], "nobody skipped while another holds more");
    assert_eq!(waiting(&app, &team).await, 0);

    // Phase 2: 11 more at once: everyone fills up to capacity, the rest wait.
    for response in move_in([&app, &other_instance], &admin, &team, &ids[5..]).await {
        assert!(response.get("errors").is_none(), "{response}");
    }
    let loads = load(&app, &team).await;
    for (user, n) in &loads {
        assert!(
            *n <= capacity[user],
            "{user} holds {n} > {}",
            capacity[user]
        );
    }
    assert_eq!(loads.values().sum::<i64>(), 10);
    assert_eq!(waiting(&app, &team).await, 6);

    // Phase 3: a resolves three tickets at once: waiting ones take their place.
    let a = &agents[0];
    let mine = app
        .rows(&format!(
            "SELECT id::text AS row FROM tickets WHERE assignee_id = '{}' ORDER BY id LIMIT 3",
            a.user_id
        ))
        .await;
    let resolves: Vec<_> = mine
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let instance = if i % 2 == 0 { &app } else { &other_instance };
            update_ticket(instance, a, id, json!({"status": "RESOLVED"}))
        })
        .collect();
    for response in futures_util::future::join_all(resolves).await {
        assert!(response.get("errors").is_none(), "{response}");
    }
    assert_eq!(load(&app, &team).await[&a.user_id], 4);
    assert_eq!(waiting(&app, &team).await, 3);

    // Phase 4: a fourth agent comes online and takes what still waits.
    let d = app.add_member(&admin, "d@example.com", "AGENT").await;
    add_to_team(&app, &admin, &team, &d.user_id, None).await;
    assert_eq!(
        waiting(&app, &team).await,
        3,
        "OFFLINE members take nothing"
    );
    set_availability(&app, &d, "ONLINE").await;
    assert_eq!(load(&app, &team).await[&d.user_id], 3);
    assert_eq!(waiting(&app, &team).await, 0);
    // Every assignment was a live event.
    assert!(
        app.count("SELECT count(*) AS n FROM events WHERE kind = 'TICKET_UPDATED'")
            .await
            >= 16
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_ticket_stays_with_an_online_assignee_and_otherwise_goes_round_robin() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let team = create_team(&app, &admin, "Support", true, 5).await;
    let mut agents = HashMap::new();
    for email in ["x@example.com", "y@example.com"] {
        let agent = app.add_member(&admin, email, "AGENT").await;
        add_to_team(&app, &admin, &team, &agent.user_id, None).await;
        set_availability(&app, &agent, "ONLINE").await;
        agents.insert(agent.user_id.clone(), agent);
    }
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    app.gql_ok(
        Some(&admin.token),
        "mutation($o: ID!, $c: ID!, $t: ID!) { updateChannel(orgId: $o, id: $c, input: {defaultTeamId: $t}) { id } }",
        json!({"o": admin.org_id, "c": channel, "t": team}),
    )
    .await;
    let write = |n: i64| {
        let body = crate::support::meta::message(
            false,
            IG,
            "ig-returning",
            &format!("mid.reopen.{n}"),
            "Hello again",
            1_764_300_000_000 + n * 60_000,
        );
        let app = &app;
        let channel = channel.clone();
        async move {
            assert_eq!(
                app.post_webhook(&channel, body.to_string().as_bytes(), SECRET)
                    .await,
                StatusCode::OK
            );
            app.drain_inbound().await;
            let rows = app
                .rows("SELECT id::text || ' ' || status || ' ' || coalesce(assignee_id::text, '-') AS row FROM tickets")
                .await;
            let parts: Vec<String> = rows[0].split(' ').map(str::to_owned).collect();
            (parts[0].clone(), parts[1].clone(), parts[2].clone())
        }
    };
    let (ticket, status, first) = write(1).await;
    assert_eq!(status, "OPEN");
    let owner = &agents[&first];
    let resolved = update_ticket(&app, owner, &ticket, json!({"status": "RESOLVED"})).await;
    assert_eq!(
        resolved["data"]["updateTicket"]["status"], "RESOLVED",
        "{resolved}"
    );

    // The owner is still ONLINE: the reopened ticket stays theirs.
    let (_, status, assignee) = write(2).await;
    assert_eq!(
        (status.as_str(), assignee.as_str()),
        ("OPEN", first.as_str())
    );

    // The owner went OFFLINE: the next reopen goes to the other agent.
    update_ticket(&app, owner, &ticket, json!({"status": "RESOLVED"})).await;
    set_availability(&app, owner, "OFFLINE").await;
    let (_, status, assignee) = write(3).await;
    assert_eq!(status, "OPEN");
    assert_ne!(assignee, first);
    assert!(agents.contains_key(&assignee), "{assignee}");
}

/// Merging customers can reopen the joined conversation (the source's was open): an
/// unassigned one of an auto-assigning team then goes round-robin like any reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_reopened_by_a_customer_merge_goes_round_robin() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let team = create_team(&app, &admin, "Support", true, 5).await;
    let agent = app.add_member(&admin, "x@example.com", "AGENT").await;
    add_to_team(&app, &admin, &team, &agent.user_id, None).await;
    set_availability(&app, &agent, "ONLINE").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let conversation = async |name: &str, at| {
        seed::conversation(
            &app,
            &admin.org_id,
            &channel,
            name,
            &format!("ig-{name}"),
            1,
            at,
        )
        .await
    };
    let target = conversation("old", Utc::now() - chrono::Duration::hours(1)).await;
    let source = conversation("new", Utc::now()).await;
    let resolved = update_ticket(
        &app,
        &admin,
        &target.ticket_id,
        json!({"teamId": team, "status": "RESOLVED"}),
    )
    .await;
    assert_eq!(
        resolved["data"]["updateTicket"]["assignee"],
        Value::Null,
        "{resolved}"
    );

    let merged = app
        .gql_ok(
            Some(&admin.token),
            "mutation($o: ID!, $t: ID!, $s: ID!) { mergeCustomers(orgId: $o, targetId: $t, sourceId: $s) {
               tickets(first: 5) { nodes { id status team { id } assignee { id } } } } }",
            json!({"o": admin.org_id, "t": target.customer_id, "s": source.customer_id}),
        )
        .await;
    assert_eq!(
        merged["mergeCustomers"]["tickets"]["nodes"],
        json!([{"id": target.ticket_id, "status": "OPEN", "team": {"id": team}, "assignee": {"id": agent.user_id}}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_of_an_instance_that_stopped_heartbeating_do_not_keep_an_agent_online() {
    let app = TestApp::with_config(|c| c.agent_offline_after = Duration::from_secs(60)).await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let agent = app.add_member(&admin, "bo@example.com", "AGENT").await;
    set_availability(&app, &agent, "ONLINE").await;
    // Set long enough ago to be past the grace period.
    app.execute(&format!(
        "UPDATE memberships SET availability_changed_at = now() - interval '1 hour' WHERE user_id = '{}'",
        agent.user_id
    ))
    .await;
    // A live instance holds a socket: the agent stays ONLINE.
    let live = format!(
        "INSERT INTO user_presence (instance_id, user_id, sockets, version, seen_at) \
         VALUES (gen_random_uuid(), '{}', 2, 1, now() - interval '10 seconds')",
        agent.user_id
    );
    app.execute(&live).await;
    delightchat::presence::sweep(&app.state).await.unwrap();
    assert_eq!(availability(&app, &agent.user_id).await, "ONLINE");
    // That instance went silent minutes ago (it died with the socket open).
    app.execute("UPDATE user_presence SET seen_at = now() - interval '5 minutes'")
        .await;
    assert_eq!(delightchat::presence::sweep(&app.state).await.unwrap(), 1);
    assert_eq!(availability(&app, &agent.user_id).await, "OFFLINE");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM user_presence").await,
        0,
        "forgotten"
    );
}
