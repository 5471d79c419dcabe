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
