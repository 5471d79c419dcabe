//! `TestApp`: the real router on a fresh database, plus helpers to call it.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use delightchat::config::Config;
use delightchat::state::AppState;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use std::net::SocketAddr;
use std::sync::Arc;

use super::test_db::TestDb;

/// A signed-in user of an org.
#[derive(Debug, Clone)]
pub struct Session {
    /// Access token.
    pub token: String,
    /// Refresh token.
    pub refresh: String,
    /// The org the session was created for.
    pub org_id: String,
    /// The user.
    pub user_id: String,
}

/// The application under test.
pub struct TestApp {
    /// Its database (dropped with the last app sharing it).
    pub db: Arc<TestDb>,
    /// Its state.
    pub state: AppState,
    /// Its router.
    pub router: Router,
    /// The fake Graph API it was configured with (see [`super::fake_graph`]), kept alive.
    _graph: Arc<wiremock::MockServer>,
    /// Its media directory (removed with the last app sharing it).
    _media: Arc<MediaDir>,
}

/// A test's own media directory, removed when dropped.
struct MediaDir(std::path::PathBuf);

impl Drop for MediaDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// `JWT_SECRET` of every test app and of the binaries tests start, so tokens minted in
/// one work in the other.
pub const TEST_JWT_SECRET: &str = "delightchat-test-suite-jwt-secret-0123456789";
/// `SECRET_KEY` of every test app and of the binaries tests start, so channel secrets
/// sealed by one open in the other.
pub const TEST_SECRET_KEY: &str =
    "74657374207375697465207365637265742d6b65792030313233343536373839";

impl TestApp {
    /// An app with development defaults on a fresh database.
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// An app whose config `tweak` adjusts.
    pub async fn with_config(tweak: impl FnOnce(&mut Config)) -> Self {
        let db = Arc::new(TestDb::new().await);
        let mut config = Config::from_lookup(|name| match name {
            "JWT_SECRET" => Some(TEST_JWT_SECRET.into()),
            "SECRET_KEY" => Some(TEST_SECRET_KEY.into()),
            _ => None,
        })
        .unwrap();
        config.database_url = db.url();
        config.database_pool_size = 8;
        // In-process requests share one client address: tests sign in far more often
        // than one person would (`auth::a_sign_in_flood_from_one_address_is_limited`
        // checks the limit itself).
        config.auth_attempts_per_ip_per_minute = 10_000;
        let graph = Arc::new(super::fake_graph::start().await);
        config.graph_api_base_url = graph.uri();
        // Media files of each test in a directory of its own.
        config.media_dir =
            std::env::temp_dir().join(format!("dc-media-{}", uuid::Uuid::new_v4().simple()));
        tweak(&mut config);
        let media = Arc::new(MediaDir(config.media_dir.clone()));
        let state = AppState::new(config).unwrap();
        let router = delightchat::router(state.clone());
        Self {
            db,
            state,
            router,
            _graph: graph,
            _media: media,
        }
    }

    /// An app using real Redis on a channel prefix of its own.
    pub async fn with_redis() -> Self {
        let prefix = format!("dc-test-{}", uuid::Uuid::new_v4().simple());
        Self::with_config(|c| {
            c.redis_url = Some(redis_url());
            c.redis_channel_prefix = prefix;
        })
        .await
    }

    /// Another instance on the same database (and Redis prefix), its config adjusted.
    pub fn sibling(&self, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.state.config().clone();
        tweak(&mut config);
        let state = AppState::new(config).unwrap();
        let router = delightchat::router(state.clone());
        Self {
            db: self.db.clone(),
            state,
            router,
            _graph: self._graph.clone(),
            _media: self._media.clone(),
        }
    }

