//! Mail domains (workmail.md §1.3): registration, lookup, listing, verification status and
//! removal of a domain no address uses.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::error::StoreResult;
use crate::Store;

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

const DOMAIN_COLUMNS: &str = "domain_name, organization_id, is_test_domain, ownership_token, \
     dkim_selectors, ownership_verification_status, dkim_verification_status, created_at";

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

/// Inserts one mail domain row inside `tx` (organization creation registers several at once).
pub(super) async fn insert_domain(
    tx: &mut Transaction<'_, Any>,
    d: &MailDomainRecord,
) -> StoreResult<()> {
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
    /// Registers a mail domain. Errors: `Conflict` when any organization has it already.
    pub async fn insert_mail_domain(&self, domain: &MailDomainRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
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
}
