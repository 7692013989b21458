//! Entities (workmail.md §1.4–1.6): users, groups and resources; their profile, password,
//! mailbox quota, registration to WorkMail (which gives them their primary address) and
//! deletion.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::domain_of;
use crate::error::StoreResult;
use crate::Store;

/// A user, group or resource row. Spec: workmail.md §1.4–1.6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityRecord {
    /// UUID (users, groups).
    pub entity_id: String,
    /// Owning organization.
    pub organization_id: String,
    /// `USER`, `GROUP` or `RESOURCE`.
    pub kind: String,
    /// Name, unique per organization (a deleted entity's name is freed, see `deleted_name`).
    pub name: String,
    /// Primary email address (lower-case) while registered.
    pub email: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// `ENABLED`, `DISABLED` or `DELETED`.
    pub state: String,
    /// User role: `USER`, `RESOURCE`, `SYSTEM_USER`, `REMOTE_USER`.
    pub role: Option<String>,
    /// Argon2 PHC string; never logged.
    pub password_hash: Option<String>,
    /// Hidden from the global address list.
    pub hidden_from_gal: bool,
    /// Mailbox quota in MB.
    pub mailbox_quota_mb: Option<i64>,
    /// Further attributes as a JSON object (job title, telephone, ...).
    pub attributes: String,
    /// Creation instant.
    pub created_at: i64,
    /// Last registration (mailbox provisioned) instant.
    pub enabled_at: Option<i64>,
    /// Last deregistration instant.
    pub disabled_at: Option<i64>,
    /// The name the entity had when it was deleted.
    pub deleted_name: Option<String>,
}

/// Which entities a directory listing returns. Prefix filters are case-sensitive
/// (workmail.md §1.4 "Search is case-sensitive").
#[derive(Debug, Clone, Default)]
pub struct EntityFilter {
    /// `USER`, `GROUP` or `RESOURCE`.
    pub kind: String,
    /// Name starts with this.
    pub name_prefix: Option<String>,
    /// Display name starts with this.
    pub display_name_prefix: Option<String>,
    /// Primary email starts with this.
    pub email_prefix: Option<String>,
    /// Exact state.
    pub state: Option<String>,
}

pub(super) const ENTITY_COLUMNS: &str =
    "entity_id, organization_id, kind, name, email, display_name, \
     first_name, last_name, state, role, password_hash, hidden_from_gal, mailbox_quota_mb, \
     attributes, created_at, enabled_at, disabled_at, deleted_name";

pub(super) fn entity_from_row(row: &AnyRow) -> StoreResult<EntityRecord> {
    Ok(EntityRecord {
        entity_id: row.try_get("entity_id")?,
        organization_id: row.try_get("organization_id")?,
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        state: row.try_get("state")?,
        role: row.try_get("role")?,
        password_hash: row.try_get("password_hash")?,
        hidden_from_gal: row.try_get::<i64, _>("hidden_from_gal")? != 0,
        mailbox_quota_mb: row.try_get("mailbox_quota_mb")?,
        attributes: row.try_get("attributes")?,
        created_at: row.try_get("created_at")?,
        enabled_at: row.try_get("enabled_at")?,
        disabled_at: row.try_get("disabled_at")?,
        deleted_name: row.try_get("deleted_name")?,
    })
}

