//! Mailbox retention: the organization's retention policy, what the retention job needs to
//! find aged message copies and expired mailboxes, the purge of a disabled user's mailbox,
//! and the job leases that keep one node at a time on a background job.
//! Spec: workmail.md §2.12 (retention policy), §1.4 and §6 (mailbox of a user disabled for
//! more than 30 days deleted).

use std::collections::HashSet;
use std::time::Duration;

use crate::error::{StoreError, StoreResult};
use crate::sql;
use crate::Store;

/// One folder configuration of a retention policy (model `FolderConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RetentionFolderRecord {
    /// Model `FolderName`: `INBOX`, `DELETED_ITEMS`, `SENT_ITEMS`, `DRAFTS` or `JUNK_EMAIL`.
    pub folder: String,
    /// Model `RetentionAction`: `NONE`, `DELETE` or `PERMANENTLY_DELETE`.
    pub action: String,
    /// Age in days after which the action applies (model `RetentionPeriod`, 1–730).
    pub period_days: Option<i64>,
}

/// An organization's retention policy (its row; `folders` read apart).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RetentionPolicyRecord {
    /// The organization (`m-…`).
    pub organization_id: String,
    /// The policy ID (model `ShortString`).
    pub policy_id: String,
    /// The policy name (model `ShortString`).
    pub name: String,
    /// The description, if any.
    pub description: Option<String>,
    /// The folder configurations, one per folder, ordered by folder name.
    #[sqlx(skip)]
    pub folders: Vec<RetentionFolderRecord>,
    /// Last change, epoch milliseconds.
    pub updated_at: i64,
}

/// What [`Store::purge_mailbox`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgedMailbox {
    /// Message copies deleted.
    pub messages: u64,
    /// Folders deleted.
    pub folders: u64,
    /// Blobs deleted (those no other copy or queued delivery referenced).
    pub blobs: u64,
}

