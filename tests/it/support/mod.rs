//! Test harness: per-test databases, the app behind its router, GraphQL helpers.

pub mod fake_graph;
pub mod meta;
pub mod moto;
pub mod plans;
pub mod process;
pub mod proxy;
pub mod raw;
pub mod seed;
pub mod test_app;
pub mod test_db;
pub mod ws;

pub use test_app::{Session, TestApp, error_code, fixture};
