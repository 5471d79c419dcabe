//! The integration test binary: every test talks to the real PostgreSQL (its own
//! database, cloned from a migrated template) through the real router.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

mod auth;
mod channels;
mod conformance;
mod convergence;
mod deployment;
mod faults;
mod fuzz;
mod http_spec;
mod inbox_reads;
mod ingest_cost;
mod limits;
mod live;
mod outbound;
mod relay;
mod sandbox;
mod schema_file;
mod tenancy;
mod webhooks;
mod workers;
mod workflow;
