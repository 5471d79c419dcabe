//! GraphQL object types, one file per type, wrapping database rows.

pub mod channel;
pub mod customer;
pub mod inbox_event;
pub mod invitation;
pub mod label;
pub mod message;
pub mod notification;
pub mod org;
pub mod team;
pub mod template;
pub mod ticket;
pub mod user;

use async_graphql::{ID, MaybeUndefined};

use crate::error::{AppError, AppResult};

/// Parses a GraphQL `ID` into a typed id; malformed ids are `BAD_USER_INPUT`.
pub fn parse_id<T>(id: &ID, parse: impl Fn(&str) -> Option<T>) -> AppResult<T> {
    parse(id.as_str())
        .ok_or_else(|| AppError::bad_input(format!("invalid id {:?}", truncate(id.as_str()))))
}

/// Parses an optional, nullable `ID` argument: `None` when omitted, `Some(None)` for
/// null.
pub fn maybe_id<T>(
    id: MaybeUndefined<ID>,
    parse: impl Fn(&str) -> Option<T>,
) -> AppResult<Option<Option<T>>> {
    match id {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(id) => parse_id(&id, parse).map(|t| Some(Some(t))),
    }
}

/// The GraphQL `ID` of a typed id.
pub fn to_id(id: impl std::fmt::Display) -> ID {
    ID(id.to_string())
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
