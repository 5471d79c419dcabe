//! Live updates: subscriptions over real WebSockets, fanned out in-process or through
//! real Redis, resumable with no gap and no duplicate.

use std::time::Duration;

use axum::http::StatusCode;
use delightchat::db::ids::OrgId;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::support::proxy::Proxy;
use crate::support::test_app::redis_url;
use crate::support::ws::WsClient;
use crate::support::{TestApp, fixture};

const INBOX_EVENTS: &str =
    "subscription($o: ID!, $after: String) { inboxEvents(orgId: $o, after: $after) {
    seq kind ticket { id status } message { id text direction } notification { id count } } }";
const SECRET: &str = "live-secret";
const IG: &str = "17841400000000101";

async fn kinds_until_message(client: &mut WsClient, id: &str) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let payload = client.next_payload(id).await;
        let event = payload["data"]["inboxEvents"].clone();
        let done = event["kind"] == "MESSAGE_ADDED";
        events.push(event);
        if done {
            return events;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_reaches_a_subscriber_through_the_in_process_bus() {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let addr = app.serve().await;
    let mut client = WsClient::authenticated(addr, &admin.token).await;
    client
        .subscribe("1", INBOX_EVENTS, json!({"o": admin.org_id}))
        .await;
    // A query over the socket proves the subscription is registered before we post.
    client.subscribe("2", "{ me { id } }", json!({})).await;
    assert_eq!(
        client.next_payload("2").await["data"]["me"]["id"],
        admin.user_id.as_str()
    );

    assert_eq!(
        app.post_webhook(&channel, &fixture("ig_dm_text"), SECRET)
            .await,
        StatusCode::OK
    );
    app.drain_inbound().await;
    let events = kinds_until_message(&mut client, "1").await;
    let message = events.last().unwrap();
    assert_eq!(
        message["message"]["text"],
        "Hello! Is the blue kettle back in stock?"
    );
    assert_eq!(message["ticket"]["status"], "OPEN");
    assert_eq!(events[0]["kind"], "TICKET_CREATED");
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "dense and ordered: {seqs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_on_instance_a_reaches_a_subscriber_on_instance_b_through_redis() {
    let a = TestApp::with_redis().await;
    let b = a.sibling(|_| {});
    assert!(
        b.state
            .bus()
            .wait_until_healthy(Duration::from_secs(20))
            .await,
        "redis connected"
    );
    let admin = a.signup("Kettle Shop", "ana@example.com").await;
    let channel = a.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let addr = b.serve().await;
    let mut client = WsClient::authenticated(addr, &admin.token).await;
    client
        .subscribe("1", INBOX_EVENTS, json!({"o": admin.org_id, "after": "0"}))
        .await;
    // The first delivery proves B's stream is up (it subscribes to Redis before it
    // replays); B only ever reads its outbox again on a gap, a lag, a reconnect or
    // while Redis is unhealthy, none of which happens here.
    assert_eq!(
        a.post_webhook(&channel, &fixture("ig_dm_text"), SECRET)
            .await,
        StatusCode::OK
    );
    a.drain_inbound().await;
    kinds_until_message(&mut client, "1").await;
    assert!(b.state.bus().healthy());

    assert_eq!(
        a.post_webhook(&channel, &fixture("ig_dm_image"), SECRET)
            .await,
        StatusCode::OK
    );
    a.drain_inbound().await;
    let events = kinds_until_message(&mut client, "1").await;
    assert_eq!(events.last().unwrap()["message"]["direction"], "INBOUND");
    assert_eq!(
        events.last().unwrap()["message"]["text"],
        Value::Null,
        "the photo message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_replays_exactly_the_missed_events_in_order() {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    for name in ["ig_dm_text", "ig_dm_image"] {
        app.post_webhook(&channel, &fixture(name), SECRET).await;
    }
    app.drain_inbound().await;
    let total = app.count("SELECT count(*) AS n FROM events").await;
    assert!(total >= 4, "{total}");
    let addr = app.serve().await;
    let mut client = WsClient::authenticated(addr, &admin.token).await;
    client
        .subscribe("1", INBOX_EVENTS, json!({"o": admin.org_id, "after": "2"}))
        .await;
    let mut seqs = Vec::new();
    while seqs.len() < (total - 2) as usize {
        let payload = client.next_payload("1").await;
        seqs.push(
            payload["data"]["inboxEvents"]["seq"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap(),
        );
    }
    assert_eq!(seqs, (3..=total).collect::<Vec<_>>());
    // Then it continues live.
    app.post_webhook(&channel, &fixture("ig_dm_multiple_attachments"), SECRET)
        .await;
    app.drain_inbound().await;
    let next = client.next_payload("1").await;
    assert_eq!(next["data"]["inboxEvents"]["seq"], (total + 1).to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_committed_during_a_replay_are_neither_lost_nor_doubled() {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let org = OrgId::parse(&admin.org_id).unwrap();
    let user = delightchat::db::ids::UserId::parse(&admin.user_id).unwrap();
    // Concurrent writers commit events (each marks a notification read) while a
    // subscriber replays from 0 and goes live.
    let writers = (0..4).map(|w| {
        let app_state = app.state.clone();
        tokio::spawn(async move {
            for _ in 0..50 {
                let mut conn = app_state.system_conn().await.unwrap();
                use diesel_async::AsyncConnection as _;
                let committed = conn
                    .transaction(async |conn| {
                        let mut outbox = delightchat::inbox::outbox::Outbox::default();
                        outbox.notification(
                            org,
                            delightchat::db::enums::EventKind::NotificationRead,
                            user,
                            delightchat::db::ids::NotificationId::new(),
                            None,
                        );
                        outbox.commit(conn, ()).await
                    })
                    .await
                    .unwrap();
                app_state.publish(committed);
                let _ = w;
            }
        })
    });
    let writers: Vec<_> = writers.collect();
    let mut stream = delightchat::events::stream::open(
        app.state.pool().clone(),
        app.state.bus_handle(),
        org,
        (user, None),
        Some(0),
    )
    .await
    .unwrap();
    let mut seqs = Vec::new();
    while seqs.len() < 200 {
        let event = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seqs.push(event.event.seq);
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(
        seqs,
        (1..=200).collect::<Vec<_>>(),
        "every seq once, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_mid_stream_loses_nothing() {
    let redis: std::net::SocketAddr = redis_url().trim_start_matches("redis://").parse().unwrap();
    let proxy = Proxy::start(redis).await;
    let a = TestApp::with_redis().await;
    let b = a.sibling(|c| c.redis_url = Some(format!("redis://{}", proxy.addr)));
    let admin = a.signup("Kettle Shop", "ana@example.com").await;
    let channel = a.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let org = OrgId::parse(&admin.org_id).unwrap();
    let user = delightchat::db::ids::UserId::parse(&admin.user_id).unwrap();
    let mut stream = delightchat::events::stream::open(
        b.state.pool().clone(),
        b.state.bus_handle(),
        org,
        (user, None),
        None,
    )
    .await
    .unwrap();

    proxy.cut();
    for name in ["ig_dm_text", "ig_dm_image", "ig_story_reply"] {
        a.post_webhook(&channel, &fixture(name), SECRET).await;
        a.drain_inbound().await;
    }
    let committed = a.count("SELECT count(*) AS n FROM events").await;
    let mut seqs = Vec::new();
    while (seqs.len() as i64) < committed {
        let event = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("events lost")
            .unwrap()
            .unwrap();
        seqs.push(event.event.seq);
        if seqs.len() == 3 {
            proxy.restore();
        }
    }
    assert_eq!(seqs, (1..=committed).collect::<Vec<_>>());
    a.post_webhook(&channel, &fixture("ig_postback"), SECRET)
        .await;
    a.drain_inbound().await;
    let after = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        after.event.seq,
        committed + 1,
        "and it continues after Redis is back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_orgs_streams_are_refused_and_never_leak() {
    let app = TestApp::new().await;
    let acme = app.signup("Acme", "ana@example.com").await;
    let globex = app.signup("Globex", "bo@example.com").await;
    let globex_channel = app.create_channel(&globex, "INSTAGRAM", IG, SECRET).await;
    let addr = app.serve().await;
    let mut client = WsClient::authenticated(addr, &acme.token).await;
    client
        .subscribe("x", INBOX_EVENTS, json!({"o": globex.org_id}))
        .await;
    let refused = client.json().await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "FORBIDDEN");
    client
        .subscribe("mine", INBOX_EVENTS, json!({"o": acme.org_id}))
        .await;
    client.subscribe("q", "{ me { id } }", json!({})).await;
    client.next_payload("q").await;
    app.post_webhook(&globex_channel, &fixture("ig_dm_text"), SECRET)
        .await;
    app.drain_inbound().await;
    // Acme's own stream stays silent: the next thing it sees is the ping-free reply below.
    client.subscribe("q2", "{ me { id } }", json!({})).await;
    loop {
        let next = client.json().await;
        assert_ne!(next["id"], "mine", "Globex's events leaked: {next}");
        if next["id"] == "q2" {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_get_their_close_codes() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let addr = app.serve().await;
    let init = json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {}", admin.token)}});

    let mut c = WsClient::connect(addr, "graphql-transport-ws").await;
    c.subscribe("1", "{ me { id } }", json!({})).await;
    assert_eq!(c.close_code().await, 4401, "subscribe before init");

    let mut c = WsClient::connect(addr, "graphql-transport-ws").await;
    c.send(json!({"type": "connection_init", "payload": {"authorization": "Bearer not-a-token"}}))
        .await;
    assert_eq!(c.close_code().await, 4403, "bad token");

    let mut c = WsClient::authenticated(addr, &admin.token).await;
    c.send(init.clone()).await;
    assert_eq!(c.close_code().await, 4429, "second init");

    let mut c = WsClient::authenticated(addr, &admin.token).await;
    c.subscribe("dup", INBOX_EVENTS, json!({"o": admin.org_id}))
        .await;
    c.subscribe("dup", INBOX_EVENTS, json!({"o": admin.org_id}))
        .await;
    assert_eq!(c.close_code().await, 4409, "duplicate id");

    let mut c = WsClient::authenticated(addr, &admin.token).await;
    c.send_text("{not json").await;
    assert_eq!(c.close_code().await, 4400, "garbage");

    let mut c = WsClient::authenticated(addr, &admin.token).await;
    for i in 0..21 {
        c.subscribe(&format!("s{i}"), INBOX_EVENTS, json!({"o": admin.org_id}))
            .await;
    }
    let capped = c.json().await;
    assert_eq!(
        (capped["type"].as_str(), capped["id"].as_str()),
        (Some("error"), Some("s20"))
    );

    let mut c = WsClient::connect(addr, "graphql-transport-ws").await;
    assert_eq!(c.close_code().await, 4408, "no init in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_graphql_ws_protocol_works_too() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let addr = app.serve().await;
    let mut c = WsClient::connect(addr, "graphql-ws").await;
    c.send(json!({"type": "connection_init", "payload": {"token": admin.token}}))
        .await;
    assert_eq!(c.json().await["type"], "connection_ack");
    c.send(json!({"type": "start", "id": "1", "payload": {"query": "{ me { email } }"}}))
        .await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let m = c.json().await;
        if m["type"] != "ka" {
            got.push(m);
        }
    }
    assert_eq!(got[0]["type"], "data");
    assert_eq!(got[0]["payload"]["data"]["me"]["email"], "ana@example.com");
    assert_eq!(got[1]["type"], "complete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_closes_the_socket_and_shutdown_says_going_away() {
    let app = TestApp::with_config(|c| c.access_token_ttl = Duration::from_secs(2)).await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let addr = app.serve().await;
    let mut c = WsClient::authenticated(addr, &admin.token).await;
    assert_eq!(c.close_code().await, 4498, "closed when the token expired");

    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let addr = app.serve().await;
    let mut c = WsClient::authenticated(addr, &admin.token).await;
    app.state.begin_shutdown();
    assert_eq!(c.close_code().await, 1001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_from_a_pruned_position_asks_the_client_to_refetch() {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    app.post_webhook(&channel, &fixture("ig_dm_text"), SECRET)
        .await;
    app.drain_inbound().await;
    app.execute("UPDATE events SET created_at = now() - interval '30 days'")
        .await;
    let mut conn = app.db.connect().await;
    let pruned =
        delightchat::db::events::prune(&mut conn, chrono::Utc::now() - chrono::Duration::days(7))
            .await
            .unwrap();
    assert!(pruned > 0);
    let addr = app.serve().await;
    let mut c = WsClient::authenticated(addr, &admin.token).await;
    c.subscribe("1", INBOX_EVENTS, json!({"o": admin.org_id, "after": "0"}))
        .await;
    let refused = c.json().await;
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "RESYNC_REQUIRED",
        "{refused}"
    );
    // From now on works.
    c.subscribe("2", INBOX_EVENTS, json!({"o": admin.org_id}))
        .await;
    c.subscribe("q", "{ me { id } }", json!({})).await;
    c.next_payload("q").await;
    app.post_webhook(&channel, &fixture("ig_dm_image"), SECRET)
        .await;
    app.drain_inbound().await;
    let event = c.next_payload("2").await;
    assert!(event["data"]["inboxEvents"]["seq"].is_string(), "{event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_number_each_orgs_events_in_order_and_a_missing_counter_appends_nothing() {
    use delightchat::db::enums::EventKind;
    use delightchat::db::events::{self, NewEvent};
    use diesel_async::AsyncConnection as _;
    let app = TestApp::new().await;
    let a = OrgId::parse(&app.signup("Acme", "ana@example.com").await.org_id).unwrap();
    let b = OrgId::parse(&app.signup("Globex", "bo@example.com").await.org_id).unwrap();
    let last = |org: OrgId| {
        format!(
            "SELECT last_seq AS n FROM org_event_seqs WHERE org_id = '{}'",
            org.0
        )
    };
    let (a0, b0) = (app.count(&last(a)).await, app.count(&last(b)).await);
    let event = |kind: EventKind| NewEvent {
        kind,
        ticket_id: None,
        message_id: None,
        notification_id: None,
        user_id: None,
        subject: None,
    };
    let new = vec![
        (a, event(EventKind::TicketCreated), json!({"i": 1})),
        (b, event(EventKind::TicketCreated), json!({"i": 2})),
        (a, event(EventKind::TicketUpdated), json!({"i": 3})),
        (a, event(EventKind::TicketUpdated), json!({"i": 4})),
    ];
    let mut conn = app.state.system_conn().await.unwrap();
    let stored = events::append(&mut conn, new).await.unwrap();
    let seen: Vec<(OrgId, i64, i64)> = stored
        .iter()
        .map(|e| (e.org_id, e.seq, e.payload["i"].as_i64().unwrap()))
        .collect();
    let mut expected = vec![
        (a, a0 + 1, 1),
        (a, a0 + 2, 3),
        (a, a0 + 3, 4),
        (b, b0 + 1, 2),
    ];
    expected.sort_by_key(|(org, seq, _)| (*org, *seq));
    assert_eq!(seen, expected);
    // What append returns is what was stored.
    let mut read_back = events::after(&mut conn, a, a0, 10).await.unwrap();
    read_back.extend(events::after(&mut conn, b, b0, 10).await.unwrap());
    read_back.sort_by_key(|e| (e.org_id, e.seq));
    assert_eq!(read_back, stored);
    assert_eq!(app.count(&last(a)).await, a0 + 3);
    assert_eq!(app.count(&last(b)).await, b0 + 1);

    // The events of one org take its own statement: numbered after the others, in order.
    let one_org = vec![
        (b, event(EventKind::TicketUpdated), json!({"i": 5})),
        (b, event(EventKind::MessageAdded), json!({"i": 6})),
    ];
    let stored = events::append(&mut conn, one_org).await.unwrap();
    let seen: Vec<(OrgId, i64, i64)> = stored
        .iter()
        .map(|e| (e.org_id, e.seq, e.payload["i"].as_i64().unwrap()))
        .collect();
    assert_eq!(seen, vec![(b, b0 + 2, 5), (b, b0 + 3, 6)]);
    assert_eq!(
        events::after(&mut conn, b, b0 + 1, 10).await.unwrap(),
        stored
    );
    assert_eq!(app.count(&last(b)).await, b0 + 3);

    // An org without a counter row fails the append, and with it the caller's transaction,
    // whether it comes with other orgs or alone.
    let ghost = OrgId(uuid::Uuid::new_v4());
    let before = app.count("SELECT count(*) AS n FROM events").await;
    for batch in [
        vec![
            (a, event(EventKind::TicketUpdated), json!({})),
            (ghost, event(EventKind::TicketUpdated), json!({})),
        ],
        vec![(ghost, event(EventKind::TicketUpdated), json!({}))],
    ] {
        let refused = conn
            .transaction(async |conn| events::append(conn, batch).await)
            .await;
        assert!(refused.is_err());
    }
    drop(conn);
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, before);
    assert_eq!(app.count(&last(a)).await, a0 + 3);
}
