//! HTTP routes for Meta webhooks: the verification handshakes and signed deliveries.
//!
//! A delivery is verified on its exact bytes, stored durably and answered `200`; nothing
//! else happens in the request. Client mistakes get 4xx (401 no signature, 403 wrong
//! signature, 404 unknown channel, 413 too large); only our own outage is a 503, which
//! makes Meta retry.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::signature::{self, SignatureError};
use super::store::NewDelivery;
use super::verify::Handshake;
use crate::crypto::aad;
use crate::db::channels;
use crate::db::ids::ChannelId;
use crate::state::AppState;

/// Largest accepted delivery: Meta batches up to 1,000 updates per POST.
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// `GET /webhook/{channelId}`: the verification handshake of one channel.
pub async fn verify_channel(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(id) = ChannelId::parse(&channel_id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let channel = match state.system_conn().await {
        Ok(mut conn) => channels::find_live(&mut conn, id)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let channel = match channel {
        Ok(Some(channel)) => channel,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "webhook verification: loading the channel failed");
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

/// `POST /webhook/{channelId}`: a delivery signed with the channel's app secret.
pub async fn receive_channel(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Some(id) = ChannelId::parse(&channel_id) else {
        return StatusCode::NOT_FOUND;
    };
    let key = match state
        .webhook_keys()
        .get(state.pool(), state.secrets(), id)
        .await
    {
        Ok(Some(key)) => key,
        Ok(None) => return StatusCode::NOT_FOUND,
        Err(e) => {
            tracing::error!(error = %e, channel.id = %id, "webhook: channel lookup failed");
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    };
    if let Err(e) = signature::verify(signature_header(&headers), &body, key.app_secret.as_bytes())
    {
        return refuse(e, Some(id));
    }
    let delivery = NewDelivery {
        channel_id: Some(id),
        secret_fingerprint: Some(key.fingerprint.clone()),
        body,
    };
    store(&state, delivery).await
}

/// `POST /webhook`: a delivery for any channel, signed with `META_APP_SECRET`.
pub async fn receive_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Some(secret) = state.config().meta_app_secret.as_deref() else {
        return StatusCode::NOT_FOUND;
    };
    if let Err(e) = signature::verify(signature_header(&headers), &body, secret.as_bytes()) {
        return refuse(e, None);
    }
    store(
        &state,
        NewDelivery {
            channel_id: None,
            secret_fingerprint: None,
            body,
        },
    )
    .await
}

async fn store(state: &AppState, delivery: NewDelivery) -> StatusCode {
    let bytes = delivery.body.len();
    match state.deliveries().store(delivery).await {
        Ok(()) => {
            state.metrics().webhook_received();
            tracing::debug!(bytes, "stored webhook delivery");
            StatusCode::OK
        }
        Err(e) => {
            tracing::error!(error = %e, "webhook delivery not stored; Meta will retry");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

fn signature_header(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get(SIGNATURE_HEADER).map(|v| v.as_bytes())
}

fn refuse(error: SignatureError, channel: Option<ChannelId>) -> StatusCode {
    let channel = channel
        .map(|c| c.to_string())
        .unwrap_or_else(|| "app".into());
    tracing::warn!(channel.id = %channel, reason = %error, "webhook delivery refused");
    match error {
        SignatureError::Missing | SignatureError::Malformed => StatusCode::UNAUTHORIZED,
        SignatureError::Mismatch => StatusCode::FORBIDDEN,
    }
}

fn answer(challenge: Option<&str>) -> Response {
    match challenge {
        Some(challenge) => {
            ([(header::CONTENT_TYPE, "text/plain")], challenge.to_owned()).into_response()
        }
        None => StatusCode::FORBIDDEN.into_response(),
    }
}
