//! The media job: copies inbound attachments into our storage, outside the webhook
//! transaction. WhatsApp: `GET /{media-id}` with the channel's token gives a short-lived
//! URL, downloaded with the same token and checked against the webhook's `sha256`.
//! Instagram and Messenger: the CDN URL from the webhook (a link of the local sandbox's
//! CDN is fetched from the sandbox, when this server runs one). The bytes are capped per
//! platform and kind while they arrive, their type is sniffed and checked against the
//! declared one, and the copy counts toward the org's media usage.
//!
//! Outcomes: stored -> the attachment is STORED; a permanent problem (gone at Meta, too
//! big, wrong type, quota, token refused) -> FAILED with the reason at once; anything
//! else is retried with full-jitter backoff and FAILED with the last reason after
//! [`MAX_ATTEMPTS`]. The message itself is never touched.

use std::time::Duration;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

use super::store::StoreError;
use super::{limits, sniff};
use crate::crypto::aad;
use crate::db::channels::{self, Channel};
use crate::db::enums::{MediaStorage, Platform};
use crate::db::ids::MediaId;
use crate::db::media::{self, ClaimedMediaJob, MediaObject};
use crate::db::messages::Attachment;
use crate::jobs::WorkerConfig;
use crate::jobs::backoff::Backoff;
use crate::state::AppState;

/// Jobs claimed (and downloads run concurrently) per batch.
pub const BATCH_SIZE: i64 = 16;
/// Lease of a claimed job (downloads time out well before).
const LEASE: Duration = Duration::from_secs(300);
/// Attempts before a transiently failing copy is given up.
pub const MAX_ATTEMPTS: i32 = 6;
/// Retry schedule of transient failures.
pub const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(5),
    cap: Duration::from_secs(900),
};

/// Why a copy did not happen.
#[derive(Debug)]
enum Failure {
    /// Worth another attempt later.
    Transient(String),
    /// Will not get better: fail now.
    Permanent(String),
}

