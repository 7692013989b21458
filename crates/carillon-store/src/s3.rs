//! The objects of Carillon's minimal S3 endpoint: buckets and who owns them, objects as blobs
//! under `buckets/<bucket>/<key>`. Spec: workmail.md §2.10 (PutRawMessageContent reads the
//! new content from an S3 bucket of the same account).
//!
//! A bucket belongs to the account that created it (or first wrote to it); the caller checks
//! ownership before touching objects, so one account never reads another's bucket.

use bytes::Bytes;

use crate::error::{StoreError, StoreResult};
use crate::Store;

/// The blob key of object `key` in `bucket`.
fn object_blob_key(bucket: &str, key: &str) -> String {
    format!("buckets/{bucket}/{key}")
}

impl Store {
    /// The account owning `bucket`, `None` when nobody does.
    ///
    /// Errors: `Database`.
    pub async fn s3_bucket_owner(&self, bucket: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT account_id FROM s3_buckets WHERE bucket = $1")
                .bind(bucket)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Makes `account_id` the owner of `bucket` unless somebody owns it already (at `now`,
    /// epoch ms). Returns the owner afterwards.
    ///
    /// Errors: `Database`.
    pub async fn claim_s3_bucket(
        &self,
        bucket: &str,
        account_id: &str,
        now: i64,
    ) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO s3_buckets (bucket, account_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (bucket) DO NOTHING",
        )
        .bind(bucket)
        .bind(account_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.s3_bucket_owner(bucket)
            .await?
            .ok_or_else(|| StoreError::NotFound(bucket.to_string()))
    }

    /// Stores object `key` of `bucket` (durable when it returns), replacing any previous one.
    ///
    /// Errors: `Blob`, `Io`.
    pub async fn put_s3_object(&self, bucket: &str, key: &str, data: Bytes) -> StoreResult<()> {
        self.blobs().put(&object_blob_key(bucket, key), data).await
    }

    /// Object `key` of `bucket`, `None` when absent.
    ///
    /// Errors: `Blob`.
    pub async fn s3_object(&self, bucket: &str, key: &str) -> StoreResult<Option<Bytes>> {
        match self.blobs().get(&object_blob_key(bucket, key)).await {
            Ok(data) => Ok(Some(data)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes object `key` of `bucket`; deleting a missing object is not an error.
    ///
    /// Errors: `Blob`.
    pub async fn delete_s3_object(&self, bucket: &str, key: &str) -> StoreResult<()> {
        self.blobs().delete(&object_blob_key(bucket, key)).await
    }
}
