//! Request-scoped batching and caching of row loads, with no timer.
//!
//! async-graphql's `DataLoader` gathers the keys of a batch during a delay run on a timer:
//! even a zero delay waits for the timer's next millisecond tick, on every load that the
//! request's cache does not answer. Here the first caller of a batch (its leader) yields
//! to the scheduler once instead: the sibling fields resolved in the same task, which are
//! polled in the same pass, add their keys meanwhile, and the leader then loads them all
//! with one call. A caller whose leader was dropped before answering starts over (and
//! leads the next batch itself).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_graphql::dataloader::Loader;
use tokio::sync::oneshot;

/// Loads through `L` for one request: batches concurrent loads of one key type and
/// caches what they found for the rest of the request.
pub struct Batcher<L> {
    loader: L,
    slots: Mutex<HashMap<TypeId, Box<dyn Any + Send>>>,
}

/// One key type's cache and the batch being gathered.
struct Slot<K, V> {
    cache: HashMap<K, V>,
    keys: Vec<K>,
    waiting: Vec<oneshot::Sender<Answer>>,
}

/// What a batch's leader tells its callers: look in the cache, or the load's error.
type Answer = Result<(), async_graphql::Error>;

impl<K, V> Default for Slot<K, V> {
    fn default() -> Self {
        Self {
            cache: HashMap::new(),
            keys: Vec::new(),
            waiting: Vec::new(),
        }
    }
}

impl<L> Batcher<L> {
    /// A batcher with an empty cache.
    pub fn new(loader: L) -> Self {
        Self {
            loader,
            slots: Mutex::default(),
        }
    }

