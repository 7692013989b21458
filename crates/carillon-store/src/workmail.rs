//! The WorkMail directory: organizations, mail domains, entities (users, groups, resources),
//! email addresses, group membership and organization tags. Spec: workmail.md §1.
//!
//! Records only: the rules (states, limits, which error applies) live in `carillon-mail`. Every
//! read of an organization filters on its `account_id`; lookups below an organization take the
//! organization ID the caller already resolved in its tenant. Addresses are stored lower-cased
//! and are unique across the whole server, so inbound mail routes by address alone.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::error::{StoreError, StoreResult};
use crate::Store;

/// A WorkMail organization row. Instants are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRecord {
    /// `m-` + 32 lowercase hex.
    pub organization_id: String,
    /// Owning account (tenant).
    pub account_id: String,
    /// Globally unique among live organizations; `None` once deleted.
    pub alias: Option<String>,
    /// The alias the organization had when it was deleted.
    pub deleted_alias: Option<String>,
    /// `Active`, `Deleted`, ... (workmail.md §1.1 state names).
    pub state: String,
    /// Directory ID (`d-` + 10 hex).
    pub directory_id: String,
    /// Directory type, e.g. `WorkMailDirectory`.
    pub directory_type: String,
    /// Default mail domain for new addresses.
    pub default_mail_domain: Option<String>,
    /// Customer KMS key ARN given at creation.
    pub kms_key_arn: Option<String>,
    /// Interoperability with Exchange enabled at creation.
    pub interoperability_enabled: bool,
    /// Creation instant.
    pub created_at: i64,
    /// Instant the creation workflow completed.
    pub completed_at: Option<i64>,
    /// Instant of deletion.
    pub deleted_at: Option<i64>,
    /// Idempotency token of the CreateOrganization request that made it.
    pub client_token: Option<String>,
}

/// A mail domain row. Spec: workmail.md §1.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailDomainRecord {
    /// Lower-case ASCII domain name.
    pub domain_name: String,
    /// Owning organization.
    pub organization_id: String,
    /// The automatically created `<alias>.<test-domain-base>` domain.
    pub is_test_domain: bool,
    /// Value expected in the `_amazonses.<domain>` TXT record.
    pub ownership_token: String,
    /// DKIM selectors, each published as `<selector>._domainkey.<domain>`.
    pub dkim_selectors: Vec<String>,
    /// `PENDING`, `VERIFIED` or `FAILED`.
    pub ownership_verification_status: String,
    /// `PENDING`, `VERIFIED` or `FAILED`.
    pub dkim_verification_status: String,
    /// Registration instant.
    pub created_at: i64,
}

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

