//! Resource tags (workmail.md TagResource, UntagResource, ListTagsForResource), kept per
//! account and resource ARN with a limit on how many a resource carries.

use sqlx::Row;

use crate::error::{StoreError, StoreResult};
use crate::Store;

impl Store {
    /// Sets tags on `resource_arn` (new keys added, existing keys overwritten) in one
    /// transaction, unless the resource would then carry more than `max_tags` tags.
    /// Returns the resulting tag count, or `Err(Conflict)` when over the limit (nothing
    /// written).
    pub async fn put_tags(
        &self,
        account_id: &str,
        resource_arn: &str,
        tags: &[(String, String)],
        max_tags: i64,
    ) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        for (key, value) in tags {
            sqlx::query(
                "INSERT INTO resource_tags (resource_arn, account_id, tag_key, tag_value) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (resource_arn, tag_key) DO UPDATE SET tag_value = $4",
            )
            .bind(resource_arn)
            .bind(account_id)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM resource_tags WHERE account_id = $1 AND resource_arn = $2",
        )
        .bind(account_id)
        .bind(resource_arn)
        .fetch_one(&mut *tx)
        .await?;
        if count > max_tags {
            tx.rollback().await?;
            return Err(StoreError::Conflict(format!(
                "{resource_arn} would carry {count} tags"
            )));
        }
        tx.commit().await?;
        Ok(count)
    }

    /// Removes the tags with the given keys from `resource_arn` (absent keys are ignored).
    pub async fn delete_tags(
        &self,
        account_id: &str,
        resource_arn: &str,
        keys: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for key in keys {
            sqlx::query(
                "DELETE FROM resource_tags WHERE account_id = $1 AND resource_arn = $2 \
                 AND tag_key = $3",
            )
            .bind(account_id)
            .bind(resource_arn)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The tags of `resource_arn` as `(key, value)` in key order.
    pub async fn list_tags(
        &self,
        account_id: &str,
        resource_arn: &str,
    ) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT tag_key, tag_value FROM resource_tags WHERE account_id = $1 \
             AND resource_arn = $2 ORDER BY tag_key",
        )
        .bind(account_id)
        .bind(resource_arn)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
