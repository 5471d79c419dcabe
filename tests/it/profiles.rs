//! Customer profiles: the Instagram and Messenger User Profile APIs through a fake Graph
//! API (exact requests and Meta's answer shapes), Meta's errors (a missing permission stops
//! asking, a temporary failure backs off), names agents gave kept, and WhatsApp names
//! from webhooks.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use delightchat::simulate::{Kind, Params, build};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Session, TestApp};

const SECRET: &str = "profile-secret";
const IG: &str = "17841400000000301";
const PAGE: &str = "104400000000301";
const WA: &str = "310000000000301";
const CUSTOMER: &str = "5500000000000301";

struct Setup {
    app: TestApp,
    admin: Session,
    graph: MockServer,
    channel: String,
    account: &'static str,
    kind: Kind,
}

async fn setup(platform: &str, account: &'static str, kind: Kind) -> Setup {
    let graph = crate::support::fake_graph::start().await;
    let uri = graph.uri();
    let app = TestApp::with_config(|c| c.graph_api_base_url = uri).await;
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, platform, account, SECRET).await;
    // From here on the fake answers only what each test mounts.
    graph.reset().await;
    Setup {
        app,
        admin,
        graph,
        channel,
        account,
        kind,
    }
}

impl Setup {
    /// The customer writes (named `name` where the platform sends names).
    async fn customer_writes(&self, name: &str) {
        let params = Params {
            account_id: self.account.into(),
            from: CUSTOMER.into(),
            name: name.into(),
            text: "Hello?".into(),
            message_id: None,
            status: "delivered".into(),
            unique: uuid::Uuid::new_v4().simple().to_string(),
        };
        let body = build(self.kind, &params, Utc::now() - Duration::seconds(5)).unwrap();
        assert_eq!(
            self.app.post_webhook(&self.channel, &body, SECRET).await,
            StatusCode::OK
        );
        self.app.drain_inbound().await;
    }

    async fn drain_profiles(&self) -> usize {
        let mut handled = 0;
        loop {
            let n = delightchat::jobs::profiles::run_once(&self.app.state)
                .await
                .unwrap();
            if n == 0 {
                return handled;
            }
            handled += n;
        }
    }

    async fn customer(&self) -> Value {
        let data = self
            .app
            .gql_ok(
                Some(&self.admin.token),
                "query($o: ID!) { org(id: $o) { customers(first: 5) { edges { node {
                    id name nameSource avatarUrl
                    identities { username displayName profilePicUrl isVerified followerCount profileFetchedAt } } } } } }",
                json!({"o": self.admin.org_id}),
            )
            .await;
        let edges = data["org"]["customers"]["edges"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(edges.len(), 1, "{data}");
        edges[0]["node"].clone()
    }

    async fn rename(&self, id: &str, name: Value) -> Value {
        self.app
            .gql_ok(
                Some(&self.admin.token),
                "mutation($o: ID!, $id: ID!, $n: String) { updateCustomer(orgId: $o, id: $id, input: {name: $n}) { name nameSource } }",
                json!({"o": self.admin.org_id, "id": id, "n": name}),
            )
            .await["updateCustomer"]
            .clone()
    }

    async fn job_state(&self) -> String {
        self.app
            .rows("SELECT state || ':' || attempts AS row FROM profile_jobs")
            .await
            .join(",")
    }
}

fn json_ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn meta_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {
        "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Atrace01"}}))
}

async fn ig_profile_answers(graph: &MockServer, response: ResponseTemplate, times: u64) {
    Mock::given(method("GET"))
        .and(path(format!("/v25.0/{CUSTOMER}")))
        .and(query_param(
            "fields",
            "name,username,profile_pic,is_verified_user,follower_count",
        ))
        .and(header(
            "authorization",
            format!("Bearer EAAG-token-of-{IG}").as_str(),
        ))
        .respond_with(response)
        .expect(times)
        .mount(graph)
        .await;
}