/// What an IMAP/SMTP login needs to know about the address it named. Spec: workmail.md §1.4.
#[derive(Debug, Clone)]
pub struct MailLoginRecord {
    /// Owning account.
    pub account_id: String,
    /// Organization of the user.
    pub organization_id: String,
    /// `Active` for a usable organization.
    pub organization_state: String,
    /// The user's entity ID.
    pub user_id: String,
    /// `ENABLED` for a usable user.
    pub user_state: String,
    /// Primary address (lower-case).
    pub email: Option<String>,
    /// Argon2 PHC string.
    pub password_hash: Option<String>,
    /// Whether a mailbox exists for the user.
    pub has_mailbox: bool,
    /// Every address of the user (primary and aliases), lower-case, sorted.
    pub addresses: Vec<String>,
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

const ORG_COLUMNS: &str =
    "organization_id, account_id, alias, deleted_alias, state, directory_id, \
     directory_type, default_mail_domain, kms_key_arn, interoperability_enabled, created_at, \
     completed_at, deleted_at, client_token";

const DOMAIN_COLUMNS: &str = "domain_name, organization_id, is_test_domain, ownership_token, \
     dkim_selectors, ownership_verification_status, dkim_verification_status, created_at";

const ENTITY_COLUMNS: &str = "entity_id, organization_id, kind, name, email, display_name, \
     first_name, last_name, state, role, password_hash, hidden_from_gal, mailbox_quota_mb, \
     attributes, created_at, enabled_at, disabled_at, deleted_name";

fn org_from_row(row: &AnyRow) -> StoreResult<OrganizationRecord> {
    Ok(OrganizationRecord {
        organization_id: row.try_get("organization_id")?,
        account_id: row.try_get("account_id")?,
        alias: row.try_get("alias")?,
        deleted_alias: row.try_get("deleted_alias")?,
        state: row.try_get("state")?,
        directory_id: row.try_get("directory_id")?,
        directory_type: row.try_get("directory_type")?,
        default_mail_domain: row.try_get("default_mail_domain")?,
        kms_key_arn: row.try_get("kms_key_arn")?,
        interoperability_enabled: row.try_get::<i64, _>("interoperability_enabled")? != 0,
        created_at: row.try_get("created_at")?,
        completed_at: row.try_get("completed_at")?,
        deleted_at: row.try_get("deleted_at")?,
        client_token: row.try_get("client_token")?,
    })
}

fn domain_from_row(row: &AnyRow) -> StoreResult<MailDomainRecord> {
    let selectors: String = row.try_get("dkim_selectors")?;
    Ok(MailDomainRecord {
        domain_name: row.try_get("domain_name")?,
        organization_id: row.try_get("organization_id")?,
        is_test_domain: row.try_get::<i64, _>("is_test_domain")? != 0,
        ownership_token: row.try_get("ownership_token")?,
        dkim_selectors: selectors.split_whitespace().map(str::to_string).collect(),
        ownership_verification_status: row.try_get("ownership_verification_status")?,
        dkim_verification_status: row.try_get("dkim_verification_status")?,
        created_at: row.try_get("created_at")?,
    })
}

fn entity_from_row(row: &AnyRow) -> StoreResult<EntityRecord> {
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

/// The domain part of a lower-case address (`""` when there is no `@`).
fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

async fn insert_domain(tx: &mut Transaction<'_, Any>, d: &MailDomainRecord) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO mail_domains ({DOMAIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&d.domain_name)
    .bind(&d.organization_id)
    .bind(i64::from(d.is_test_domain))
    .bind(&d.ownership_token)
    .bind(d.dkim_selectors.join(" "))
    .bind(&d.ownership_verification_status)
    .bind(&d.dkim_verification_status)
    .bind(d.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    // ---------------------------------------------------------------- organizations

    /// Number of organizations of `account_id` that are not deleted (the per-account quota
    /// counts these).
    pub async fn count_live_organizations(&self, account_id: &str) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM organizations WHERE account_id = $1 AND deleted_at IS NULL",
        )
        .bind(account_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Inserts a new organization together with its mail domains (the test domain and any
    /// given at creation) in one transaction.
    ///
    /// Errors: `Conflict` when the alias is taken by a live organization or a domain is
    /// registered already (nothing is written).
    pub async fn insert_organization(
        &self,
        org: &OrganizationRecord,
        domains: &[MailDomainRecord],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO organizations ({ORG_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&org.organization_id)
        .bind(&org.account_id)
        .bind(&org.alias)
        .bind(&org.deleted_alias)
        .bind(&org.state)
        .bind(&org.directory_id)
        .bind(&org.directory_type)
        .bind(&org.default_mail_domain)
        .bind(&org.kms_key_arn)
        .bind(i64::from(org.interoperability_enabled))
        .bind(org.created_at)
        .bind(org.completed_at)
        .bind(org.deleted_at)
        .bind(&org.client_token)
        .execute(&mut *tx)
        .await?;
        for domain in domains {
            insert_domain(&mut tx, domain).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The organization `organization_id` of `account_id` (deleted ones included), or `None`
    /// when it does not exist in that tenant.
    pub async fn get_organization(
        &self,
        account_id: &str,
        organization_id: &str,
    ) -> StoreResult<Option<OrganizationRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ORG_COLUMNS} FROM organizations WHERE account_id = $1 AND organization_id = $2"
        ))
        .bind(account_id)
        .bind(organization_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(org_from_row).transpose()
    }

    /// The organization of `account_id` created by the CreateOrganization request carrying
    /// `client_token`, if any.
    pub async fn organization_by_client_token(
        &self,
        account_id: &str,
        client_token: &str,
    ) -> StoreResult<Option<OrganizationRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ORG_COLUMNS} FROM organizations WHERE account_id = $1 AND client_token = $2"
        ))
        .bind(account_id)
        .bind(client_token)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(org_from_row).transpose()
    }

