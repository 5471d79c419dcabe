//! Keyset pagination shared by the list queries: a position in a list ordered by
//! `(timestamp, id)`, and how many rows to fetch from it in which direction.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A position in a list ordered by `(at, id)`; rows strictly beyond it are returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Keyset {
    /// Sort timestamp of the row at the position.
    pub at: DateTime<Utc>,
    /// Its id, the tie-breaker.
    pub id: Uuid,
}

/// One page to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    /// Start after this position (forward) or before it (backward).
    pub cursor: Option<Keyset>,
    /// Rows wanted; queries fetch one more to learn whether another page exists.
    pub limit: i64,
    /// `true` for `last`/`before`: the page ending at the cursor (or at the list's end).
    pub backward: bool,
}

impl PageQuery {
    /// The first `limit` rows.
    pub fn first(limit: i64) -> Self {
        Self {
            cursor: None,
            limit,
            backward: false,
        }
    }
}

/// Rows of one page plus whether more exist beyond it (in the page's direction).
#[derive(Debug, Clone)]
pub struct PageRows<T> {
    /// The rows, always in the list's natural order.
    pub rows: Vec<T>,
    /// More rows exist past the far end of the page.
    pub has_more: bool,
}

impl<T> PageRows<T> {
    /// Trims a result fetched with `limit + 1` rows in query order; for a backward page the
    /// query order is reversed, so the rows are put back in natural order.
    pub fn from_fetched(mut rows: Vec<T>, query: &PageQuery) -> Self {
        let limit = usize::try_from(query.limit).unwrap_or(0);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        if query.backward {
            rows.reverse();
        }
        Self { rows, has_more }
    }
}
