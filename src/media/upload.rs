//! Agents' uploads: one path for `POST /media` ([`super::routes`]) and the GraphQL
//! `uploadAttachment` mutation (multipart request spec). The caller has checked that the
//! uploader is a member of the org; this checks the file (not empty, within
//! `MEDIA_UPLOAD_MAX_BYTES`), sniffs its type from its bytes, stores it and counts it
//! toward the org's media quota. Each platform's own size and type rules apply when the
//! file is sent ([`super::limits`]).

use axum::body::Bytes;
use diesel_async::AsyncPgConnection;
use sha2::{Digest as _, Sha256};

use super::sniff;
use crate::db::ids::{MediaId, OrgId};
use crate::db::media::{self, MediaObject};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Default largest upload: WhatsApp documents, the most any platform accepts.
pub const DEFAULT_MAX_BYTES: usize = 100 * 1024 * 1024;

/// A file as an agent sent it.
#[derive(Debug)]
pub struct NewFile<'a> {
    /// The file name the client gave, if any.
    pub filename: Option<&'a str>,
    /// The content type the client declared, if any (the bytes decide when they can).
    pub declared_type: Option<&'a str>,
    /// The bytes.
    pub body: Bytes,
}

/// Stores `file` for `org`; the stored object (its id goes to
/// `sendMessage(input: { attachmentId })`). Nothing is kept when it is refused.
pub async fn store(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    org: OrgId,
    file: NewFile<'_>,
) -> AppResult<MediaObject> {
    let NewFile {
        filename,
        declared_type,
        body,
    } = file;
    if body.is_empty() {
        return Err(AppError::bad_input("the file is empty"));
    }
    let max = state.config().media_upload_max_bytes;
    if body.len() > max {
        return Err(too_large(max));
    }
    let filename = filename
        .map(|f| {
            f.chars()
                .filter(|c| !c.is_control())
                .take(255)
                .collect::<String>()
        })
        .filter(|f| !f.is_empty());
    let id = MediaId::new();
    let object = MediaObject {
        id,
        org_id: org,
        storage_key: super::storage_key(org, id),
        content_type: sniff::stored_type(sniff::sniff(&body), declared_type),
        byte_size: body.len() as i64,
        sha256: hex::encode(Sha256::digest(&body)),
        filename,
        created_at: chrono::Utc::now(),
    };
    state
        .media_store()
        .put(&object.storage_key, body)
        .await
        .map_err(AppError::internal)?;
    if !media::insert_object(conn, &object, state.config().media_org_quota_bytes).await? {
        let _ = state.media_store().delete(&object.storage_key).await;
        return Err(AppError::bad_input(
            "the organisation's media storage quota is used up",
        ));
    }
    Ok(object)
}

/// The refusal of a file over `max` bytes.
pub fn too_large(max: usize) -> AppError {
    AppError::bad_input(format!(
        "the file is larger than the upload limit of {max} bytes"
    ))
}
