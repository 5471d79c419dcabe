//! The background workers as they run in `serve` and `worker`: woken by new work,
//! sharing a database with other instances, stopping on shutdown.

use std::time::Duration;

use axum::http::StatusCode;
use delightchat::state::AppState;
use tokio::sync::oneshot;

use crate::support::{TestApp, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_in_another_instance_picks_up_a_delivery_and_publishes_it() {
    let api = TestApp::new().await;
    let admin = api.signup("Kettle Shop", "ana@example.com").await;
    let channel = api
        .create_channel(&admin, "INSTAGRAM", "17841400000000101", "secret")
        .await;
    // A second instance on the same database runs the workers.
    let worker = AppState::new(api.state.config().clone()).unwrap();
    let org = delightchat::db::ids::OrgId::parse(&admin.org_id).unwrap();
    let mut events = worker.bus().subscribe(org).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let workers = tokio::spawn(delightchat::workers::run(worker.clone(), async {
        let _ = stopped.await;
    }));

    assert_eq!(
        api.post_webhook(&channel, &fixture("ig_dm_text"), "secret")
            .await,
        StatusCode::OK
    );
    let mut kinds = Vec::new();
    while !kinds.contains(&"MESSAGE_ADDED".to_owned()) {
        let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("no event in time")
            .unwrap();
        kinds.push(event.event.kind.to_string());
    }
    assert!(kinds.contains(&"TICKET_CREATED".to_owned()), "{kinds:?}");
    assert_eq!(
        api.count("SELECT count(*) AS n FROM webhook_events WHERE state = 'PROCESSED'")
            .await,
        1
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), workers)
        .await
        .expect("workers did not stop")
        .unwrap()
        .unwrap();
}
