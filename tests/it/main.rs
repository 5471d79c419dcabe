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
mod handoff;
mod http_spec;
mod inbox_reads;
mod ingest_cost;
mod invitations;
mod limits;
mod live;
mod media;
mod network;
mod outbound;
mod profiles;
mod relay;
mod row_level_security;
mod sandbox;
mod schema_file;
mod team;
mod templates;
mod tenancy;
mod webhooks;
mod workers;
mod workflow;
