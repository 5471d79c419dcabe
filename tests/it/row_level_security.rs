//! PostgreSQL row-level security, the second wall: what a pooled connection of the server
//! sees when a query forgets its own `org_id` filter.

use chrono::Utc;
use delightchat::db::PooledConn;
use delightchat::db::ids::UserId;
use delightchat::db::scope::Scope;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};

use crate::support::{TestApp, seed};

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut PooledConn, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<N>(&mut **conn)
        .await
        .unwrap()
        .n
}

/// Rows of each table that has an owner, as `conn` sees them, with no filter at all.
async fn visible_rows(conn: &mut PooledConn) -> Vec<(&'static str, i64)> {
    let mut seen = Vec::new();
    for table in [
        "orgs",
        "users",
        "memberships",
        "refresh_tokens",
        "channels",
        "customers",
        "customer_identities",
        "tickets",
        "messages",
        "notifications",
        "events",
        "webhook_events",
    ] {
        let n = count(conn, &format!("SELECT count(*) AS n FROM {table}")).await;
        seen.push((table, n));
    }
    seen
}

/// Two orgs, each with a channel and a conversation of two messages.
async fn two_orgs_with_conversations(app: &TestApp) -> (String, String) {
    let a = app.signup("Acme", "ana@example.com").await;
    let b = app.signup("Globex", "bo@example.com").await;
    for (session, account, customer) in [
        (&a, "17841400000000031", "ig-acme"),
        (&b, "17841400000000032", "ig-globex"),
    ] {
        let channel = app.create_channel(session, "INSTAGRAM", account, "s").await;
        seed::conversation(app, &session.org_id, &channel, "C", customer, 2, Utc::now()).await;
    }
    (a.user_id, b.user_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_without_the_org_setting_sees_nothing_and_writes_nothing() {
    let app = TestApp::new().await;
    let (ana, _) = two_orgs_with_conversations(&app).await;
    assert!(app.count("SELECT count(*) AS n FROM messages").await >= 4);

    // Scoped to nobody, and with the settings removed altogether.
    let mut conn = app.state.pool().checkout(Scope::Nothing).await.unwrap();
    for (table, n) in visible_rows(&mut conn).await {
        assert_eq!(n, 0, "{table} without a scope");
    }
    conn.batch_execute("RESET delightchat.scope; RESET delightchat.user_id")
        .await
        .unwrap();
    for (table, n) in visible_rows(&mut conn).await {
        assert_eq!(n, 0, "{table} without the settings");
    }
    // Nor can it write a row of an org, even naming one.
    let insert = diesel::sql_query(
        "INSERT INTO labels (id, org_id, name, colour) \
         SELECT gen_random_uuid(), org_id, 'x', '#000000' FROM memberships \
         WHERE user_id = $1::uuid",
    )
    .bind::<Text, _>(&ana)
    .execute(&mut *conn)
    .await;
    assert_eq!(
        insert.ok(),
        Some(0),
        "memberships are invisible, so nothing to insert"
    );
    let forced = diesel::sql_query(
        "INSERT INTO orgs (id, name, created_at) VALUES (gen_random_uuid(), 'squat', now())",
    )
    .execute(&mut *conn)
    .await;
    assert!(forced.is_err(), "a row outside the scope is refused");
    drop(conn);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM orgs WHERE name = 'squat'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_only_their_orgs_rows_even_without_a_filter() {
    let app = TestApp::new().await;
    let (ana, bo) = two_orgs_with_conversations(&app).await;
    let ana = UserId::parse(&ana).unwrap();
    let mut conn = app.state.viewer_conn(ana).await.unwrap();
    let seen = visible_rows(&mut conn).await;
    let of = |table: &str| seen.iter().find(|(t, _)| *t == table).unwrap().1;
    assert_eq!(of("orgs"), 1);
    assert_eq!(of("users"), 1, "only herself: Bo shares no org with her");
    assert_eq!(of("customers"), 1);
    assert_eq!(of("tickets"), 1);
    assert_eq!(of("messages"), 2);
    assert_eq!(
        of("webhook_events"),
        0,
        "raw deliveries are the system's only"
    );
    // Naming Bo's org or user explicitly changes nothing.
    let bos_tickets = count(
        &mut conn,
        &format!(
            "SELECT count(*) AS n FROM tickets t JOIN memberships m ON m.org_id = t.org_id \
             WHERE m.user_id = '{bo}'"
        ),
    )
    .await;
    assert_eq!(bos_tickets, 0);
    // Writing into Bo's org is refused.
    let update = diesel::sql_query("UPDATE tickets SET status = 'RESOLVED'")
        .execute(&mut *conn)
        .await
        .unwrap();
    assert_eq!(update, 1, "only her own ticket");
    drop(conn);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tickets WHERE status = 'RESOLVED'")
            .await,
        1
    );

    // The system scope (workers, webhooks) sees both.
    let mut conn = app.state.system_conn().await.unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM tickets").await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_org_list_of_a_checkout_counts_only_for_a_viewer_and_follows_memberships() {
    let app = TestApp::new().await;
    let (ana, bo) = two_orgs_with_conversations(&app).await;
    let ana = UserId::parse(&ana).unwrap();

    // The org list alone, without the viewer scope, opens nothing.
    let mut conn = app.state.viewer_conn(ana).await.unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM tickets").await,
        1
    );
    conn.batch_execute("RESET delightchat.scope").await.unwrap();
    for (table, n) in visible_rows(&mut conn).await {
        assert_eq!(n, 0, "{table} with an org list but no viewer scope");
    }
    drop(conn);

    // Adding Ana to Bo's org shows its rows from her next checkout on; removing her hides
    // them again.
    let bo = UserId::parse(&bo).unwrap();
    let add = format!(
        "INSERT INTO memberships (org_id, user_id, role, created_at)          SELECT org_id, '{}', 'AGENT', now() FROM memberships WHERE user_id = '{}'",
        ana.0, bo.0
    );
    TestApp::execute(&app, &add).await;
    let mut conn = app.state.viewer_conn(ana).await.unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM tickets").await,
        2
    );
    drop(conn);
    let remove = format!(
        "DELETE FROM memberships WHERE user_id = '{}'          AND org_id IN (SELECT org_id FROM memberships WHERE user_id = '{}')",
        ana.0, bo.0
    );
    TestApp::execute(&app, &remove).await;
    let mut conn = app.state.viewer_conn(ana).await.unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM tickets").await,
        1
    );
}

