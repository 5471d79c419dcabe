//! Per-request GraphQL context: the app state, the caller, their memberships (checked
//! against the database once per request and org) and the request id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Context, ID};

use crate::auth::viewer::{Viewer, role_in};
use crate::db::Pool;
use crate::db::enums::Role;
use crate::db::ids::{OrgId, UserId};
use crate::db::scope::Scope;
use crate::error::{AppError, AppResult};
use crate::graphql::reads::{ReadConn, Reads};
use crate::state::AppState;

/// Data attached to each GraphQL request (HTTP) or connection (WebSocket).
pub struct RequestContext {
    /// The caller, when authenticated.
    pub viewer: Option<Viewer>,
    /// Id of the HTTP request, for logs and internal errors.
    pub request_id: String,
    /// The client's address (the TCP peer), when the transport knows it.
    pub client_ip: Option<std::net::IpAddr>,
    /// Whose rows the request's connections see.
    pub reads_as: ReadsAs,
    /// Where its reads get a connection.
    pub reads: Reads,
    memberships: Mutex<HashMap<OrgId, MembershipCell>>,
    auth_attempted: AtomicBool,
    outcome: Arc<Outcome>,
}

/// Whose rows a request's connections see (row-level security): the caller, or else the
/// account that a `signup`, `login` or `refreshToken` of this very request signed in, so
/// that its payload (`user { memberships { org } }`) can be read; nobody's before that.
/// Shared by the request's context and its loaders.
#[derive(Debug, Clone, Default)]
pub struct ReadsAs(Arc<OnceLock<UserId>>);

impl ReadsAs {
    /// Reads as `viewer`, or as nobody yet.
    pub fn new(viewer: Option<UserId>) -> Self {
        Self(Arc::new(viewer.map_or_else(OnceLock::new, OnceLock::from)))
    }

    /// From now on reads as `user`, unless the request already reads as someone.
    pub fn signed_in(&self, user: UserId) {
        self.0.get_or_init(|| user);
    }

    /// The scope of the request's connections.
    pub fn scope(&self) -> Scope {
        self.0.get().copied().map_or(Scope::Nothing, Scope::Viewer)
    }
}

/// What the transport learns about a request once it ran.
#[derive(Debug, Default)]
pub struct Outcome {
    executed: AtomicBool,
    token_required: AtomicBool,
}

impl Outcome {
    /// Whether execution began: `false` after a request error (the document did not
    /// parse or validate, or a variable did not coerce).
    pub fn executed(&self) -> bool {
        self.executed.load(Ordering::SeqCst)
    }

    /// Whether a field needed a signed-in caller and the request had no token.
    pub fn token_was_required(&self) -> bool {
        self.token_required.load(Ordering::SeqCst)
    }
}

/// Extension recording in the request's [`Outcome`] that execution began.
pub struct MarkExecution;

impl ExtensionFactory for MarkExecution {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(MarkExecution)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for MarkExecution {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        if let Some(request) = ctx.data_opt::<RequestContext>() {
            request.outcome.executed.store(true, Ordering::SeqCst);
        }
        next.run(ctx, operation_name).await
    }
}

impl RequestContext {
    /// Context of a request by `viewer`, reading from `pool`.
    pub fn new(viewer: Option<Viewer>, request_id: impl Into<String>, pool: Pool) -> Self {
        let reads_as = ReadsAs::new(viewer.map(|v| v.user_id));
        Self {
            viewer,
            request_id: request_id.into(),
            client_ip: None,
            reads: Reads::new(pool, reads_as.clone(), viewer.and_then(|v| v.session)),
            reads_as,
            memberships: Mutex::default(),
            auth_attempted: AtomicBool::new(false),
            outcome: Arc::default(),
        }
    }

    /// The same, from client address `ip`.
    pub fn from_ip(self, ip: Option<std::net::IpAddr>) -> Self {
        Self {
            client_ip: ip,
            ..self
        }
    }

    /// A handle on what the transport will want to know after the request ran.
    pub fn outcome(&self) -> Arc<Outcome> {
        self.outcome.clone()
    }
}

/// The shared application state.
pub fn state<'a>(ctx: &Context<'a>) -> AppResult<&'a AppState> {
    ctx.data::<AppState>()
        .map_err(|_| AppError::internal(anyhow::anyhow!("app state missing")))
}

/// A database connection to read through, that sees the caller's orgs only (nothing
/// when nobody is signed in), shared with the request's other reads when it only
/// queries ([`Reads`]); failing to get one is an internal error (the pool's text never
/// reaches the client).
pub async fn conn(ctx: &Context<'_>) -> AppResult<ReadConn> {
    Ok(request(ctx)?.reads.conn().await?)
}

/// The request context.
pub fn request<'a>(ctx: &Context<'a>) -> AppResult<&'a RequestContext> {
    ctx.data::<RequestContext>()
        .map_err(|_| AppError::internal(anyhow::anyhow!("request context missing")))
}

/// The authenticated caller, or `UNAUTHENTICATED`.
pub fn viewer(ctx: &Context<'_>) -> AppResult<Viewer> {
    let request = request(ctx)?;
    request.viewer.ok_or_else(|| {
        request.outcome.token_required.store(true, Ordering::SeqCst);
        AppError::Unauthenticated
    })
}

/// The caller's membership of one org, decided at most once per request however many
/// fields (aliases included, resolved concurrently) ask for it.
type MembershipCell = Arc<tokio::sync::OnceCell<Option<Role>>>;

