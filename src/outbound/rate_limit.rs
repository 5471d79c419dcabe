//! Per-channel send rate limits of this process (token buckets), and pauses Meta asks
//! for (`Retry-After`, `estimated_time_to_regain_access`).
//!
//! Documented caps: Instagram 100 sends/s per account, Messenger 300/s per Page (we use
//! 250), WhatsApp 80/s per phone number. With several worker processes each keeps its
//! own buckets; see `docs/SCALING.md`.

use crate::db::enums::Platform;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::db::ids::ChannelId;

/// Sends per second allowed on a platform.
pub fn per_second(platform: Platform) -> f64 {
    match platform {
        Platform::Instagram => 100.0,
        Platform::Messenger => 250.0,
        Platform::WhatsApp => 80.0,
    }
}

/// Background Graph API reads per second per channel (profiles, templates): well under
/// Meta's non-messaging call budget, which is shared with the channel's other apps.
pub const READS_PER_SECOND: f64 = 5.0;

struct Bucket {
    tokens: f64,
    refilled: Instant,
    paused_until: Option<Instant>,
}

/// Token buckets per channel.
#[derive(Default)]
pub struct RateLimits {
    buckets: Mutex<HashMap<ChannelId, Bucket>>,
}

impl RateLimits {
    /// Waits until `channel` may send one more message at `rate` per second.
    pub async fn acquire(&self, channel: ChannelId, rate: f64) {
        loop {
            let wait = {
                let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let bucket = buckets.entry(channel).or_insert(Bucket {
                    tokens: rate,
                    refilled: now,
                    paused_until: None,
                });
                bucket.tokens = (bucket.tokens
                    + now.duration_since(bucket.refilled).as_secs_f64() * rate)
                    .min(rate);
                bucket.refilled = now;
                match bucket.paused_until {
                    Some(until) if until > now => until - now,
                    _ if bucket.tokens >= 1.0 => {
                        bucket.tokens -= 1.0;
                        return;
                    }
                    _ => Duration::from_secs_f64((1.0 - bucket.tokens) / rate),
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Pauses `channel` for `duration` (Meta said to wait).
    pub fn pause(&self, channel: ChannelId, duration: Duration) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let bucket = buckets.entry(channel).or_insert(Bucket {
            tokens: 0.0,
            refilled: now,
            paused_until: None,
        });
        bucket.paused_until = Some(
            bucket
                .paused_until
                .map_or(now + duration, |u| u.max(now + duration)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_spends_its_burst_then_paces() {
        let limits = RateLimits::default();
        let channel = ChannelId::new();
        let start = tokio::time::Instant::now();
        for _ in 0..10 {
            limits.acquire(channel, 10.0).await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(10),
            "the burst is immediate"
        );
        limits.acquire(channel, 10.0).await;
        assert!(
            start.elapsed() >= Duration::from_millis(90),
            "then one per 100 ms"
        );
        limits.pause(channel, Duration::from_secs(5));
        limits.acquire(channel, 10.0).await;
        assert!(start.elapsed() >= Duration::from_secs(5));
    }
}
