//! Durable media: our own copies of attachments, kept in an object store and served
//! through short-lived signed URLs.
//!
//! - [`job`]: the background copy of inbound attachments (PENDING -> STORED or FAILED).
//! - [`hosts`]: where downloads may go (Meta's CDNs and the configured Graph API).
//! - [`store`]: the object store (local directory by default, S3-compatible by URL).
//! - [`signing`]: `/media/{id}?exp=..&sig=..` URLs.
//! - [`routes`]: serving a signed URL (with ranges) and agents' uploads.
//! - [`upload`]: storing an agent's upload (`POST /media` and GraphQL alike).
//! - [`limits`], [`sniff`]: per-platform caps and content types from magic bytes.

pub mod hosts;
pub mod job;
pub mod limits;
pub mod routes;
pub mod signing;
pub mod sniff;
pub mod store;
pub mod upload;

use crate::db::ids::{MediaId, OrgId};
use crate::state::AppState;

/// Where the file `id` of `org` lives in the object store.
pub fn storage_key(org: OrgId, id: MediaId) -> String {
    format!("{}/{}", org.0, id.0)
}

/// How long a URL handed to Meta with an outgoing attachment stays valid.
pub const PUBLIC_URL_TTL: i64 = 24 * 3600;

/// A signed URL of `id` (of `org`) for Meta to fetch an outgoing attachment from.
pub fn public_url(state: &AppState, id: MediaId, org: OrgId) -> String {
    let expires = chrono::Utc::now().timestamp() + PUBLIC_URL_TTL;
    format!(
        "{}{}",
        state.config().public_origin,
        state.url_signer().path(id, org, expires)
    )
}

/// A signed URL of `id` (of `org`) for dashboards: absolute on the public origin, valid
/// for one to two `MEDIA_URL_TTL_SECS` (the expiry is rounded up, so repeated reads
/// within a window give the same URL and browsers can cache it).
pub fn signed_url(state: &AppState, id: MediaId, org: OrgId) -> String {
    let config = state.config();
    let ttl = i64::try_from(config.media_url_ttl.as_secs())
        .unwrap_or(900)
        .max(1);
    let now = chrono::Utc::now().timestamp();
    let expires = (now / ttl + 2) * ttl;
    format!(
        "{}{}",
        config.public_origin,
        state.url_signer().path(id, org, expires)
    )
}
