//! What the lease-based job queues (`webhook_events`, `outbound_jobs`, `profile_jobs`, `media_jobs`) share: the
//! claim statement, the backlog gauge and interval binding, and [`NewJobs`]: which of
//! them a transaction added rows to, so that their workers are woken once it commits.
//!
//! Both tables have `state` (`'PENDING'` while work remains), `run_at` (when it is due),
//! `locked_until` (the lease) and `attempts`. A claim takes due, unleased rows in
//! `run_at, id` order, skips rows another worker is claiming (`FOR UPDATE SKIP LOCKED`),
//! leases them and counts the attempt, all in one statement.
//!
//! Statements that find a queue's rows by id write their pending test as
//! `state = (SELECT 'PENDING')`. PostgreSQL cannot match that to the claim indexes'
//! `WHERE state = 'PENDING'`, so those statements always go through the primary key.
//! Written plainly, the planner used the claim index whenever statistics taken while the
//! queue was empty (as queues often are) made it look empty: it read every pending entry,
//! and every entry not yet vacuumed, to find a batch's rows (once per batch, or once per
//! row where it chose a nested loop), so the cost grew with the backlog.
//!
//! A claim runs through [`run_claim`]: in a transaction of its own, with bitmap and
//! sequential scans off, so that PostgreSQL walks the claim index in `run_at, id` order
//! and stops at the batch's last row. With the same empty-queue statistics it read every
//! due entry through a bitmap scan and sorted them, once per claim, so draining a backlog
//! of n rows cost n entries per batch; and a bitmap scan never marks the entries of
//! finished rows dead, which an ordered walk does as it passes them.

use std::time::Duration;

use diesel::QueryResult;
use diesel::data_types::PgInterval;
use diesel_async::methods::LoadQuery;
use diesel_async::{
    AsyncConnection as _, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection as _,
};

/// One job table.
#[derive(Debug, Clone, Copy)]
pub struct Queue {
    /// The table.
    table: &'static str,
    /// The column a waiting row's age is measured from.
    age_from: &'static str,
}

/// Stored webhook deliveries waiting to be applied.
pub const WEBHOOK_EVENTS: Queue = Queue {
    table: "webhook_events",
    age_from: "received_at",
};

/// Attachments waiting to be copied into our media storage.
pub const MEDIA_JOBS: Queue = Queue {
    table: "media_jobs",
    age_from: "run_at",
};

/// Replies waiting to be sent.
pub const OUTBOUND_JOBS: Queue = Queue {
    table: "outbound_jobs",
    age_from: "run_at",
};

/// Customer profiles waiting to be fetched.
pub const PROFILE_JOBS: Queue = Queue {
    table: "profile_jobs",
    age_from: "run_at",
};

impl Queue {
    /// The claim statement: binds `$1` (most rows) and `$2` (lease interval); `set` adds
    /// assignments after the lease and attempt count (empty or starting with `,`), and
    /// the statement returns the `returning` columns of the claimed rows (aliased `j`).
    /// Run it, with its binds, through [`run_claim`], which keeps its plan an ordered walk.
    pub fn claim_sql(&self, set: &str, returning: &str) -> String {
        self.claim_of(set, returning, &self.due_sql("id"))
    }

    /// The claim statement of [`Queue::claim_sql`] that also binds `$3`, the most bytes
    /// of `size` (an expression of a row) its rows may add up to: it takes the due rows in
    /// order while their total stays within `$3`, and always the first, so a row larger
    /// than the bound is claimed alone rather than never.
    pub fn claim_within_sql(&self, set: &str, returning: &str, size: &str) -> String {
        let due = self.due_sql(&format!("id, run_at, {size} AS size"));
        self.claim_of(
            set,
            returning,
            &format!(
                "SELECT id FROM (SELECT id, size, sum(size) OVER (ORDER BY run_at, id) AS total \
                                 FROM ({due}) due) d \
                 WHERE total <= $3 OR total = size"
            ),
        )
    }

    /// The `columns` of the due, unleased rows a claim may take, at most `$1`, locked.
    fn due_sql(&self, columns: &str) -> String {
        format!(
            "SELECT {columns} FROM {} \
             WHERE state = 'PENDING' AND run_at <= now() \
               AND (locked_until IS NULL OR locked_until < now()) \
             ORDER BY run_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
            self.table
        )
    }

    /// Leases the rows whose ids `chosen` selects.
    fn claim_of(&self, set: &str, returning: &str, chosen: &str) -> String {
        format!(
            "UPDATE {} j SET locked_until = now() + $2, attempts = attempts + 1{set} \
             WHERE id IN ({chosen}) RETURNING {returning}",
            self.table
        )
    }

    /// `(waiting rows, age in seconds of the oldest due one)`.
    pub async fn backlog(&self, conn: &mut AsyncPgConnection) -> QueryResult<(i64, f64)> {
        #[derive(diesel::QueryableByName)]
        struct Backlog {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            pending: i64,
            #[diesel(sql_type = diesel::sql_types::Double)]
            oldest: f64,
        }
        let (table, since) = (self.table, self.age_from);
        let b: Backlog = diesel::sql_query(format!(
            "SELECT count(*) AS pending, coalesce(extract(epoch FROM now() - min({since}) \
             FILTER (WHERE run_at <= now())), 0)::float8 AS oldest FROM {table} WHERE state = 'PENDING'"
        ))
        .get_result(conn)
        .await?;
        Ok((b.pending, b.oldest))
    }
}