/// The caller's role in `org`, or `None` when they are not a member (or the org does not
/// exist: the two are indistinguishable), as the scoping statement of the request's
/// connection found it (no query of its own); a revoked session (`logout`,
/// `changePassword`) is `UNAUTHENTICATED`.
async fn membership(ctx: &Context<'_>, org: OrgId) -> AppResult<Option<Role>> {
    Ok(membership_with(ctx, org, |_| std::future::ready(()))
        .await?
        .0)
}

/// [`membership`], and what `alongside` read beside the checkout's scoping statement if
/// this call checked the request's connection out ([`Reads::access_with`]).
async fn membership_with<T, F>(
    ctx: &Context<'_>,
    org: OrgId,
    alongside: impl FnOnce(ReadConn) -> F,
) -> AppResult<(Option<Role>, Option<T>)>
where
    F: Future<Output = T>,
{
    viewer(ctx)?;
    let request = request(ctx)?;
    let cell = request
        .memberships
        .lock()
        .map_err(|_| poisoned())?
        .entry(org)
        .or_default()
        .clone();
    let mut read = None;
    let role = cell
        .get_or_try_init(|| async {
            let (access, early) = request.reads.access_with(alongside).await?;
            read = early;
            role_in(access.as_deref(), org)
        })
        .await?;
    Ok((*role, read))
}

/// The caller's role in `org`; `FORBIDDEN` when they are not a member (or the org does
/// not exist: the two are indistinguishable). Checked against the database once per
/// request, so a removed member or a revoked session (`logout`, `changePassword`) is
/// refused from the next request on.
pub async fn member(ctx: &Context<'_>, org: OrgId) -> AppResult<Role> {
    membership(ctx, org).await?.ok_or(AppError::Forbidden)
}

/// The org itself for one of its members, with the caller's role; `FORBIDDEN` otherwise.
pub async fn member_org(
    ctx: &Context<'_>,
    org: OrgId,
) -> AppResult<crate::graphql::types::org::Org> {
    Ok(member_org_with(ctx, org, |_| std::future::ready(()))
        .await?
        .0)
}

/// [`member_org`], and what `alongside` read beside the checkout's scoping statement if
/// this call checked the request's connection out ([`Reads::access_with`]); given to
/// members only.
pub async fn member_org_with<T, F>(
    ctx: &Context<'_>,
    org: OrgId,
    alongside: impl FnOnce(ReadConn) -> F,
) -> AppResult<(crate::graphql::types::org::Org, Option<T>)>
where
    F: Future<Output = T>,
{
    let (role, read) = membership_with(ctx, org, alongside).await?;
    let role = role.ok_or(AppError::Forbidden)?;
    Ok((crate::graphql::types::org::Org::of(org, role), read))
}

/// An org-scoped call, checked: the org, the caller, the shared state and a connection
/// (what every org-scoped mutation starts with).
pub struct OrgCall<'a> {
    /// The org.
    pub org: OrgId,
    /// The caller.
    pub user: crate::db::ids::UserId,
    /// The shared state (publishing, wake-ups, secrets).
    pub state: &'a AppState,
    /// A pooled connection.
    pub conn: crate::db::PooledConn,
}

/// Parses `org_id` and checks the caller may act in it: any member, or only ADMINs when
/// `needs` is [`Role::Admin`].
pub async fn org_call<'a>(ctx: &Context<'a>, org_id: &ID, needs: Role) -> AppResult<OrgCall<'a>> {
    let org = crate::graphql::types::parse_id(org_id, OrgId::parse)?;
    let user = viewer(ctx)?.user_id;
    // The call's own connection; its scoping statement also says the caller's role.
    let (conn, access) = request(ctx)?.reads.checkout().await?;
    match (needs, role_in(access.as_ref(), org)?) {
        (_, None) | (Role::Admin, Some(Role::Agent)) => return Err(AppError::Forbidden),
        (Role::Admin | Role::Agent, Some(_)) => {}
    }
    Ok(OrgCall {
        org,
        user,
        state: state(ctx)?,
        conn,
    })
}

/// Like [`member`], but only ADMINs pass.
pub async fn admin(ctx: &Context<'_>, org: OrgId) -> AppResult<()> {
    match member(ctx, org).await? {
        Role::Admin => Ok(()),
        Role::Agent => Err(AppError::Forbidden),
    }
}

/// Allows one authentication mutation (`signup`, `login`, `refreshToken`) per request,
/// so aliases cannot turn one request into a hundred password guesses, and counts it
/// against the client address's limit ([`crate::auth::ip_limit`]).
pub fn take_auth_attempt(ctx: &Context<'_>) -> AppResult<()> {
    let request = request(ctx)?;
    if request.auth_attempted.swap(true, Ordering::SeqCst) {
        return Err(AppError::bad_input(
            "only one authentication mutation is allowed per request",
        ));
    }
    // A transport that cannot tell the address (in-process tests) shares one bucket.
    let ip = request
        .client_ip
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    state(ctx)?
        .ip_limit()
        .check(ip)
        .map_err(|retry_after| AppError::RetryLater {
            message: format!(
                "too many sign-in attempts from this address; try again in {} s",
                retry_after.as_secs().max(1)
            ),
            retry_after,
        })
}

fn poisoned() -> AppError {
    AppError::internal(anyhow::anyhow!("membership cache poisoned"))
}
