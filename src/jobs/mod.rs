//! Plumbing shared by the background workers: who a worker is and how often it polls
//! ([`WorkerConfig`]), wake-ups of new work ([`Wakeups`]; announced to other processes by
//! [`announce`], heard by their [`listener`]), deliveries handed to this process's workers ([`handoff`]) and retry
//! schedules ([`backoff`]); and the customer profile job
//! ([`profiles`]). The loops themselves are started by [`crate::workers`].

pub mod announce;
pub mod backoff;
pub mod handoff;
pub mod listener;
pub mod profiles;
pub mod snooze;
pub mod templates;

use std::time::Duration;

use tokio::sync::Notify;

use crate::db::queue::NewJobs;

/// Identity and pacing of this process's workers, passed to every worker loop.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// `host:pid`, recorded on the work the worker does.
    pub id: String,
    /// Fallback poll when no wake-up arrives (a lost NOTIFY, a retry coming due).
    pub poll_interval: Duration,
    /// Webhook deliveries an inbound worker claims at once.
    pub inbound_batch: i64,
}

impl WorkerConfig {
    /// This process as a worker, polling every second and claiming 250 deliveries at once
    /// (against 100: 14% more deliveries applied per second while ingesting and 13% less
    /// PostgreSQL CPU per delivery; 500 added only 4% more, see BENCHMARKS.md).
    pub fn for_this_process() -> Self {
        let host =
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "host".into());
        WorkerConfig {
            id: format!("{}:{}", host.trim(), std::process::id()),
            poll_interval: Duration::from_secs(1),
            inbound_batch: 250,
        }
    }
}

/// Wakes idle workers as soon as new work is committed.
#[derive(Default)]
pub struct Wakeups {
    /// New webhook deliveries stored.
    pub inbound: Notify,
    /// The deliveries this process stored, for its own inbound workers.
    pub handoff: handoff::Handoff,
    /// New outbound sends queued.
    pub outbound: Notify,
    /// New profile fetches due.
    pub profiles: Notify,
    /// New media copies queued.
    pub media: Notify,
    /// New work for the other processes' workers.
    pub announcements: announce::Announcements,
}

impl Wakeups {
    /// Wakes the workers of `jobs` (committed): this process's at once, the other
    /// processes' through [`announce`].
    pub fn announce(&self, jobs: NewJobs) {
        self.wake_here(jobs);
        self.announcements.request(jobs);
    }

    /// Wakes this process's idle workers of `jobs`.
    pub fn wake_here(&self, jobs: NewJobs) {
        let local = [
            (NewJobs::WEBHOOK_EVENTS, &self.inbound),
            (NewJobs::OUTBOUND_JOBS, &self.outbound),
            (NewJobs::PROFILE_JOBS, &self.profiles),
            (NewJobs::MEDIA_JOBS, &self.media),
        ];
        for (table, workers) in local {
            if jobs.contains(table) {
                workers.notify_waiters();
            }
        }
    }
}
