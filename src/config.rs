//! Runtime configuration, read once from the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | `postgres://postgres@127.0.0.1:5432/delightchat` | PostgreSQL; the database is created if missing |
//! | `DATABASE_POOL_SIZE` | `16` | connections per process |
//! | `REDIS_URL` | unset | Redis for cross-instance live events; unset = in-process bus |
//! | `REDIS_CHANNEL_PREFIX` | `delightchat` | prefix of the per-org pub/sub channels |
//! | `BIND_ADDR` | `127.0.0.1:3001` | HTTP listen address (loopback only unless you say otherwise) |
//! | `APP_ENV` | `development` | `production` requires the secrets below and hides GraphiQL and introspection |
//! | `JWT_SECRET` | development key | at least 32 bytes; signs access tokens (HS256) |
//! | `SECRET_KEY` | development key | 64 hex characters (32 bytes); AES-256-GCM key for channel secrets |
//! | `DATA_DIR` | `./data` | where development keys are generated and kept (see [`crate::dev_keys`]) |
//! | `ACCESS_TOKEN_TTL_SECS` | `900` | lifetime of access tokens |
//! | `GRAPHQL_INTROSPECTION` | `true` in development, `false` in production | introspection, field suggestions and GraphiQL |
//! | `GRAPH_API_BASE_URL` | `https://graph.facebook.com` | Meta Graph API (a fake in tests); `sandbox` = the local Meta sandbox ([`crate::sandbox`], development only) |
//! | `GRAPH_API_VERSION` | `v25.0` | Graph API version path segment |
//! | `META_APP_SECRET` / `META_VERIFY_TOKEN` | unset | enable the app-level `/webhook` route |
//! | `EVENT_RETENTION_HOURS` | `168` | how long live events stay replayable |
//! | `AUTH_ATTEMPTS_PER_IP_PER_MINUTE` | `30` | sign-ups, sign-ins and token refreshes one client address may try per minute |
//! | `PENDING_FACT_RETENTION_HOURS` | `168` | how long a fact about a message that has not arrived (an early unsend, edit, reaction, read or status) waits for it |
//! | `MAX_CONNECTIONS` | `10000` | open HTTP connections per process (WebSockets included); beyond it, new ones wait |
//! | `MAX_CONNECTIONS_PER_IP` | `1000` | open connections per client address; beyond it, new ones are closed |
//! | `HEADER_READ_TIMEOUT_SECS` | `10` | how long a client may take to send a request's headers |
//! | `MAX_SOCKETS_PER_USER` | `50` | open GraphQL WebSockets per signed-in user |
//! | `METRICS_TOKEN` | unset | bearer token `/metrics` requires; unset = open in development, disabled (404) in production |
//! | `AGENT_OFFLINE_AFTER_SECS` | `120` | an ONLINE or BUSY member goes OFFLINE once their last socket has been closed this long |
//! | `MEDIA_DIR` | `DATA_DIR/media` | where media files are kept when no `MEDIA_STORE_URL` is set |
//! | `MEDIA_STORE_URL` | unset | an S3-compatible store instead: `s3://bucket?endpoint=...&region=...` (see [`crate::media::store`]) |
//! | `PUBLIC_ORIGIN` | `http://BIND_ADDR` | this server's public origin, for media URLs handed to Meta and dashboards |
//! | `MEDIA_URL_TTL_SECS` | `900` | lifetime of signed media URLs shown to dashboards (Meta's fetch URLs live a day) |
//! | `MEDIA_ORG_QUOTA_BYTES` | `10737418240` (10 GiB) | media one org may keep |
//! | `MEDIA_UPLOAD_MAX_BYTES` | `104857600` (100 MiB, WhatsApp's document cap, the most any platform takes) | largest file an agent may upload (`POST /media`, `uploadAttachment`) |
//! | `RUST_LOG` | `info` | log filter |

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::dev_keys::{self, DevKeys};

/// Why the environment could not be turned into a [`Config`]; names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    var: &'static str,
    problem: String,
}

