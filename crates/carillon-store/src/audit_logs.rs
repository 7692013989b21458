//! Audit log delivery per organization and log type: which of the four audit-log types are
//! delivered, and where. Spec: workmail.md §4.2 (the types), §5.4 (delivery per log type).

use sqlx::Row;

use crate::{Store, StoreResult};

/// Where one audit-log type of an organization goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLogDeliveryRecord {
    /// The organization's account (tenant).
    pub account_id: String,
    /// The log type (`WORKMAIL_MAILBOX_ACCESS_LOGS`, …); the caller validates it.
    pub log_type: String,
    /// `FILE` or `HTTP`.
    pub destination_type: String,
    /// The HTTP endpoint URL (`HTTP` only).
    pub endpoint: Option<String>,
    /// Last change, epoch milliseconds.
    pub updated_at: i64,
}

impl Store {
    /// Sets the delivery of `record.log_type` for `organization_id` (replacing the previous
    /// one); the caller checks the organization exists in `record.account_id`.
    ///
    /// Errors: `Database`.
    pub async fn put_audit_log_delivery(
        &self,
        organization_id: &str,
        record: &AuditLogDeliveryRecord,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log_deliveries \
             (organization_id, account_id, log_type, destination_type, endpoint, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (organization_id, log_type) DO UPDATE SET \
             destination_type = excluded.destination_type, endpoint = excluded.endpoint, \
             updated_at = excluded.updated_at \
             WHERE audit_log_deliveries.account_id = excluded.account_id",
        )
        .bind(organization_id)
        .bind(&record.account_id)
        .bind(&record.log_type)
        .bind(&record.destination_type)
        .bind(record.endpoint.as_deref())
        .bind(record.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every audit-log delivery of `organization_id`, ordered by log type.
    ///
    /// Errors: `Database`.
    pub async fn audit_log_deliveries(
        &self,
        organization_id: &str,
    ) -> StoreResult<Vec<AuditLogDeliveryRecord>> {
        let rows = sqlx::query(
            "SELECT account_id, log_type, destination_type, endpoint, updated_at \
             FROM audit_log_deliveries WHERE organization_id = $1 ORDER BY log_type",
        )
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(AuditLogDeliveryRecord {
                    account_id: row.try_get("account_id")?,
                    log_type: row.try_get("log_type")?,
                    destination_type: row.try_get("destination_type")?,
                    endpoint: row.try_get("endpoint")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Stops delivering `log_type` for `organization_id` of `account_id`; whether there was
    /// a delivery.
    ///
    /// Errors: `Database`.
    pub async fn delete_audit_log_delivery(
        &self,
        account_id: &str,
        organization_id: &str,
        log_type: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM audit_log_deliveries \
             WHERE organization_id = $1 AND account_id = $2 AND log_type = $3",
        )
        .bind(organization_id)
        .bind(account_id)
        .bind(log_type)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::test_stores;

    #[tokio::test]
    async fn deliveries_are_per_type_and_per_tenant() {
        for test in test_stores().await {
            let store = &test.store;
            let account = "111122223333".to_string();
            let organization = "m-00000000000000000000000000000001";
            test.insert_account(&account).await;
            test.insert_organization(&account, organization, "acme", "Active")
                .await;
            let record = |kind: &str, endpoint: Option<&str>| AuditLogDeliveryRecord {
                account_id: account.clone(),
                log_type: kind.to_string(),
                destination_type: if endpoint.is_some() { "HTTP" } else { "FILE" }.to_string(),
                endpoint: endpoint.map(str::to_string),
                updated_at: 1,
            };
            store
                .put_audit_log_delivery(organization, &record("B_LOGS", None))
                .await
                .unwrap();
            store
                .put_audit_log_delivery(organization, &record("A_LOGS", None))
                .await
                .unwrap();
            store
                .put_audit_log_delivery(organization, &record("A_LOGS", Some("https://h/x")))
                .await
                .unwrap();
            let all = store.audit_log_deliveries(organization).await.unwrap();
            assert_eq!(all.len(), 2);
            assert_eq!(all[0].log_type, "A_LOGS");
            assert_eq!(all[0].endpoint.as_deref(), Some("https://h/x"));
            assert_eq!(all[0].destination_type, "HTTP");
            assert!(!store
                .delete_audit_log_delivery("other-account", organization, "A_LOGS")
                .await
                .unwrap());
            assert!(store
                .delete_audit_log_delivery(&account, organization, "A_LOGS")
                .await
                .unwrap());
            let all = store.audit_log_deliveries(organization).await.unwrap();
            assert_eq!(all.len(), 1);
            assert_eq!(all[0].log_type, "B_LOGS");
        }
    }
}
