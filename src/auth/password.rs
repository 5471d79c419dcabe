//! Password hashing with argon2id (crate defaults: m=19 MiB, t=2, p=1).
//!
//! Hashing is CPU- and memory-heavy, so it runs on the blocking pool behind a small
//! semaphore whose permit is held until the hash is done (a request that times out does
//! not free its permit while its hash still runs), and at most [`MAX_WAITING`] more wait
//! for one: past that a hash is refused at once ([`HashError::Busy`], answered
//! RATE_LIMITED), so a flood of sign-ins costs bounded memory and threads. Unknown emails
//! are verified against a dummy hash so both paths cost the same.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use tokio::sync::Semaphore;

/// Accepted password lengths, in characters.
pub const PASSWORD_LENGTH: std::ops::RangeInclusive<usize> = 8..=256;

/// Hashes that may wait for a permit at once.
pub const MAX_WAITING: usize = 16;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many sign-ins are waiting: try again shortly.
    #[error("too many password checks are in progress")]
    Busy,
    /// The hasher failed (a bug).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<HashError> for crate::error::AppError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => crate::error::AppError::RetryLater {
                message: "the server is busy checking passwords; try again in a second".into(),
                retry_after: std::time::Duration::from_secs(1),
            },
            HashError::Internal(e) => crate::error::AppError::Internal(e),
        }
    }
}

/// Hashes and verifies passwords with bounded parallelism and a bounded queue.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

impl PasswordHasher {
    /// A hasher running at most `parallelism` hashes at once.
    pub fn new(parallelism: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(parallelism.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The PHC string of `password` with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        Ok(self.blocking(move || hash_now(&password)).await??)
    }

    /// Whether `password` matches `hash`; with `None` (unknown user) a dummy hash is
    /// checked so the timing does not reveal whether the account exists.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, HashError> {
        self.blocking(move || {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| dummy_hash().to_owned());
            let ok = PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false);
            known && ok
        })
        .await
    }

    /// Runs `f` on the blocking pool once a permit is free; the permit moves into the
    /// blocking task, so it is released when the work ends, not when the caller gives up.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(HashError::Busy);
                }
                let _counted = Waiting(&self.waiting);
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| HashError::Internal(e.into()))?
            }
        };
        tokio::task::spawn_blocking(move || {
            let result = f();
            drop(permit);
            result
        })
        .await
        .map_err(|e| HashError::Internal(e.into()))
    }

    /// Hashes waiting for a permit now (tests and metrics).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// Counts one waiter until dropped (also when the waiting request is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("dummy password for unknown accounts").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (bounded) until `condition` holds, yielding to the runtime in between.
    async fn until(condition: impl Fn() -> bool) {
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while !condition() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("condition reached");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_check_keeps_its_permit_until_its_hash_ends() {
        let hasher = PasswordHasher::new(1);
        let (started_tx, started) = std::sync::mpsc::channel();
        let (finish, finish_rx) = std::sync::mpsc::channel::<()>();
        let running = {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                hasher
                    .blocking(move || {
                        let _ = started_tx.send(());
                        let _ = finish_rx.recv();
                    })
                    .await
            })
        };
        tokio::task::spawn_blocking(move || started.recv())
            .await
            .unwrap()
            .unwrap();
        // The request gives up (a timeout drops it) while its hash still runs.
        running.abort();
        assert!(running.await.is_err());
        assert_eq!(
            hasher.permits.available_permits(),
            0,
            "the permit is still held"
        );
        finish.send(()).unwrap();
        until(|| hasher.permits.available_permits() == 1).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_login_flood_is_refused_once_the_queue_is_full() {
        let hasher = PasswordHasher::new(1);
        let (finish, finish_rx) = std::sync::mpsc::channel::<()>();
        let finish_rx = std::sync::Arc::new(std::sync::Mutex::new(finish_rx));
        let mut held = Vec::new();
        for _ in 0..=MAX_WAITING {
            let (hasher, finish_rx) = (hasher.clone(), finish_rx.clone());
            held.push(tokio::spawn(async move {
                hasher
                    .blocking(move || {
                        let _ = finish_rx.lock().map(|rx| rx.recv());
                    })
                    .await
            }));
        }
        until(|| hasher.waiting() == MAX_WAITING).await;
        assert!(matches!(
            hasher.verify("guess".into(), None).await,
            Err(HashError::Busy)
        ));
        for _ in 0..=MAX_WAITING {
            finish.send(()).unwrap();
        }
        for task in held {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(hasher.waiting(), 0);
    }

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            hasher
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("wrong horse".into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("correct horse".into(), None).await.unwrap());
    }
}
