//! Journaling configurations and what delivery needs to journal a message.
//! Spec: workmail.md §2.24.

use crate::error::StoreResult;
use crate::queue::NewOutbound;
use crate::{NewMessage, Store};

/// An organization's journaling configuration.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JournalingConfigurationRecord {
    /// The organization (`m-…`).
    pub organization_id: String,
    /// Where journal records go (lower-case address; a mailbox here or elsewhere).
    pub journaling_address: String,
    /// Who hears of messages that could not be journaled (lower-case address).
    pub report_address: String,
    /// Last change, epoch milliseconds.
    pub updated_at: i64,
}

/// What delivery needs to journal for one organization: its configuration and the test
/// domain journal records are sent from (`amazonjournaling@<test domain>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalingTarget {
    /// The configuration.
    pub configuration: JournalingConfigurationRecord,
    /// The organization's test domain `<alias>.<test domain base>`, lower-case.
    pub test_domain: String,
}

impl Store {
    /// Sets (creates or replaces) the journaling configuration of `organization_id`, which
    /// must belong to `account_id` (the caller checks it; the row carries it for isolation).
    ///
    /// Errors: `Database`.
    pub async fn put_journaling_configuration(
        &self,
        account_id: &str,
        configuration: &JournalingConfigurationRecord,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO journaling_configurations \
             (organization_id, account_id, journaling_address, report_address, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (organization_id) DO UPDATE SET \
             journaling_address = excluded.journaling_address, \
             report_address = excluded.report_address, updated_at = excluded.updated_at \
             WHERE journaling_configurations.account_id = excluded.account_id",
        )
        .bind(&configuration.organization_id)
        .bind(account_id)
        .bind(&configuration.journaling_address)
        .bind(&configuration.report_address)
        .bind(configuration.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The journaling configuration of `account_id`'s organization `organization_id`.
    ///
    /// Errors: `Database`.
    pub async fn journaling_configuration(
        &self,
        account_id: &str,
        organization_id: &str,
    ) -> StoreResult<Option<JournalingConfigurationRecord>> {
        Ok(sqlx::query_as(
            "SELECT organization_id, journaling_address, report_address, updated_at \
             FROM journaling_configurations WHERE account_id = $1 AND organization_id = $2",
        )
        .bind(account_id)
        .bind(organization_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Removes the journaling configuration; returns whether there was one.
    ///
    /// Errors: `Database`.
    pub async fn delete_journaling_configuration(
        &self,
        account_id: &str,
        organization_id: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM journaling_configurations WHERE account_id = $1 AND organization_id = $2",
        )
        .bind(account_id)
        .bind(organization_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The journaling target of an `Active` organization that has journaling configured.
    ///
    /// Errors: `Database`.
    pub async fn journaling_target(
        &self,
        organization_id: &str,
    ) -> StoreResult<Option<JournalingTarget>> {
        let row: Option<(String, String, String, i64, String)> = sqlx::query_as(
            "SELECT j.organization_id, j.journaling_address, j.report_address, j.updated_at, \
                    d.domain_name \
             FROM journaling_configurations j \
             JOIN organizations o ON o.organization_id = j.organization_id \
             JOIN mail_domains d ON d.organization_id = j.organization_id \
             WHERE j.organization_id = $1 AND o.state = 'Active' AND d.is_test_domain = 1",
        )
        .bind(organization_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(organization_id, journaling_address, report_address, updated_at, test_domain)| {
                JournalingTarget {
                    configuration: JournalingConfigurationRecord {
                        organization_id,
                        journaling_address,
                        report_address,
                        updated_at,
                    },
                    test_domain,
                }
            },
        ))
    }

    /// Whether `address` (any case) is the address (primary or alias) of a group.
    ///
    /// Errors: `Database`.
    pub async fn is_group_address(&self, address: &str) -> StoreResult<bool> {
        let kind: Option<String> = sqlx::query_scalar(
            "SELECT e.kind FROM addresses a JOIN entities e ON e.entity_id = a.entity_id \
             WHERE a.address = $1",
        )
        .bind(address.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        Ok(kind.as_deref() == Some("GROUP"))
    }

    /// The primary addresses of mailbox users (`entities.email`), as `(user_id, address)`
    /// in `user_ids` order; users without an address are left out. For the recipient lines
    /// of journal records.
    ///
    /// Errors: `Database`.
    pub async fn primary_addresses(
        &self,
        user_ids: &[String],
    ) -> StoreResult<Vec<(String, String)>> {
        let mut out = Vec::with_capacity(user_ids.len());
        for user_id in user_ids {
            let email: Option<Option<String>> =
                sqlx::query_scalar("SELECT email FROM entities WHERE entity_id = $1")
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?;
            if let Some(Some(email)) = email {
                out.push((user_id.clone(), email));
            }
        }
        Ok(out)
    }

    /// Commits a delivery in ONE transaction: the mailbox copies (as
    /// [`Store::append_messages`]) and the outbound queue rows (as
    /// [`Store::enqueue_outbound`]). Journal records travel with the message they journal
    /// this way, so a crash leaves both or neither. Blobs must already be stored durably.
    ///
    /// Errors: `NotFound` naming a missing folder (nothing committed); `Database`.
    pub async fn commit_delivery(
        &self,
        copies: &[NewMessage],
        outbound: &[NewOutbound],
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        crate::mailbox::append_in(&mut tx, copies).await?;
        crate::queue::insert_outbound(&mut tx, outbound).await?;
        tx.commit().await?;
        Ok(())
    }
}