/// Deployment flavour: development gets generated secrets and GraphiQL by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Local development and tests.
    Development,
    /// Real deployments: secrets required, introspection off by default.
    Production,
}

/// Everything the server and workers need to know about their environment.
#[derive(Clone)]
pub struct Config {
    /// Deployment flavour.
    pub app_env: AppEnv,
    /// PostgreSQL connection URL.
    pub database_url: String,
    /// Pool size per process.
    pub database_pool_size: usize,
    /// Redis URL; `None` selects the in-process bus.
    pub redis_url: Option<String>,
    /// Prefix of Redis pub/sub channel names (tests use a random one each).
    pub redis_channel_prefix: String,
    /// HTTP listen address.
    pub bind_addr: SocketAddr,
    /// Directory of local state (the development keys).
    pub data_dir: PathBuf,
    /// Which keys came from the development key file rather than the environment.
    pub development_keys: DevelopmentKeys,
    /// HS256 key of access tokens.
    pub jwt_secret: Vec<u8>,
    /// AES-256-GCM key of secrets at rest.
    pub secret_key: [u8; 32],
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Serve introspection, field suggestions and GraphiQL.
    pub graphql_introspection: bool,
    /// Graph API base URL, without a trailing slash.
    pub graph_api_base_url: String,
    /// Graph API version segment, e.g. `v25.0`.
    pub graph_api_version: String,
    /// App secret of the app-level webhook route.
    pub meta_app_secret: Option<String>,
    /// Verify token of the app-level webhook route.
    pub meta_verify_token: Option<String>,
    /// Retention of replayable live events.
    pub event_retention: Duration,
    /// How long a fact waits for the message it names.
    pub pending_fact_retention: Duration,
    /// Unauthenticated operations one client address may try per minute.
    pub auth_attempts_per_ip_per_minute: u32,
    /// Limits of the HTTP accept loop.
    pub connections: crate::http_server::ConnectionLimits,
    /// Whether a channel's access token is checked with Meta to belong to its account
    /// before the channel is stored (always, except against the local sandbox).
    pub verify_channel_ownership: bool,
    /// Open GraphQL WebSockets one user may hold.
    pub max_sockets_per_user: usize,
    /// Bearer token for `/metrics`; `None` leaves it open in development and disables it
    /// in production.
    pub metrics_token: Option<String>,
    /// How long after their last socket closed a member goes OFFLINE.
    pub agent_offline_after: Duration,
    /// While this process's workers take its deliveries straight from its store, how
    /// often they still scan the queue (retries, expired leases, other processes').
    pub inbound_scan_period: Duration,
    /// How often an open subscription re-checks that its user is still a member and
    /// their session was not ended (`logout`, `changePassword`).
    pub live_access_check: Duration,
    /// Local media directory (without `media_store_url`).
    pub media_dir: PathBuf,
    /// S3-compatible media store URL (may carry credentials; never logged).
    pub media_store_url: Option<String>,
    /// Public origin of this server, without a trailing slash.
    pub public_origin: String,
    /// Lifetime of signed media URLs shown to dashboards.
    pub media_url_ttl: Duration,
    /// Media bytes one org may keep.
    pub media_org_quota_bytes: i64,
    /// Base URL of the local Meta sandbox while `serve` runs one (never in production):
    /// the media job fetches the sandbox's CDN links from it.
    pub sandbox_url: Option<String>,
    /// Largest file an agent may upload.
    pub media_upload_max_bytes: usize,
    /// Domains (comma-separated) the media job may download from over HTTPS, besides the
    /// Graph API's own origin ([`crate::media::hosts`]).
    pub media_download_domains: String,
}

/// Which of the two keys a development server takes from its key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DevelopmentKeys {
    /// `JWT_SECRET` was not set.
    pub jwt_secret: bool,
    /// `SECRET_KEY` was not set.
    pub secret_key: bool,
}

