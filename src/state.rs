//! Shared application state: configuration, the database pool, key material, the live
//! event bus and the worker wake-ups. Cheap to clone (`Arc` inside).

use std::ops::Deref;

use std::sync::Arc;
use tokio::sync::watch;

use crate::auth::ip_limit::IpLimit;
use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHasher;
use crate::config::Config;
use crate::crypto::SecretBox;
use crate::db::ids::UserId;
use crate::db::scope::Scope;
use crate::db::{self, Pool, PoolError, PooledConn, QueryCounter};
use crate::events::Bus;
use crate::inbox::outbox::Committed;
use crate::jobs::Wakeups;
use crate::jobs::handoff::Handoff;
use crate::media::hosts::MediaHosts;
use crate::media::signing::UrlSigner;
use crate::media::store::MediaStore;
use crate::metrics::Metrics;
use crate::open_limit::OpenLimit;
use crate::outbound::graph::GraphClient;
use crate::outbound::rate_limit::RateLimits;
use crate::presence::Presence;
use crate::webhooks::keys::KeyCache;
use crate::webhooks::store::DeliveryStore;

/// Everything handlers and workers share.
pub struct App {
    config: Config,
    pool: Pool,
    queries: QueryCounter,
    secrets: SecretBox,
    jwt: JwtKeys,
    passwords: PasswordHasher,
    ip_limit: IpLimit,
    sockets_per_user: OpenLimit<UserId>,
    wakeups: Arc<Wakeups>,
    bus: Arc<Bus>,
    deliveries: DeliveryStore,
    webhook_keys: KeyCache,
    metrics: Metrics,
    shutdown: watch::Sender<bool>,
    graph: GraphClient,
    send_limits: RateLimits,
    presence: Presence,
    read_limits: RateLimits,
    media_store: MediaStore,
    url_signer: UrlSigner,
    media_http: reqwest::Client,
    media_hosts: MediaHosts,
}

/// Handle to the shared [`App`].
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

impl AppState {
    /// Builds the state for `config` (the pool connects lazily). Must run inside a Tokio
    /// runtime: it starts the webhook committer tasks.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let queries = QueryCounter::default();
        let pool = db::pool(
            &config.database_url,
            config.database_pool_size,
            db::SessionLimits::API,
            queries.clone(),
        )?;
        let wakeups = Arc::new(Wakeups {
            handoff: Handoff::with_scan_period(config.inbound_scan_period),
            ..Wakeups::default()
        });
        crate::jobs::announce::start(config.database_url.clone(), Arc::downgrade(&wakeups));
        let media_hosts = media_hosts(&config);
        Ok(Self(Arc::new(App {
            secrets: SecretBox::new(&config.secret_key),
            jwt: JwtKeys::new(&config.jwt_secret, config.access_token_ttl),
            passwords: PasswordHasher::new(2),
            ip_limit: IpLimit::per_minute(config.auth_attempts_per_ip_per_minute),
            sockets_per_user: OpenLimit::new(config.max_sockets_per_user),
            deliveries: DeliveryStore::start(pool.clone(), wakeups.clone()),
            wakeups,
            bus: Arc::new(Bus::new(&config)?),
            webhook_keys: KeyCache::default(),
            metrics: Metrics::default(),
            shutdown: watch::channel(false).0,
            graph: GraphClient::new(&config.graph_api_base_url, &config.graph_api_version),
            send_limits: RateLimits::default(),
            presence: Presence::start(pool.clone()),
            read_limits: RateLimits::default(),
            media_store: MediaStore::open(config.media_store_url.as_deref(), &config.media_dir)?,
            url_signer: UrlSigner::new(&config.secret_key),
            media_http: media_http_client(media_hosts.clone())?,
            media_hosts,
            pool,
            queries,
            config,
        })))
    }
}

/// Where `config` lets the media job download from.
fn media_hosts(config: &Config) -> MediaHosts {
    MediaHosts::new(
        &config.media_download_domains,
        std::iter::once(config.graph_api_base_url.as_str()).chain(config.sandbox_url.as_deref()),
    )
}

/// The client of media downloads: bounded connect and total time, a few redirects (CDN
/// links redirect; reqwest drops `Authorization` when a redirect changes host), each to
/// a host `hosts` allows.
fn media_http_client(hosts: MediaHosts) -> anyhow::Result<reqwest::Client> {
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else if hosts.allows(attempt.url()) {
            attempt.follow()
        } else {
            attempt.error("a redirect away from the allowed media hosts")
        }
    });
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(120))
        .redirect(policy)
        .build()?)
}

