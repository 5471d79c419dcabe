//! `POST /media?orgId=..&filename=..`: an agent uploads a file (the raw body, its
//! `Content-Type` declared) to send later with `sendMessage(input: { attachmentId })`;
//! answers `201 {"id", "contentType", "byteSize"}`. A bearer token of a member is
//! required (a session ended by `logout` or `changePassword` is refused as GraphQL
//! refuses it); the file is checked and stored by [`super::upload::store`], as GraphQL's
//! `uploadAttachment` does (the body is capped at `MEDIA_UPLOAD_MAX_BYTES`).
//!
//! `GET /media/{id}?exp=..&sig=..`: a stored file, to whoever holds an unexpired signed
//! URL. Served with its stored content type, `Content-Disposition` (inline only for
//! images, video and audio), `X-Content-Type-Options: nosniff`, a sandboxing CSP, and
//! single byte ranges (video seeking). An unknown id, another org's id, a tampered
//! signature and an expired URL all get the same 404, so none reveals that a file exists.

use std::ops::Range;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde_json::json;

use super::upload;
use crate::auth::viewer::{Viewer, role_in};
use crate::db::ids::{MediaId, OrgId};
use crate::db::media;
use crate::db::scope::Scope;
use crate::error::AppError;
use crate::state::AppState;

/// The query of an upload.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadQuery {
    org_id: String,
    filename: Option<String>,
}

/// `POST /media`.
pub async fn upload(
    State(state): State<AppState>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match store_upload(&state, query, &headers, body).await {
        Ok(object) => (
            StatusCode::CREATED,
            Json(json!({
                "id": object.id.0.to_string(),
                "contentType": object.content_type,
                "byteSize": object.byte_size,
            })),
        )
            .into_response(),
        Err(e) => {
            let status = match e {
                AppError::Unauthenticated | AppError::TokenExpired => StatusCode::UNAUTHORIZED,
                AppError::Forbidden | AppError::NotFound => StatusCode::NOT_FOUND,
                AppError::BadUserInput(_) => StatusCode::BAD_REQUEST,
                AppError::Internal(ref inner) => {
                    tracing::warn!(error = %inner, "media upload failed");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            (
                status,
                Json(json!({"error": {"code": e.code(), "message": e.message()}})),
            )
                .into_response()
        }
    }
}

async fn store_upload(
    state: &AppState,
    query: UploadQuery,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<media::MediaObject, AppError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let viewer =
        Viewer::from_authorization(authorization, state.jwt())?.ok_or(AppError::Unauthenticated)?;
    let org = OrgId::parse(&query.org_id).ok_or(AppError::NotFound)?;
    // Scoped to the caller, as a GraphQL mutation's connection is: its scoping statement
    // says their roles and whether the session they came with was ended (`logout`).
    let (mut conn, access) = state
        .pool()
        .checkout_with_access(Scope::Viewer(viewer.user_id), viewer.session)
        .await?;
    role_in(access.as_ref(), org)?.ok_or(AppError::NotFound)?;
    let file = upload::NewFile {
        filename: query.filename.as_deref(),
        declared_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        body,
    };
    upload::store(state, &mut conn, org, file).await
}

/// The query of a signed URL.
#[derive(Debug, serde::Deserialize)]
pub struct Signed {
    exp: Option<i64>,
    sig: Option<String>,
}

/// `GET /media/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    let (Some(id), Some(exp), Some(sig)) = (MediaId::parse(&id), signed.exp, signed.sig) else {
        return not_found();
    };
    let object = match state.system_conn().await {
        Ok(mut conn) => media::get_object(&mut conn, id).await,
        Err(e) => return unavailable(&e),
    };
    let object = match object {
        Ok(Some(object)) => object,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(&e),
    };
    let now = chrono::Utc::now().timestamp();
    if !state.url_signer().verify(id, object.org_id, exp, &sig, now) {
        return not_found();
    }
    let total = u64::try_from(object.byte_size).unwrap_or(0);
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(spec) => match parse_range(spec, total) {
            RangeRequest::Satisfiable(r) => Some(r),
            RangeRequest::Ignored => None,
            RangeRequest::Unsatisfiable => {
                return (
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{total}"))],
                )
                    .into_response();
            }
        },
    };
    let stream = match state
        .media_store()
        .stream(&object.storage_key, range.clone())
        .await
    {
        Ok(stream) => stream,
        Err(e) => return unavailable(&e),
    };
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    let header_value = |v: &str| {
        HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("application/octet-stream"))
    };
    h.insert(header::CONTENT_TYPE, header_value(&object.content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        header_value(&format!("private, max-age={}", (exp - now).max(0))),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        header_value(&disposition(
            &object.content_type,
            object.filename.as_deref(),
        )),
    );
    match range {
        Some(r) => {
            h.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {}-{}/{total}", r.start, r.end - 1)),
            );
            h.insert(header::CONTENT_LENGTH, (r.end - r.start).into());
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
        None => {
            h.insert(header::CONTENT_LENGTH, total.into());
        }
    }
    response
}

