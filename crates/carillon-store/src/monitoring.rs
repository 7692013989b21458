//! Email monitoring configuration per organization: the log group (CloudWatch Logs ARN) its
//! email event log goes to. Spec: workmail.md §4.1 (PutEmailMonitoringConfiguration).

use sqlx::Row;

use crate::{Store, StoreResult};

/// An organization's email monitoring configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMonitoringRecord {
    /// The organization's account (tenant).
    pub account_id: String,
    /// `arn:aws:logs:<region>:<account>:log-group:<name>:*`.
    pub log_group_arn: String,
    /// The IAM role WorkMail would assume to write the log (kept, not used by Carillon).
    pub role_arn: Option<String>,
}

impl Store {
    /// Turns email monitoring on for `organization_id` (or replaces its configuration); the
    /// caller checks the organization exists in `record.account_id`.
    ///
    /// Errors: `Database`.
    pub async fn put_email_monitoring(
        &self,
        organization_id: &str,
        record: &EmailMonitoringRecord,
        updated_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO email_monitoring \
             (organization_id, account_id, log_group_arn, role_arn, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (organization_id) DO UPDATE SET log_group_arn = excluded.log_group_arn, \
             role_arn = excluded.role_arn, updated_at = excluded.updated_at \
             WHERE email_monitoring.account_id = excluded.account_id",
        )
        .bind(organization_id)
        .bind(&record.account_id)
        .bind(&record.log_group_arn)
        .bind(record.role_arn.as_deref())
        .bind(updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The email monitoring configuration of `organization_id`; `None` when monitoring is
    /// off.
    ///
    /// Errors: `Database`.
    pub async fn email_monitoring(
        &self,
        organization_id: &str,
    ) -> StoreResult<Option<EmailMonitoringRecord>> {
        let row = sqlx::query(
            "SELECT account_id, log_group_arn, role_arn FROM email_monitoring WHERE organization_id = $1",
        )
        .bind(organization_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(EmailMonitoringRecord {
                account_id: row.try_get("account_id")?,
                log_group_arn: row.try_get("log_group_arn")?,
                role_arn: row.try_get("role_arn")?,
            })
        })
        .transpose()
    }

    /// Turns email monitoring off for `organization_id` of `account_id` (nothing when it was
    /// off).
    ///
    /// Errors: `Database`.
    pub async fn delete_email_monitoring(
        &self,
        account_id: &str,
        organization_id: &str,
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM email_monitoring WHERE organization_id = $1 AND account_id = $2")
            .bind(organization_id)
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
