//! Access re-checks of open event streams, shared per session: however many sockets
//! and subscriptions one user holds in an org with one session, the process asks the
//! database about them at most once per interval, so idle subscriptions cost no queries
//! per socket. A re-check fails a stream whose user left the org, or whose session was
//! ended (`logout`, `changePassword`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::db::ids::{OrgId, UserId};

/// Entries kept before stale ones are swept.
const SWEEP_ABOVE: usize = 10_000;

/// Who holds a stream: its org, its user, and the session of the token they came with.
pub type Holder = (OrgId, UserId, Option<Uuid>);

/// When each holder was last seen to still have access.
pub struct AccessChecks {
    interval: Duration,
    verified: Mutex<HashMap<Holder, Instant>>,
}

impl AccessChecks {
    /// Checks that trust a yes for `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            verified: Mutex::default(),
        }
    }

    /// How often a stream re-checks its holder's access.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Whether `holder` still has access: from a check younger than the interval, or
    /// else by running `lookup` (and remembering a yes).
    pub async fn still_allowed<E>(
        &self,
        holder: Holder,
        lookup: impl Future<Output = Result<bool, E>>,
    ) -> Result<bool, E> {
        if self
            .lock()
            .get(&holder)
            .is_some_and(|at| at.elapsed() < self.interval)
        {
            return Ok(true);
        }
        let allowed = lookup.await?;
        let mut verified = self.lock();
        if allowed {
            verified.insert(holder, Instant::now());
        } else {
            verified.remove(&holder);
        }
        if verified.len() > SWEEP_ABOVE {
            verified.retain(|_, at| at.elapsed() < self.interval);
        }
        Ok(allowed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Holder, Instant>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn many_streams_of_one_session_share_one_lookup_per_interval() {
        let checks = AccessChecks::new(Duration::from_secs(30));
        let (org, user) = (OrgId::new(), UserId::new());
        let session = Some(Uuid::new_v4());
        let lookups = AtomicUsize::new(0);
        let lookups = &lookups;
        let lookup = |answer: bool| async move {
            lookups.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(answer)
        };
        for _ in 0..1000 {
            let member = checks
                .still_allowed((org, user, session), lookup(true))
                .await;
            assert_eq!(member, Ok(true));
        }
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        // Another session of the same user is asked about on its own: it may have been
        // ended while this one was not.
        let other = (org, user, Some(Uuid::new_v4()));
        assert_eq!(checks.still_allowed(other, lookup(false)).await, Ok(false));
        assert_eq!(lookups.load(Ordering::SeqCst), 2);
        let removed = (org, UserId::new(), session);
        for _ in 0..2 {
            assert_eq!(
                checks.still_allowed(removed, lookup(false)).await,
                Ok(false)
            );
        }
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            4,
            "a no is never remembered"
        );
    }
}
