//! Group membership (workmail.md §1.5): members of a group, groups of a member, and the
//! membership edges of a whole organization.

use sqlx::Row;

use super::entities::{entity_from_row, EntityRecord, ENTITY_COLUMNS};
use crate::error::StoreResult;
use crate::Store;

impl Store {
    /// Adds `member_id` to `group_id`; adding an existing member is a no-op.
    pub async fn add_group_member(
        &self,
        organization_id: &str,
        group_id: &str,
        member_id: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO group_members (group_id, member_id, organization_id) VALUES ($1, $2, $3) \
             ON CONFLICT (group_id, member_id) DO NOTHING",
        )
        .bind(group_id)
        .bind(member_id)
        .bind(organization_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes `member_id` from `group_id`; returns whether it was a member.
    pub async fn remove_group_member(
        &self,
        organization_id: &str,
        group_id: &str,
        member_id: &str,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "DELETE FROM group_members WHERE organization_id = $1 AND group_id = $2 \
             AND member_id = $3",
        )
        .bind(organization_id)
        .bind(group_id)
        .bind(member_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Up to `limit` direct members of the group in entity-ID order, after `after`.
    pub async fn list_group_members(
        &self,
        group_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<EntityRecord>> {
        let columns = ENTITY_COLUMNS.replace(", ", ", e.");
        let rows = sqlx::query(&format!(
            "SELECT e.{columns} FROM group_members g JOIN entities e ON e.entity_id = g.member_id \
             WHERE g.group_id = $1 AND g.member_id > $2 ORDER BY g.member_id LIMIT $3"
        ))
        .bind(group_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entity_from_row).collect()
    }

    /// Up to `limit` groups the entity is a direct member of, in group-ID order after
    /// `after`, whose name starts with `name_prefix` (case-sensitive; empty = all).
    pub async fn list_groups_of_member(
        &self,
        member_id: &str,
        name_prefix: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<EntityRecord>> {
        let columns = ENTITY_COLUMNS.replace(", ", ", e.");
        let rows = sqlx::query(&format!(
            "SELECT e.{columns} FROM group_members g JOIN entities e ON e.entity_id = g.group_id \
             WHERE g.member_id = $1 AND g.group_id > $2 \
             AND ($3 = '' OR SUBSTR(e.name, 1, LENGTH($3)) = $3) \
             ORDER BY g.group_id LIMIT $4"
        ))
        .bind(member_id)
        .bind(after.unwrap_or(""))
        .bind(name_prefix)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entity_from_row).collect()
    }

    /// Every membership edge `(group_id, member_id)` of the organization, for recursive
    /// expansion in memory (cycle-safe walks over nested groups).
    pub async fn group_edges(&self, organization_id: &str) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT group_id, member_id FROM group_members WHERE organization_id = $1 \
             ORDER BY group_id, member_id",
        )
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
