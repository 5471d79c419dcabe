//! Freshly stored webhook deliveries handed straight to this process's inbound workers.
//!
//! The durable queue (`webhook_events`) stays the record: a handed-off delivery is still a
//! `PENDING` row, and a worker takes it inside the transaction that applies it (only if
//! it is still pending and no lease holds it), so a lost or stale handoff costs nothing
//! but a later claim from the queue. What the handoff saves is the claim itself: finding
//! due rows in the queue's index walks every entry that processing left behind until
//! PostgreSQL vacuums, and reads each body back. While deliveries arrive through the
//! handoff, workers scan the queue (for retries, expired leases and other processes'
//! deliveries) once per scan period (`INBOUND_SCAN_PERIOD_MS`, [`SCAN_PERIOD`] by
//! default), more often only while scans find work.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::db::webhook_events::ClaimedDelivery;

/// Most deliveries waiting in the handoff; beyond it, workers find them in the queue.
const MAX_WAITING: usize = 8192;
/// Most body bytes waiting in the handoff.
const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Least time between two queue scans that found nothing, while the handoff is in use
/// (the default of `INBOUND_SCAN_PERIOD_MS`).
pub const SCAN_PERIOD: Duration = Duration::from_millis(100);

/// Deliveries stored by this process and not yet taken by its workers.
pub struct Handoff {
    /// Set once this process runs inbound workers; until then nothing is kept.
    enabled: AtomicBool,
    waiting: Mutex<Waiting>,
    /// When the queue was last scanned, and how many deliveries that claimed.
    last_scan: Mutex<Option<(Instant, usize)>>,
    scan_period: Duration,
}

impl Default for Handoff {
    fn default() -> Self {
        Self::with_scan_period(SCAN_PERIOD)
    }
}

#[derive(Default)]
struct Waiting {
    deliveries: VecDeque<ClaimedDelivery>,
    bytes: usize,
}

impl Handoff {
    /// An empty, disabled handoff whose empty scans defer the next by `scan_period`.
    pub fn with_scan_period(scan_period: Duration) -> Self {
        Self {
            enabled: AtomicBool::new(false),
            waiting: Mutex::default(),
            last_scan: Mutex::default(),
            scan_period,
        }
    }

    /// This process runs inbound workers: keep what it stores for them.
    pub fn enable(&self) {
        self.enabled.store(true, Ordering::Release);
    }

    /// Keeps committed deliveries for the workers, as many as fit.
    pub fn offer(&self, deliveries: impl IntoIterator<Item = ClaimedDelivery>) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let mut waiting = self.lock_waiting();
        for delivery in deliveries {
            if waiting.deliveries.len() >= MAX_WAITING
                || waiting.bytes + delivery.body.len() > MAX_BYTES
            {
                break;
            }
            waiting.bytes += delivery.body.len();
            waiting.deliveries.push_back(delivery);
        }
    }

    /// Takes up to `limit` deliveries, oldest first.
    pub fn take(&self, limit: usize) -> Vec<ClaimedDelivery> {
        let mut waiting = self.lock_waiting();
        let n = limit.min(waiting.deliveries.len());
        let taken: Vec<ClaimedDelivery> = waiting.deliveries.drain(..n).collect();
        waiting.bytes -= taken.iter().map(|d| d.body.len()).sum::<usize>();
        taken
    }

    /// How long until the queue may be scanned again (zero: now). Always zero while the
    /// handoff is not in use, or while scans find work.
    pub fn scan_wait(&self) -> Duration {
        if !self.enabled.load(Ordering::Acquire) {
            return Duration::ZERO;
        }
        match *self.lock_last_scan() {
            Some((at, 0)) => self.scan_period.saturating_sub(at.elapsed()),
            _ => Duration::ZERO,
        }
    }

    /// Whether the queue should be scanned before taking from the handoff: a full period
    /// passed since the last scan (so a steady handoff never starves the queue).
    pub fn scan_overdue(&self) -> bool {
        self.lock_last_scan()
            .is_none_or(|(at, _)| at.elapsed() >= self.scan_period)
    }

    /// Records a queue scan that claimed `found` deliveries.
    pub fn scanned(&self, found: usize) {
        *self.lock_last_scan() = Some((Instant::now(), found));
    }

    /// Lets the next scan run at once (work was left to the queue).
    pub fn scan_now(&self) {
        *self.lock_last_scan() = None;
    }

    fn lock_last_scan(&self) -> std::sync::MutexGuard<'_, Option<(Instant, usize)>> {
        self.last_scan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: i64, bytes: usize) -> ClaimedDelivery {
        ClaimedDelivery {
            id,
            channel_id: None,
            secret_fingerprint: None,
            body: vec![b'x'; bytes],
            attempts: 0,
        }
    }

    #[test]
    fn keeps_nothing_until_enabled_then_hands_out_oldest_first() {
        let handoff = Handoff::default();
        handoff.offer([delivery(1, 10)]);
        assert!(handoff.take(10).is_empty());
        handoff.enable();
        handoff.offer((1..=5).map(|id| delivery(id, 10)));
        let ids = |v: Vec<ClaimedDelivery>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
        assert_eq!(ids(handoff.take(3)), [1, 2, 3]);
        assert_eq!(ids(handoff.take(3)), [4, 5]);
        assert!(handoff.take(3).is_empty());
    }

    #[test]
    fn stops_keeping_at_its_bounds() {
        let handoff = Handoff::default();
        handoff.enable();
        handoff.offer((0..MAX_WAITING as i64 + 10).map(|id| delivery(id, 1)));
        assert_eq!(handoff.take(usize::MAX).len(), MAX_WAITING);
        handoff.offer((0..3).map(|id| delivery(id, MAX_BYTES / 2)));
        assert_eq!(handoff.take(usize::MAX).len(), 2);
        handoff.offer([delivery(9, 1)]);
        assert_eq!(handoff.take(usize::MAX).len(), 1, "bytes are given back");
    }

    #[test]
    fn an_empty_scan_defers_the_next_one_and_a_fruitful_one_does_not() {
        let unused = Handoff::with_scan_period(Duration::from_secs(3600));
        unused.scanned(0);
        assert_eq!(unused.scan_wait(), Duration::ZERO, "not in use: always");
        let handoff = Handoff::with_scan_period(Duration::from_secs(3600));
        handoff.enable();
        assert_eq!(handoff.scan_wait(), Duration::ZERO, "no scan yet");
        handoff.scanned(0);
        assert!(handoff.scan_wait() > Duration::ZERO);
        handoff.scanned(7);
        assert_eq!(handoff.scan_wait(), Duration::ZERO);
        handoff.scanned(0);
        handoff.scan_now();
        assert_eq!(handoff.scan_wait(), Duration::ZERO);
    }

    #[test]
    fn a_scan_is_overdue_until_one_runs_and_again_after_a_period() {
        let slow = Handoff::with_scan_period(Duration::from_secs(3600));
        assert!(slow.scan_overdue());
        slow.scanned(5);
        assert!(!slow.scan_overdue(), "a scan that found work is recent");
        let eager = Handoff::with_scan_period(Duration::ZERO);
        eager.scanned(5);
        assert!(eager.scan_overdue());
    }
}
