//! The app secrets that verify webhook signatures, cached briefly per channel so the
//! ingest path does not query and decrypt on every delivery. A rotated or deleted
//! channel takes effect within [`TTL`]; unknown channel ids are never cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::crypto::{SecretBox, aad};
use crate::db::ids::ChannelId;
use crate::db::scope::Scope;
use crate::db::{Pool, channels};

/// How long a looked-up secret is trusted.
pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept before the cache is cleared.
const MAX_ENTRIES: usize = 10_000;

/// What verifying one channel's deliveries needs.
pub struct ChannelKey {
    /// The channel.
    pub channel_id: ChannelId,
    /// Its decrypted app secret.
    pub app_secret: String,
    /// The secret's keyed fingerprint (stored with each delivery).
    pub fingerprint: Vec<u8>,
}

/// The lookup failed for a reason other than "no such channel".
#[derive(Debug, thiserror::Error)]
#[error("channel key lookup failed: {0}")]
pub struct KeyError(String);

/// Per-process cache of [`ChannelKey`]s.
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<ChannelId, (Instant, Arc<ChannelKey>)>>,
}

impl KeyCache {
    /// The key of a live channel (read from `pool`, opened with `secrets`), `None` when
    /// there is no such channel.
    pub async fn get(
        &self,
        pool: &Pool,
        secrets: &SecretBox,
        id: ChannelId,
    ) -> Result<Option<Arc<ChannelKey>>, KeyError> {
        if let Some(key) = self.cached(id) {
            return Ok(Some(key));
        }
        let mut conn = pool
            .checkout(Scope::System)
            .await
            .map_err(|e| KeyError(e.to_string()))?;
        let Some(channel) = channels::find_live(&mut conn, id)
            .await
            .map_err(|e| KeyError(e.to_string()))?
        else {
            return Ok(None);
        };
        let app_secret = secrets
            .open(&channel.app_secret_enc, &aad(channel.id.0, "app_secret"))
            .map_err(|e| KeyError(e.to_string()))?;
        let key = Arc::new(ChannelKey {
            channel_id: id,
            app_secret,
            fingerprint: channel.app_secret_fingerprint,
        });
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(id, (Instant::now(), key.clone()));
        Ok(Some(key))
    }

    fn cached(&self, id: ChannelId) -> Option<Arc<ChannelKey>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&id)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, key)| key.clone())
    }
}