fn lena() -> Value {
    json!({"name": "Lena Brandt", "username": "lena.bakes", "profile_pic": "https://scontent.example.test/lena.jpg",
           "is_verified_user": true, "follower_count": 1520, "id": CUSTOMER})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instagram_customer_gets_name_picture_and_counts_from_the_profile_api_once_a_day() {
    let s = setup("INSTAGRAM", IG, Kind::IgDm).await;
    ig_profile_answers(&s.graph, json_ok(lena()), 1).await;
    s.customer_writes("ignored").await;
    let before_events = s
        .app
        .count("SELECT count(*) AS n FROM events WHERE kind = 'TICKET_UPDATED'")
        .await;
    assert_eq!(s.drain_profiles().await, 1);
    let customer = s.customer().await;
    assert_eq!(customer["name"], "Lena Brandt");
    assert_eq!(customer["nameSource"], "PLATFORM");
    assert_eq!(
        customer["avatarUrl"],
        "https://scontent.example.test/lena.jpg"
    );
    let identity = &customer["identities"][0];
    assert_eq!(identity["username"], "lena.bakes");
    assert_eq!(identity["isVerified"], true);
    assert_eq!(identity["followerCount"], 1520);
    assert!(identity["profileFetchedAt"].is_string());
    let after_events = s
        .app
        .count("SELECT count(*) AS n FROM events WHERE kind = 'TICKET_UPDATED'")
        .await;
    // Dashboards hear of the renamed customer through their ticket.
    assert_eq!(after_events, before_events + 1);
    // More messages the same day ask nothing more (the mock expects exactly one call).
    s.customer_writes("ignored").await;
    assert_eq!(s.drain_profiles().await, 0);
    assert_eq!(s.job_state().await, "DONE:1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_older_than_a_day_is_fetched_again_on_the_next_message() {
    let s = setup("INSTAGRAM", IG, Kind::IgDm).await;
    ig_profile_answers(&s.graph, json_ok(lena()), 2).await;
    s.customer_writes("x").await;
    assert_eq!(s.drain_profiles().await, 1);
    s.app
        .execute("UPDATE profile_jobs SET fetched_at = now() - interval '25 hours'")
        .await;
    s.customer_writes("x").await;
    assert_eq!(s.drain_profiles().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_customer_gets_first_and_last_name() {
    let s = setup("MESSENGER", PAGE, Kind::MessengerText).await;
    Mock::given(method("GET"))
        .and(path(format!("/v25.0/{CUSTOMER}")))
        .and(query_param("fields", "first_name,last_name,profile_pic"))
        .and(header(
            "authorization",
            format!("Bearer EAAG-token-of-{PAGE}").as_str(),
        ))
        .respond_with(json_ok(json!({"first_name": "Peter", "last_name": "Chang",
            "profile_pic": "https://platform-lookaside.example.test/p.jpg", "id": CUSTOMER})))
        .expect(1)
        .mount(&s.graph)
        .await;
    s.customer_writes("x").await;
    assert_eq!(s.drain_profiles().await, 1);
    let customer = s.customer().await;
    assert_eq!(customer["name"], "Peter Chang");
    assert_eq!(
        customer["avatarUrl"],
        "https://platform-lookaside.example.test/p.jpg"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_permission_stops_asking_for_that_customer() {
    let s = setup("INSTAGRAM", IG, Kind::IgDm).await;
    ig_profile_answers(
        &s.graph,
        meta_error(
            400,
            230,
            "(#230) User consent is required to access user profile",
        ),
        1,
    )
    .await;
    s.customer_writes("x").await;
    assert_eq!(s.drain_profiles().await, 1);
    assert_eq!(s.job_state().await, "STOPPED:1");
    // Even a day later, further messages never ask again (the mock expects one call).
    s.app
        .execute("UPDATE profile_jobs SET fetched_at = now() - interval '3 days'")
        .await;
    s.customer_writes("x").await;
    assert_eq!(s.drain_profiles().await, 0);
    assert_eq!(s.customer().await["name"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_back_off_then_the_profile_arrives() {
    let s = setup("INSTAGRAM", IG, Kind::IgDm).await;
    Mock::given(method("GET"))
        .and(path(format!("/v25.0/{CUSTOMER}")))
        .respond_with(meta_error(500, 2, "Service temporarily unavailable"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&s.graph)
        .await;
    ig_profile_answers(&s.graph, json_ok(lena()), 1).await;
    s.customer_writes("x").await;
    // One pass, not a drain: the retry's jittered delay may be anything from zero up.
    assert_eq!(
        delightchat::jobs::profiles::run_once(&s.app.state)
            .await
            .unwrap(),
        1
    );
    let due_later = s
        .app
        .count("SELECT count(*) AS n FROM profile_jobs WHERE state = 'PENDING' AND last_error IS NOT NULL")
        .await;
    assert_eq!(due_later, 1, "{}", s.job_state().await);
    assert_eq!(s.customer().await["name"], Value::Null);
    // The backoff has passed.
    s.app
        .execute("UPDATE profile_jobs SET run_at = now()")
        .await;
    assert_eq!(s.drain_profiles().await, 1);
    assert_eq!(s.job_state().await, "DONE:2");
    assert_eq!(s.customer().await["name"], "Lena Brandt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_channel_waits_as_long_as_meta_asks() {
    let s = setup("INSTAGRAM", IG, Kind::IgDm).await;
    Mock::given(method("GET"))
        .and(path(format!("/v25.0/{CUSTOMER}")))
        .respond_with(
            meta_error(400, 4, "Application request limit reached")
                .insert_header("retry-after", "7200"),
        )
        .expect(1)
        .mount(&s.graph)
        .await;
    s.customer_writes("x").await;
    assert_eq!(s.drain_profiles().await, 1);
    let waiting = s
        .app
        .count("SELECT count(*) AS n FROM profile_jobs WHERE state = 'PENDING' AND run_at > now() + interval '110 minutes'")
        .await;
    assert_eq!(waiting, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_an_agent_gave_is_never_overwritten_by_the_profile() {
    let s = setup("INSTAGRAM", IG, Kind::IgDm).await;
    ig_profile_answers(&s.graph, json_ok(lena()), 2).await;
    s.customer_writes("x").await;
    let id = s.customer().await["id"].as_str().unwrap().to_owned();
    let renamed = s.rename(&id, json!("Lena (wholesale)")).await;
    assert_eq!(
        renamed,
        json!({"name": "Lena (wholesale)", "nameSource": "AGENT"})
    );
    assert_eq!(s.drain_profiles().await, 1);
    let customer = s.customer().await;
    assert_eq!(customer["name"], "Lena (wholesale)");
    assert_eq!(customer["identities"][0]["displayName"], "Lena Brandt");
    // Handing the name back to the platform shows the platform's name again, and later
    // profiles keep it current.
    let back = s.rename(&id, Value::Null).await;
    assert_eq!(
        back,
        json!({"name": "Lena Brandt", "nameSource": "PLATFORM"})
    );
    s.app
        .execute("UPDATE profile_jobs SET fetched_at = now() - interval '2 days'")
        .await;
    s.customer_writes("x").await;
    assert_eq!(s.drain_profiles().await, 1);
    assert_eq!(s.customer().await["name"], "Lena Brandt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_names_follow_the_webhook_but_never_an_agent_edit() {
    let s = setup("WHATSAPP", WA, Kind::WaText).await;
    s.customer_writes("Priya").await;
    assert_eq!(s.customer().await["name"], "Priya");
    s.customer_writes("Priya Raman").await;
    let customer = s.customer().await;
    assert_eq!(customer["name"], "Priya Raman");
    // WhatsApp has no profile API: nothing is asked of the fake Graph API.
    assert_eq!(s.drain_profiles().await, 0);
    let id = customer["id"].as_str().unwrap().to_owned();
    s.rename(&id, json!("Priya – VIP")).await;
    s.customer_writes("Priya Raman-Iyer").await;
    let customer = s.customer().await;
    assert_eq!(customer["name"], "Priya – VIP");
    assert_eq!(customer["identities"][0]["displayName"], "Priya Raman-Iyer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_orgs_customer_cannot_be_renamed() {
    let s = setup("INSTAGRAM", IG, Kind::IgDm).await;
    ig_profile_answers(&s.graph, json_ok(lena()), 0).await;
    s.customer_writes("x").await;
    let id = s.customer().await["id"].as_str().unwrap().to_owned();
    let other = s.app.signup("Other Shop", "olu@example.com").await;
    let response = s
        .app
        .graphql(
            Some(&other.token),
            "mutation($o: ID!, $id: ID!) { updateCustomer(orgId: $o, id: $id, input: {name: \"x\"}) { name } }",
            json!({"o": other.org_id, "id": id}),
        )
        .await;
    assert_eq!(crate::support::error_code(&response), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_sandbox_answers_profile_calls_so_customers_have_names() {
    let sandbox = delightchat::sandbox::Sandbox::bind().await.unwrap();
    let url = sandbox.url().to_owned();
    // As `serve` does with the sandbox: it cannot prove whose a token is.
    let app = TestApp::with_config(|c| {
        c.graph_api_base_url = url;
        c.verify_channel_ownership = false;
    })
    .await;
    sandbox.start(app.state.clone(), "127.0.0.1:9".parse().unwrap());
    let admin = app.signup("Kettle Shop", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let s = Setup {
        app,
        admin,
        graph: MockServer::start().await,
        channel,
        account: IG,
        kind: Kind::IgDm,
    };
    s.customer_writes("x").await;
    assert_eq!(s.drain_profiles().await, 1);
    let customer = s.customer().await;
    assert_eq!(customer["name"], "Sandbox Customer 0301");
    assert_eq!(
        customer["identities"][0]["username"],
        "sandbox.customer0301"
    );
}
