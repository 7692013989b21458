//! The blob store: immutable large objects (raw messages, attachments) by key.
//!
//! Backed by `object_store`: a local directory by default (`file:///path`), any S3-compatible
//! bucket for scale-out (`s3://bucket/prefix`, credentials and endpoint from the standard
//! `AWS_*` environment variables). On the local backend a put is made durable (file and
//! directory fsync'd) before it returns, because callers acknowledge data (SMTP 250) on it.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use crate::error::{StoreError, StoreResult};

/// Handle on the blob store. Cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// Root directory when local: used to fsync what `object_store` wrote.
    local_root: Option<PathBuf>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobStore({})", self.inner)
    }
}

impl BlobStore {
    /// Opens `url`: `file:///absolute/dir` (created if missing) or `s3://bucket[/prefix]`.
    ///
    /// Errors: `Config` for another scheme or an unparsable URL.
    pub fn open(url: &str) -> StoreResult<BlobStore> {
        let parsed = url::Url::parse(url)
            .map_err(|e| StoreError::Config(format!("blob URL {url:?}: {e}")))?;
        match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|_| StoreError::Config(format!("blob URL {url:?} is not a path")))?;
                std::fs::create_dir_all(&dir)?;
                let inner = LocalFileSystem::new_with_prefix(&dir)?;
                Ok(BlobStore {
                    inner: Arc::new(inner),
                    prefix: ObjectPath::default(),
                    local_root: Some(dir),
                })
            }
            "s3" => {
                let inner = AmazonS3Builder::from_env().with_url(url).build()?;
                Ok(BlobStore {
                    inner: Arc::new(inner),
                    prefix: ObjectPath::from(parsed.path().trim_matches('/')),
                    local_root: None,
                })
            }
            other => Err(StoreError::Config(format!(
                "blob URL scheme must be file or s3, got {other:?}"
            ))),
        }
    }

    fn path(&self, key: &str) -> ObjectPath {
        self.prefix
            .parts()
            .chain(ObjectPath::from(key).parts())
            .collect()
    }

    /// Stores `data` under `key` (slash-separated), durably, replacing any previous object.
    pub async fn put(&self, key: &str, data: Bytes) -> StoreResult<()> {
        self.inner
            .put(&self.path(key), PutPayload::from(data))
            .await?;
        if let Some(root) = &self.local_root {
            let file = root.join(key);
            tokio::task::spawn_blocking(move || sync_file_and_parent(&file))
                .await
                .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
        }
        Ok(())
    }

    /// Reads the whole object `key`. Errors: `NotFound` when absent.
    pub async fn get(&self, key: &str) -> StoreResult<Bytes> {
        match self.inner.get(&self.path(key)).await {
            Ok(result) => Ok(result.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => Err(StoreError::NotFound(key.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes `key`; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> StoreResult<()> {
        match self.inner.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn sync_file_and_parent(file: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(file)?.sync_all()?;
    if let Some(parent) = file.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_put_get_delete() {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path())
            .unwrap()
            .to_string();
        let blobs = BlobStore::open(&url).unwrap();
        blobs
            .put("a/b/c", Bytes::from_static(b"hello"))
            .await
            .unwrap();
        assert!(dir.path().join("a/b/c").exists());
        assert_eq!(
            blobs.get("a/b/c").await.unwrap(),
            Bytes::from_static(b"hello")
        );
        blobs.delete("a/b/c").await.unwrap();
        assert!(matches!(
            blobs.get("a/b/c").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(BlobStore::open("ftp://x/y").is_err());
    }
}