impl DevelopmentKeys {
    /// Whether any key is a development key.
    pub fn any(self) -> bool {
        self.jwt_secret || self.secret_key
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are deliberately left out.
        f.debug_struct("Config")
            .field("app_env", &self.app_env)
            .field("database_url", &redact_url(&self.database_url))
            .field("redis", &self.redis_url.as_deref().map(redact_url))
            .field("bind_addr", &self.bind_addr)
            .field("graph_api_base_url", &self.graph_api_base_url)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads the configuration from the process environment; in development, keys not
    /// set come from `DATA_DIR/dev-keys` (generated on first start).
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut config = Self::from_lookup(|name| std::env::var(name).ok())?;
        if config.development_keys.any() {
            let keys = dev_keys::load_or_create(&config.data_dir)
                .map_err(|e| err("DATA_DIR", format!("{e:#}")))?;
            config.use_development_keys(&keys);
        }
        Ok(config)
    }

    /// Replaces the keys that were not configured with `keys`.
    pub fn use_development_keys(&mut self, keys: &DevKeys) {
        if self.development_keys.jwt_secret {
            self.jwt_secret = keys.jwt_secret.to_vec();
        }
        if self.development_keys.secret_key {
            self.secret_key = keys.secret_key;
        }
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    /// Pure: keys that development leaves unset are random for this value only
    /// ([`Config::from_env`] replaces them with the persisted ones).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let app_env = match get("APP_ENV").as_deref() {
            None | Some("development") | Some("dev") | Some("test") => AppEnv::Development,
            Some("production") | Some("prod") => AppEnv::Production,
            Some(other) => return Err(err("APP_ENV", format!("unknown value {other:?}"))),
        };
        let production = app_env == AppEnv::Production;

        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let ephemeral = DevKeys::random();
        let mut development_keys = DevelopmentKeys::default();
        let jwt_secret = match get("JWT_SECRET") {
            Some(s) if s.len() >= 32 => s.into_bytes(),
            Some(_) => return Err(err("JWT_SECRET", "must be at least 32 bytes".into())),
            None if production => return Err(err("JWT_SECRET", "required in production".into())),
            None => {
                development_keys.jwt_secret = true;
                ephemeral.jwt_secret.to_vec()
            }
        };
        let secret_key = match get("SECRET_KEY") {
            Some(s) => parse_key(&s)
                .ok_or_else(|| err("SECRET_KEY", "expected 64 hex characters (32 bytes)".into()))?,
            None if production => return Err(err("SECRET_KEY", "required in production".into())),
            None => {
                development_keys.secret_key = true;
                ephemeral.secret_key
            }
        };
        if production && get("GRAPH_API_BASE_URL").is_some_and(|u| crate::sandbox::is_requested(&u))
        {
            return Err(err(
                "GRAPH_API_BASE_URL",
                "the Meta sandbox fakes sends; it is for development only".into(),
            ));
        }
        if production && dev_keys::is_development_key(&data_dir, &jwt_secret, &secret_key) {
            return Err(err(
                "JWT_SECRET",
                "JWT_SECRET or SECRET_KEY is a development key; generate real ones with `openssl rand -hex 32`".into(),
            ));
        }

