//! Meta webhooks: the verification handshake, signed deliveries stored durably, and the
//! pure parsers that turn them into normalized events.

pub mod keys;
pub mod meta;
pub mod processor;
pub mod routes;
pub mod signature;
pub mod store;
pub mod verify;
