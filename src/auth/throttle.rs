//! Per-account sign-in throttling, shared by every instance through the database.
//!
//! Every attempt is counted before its password is checked, in one statement that also
//! decides whether it may go ahead ([`attempt`]), so concurrent attempts cannot all slip
//! past the lock: after 5 consecutive attempts for an email (known or not) within 15
//! minutes, each new attempt locks the email for 1 s, doubling up to 15 minutes; 100
//! consecutive failures lock it for a day. Attempts refused by a lock are not counted. A
//! successful sign-in clears the record ([`record_success`]).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::prepared::PrepareOnce as _;
use crate::db::schema::login_throttles;

#[derive(QueryableByName)]
struct Attempt {
    #[diesel(sql_type = Bool)]
    counted: bool,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    locked_until: Option<DateTime<Utc>>,
}

/// Counts a sign-in attempt for `email` unless it is locked; `Err(until)` when it is (the
/// password must then not be checked).
pub async fn attempt(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> QueryResult<Result<(), DateTime<Utc>>> {
    // The delay's exponent is capped before it is computed (2^10 s is past the 15-minute
    // cap), so no count can overflow an interval.
    let attempt: Attempt = diesel::sql_query(
        "INSERT INTO login_throttles AS t (email, consecutive_failures, last_failure_at) \
         VALUES ($1, 1, now()) \
         ON CONFLICT (email) DO UPDATE SET \
           consecutive_failures = CASE \
             WHEN t.locked_until > now() THEN t.consecutive_failures \
             WHEN t.last_failure_at < now() - interval '15 minutes' AND t.consecutive_failures < 100 THEN 1 \
             ELSE least(t.consecutive_failures + 1, 100) END, \
           last_failure_at = CASE WHEN t.locked_until > now() THEN t.last_failure_at ELSE now() END, \
           locked_until = CASE \
             WHEN t.locked_until > now() THEN t.locked_until \
             WHEN t.consecutive_failures + 1 >= 100 THEN now() + interval '1 day' \
             WHEN t.last_failure_at < now() - interval '15 minutes' THEN NULL \
             WHEN t.consecutive_failures + 1 >= 5 THEN now() + least(interval '15 minutes', \
                  interval '1 second' * power(2, least(t.consecutive_failures + 1 - 5, 10))) \
             ELSE NULL END \
         RETURNING last_failure_at = now() AS counted, locked_until",
    )
    .bind::<Text, _>(email)
    .prepared()
    .get_result(conn)
    .await?;
    Ok(match attempt {
        Attempt { counted: true, .. } => Ok(()),
        Attempt { locked_until, .. } => Err(locked_until.unwrap_or_else(Utc::now)),
    })
}

/// Clears `email`'s failures after a successful sign-in.
pub async fn record_success(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<()> {
    diesel::delete(login_throttles::table.find(email))
        .execute(conn)
        .await?;
    Ok(())
}
