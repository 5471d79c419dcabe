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

/// Every job table that got rows is announced to the other processes once the
/// transaction that queued them has committed: a connection listening as another
/// process's workers do hears each one, and finds the announced work already visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_queued_job_is_announced_to_listening_processes_after_commit() {
    use delightchat::simulate::{Kind, Params, build};
    use diesel_async::SimpleAsyncConnection as _;
    use futures_util::StreamExt as _;

    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app
        .create_channel(&admin, "INSTAGRAM", "17841400000000101", "secret")
        .await;
    let mut listener = app.db.connect().await;
    listener
        .batch_execute(
            "LISTEN webhook_events; LISTEN outbound_jobs; LISTEN profile_jobs; LISTEN media_jobs",
        )
        .await
        .unwrap();

    // An image from a new customer: a stored delivery, then a profile to fetch and a
    // copy to make; then a reply to send.
    let params = Params {
        account_id: "17841400000000101".into(),
        from: "5500000000000011".into(),
        name: "Sam".into(),
        text: "Is the blue kettle back?".into(),
        message_id: None,
        status: "delivered".into(),
        unique: "announce".into(),
    };
    let body = build(Kind::IgImage, &params, chrono::Utc::now()).unwrap();
    assert_eq!(
        app.post_webhook(&channel, &body, "secret").await,
        StatusCode::OK
    );
    app.drain_inbound().await;
    let data = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!) { org(id: $o) { tickets(first: 1) { edges { node { id } } } } }",
            serde_json::json!({"o": admin.org_id}),
        )
        .await;
    let ticket = data["org"]["tickets"]["edges"][0]["node"]["id"].clone();
    app.gql_ok(
        Some(&admin.token),
        "mutation($o: ID!, $t: ID!) { sendMessage(orgId: $o, ticketId: $t, input: {text: \"Yes!\"}) { id } }",
        serde_json::json!({"o": admin.org_id, "t": ticket}),
    )
    .await;

    let mut heard = std::collections::BTreeMap::new();
    let mut notifications = std::pin::pin!(listener.notifications_stream());
    while heard.len() < 4 {
        let notification = tokio::time::timeout(Duration::from_secs(20), notifications.next())
            .await
            .unwrap_or_else(|_| panic!("only {heard:?} were announced"))
            .unwrap()
            .unwrap();
        // Deliveries were applied meanwhile; the other jobs wait for their workers.
        let table = notification.channel;
        let waiting = if table == "webhook_events" {
            ""
        } else {
            " WHERE state = 'PENDING'"
        };
        let visible = app
            .count(&format!("SELECT count(*) AS n FROM {table}{waiting}"))
            .await;
        heard.insert(table, visible);
    }
    assert_eq!(
        heard.into_iter().collect::<Vec<_>>(),
        [
            ("media_jobs".to_owned(), 1),
            ("outbound_jobs".to_owned(), 1),
            ("profile_jobs".to_owned(), 1),
            ("webhook_events".to_owned(), 1),
        ]
    );
}

/// A claim from the inbound queue stops before the bodies it takes exceed its byte bound
/// (counting their full length, compressed as PostgreSQL stores them or not), takes a
/// body larger than the bound alone, and leaves the rest unleased for the next claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_claim_takes_deliveries_in_order_within_its_byte_bound() {
    let app = TestApp::new().await;
    const KIB: i64 = 1024;
    for size in [400 * KIB, 400 * KIB, 400 * KIB, 2048 * KIB, 100 * KIB] {
        app.execute(&format!(
            "INSERT INTO webhook_events (body) VALUES (convert_to(repeat('x', {size}), 'UTF8'))"
        ))
        .await;
    }
    let mut conn = app.state.system_conn().await.unwrap();
    let mut claims = Vec::new();
    loop {
        let claimed = delightchat::db::webhook_events::claim(
            &mut conn,
            250,
            1024 * KIB,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        if claimed.is_empty() {
            break;
        }
        claims.push(
            claimed
                .iter()
                .map(|d| i64::try_from(d.body.len()).unwrap() / KIB)
                .collect::<Vec<_>>(),
        );
        assert!(claims.len() <= 5, "claims so far: {claims:?}");
    }
    assert_eq!(claims, [vec![400, 400], vec![400], vec![2048], vec![100]]);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM webhook_events WHERE attempts = 1 AND locked_until > now()"
        )
        .await,
        5
    );
}