        let bind_addr: SocketAddr =
            parse_or("BIND_ADDR", get("BIND_ADDR"), ([127, 0, 0, 1], 3001).into())?;
        Ok(Config {
            sandbox_url: None,
            media_dir: get("MEDIA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("media")),
            media_store_url: get("MEDIA_STORE_URL"),
            media_download_domains: get("MEDIA_DOWNLOAD_DOMAINS")
                .unwrap_or_else(|| crate::media::hosts::META_MEDIA_DOMAINS.into()),
            public_origin: get("PUBLIC_ORIGIN")
                .unwrap_or_else(|| format!("http://{bind_addr}"))
                .trim_end_matches('/')
                .to_owned(),
            media_url_ttl: Duration::from_secs(parse_or(
                "MEDIA_URL_TTL_SECS",
                get("MEDIA_URL_TTL_SECS"),
                900,
            )?),
            media_org_quota_bytes: parse_or(
                "MEDIA_ORG_QUOTA_BYTES",
                get("MEDIA_ORG_QUOTA_BYTES"),
                10 * 1024 * 1024 * 1024,
            )?,
            media_upload_max_bytes: parse_or(
                "MEDIA_UPLOAD_MAX_BYTES",
                get("MEDIA_UPLOAD_MAX_BYTES"),
                crate::media::upload::DEFAULT_MAX_BYTES,
            )?,
            app_env,
            database_url: get("DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/delightchat".into()),
            database_pool_size: parse_or("DATABASE_POOL_SIZE", get("DATABASE_POOL_SIZE"), 16)?,
            redis_url: get("REDIS_URL"),
            redis_channel_prefix: get("REDIS_CHANNEL_PREFIX")
                .unwrap_or_else(|| "delightchat".into()),
            bind_addr,
            data_dir,
            development_keys,
            jwt_secret,
            secret_key,
            access_token_ttl: Duration::from_secs(parse_or(
                "ACCESS_TOKEN_TTL_SECS",
                get("ACCESS_TOKEN_TTL_SECS"),
                900,
            )?),
            graphql_introspection: parse_or(
                "GRAPHQL_INTROSPECTION",
                get("GRAPHQL_INTROSPECTION"),
                !production,
            )?,
            graph_api_base_url: get("GRAPH_API_BASE_URL")
                .unwrap_or_else(|| "https://graph.facebook.com".into())
                .trim_end_matches('/')
                .to_owned(),
            graph_api_version: get("GRAPH_API_VERSION").unwrap_or_else(|| "v25.0".into()),
            meta_app_secret: get("META_APP_SECRET"),
            meta_verify_token: get("META_VERIFY_TOKEN"),
            event_retention: Duration::from_secs(
                3600 * parse_or(
                    "EVENT_RETENTION_HOURS",
                    get("EVENT_RETENTION_HOURS"),
                    168u64,
                )?,
            ),
            auth_attempts_per_ip_per_minute: parse_or(
                "AUTH_ATTEMPTS_PER_IP_PER_MINUTE",
                get("AUTH_ATTEMPTS_PER_IP_PER_MINUTE"),
                30u32,
            )?,
            connections: crate::http_server::ConnectionLimits {
                max_connections: parse_or("MAX_CONNECTIONS", get("MAX_CONNECTIONS"), 10_000)?,
                max_per_ip: parse_or(
                    "MAX_CONNECTIONS_PER_IP",
                    get("MAX_CONNECTIONS_PER_IP"),
                    1_000,
                )?,
                header_read_timeout: Duration::from_secs(parse_or(
                    "HEADER_READ_TIMEOUT_SECS",
                    get("HEADER_READ_TIMEOUT_SECS"),
                    10,
                )?),
            },
            verify_channel_ownership: true,
            max_sockets_per_user: parse_or(
                "MAX_SOCKETS_PER_USER",
                get("MAX_SOCKETS_PER_USER"),
                50,
            )?,
            metrics_token: get("METRICS_TOKEN").filter(|t| !t.is_empty()),
            pending_fact_retention: Duration::from_secs(
                3600 * parse_or(
                    "PENDING_FACT_RETENTION_HOURS",
                    get("PENDING_FACT_RETENTION_HOURS"),
                    168u64,
                )?,
            ),
            agent_offline_after: Duration::from_secs(parse_or(
                "AGENT_OFFLINE_AFTER_SECS",
                get("AGENT_OFFLINE_AFTER_SECS"),
                120u64,
            )?),
            inbound_scan_period: Duration::from_millis(parse_or(
                "INBOUND_SCAN_PERIOD_MS",
                get("INBOUND_SCAN_PERIOD_MS"),
                u64::try_from(crate::jobs::handoff::SCAN_PERIOD.as_millis()).unwrap_or(100),
            )?),
            live_access_check: Duration::from_secs(parse_or(
                "LIVE_ACCESS_CHECK_SECS",
                get("LIVE_ACCESS_CHECK_SECS"),
                30u64,
            )?),
        })
    }
}

