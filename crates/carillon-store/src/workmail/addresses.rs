//! Email addresses (workmail.md §1.4 aliases): which entity owns an address, aliases, and
//! changing an entity's primary address. Addresses are unique across the whole server.

use sqlx::Row;

use super::domain_of;
use crate::error::StoreResult;
use crate::Store;

impl Store {
    /// The organization and entity that own `address` (matched lower-case), if any.
    pub async fn address_owner(&self, address: &str) -> StoreResult<Option<(String, String)>> {
        let row =
            sqlx::query("SELECT organization_id, entity_id FROM addresses WHERE address = $1")
                .bind(address.to_lowercase())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Adds `alias` (lower-case) to the entity. Errors: `Conflict` when the address is in use.
    pub async fn insert_alias(
        &self,
        organization_id: &str,
        entity_id: &str,
        alias: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO addresses (address, domain_name, organization_id, entity_id, is_primary) \
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(alias)
        .bind(domain_of(alias))
        .bind(organization_id)
        .bind(entity_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes the alias (never the primary address) from the entity; returns whether it
    /// existed.
    pub async fn delete_alias(
        &self,
        organization_id: &str,
        entity_id: &str,
        alias: &str,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "DELETE FROM addresses WHERE organization_id = $1 AND entity_id = $2 \
             AND address = $3 AND is_primary = 0",
        )
        .bind(organization_id)
        .bind(entity_id)
        .bind(alias)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Up to `limit` aliases (not the primary address) of the entity in address order, after
    /// `after`.
    pub async fn list_aliases(
        &self,
        entity_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT address FROM addresses WHERE entity_id = $1 AND is_primary = 0 \
             AND address > $2 ORDER BY address LIMIT $3",
        )
        .bind(entity_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Number of aliases (not counting the primary address) of the entity.
    pub async fn count_aliases(&self, entity_id: &str) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM addresses WHERE entity_id = $1 AND is_primary = 0",
        )
        .bind(entity_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Makes `email` (lower-case) the entity's primary address. The previous primary becomes
    /// an alias; `email` is either one of the entity's aliases (swapped) or a free address.
    ///
    /// Errors: `Conflict` when `email` belongs to another entity.
    pub async fn set_primary_address(
        &self,
        organization_id: &str,
        entity_id: &str,
        email: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE addresses SET is_primary = 0 \
             WHERE organization_id = $1 AND entity_id = $2 AND is_primary = 1",
        )
        .bind(organization_id)
        .bind(entity_id)
        .execute(&mut *tx)
        .await?;
        let promoted = sqlx::query(
            "UPDATE addresses SET is_primary = 1 \
             WHERE organization_id = $1 AND entity_id = $2 AND address = $3",
        )
        .bind(organization_id)
        .bind(entity_id)
        .bind(email)
        .execute(&mut *tx)
        .await?;
        if promoted.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO addresses (address, domain_name, organization_id, entity_id, \
                 is_primary) VALUES ($1, $2, $3, $4, 1)",
            )
            .bind(email)
            .bind(domain_of(email))
            .bind(organization_id)
            .bind(entity_id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE entities SET email = $3 WHERE organization_id = $1 AND entity_id = $2")
            .bind(organization_id)
            .bind(entity_id)
            .bind(email)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
