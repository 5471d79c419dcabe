//! How statements used an index, for tests that pin down how a statement finds its rows
//! (plans change with statistics and row-level security, which results do not show).

use diesel_async::{AsyncPgConnection, RunQueryDsl};

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

/// This connection's backend's use of `index` not yet flushed to the shared statistics:
/// call it before and after the statements under test, in the same transaction, and
/// compare with [`IndexUse::since`].
pub async fn index_use(conn: &mut AsyncPgConnection, index: &str) -> diesel::QueryResult<IndexUse> {
    diesel::sql_query(
        "SELECT pg_stat_get_xact_numscans($1::regclass) AS scans, \
                pg_stat_get_xact_tuples_returned($1::regclass) AS entries",
    )
    .bind::<diesel::sql_types::Text, _>(index)
    .get_result(conn)
    .await
}

impl IndexUse {
    /// The use between `before` and this.
    pub fn since(self, before: IndexUse) -> IndexUse {
        IndexUse {
            scans: self.scans - before.scans,
            entries: self.entries - before.entries,
        }
    }
}
