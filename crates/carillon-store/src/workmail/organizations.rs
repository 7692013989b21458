//! Organizations (workmail.md §1.2): creation together with their mail domains, lookup by ID
//! or client token, listing, the default mail domain, and deletion of everything below them.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::domains::{insert_domain, MailDomainRecord};
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

const ORG_COLUMNS: &str =
    "organization_id, account_id, alias, deleted_alias, state, directory_id, \
     directory_type, default_mail_domain, kms_key_arn, interoperability_enabled, created_at, \
     completed_at, deleted_at, client_token";

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

impl Store {
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
        let mut tx = self.begin_write().await?;
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
        let mut tx = self.begin_write().await?;
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
            "DELETE FROM encryption_keys WHERE organization_id = $1",
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
}
