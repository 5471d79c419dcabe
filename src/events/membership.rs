//! Membership re-checks of open event streams, shared per user: however many sockets
//! and subscriptions one user holds in an org, the process asks the database about that
//! pair at most once per interval, so idle subscriptions cost no queries per socket.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::db::ids::{OrgId, UserId};

/// Entries kept before stale ones are swept.
const SWEEP_ABOVE: usize = 10_000;

/// When each (org, user) pair was last seen to be a membership.
#[derive(Default)]
pub struct MembershipChecks {
    verified: Mutex<HashMap<(OrgId, UserId), Instant>>,
}

impl MembershipChecks {
    /// Whether `user` is still a member of `org`: from a check younger than `max_age`,
    /// or else by running `lookup` (and remembering a yes).
    pub async fn still_member<E>(
        &self,
        org: OrgId,
        user: UserId,
        max_age: Duration,
        lookup: impl Future<Output = Result<bool, E>>,
    ) -> Result<bool, E> {
        if self
            .lock()
            .get(&(org, user))
            .is_some_and(|at| at.elapsed() < max_age)
        {
            return Ok(true);
        }
        let member = lookup.await?;
        let mut verified = self.lock();
        if member {
            verified.insert((org, user), Instant::now());
        } else {
            verified.remove(&(org, user));
        }
        if verified.len() > SWEEP_ABOVE {
            verified.retain(|_, at| at.elapsed() < max_age);
        }
        Ok(member)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(OrgId, UserId), Instant>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn many_streams_of_one_user_share_one_lookup_per_interval() {
        let checks = MembershipChecks::default();
        let (org, user) = (OrgId::new(), UserId::new());
        let lookups = AtomicUsize::new(0);
        let lookup = || async {
            lookups.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(true)
        };
        for _ in 0..1000 {
            let member = checks
                .still_member(org, user, Duration::from_secs(30), lookup())
                .await;
            assert_eq!(member, Ok(true));
        }
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        let removed = UserId::new();
        for _ in 0..2 {
            let member = checks
                .still_member(org, removed, Duration::from_secs(30), async {
                    lookups.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(false)
                })
                .await;
            assert_eq!(member, Ok(false));
        }
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            3,
            "a no is never remembered"
        );
    }
}
