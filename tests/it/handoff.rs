//! Deliveries handed from the store straight to this process's workers: applied exactly
//! once, never over a claim taken from the queue, and anything that goes wrong is left to
//! the queue, which applies or parks it as it would have anyway.

use std::time::Duration;

use axum::http::StatusCode;
use delightchat::jobs::WorkerConfig;
use delightchat::webhooks::processor::run_once;
use serde_json::{Value, json};

use crate::support::plans::index_use_of;
use crate::support::{TestApp, fixture};

const SECRET: &str = "test-app-secret-0001";
const IG: &str = "17841400000000101";

/// An app whose workers take handed-off deliveries and, having scanned the empty queue
/// once, do not scan it again within the test (a scan period of an hour).
async fn app_with_handoff() -> (TestApp, String) {
    let app = TestApp::with_config(|c| c.inbound_scan_period = Duration::from_secs(3600)).await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    app.state.wakeups().handoff.enable();
    assert_eq!(run_once(&app.state, &worker()).await.unwrap(), 0);
    (app, channel)
}

fn worker() -> WorkerConfig {
    WorkerConfig::for_this_process()
}

/// The text DM fixture as message `n`.
fn dm(n: u32) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&fixture("ig_dm_text")).unwrap();
    body["entry"][0]["messaging"][0]["message"]["mid"] = json!(format!("handoff-mid-{n}"));
    serde_json::to_vec(&body).unwrap()
}

async fn post(app: &TestApp, channel: &str, body: &[u8]) {
    assert_eq!(
        app.post_webhook(channel, body, SECRET).await,
        StatusCode::OK
    );
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.count(sql).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handed_off_duplicates_are_applied_once_without_a_claim_from_the_queue() {
    let (app, channel) = app_with_handoff().await;
    let first = dm(1);
    let posts = (0..5).map(|_| post(&app, &channel, &first));
    futures_util::future::join_all(posts).await;
    post(&app, &channel, &dm(2)).await;
    let worker = worker();
    let (a, b) = tokio::join!(run_once(&app.state, &worker), run_once(&app.state, &worker));
    assert_eq!(
        a.unwrap() + b.unwrap(),
        6,
        "both workers took from the handoff"
    );
    assert_eq!(count(&app, "SELECT count(*) AS n FROM messages").await, 2);
    assert_eq!(
        count(&app, "SELECT inbound_count AS n FROM tickets").await,
        2
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM webhook_events WHERE state = 'PROCESSED' AND attempts = 0 \
             AND processed_by IS NOT NULL AND locked_until IS NULL"
        )
        .await,
        6,
        "every delivery processed, none claimed from the queue (a claim counts an attempt)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_the_queue_processed_first_is_not_applied_again_from_the_handoff() {
    let app = TestApp::with_config(|c| c.inbound_scan_period = Duration::from_secs(3600)).await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    app.state.wakeups().handoff.enable();
    post(&app, &channel, &dm(1)).await;
    // No scan has run yet, so the first round scans the queue and processes the delivery
    // there; the second finds it in the handoff, already taken.
    assert_eq!(run_once(&app.state, &worker()).await.unwrap(), 1);
    assert_eq!(
        count(&app, "SELECT attempts::bigint AS n FROM webhook_events").await,
        1,
        "claimed from the queue"
    );
    assert_eq!(run_once(&app.state, &worker()).await.unwrap(), 1);
    assert_eq!(run_once(&app.state, &worker()).await.unwrap(), 0);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM messages").await, 1);
    assert_eq!(
        count(&app, "SELECT inbound_count AS n FROM tickets").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_under_another_workers_lease_is_skipped_by_the_handoff() {
    let (app, channel) = app_with_handoff().await;
    post(&app, &channel, &dm(1)).await;
    let leased = {
        let mut conn = app.state.system_conn().await.unwrap();
        delightchat::db::webhook_events::claim(&mut conn, 10, 1 << 20, Duration::from_secs(60))
            .await
            .unwrap()
    };
    assert_eq!(leased.len(), 1);
    assert_eq!(run_once(&app.state, &worker()).await.unwrap(), 1);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM messages").await,
        0,
        "left to the worker holding the lease"
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM webhook_events WHERE state = 'PENDING' AND locked_until > now()"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handed_off_batch_with_a_bad_body_is_left_to_the_queue_which_parks_only_that_one() {
    let (app, channel) = app_with_handoff().await;
    post(&app, &channel, &dm(1)).await;
    post(&app, &channel, b"{\"object\": \"instagram\", \"entry\": 7}").await;
    post(&app, &channel, &dm(2)).await;
    assert_eq!(run_once(&app.state, &worker()).await.unwrap(), 3);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM messages").await,
        0,
        "nothing of the failed batch applied"
    );
    // The queue is scanned at once, not after the period.
    app.drain_inbound().await;
    assert_eq!(count(&app, "SELECT count(*) AS n FROM messages").await, 2);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM webhook_events WHERE state = 'PARKED'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM webhook_events WHERE state = 'PROCESSED'"
        )
        .await,
        2
    );
}

/// An app whose inbound queue holds `deliveries` deliveries queued after its statistics
/// were taken empty.
async fn backlog_after_empty_statistics(deliveries: u32) -> TestApp {
    let (app, _) = app_with_handoff().await;
    app.execute("ANALYZE webhook_events").await;
    app.execute(&format!(
        "INSERT INTO webhook_events (body) \
         SELECT convert_to('{{}}', 'UTF8') FROM generate_series(1, {deliveries})"
    ))
    .await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_taken_by_id_are_found_by_primary_key_whatever_the_queues_statistics_say() {
    use delightchat::db::webhook_events::{mark_processed, take_unclaimed};

    let app = backlog_after_empty_statistics(30_000).await;
    let first = count(&app, "SELECT min(id) AS n FROM webhook_events").await;
    // A batch of 250 to take as a handoff does, and another to mark as a claim's end does.
    let taking: Vec<i64> = (first..first + 250).collect();
    let marking: Vec<i64> = (first + 250..first + 500).collect();

    let mut conn = app.state.system_conn().await.unwrap();
    let ((taken, marked), claim_index) =
        index_use_of(&mut conn, "webhook_events_claim_idx", async |conn| {
            let taken = take_unclaimed(conn, &taking, "test-worker").await?;
            let marked = mark_processed(conn, &marking, "test-worker").await?;
            Ok((taken, marked))
        })
        .await
        .unwrap();
    assert_eq!((taken.len(), marked), (250, 250));
    assert_eq!(
        claim_index.scans, 0,
        "the backlog's claim index was walked to find deliveries by id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_walks_the_queue_in_order_whatever_its_statistics_say() {
    let app = backlog_after_empty_statistics(3_000).await;
    let mut conn = app.state.system_conn().await.unwrap();
    let (claimed, claim_index) =
        index_use_of(&mut conn, "webhook_events_claim_idx", async |conn| {
            delightchat::db::webhook_events::claim(conn, 250, 1 << 20, Duration::from_secs(60))
                .await
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 250);
    assert!(
        claim_index.entries <= 251,
        "a claim of 250 read {} entries of the claim index: the whole backlog",
        claim_index.entries
    );
}