    /// Serves the router on a real loopback port (for WebSocket clients).
    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        let limits = self.state.config().connections;
        tokio::spawn(delightchat::http_server::serve(
            listener,
            router,
            limits,
            std::future::pending(),
        ));
        addr
    }

    /// Sends a request through the router.
    pub async fn request(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, body)
    }

    /// POSTs a GraphQL operation; returns the JSON response (whatever its status).
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request =
            Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = json!({"query": query, "variables": variables}).to_string();
        let (_, _, body) = self.request(request.body(Body::from(body)).unwrap()).await;
        serde_json::from_slice(&body).unwrap()
    }

    /// Like [`TestApp::graphql`], but fails the test on any error and returns `data`.
    pub async fn gql_ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.graphql(token, query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    /// Signs up a new org with its admin.
    pub async fn signup(&self, org: &str, email: &str) -> Session {
        let data = self
            .gql_ok(
                None,
                "mutation($i: SignupInput!) { signup(input: $i) { accessToken refreshToken user { id memberships { org { id } } } } }",
                json!({"i": {"orgName": org, "name": "Admin", "email": email, "password": PASSWORD}}),
            )
            .await;
        let payload = &data["signup"];
        Session {
            token: payload["accessToken"].as_str().unwrap().into(),
            refresh: payload["refreshToken"].as_str().unwrap().into(),
            org_id: payload["user"]["memberships"][0]["org"]["id"]
                .as_str()
                .unwrap()
                .into(),
            user_id: payload["user"]["id"].as_str().unwrap().into(),
        }
    }

    /// Invites a new person to the admin's org; they create their account through the
    /// invitation and are signed in.
    pub async fn add_member(&self, admin: &Session, email: &str, role: &str) -> Session {
        let token = self.invite(admin, email, role).await;
        let data = self
            .gql_ok(
                None,
                "mutation($i: SignupWithInvitationInput!) { signupWithInvitation(input: $i) { accessToken refreshToken user { id } } }",
                json!({"i": {"token": token, "name": "Member", "password": PASSWORD}}),
            )
            .await;
        let data = json!({"login": data["signupWithInvitation"]});
        Session {
            token: data["login"]["accessToken"].as_str().unwrap().into(),
            refresh: data["login"]["refreshToken"].as_str().unwrap().into(),
            org_id: admin.org_id.clone(),
            user_id: data["login"]["user"]["id"].as_str().unwrap().into(),
        }
    }

    /// Invites the signed-in `member` (whose email is `email`) to the admin's org as
    /// `role`, and they accept: they then belong to both orgs.
    pub async fn join(&self, member: &Session, email: &str, admin: &Session, role: &str) {
        let token = self.invite(admin, email, role).await;
        self.gql_ok(
            Some(&member.token),
            "mutation($t: String!) { acceptInvitation(token: $t) { role } }",
            json!({"t": token}),
        )
        .await;
    }

    /// Invites `email` to the admin's org as `role`; the invitation link's token.
    pub async fn invite(&self, admin: &Session, email: &str, role: &str) -> String {
        let data = self
            .gql_ok(
                Some(&admin.token),
                "mutation($o: ID!, $i: InviteMemberInput!) { inviteMember(orgId: $o, input: $i) { token } }",
                json!({"o": admin.org_id, "i": {"email": email, "role": role}}),
            )
            .await;
        data["inviteMember"]["token"].as_str().unwrap().to_owned()
    }

    /// Connects a channel; returns its id.
    pub async fn create_channel(
        &self,
        admin: &Session,
        platform: &str,
        account: &str,
        app_secret: &str,
    ) -> String {
        let data = self
            .gql_ok(
                Some(&admin.token),
                "mutation($o: ID!, $i: CreateChannelInput!) { createChannel(orgId: $o, input: $i) { id } }",
                json!({"o": admin.org_id, "i": {
                    "platform": platform, "name": format!("{platform} {account}"), "externalAccountId": account,
                    "accessToken": format!("EAAG-token-of-{account}"), "appSecret": app_secret,
                    "verifyToken": format!("verify-{account}")}}),
            )
            .await;
        data["createChannel"]["id"].as_str().unwrap().to_owned()
    }
}

/// The Redis the tests use (`TEST_REDIS_URL`, default local).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The `extensions.code` of the first error of a response.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {response:#}"))
}

/// A Meta fixture body from `tests/fixtures/meta/`, byte for byte.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/meta/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

impl TestApp {
    /// POSTs `body` to a channel's webhook URL, signed with `secret`.
    pub async fn post_webhook(&self, channel: &str, body: &[u8], secret: &str) -> StatusCode {
        let signature = delightchat::webhooks::signature::sign(body, secret.as_bytes());
        let request = Request::post(format!("/webhook/{channel}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-hub-signature-256", signature)
            .body(Body::from(body.to_vec()))
            .unwrap();
        self.request(request).await.0
    }

    /// Processes stored deliveries until none is due, like a worker would.
    pub async fn drain_inbound(&self) {
        while delightchat::webhooks::processor::run_once(
            &self.state,
            &delightchat::jobs::WorkerConfig::for_this_process(),
        )
        .await
        .unwrap()
            > 0
        {}
    }

    /// Sends queued replies until none is due, like the outbound worker would.
    pub async fn drain_outbound(&self) {
        while delightchat::outbound::sender::run_once(
            &self.state,
            &delightchat::jobs::WorkerConfig::for_this_process(),
        )
        .await
        .unwrap()
            > 0
        {}
    }

    /// Runs due media copies until none is left, like the media worker would.
    pub async fn drain_media(&self) {
        while delightchat::media::job::run_once(&self.state)
            .await
            .unwrap()
            > 0
        {}
    }

    /// Runs one SQL statement returning a single bigint named `n`.
    pub async fn count(&self, sql: &str) -> i64 {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.db.connect().await;
        diesel::sql_query(sql)
            .get_result::<N>(&mut conn)
            .await
            .unwrap()
            .n
    }

    /// Runs one SQL query returning a text column named `row`; the rows in order.
    pub async fn rows(&self, sql: &str) -> Vec<String> {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            row: String,
        }
        let mut conn = self.db.connect().await;
        let rows: Vec<Row> = diesel::sql_query(sql).load(&mut conn).await.unwrap();
        rows.into_iter().map(|r| r.row).collect()
    }

    /// Runs one SQL statement.
    pub async fn execute(&self, sql: &str) {
        use diesel_async::RunQueryDsl;
        let mut conn = self.db.connect().await;
        diesel::sql_query(sql).execute(&mut conn).await.unwrap();
    }
}
