//! A per-client-address limit on the operations anyone may try without a token (sign-up,
//! sign-in, token refresh): a token bucket per IP address (SECURITY.md recommends 30 a
//! minute across them), on top of the per-account sign-in throttle. The address is the
//! TCP peer's: `X-Forwarded-For` is not trusted, so behind a proxy every client shares
//! the proxy's bucket (see README).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// Addresses remembered before idle ones are forgotten early.
const MAX_ADDRESSES: usize = 100_000;

/// Token buckets of unauthenticated operations, one per client address.
pub struct IpLimit {
    limiter: RateLimiter<IpAddr, HashMapStateStore<IpAddr>, DefaultClock>,
    clock: DefaultClock,
}

impl IpLimit {
    /// `per_minute` operations a minute per address (at least 1), in bursts of as many.
    pub fn per_minute(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        IpLimit {
            limiter: RateLimiter::hashmap(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one token of `ip`'s bucket, or says how long until one is free.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.limiter.len() > MAX_ADDRESSES {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets addresses whose buckets are full again (memory stays bounded).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_bucket() {
        let limit = IpLimit::per_minute(2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!(limit.check(a).is_ok());
        assert!(limit.check(a).is_ok());
        let wait = limit.check(a).expect_err("third attempt refused");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(limit.check(b).is_ok(), "another address is not affected");
    }
}