/// Why a stored copy was not recorded (its transaction rolled back, so neither the row
/// nor the usage stays; the bytes are deleted).
#[derive(Debug)]
enum NotRecorded {
    /// It would pass the org's quota.
    OverQuota,
    /// The job's claim is gone: the message was unsent meanwhile, or the lease ran out
    /// and another worker took the job over.
    ClaimLost,
    /// The database failed.
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for NotRecorded {
    fn from(e: diesel::result::Error) -> Self {
        NotRecorded::Db(e)
    }
}

/// What a download produced.
struct Downloaded {
    bytes: Bytes,
    declared: Option<String>,
}

/// Runs the media worker until `stop` turns true.
pub async fn run(state: AppState, worker: WorkerConfig, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let notified = state.wakeups().media.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let handled = run_once(&state).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "media worker could not claim work");
            0
        });
        if handled == 0 {
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(worker.poll_interval) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// Erases one batch of unsent media, then claims one batch of copies and runs them, the
/// downloads concurrently; returns how many erasures and jobs it handled (tests and
/// benchmarks drain the queues with it).
pub async fn run_once(state: &AppState) -> anyhow::Result<usize> {
    let erased = erase(state).await?;
    Ok(erased + copy_batch(state).await?)
}

/// Deletes the bytes of one batch of [`media::forget_objects_of`]'s keys from the store
/// (concurrently) and then their queue rows, in one transaction that holds the rows
/// (another worker skips them); a crash in between leaves them queued, and deleting
/// bytes already gone is not an error. A key the store fails to delete stays queued for
/// the next pass.
async fn erase(state: &AppState) -> anyhow::Result<usize> {
    use diesel_async::AsyncConnection as _;
    let mut conn = state.system_conn().await?;
    let erased = conn
        .transaction(async |conn| {
            let keys = media::claim_erasures(conn, BATCH_SIZE).await?;
            if keys.is_empty() {
                return Ok(0);
            }
            let outcomes = futures_util::future::join_all(
                keys.iter().map(|key| state.media_store().delete(key)),
            )
            .await;
            let erased: Vec<String> = keys
                .into_iter()
                .zip(outcomes)
                .filter_map(|(key, outcome)| match outcome {
                    Ok(()) | Err(StoreError::Store(object_store::Error::NotFound { .. })) => {
                        Some(key)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot erase an unsent message's media");
                        None
                    }
                })
                .collect();
            media::erased(conn, &erased).await?;
            Ok::<_, diesel::result::Error>(erased.len())
        })
        .await?;
    Ok(erased)
}

/// Claims one batch of copies and runs them; how many jobs it handled.
async fn copy_batch(state: &AppState) -> anyhow::Result<usize> {
    let (claimed, rows) = {
        let mut conn = state.system_conn().await?;
        let claimed = media::claim(&mut conn, BATCH_SIZE, LEASE).await?;
        let ids: Vec<_> = claimed.iter().map(|j| j.attachment_id).collect();
        let rows = media::attachments_with_channel(&mut conn, &ids).await?;
        (claimed, rows)
    };
    let count = claimed.len();
    futures_util::future::join_all(claimed.iter().map(|job| async {
        let found = rows.iter().find(|(a, _)| a.id == job.attachment_id);
        let outcome = match found {
            Some((attachment, channel)) => copy(state, attachment, *channel).await,
            None => Err(Failure::Permanent("the attachment no longer exists".into())),
        };
        if let Err(e) = record(state, job, found.map(|f| &f.0), outcome).await {
            tracing::warn!(error = %e, job = job.id, "cannot record a media job's outcome");
        }
    }))
    .await;
    Ok(count)
}

/// Writes the outcome of `job`.
async fn record(
    state: &AppState,
    job: &ClaimedMediaJob,
    attachment: Option<&Attachment>,
    outcome: Result<MediaObject, Failure>,
) -> anyhow::Result<()> {
    let mut conn = state.system_conn().await?;
    let failure = match outcome {
        Ok(object) => {
            use diesel_async::AsyncConnection as _;
            let quota = state.config().media_org_quota_bytes;
            let stored = conn
                .transaction(async |conn| {
                    if !media::insert_object(conn, &object, quota).await? {
                        return Err(NotRecorded::OverQuota);
                    }
                    if !media::finish(conn, job, Ok(object.id)).await? {
                        return Err(NotRecorded::ClaimLost);
                    }
                    Ok(())
                })
                .await;
            match stored {
                Ok(()) => return Ok(()),
                Err(NotRecorded::Db(e)) => return Err(e.into()),
                Err(NotRecorded::ClaimLost) => {
                    tracing::info!(
                        job = job.id,
                        "media copy no longer wanted: its claim is gone"
                    );
                    let _ = state.media_store().delete(&object.storage_key).await;
                    return Ok(());
                }
                Err(NotRecorded::OverQuota) => {
                    let _ = state.media_store().delete(&object.storage_key).await;
                    Failure::Permanent("the organisation's media storage quota is used up".into())
                }
            }
        }
        Err(failure) => failure,
    };
    match failure {
        Failure::Transient(reason) if job.attempts < MAX_ATTEMPTS => {
            let delay = BACKOFF.delay(u32::try_from(job.attempts).unwrap_or(1));
            tracing::info!(job = job.id, attempt = job.attempts, reason = %reason, "media copy will be retried");
            media::retry_later(&mut conn, job, delay, &reason).await?;
        }
        Failure::Transient(reason) | Failure::Permanent(reason) => {
            tracing::info!(job = job.id, attachment = ?attachment.map(|a| a.id), reason = %reason, "media copy failed");
            media::finish(&mut conn, job, Err(&reason)).await?;
        }
    }
    Ok(())
}

/// Downloads, checks and stores one attachment; the object to record.
async fn copy(
    state: &AppState,
    attachment: &Attachment,
    channel: crate::db::ids::ChannelId,
) -> Result<MediaObject, Failure> {
    let transient = |e: &dyn std::fmt::Display| Failure::Transient(e.to_string());
    if attachment.storage != Some(MediaStorage::Pending) {
        return Err(Failure::Permanent(
            "the attachment is not waiting for a copy".into(),
        ));
    }
    let (channel, used) = {
        let mut conn = state.system_conn().await.map_err(|e| transient(&e))?;
        let channel = channels::get(&mut conn, channel)
            .await
            .map_err(|e| transient(&e))?;
        let used = media::usage(&mut conn, attachment.org_id)
            .await
            .map_err(|e| transient(&e))?;
        (channel, used)
    };
    if used >= state.config().media_org_quota_bytes {
        return Err(Failure::Permanent(
            "the organisation's media storage quota is used up".into(),
        ));
    }
    let cap = limits::max_bytes(channel.platform, attachment.type_);
    let downloaded = match channel.platform {
        Platform::WhatsApp => whatsapp(state, &channel, attachment, cap).await?,
        Platform::Instagram | Platform::Messenger => {
            let url = attachment
                .url
                .as_deref()
                .ok_or_else(|| Failure::Permanent("the platform gave no URL".into()))?;
            let sandboxed = (state.config().sandbox_url.as_deref())
                .and_then(|sandbox| crate::sandbox::media::resolve(sandbox, url));
            download(state, sandboxed.as_deref().unwrap_or(url), None, cap).await?
        }
    };
    let digest = Sha256::digest(&downloaded.bytes);
    if let Some(expected) = attachment.sha256.as_deref()
        && !digest_matches(expected, &digest)
    {
        return Err(Failure::Transient(
            "the downloaded file does not match the sha256 Meta reported".into(),
        ));
    }
    let sniffed = sniff::sniff(&downloaded.bytes);
    let declared = attachment.mime_type.clone().or(downloaded.declared.clone());
    if let Some(family) = limits::family(attachment.type_)
        && !sniff::matches(family, sniffed)
    {
        return Err(Failure::Permanent(format!(
            "the file is {} but was sent as {family}",
            sniffed.unwrap_or("of an unknown type")
        )));
    }
    let id = MediaId::new();
    let key = super::storage_key(attachment.org_id, id);
    let size = downloaded.bytes.len() as i64;
    state
        .media_store()
        .put(&key, downloaded.bytes)
        .await
        .map_err(|e| transient(&e))?;
    Ok(MediaObject {
        id,
        org_id: attachment.org_id,
        storage_key: key,
        content_type: sniff::stored_type(sniffed, declared.as_deref()),
        byte_size: size,
        sha256: hex::encode(digest),
        filename: attachment
            .title
            .clone()
            .filter(|_| attachment.type_ == crate::db::enums::AttachmentType::File),
        created_at: chrono::Utc::now(),
    })
}

/// `GET /{media-id}` with the channel's token, then the download with the same token.
async fn whatsapp(
    state: &AppState,
    channel: &Channel,
    attachment: &Attachment,
    cap: u64,
) -> Result<Downloaded, Failure> {
    let media_id = attachment
        .media_id
        .as_deref()
        .ok_or_else(|| Failure::Permanent("WhatsApp gave no media id".into()))?;
    let token = state
        .secrets()
        .open(
            &channel.access_token_enc,
            &aad(channel.id.0, "access_token"),
        )
        .map_err(|_| {
            Failure::Permanent("the channel's access token cannot be read; reconnect it".into())
        })?;
    let config = state.config();
    let mut url = reqwest::Url::parse(&config.graph_api_base_url)
        .map_err(|e| Failure::Permanent(format!("GRAPH_API_BASE_URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|()| Failure::Permanent("GRAPH_API_BASE_URL cannot take a path".into()))?
        .pop_if_empty()
        .push(&config.graph_api_version)
        .push(media_id);
    let response = state
        .media_http()
        .get(url)
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .map_err(|e| {
            Failure::Transient(format!("Meta could not be reached: {}", redact(&e, &token)))
        })?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| {
        Failure::Transient(format!("reading Meta's answer: {}", redact(&e, &token)))
    })?;
    if !status.is_success() {
        return Err(graph_failure(status, &body));
    }
    #[derive(serde::Deserialize)]
    struct MediaInfo {
        url: String,
        mime_type: Option<String>,
        file_size: Option<u64>,
    }
    let info: MediaInfo = serde_json::from_slice(&body)
        .map_err(|_| Failure::Transient("Meta's media answer has no url".into()))?;
    if info.file_size.is_some_and(|size| size > cap) {
        return Err(too_big(cap));
    }
    let mut downloaded = download(state, &info.url, Some(&token), cap).await?;
    downloaded.declared = info.mime_type.or(downloaded.declared);
    Ok(downloaded)
}

/// Downloads `url` (with `token` as a bearer when given), at most `cap` bytes.
async fn download(
    state: &AppState,
    url: &str,
    token: Option<&str>,
    cap: u64,
) -> Result<Downloaded, Failure> {
    let Some(url) = reqwest::Url::parse(url)
        .ok()
        .filter(|u| state.media_hosts().allows(u))
    else {
        return Err(Failure::Permanent(
            "the media URL is not on a Meta media host".into(),
        ));
    };
    let mut request = state.media_http().get(url);
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let scrub = |e: &reqwest::Error| match token {
        Some(t) => redact(e, t),
        None => without_url(e),
    };
    let response = request.send().await.map_err(|e| {
        let reason = format!("the media could not be fetched: {}", scrub(&e));
        if e.is_redirect() {
            Failure::Permanent(reason)
        } else {
            Failure::Transient(reason)
        }
    })?;
    let status = response.status();
    if matches!(status.as_u16(), 400 | 401 | 403 | 404 | 410) {
        return Err(Failure::Permanent(format!(
            "the media is no longer available at the platform (HTTP {})",
            status.as_u16()
        )));
    }
    if !status.is_success() {
        return Err(Failure::Transient(format!(
            "the media host answered HTTP {}",
            status.as_u16()
        )));
    }
    if response.content_length().is_some_and(|len| len > cap) {
        return Err(too_big(cap));
    }
    let declared = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = BytesMut::new();
    let mut response = response;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::Transient(format!("the download broke off: {}", scrub(&e))))?
    {
        if (body.len() + chunk.len()) as u64 > cap {
            return Err(too_big(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Downloaded {
        bytes: body.freeze(),
        declared,
    })
}

fn too_big(cap: u64) -> Failure {
    Failure::Permanent(format!("the file is larger than the {cap} bytes allowed"))
}

/// A Graph API error answer: throttling, server errors and transient codes are retried;
/// anything else (an expired media id, a refused token) is final.
fn graph_failure(status: reqwest::StatusCode, body: &[u8]) -> Failure {
    #[derive(serde::Deserialize, Default)]
    struct Envelope {
        error: Option<GraphError>,
    }
    #[derive(serde::Deserialize, Default)]
    struct GraphError {
        message: Option<String>,
        code: Option<i64>,
        is_transient: Option<bool>,
    }
    let error = serde_json::from_slice::<Envelope>(body)
        .ok()
        .and_then(|e| e.error)
        .unwrap_or_default();
    let reason = format!(
        "Meta refused the media lookup (HTTP {}, code {}): {}",
        status.as_u16(),
        error.code.map_or("none".into(), |c| c.to_string()),
        error.message.as_deref().unwrap_or("no message")
    );
    let transient_code = matches!(
        error.code,
        Some(1 | 2 | 4 | 17 | 32 | 341 | 613 | 80007 | 130429 | 131000 | 131016 | 131057)
    );
    if status.is_server_error()
        || status.as_u16() == 429
        || transient_code
        || error.is_transient == Some(true)
    {
        Failure::Transient(reason)
    } else {
        Failure::Permanent(reason)
    }
}

/// Whether `expected` (base64 as WhatsApp sends it, or hex) is `digest`.
fn digest_matches(expected: &str, digest: &[u8]) -> bool {
    let expected = expected.trim();
    base64::engine::general_purpose::STANDARD
        .decode(expected)
        .ok()
        .filter(|d| d.len() == 32)
        .or_else(|| hex::decode(expected).ok())
        .is_some_and(|d| d == digest)
}

/// A transport error's text without the token.
fn redact(e: &reqwest::Error, token: &str) -> String {
    without_url(e).replace(token, "[redacted]")
}

/// A transport error's text without its URL (CDN URLs carry signatures).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "[url]");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_sha256_is_base64_and_hex_works_too() {
        let digest = Sha256::digest(b"photo");
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert!(digest_matches(&b64, &digest));
        assert!(digest_matches(&hex::encode(digest), &digest));
        assert!(!digest_matches(
            &hex::encode(Sha256::digest(b"other")),
            &digest
        ));
    }

    #[test]
    fn throttling_is_retried_and_expired_media_is_not() {
        let throttled = br#"{"error":{"message":"slow down","code":4}}"#;
        assert!(matches!(
            graph_failure(reqwest::StatusCode::BAD_REQUEST, throttled),
            Failure::Transient(_)
        ));
        let gone = br#"{"error":{"message":"Unsupported get request","code":100}}"#;
        assert!(matches!(
            graph_failure(reqwest::StatusCode::BAD_REQUEST, gone),
            Failure::Permanent(_)
        ));
    }
}
