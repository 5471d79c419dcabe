//! Relay connections: argument validation, opaque cursors and page assembly.
//!
//! Cursors are base64url of the row's sort key; they are validated on decode and any
//! tampering is a `BAD_USER_INPUT`. Pages default to 50 items and never exceed 100.
//!
//! `totalCount` ([`TotalCount`]) is offered where counting is cheap and bounded: a
//! ticket's messages and a user's notifications. `Org.tickets` and `Org.customers` have
//! none: a count there scans the whole filtered inbox (or runs the customer search
//! without a limit) on every page, which grows with the org; `Org.ticketCounts`-style
//! aggregates belong in a dedicated field if the dashboard needs them.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, ObjectType, OutputType};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::db::ids::{OrgId, TicketId, UserId};
use crate::db::page::{Keyset, PageQuery, PageRows};
use crate::db::{messages, notifications};
use crate::error::{AppError, AppResult};
use crate::graphql::context::conn;

/// Items per page when the client does not say.
pub const DEFAULT_PAGE_SIZE: i32 = 50;
/// The hard maximum of `first` / `last`.
pub const MAX_PAGE_SIZE: i32 = 100;

/// Complexity of a connection field: its page size times the cost of one item.
pub fn complexity(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let size = first
        .or(last)
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    usize::try_from(size).unwrap_or(1) * child + 1
}

/// Validates Relay arguments into a page query. Backward paging (`last`/`before`) is
/// only accepted where `backward_allowed`.
pub fn page_query(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
    backward_allowed: bool,
) -> AppResult<PageQuery> {
    if !backward_allowed && (last.is_some() || before.is_some()) {
        return Err(AppError::bad_input(
            "this connection only pages forward (first/after)",
        ));
    }
    if first.is_some() && last.is_some() {
        return Err(AppError::bad_input("pass either first or last, not both"));
    }
    if (after.is_some() && before.is_some())
        || (after.is_some() && last.is_some())
        || (before.is_some() && first.is_some())
    {
        return Err(AppError::bad_input("use first/after or last/before"));
    }
    let backward = last.is_some() || before.is_some();
    let size = first.or(last).unwrap_or(DEFAULT_PAGE_SIZE);
    if !(0..=MAX_PAGE_SIZE).contains(&size) {
        return Err(AppError::bad_input(format!(
            "page size must be between 0 and {MAX_PAGE_SIZE}"
        )));
    }
    let cursor = after.or(before).as_deref().map(decode_cursor).transpose()?;
    Ok(PageQuery {
        cursor,
        limit: i64::from(size),
        backward,
    })
}

/// Encodes a sort key as an opaque cursor.
pub fn encode_cursor(key: &Keyset) -> String {
    B64.encode(format!("{}|{}", key.at.timestamp_micros(), key.id))
}

fn decode_cursor(cursor: &str) -> AppResult<Keyset> {
    let invalid = || AppError::bad_input("invalid cursor");
    let raw = B64.decode(cursor.trim()).map_err(|_| invalid())?;
    let text = std::str::from_utf8(&raw).map_err(|_| invalid())?;
    let (micros, id) = text.split_once('|').ok_or_else(invalid)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(chrono::DateTime::from_timestamp_micros)
        .ok_or_else(invalid)?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok(Keyset { at, id })
}

/// Builds a connection from a fetched page.
pub fn connection<R, T: OutputType>(
    page: PageRows<R>,
    query: &PageQuery,
    key: impl Fn(&R) -> Keyset,
    node: impl Fn(R) -> T,
) -> Connection<String, T> {
    connection_with(
        page,
        query,
        key,
        node,
        async_graphql::connection::EmptyFields,
    )
}

