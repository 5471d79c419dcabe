//! Replies going out: the Graph API client, request composition, per-channel rate
//! limits and the outbound worker.

pub mod compose;
pub mod graph;
pub mod rate_limit;
mod record;
pub mod sender;
