//! Meta webhooks: the verification handshake, signed deliveries stored durably, and the
//! pure parsers that turn them into normalized events.

pub mod meta;
pub mod routes;
pub mod verify;
