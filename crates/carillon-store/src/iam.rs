//! Identity records of carillon-iam: accounts (tenants), principals (IAM-style users), access
//! keys, managed-policy attachments and the audit trail.
//!
//! Every query on tenant data filters on `account_id`, with two deliberate exceptions that
//! *find* the tenant rather than read inside it: [`Store::access_key`] (an access key ID is
//! globally unique and is how a signed request names its account) and
//! [`Store::account_by_name`] (operator-level lookup of the bootstrap account). Rules (name
//! formats, which policies exist, key generation) live in carillon-iam; this module only
//! stores and reads.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{StoreError, StoreResult};
use crate::Store;

/// Status of an access key that verifies signatures (IAM's term).
pub const ACCESS_KEY_ACTIVE: &str = "Active";
/// Status of an access key that no longer verifies signatures (IAM's term).
pub const ACCESS_KEY_INACTIVE: &str = "Inactive";

/// A tenant: every resource belongs to exactly one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// 12-digit account ID.
    pub account_id: String,
    /// Unique human name (`bootstrap` for the first account).
    pub name: String,
    /// Creation instant, epoch milliseconds.
    pub created_at: i64,
}

/// An access key as stored. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    /// `AKIA…` identifier, globally unique.
    pub access_key_id: String,
    /// The 40-character secret, needed in clear as SigV4 HMAC key material.
    pub secret_access_key: String,
    /// ARN of the principal the key belongs to.
    pub principal_arn: String,
    /// Account of that principal.
    pub account_id: String,
    /// [`ACCESS_KEY_ACTIVE`] or [`ACCESS_KEY_INACTIVE`].
    pub status: String,
    /// Creation instant, epoch milliseconds.
    pub created_at: i64,
}

impl std::fmt::Debug for AccessKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("principal_arn", &self.principal_arn)
            .field("account_id", &self.account_id)
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A principal to create with its managed policies and its first (active) access key, in
/// one transaction, so no principal ever exists without the key promised for it. `Debug`
/// never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPrincipal {
    /// Owning account.
    pub account_id: String,
    /// `arn:aws:iam::<account_id>:user/<name>`.
    pub arn: String,
    /// User name, unique in the account.
    pub name: String,
    /// Names of the managed policies to attach.
    pub policy_names: Vec<String>,
    /// `AKIA…` identifier of the first key, globally unique.
    pub access_key_id: String,
    /// Its secret access key.
    pub secret_access_key: String,
    /// Creation instant of principal and key, epoch milliseconds.
    pub created_at: i64,
}

impl std::fmt::Debug for NewPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPrincipal")
            .field("account_id", &self.account_id)
            .field("arn", &self.arn)
            .field("name", &self.name)
            .field("policy_names", &self.policy_names)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// One stored audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEventRecord {
    /// CloudTrail `eventID` (UUID), unique.
    pub event_id: String,
    /// The account the call was made in (CloudTrail `recipientAccountId`).
    pub account_id: String,
    /// `eventTime`, epoch milliseconds.
    pub event_time: i64,
    /// `eventSource`, e.g. `workmail.amazonaws.com`.
    pub event_source: String,
    /// `eventName`, e.g. `CreateUser`.
    pub event_name: String,
    /// The whole CloudTrail-shaped record as JSON text.
    pub record: String,
}

/// Where to resume an audit listing: strictly after this `(event_time, event_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCursor {
    /// `event_time` of the last record already read, epoch milliseconds.
    pub event_time: i64,
    /// `event_id` of the last record already read.
    pub event_id: String,
}