impl Store {
    /// Inserts a new entity. Errors: `Conflict` when an entity of the same kind has the name.
    pub async fn insert_entity(&self, e: &EntityRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO entities ({ENTITY_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        ))
        .bind(&e.entity_id)
        .bind(&e.organization_id)
        .bind(&e.kind)
        .bind(&e.name)
        .bind(&e.email)
        .bind(&e.display_name)
        .bind(&e.first_name)
        .bind(&e.last_name)
        .bind(&e.state)
        .bind(&e.role)
        .bind(&e.password_hash)
        .bind(i64::from(e.hidden_from_gal))
        .bind(e.mailbox_quota_mb)
        .bind(&e.attributes)
        .bind(e.created_at)
        .bind(e.enabled_at)
        .bind(e.disabled_at)
        .bind(&e.deleted_name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Finds an entity of the organization by entity ID, by name or by any of its addresses
    /// (case-insensitive), restricted to `kinds` (empty = any kind). Deleted entities are
    /// found by ID only (their name and addresses are freed).
    pub async fn find_entity(
        &self,
        organization_id: &str,
        identifier: &str,
        kinds: &[&str],
    ) -> StoreResult<Option<EntityRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTITY_COLUMNS} FROM entities WHERE organization_id = $1 AND \
             (entity_id = $2 OR name = $2 OR entity_id IN \
              (SELECT entity_id FROM addresses WHERE address = $3 AND organization_id = $1)) \
             ORDER BY CASE WHEN entity_id = $2 THEN 0 ELSE 1 END, created_at"
        ))
        .bind(organization_id)
        .bind(identifier)
        .bind(identifier.to_lowercase())
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let entity = entity_from_row(row)?;
            if kinds.is_empty() || kinds.contains(&entity.kind.as_str()) {
                return Ok(Some(entity));
            }
        }
        Ok(None)
    }

    /// Whether any live entity of the organization (any kind) is named `name`.
    pub async fn entity_name_taken(&self, organization_id: &str, name: &str) -> StoreResult<bool> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM entities WHERE organization_id = $1 AND name = $2",
        )
        .bind(organization_id)
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok(count > 0)
    }

    /// Up to `limit` entities of the organization matching `filter`, in name order after
    /// `after` (a name from a previous page). Deleted entities are ordered by their former
    /// name's placeholder (their entity ID).
    pub async fn list_entities(
        &self,
        organization_id: &str,
        filter: &EntityFilter,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<EntityRecord>> {
        // Prefix filters are applied with SUBSTR equality rather than LIKE: LIKE is
        // case-insensitive on SQLite and treats `%`/`_` as wildcards.
        let rows = sqlx::query(&format!(
            "SELECT {ENTITY_COLUMNS} FROM entities WHERE organization_id = $1 AND kind = $2 \
             AND name > $3 \
             AND ($4 = '' OR SUBSTR(name, 1, LENGTH($4)) = $4) \
             AND ($5 = '' OR SUBSTR(COALESCE(display_name, ''), 1, LENGTH($5)) = $5) \
             AND ($6 = '' OR SUBSTR(COALESCE(email, ''), 1, LENGTH($6)) = $6) \
             AND ($7 = '' OR state = $7) \
             ORDER BY name LIMIT $8"
        ))
        .bind(organization_id)
        .bind(&filter.kind)
        .bind(after.unwrap_or(""))
        .bind(filter.name_prefix.as_deref().unwrap_or(""))
        .bind(filter.display_name_prefix.as_deref().unwrap_or(""))
        .bind(filter.email_prefix.as_deref().unwrap_or(""))
        .bind(filter.state.as_deref().unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entity_from_row).collect()
    }

    /// Writes the profile columns of `e`: display, first and last name, role, GAL visibility
    /// and the attributes JSON. Password and quota have their own writers so that concurrent
    /// updates of different aspects do not undo each other.
    pub async fn update_entity_profile(&self, e: &EntityRecord) -> StoreResult<()> {
        sqlx::query(
            "UPDATE entities SET display_name = $3, first_name = $4, last_name = $5, role = $6, \
             hidden_from_gal = $7, attributes = $8 \
             WHERE organization_id = $1 AND entity_id = $2",
        )
        .bind(&e.organization_id)
        .bind(&e.entity_id)
        .bind(&e.display_name)
        .bind(&e.first_name)
        .bind(&e.last_name)
        .bind(&e.role)
        .bind(i64::from(e.hidden_from_gal))
        .bind(&e.attributes)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces the entity's password hash (an Argon2 PHC string).
    pub async fn set_password_hash(
        &self,
        organization_id: &str,
        entity_id: &str,
        password_hash: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE entities SET password_hash = $3 WHERE organization_id = $1 AND entity_id = $2",
        )
        .bind(organization_id)
        .bind(entity_id)
        .bind(password_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets the entity's mailbox quota in MB.
    pub async fn set_mailbox_quota(
        &self,
        organization_id: &str,
        entity_id: &str,
        quota_mb: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE entities SET mailbox_quota_mb = $3 \
             WHERE organization_id = $1 AND entity_id = $2",
        )
        .bind(organization_id)
        .bind(entity_id)
        .bind(quota_mb)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Registers the entity: claims `email` (lower-case) as its primary address and sets it
    /// `ENABLED` at `at`, in one transaction.
    ///
    /// Errors: `Conflict` when the address is in use.
    pub async fn register_entity(
        &self,
        organization_id: &str,
        entity_id: &str,
        email: &str,
        at: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO addresses (address, domain_name, organization_id, entity_id, is_primary) \
             VALUES ($1, $2, $3, $4, 1)",
        )
        .bind(email)
        .bind(domain_of(email))
        .bind(organization_id)
        .bind(entity_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE entities SET state = 'ENABLED', email = $3, enabled_at = $4 \
             WHERE organization_id = $1 AND entity_id = $2",
        )
        .bind(organization_id)
        .bind(entity_id)
        .bind(email)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deregisters the entity: frees all its addresses (primary and aliases) and sets it
    /// `DISABLED` at `at`. Its mailbox, if any, is left in place.
    pub async fn deregister_entity(
        &self,
        organization_id: &str,
        entity_id: &str,
        at: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM addresses WHERE organization_id = $1 AND entity_id = $2")
            .bind(organization_id)
            .bind(entity_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE entities SET state = 'DISABLED', email = NULL, disabled_at = $3 \
             WHERE organization_id = $1 AND entity_id = $2",
        )
        .bind(organization_id)
        .bind(entity_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks the entity `DELETED`: its name is freed (kept in `deleted_name`), its addresses
    /// and group memberships (both directions) removed. The row stays so the entity can
    /// still be described by ID.
    pub async fn mark_entity_deleted(
        &self,
        organization_id: &str,
        entity_id: &str,
        at: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM addresses WHERE organization_id = $1 AND entity_id = $2")
            .bind(organization_id)
            .bind(entity_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM group_members WHERE organization_id = $1 \
             AND (group_id = $2 OR member_id = $2)",
        )
        .bind(organization_id)
        .bind(entity_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE entities SET state = 'DELETED', deleted_name = name, name = entity_id, \
             email = NULL, password_hash = NULL, disabled_at = COALESCE(disabled_at, $3) \
             WHERE organization_id = $1 AND entity_id = $2",
        )
        .bind(organization_id)
        .bind(entity_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
