//! Wakes the workers of newly queued jobs in every process. A transaction that queued jobs
//! says which tables got rows ([`NewJobs`]); after it commits, [`Wakeups::announce`]
//! wakes this process's idle workers at once and leaves the other processes to this
//! module's task, which `NOTIFY`s the tables' channels for their listeners
//! ([`super::listener`]).
//!
//! The `NOTIFY` runs in a short transaction of its own, never in the one that queued the
//! work: PostgreSQL serialises the commits of all transactions that notify (one lock, held
//! through the commit's WAL flush), so notifying from the job tables' triggers made every
//! reply and every stored batch of deliveries commit in single file. The task sends at
//! most one announcement every `MIN_GAP`, with everything requested meanwhile, and its
//! commit does not wait for the WAL flush: a lost notification only means other processes
//! find the work at their next poll. This process's own listener ignores it (its workers
//! were woken already).

use std::sync::Weak;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::time::Duration;

use diesel::sql_types::Integer;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
use tokio::sync::Notify;

use super::Wakeups;
use crate::db::queue::NewJobs;

/// Longest wait for the announcing connection to connect or to send.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Shortest time between two announcements of one process (a busy process would
/// otherwise send one per committed reply).
const MIN_GAP: Duration = Duration::from_millis(20);
/// How often an idle task checks whether its process state is gone.
const RECHECK: Duration = Duration::from_secs(15);

/// Job tables announced in this process and not yet to the others.
#[derive(Default)]
pub struct Announcements {
    pending: AtomicU8,
    wake: Notify,
    /// The PostgreSQL backend that sends them (0 before it connects).
    sender_pid: AtomicI32,
}

impl Announcements {
    /// Asks the task to announce `jobs` (nothing to do for an empty set).
    pub(super) fn request(&self, jobs: NewJobs) {
        if jobs != NewJobs::NONE {
            self.pending.fetch_or(jobs.bits(), Ordering::AcqRel);
            self.wake.notify_one();
        }
    }

    /// Takes everything requested so far.
    fn take(&self) -> NewJobs {
        NewJobs::from_bits(self.pending.swap(0, Ordering::AcqRel))
    }

    /// Whether a notification came from this process's own announcements.
    pub(super) fn sent_by_us(&self, backend_pid: i32) -> bool {
        backend_pid != 0 && self.sender_pid.load(Ordering::Acquire) == backend_pid
    }
}

/// Starts the task that announces `wakeups`' requests to other processes over its own
/// connection to `database_url` (opened at the first announcement). Call inside a Tokio
/// runtime; the task ends once `wakeups` is dropped.
pub fn start(database_url: String, wakeups: Weak<Wakeups>) {
    tokio::spawn(run(database_url, wakeups));
}

async fn run(database_url: String, wakeups: Weak<Wakeups>) {
    let mut conn = None;
    loop {
        let Some(owner) = wakeups.upgrade() else {
            return;
        };
        let announcements = &owner.announcements;
        let jobs = tokio::select! {
            () = announcements.wake.notified() => announcements.take(),
            () = tokio::time::sleep(RECHECK) => continue,
        };
        if jobs == NewJobs::NONE {
            continue;
        }
        let sent = tokio::time::timeout(
            SEND_TIMEOUT,
            send(&mut conn, &database_url, announcements, jobs),
        )
        .await;
        if let Err(e) = sent.unwrap_or_else(|_| Err(anyhow::anyhow!("timed out"))) {
            tracing::warn!(error = %e, "announcing new jobs to other processes failed; they will find them at their next poll");
            conn = None;
            announcements.sender_pid.store(0, Ordering::Release);
        }
        // What is requested meanwhile goes out together in the next announcement.
        tokio::time::sleep(MIN_GAP).await;
    }
}

async fn send(
    conn: &mut Option<AsyncPgConnection>,
    database_url: &str,
    announcements: &Announcements,
    jobs: NewJobs,
) -> anyhow::Result<()> {
    let conn = match conn {
        Some(conn) => conn,
        None => {
            let mut fresh = AsyncPgConnection::establish(database_url).await?;
            let pid = diesel::select(diesel::dsl::sql::<Integer>("pg_backend_pid()"));
            let pid: i32 = diesel_async::RunQueryDsl::get_result(pid, &mut fresh).await?;
            announcements.sender_pid.store(pid, Ordering::Release);
            conn.insert(fresh)
        }
    };
    conn.batch_execute(&notify_sql(jobs)).await?;
    Ok(())
}

/// One round trip: a transaction that notifies each table's channel and commits without
/// waiting for its WAL flush.
fn notify_sql(jobs: NewJobs) -> String {
    let notifies: String = jobs.tables().map(|t| format!(" NOTIFY {t};")).collect();
    format!("BEGIN; SET LOCAL synchronous_commit = off;{notifies} COMMIT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_accumulate_until_taken() {
        let announcements = Announcements::default();
        announcements.request(NewJobs::NONE);
        assert_eq!(announcements.take(), NewJobs::NONE);
        announcements.request(NewJobs::OUTBOUND_JOBS);
        announcements.request(NewJobs::MEDIA_JOBS);
        let mut both = NewJobs::OUTBOUND_JOBS;
        both.add(NewJobs::MEDIA_JOBS);
        assert_eq!(announcements.take(), both);
        assert_eq!(announcements.take(), NewJobs::NONE);
    }

    #[test]
    fn only_the_announcing_backend_counts_as_this_process() {
        let announcements = Announcements::default();
        assert!(!announcements.sent_by_us(0));
        assert!(!announcements.sent_by_us(4242));
        announcements.sender_pid.store(4242, Ordering::Release);
        assert!(announcements.sent_by_us(4242));
        assert!(!announcements.sent_by_us(4243));
    }

    #[test]
    fn one_transaction_notifies_every_table_asked() {
        let mut jobs = NewJobs::WEBHOOK_EVENTS;
        jobs.add(NewJobs::PROFILE_JOBS);
        assert_eq!(
            notify_sql(jobs),
            "BEGIN; SET LOCAL synchronous_commit = off; NOTIFY webhook_events; \
             NOTIFY profile_jobs; COMMIT"
        );
    }
}