    /// The loader itself, for loads that batch themselves.
    pub fn loader(&self) -> &L {
        &self.loader
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<TypeId, Box<dyn Any + Send>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on key type `K`'s slot (the lock is never held across an await).
    // The map is keyed by the key type and only ever holds that key type's slot there.
    #[allow(clippy::expect_used)]
    fn with_slot<K, R>(&self, f: impl FnOnce(&mut Slot<K, L::Value>) -> R) -> R
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
    {
        let mut slots = self.slots();
        let slot = slots
            .entry(TypeId::of::<K>())
            .or_insert_with(|| Box::new(Slot::<K, L::Value>::default()))
            .downcast_mut::<Slot<K, L::Value>>()
            .expect("one slot type per key type");
        f(slot)
    }

    /// Puts rows in the cache, as if they had been loaded.
    pub fn feed_many<K>(&self, rows: impl IntoIterator<Item = (K, L::Value)>)
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
    {
        self.with_slot(|slot: &mut Slot<K, L::Value>| slot.cache.extend(rows));
    }

    /// Puts one row in the cache.
    pub fn feed_one<K>(&self, key: K, value: L::Value)
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
    {
        self.feed_many([(key, value)]);
    }
}

impl<L> Batcher<L>
where
    L: Send + Sync + 'static,
{
    /// The row of `key`, from the cache or loaded in a batch with the keys that sibling
    /// fields ask for at the same time.
    pub async fn load_one<K>(&self, key: K) -> Result<Option<L::Value>, async_graphql::Error>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K, Error = async_graphql::Error>,
    {
        loop {
            let joined = self.with_slot(|slot: &mut Slot<K, L::Value>| {
                if let Some(value) = slot.cache.get(&key) {
                    return Err(value.clone());
                }
                let leads = slot.keys.is_empty();
                if !slot.keys.contains(&key) {
                    slot.keys.push(key.clone());
                }
                let (answer, answered) = oneshot::channel();
                slot.waiting.push(answer);
                Ok((leads, answered))
            });
            let (leads, answered) = match joined {
                Ok(joined) => joined,
                Err(cached) => return Ok(Some(cached)),
            };
            if leads {
                self.lead::<K>().await;
            }
            match answered.await {
                Ok(Ok(())) => {
                    return Ok(self
                        .with_slot(|slot: &mut Slot<K, L::Value>| slot.cache.get(&key).cloned()));
                }
                Ok(Err(e)) => return Err(e),
                // The leader was dropped before loading: try again.
                Err(_) => continue,
            }
        }
    }

    /// Lets the siblings add their keys, then loads the batch and answers its callers.
    async fn lead<K>(&self)
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K, Error = async_graphql::Error>,
    {
        let mut guard = Abandoned::<L, K> {
            batcher: self,
            armed: true,
            key: PhantomData,
        };
        tokio::task::yield_now().await;
        let (keys, waiting) = self.with_slot(|slot: &mut Slot<K, L::Value>| {
            (
                std::mem::take(&mut slot.keys),
                std::mem::take(&mut slot.waiting),
            )
        });
        // From here the callers are this future's own: dropping it drops their answers.
        guard.armed = false;
        let answer = match self.loader.load(&keys).await {
            Ok(rows) => {
                self.feed_many(rows);
                Ok(())
            }
            Err(e) => Err(e),
        };
        for caller in waiting {
            let _ = caller.send(answer.clone());
        }
    }

    /// The rows of `keys` that exist: the cached ones, and the others loaded in one call.
    pub async fn load_many<K>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<HashMap<K, L::Value>, async_graphql::Error>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K, Error = async_graphql::Error>,
    {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        self.with_slot(|slot: &mut Slot<K, L::Value>| {
            for key in keys {
                match slot.cache.get(&key) {
                    Some(value) => {
                        found.insert(key, value.clone());
                    }
                    None if !missing.contains(&key) => missing.push(key),
                    None => {}
                }
            }
        });
        if !missing.is_empty() {
            let loaded = self.loader.load(&missing).await?;
            self.feed_many(loaded.clone());
            found.extend(loaded);
        }
        Ok(found)
    }
}

/// Held by a leader until it has taken its batch: dropped before that, it takes the
/// batch's callers with it (they start over), so that none waits for a leader that is gone.
struct Abandoned<'a, L, K>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K>,
{
    batcher: &'a Batcher<L>,
    armed: bool,
    key: PhantomData<K>,
}

impl<L, K> Drop for Abandoned<'_, L, K>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K>,
{
    fn drop(&mut self) {
        if self.armed {
            self.batcher.with_slot(|slot: &mut Slot<K, L::Value>| {
                slot.keys.clear();
                slot.waiting.clear();
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Doubles its keys and records each call's keys; fails on 13.
    #[derive(Default)]
    struct Doubler {
        calls: Mutex<Vec<Vec<u32>>>,
        loads: AtomicUsize,
    }

    impl Loader<u32> for Doubler {
        type Value = u64;
        type Error = async_graphql::Error;

        async fn load(&self, keys: &[u32]) -> Result<HashMap<u32, u64>, Self::Error> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            self.calls.lock().unwrap().push(keys.to_vec());
            tokio::task::yield_now().await;
            if keys.contains(&13) {
                return Err(async_graphql::Error::new("unlucky"));
            }
            Ok(keys
                .iter()
                .filter(|k| **k != 7)
                .map(|k| (*k, u64::from(*k) * 2))
                .collect())
        }
    }

    #[tokio::test]
    async fn siblings_polled_together_share_one_load_and_the_cache_answers_later() {
        let batcher = Batcher::new(Doubler::default());
        let loads = futures_util::future::join_all((1..=5).map(|k| batcher.load_one(k % 4))).await;
        let values: Vec<Option<u64>> = loads.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            values,
            vec![Some(2), Some(4), Some(6), Some(0), Some(2)],
            "each caller gets its own key's row"
        );
        assert_eq!(
            *batcher.loader().calls.lock().unwrap(),
            vec![vec![1, 2, 3, 0]]
        );
        assert_eq!(batcher.load_one(3).await.unwrap(), Some(6));
        assert_eq!(batcher.loader().loads.load(Ordering::SeqCst), 1);
    }

    /// Batching waits for no timer: it works on a runtime that has none.
    #[test]
    fn batches_form_on_a_runtime_without_timers() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let batcher = Batcher::new(Doubler::default());
        let (a, b) = runtime
            .block_on(async { futures_util::join!(batcher.load_one(1), batcher.load_one(2)) });
        assert_eq!((a.unwrap(), b.unwrap()), (Some(2), Some(4)));
        assert_eq!(*batcher.loader().calls.lock().unwrap(), vec![vec![1, 2]]);
    }

    #[tokio::test]
    async fn a_missing_row_is_none_and_a_failed_load_fails_its_whole_batch() {
        let batcher = Batcher::new(Doubler::default());
        assert_eq!(batcher.load_one(7).await.unwrap(), None);
        let (a, b) = futures_util::join!(batcher.load_one(13), batcher.load_one(1));
        assert!(a.is_err() && b.is_err());
        // Nothing of the failed batch was cached: asked again, it loads again.
        assert_eq!(batcher.load_one(1).await.unwrap(), Some(2));
    }

    #[tokio::test]
    async fn a_dropped_leader_leaves_nobody_waiting() {
        let batcher = Batcher::new(Doubler::default());
        {
            let leader = batcher.load_one(1);
            futures_util::pin_mut!(leader);
            // Polled once: it joined a batch as its leader and yielded.
            assert!(futures_util::poll!(leader.as_mut()).is_pending());
        }
        assert_eq!(batcher.load_one(2).await.unwrap(), Some(4));
        assert_eq!(*batcher.loader().calls.lock().unwrap(), vec![vec![2]]);
    }

    #[tokio::test]
    async fn fed_and_many_rows_come_from_the_cache() {
        let batcher = Batcher::new(Doubler::default());
        batcher.feed_one(5, 50);
        assert_eq!(batcher.load_one(5).await.unwrap(), Some(50));
        let many = batcher.load_many([5, 6, 7, 6]).await.unwrap();
        assert_eq!(many, HashMap::from([(5, 50), (6, 12)]));
        assert_eq!(*batcher.loader().calls.lock().unwrap(), vec![vec![6, 7]]);
    }
}
