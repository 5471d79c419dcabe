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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{ServerResult, Variables};
use tokio::sync::Mutex;

use futures_util::future::Either;

use crate::db::scope::{self, Access, Scope};
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
    /// The connection, once checked out: taken without waiting, so that a page's
    /// parallel loads all start in the same scheduling pass (one round).
    conn: std::sync::Mutex<Option<Scoped>>,
    /// Held while a connection is checked out and scoped, so only one is.
    checkout: Mutex<()>,
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
        Ok(self.scoped(|_| std::future::ready(())).await?.0.conn)
    }

    /// What the caller's connection was scoped with: their role in each org and whether
    /// their session was ended (`None` when nobody is signed in); and when this call
    /// checks the shared connection out, what `alongside` reads on it in the same round
    /// as its scoping statement: sent right behind that statement, which PostgreSQL runs
    /// first, so row-level security already holds the caller to their orgs. What it read
    /// is returned only if the scoping succeeded (`None` when the connection was already
    /// there, or is not shared).
    pub async fn access_with<T, F>(
        &self,
        alongside: impl FnOnce(ReadConn) -> F,
    ) -> Result<(Option<Arc<Access>>, Option<T>), PoolError>
    where
        F: Future<Output = T>,
    {
        let (scoped, read) = self.scoped(alongside).await?;
        Ok((scoped.access, read))
    }

    /// The shared connection, when sharing and checked out for the current scope; else a
    /// new one (kept for the next reads when sharing), with what `alongside` read beside
    /// its scoping statement ([`Reads::access_with`]).
    async fn scoped<T, F>(
        &self,
        alongside: impl FnOnce(ReadConn) -> F,
    ) -> Result<(Scoped, Option<T>), PoolError>
    where
        F: Future<Output = T>,
    {
        let scope = self.reads_as.scope();
        if !self.shared.allowed.load(Ordering::SeqCst) {
            return Ok((self.scoped_checkout(scope).await?, None));
        }
        if let Some(held) = self.held(scope) {
            return Ok((held, None));
        }
        let checking_out = self.shared.checkout.lock().await;
        if let Some(held) = self.held(scope) {
            return Ok((held, None));
        }
        let conn = Arc::new(self.pool.checkout_unscoped().await?);
        let (scoped, early) = {
            let scoping = std::pin::pin!(scope::apply_on(&conn, scope, self.session));
            let early = Box::pin(alongside(Arc::clone(&conn)));
            // The scoping statement is polled first, so it is sent first; other reads
            // may use the connection as soon as its answer is in, while the early read
            // may still run.
            match futures_util::future::select(scoping, early).await {
                Either::Left((scoped, early)) => (scoped, Either::Left(early)),
                Either::Right((read, scoping)) => (scoping.await, Either::Right(read)),
            }
        };
        let access = match scoped {
            Ok(access) => access.map(Arc::new),
            Err(e) => {
                drop(early);
                if let Ok(conn) = Arc::try_unwrap(conn) {
                    scope::discard(conn);
                }
                return Err(scope::failed(e));
            }
        };
        let scoped = Scoped {
            scope,
            conn,
            access,
        };
        self.hold(scoped.clone());
        drop(checking_out);
        let read = match early {
            Either::Left(running) => running.await,
            Either::Right(read) => read,
        };
        Ok((scoped, Some(read)))
    }

    /// The shared connection, if it is checked out for `scope`.
    fn held(&self, scope: Scope) -> Option<Scoped> {
        let held = self
            .shared
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.as_ref().filter(|held| held.scope == scope).cloned()
    }

    /// Shares `scoped` from now on.
    fn hold(&self, scoped: Scoped) {
        *self
            .shared
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(scoped);
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
