//! Per-account sign-in throttling, shared by every instance through the database.
//!
//! After 5 consecutive failures for an email (known or not) within 15 minutes, each new
//! failure locks the email for 1 s, doubling up to 15 minutes; 100 consecutive failures
//! lock it for a day. A success clears the record.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::login_throttles;

/// Whether `email` may try to sign in now; `Err(until)` when it is locked.
pub async fn check(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> QueryResult<Result<(), DateTime<Utc>>> {
    let locked_until: Option<Option<DateTime<Utc>>> = login_throttles::table
        .find(email)
        .select(login_throttles::locked_until)
        .first(conn)
        .await
        .optional()?;
    match locked_until.flatten() {
        Some(until) if until > Utc::now() => Ok(Err(until)),
        _ => Ok(Ok(())),
    }
}

/// Counts a failed attempt for `email` and extends its lock.
pub async fn record_failure(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO login_throttles AS t (email, consecutive_failures, last_failure_at) \
         VALUES ($1, 1, now()) \
         ON CONFLICT (email) DO UPDATE SET \
           consecutive_failures = CASE \
             WHEN t.last_failure_at < now() - interval '15 minutes' AND t.consecutive_failures < 100 THEN 1 \
             ELSE t.consecutive_failures + 1 END, \
           last_failure_at = now(), \
           locked_until = CASE \
             WHEN t.consecutive_failures + 1 >= 100 THEN now() + interval '1 day' \
             WHEN t.last_failure_at < now() - interval '15 minutes' THEN NULL \
             WHEN t.consecutive_failures + 1 >= 5 THEN now() + least(interval '15 minutes', \
                  interval '1 second' * power(2, t.consecutive_failures + 1 - 5)) \
             ELSE NULL END",
    )
    .bind::<diesel::sql_types::Text, _>(email)
    .execute(conn)
    .await?;
    Ok(())
}

/// Clears `email`'s failures after a successful sign-in.
pub async fn record_success(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<()> {
    diesel::delete(login_throttles::table.find(email))
        .execute(conn)
        .await?;
    Ok(())
}
