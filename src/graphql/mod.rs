//! The GraphQL API: schema assembly, abuse limits, and the HTTP handlers for `/graphql`.

pub mod batcher;
pub mod connection;
pub mod context;
pub mod errors;
pub mod field_order;
pub mod flat;
pub mod graphiql;
pub mod http;
pub mod limits;
pub mod loaders;
pub mod mutation;
pub mod nesting;
pub mod node;
pub mod parse_cache;
pub mod persisted;
pub mod prefetch;
pub mod query;
pub mod reads;
pub mod subscription;
pub mod text_input;
pub mod types;
pub mod upload;
pub mod ws;

use async_graphql::{Schema, SchemaBuilder};

use crate::state::AppState;

/// The API schema.
pub type AppSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

pub use limits::MAX_DEPTH;
/// Highest complexity allowed. Connections cost `page size x item cost`: the inbox page
/// (50 tickets with customer, channel, last message) costs about 1,100 and the
/// conversation page (50 messages with attachments, reactions, author) about 1,500, so
/// real dashboards have more than 2x headroom while 100 x 100 x 100 nesting is refused.
pub const MAX_COMPLEXITY: usize = 5_000;
/// Directives allowed on one field.
pub const MAX_DIRECTIVES: usize = 5;

/// The schema without runtime data or limits: what `delightchat schema` prints.
pub fn schema() -> SchemaBuilder<query::Query, mutation::Mutation, subscription::Subscription> {
    Schema::build(
        query::Query,
        mutation::Mutation::default(),
        subscription::Subscription,
    )
}

/// The SDL checked in as `schema.graphql`.
pub fn sdl() -> String {
    schema()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().sorted_fields())
}

/// The schema the server runs: limits, and introspection and suggestions per config.
pub fn build(state: &AppState) -> AppSchema {
    let mut builder = schema()
        .data(state.clone())
        .limit_complexity(MAX_COMPLEXITY)
        .limit_directives(MAX_DIRECTIVES)
        .limit_recursive_depth(32)
        .extension(limits::DocumentLimits)
        .extension(context::MarkExecution)
        .extension(reads::ShareQueryReads)
        .extension(field_order::FieldOrder)
        .extension(parse_cache::ParseCache::default());
    if !state.config().graphql_introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}
