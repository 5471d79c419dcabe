//! Wakes the workers of newly queued jobs in every process. A transaction that queued jobs
//! says which tables got rows ([`NewJobs`]); after it commits, [`Wakeups::announce`]
//! wakes this process's idle workers at once and leaves the other processes to this
//! module's task, which `NOTIFY`s the tables' channels for their listeners
//! ([`super::listener`]).
//!
//! The `NOTIFY` runs in a short transaction of its own, never in the one that queued the
//! work: PostgreSQL serialises the commits of all transactions that notify (one lock, held
//! through the commit's WAL flush), so notifying from the job tables' triggers made every
//! reply and every stored batch of deliveries commit in single file. Announcements made
//! while one is being sent are coalesced into the next, and that commit does not wait for
//! the WAL flush: a lost notification only means other processes find the work at their
//! next poll.

use std::sync::Weak;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
use tokio::sync::Notify;

use super::Wakeups;
use crate::db::queue::NewJobs;

/// Longest wait for the announcing connection to connect or to send.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle task checks whether its process state is gone.
const RECHECK: Duration = Duration::from_secs(15);

/// Job tables announced in this process and not yet to the others.
#[derive(Default)]
pub struct Announcements {
    pending: AtomicU8,
    wake: Notify,
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
        let jobs = {
            let Some(wakeups) = wakeups.upgrade() else {
                return;
            };
            tokio::select! {
                () = wakeups.announcements.wake.notified() => wakeups.announcements.take(),
                () = tokio::time::sleep(RECHECK) => continue,
            }
        };
        if jobs == NewJobs::NONE {
            continue;
        }
        let sent = tokio::time::timeout(SEND_TIMEOUT, send(&mut conn, &database_url, jobs)).await;
        if let Err(e) = sent.unwrap_or_else(|_| Err(anyhow::anyhow!("timed out"))) {
            tracing::warn!(error = %e, "announcing new jobs to other processes failed; they will find them at their next poll");
            conn = None;
        }
    }
}

async fn send(
    conn: &mut Option<AsyncPgConnection>,
    database_url: &str,
    jobs: NewJobs,
) -> anyhow::Result<()> {
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(AsyncPgConnection::establish(database_url).await?),
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
