//! Which indexes a statement used, for tests that pin down how a statement finds its rows
//! (plans that change with the statistics, which tests cannot see in their results).

use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// How many scans this connection's backend has made of `index` that are not yet flushed
/// to the shared statistics: call it before and after the statements under test, in the
/// same transaction, and compare.
pub async fn index_scans(conn: &mut AsyncPgConnection, index: &str) -> diesel::QueryResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct Scans {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let scans: Scans = diesel::sql_query("SELECT pg_stat_get_xact_numscans($1::regclass) AS n")
        .bind::<diesel::sql_types::Text, _>(index)
        .get_result(conn)
        .await?;
    Ok(scans.n)
}