/// Runs `claim` (a statement of [`Queue::claim_sql`] or [`Queue::claim_within_sql`] with
/// its binds) in a transaction of its own, planned to walk the claim index in order (see
/// the module documentation). Called inside a transaction, it takes a savepoint, and the
/// planner settings last until that transaction ends.
pub async fn run_claim<'q, T, Q>(conn: &mut AsyncPgConnection, claim: Q) -> QueryResult<Vec<T>>
where
    Q: LoadQuery<'q, AsyncPgConnection, T> + Send + 'q,
    T: Send + 'q,
{
    conn.transaction(async move |conn| {
        conn.batch_execute("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off")
            .await?;
        claim.load(conn).await
    })
    .await
}

/// A set of job tables that a transaction added rows to. The operation that queued them
/// returns it with its result (`Committed`); after the commit the workers of those tables
/// are woken, in this process and, through `NOTIFY` on the table's name, in the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "record the new jobs in the outbox, so their workers are woken after commit"]
pub struct NewJobs(u8);

impl NewJobs {
    /// Nothing queued.
    pub const NONE: NewJobs = NewJobs(0);
    /// Webhook deliveries stored.
    pub const WEBHOOK_EVENTS: NewJobs = NewJobs(1);
    /// Replies to send.
    pub const OUTBOUND_JOBS: NewJobs = NewJobs(1 << 1);
    /// Profiles to fetch.
    pub const PROFILE_JOBS: NewJobs = NewJobs(1 << 2);
    /// Attachments to copy.
    pub const MEDIA_JOBS: NewJobs = NewJobs(1 << 3);
    /// Every job table.
    pub const ALL: NewJobs = NewJobs(0b1111);

    /// The tables, in bit order (also the `NOTIFY` channels their listeners wait on).
    const TABLES: [&str; 4] = [
        "webhook_events",
        "outbound_jobs",
        "profile_jobs",
        "media_jobs",
    ];

    /// `jobs` added to this set.
    pub fn add(&mut self, jobs: NewJobs) {
        self.0 |= jobs.0;
    }

    /// This set when `queued` is true, otherwise nothing (for "queued some rows or not").
    pub fn when(self, queued: bool) -> NewJobs {
        if queued { self } else { NewJobs::NONE }
    }

    /// Whether every table of `jobs` is in this set.
    pub fn contains(self, jobs: NewJobs) -> bool {
        self.0 & jobs.0 == jobs.0
    }

    /// The set with these raw bits (as kept in an atomic).
    pub fn from_bits(bits: u8) -> NewJobs {
        NewJobs(bits & Self::ALL.0)
    }

    /// The table named `table` (nothing for another name).
    pub fn of_table(table: &str) -> NewJobs {
        Self::TABLES
            .iter()
            .position(|t| *t == table)
            .map_or(NewJobs::NONE, |bit| NewJobs(1 << bit))
    }

    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The names of the tables in the set.
    pub fn tables(self) -> impl Iterator<Item = &'static str> {
        Self::TABLES
            .into_iter()
            .enumerate()
            .filter(move |(bit, _)| self.0 & (1 << bit) != 0)
            .map(|(_, table)| table)
    }
}

/// `d` as an SQL interval (saturating).
pub fn interval(d: Duration) -> PgInterval {
    PgInterval::from_microseconds(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// An error text cut to what the queue tables keep.
pub fn truncate_error(error: &str) -> String {
    error.chars().take(2000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claim_skips_locked_rows_and_leases_what_it_takes() {
        let sql = OUTBOUND_JOBS.claim_sql(", lease_id = gen_random_uuid()", "id, lease_id");
        assert!(sql.starts_with("UPDATE outbound_jobs j SET locked_until = now() + $2"));
        assert!(sql.contains("attempts = attempts + 1, lease_id = gen_random_uuid() WHERE"));
        assert!(sql.contains("FOR UPDATE SKIP LOCKED"));
        assert!(sql.ends_with("RETURNING id, lease_id"));
    }

    #[test]
    fn a_bounded_claim_sums_the_sizes_of_the_locked_rows_in_claim_order() {
        let sql = WEBHOOK_EVENTS.claim_within_sql("", "id", "octet_length(body)");
        assert!(sql.contains("SELECT id, run_at, octet_length(body) AS size FROM webhook_events"));
        assert!(sql.contains("sum(size) OVER (ORDER BY run_at, id)"));
        assert!(sql.contains("LIMIT $1 FOR UPDATE SKIP LOCKED) due) d"));
        assert!(sql.contains("WHERE total <= $3 OR total = size) RETURNING id"));
    }

    #[test]
    fn new_jobs_name_their_tables_and_keep_only_known_bits() {
        let mut jobs = NewJobs::NONE;
        jobs.add(NewJobs::MEDIA_JOBS);
        jobs.add(NewJobs::OUTBOUND_JOBS.when(true));
        jobs.add(NewJobs::PROFILE_JOBS.when(false));
        assert!(jobs.contains(NewJobs::MEDIA_JOBS) && jobs.contains(NewJobs::OUTBOUND_JOBS));
        assert!(!jobs.contains(NewJobs::PROFILE_JOBS));
        assert_eq!(
            jobs.tables().collect::<Vec<_>>(),
            ["outbound_jobs", "media_jobs"]
        );
        assert_eq!(NewJobs::from_bits(0xff), NewJobs::ALL);
        assert_eq!(NewJobs::ALL.tables().count(), 4);
        assert_eq!(NewJobs::from_bits(jobs.bits()), jobs);
        for table in NewJobs::ALL.tables() {
            assert_eq!(
                NewJobs::of_table(table).tables().collect::<Vec<_>>(),
                [table]
            );
        }
        assert_eq!(NewJobs::of_table("tickets"), NewJobs::NONE);
    }

    #[test]
    fn long_errors_are_cut() {
        assert_eq!(truncate_error(&"é".repeat(5000)).chars().count(), 2000);
    }
}
