//! HTTP routes for Meta webhooks.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::verify::Handshake;
use crate::crypto::aad;
use crate::db::channels;
use crate::db::ids::ChannelId;
use crate::state::AppState;

/// `GET /webhook/{channelId}`: the verification handshake of one channel.
pub async fn verify_channel(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(id) = ChannelId::parse(&channel_id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let channel = match state.conn().await {
        Ok(mut conn) => channels::find_live(&mut conn, id).await,
        Err(e) => {
            tracing::warn!(error = %e, "webhook verification: database unavailable");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let channel = match channel {
        Ok(Some(channel)) => channel,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "webhook verification: loading channel failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let expected = state
        .secrets()
        .open(
            &channel.verify_token_enc,
            &aad(channel.id.0, "verify_token"),
        )
        .unwrap_or_default();
    answer(Handshake::from_query(&query).answer(&expected))
}

/// `GET /webhook`: the app-level handshake, enabled by `META_VERIFY_TOKEN`.
pub async fn verify_app(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(expected) = state.config().meta_verify_token.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    answer(Handshake::from_query(&query).answer(expected))
}

fn answer(challenge: Option<&str>) -> Response {
    match challenge {
        Some(challenge) => {
            ([(header::CONTENT_TYPE, "text/plain")], challenge.to_owned()).into_response()
        }
        None => StatusCode::FORBIDDEN.into_response(),
    }
}
