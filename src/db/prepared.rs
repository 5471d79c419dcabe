//! Raw SQL statements that each connection prepares once and then reuses.
//!
//! diesel never caches the prepared statement of a [`diesel::sql_query`] (its text could be
//! built at run time), so PostgreSQL parses and plans it again on every call, and
//! diesel-async spends a round trip preparing it before the round trip that runs it. The
//! statements of this crate's `sql_query` calls are constant strings (values go in binds,
//! lists in array binds), so caching them by their text is safe:
//! `diesel::sql_query(SQL).bind(..).prepared()`. diesel does not cache its own updates,
//! upserts (`ON CONFLICT DO UPDATE`) or inserts of a row with a `None` column either; on
//! a hot path whose statement takes only a few texts, `.prepared()` keeps each of them.
//! Only use it on SQL of a few constant forms: each distinct text stays prepared for the
//! connection's lifetime.
//!
//! Not for the claims and updates of the job queues (`webhook_events`, `*_jobs`): a queue
//! goes from empty to a backlog of 100,000 rows within seconds, and PostgreSQL's generic
//! plan of a prepared statement, chosen while the table looked empty, kept scanning it
//! whole (measured: processing fell from about 2,000 to 125 deliveries/s after a fresh
//! seed). Unprepared, they are planned for the table as it is at each call.

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// A raw statement whose prepared form is cached by its SQL text.
#[derive(Debug, Clone)]
pub struct Prepared<Q>(Q);

/// Marks a raw statement (constant SQL text) as safe to keep prepared.
pub trait PrepareOnce: Sized {
    /// This statement, prepared once per connection.
    fn prepared(self) -> Prepared<Self> {
        Prepared(self)
    }
}

impl<Q: QueryFragment<Pg>> PrepareOnce for Q {}

impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

/// A query with its row limit written into its text (`… LIMIT 51`) instead of bound.
///
/// PostgreSQL estimates a bound `LIMIT $n` at a tenth of the rows, which makes the generic
/// plan of a prepared statement look dearer than a custom one, so it plans the statement
/// again on every run. With the limit in the text it keeps the generic plan once five
/// runs have shown that plan to cost no more. Each limit is a prepared statement of its
/// own (per connection): use it for one or a few limits only, and only where a generic
/// plan is as good as a custom one.
#[derive(Debug, Clone)]
pub struct LiteralLimit<Q> {
    query: Q,
    limit: i64,
}

impl<Q> LiteralLimit<Q> {
    /// `query` (which has no limit of its own) limited to `limit` rows.
    pub fn new(query: Q, limit: i64) -> Self {
        Self { query, limit }
    }
}

impl<Q> QueryId for LiteralLimit<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for LiteralLimit<Q> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(pass.reborrow())?;
        pass.push_sql(&format!(" LIMIT {}", self.limit));
        Ok(())
    }

    fn is_safe_to_cache_prepared(&self, backend: &Pg) -> QueryResult<bool> {
        self.query.is_safe_to_cache_prepared(backend)
    }
}

impl<Q: Query> Query for LiteralLimit<Q> {
    type SqlType = Q::SqlType;
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::*;
    use crate::db::schema::tickets;

    #[test]
    fn a_literal_limit_is_written_into_the_text_and_keeps_the_binds() {
        let query = tickets::table
            .filter(tickets::org_id.eq(uuid::Uuid::nil()))
            .select(tickets::id)
            .into_boxed();
        let limited = LiteralLimit::new(query, 51);
        let sql = diesel::debug_query::<Pg, _>(&limited).to_string();
        assert!(
            sql.contains(r#"WHERE ("tickets"."org_id" = $1) LIMIT 51 --"#),
            "{sql}"
        );
        assert!(limited.is_safe_to_cache_prepared(&Pg).unwrap());
    }
}
