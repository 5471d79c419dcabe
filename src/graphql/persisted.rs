//! Automatic persisted queries: Apollo's APQ protocol over GET and POST.
//!
//! A client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without the
//! query text; an unknown hash answers `PersistedQueryNotFound` (code
//! `PERSISTED_QUERY_NOT_FOUND`), and the client retries with the text and the hash. A
//! text whose SHA-256 does not match the hash is refused. Only documents that parse
//! and validate are remembered (the transport stores them after a successful run), in
//! an LRU cache bounded in bytes ([`MAX_CACHE_BYTES`]) and local to the process: with
//! several instances a client may be asked for the text once per instance, which the
//! protocol handles.
//!
//! Our own implementation rather than async-graphql's `apollo_persisted_queries`: that
//! one stores parsed documents in a cache bounded only by entry count, parses outside
//! the parser limits, and would add a second `sha2` to the build.

use std::sync::{Arc, Mutex};

use async_graphql::{ErrorExtensionValues, ServerError};
use sha2::{Digest, Sha256};

/// Most bytes of query text (plus hashes) the cache holds.
pub const MAX_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// The process's persisted-query cache. Cheap to clone.
#[derive(Clone)]
pub struct PersistedQueries(Arc<Mutex<Cache>>);

struct Cache {
    entries: lru::LruCache<String, Arc<str>>,
    bytes: usize,
    capacity: usize,
}

/// A query text to remember once it has run without a request error.
#[derive(Debug)]
pub struct Registration {
    hash: String,
    query: Arc<str>,
}

impl Default for PersistedQueries {
    fn default() -> Self {
        Self::with_capacity(MAX_CACHE_BYTES)
    }
}

impl PersistedQueries {
    /// A cache holding at most `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Arc::new(Mutex::new(Cache {
            entries: lru::LruCache::unbounded(),
            bytes: 0,
            capacity,
        })))
    }

    /// Applies the protocol to `request`: fills in the text of a known hash, checks a
    /// text against its hash (returning what to remember), or passes a request without
    /// the extension through.
    pub fn resolve(
        &self,
        mut request: async_graphql::Request,
    ) -> Result<(async_graphql::Request, Option<Registration>), ServerError> {
        let Some(extension) = request.extensions.remove("persistedQuery") else {
            return Ok((request, None));
        };
        let extension = serde_json::to_value(&extension).unwrap_or_default();
        if extension.get("version").and_then(serde_json::Value::as_i64) != Some(1) {
            return Err(error(
                "only version 1 of persistedQuery is supported",
                "BAD_USER_INPUT",
            ));
        }
        let hash = extension
            .get("sha256Hash")
            .and_then(serde_json::Value::as_str)
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| error("sha256Hash must be 64 hex characters", "BAD_USER_INPUT"))?
            .to_ascii_lowercase();
        if request.query.is_empty() {
            let known = self
                .lock()
                .and_then(|mut cache| cache.entries.get(&hash).cloned());
            return match known {
                Some(query) => {
                    request.query = query.to_string();
                    Ok((request, None))
                }
                None => Err(error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")),
            };
        }
        if hex::encode(Sha256::digest(request.query.as_bytes())) != hash {
            return Err(error("provided sha does not match query", "BAD_USER_INPUT"));
        }
        let query = Arc::from(request.query.as_str());
        Ok((request, Some(Registration { hash, query })))
    }

    /// Remembers a query that ran, evicting the least recently used past the capacity.
    pub fn store(&self, registration: Registration) {
        let Some(mut cache) = self.lock() else { return };
        let size = registration.hash.len() + registration.query.len();
        if size > cache.capacity {
            return;
        }
        if let Some(old) = cache.entries.put(registration.hash, registration.query) {
            cache.bytes -= old.len() + 64;
        }
        cache.bytes += size;
        while cache.bytes > cache.capacity {
            match cache.entries.pop_lru() {
                Some((hash, query)) => cache.bytes -= hash.len() + query.len(),
                None => break,
            }
        }
    }

    fn lock(&self) -> Option<std::sync::MutexGuard<'_, Cache>> {
        self.0.lock().ok()
    }
}

/// A request error with our `extensions.code`.
pub(crate) fn error(message: &str, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apq(query: &str, hash: &str) -> async_graphql::Request {
        let body = serde_json::json!({"query": query, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash}}});
        serde_json::from_value(body).unwrap()
    }

    fn sha(query: &str) -> String {
        hex::encode(Sha256::digest(query.as_bytes()))
    }

    #[test]
    fn unknown_hashes_are_asked_for_and_known_ones_filled_in() {
        let cache = PersistedQueries::default();
        let query = "{ __typename }";
        let e = cache.resolve(apq("", &sha(query))).unwrap_err();
        assert_eq!(e.message, "PersistedQueryNotFound");
        let (request, registration) = cache.resolve(apq(query, &sha(query))).unwrap();
        assert_eq!(request.query, query);
        cache.store(registration.unwrap());
        let (request, registration) = cache.resolve(apq("", &sha(query))).unwrap();
        assert_eq!(request.query, query);
        assert!(registration.is_none());
    }

    #[test]
    fn a_text_that_does_not_match_its_hash_is_refused() {
        let cache = PersistedQueries::default();
        let e = cache
            .resolve(apq("{ me { id } }", &sha("{ __typename }")))
            .unwrap_err();
        assert_eq!(e.message, "provided sha does not match query");
        assert!(cache.resolve(apq("", "xyz")).is_err());
    }

    #[test]
    fn the_cache_stays_within_its_byte_budget() {
        let cache = PersistedQueries::with_capacity(1000);
        for i in 0..100 {
            let query = format!("{{ a{i}: __typename }}");
            let (_, registration) = cache.resolve(apq(&query, &sha(&query))).unwrap();
            cache.store(registration.unwrap());
        }
        let cache = cache.lock().unwrap();
        assert!(
            cache.bytes <= 1000 && cache.entries.len() < 100,
            "{}",
            cache.bytes
        );
        assert!(cache.entries.len() > 5);
    }
}
