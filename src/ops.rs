//! Operational endpoints: `/healthz` (the process is up), `/readyz` (the database answers
//! and the process is not shutting down), `/metrics` (Prometheus text), and the middleware
//! that records each request's latency for `/metrics`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use diesel_async::SimpleAsyncConnection as _;
use subtle::ConstantTimeEq as _;

use crate::config::{AppEnv, Config};
use crate::db::enums::FactKind;
use crate::db::{outbound_jobs, pending_facts, webhook_events};
use crate::metrics::{self, Route, counter, gauge};
use crate::state::AppState;

/// `GET /healthz`: `ok` while the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the database answers, 503 otherwise or while shutting down.
pub async fn readyz(State(state): State<AppState>) -> StatusCode {
    if state.is_shutting_down() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let ready = match state.system_conn().await {
        Ok(mut conn) => conn.batch_execute("SELECT 1").await.is_ok(),
        Err(_) => false,
    };
    if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// Whether a `/metrics` request may read: with `METRICS_TOKEN` set, only with
/// `Authorization: Bearer <token>` (401 otherwise); without it, in development only
/// (404 in production, as if the route did not exist).
fn metrics_access(config: &Config, headers: &HeaderMap) -> Result<(), StatusCode> {
    let Some(token) = &config.metrics_token else {
        return match config.app_env {
            AppEnv::Development => Ok(()),
            AppEnv::Production => Err(StatusCode::NOT_FOUND),
        };
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        Err(StatusCode::UNAUTHORIZED)
    }
}

/// `GET /metrics`: Prometheus text: process counters, request latencies, queue depths
/// and ages, open subscriptions. Guarded by `metrics_access`.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(status) = metrics_access(state.config(), &headers) {
        return status.into_response();
    }
    let mut text = state.metrics().render();
    gauge(
        &mut text,
        "delightchat_subscriptions_open",
        "Live subscriptions open in this process.",
        state.bus().subscriber_count() as f64,
    );
    counter(
        &mut text,
        "delightchat_db_queries_total",
        "SQL statements run by this process.",
        state.query_count(),
    );
    if let Ok(mut conn) = state.system_conn().await {
        if let Ok((pending, oldest)) = webhook_events::backlog(&mut conn).await {
            gauge(
                &mut text,
                "delightchat_webhook_queue_depth",
                "Stored deliveries not processed yet.",
                pending as f64,
            );
            gauge(
                &mut text,
                "delightchat_webhook_queue_oldest_seconds",
                "Age of the oldest due delivery.",
                oldest,
            );
        }
        if let Ok(parked) = webhook_events::parked(&mut conn).await {
            gauge(
                &mut text,
                "delightchat_webhooks_parked",
                "Deliveries parked for operators.",
                parked as f64,
            );
        }
        if let Ok(counts) = pending_facts::counts(&mut conn).await {
            let values: Vec<(&str, f64)> = FactKind::ALL
                .iter()
                .map(|kind| {
                    let n = counts
                        .iter()
                        .find(|(k, _)| k == kind)
                        .map_or(0, |(_, n)| *n);
                    (kind.as_str(), n as f64)
                })
                .collect();
            metrics::labelled_gauge(
                &mut text,
                "delightchat_pending_facts",
                "Facts waiting for the message they name (early unsends, edits, reactions, reads, statuses).",
                "kind",
                &values,
            );
        }
        if let Ok((pending, oldest)) = outbound_jobs::backlog(&mut conn).await {
            gauge(
                &mut text,
                "delightchat_outbound_queue_depth",
                "Replies waiting to be sent.",
                pending as f64,
            );
            gauge(
                &mut text,
                "delightchat_outbound_queue_oldest_seconds",
                "Age of the oldest due reply.",
                oldest,
            );
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Records each request's latency by route family.
pub async fn record_latency(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = Route::of(request.uri().path());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state.metrics().http_request(route, started.elapsed());
    response
}