    /// Up to `limit` organizations of `account_id`, ordered by organization ID, starting after
    /// `after` (an organization ID from a previous page).
    pub async fn list_organizations(
        &self,
        account_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<OrganizationRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ORG_COLUMNS} FROM organizations \
             WHERE account_id = $1 AND organization_id > $2 ORDER BY organization_id LIMIT $3"
        ))
        .bind(account_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(org_from_row).collect()
    }

    /// Marks the organization deleted (state `Deleted`, alias freed into `deleted_alias`) and
    /// removes everything under it in one transaction: messages, folders and mailboxes of its
    /// users, queued outbound mail, tags, group memberships, addresses, entities and mail
    /// domains. Returns the blob keys no longer referenced by any message or queued outbound
    /// mail, for the caller to delete from the blob store after the commit.
    ///
    /// Errors: `NotFound` when the organization is not in `account_id`.
    pub async fn delete_organization(
        &self,
        account_id: &str,
        organization_id: &str,
        organization_arn: &str,
        deleted_at: i64,
    ) -> StoreResult<Vec<String>> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE organizations SET deleted_alias = alias, alias = NULL, state = 'Deleted', \
             default_mail_domain = NULL, deleted_at = $3 \
             WHERE account_id = $1 AND organization_id = $2",
        )
        .bind(account_id)
        .bind(organization_id)
        .bind(deleted_at)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound(organization_id.to_string()));
        }
        let blob_keys: Vec<String> = sqlx::query_scalar(
            "SELECT m.blob_key FROM messages m JOIN folders f ON f.folder_id = m.folder_id \
             JOIN mailboxes b ON b.user_id = f.user_id WHERE b.organization_id = $1 \
             UNION SELECT blob_key FROM outbound_queue WHERE organization_id = $1",
        )
        .bind(organization_id)
        .fetch_all(&mut *tx)
        .await?;
        let statements = [
            "DELETE FROM messages WHERE folder_id IN (SELECT f.folder_id FROM folders f \
             JOIN mailboxes b ON b.user_id = f.user_id WHERE b.organization_id = $1)",
            "DELETE FROM folders WHERE user_id IN \
             (SELECT user_id FROM mailboxes WHERE organization_id = $1)",
            "DELETE FROM mailboxes WHERE organization_id = $1",
            "DELETE FROM outbound_queue WHERE organization_id = $1",
            "DELETE FROM group_members WHERE organization_id = $1",
            "DELETE FROM addresses WHERE organization_id = $1",
            "DELETE FROM entities WHERE organization_id = $1",
            "DELETE FROM mail_domains WHERE organization_id = $1",
        ];
        for statement in statements {
            sqlx::query(statement)
                .bind(organization_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM resource_tags WHERE account_id = $1 AND resource_arn = $2")
            .bind(account_id)
            .bind(organization_arn)
            .execute(&mut *tx)
            .await?;
        let mut orphaned = Vec::new();
        for key in blob_keys {
            let still_used: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM messages WHERE blob_key = $1) \
                 + (SELECT COUNT(*) FROM outbound_queue WHERE blob_key = $1)",
            )
            .bind(&key)
            .fetch_one(&mut *tx)
            .await?;
            if still_used == 0 {
                orphaned.push(key);
            }
        }
        tx.commit().await?;
        Ok(orphaned)
    }

    /// Makes `domain_name` (already registered to the organization) its default mail domain.
    pub async fn set_default_mail_domain(
        &self,
        organization_id: &str,
        domain_name: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE organizations SET default_mail_domain = $2 WHERE organization_id = $1")
            .bind(organization_id)
            .bind(domain_name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---------------------------------------------------------------- mail domains

    /// Registers a mail domain. Errors: `Conflict` when any organization has it already.
    pub async fn insert_mail_domain(&self, domain: &MailDomainRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        insert_domain(&mut tx, domain).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The mail domain `domain_name` (lower-case) of the organization, or `None`.
    pub async fn get_mail_domain(
        &self,
        organization_id: &str,
        domain_name: &str,
    ) -> StoreResult<Option<MailDomainRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM mail_domains WHERE organization_id = $1 AND domain_name = $2"
        ))
        .bind(organization_id)
        .bind(domain_name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(domain_from_row).transpose()
    }

    /// Which organization (if any) has registered `domain_name` (lower-case).
    pub async fn mail_domain_owner(&self, domain_name: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT organization_id FROM mail_domains WHERE domain_name = $1")
                .bind(domain_name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Up to `limit` mail domains of the organization in name order, after `after`.
    pub async fn list_mail_domains(
        &self,
        organization_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<MailDomainRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM mail_domains \
             WHERE organization_id = $1 AND domain_name > $2 ORDER BY domain_name LIMIT $3"
        ))
        .bind(organization_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(domain_from_row).collect()
    }

    /// Number of mail domains of the organization.
    pub async fn count_mail_domains(&self, organization_id: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM mail_domains WHERE organization_id = $1")
                .bind(organization_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Records the outcome of a DNS verification of the domain.
    pub async fn set_mail_domain_status(
        &self,
        domain_name: &str,
        ownership_status: &str,
        dkim_status: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE mail_domains SET ownership_verification_status = $2, \
             dkim_verification_status = $3 WHERE domain_name = $1",
        )
        .bind(domain_name)
        .bind(ownership_status)
        .bind(dkim_status)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Number of addresses (primary or alias, any entity) on `domain_name`.
    pub async fn count_addresses_on_domain(&self, domain_name: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM addresses WHERE domain_name = $1")
                .bind(domain_name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Removes the mail domain from the organization unless an address uses it; returns
    /// whether it was removed.
    pub async fn delete_unused_mail_domain(
        &self,
        organization_id: &str,
        domain_name: &str,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "DELETE FROM mail_domains WHERE organization_id = $1 AND domain_name = $2 \
             AND NOT EXISTS (SELECT 1 FROM addresses WHERE domain_name = $2)",
        )
        .bind(organization_id)
        .bind(domain_name)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    // ---------------------------------------------------------------- entities

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
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
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

    // ---------------------------------------------------------------- addresses

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
        let mut tx = self.pool.begin().await?;
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

    // ---------------------------------------------------------------- groups

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

    // ---------------------------------------------------------------- tags

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
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
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

    // ---------------------------------------------------------------- mail login

    /// The user that owns `login` (an address, matched lower-case) with what authentication
    /// needs; `None` when no user (kind `USER`) has that address.
    pub async fn find_mail_login(&self, login: &str) -> StoreResult<Option<MailLoginRecord>> {
        let row = sqlx::query(
            "SELECT o.account_id, o.organization_id, o.state AS org_state, e.entity_id, \
             e.state AS user_state, e.email, e.password_hash, \
             (SELECT COUNT(*) FROM mailboxes m WHERE m.user_id = e.entity_id) AS mailboxes \
             FROM addresses a JOIN entities e ON e.entity_id = a.entity_id \
             JOIN organizations o ON o.organization_id = e.organization_id \
             WHERE a.address = $1 AND e.kind = 'USER'",
        )
        .bind(login.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user_id: String = row.try_get("entity_id")?;
        let addresses: Vec<String> = sqlx::query_scalar(
            "SELECT address FROM addresses WHERE entity_id = $1 ORDER BY address",
        )
        .bind(&user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(MailLoginRecord {
            account_id: row.try_get("account_id")?,
            organization_id: row.try_get("organization_id")?,
            organization_state: row.try_get("org_state")?,
            user_id,
            user_state: row.try_get("user_state")?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            has_mailbox: row.try_get::<i64, _>("mailboxes")? > 0,
            addresses,
        }))
    }
}
