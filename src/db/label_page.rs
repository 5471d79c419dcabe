//! The inbox list filtered by a label: one statement that picks its plan from the data.
//!
//! PostgreSQL cannot tell a label on a third of an org's tickets from one on a handful (it
//! takes `ticket_labels.org_id` and `label_id` as independent, and extended statistics do
//! not carry the estimate across the join), so left to itself it reads every row of the
//! label, fetches each ticket and sorts them: 1.3-6.6 ms for a label on 711 of an org's
//! 2,000 tickets, where walking the list in order and checking each ticket's label stops
//! after about 150 tickets (0.4-1.2 ms). The walk alone would read the whole list for a
//! rare label, so the statement makes the choice on the data (BENCHMARKS.md):
//!
//! 1. `walk`: the list's first `WALK_PER_ROW` (8) tickets per row wanted, in order, each
//!    checked for the label, up to a page. Tried only for a label with at least as many
//!    rows as the walk checks tickets, so that a walk which comes up short costs no more
//!    than reading the label's rows, which follows.
//! 2. If the walk filled the page, that is the page; otherwise the label's rows are read
//!    as before. Each half is gated by a condition PostgreSQL evaluates once, before it
//!    runs the half, and both read one snapshot.
//!
//! A label's page then costs at most about twice what it did, and the page of a label on
//! a third of the recent tickets stops after three tickets a row, however many tickets
//! carry the label.

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Uuid as SqlUuid};

use super::ids::{LabelId, OrgId};

/// How many of the list's tickets the walk checks per row wanted (408 for a page of 50):
/// it fills the page if one in eight of the list's first tickets carries the label.
const WALK_PER_ROW: i64 = 8;

/// The first `fetch` tickets of a list that carry a label.
#[derive(Debug, Clone)]
pub struct LabelPage<W, J> {
    /// The list, in order, without a limit.
    walk: W,
    /// The list filtered by the label, in order, without a limit.
    join: J,
    /// The list's org.
    org: OrgId,
    /// The label.
    label: LabelId,
    /// Rows wanted.
    fetch: i64,
    /// How many tickets the walk checks, and how many rows the label needs for it.
    walk_len: i64,
}

impl<W, J> LabelPage<W, J> {
    /// The first `fetch` tickets of `list` (of `org`, in order, without a limit) that
    /// carry `label`, where `join` is the same list filtered by the label.
    pub fn new(list: W, join: J, org: OrgId, label: LabelId, fetch: i64) -> Self {
        Self {
            walk: list,
            join,
            org,
            label,
            fetch,
            walk_len: fetch * WALK_PER_ROW,
        }
    }

    /// `(SELECT FROM ticket_labels l WHERE` the label's rows, left open for more conditions.
    fn label_rows<'b>(&'b self, pass: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        pass.push_sql("(SELECT FROM ticket_labels l WHERE l.org_id = ");
        pass.push_bind_param::<SqlUuid, _>(&self.org)?;
        pass.push_sql(" AND l.label_id = ");
        pass.push_bind_param::<SqlUuid, _>(&self.label)
    }
}

impl<W, J> QueryId for LabelPage<W, J> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<W: QueryFragment<Pg>, J: QueryFragment<Pg>> QueryFragment<Pg> for LabelPage<W, J> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        pass.push_sql("WITH walk AS MATERIALIZED (SELECT * FROM (");
        self.walk.walk_ast(pass.reborrow())?;
        pass.push_sql(" LIMIT ");
        pass.push_bind_param::<BigInt, _>(&self.walk_len)?;
        // `OFFSET 0` keeps the check a per-ticket probe of the walk, where PostgreSQL
        // would otherwise hash all of the label's rows first.
        pass.push_sql(") t WHERE EXISTS ");
        self.label_rows(&mut pass)?;
        pass.push_sql(" AND l.ticket_id = t.id OFFSET 0) AND (SELECT count(*) FROM ");
        self.label_rows(&mut pass)?;
        pass.push_sql(" LIMIT ");
        pass.push_bind_param::<BigInt, _>(&self.walk_len)?;
        pass.push_sql(") c) = ");
        pass.push_bind_param::<BigInt, _>(&self.walk_len)?;
        pass.push_sql(" LIMIT ");
        pass.push_bind_param::<BigInt, _>(&self.fetch)?;
        pass.push_sql(") SELECT * FROM walk WHERE (SELECT count(*) FROM walk) = ");
        pass.push_bind_param::<BigInt, _>(&self.fetch)?;
        pass.push_sql(" UNION ALL SELECT * FROM (");
        self.join.walk_ast(pass.reborrow())?;
        pass.push_sql(" LIMIT ");
        pass.push_bind_param::<BigInt, _>(&self.fetch)?;
        pass.push_sql(") j WHERE (SELECT count(*) FROM walk) < ");
        pass.push_bind_param::<BigInt, _>(&self.fetch)
    }

    fn is_safe_to_cache_prepared(&self, backend: &Pg) -> QueryResult<bool> {
        Ok(self.walk.is_safe_to_cache_prepared(backend)?
            && self.join.is_safe_to_cache_prepared(backend)?)
    }
}

impl<W: Query, J> Query for LabelPage<W, J> {
    type SqlType = W::SqlType;
}
