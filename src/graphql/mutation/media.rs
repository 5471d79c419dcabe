//! `uploadAttachment`: an agent's file over the GraphQL multipart request spec, stored as
//! `POST /media` stores it ([`crate::media::upload`]).

use async_graphql::{Context, ID, Object, Result, SimpleObject, Upload};

use crate::db::enums::Role;
use crate::error::AppError;
use crate::graphql::context::org_call;
use crate::graphql::types::to_id;
use crate::media::upload::{self, NewFile};

/// A stored upload: pass `id` to `sendMessage(input: { attachmentId })`.
#[derive(SimpleObject)]
pub struct UploadedAttachment {
    /// The file's id.
    id: ID,
    /// The stored content type (sniffed from the bytes when they tell).
    content_type: String,
    /// Size in bytes.
    byte_size: i64,
}

/// Uploading files.
#[derive(Default)]
pub struct MediaMutation;

#[Object]
impl MediaMutation {
    /// Stores a file (a `multipart/form-data` request per the GraphQL multipart request
    /// spec, one file, at most `MEDIA_UPLOAD_MAX_BYTES`) to send later; the same as
    /// `POST /media`. Each platform's size and type rules apply when it is sent.
    async fn upload_attachment(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        file: Upload,
    ) -> Result<UploadedAttachment> {
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        // The transport only lets through markers of the request's own files
        // (`graphql::upload::check_markers`), so the file is there.
        let value = file.value(ctx).map_err(AppError::internal)?;
        let new = NewFile {
            filename: Some(value.filename.as_str()),
            declared_type: value.content_type.as_deref(),
            body: value.content,
        };
        let object = upload::store(call.state, &mut call.conn, call.org, new).await?;
        Ok(UploadedAttachment {
            id: to_id(object.id.0),
            content_type: object.content_type,
            byte_size: object.byte_size,
        })
    }
}