fn account_from_row(row: &AnyRow) -> StoreResult<AccountRecord> {
    Ok(AccountRecord {
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Creates `account` together with its first principal (policies and key), atomically.
    ///
    /// Errors: `Conflict` when the account ID or name is taken (nothing is written).
    pub async fn create_account_with_principal(
        &self,
        account: &AccountRecord,
        principal: &NewPrincipal,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO accounts (account_id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&account.account_id)
            .bind(&account.name)
            .bind(account.created_at)
            .execute(&mut *tx)
            .await?;
        insert_principal(&mut tx, principal).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates a principal (with its policies and key) in an existing account, atomically.
    ///
    /// Errors: `NotFound` when the account does not exist; `Conflict` when the principal name
    /// or key ID is taken in it.
    pub async fn create_principal(&self, principal: &NewPrincipal) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT account_id FROM accounts WHERE account_id = $1")
                .bind(&principal.account_id)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!(
                "account {}",
                principal.account_id
            )));
        }
        insert_principal(&mut tx, principal).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The account with ID `account_id`, if any.
    pub async fn account(&self, account_id: &str) -> StoreResult<Option<AccountRecord>> {
        let row =
            sqlx::query("SELECT account_id, name, created_at FROM accounts WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// The account named `name`, if any (operator-level lookup, not tenant-scoped).
    pub async fn account_by_name(&self, name: &str) -> StoreResult<Option<AccountRecord>> {
        let row = sqlx::query("SELECT account_id, name, created_at FROM accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// The access key `access_key_id`, whatever its status. This lookup is how a signed
    /// request finds its tenant, so it is the one query not filtered by account.
    pub async fn access_key(&self, access_key_id: &str) -> StoreResult<Option<AccessKeyRecord>> {
        let row = sqlx::query(
            "SELECT access_key_id, secret_access_key, principal_arn, account_id, status, created_at \
             FROM access_keys WHERE access_key_id = $1",
        )
        .bind(access_key_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(AccessKeyRecord {
                access_key_id: row.try_get("access_key_id")?,
                secret_access_key: row.try_get("secret_access_key")?,
                principal_arn: row.try_get("principal_arn")?,
                account_id: row.try_get("account_id")?,
                status: row.try_get("status")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// Sets the status of key `access_key_id` in `account_id` ([`ACCESS_KEY_ACTIVE`] or
    /// [`ACCESS_KEY_INACTIVE`]).
    ///
    /// Errors: `NotFound` when the account has no such key.
    pub async fn set_access_key_status(
        &self,
        account_id: &str,
        access_key_id: &str,
        status: &str,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE access_keys SET status = $1 WHERE account_id = $2 AND access_key_id = $3",
        )
        .bind(status)
        .bind(account_id)
        .bind(access_key_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("access key {access_key_id}")));
        }
        Ok(())
    }

    /// Names of the managed policies attached to `principal_arn` in `account_id`, sorted.
    pub async fn principal_policy_names(
        &self,
        account_id: &str,
        principal_arn: &str,
    ) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT policy_name FROM principal_policies \
             WHERE account_id = $1 AND principal_arn = $2 ORDER BY policy_name",
        )
        .bind(account_id)
        .bind(principal_arn)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Appends one audit record.
    ///
    /// Errors: `Conflict` when `event_id` was already recorded.
    pub async fn insert_audit_event(&self, event: &AuditEventRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (event_id, account_id, event_time, event_source, event_name, record) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&event.event_id)
        .bind(&event.account_id)
        .bind(event.event_time)
        .bind(&event.event_source)
        .bind(&event.event_name)
        .bind(&event.record)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Up to `limit` audit records of `account_id` in chronological order (ties by event
    /// ID), starting strictly after `after` when given.
    pub async fn list_audit_events(
        &self,
        account_id: &str,
        after: Option<&AuditCursor>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEventRecord>> {
        let (after_time, after_id) = match after {
            Some(c) => (c.event_time, c.event_id.as_str()),
            None => (i64::MIN, ""),
        };
        let rows = sqlx::query(
            "SELECT event_id, account_id, event_time, event_source, event_name, record \
             FROM audit_events \
             WHERE account_id = $1 AND (event_time > $2 OR (event_time = $2 AND event_id > $3)) \
             ORDER BY event_time, event_id LIMIT $4",
        )
        .bind(account_id)
        .bind(after_time)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEventRecord {
                    event_id: row.try_get("event_id")?,
                    account_id: row.try_get("account_id")?,
                    event_time: row.try_get("event_time")?,
                    event_source: row.try_get("event_source")?,
                    event_name: row.try_get("event_name")?,
                    record: row.try_get("record")?,
                })
            })
            .collect()
    }
}

async fn insert_principal(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    principal: &NewPrincipal,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO principals (arn, account_id, name, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&principal.arn)
    .bind(&principal.account_id)
    .bind(&principal.name)
    .bind(principal.created_at)
    .execute(&mut **tx)
    .await?;
    for policy in &principal.policy_names {
        sqlx::query(
            "INSERT INTO principal_policies (account_id, principal_arn, policy_name) VALUES ($1, $2, $3)",
        )
        .bind(&principal.account_id)
        .bind(&principal.arn)
        .bind(policy)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO access_keys (access_key_id, secret_access_key, principal_arn, account_id, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&principal.access_key_id)
    .bind(&principal.secret_access_key)
    .bind(&principal.arn)
    .bind(&principal.account_id)
    .bind(ACCESS_KEY_ACTIVE)
    .bind(principal.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