impl Store {
    /// Sets (creates or replaces) the retention policy of `account_id`'s organization:
    /// the policy row and all its folder configurations, in one transaction. The caller
    /// checks that the organization belongs to `account_id`; the row carries it for isolation.
    ///
    /// Errors: `NotFound` when another account's policy is in place (nothing changes);
    /// `Database`.
    pub async fn put_retention_policy(
        &self,
        account_id: &str,
        policy: &RetentionPolicyRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let written: Option<String> = sql::fetch_optional_scalar(
            &mut *tx,
            "INSERT INTO retention_policies \
             (organization_id, account_id, policy_id, name, description, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (organization_id) DO UPDATE SET \
             policy_id = excluded.policy_id, name = excluded.name, \
             description = excluded.description, updated_at = excluded.updated_at \
             WHERE retention_policies.account_id = excluded.account_id \
             RETURNING organization_id",
            &[
                (&policy.organization_id).into(),
                account_id.into(),
                (&policy.policy_id).into(),
                (&policy.name).into(),
                (&policy.description).into(),
                policy.updated_at.into(),
            ],
        )
        .await?;
        if written.is_none() {
            tx.rollback().await?;
            return Err(StoreError::NotFound(format!(
                "retention policy of organization {}",
                policy.organization_id
            )));
        }
        sql::execute(
            &mut *tx,
            "DELETE FROM retention_folder_configurations WHERE organization_id = $1",
            &[(&policy.organization_id).into()],
        )
        .await?;
        for folder in &policy.folders {
            sql::execute(
                &mut *tx,
                "INSERT INTO retention_folder_configurations \
                 (organization_id, folder, action, period_days) VALUES ($1, $2, $3, $4)",
                &[
                    (&policy.organization_id).into(),
                    (&folder.folder).into(),
                    (&folder.action).into(),
                    folder.period_days.into(),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The retention policy of `account_id`'s organization `organization_id`, if any.
    ///
    /// Errors: `Database`.
    pub async fn retention_policy(
        &self,
        account_id: &str,
        organization_id: &str,
    ) -> StoreResult<Option<RetentionPolicyRecord>> {
        let row: Option<RetentionPolicyRecord> = sql::fetch_optional(
            &self.pool,
            "SELECT organization_id, policy_id, name, description, updated_at \
             FROM retention_policies WHERE account_id = $1 AND organization_id = $2",
            &[account_id.into(), organization_id.into()],
        )
        .await?;
        match row {
            Some(policy) => Ok(Some(self.with_folders(policy).await?)),
            None => Ok(None),
        }
    }

    /// Removes the retention policy `policy_id` of `account_id`'s organization; returns
    /// whether there was one with that ID.
    ///
    /// Errors: `Database`.
    pub async fn delete_retention_policy(
        &self,
        account_id: &str,
        organization_id: &str,
        policy_id: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // Folder configurations first: they reference the policy row.
        sql::execute(
            &mut *tx,
            "DELETE FROM retention_folder_configurations WHERE organization_id IN \
             (SELECT organization_id FROM retention_policies \
              WHERE account_id = $1 AND organization_id = $2 AND policy_id = $3)",
            &[account_id.into(), organization_id.into(), policy_id.into()],
        )
        .await?;
        let deleted = sql::execute(
            &mut *tx,
            "DELETE FROM retention_policies \
             WHERE account_id = $1 AND organization_id = $2 AND policy_id = $3",
            &[account_id.into(), organization_id.into(), policy_id.into()],
        )
        .await?;
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The retention policies of every `Active` organization, for the retention job.
    ///
    /// Errors: `Database`.
    pub async fn active_retention_policies(&self) -> StoreResult<Vec<RetentionPolicyRecord>> {
        let rows: Vec<RetentionPolicyRecord> = sql::fetch_all(
            &self.pool,
            "SELECT p.organization_id, p.policy_id, p.name, p.description, p.updated_at \
             FROM retention_policies p \
             JOIN organizations o ON o.organization_id = p.organization_id \
             WHERE o.state = 'Active' ORDER BY p.organization_id",
            &[],
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.with_folders(row).await?);
        }
        Ok(out)
    }

    /// `policy` with its folder configurations read.
    async fn with_folders(
        &self,
        mut policy: RetentionPolicyRecord,
    ) -> StoreResult<RetentionPolicyRecord> {
        policy.folders = sql::fetch_all(
            &self.pool,
            "SELECT folder, action, period_days FROM retention_folder_configurations \
             WHERE organization_id = $1 ORDER BY folder",
            &[(&policy.organization_id).into()],
        )
        .await?;
        Ok(policy)
    }

    /// The users of the organization that have a mailbox (enabled or not), by user ID.
    ///
    /// Errors: `Database`.
    pub async fn organization_mailboxes(&self, organization_id: &str) -> StoreResult<Vec<String>> {
        sql::fetch_all_scalar(
            &self.pool,
            "SELECT user_id FROM mailboxes WHERE organization_id = $1 ORDER BY user_id",
            &[organization_id.into()],
        )
        .await
    }

    /// UIDs (ascending) of the message copies of the user's folder `folder_id` whose
    /// INTERNALDATE is before `cutoff` (epoch milliseconds), at most `limit` of them; empty
    /// when the folder is not the user's.
    ///
    /// Errors: `Database`.
    pub async fn aged_message_uids(
        &self,
        user_id: &str,
        folder_id: &str,
        cutoff: i64,
        limit: i64,
    ) -> StoreResult<Vec<i64>> {
        sql::fetch_all_scalar(
            &self.pool,
            "SELECT m.uid FROM messages m JOIN folders f ON f.folder_id = m.folder_id \
             WHERE f.user_id = $1 AND m.folder_id = $2 AND m.internal_date < $3 \
             ORDER BY m.uid LIMIT $4",
            &[
                user_id.into(),
                folder_id.into(),
                cutoff.into(),
                limit.into(),
            ],
        )
        .await
    }

    /// Users whose mailbox still exists although they were disabled (deregistered, or
    /// deleted after that) before `disabled_before` (epoch milliseconds): the mailboxes due
    /// for purge.
    ///
    /// Errors: `Database`.
    pub async fn mailboxes_disabled_before(
        &self,
        disabled_before: i64,
    ) -> StoreResult<Vec<String>> {
        sql::fetch_all_scalar(
            &self.pool,
            "SELECT b.user_id FROM mailboxes b JOIN entities e ON e.entity_id = b.user_id \
             WHERE e.state <> 'ENABLED' AND e.disabled_at IS NOT NULL AND e.disabled_at < $1 \
             ORDER BY b.user_id",
            &[disabled_before.into()],
        )
        .await
    }

    /// Deletes the user's whole mailbox — message copies, folders, the mailbox row — when
    /// the user is still disabled since before `disabled_before` (rechecked in the same
    /// transaction, so a user re-enabled meanwhile keeps the mailbox), then the blobs no
    /// other copy or queued delivery references. Returns `None` when nothing was purged.
    ///
    /// Errors: `Database`; a blob that cannot be deleted is logged and left behind.
    pub async fn purge_mailbox(
        &self,
        user_id: &str,
        disabled_before: i64,
    ) -> StoreResult<Option<PurgedMailbox>> {
        let mut tx = self.begin_write().await?;
        // Locks the entity row first: a concurrent RegisterToWorkMail waits for the purge.
        let due: Option<String> = sql::fetch_optional_scalar(
            &mut *tx,
            "UPDATE entities SET disabled_at = disabled_at \
             WHERE entity_id = $1 AND state <> 'ENABLED' \
             AND disabled_at IS NOT NULL AND disabled_at < $2 RETURNING entity_id",
            &[user_id.into(), disabled_before.into()],
        )
        .await?;
        if due.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        let blob_keys: Vec<String> = sql::fetch_all_scalar(
            &mut *tx,
            "DELETE FROM messages WHERE folder_id IN \
             (SELECT folder_id FROM folders WHERE user_id = $1) RETURNING blob_key",
            &[user_id.into()],
        )
        .await?;
        // The mailbox key goes with its last copy (encryption at rest, workmail.md §5.3).
        sql::execute(
            &mut *tx,
            "DELETE FROM encryption_keys WHERE owner_id = $1 AND kind = 'mailbox'",
            &[user_id.into()],
        )
        .await?;
        let folders = sql::execute(
            &mut *tx,
            "DELETE FROM folders WHERE user_id = $1",
            &[user_id.into()],
        )
        .await?;
        let mailbox = sql::execute(
            &mut *tx,
            "DELETE FROM mailboxes WHERE user_id = $1",
            &[user_id.into()],
        )
        .await?;
        if mailbox == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        let mut blobs = 0;
        let unique: HashSet<&str> = blob_keys.iter().map(String::as_str).collect();
        for key in unique {
            match self.delete_blob_if_unreferenced(key).await {
                Ok(true) => blobs += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(blob_key = key, %error, "could not delete purged blob");
                }
            }
        }
        Ok(Some(PurgedMailbox {
            messages: blob_keys.len() as u64,
            folders,
            blobs,
        }))
    }

    /// Takes or renews the job lease `name` for `holder` until `ttl` from now: succeeds when
    /// nobody holds it, when `holder` already does, or when the previous lease has expired.
    /// Returns whether `holder` holds the lease now. Table `job_leases` (migration 0001).
    ///
    /// Errors: `Database`.
    pub async fn acquire_job_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let now = carillon_core::time::now_millis();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let taken: Option<String> = sql::fetch_optional_scalar(
            &self.pool,
            "INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET \
             holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= $4 \
             RETURNING holder",
            &[
                name.into(),
                holder.into(),
                now.saturating_add(ttl_ms).into(),
                now.into(),
            ],
        )
        .await?;
        Ok(taken.is_some())
    }
}
