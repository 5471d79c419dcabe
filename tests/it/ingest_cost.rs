//! What applying webhook deliveries costs in SQL statements: the processor applies a
//! claimed batch set-based, so the statements per delivery shrink as batches grow
//! instead of growing with them.

use axum::http::StatusCode;

use crate::support::{TestApp, meta};

const SECRET: &str = "test-app-secret-0001";
const IG: &str = "17841400000000101";
const T0: i64 = 1_784_900_000_000;

/// Statements run to apply `deliveries` new-customer messages and as many follow-ups
/// from the same customers, in one claimed batch.
async fn statements_for(deliveries: usize) -> (u64, usize) {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    for round in 0..2 {
        for n in 0..deliveries {
            let at = T0 + (round * 1_000_000 + n) as i64;
            let body = meta::message(
                false,
                IG,
                &format!("55{n}"),
                &format!("mid-{round}-{n}"),
                "hello",
                at,
            );
            let bytes = serde_json::to_vec(&body).unwrap();
            assert_eq!(
                app.post_webhook(&channel, &bytes, SECRET).await,
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
    let (small, small_deliveries) = statements_for(5).await;
    let (large, large_deliveries) = statements_for(50).await;
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