/// Builds a connection with extra connection-level fields (such as [`TotalCount`]).
pub fn connection_with<R, T: OutputType, F: ObjectType>(
    page: PageRows<R>,
    query: &PageQuery,
    key: impl Fn(&R) -> Keyset,
    node: impl Fn(R) -> T,
    fields: F,
) -> Connection<String, T, F> {
    let (has_previous, has_next) = if query.backward {
        (page.has_more, query.cursor.is_some())
    } else {
        (query.cursor.is_some(), page.has_more)
    };
    let mut connection = Connection::with_additional_fields(has_previous, has_next, fields);
    connection.edges = page
        .rows
        .into_iter()
        .map(|row| Edge::new(encode_cursor(&key(&row)), node(row)))
        .collect();
    connection
}

/// The `totalCount` field of a connection: counted only if the client selects it.
pub enum TotalCount {
    /// Messages of a ticket.
    Messages(TicketId),
    /// A user's notifications in an org.
    Notifications {
        /// The org.
        org: OrgId,
        /// The user.
        user: UserId,
        /// Unread ones only.
        unread_only: bool,
    },
}

#[Object]
impl TotalCount {
    /// How many items the connection has in all pages together.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let conn = conn(ctx).await?;
        let count = match *self {
            TotalCount::Messages(ticket) => messages::count_of_ticket(&conn, ticket).await,
            TotalCount::Notifications {
                org,
                user,
                unread_only,
            } => notifications::count(&conn, org, user, unread_only).await,
        };
        Ok(count.map_err(AppError::from)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_page_of_tickets_is_the_one_whose_plan_is_kept() {
        assert_eq!(
            i64::from(DEFAULT_PAGE_SIZE),
            crate::db::tickets::KEPT_PLAN_PAGE
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let key = Keyset {
            at: chrono::Utc::now(),
            id: uuid::Uuid::new_v4(),
        };
        let cursor = encode_cursor(&key);
        let back = decode_cursor(&cursor).unwrap();
        assert_eq!(back.id, key.id);
        assert_eq!(back.at.timestamp_micros(), key.at.timestamp_micros());
        for bad in ["", "!!!", "bm9wZQ", &B64.encode("1|not-a-uuid")] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_arguments_are_validated() {
        assert_eq!(page_query(None, None, None, None, false).unwrap().limit, 50);
        assert!(page_query(Some(101), None, None, None, false).is_err());
        assert!(page_query(Some(-1), None, None, None, false).is_err());
        assert!(page_query(Some(10), None, Some(10), None, true).is_err());
        assert!(page_query(None, None, Some(10), None, false).is_err());
        let q = page_query(None, None, Some(10), None, true).unwrap();
        assert!(q.backward);
        assert!(page_query(Some(1), Some("bad".into()), None, None, false).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_paging_arguments_never_panic_and_stay_bounded(
            first in proptest::option::of(proptest::prelude::any::<i32>()),
            last in proptest::option::of(proptest::prelude::any::<i32>()),
            after in proptest::option::of(".{0,40}"),
            before in proptest::option::of(".{0,40}"),
            backward in proptest::prelude::any::<bool>(),
        ) {
            if let Ok(query) = page_query(first, after, last, before, backward) {
                proptest::prop_assert!((0..=i64::from(MAX_PAGE_SIZE)).contains(&query.limit));
                proptest::prop_assert!(backward || !query.backward);
            }
            proptest::prop_assert!(complexity(first, last, 3) <= 3 * MAX_PAGE_SIZE as usize + 1);
        }

        #[test]
        fn any_valid_cursor_round_trips(micros in -62_000_000_000_000_000i64..250_000_000_000_000_000i64, id: u128) {
            let key = Keyset { at: chrono::DateTime::from_timestamp_micros(micros).unwrap(), id: uuid::Uuid::from_u128(id) };
            proptest::prop_assert_eq!(decode_cursor(&encode_cursor(&key)).unwrap(), key);
        }
    }

    #[test]
    fn complexity_scales_with_page_size() {
        assert_eq!(complexity(Some(100), None, 10), 1001);
        assert_eq!(complexity(None, None, 1), 51);
        assert_eq!(complexity(Some(100_000), None, 1), 101);
    }
}
