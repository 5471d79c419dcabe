//! Latency samples and load loops: closed-loop (N clients as fast as they can) and
//! open-loop (a fixed arrival rate), with percentiles.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Result of one measured phase.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Measured {
    /// Successful operations.
    pub ok: u64,
    /// Failed operations.
    pub errors: u64,
    /// Wall time of the phase, seconds.
    pub seconds: f64,
    /// Successful operations per second.
    pub per_second: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
}

/// Collected latencies.
#[derive(Default)]
pub struct Samples {
    latencies: Vec<Duration>,
    errors: u64,
}

impl Samples {
    /// Records one operation.
    pub fn record(&mut self, latency: Duration, ok: bool) {
        if ok {
            self.latencies.push(latency);
        } else {
            self.errors += 1;
        }
    }

    /// Summarises the samples of a phase that took `elapsed`.
    pub fn summary(mut self, elapsed: Duration) -> Measured {
        self.latencies.sort_unstable();
        let seconds = elapsed.as_secs_f64().max(1e-9);
        Measured {
            ok: self.latencies.len() as u64,
            errors: self.errors,
            seconds,
            per_second: self.latencies.len() as f64 / seconds,
            p50_ms: percentile(&self.latencies, 0.50),
            p99_ms: percentile(&self.latencies, 0.99),
        }
    }
}

/// The `q` quantile of sorted samples, in milliseconds.
pub fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Runs `clients` loops calling `op` back to back for `duration`.
pub async fn closed_loop<F, Fut>(clients: usize, duration: Duration, op: F) -> Measured
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let samples = Arc::new(Mutex::new(Samples::default()));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients as u64 {
        let op = op.clone();
        let samples = samples.clone();
        tasks.spawn(async move {
            let mut local = Samples::default();
            let mut n = client;
            while Instant::now() < deadline {
                let t = Instant::now();
                let ok = op(n).await;
                local.record(t.elapsed(), ok);
                n += clients as u64;
            }
            merge(&samples, local);
        });
    }
    finish(tasks, &samples, started).await
}

/// Runs `total` operations over `clients` concurrent loops.
pub async fn fixed_count<F, Fut>(clients: usize, total: u64, op: F) -> Measured
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Samples::default()));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (op, next, samples) = (op.clone(), next.clone(), samples.clone());
        tasks.spawn(async move {
            let mut local = Samples::default();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= total {
                    break;
                }
                let t = Instant::now();
                let ok = op(n).await;
                local.record(t.elapsed(), ok);
            }
            merge(&samples, local);
        });
    }
    finish(tasks, &samples, started).await
}

/// Starts `op` at a fixed `rate` per second for `duration` (open loop: a slow server
/// does not slow the arrivals), measuring each operation's latency.
pub async fn open_loop<F, Fut>(rate: f64, duration: Duration, op: F) -> Measured
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let op = Arc::new(op);
    let samples = Arc::new(Mutex::new(Samples::default()));
    let started = Instant::now();
    let total = (rate * duration.as_secs_f64()) as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let due = started + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let op = op.clone();
        let samples = samples.clone();
        tasks.spawn(async move {
            let t = Instant::now();
            let ok = op(n).await;
            samples
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(t.elapsed(), ok);
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
    samples.summary(elapsed)
}

/// Adds one loop's samples to the phase's.
fn merge(samples: &Mutex<Samples>, local: Samples) {
    let mut all = samples.lock().unwrap_or_else(|p| p.into_inner());
    all.latencies.extend(local.latencies);
    all.errors += local.errors;
}

/// Waits for the phase's loops and summarises their samples.
async fn finish(
    mut tasks: tokio::task::JoinSet<()>,
    samples: &Mutex<Samples>,
    started: Instant,
) -> Measured {
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
    samples.summary(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_sorted_samples() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.5), 51.0);
        assert_eq!(percentile(&samples, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
