//! Where media bytes live, through the `object_store` crate: the local filesystem under
//! `MEDIA_DIR` by default, or any S3-compatible store named by `MEDIA_STORE_URL`
//! (`s3://bucket?endpoint=https://...&region=...`; query keys are `object_store`'s
//! S3 options, credentials may also come from the usual `AWS_*` variables).

use std::ops::Range;
use std::path::Path as FsPath;
use std::str::FromStr as _;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};

/// The media object store.
#[derive(Clone)]
pub struct MediaStore {
    inner: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MediaStore({})", self.inner)
    }
}

/// The media store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration names no usable store.
    #[error("media store: {0}")]
    Config(String),
    /// The store refused or failed an operation.
    #[error("media store: {0}")]
    Store(#[from] object_store::Error),
}

impl MediaStore {
    /// Opens `url` when given (an `s3://` URL), else the directory `dir` (created).
    pub fn open(url: Option<&str>, dir: &FsPath) -> Result<Self, StoreError> {
        let inner: Arc<dyn ObjectStore> = match url {
            None => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Config(format!("{}: {e}", dir.display())))?;
                Arc::new(LocalFileSystem::new_with_prefix(dir)?)
            }
            Some(url) => Arc::new(s3(url)?),
        };
        Ok(Self { inner })
    }

    /// Writes `bytes` at `key`.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        self.inner
            .put(&Path::from(key), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// The whole object at `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        Ok(self.inner.get(&Path::from(key)).await?.bytes().await?)
    }

    /// The object at `key` (or its bytes `range`) as a stream.
    pub async fn stream(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, object_store::Result<Bytes>>, StoreError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        Ok(self
            .inner
            .get_opts(&Path::from(key), options)
            .await?
            .into_stream())
    }

    /// Removes the object at `key` (used when it could not be recorded).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        Ok(self.inner.delete(&Path::from(key)).await?)
    }
}

fn s3(url: &str) -> Result<object_store::aws::AmazonS3, StoreError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| StoreError::Config(format!("MEDIA_STORE_URL: {e}")))?;
    if parsed.scheme() != "s3" {
        return Err(StoreError::Config(
            "MEDIA_STORE_URL must be an s3:// URL (any S3-compatible store)".into(),
        ));
    }
    let bucket = parsed
        .host_str()
        .ok_or_else(|| StoreError::Config("MEDIA_STORE_URL names no bucket".into()))?;
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (key, value) in parsed.query_pairs() {
        let key = AmazonS3ConfigKey::from_str(&key)
            .map_err(|_| StoreError::Config(format!("MEDIA_STORE_URL: unknown option {key:?}")))?;
        builder = builder.with_config(key, value.into_owned());
    }
    Ok(builder.build()?)
}