/// `inline` for media a browser shows safely, `attachment` for everything else; the
/// file name (if any) as RFC 6266 `filename*`.
fn disposition(content_type: &str, filename: Option<&str>) -> String {
    let inline = ["image/", "video/", "audio/"]
        .iter()
        .any(|p| content_type.starts_with(p));
    let kind = if inline { "inline" } else { "attachment" };
    match filename.filter(|f| !f.is_empty()) {
        Some(name) => {
            let encoded: String = name
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{kind}; filename*=UTF-8''{encoded}")
        }
        None => kind.to_owned(),
    }
}

/// What a `Range` header asks of a file of `total` bytes.
#[derive(Debug, PartialEq)]
enum RangeRequest {
    /// One range within the file (end exclusive).
    Satisfiable(Range<u64>),
    /// Not a single byte range: the whole file is sent.
    Ignored,
    /// A byte range wholly outside the file.
    Unsatisfiable,
}

fn parse_range(spec: &str, total: u64) -> RangeRequest {
    let Some(spec) = spec.trim().strip_prefix("bytes=") else {
        return RangeRequest::Ignored;
    };
    if spec.contains(',') {
        return RangeRequest::Ignored;
    }
    let Some((start, end)) = spec.split_once('-') else {
        return RangeRequest::Ignored;
    };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>().ok(), end.parse::<u64>().ok()) {
        (Some(s), Some(e)) if s <= e => s..(e + 1).min(total),
        (Some(s), None) if end.is_empty() => s..total,
        (None, Some(n)) if start.is_empty() => total.saturating_sub(n)..total,
        _ => return RangeRequest::Ignored,
    };
    if range.start >= total || range.is_empty() {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Satisfiable(range)
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

fn unavailable(e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "cannot serve media");
    (StatusCode::SERVICE_UNAVAILABLE, "media storage unavailable").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(
            parse_range("bytes=0-9", 100),
            RangeRequest::Satisfiable(0..10)
        );
        assert_eq!(
            parse_range("bytes=90-", 100),
            RangeRequest::Satisfiable(90..100)
        );
        assert_eq!(
            parse_range("bytes=-5", 100),
            RangeRequest::Satisfiable(95..100)
        );
        assert_eq!(
            parse_range("bytes=50-500", 100),
            RangeRequest::Satisfiable(50..100)
        );
        assert_eq!(parse_range("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeRequest::Ignored);
        assert_eq!(parse_range("items=0-1", 100), RangeRequest::Ignored);
    }

    #[test]
    fn only_media_is_inline() {
        assert_eq!(disposition("image/png", None), "inline");
        assert_eq!(
            disposition("application/pdf", Some("a b.pdf")),
            "attachment; filename*=UTF-8''a%20b.pdf"
        );
    }
}
