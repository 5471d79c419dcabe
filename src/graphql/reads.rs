//! The connection a query reads through: checked out and scoped once, then shared by the
//! operation's resolvers and loaders. diesel-async pipelines concurrent statements on one
//! connection (each is sent without waiting for the previous answer), so a page's
//! parallel loads cost one network round and one scoping statement, instead of one
//! checkout, scoping statement and round trip each.
//!
//! Only documents made of queries share a connection ([`ShareQueryReads`]). A mutation
//! may change the caller's memberships, which a connection's scope captured when it was
//! checked out; a subscription lives as long as the client wants and must not hold a
//! connection for it. Those check one out per read, as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{ServerResult, Variables};
use tokio::sync::Mutex;

use crate::db::scope::Scope;
use crate::db::{Pool, PoolError, PooledConn};
use crate::graphql::context::{ReadsAs, RequestContext};

/// A connection to read through; several readers may use it at once (pass `&conn` where
/// a query function takes `&AsyncPgConnection`).
pub type ReadConn = Arc<PooledConn>;

/// Where an operation's reads get their connection: a connection per read until
/// [`Reads::share`] is called, then one for the rest of the operation.
#[derive(Clone)]
pub struct Reads {
    pool: Pool,
    reads_as: ReadsAs,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    allowed: AtomicBool,
    conn: Mutex<Option<(Scope, ReadConn)>>,
}

impl Reads {
    /// Reads of an operation whose rows are those of `reads_as`.
    pub fn new(pool: Pool, reads_as: ReadsAs) -> Self {
        Self {
            pool,
            reads_as,
            shared: Arc::default(),
        }
    }

    /// From now on, reads share one connection (the operation only reads).
    pub fn share(&self) {
        self.shared.allowed.store(true, Ordering::SeqCst);
    }

    /// Whose rows the operation reads.
    pub fn scope(&self) -> Scope {
        self.reads_as.scope()
    }

    /// A connection scoped to what the operation may read now (the shared one, when
    /// sharing and checked out for the same scope).
    pub async fn conn(&self) -> Result<ReadConn, PoolError> {
        let scope = self.scope();
        if !self.shared.allowed.load(Ordering::SeqCst) {
            return Ok(Arc::new(self.pool.checkout(scope).await?));
        }
        let mut slot = self.shared.conn.lock().await;
        if let Some((held, conn)) = slot.as_ref()
            && *held == scope
        {
            return Ok(conn.clone());
        }
        let conn = Arc::new(self.pool.checkout(scope).await?);
        *slot = Some((scope, conn.clone()));
        Ok(conn)
    }
}

/// Extension that lets a document made only of queries share its reads' connection.
pub struct ShareQueryReads;

impl ExtensionFactory for ShareQueryReads {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ShareQueryReads)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ShareQueryReads {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let only_queries = document
            .operations
            .iter()
            .all(|(_, operation)| operation.node.ty == OperationType::Query);
        if only_queries && let Some(request) = ctx.data_opt::<RequestContext>() {
            request.reads.share();
        }
        Ok(document)
    }
}