impl App {
    /// This instance's socket counts (member presence).
    pub fn presence(&self) -> &Presence {
        &self.presence
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// SQL statements run through the pool so far.
    pub fn query_count(&self) -> u64 {
        self.queries.get()
    }

    /// Of those, the statements that scoped a checkout (row-level security): one per
    /// checkout.
    pub fn scoping_count(&self) -> u64 {
        self.queries.scoping()
    }

    /// A pooled connection that sees every org, for trusted server-side work (fails fast
    /// when the pool is exhausted).
    pub async fn system_conn(&self) -> Result<PooledConn, PoolError> {
        self.pool.checkout(Scope::System).await
    }

    /// A pooled connection that sees only the orgs `user` is a member of.
    pub async fn viewer_conn(&self, user: UserId) -> Result<PooledConn, PoolError> {
        self.pool.checkout(Scope::Viewer(user)).await
    }

    /// Encryption of secrets at rest.
    pub fn secrets(&self) -> &SecretBox {
        &self.secrets
    }

    /// What the sign-up, sign-in and refresh operations need.
    pub fn auth(&self) -> crate::auth::Auth<'_> {
        crate::auth::Auth::new(&self.pool, &self.jwt, &self.passwords)
    }

    /// Per-address limit of unauthenticated operations.
    pub fn ip_limit(&self) -> &IpLimit {
        &self.ip_limit
    }

    /// Open GraphQL WebSockets per user.
    pub fn sockets_per_user(&self) -> &OpenLimit<UserId> {
        &self.sockets_per_user
    }

    /// Access-token keys.
    pub fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }

    /// Password hashing.
    pub fn passwords(&self) -> &PasswordHasher {
        &self.passwords
    }

    /// The live-event bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// A shared handle to the bus (for streams that outlive a borrow).
    pub fn bus_handle(&self) -> Arc<Bus> {
        self.bus.clone()
    }

    /// Publishes the live events a domain operation committed, wakes the workers of the
    /// jobs it queued (here and in other processes) and returns its result: the one place
    /// where committed changes reach subscribers (best effort; a subscriber that misses
    /// one catches up from the outbox, a worker that misses a wake-up polls).
    pub fn publish<T>(&self, committed: Committed<T>) -> T {
        for event in committed.events {
            self.bus.publish(event);
        }
        self.wakeups.announce(committed.new_jobs);
        committed.value
    }

    /// Durable storage of webhook deliveries.
    pub fn deliveries(&self) -> &DeliveryStore {
        &self.deliveries
    }

    /// Cached webhook verification keys.
    pub fn webhook_keys(&self) -> &KeyCache {
        &self.webhook_keys
    }

    /// Starts a graceful shutdown: `/readyz` fails and WebSockets close with 1001.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether a shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Changes when a shutdown begins.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// The Meta Graph API client.
    pub fn graph(&self) -> &GraphClient {
        &self.graph
    }

    /// Per-channel send rate limits.
    pub fn send_limits(&self) -> &RateLimits {
        &self.send_limits
    }

    /// Per-channel rate limits of this process's Graph API reads (profiles, templates),
    /// apart from sends so background reads never slow replies down.
    pub fn read_limits(&self) -> &RateLimits {
        &self.read_limits
    }

    /// Where media files are kept.
    pub fn media_store(&self) -> &MediaStore {
        &self.media_store
    }

    /// Signs and checks media URLs.
    pub fn url_signer(&self) -> &UrlSigner {
        &self.url_signer
    }

    /// HTTP client of media downloads.
    pub fn media_http(&self) -> &reqwest::Client {
        &self.media_http
    }

    /// Where media downloads may go (the client's redirects are held to it too).
    pub fn media_hosts(&self) -> &MediaHosts {
        &self.media_hosts
    }

    /// Process counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// In-process wake-ups of the background workers.
    pub fn wakeups(&self) -> &Wakeups {
        &self.wakeups
    }

    /// A shared handle to the wake-ups (for tasks that outlive a borrow).
    pub fn wakeups_handle(&self) -> Arc<Wakeups> {
        self.wakeups.clone()
    }
}
