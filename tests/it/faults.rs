//! The fault suite: crashes, outages and a flaky Meta, with the invariants a trusted
//! inbox must keep (every delivery answered 200 becomes exactly one message; every reply
//! ends SENT or FAILED with a reason, never sent twice; recovery without a restart).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use delightchat::simulate::{Kind, Params, build};
use serde_json::{Value, json};
use wiremock::{Mock, Respond, ResponseTemplate};

use crate::support::process::{Process, eventually};
use crate::support::proxy::Proxy;
use crate::support::test_db::server_url;
use crate::support::{TestApp, fixture};

const SECRET: &str = "fault-secret";
const IG: &str = "17841400000000101";

fn dm(account: &str, from: &str, text: &str) -> Vec<u8> {
    let params = Params {
        account_id: account.into(),
        from: from.into(),
        name: "Sam".into(),
        text: text.into(),
        message_id: None,
        status: "delivered".into(),
        unique: uuid::Uuid::new_v4().simple().to_string(),
    };
    build(Kind::IgDm, &params, Utc::now()).unwrap()
}

fn mid_of(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap();
    value["entry"][0]["messaging"][0]["message"]["mid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn post(client: &reqwest::Client, base: &str, channel: &str, body: Vec<u8>) -> Option<u16> {
    let signature = delightchat::webhooks::signature::sign(&body, SECRET.as_bytes());
    client
        .post(format!("{base}/webhook/{channel}"))
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_in_the_middle_of_a_burst_loses_no_delivery_that_got_a_200() {
    const BURST: usize = 10_000;
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let server = Process::serve(&app.db.url(), &[], &[]).await;
    let base = server.url();
    let bodies: Vec<Vec<u8>> = (0..BURST)
        .map(|i| dm(IG, &format!("c{}", i % 500), &format!("burst {i}")))
        .collect();
    // Like Meta, posters retry a delivery until it is answered 200 (after the crash,
    // against the restarted server), so some deliveries arrive twice.
    let current = Arc::new(tokio::sync::RwLock::new(base));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let queue = Arc::new(Mutex::new(bodies));
    let mut posters = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (queue, accepted, sent, client, current, channel) = (
            queue.clone(),
            accepted.clone(),
            sent.clone(),
            client.clone(),
            current.clone(),
            channel.clone(),
        );
        posters.spawn(async move {
            loop {
                let Some(body) = queue.lock().unwrap().pop() else {
                    return;
                };
                let mid = mid_of(&body);
                sent.fetch_add(1, Ordering::SeqCst);
                for _ in 0..600 {
                    let base = current.read().await.clone();
                    if post(&client, &base, &channel, body.clone()).await == Some(200) {
                        accepted.lock().unwrap().push(mid.clone());
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
    }
    // Crash the server a third of the way through the burst, then start it again.
    eventually(Duration::from_secs(120), "a third of the burst", || {
        let sent = sent.clone();
        async move { sent.load(Ordering::SeqCst) as usize >= BURST / 3 }
    })
    .await;
    server.kill_9().await;
    let restarted = Process::serve(&app.db.url(), &[], &[]).await;
    *current.write().await = restarted.url();
    while let Some(done) = posters.join_next().await {
        done.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(
        accepted.len(),
        BURST,
        "every delivery was eventually accepted"
    );
    eventually(
        Duration::from_secs(600),
        "every stored delivery processed",
        || async {
            app.count("SELECT count(*) AS n FROM webhook_events WHERE state <> 'PROCESSED'")
                .await
                == 0
        },
    )
    .await;
    let messages = app.count("SELECT count(*) AS n FROM messages").await;
    let distinct = app
        .count("SELECT count(DISTINCT external_id) AS n FROM messages")
        .await;
    assert_eq!(messages, distinct, "no message stored twice");
    let stored: std::collections::HashSet<String> = {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            external_id: String,
        }
        let mut conn = app.db.connect().await;
        let rows: Vec<Row> = diesel::sql_query("SELECT external_id FROM messages")
            .load(&mut conn)
            .await
            .unwrap();
        rows.into_iter().map(|r| r.external_id).collect()
    };
    let missing: Vec<_> = accepted
        .iter()
        .filter(|mid| !stored.contains(*mid))
        .collect();
    assert!(
        missing.is_empty(),
        "{} deliveries answered 200 were lost",
        missing.len()
    );
    drop(restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_survived_without_a_restart() {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let pg: std::net::SocketAddr = server_url()
        .trim_start_matches("postgres://postgres@")
        .parse()
        .unwrap();
    let proxy = Proxy::start(pg).await;
    let name = app.db.url().rsplit('/').next().unwrap().to_owned();
    let through_proxy =
        app.sibling(|c| c.database_url = format!("postgres://postgres@{}/{name}", proxy.addr));
    let ready = async || {
        through_proxy
            .request(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .0
    };
    assert_eq!(ready().await, StatusCode::OK);

    proxy.cut();
    assert_eq!(ready().await, StatusCode::SERVICE_UNAVAILABLE);
    let during = through_proxy
        .post_webhook(&channel, &fixture("ig_dm_text"), SECRET)
        .await;
    assert_eq!(
        during,
        StatusCode::SERVICE_UNAVAILABLE,
        "Meta is told to retry, nothing is half-stored"
    );

    proxy.restore();
    eventually(
        Duration::from_secs(30),
        "readiness after the outage",
        || async { ready().await == StatusCode::OK },
    )
    .await;
    assert_eq!(
        through_proxy
            .post_webhook(&channel, &fixture("ig_dm_text"), SECRET)
            .await,
        StatusCode::OK
    );
    through_proxy.drain_inbound().await;
    assert_eq!(app.count("SELECT count(*) AS n FROM messages").await, 1);
    let inbox = through_proxy
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!) { org(id: $o) { tickets { edges { node { id } } } } }",
            json!({"o": admin.org_id}),
        )
        .await;
    assert_eq!(
        inbox["org"]["tickets"]["edges"].as_array().unwrap().len(),
        1
    );
}

/// A Graph API that fails 30 % of sends (500s and answers without an id) and records
/// every send it accepted, per our message id (Messenger metadata).
struct FlakyGraph {
    calls: AtomicU64,
    accepted: Mutex<HashMap<String, u32>>,
}

impl Respond for FlakyGraph {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let roll = n.wrapping_mul(2_654_435_761) % 100;
        if roll < 25 {
            return ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"message": "An unexpected error has occurred.", "code": 2, "is_transient": true}}));
        }
        if roll < 30 {
            return ResponseTemplate::new(503).set_body_string("upstream unavailable");
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let ours = body["message"]["metadata"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *self.accepted.lock().unwrap().entry(ours).or_default() += 1;
        ResponseTemplate::new(200)
            .set_body_json(json!({"recipient_id": "x", "message_id": format!("m_{n}")}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_flaky_meta_every_reply_ends_sent_or_failed_and_none_is_sent_twice() {
    let graph = crate::support::fake_graph::start().await;
    let flaky = Arc::new(FlakyGraph {
        calls: AtomicU64::new(0),
        accepted: Mutex::default(),
    });
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(ArcResponder(flaky.clone()))
        .mount(&graph)
        .await;
    let uri = graph.uri();
    let app = TestApp::with_config(|c| c.graph_api_base_url = uri).await;
    let admin = app.signup("Parcels", "ana@example.com").await;
    let page = "104400000000001";
    let channel = app.create_channel(&admin, "MESSENGER", page, SECRET).await;
    let params = Params {
        account_id: page.into(),
        from: "8800000000000066".into(),
        name: "Sam".into(),
        text: "hi".into(),
        message_id: None,
        status: "delivered".into(),
        unique: "u1".into(),
    };
    assert_eq!(
        app.post_webhook(
            &channel,
            &build(Kind::MessengerText, &params, Utc::now()).unwrap(),
            SECRET
        )
        .await,
        StatusCode::OK
    );
    app.drain_inbound().await;
    let ticket = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!) { org(id: $o) { tickets(first: 1) { edges { node { id } } } } }",
            json!({"o": admin.org_id}),
        )
        .await["org"]["tickets"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    const REPLIES: usize = 60;
    for i in 0..REPLIES {
        app.gql_ok(
            Some(&admin.token),
            "mutation($o: ID!, $t: ID!, $i: SendMessageInput!) { sendMessage(orgId: $o, ticketId: $t, input: $i) { id } }",
            json!({"o": admin.org_id, "t": ticket, "i": {"text": format!("reply {i}")}}),
        )
        .await;
    }
    for _ in 0..30 {
        app.drain_outbound().await;
        if app
            .count("SELECT count(*) AS n FROM outbound_jobs WHERE state = 'PENDING'")
            .await
            == 0
        {
            break;
        }
        app.execute("UPDATE outbound_jobs SET run_at = now(), uncertain_since = uncertain_since - interval '10 minutes' WHERE state = 'PENDING'").await;
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM outbound_jobs WHERE state = 'PENDING'")
            .await,
        0
    );
    let sent = app
        .count(
            "SELECT count(*) AS n FROM messages WHERE direction = 'OUTBOUND' AND status = 'SENT'",
        )
        .await;
    let failed = app.count("SELECT count(*) AS n FROM messages WHERE status = 'FAILED' AND error_message IS NOT NULL").await;
    assert_eq!(
        (sent + failed) as usize,
        REPLIES,
        "every reply ended SENT or FAILED with a reason"
    );
    let accepted = flaky.accepted.lock().unwrap().clone();
    assert!(
        accepted.values().all(|n| *n == 1),
        "a reply reached Meta twice: {accepted:?}"
    );
    assert_eq!(
        accepted.len() as i64,
        sent,
        "every SENT reply reached Meta exactly once"
    );
    assert!(
        flaky.calls.load(Ordering::SeqCst) as usize > REPLIES,
        "the fake did fail some calls"
    );
}

/// Shares one [`Respond`] between wiremock and the test.
struct ArcResponder(Arc<FlakyGraph>);

impl Respond for ArcResponder {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_and_two_workers_share_the_work_and_do_nothing_twice() {
    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let url = app.db.url();
    let servers = [
        Process::serve(&url, &["--no-workers"], &[]).await,
        Process::serve(&url, &["--no-workers"], &[]).await,
    ];
    let _workers = [Process::worker(&url, &[]), Process::worker(&url, &[])];
    const DELIVERIES: usize = 2_000;
    let client = reqwest::Client::new();
    let mut posts = tokio::task::JoinSet::new();
    let bases: Vec<String> = servers.iter().map(Process::url).collect();
    for chunk in 0..16 {
        let (client, bases, channel) = (client.clone(), bases.clone(), channel.clone());
        posts.spawn(async move {
            for i in (chunk..DELIVERIES).step_by(16) {
                let body = dm(IG, &format!("c{}", i % 100), &format!("shared {i}"));
                assert_eq!(
                    post(&client, &bases[i % 2], &channel, body).await,
                    Some(200)
                );
            }
        });
    }
    while let Some(done) = posts.join_next().await {
        done.unwrap();
    }
    eventually(
        Duration::from_secs(300),
        "both workers to process everything",
        || async {
            app.count("SELECT count(*) AS n FROM webhook_events WHERE state = 'PROCESSED'")
                .await
                == DELIVERIES as i64
        },
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM messages").await,
        DELIVERIES as i64
    );
    assert_eq!(
        app.count("SELECT count(DISTINCT external_id) AS n FROM messages")
            .await,
        DELIVERIES as i64
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM tickets").await,
        100,
        "one ticket per customer, never two"
    );
    assert_eq!(
        app.count("SELECT count(DISTINCT processed_by) AS n FROM webhook_events")
            .await,
        2,
        "both workers took part"
    );
    let notified: i64 = app
        .count("SELECT sum(count)::bigint AS n FROM notifications")
        .await;
    assert_eq!(
        notified, DELIVERIES as i64,
        "every message notified exactly once"
    );
}

/// One hostile client, all at once against the real binary: value nesting that used to
/// overflow the stack (finding 1), a sign-in flood (2), concurrent guesses at one account
/// (3), connections that never finish their headers (8), and a megabyte WebSocket frame
/// plus more sockets than one user may hold (9). Meanwhile a normal client keeps reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_client_neither_crashes_the_server_nor_shuts_out_a_normal_one() {
    use crate::support::raw::{
        deeply_nested_body, megabyte_frame_start, read_until_closed, websocket_handshake,
    };
    use crate::support::ws::{Received, WsClient};
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::TcpStream;

    let app = TestApp::new().await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let server = Process::serve(
        &app.db.url(),
        &[],
        &[
            ("HEADER_READ_TIMEOUT_SECS", "2"),
            ("MAX_SOCKETS_PER_USER", "5"),
        ],
    )
    .await;
    let base = server.url();
    let addr = server.addr.unwrap();
    let normal = reqwest::Client::new();
    let me = json!({"query": "{ me { id } }"});
    let read_me = || async {
        let r: Value = normal
            .post(format!("{base}/graphql"))
            .bearer_auth(&admin.token)
            .json(&me)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["data"]["me"]["id"], admin.user_id.as_str(), "{r}");
    };
    read_me().await;

    let nesting = async {
        let client = reqwest::Client::new();
        for _ in 0..20 {
            let r = client
                .post(format!("{base}/graphql"))
                .header("content-type", "application/json")
                .body(deeply_nested_body(1_750))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success() || r.status().is_client_error());
        }
    };
    let guesses = async {
        let client = reqwest::Client::new();
        let attempts = (0..150).map(|i| {
            let client = client.clone();
            let base = base.clone();
            async move {
                let body = json!({"query": "mutation($p: String!) { login(email: \"ana@example.com\", password: $p) { accessToken } }", "variables": {"p": format!("guess number {i}")}});
                let r: Value = client
                    .post(format!("{base}/graphql"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert!(r["data"]["login"].is_null(), "a wrong password got in: {r}");
                r["errors"][0]["extensions"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            }
        });
        let codes = futures_util::future::join_all(attempts).await;
        assert!(!codes.iter().any(|c| c == "INTERNAL"), "{codes:?}");
        assert!(codes.iter().any(|c| c == "RATE_LIMITED"), "{codes:?}");
    };
    let slow_headers = async {
        let mut held = Vec::new();
        for _ in 0..100 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
            held.push(stream);
        }
        for stream in &mut held {
            read_until_closed(stream).await;
        }
    };
    let sockets = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        websocket_handshake(&mut stream).await;
        stream.write_all(&megabyte_frame_start()).await.unwrap();
        read_until_closed(&mut stream).await;
        let mut open = Vec::new();
        let mut refused = 0;
        for _ in 0..8 {
            let mut socket = WsClient::connect(addr, "graphql-transport-ws").await;
            socket
                .send(json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {}", admin.token)}}))
                .await;
            match socket.receive().await {
                Received::Json(m) if m["type"] == "connection_ack" => open.push(socket),
                Received::Closed(4429, _) => refused += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((open.len(), refused), (5, 3));
    };
    let reader = async {
        for _ in 0..30 {
            read_me().await;
        }
    };
    tokio::join!(nesting, guesses, slow_headers, sockets, reader);
    read_me().await;
    let health = normal.get(format!("{base}/healthz")).send().await.unwrap();
    assert!(health.status().is_success());
}