#[derive(diesel::QueryableByName)]
struct Role {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    superuser: bool,
    #[diesel(sql_type = Bool)]
    bypass: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_as_a_role_that_owns_nothing_and_every_table_has_a_policy() {
    let app = TestApp::new().await;
    let mut conn = app.state.system_conn().await.unwrap();
    let role = diesel::sql_query(
        "SELECT current_user::text AS name, rolsuper AS superuser, rolbypassrls AS bypass \
         FROM pg_roles WHERE rolname = current_user",
    )
    .get_result::<Role>(&mut *conn)
    .await
    .unwrap();
    assert_eq!(role.name, "delightchat_app");
    assert!(!role.superuser && !role.bypass);
    let owned = count(
        &mut conn,
        "SELECT count(*) AS n FROM pg_tables WHERE tableowner = current_user",
    )
    .await;
    assert_eq!(owned, 0, "the server's role must not own a table");
    // A table added by a later migration without a policy fails here.
    let unprotected = app
        .rows(
            "SELECT c.relname::text AS row FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace \
             WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p') \
               AND c.relname <> '__diesel_schema_migrations' \
               AND (NOT c.relrowsecurity \
                    OR NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))",
        )
        .await;
    assert!(
        unprotected.is_empty(),
        "tables without row-level security: {unprotected:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scoping_statement_is_prepared_once_per_connection() {
    let app = TestApp::new().await;
    let mut conn = app.state.system_conn().await.unwrap();
    // diesel prepares an uncached statement unnamed, which pg_prepared_statements omits.
    let named = "SELECT count(*) AS n FROM pg_prepared_statements \
                 WHERE statement LIKE 'SELECT set_config(''delightchat.scope''%'";
    assert_eq!(count(&mut conn, named).await, 1);
    drop(conn);
    for _ in 0..3 {
        let mut conn = app.state.system_conn().await.unwrap();
        assert_eq!(count(&mut conn, named).await, 1, "prepared again");
    }
}
