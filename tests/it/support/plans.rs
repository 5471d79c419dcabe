//! How statements used an index, for tests that pin down how a statement finds its rows
//! (plans change with statistics and row-level security, which results do not show).

use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};

/// Scans of an index and the entries they returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::QueryableByName)]
pub struct IndexUse {
    /// Index scans started.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub scans: i64,
    /// Index entries the scans returned.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub entries: i64,
}

/// Runs `work` in a transaction on `conn`; its result and its use of `index`.
pub async fn index_use_of<T>(
    conn: &mut AsyncPgConnection,
    index: &str,
    work: impl AsyncFnOnce(&mut AsyncPgConnection) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<(T, IndexUse)> {
    // One transaction, so that no flush of the statistics falls between the two readings
    // (begun through the transaction manager: a transaction inside `work` is a savepoint).
    AnsiTransactionManager::begin_transaction(conn).await?;
    let before = pending_use(conn, index).await?;
    let value = match work(conn).await {
        Ok(value) => value,
        Err(e) => {
            AnsiTransactionManager::rollback_transaction(conn).await?;
            return Err(e);
        }
    };
    let after = pending_use(conn, index).await?;
    AnsiTransactionManager::commit_transaction(conn).await?;
    let used = IndexUse {
        scans: after.scans - before.scans,
        entries: after.entries - before.entries,
    };
    Ok((value, used))
}

/// This backend's use of `index` not yet flushed to the shared statistics (on PostgreSQL
/// 15 that includes the connection's earlier transactions, hence the difference above).
async fn pending_use(conn: &mut AsyncPgConnection, index: &str) -> diesel::QueryResult<IndexUse> {
    diesel::sql_query(
        "SELECT pg_stat_get_xact_numscans($1::regclass) AS scans, \
                pg_stat_get_xact_tuples_returned($1::regclass) AS entries",
    )
    .bind::<diesel::sql_types::Text, _>(index)
    .get_result(conn)
    .await
}
