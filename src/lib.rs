//! DelightChat: a multi-tenant omnichannel customer-support inbox backend.
//!
//! Meta webhooks (Instagram, Messenger, WhatsApp) become customers, tickets and messages
//! in PostgreSQL; agents work them through a GraphQL API with live subscriptions; replies
//! go back out through the Meta Graph API. See `README.md` for the tour.

pub mod auth;
pub mod bench;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod dev_keys;
pub mod error;
pub mod events;
pub mod graphql;
pub mod inbox;
pub mod jobs;
pub mod metrics;
pub mod observability;
pub mod outbound;
pub mod sandbox;
pub mod simulate;
pub mod state;
pub mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::graphql::http::GraphqlState;
use crate::state::AppState;

/// Longest any HTTP request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP application: `/graphql`, `/webhook/*`, `/healthz`, `/readyz`.
pub fn router(state: AppState) -> Router {
    let graphql_state = GraphqlState {
        schema: graphql::build(&state),
        app: state.clone(),
        persisted: graphql::persisted::PersistedQueries::default(),
    };
    let graphql_routes = Router::new()
        .route(
            "/graphql",
            get(graphql::http::get).post(graphql::http::post),
        )
        .layer(DefaultBodyLimit::max(graphql::http::MAX_BODY_BYTES))
        .with_state(graphql_state);
    let webhook_routes = Router::new()
        .route(
            "/webhook",
            get(webhooks::routes::verify_app).post(webhooks::routes::receive_app),
        )
        .route(
            "/webhook/{channel_id}",
            get(webhooks::routes::verify_channel).post(webhooks::routes::receive_channel),
        )
        .layer(DefaultBodyLimit::max(webhooks::routes::MAX_BODY_BYTES))
        .with_state(state.clone());
    let request_id = HeaderName::from_static("x-request-id");
    let metrics_state = state.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(graphql::graphiql::ASSET_ROUTE, get(graphql::graphiql::asset))
        .with_state(state)
        .merge(graphql_routes)
        .merge(webhook_routes)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(axum::middleware::from_fn_with_state(metrics_state, record_latency))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Records each request's latency by route family.
async fn record_latency(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = metrics::Route::of(request.uri().path());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state.metrics().http_request(route, started.elapsed());
    response
}

/// `GET /metrics`: Prometheus text: process counters, request latencies, queue depths
/// and ages, open subscriptions.
async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut text = state.metrics().render();
    metrics::gauge(
        &mut text,
        "delightchat_subscriptions_open",
        "Live subscriptions open in this process.",
        state.bus().subscriber_count() as f64,
    );
    metrics::counter(
        &mut text,
        "delightchat_db_queries_total",
        "SQL statements run by this process.",
        state.query_count(),
    );
    if let Ok(mut conn) = state.conn().await {
        if let Ok((pending, oldest)) = webhooks::processor::backlog(&mut conn).await {
            metrics::gauge(
                &mut text,
                "delightchat_webhook_queue_depth",
                "Stored deliveries not processed yet.",
                pending as f64,
            );
            metrics::gauge(
                &mut text,
                "delightchat_webhook_queue_oldest_seconds",
                "Age of the oldest due delivery.",
                oldest,
            );
        }
        if let Ok(parked) = webhooks::processor::parked(&mut conn).await {
            metrics::gauge(
                &mut text,
                "delightchat_webhooks_parked",
                "Deliveries parked for operators.",
                parked as f64,
            );
        }
        if let Ok((pending, oldest)) = db::outbound_jobs::backlog(&mut conn).await {
            metrics::gauge(
                &mut text,
                "delightchat_outbound_queue_depth",
                "Replies waiting to be sent.",
                pending as f64,
            );
            metrics::gauge(
                &mut text,
                "delightchat_outbound_queue_oldest_seconds",
                "Age of the oldest due reply.",
                oldest,
            );
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
        .into_response()
}

/// `GET /readyz`: 200 when the database answers, 503 otherwise or while shutting down.
async fn readyz(State(state): State<AppState>) -> StatusCode {
    use diesel_async::SimpleAsyncConnection as _;
    if state.is_shutting_down() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let ready = match state.conn().await {
        Ok(mut conn) => conn.batch_execute("SELECT 1").await.is_ok(),
        Err(_) => false,
    };
    if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}
