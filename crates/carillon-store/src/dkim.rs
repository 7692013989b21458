//! DKIM signing keys per mail domain and the inbound DMARC enforcement setting per
//! organization. Spec: workmail.md §1.3 (DKIM records), §2.25 (DMARC enforcement).

use sqlx::Row;

use crate::error::StoreResult;
use crate::Store;

/// One DKIM key of a mail domain, published at `<selector>._domainkey.<domain>`.
///
/// `private_key` is a secret: never log it (the `Debug` output redacts it).
#[derive(Clone, PartialEq, Eq)]
pub struct DkimKeyRecord {
    /// Lower-case mail domain the key signs for (`d=`).
    pub domain_name: String,
    /// The selector (`s=`).
    pub selector: String,
    /// `ed25519` or `rsa` (the `k=` tag of the DNS record).
    pub algorithm: String,
    /// Base64 DER: PKCS#8 for Ed25519, PKCS#1 for RSA.
    pub private_key: String,
    /// Base64 public key as published in `p=` (raw Ed25519 key, or RSA SubjectPublicKeyInfo).
    pub public_key: String,
    /// Creation instant, epoch milliseconds.
    pub created_at: i64,
    /// [`DKIM_ACTIVE`] (signs), [`DKIM_PENDING`] (a rotation's new key, waiting for its DNS
    /// record) or [`DKIM_RETIRING`] (replaced, kept until its DNS record is gone).
    pub state: String,
}

/// A DKIM key that signs outbound mail.
pub const DKIM_ACTIVE: &str = "ACTIVE";
/// A rotation's new DKIM key, not signing until its DNS record is published.
pub const DKIM_PENDING: &str = "PENDING";
/// A DKIM key a rotation replaced, kept until its DNS record is removed.
pub const DKIM_RETIRING: &str = "RETIRING";

impl std::fmt::Debug for DkimKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKeyRecord")
            .field("domain_name", &self.domain_name)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"<redacted>")
            .field("public_key", &self.public_key)
            .field("created_at", &self.created_at)
            .field("state", &self.state)
            .finish()
    }
}

fn key_from_row(row: &sqlx::any::AnyRow) -> StoreResult<DkimKeyRecord> {
    Ok(DkimKeyRecord {
        domain_name: row.try_get("domain_name")?,
        selector: row.try_get("selector")?,
        algorithm: row.try_get("algorithm")?,
        private_key: row.try_get("private_key")?,
        public_key: row.try_get("public_key")?,
        created_at: row.try_get("created_at")?,
        state: row.try_get("state")?,
    })
}

impl Store {
    /// Replaces the DKIM keys of `domain_name` by `keys` (all for that domain), in one
    /// transaction: a re-registered domain never signs with a former registration's keys.
    ///
    /// Errors: `Database`.
    pub async fn replace_dkim_keys(
        &self,
        domain_name: &str,
        keys: &[DkimKeyRecord],
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM dkim_keys WHERE domain_name = $1")
            .bind(domain_name)
            .execute(&mut *tx)
            .await?;
        for key in keys {
            sqlx::query(
                "INSERT INTO dkim_keys \
                 (domain_name, selector, algorithm, private_key, public_key, created_at, state) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(domain_name)
            .bind(&key.selector)
            .bind(&key.algorithm)
            .bind(&key.private_key)
            .bind(&key.public_key)
            .bind(key.created_at)
            .bind(&key.state)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Starts a rotation of `domain_name`'s keys: adds `keys` (state [`DKIM_PENDING`]) unless
    /// the domain already has pending keys. Returns whether they were added.
    ///
    /// Errors: `Database`.
    pub async fn add_pending_dkim_keys(
        &self,
        domain_name: &str,
        keys: &[DkimKeyRecord],
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM dkim_keys WHERE domain_name = $1 AND state = $2",
        )
        .bind(domain_name)
        .bind(DKIM_PENDING)
        .fetch_one(&mut *tx)
        .await?;
        if pending > 0 {
            return Ok(false);
        }
        for key in keys {
            sqlx::query(
                "INSERT INTO dkim_keys \
                 (domain_name, selector, algorithm, private_key, public_key, created_at, state) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(domain_name)
            .bind(&key.selector)
            .bind(&key.algorithm)
            .bind(&key.private_key)
            .bind(&key.public_key)
            .bind(key.created_at)
            .bind(DKIM_PENDING)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Completes a rotation of `domain_name` once its pending keys are published: the
    /// [`DKIM_ACTIVE`] keys become [`DKIM_RETIRING`] and the [`DKIM_PENDING`] ones
    /// [`DKIM_ACTIVE`], in one transaction. Nothing happens without pending keys.
    ///
    /// Errors: `Database`.
    pub async fn activate_pending_dkim_keys(&self, domain_name: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM dkim_keys WHERE domain_name = $1 AND state = $2",
        )
        .bind(domain_name)
        .bind(DKIM_PENDING)
        .fetch_one(&mut *tx)
        .await?;
        if pending == 0 {
            return Ok(());
        }
        for (from, to) in [(DKIM_ACTIVE, DKIM_RETIRING), (DKIM_PENDING, DKIM_ACTIVE)] {
            sqlx::query("UPDATE dkim_keys SET state = $1 WHERE domain_name = $2 AND state = $3")
                .bind(to)
                .bind(domain_name)
                .bind(from)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the [`DKIM_RETIRING`] key `selector` of `domain_name` (its DNS record is gone).
    ///
    /// Errors: `Database`.
    pub async fn delete_retiring_dkim_key(
        &self,
        domain_name: &str,
        selector: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM dkim_keys WHERE domain_name = $1 AND selector = $2 AND state = $3",
        )
        .bind(domain_name)
        .bind(selector)
        .bind(DKIM_RETIRING)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The DKIM keys of a currently registered mail domain (every state), ordered by
    /// selector; empty when the domain is not registered (any more) or has no key.
    ///
    /// Errors: `Database`.
    pub async fn dkim_keys(&self, domain_name: &str) -> StoreResult<Vec<DkimKeyRecord>> {
        let rows = sqlx::query(
            "SELECT k.domain_name, k.selector, k.algorithm, k.private_key, k.public_key, \
             k.created_at, k.state FROM dkim_keys k \
             JOIN mail_domains d ON d.domain_name = k.domain_name \
             WHERE k.domain_name = $1 ORDER BY k.selector",
        )
        .bind(domain_name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Sets whether inbound DMARC policies are enforced for `account_id`'s organization
    /// `organization_id` (the caller checks the organization exists). Spec: workmail.md §2.25.
    ///
    /// Errors: `Database`.
    pub async fn put_inbound_dmarc_enforced(
        &self,
        account_id: &str,
        organization_id: &str,
        enforced: bool,
        updated_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO inbound_dmarc_settings \
             (organization_id, account_id, enforced, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (organization_id) DO UPDATE SET enforced = excluded.enforced, \
             updated_at = excluded.updated_at \
             WHERE inbound_dmarc_settings.account_id = excluded.account_id",
        )
        .bind(organization_id)
        .bind(account_id)
        .bind(i64::from(enforced))
        .bind(updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether inbound DMARC policies are enforced for `organization_id`: `true` unless it
    /// was turned off (enforcement is on by default, workmail.md §2.25).
    ///
    /// Errors: `Database`.
    pub async fn inbound_dmarc_enforced(&self, organization_id: &str) -> StoreResult<bool> {
        let enforced: Option<i64> = sqlx::query_scalar(
            "SELECT enforced FROM inbound_dmarc_settings WHERE organization_id = $1",
        )
        .bind(organization_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(enforced.is_none_or(|e| e != 0))
    }
}
