//! Encryption at rest (workmail.md §5.3): the wrapped data keys of mailboxes and
//! organizations, and the organization facts their wrapping depends on. Only wrapped keys
//! are stored here; the hierarchy is assembled by `carillon-mail`'s `crypto` module and the
//! key material of key-encryption keys stays with the key provider (`carillon-kms`).

use crate::error::StoreResult;
use crate::Store;

/// `kind` of a mailbox key: `owner_id` is the mailbox's user ID.
pub const KEY_KIND_MAILBOX: &str = "mailbox";

/// `kind` of an organization's transit key (messages outside any mailbox: the outbound
/// queue, in-transit messages): `owner_id` is the organization ID.
pub const KEY_KIND_TRANSIT: &str = "transit";

/// A data key wrapped by its organization's key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EncryptionKeyRecord {
    /// The user ID of a mailbox key, the organization ID of a transit key.
    pub owner_id: String,
    /// [`KEY_KIND_MAILBOX`] or [`KEY_KIND_TRANSIT`].
    pub kind: String,
    /// The organization whose key-encryption key wraps it.
    pub organization_id: String,
    /// The organization's account (part of the organization ARN, the encryption context).
    pub account_id: String,
    /// The key-encryption key: `arn:aws:kms:<region>:<account>:key/<uuid>`.
    pub kms_key_arn: String,
    /// The wrapped key, base64.
    pub wrapped_key: String,
    /// Creation, epoch milliseconds.
    pub created_at: i64,
}

const COLUMNS: &str =
    "owner_id, kind, organization_id, account_id, kms_key_arn, wrapped_key, created_at";

impl Store {
    /// The wrapped key of `owner_id`, if one was made.
    pub async fn encryption_key(&self, owner_id: &str) -> StoreResult<Option<EncryptionKeyRecord>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM encryption_keys WHERE owner_id = $1"
        ))
        .bind(owner_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores `record` unless its owner already has a key, and returns the owner's key as
    /// stored: when several nodes make a key at once, all of them use the first one stored.
    pub async fn insert_encryption_key(
        &self,
        record: &EncryptionKeyRecord,
    ) -> StoreResult<EncryptionKeyRecord> {
        sqlx::query(
            "INSERT INTO encryption_keys (owner_id, kind, organization_id, account_id, \
             kms_key_arn, wrapped_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (owner_id) DO NOTHING",
        )
        .bind(&record.owner_id)
        .bind(&record.kind)
        .bind(&record.organization_id)
        .bind(&record.account_id)
        .bind(&record.kms_key_arn)
        .bind(&record.wrapped_key)
        .bind(record.created_at)
        .execute(&self.pool)
        .await?;
        Ok(self
            .encryption_key(&record.owner_id)
            .await?
            .unwrap_or_else(|| record.clone()))
    }

    /// The organization of the mailbox of `user_id`; `None` without a mailbox.
    pub async fn mailbox_organization(&self, user_id: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT organization_id FROM mailboxes WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The account and the key-encryption key ARN (`None` when not chosen yet: organizations
    /// created before encryption at rest) of organization `organization_id`, whatever its
    /// account; `None` for an unknown organization.
    pub async fn organization_key_facts(
        &self,
        organization_id: &str,
    ) -> StoreResult<Option<(String, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT account_id, kms_key_arn FROM organizations WHERE organization_id = $1",
        )
        .bind(organization_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Sets the organization's key-encryption key when it has none, and returns the one it
    /// has afterwards (the key is fixed once set, workmail.md §5.3).
    pub async fn settle_organization_kms_key(
        &self,
        organization_id: &str,
        kms_key_arn: &str,
    ) -> StoreResult<String> {
        sqlx::query(
            "UPDATE organizations SET kms_key_arn = $2 \
             WHERE organization_id = $1 AND kms_key_arn IS NULL",
        )
        .bind(organization_id)
        .bind(kms_key_arn)
        .execute(&self.pool)
        .await?;
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT kms_key_arn FROM organizations WHERE organization_id = $1")
                .bind(organization_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(stored.flatten().unwrap_or_else(|| kms_key_arn.to_string()))
    }
}
