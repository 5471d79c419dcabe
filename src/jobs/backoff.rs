//! Exponential backoff with full jitter: attempt n waits a random time between zero and
//! `min(cap, base * 2^(n-1))`, so failures that happened together do not retry together.

use std::time::Duration;

/// A retry schedule.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Ceiling of the first wait.
    pub base: Duration,
    /// Ceiling of any wait.
    pub cap: Duration,
}

impl Backoff {
    /// Inbound deliveries: 1 s, doubling, at most 10 minutes.
    pub const INBOUND: Backoff = Backoff {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(600),
    };

    /// The ceiling of the wait after failed attempt number `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A random wait for attempt `attempt`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        Duration::from_millis(rand::random_range(0..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let b = Backoff::INBOUND;
        assert_eq!(b.ceiling(1), Duration::from_secs(1));
        assert_eq!(b.ceiling(4), Duration::from_secs(8));
        assert_eq!(b.ceiling(40), Duration::from_secs(600));
        for attempt in 1..12 {
            assert!(b.delay(attempt) <= b.ceiling(attempt));
        }
    }
}
