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

use crate::db::scope::{Access, Scope};
use crate::db::{Pool, PoolError, PooledConn};
use crate::graphql::context::{ReadsAs, RequestContext};

/// A connection to read through; several readers may use it at once (pass `&conn` where
/// a query function takes `&AsyncPgConnection`).
pub type ReadConn = Arc<PooledConn>;

/// Where an operation gets its connections: for reads, a connection per read until
/// [`Reads::share`] is called, then one for the rest of the operation; for writes, one
/// of its own ([`Reads::checkout`]).
#[derive(Clone)]
pub struct Reads {
    pool: Pool,
    reads_as: ReadsAs,
    session: Option<uuid::Uuid>,
    shared: Arc<Shared>,
}

/// A checked-out connection with the scope it was checked out for and, for a viewer, what
/// its scoping statement learned of them.
#[derive(Clone)]
struct Scoped {
    scope: Scope,
    conn: ReadConn,
    access: Option<Arc<Access>>,
}

#[derive(Default)]
struct Shared {
    allowed: AtomicBool,
    conn: Mutex<Option<Scoped>>,
}

impl Reads {
    /// Reads of an operation whose rows are those of `reads_as`, by a caller who came
    /// with `session` (if any).
    pub fn new(pool: Pool, reads_as: ReadsAs, session: Option<uuid::Uuid>) -> Self {
        Self {
            pool,
            reads_as,
            session,
            shared: Arc::default(),
        }
    }

    /// From now on, reads share one connection (the operation only reads).
    pub fn share(&self) {
        self.shared.allowed.store(true, Ordering::SeqCst);
    }

    /// A connection scoped to what the operation may read now.
    pub async fn conn(&self) -> Result<ReadConn, PoolError> {
        Ok(self.scoped().await?.conn)
    }

    /// What the caller's connection was scoped with: their role in each org and whether
    /// their session was ended (`None` when nobody is signed in).
    pub async fn access(&self) -> Result<Option<Arc<Access>>, PoolError> {
        Ok(self.scoped().await?.access)
    }

    /// The shared connection, when sharing and checked out for the current scope; else a
    /// new one (kept for the next reads when sharing).
    async fn scoped(&self) -> Result<Scoped, PoolError> {
        let scope = self.reads_as.scope();
        if !self.shared.allowed.load(Ordering::SeqCst) {
            return self.scoped_checkout(scope).await;
        }
        let mut slot = self.shared.conn.lock().await;
        if let Some(held) = slot.as_ref()
            && held.scope == scope
        {
            return Ok(held.clone());
        }
        let scoped = self.scoped_checkout(scope).await?;
        *slot = Some(scoped.clone());
        Ok(scoped)
    }

    /// A connection of the caller's own, never shared (for a transaction), with what its
    /// scoping statement learned of them.
    pub async fn checkout(&self) -> Result<(PooledConn, Option<Access>), PoolError> {
        self.pool
            .checkout_with_access(self.reads_as.scope(), self.session)
            .await
    }

    async fn scoped_checkout(&self, scope: Scope) -> Result<Scoped, PoolError> {
        let (conn, access) = self.pool.checkout_with_access(scope, self.session).await?;
        Ok(Scoped {
            scope,
            conn: Arc::new(conn),
            access: access.map(Arc::new),
        })
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