fn err(var: &'static str, problem: String) -> ConfigError {
    ConfigError { var, problem }
}

fn parse_or<T: std::str::FromStr>(
    var: &'static str,
    value: Option<String>,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match value {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|e| err(var, format!("cannot parse {v:?}: {e}"))),
    }
}

fn parse_key(hex_key: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_key.trim()).ok()?;
    bytes.try_into().ok()
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_local() {
        let c = config(&[]).unwrap();
        assert_eq!(c.bind_addr, SocketAddr::from(([127, 0, 0, 1], 3001)));
        assert!(c.development_keys.jwt_secret && c.development_keys.secret_key);
        assert!(c.database_url.ends_with("/delightchat"));
        assert!(c.redis_url.is_none());
        assert!(c.graphql_introspection);
    }

    #[test]
    fn production_requires_secrets() {
        let e = config(&[("APP_ENV", "production")]).unwrap_err();
        assert!(e.to_string().starts_with("JWT_SECRET"), "{e}");
        let key = "ab".repeat(32);
        let c = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &"x".repeat(32)),
            ("SECRET_KEY", &key),
        ])
        .unwrap();
        assert!(!c.graphql_introspection);
    }

    #[test]
    fn development_keys_are_random_unless_configured() {
        let (a, b) = (config(&[]).unwrap(), config(&[]).unwrap());
        assert_ne!(a.jwt_secret, b.jwt_secret);
        assert_ne!(a.secret_key, b.secret_key);
        let set = config(&[("JWT_SECRET", &"j".repeat(32))]).unwrap();
        assert_eq!(set.jwt_secret, "j".repeat(32).into_bytes());
        assert!(!set.development_keys.jwt_secret && set.development_keys.secret_key);
    }

    #[test]
    fn production_refuses_to_start_with_development_keys() {
        use sha2::{Digest as _, Sha256};
        let real_key = "ab".repeat(32);
        // The constant earlier versions used, public in the git history.
        let public_key = hex::encode(Sha256::digest(
            "delightchat insecure development secret-key",
        ));
        let e = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &"x".repeat(32)),
            ("SECRET_KEY", &public_key),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("development key"), "{e}");
        // The keys this machine generated for development.
        let dir = std::env::temp_dir().join(format!("dc-config-{}", uuid::Uuid::new_v4().simple()));
        let keys = dev_keys::load_or_create(&dir).unwrap();
        let dir_text = dir.to_string_lossy().into_owned();
        let e = config(&[
            ("APP_ENV", "production"),
            ("DATA_DIR", &dir_text),
            ("JWT_SECRET", &keys.jwt_secret_text()),
            ("SECRET_KEY", &real_key),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("development key"), "{e}");
        let e = config(&[
            ("APP_ENV", "production"),
            ("DATA_DIR", &dir_text),
            ("JWT_SECRET", &"x".repeat(32)),
            ("SECRET_KEY", &hex::encode(keys.secret_key)),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("development key"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn production_refuses_the_sandbox() {
        let e = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &"x".repeat(32)),
            ("SECRET_KEY", &"ab".repeat(32)),
            ("GRAPH_API_BASE_URL", "sandbox"),
        ])
        .unwrap_err();
        assert!(e.to_string().starts_with("GRAPH_API_BASE_URL"), "{e}");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = config(&[("SECRET_KEY", "abc")]).unwrap_err();
        assert!(
            e.to_string().starts_with("SECRET_KEY: expected 64 hex"),
            "{e}"
        );
        let e = config(&[("BIND_ADDR", "nope")]).unwrap_err();
        assert!(e.to_string().starts_with("BIND_ADDR"), "{e}");
    }

    #[test]
    fn debug_output_hides_credentials() {
        let c = config(&[("DATABASE_URL", "postgres://u:hunter2@db/x")]).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
