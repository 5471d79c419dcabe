//! Caps on things held open per key: connections per client address
//! ([`crate::http_server`]), GraphQL WebSockets per user ([`crate::graphql::ws`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// At most `max` claims held at once per key.
pub struct OpenLimit<K> {
    max: usize,
    open: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Hash + Eq + Copy> OpenLimit<K> {
    /// A limit of `max` per key.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// Counts one more for `key`, unless it already holds the most allowed.
    pub fn claim(&self, key: K) -> Option<Claim<K>> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Claim {
            key,
            open: self.open.clone(),
        })
    }
}

/// One thing held open for a key; released when dropped.
pub struct Claim<K: Hash + Eq> {
    key: K,
    open: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Hash + Eq> Drop for Claim<K> {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_slots_back_when_claims_are_dropped() {
        let limit = OpenLimit::new(2);
        let first = limit.claim("a").unwrap();
        let _second = limit.claim("a").unwrap();
        assert!(limit.claim("a").is_none());
        assert!(limit.claim("b").is_some());
        drop(first);
        assert!(limit.claim("a").is_some());
    }
}
