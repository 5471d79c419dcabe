//! What applying webhook deliveries costs in SQL statements: the processor applies a
//! claimed batch set-based, so the statements per delivery shrink as batches grow
//! instead of growing with them.

use axum::http::StatusCode;

use crate::support::{TestApp, meta};

const SECRET: &str = "test-app-secret-0001";
const IG: &str = "17841400000000101";
const T0: i64 = 1_784_900_000_000;

/// Statements run to apply, in one claimed batch, `deliveries` new-customer messages and
/// as many follow-ups from the same customers, spread over `orgs` orgs (a channel each).
async fn statements_for(orgs: usize, deliveries: usize) -> (u64, usize) {
    let app = TestApp::new().await;
    let mut channels = Vec::new();
    for o in 0..orgs {
        let admin = app
            .signup(&format!("Shop {o}"), &format!("ana{o}@example.com"))
            .await;
        let account = format!("{}{o}", &IG[..IG.len() - 1]);
        let channel = app
            .create_channel(&admin, "INSTAGRAM", &account, SECRET)
            .await;
        channels.push((channel, account));
    }
    for round in 0..2 {
        for n in 0..deliveries {
            let (channel, account) = &channels[n % orgs];
            let at = T0 + (round * 1_000_000 + n) as i64;
            let body = meta::message(
                false,
                account,
                &format!("55{n}"),
                &format!("mid-{round}-{n}"),
                "hello",
                at,
            );
            let bytes = serde_json::to_vec(&body).unwrap();
            assert_eq!(
                app.post_webhook(channel, &bytes, SECRET).await,
                StatusCode::OK
            );
        }
    }
    let before = app.state.query_count();
    app.drain_inbound().await;
    let statements = app.state.query_count() - before;
    let messages = app.count("SELECT count(*) AS n FROM messages").await;
    assert_eq!(messages, 2 * deliveries as i64);
    (statements, 2 * deliveries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_a_batch_of_deliveries_costs_a_constant_number_of_statements() {
    let (small, small_deliveries) = statements_for(1, 5).await;
    let (large, large_deliveries) = statements_for(1, 50).await;
    println!(
        "{small} statements for {small_deliveries} deliveries, {large} for {large_deliveries}: \
         {:.2} per delivery",
        large as f64 / large_deliveries as f64
    );
    // Customers, tickets, messages, summaries and notifications are each written once per
    // batch, not once per delivery.
    assert!(
        large <= small + 2,
        "{small} for {small_deliveries}, {large} for {large_deliveries}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_spread_over_several_orgs_costs_what_one_orgs_batch_costs() {
    let (one, _) = statements_for(1, 20).await;
    let (four, deliveries) = statements_for(4, 20).await;
    println!("{one} statements for one org, {four} for four ({deliveries} deliveries)");
    // The live-update events of all orgs are appended in one statement, not one per org.
    assert!(four <= one + 2, "{one} for one org, {four} for four");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storing_a_message_leaves_its_orgs_and_channels_rows_unlocked() {
    let app = TestApp::new().await;
    let admin = app.signup("Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let body = serde_json::to_vec(&meta::message(false, IG, "551", "mid-1", "hello", T0)).unwrap();
    assert_eq!(
        app.post_webhook(&channel, &body, SECRET).await,
        StatusCode::OK
    );
    app.drain_inbound().await;
    // Another message of the ticket. Every message of an org or a channel took FOR KEY
    // SHARE on its one row, which a FOR UPDATE waits for.
    assert_write_leaves_rows_unlocked(
        &app,
        "INSERT INTO messages (id, org_id, ticket_id, channel_id, direction, kind, author_type, \
                               text, status, sent_at) \
         SELECT gen_random_uuid(), org_id, ticket_id, channel_id, direction, kind, author_type, \
                'again', status, now() FROM messages",
        &["orgs", "channels"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storing_a_delivery_leaves_its_channels_row_unlocked() {
    let app = TestApp::new().await;
    let admin = app.signup("Shop", "ana@example.com").await;
    app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    // A delivery received on the channel's URL, stored as the webhook route's committers
    // store it. They store every delivery of a channel, four batches at a time; each row
    // took FOR KEY SHARE on the channel's one row.
    assert_write_leaves_rows_unlocked(
        &app,
        "INSERT INTO webhook_events (channel_id, secret_fingerprint, body) \
         SELECT id, app_secret_fingerprint, convert_to('{}', 'UTF8') FROM channels",
        &["channels"],
    )
    .await;
}

/// Runs `write` in a transaction left open, then fails unless every row of `tables` can
/// be locked FOR UPDATE at once from a connection of its own (the write holds no lock on
/// any of them).
async fn assert_write_leaves_rows_unlocked(app: &TestApp, write: &str, tables: &[&str]) {
    use diesel_async::SimpleAsyncConnection as _;

    let mut writer = app.db.connect().await;
    writer
        .batch_execute(&format!("BEGIN; {write}"))
        .await
        .unwrap();
    let mut other = app.db.connect().await;
    for table in tables {
        let locked = other
            .batch_execute(&format!("SELECT 1 FROM {table} FOR UPDATE NOWAIT"))
            .await;
        assert!(
            locked.is_ok(),
            "{write} locked its row of {table}: {locked:?}"
        );
    }
    writer.batch_execute("ROLLBACK").await.unwrap();
}
