//! Chime administrator accounts, tenant-scoped. Spec: chime-zh.md §1.2, §2.4.
//!
//! The store keeps rows; the rules (types, licenses, the deletion preconditions, how long a
//! deleted account stays disabled) live in carillon-chime.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::error::StoreResult;
use crate::sql;
use crate::Store;

/// A Chime account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChimeAccountRecord {
    /// The Chime account ID (UUID).
    pub chime_account_id: String,
    /// The Carillon account (tenant, 12 digits) that owns it.
    pub account_id: String,
    /// Account name (1–100 characters).
    pub name: String,
    /// Model `AccountType`: `Team`, `EnterpriseLWA`, …
    pub account_type: String,
    /// Model `AccountStatus`: `Active`, or `Suspended` once deleted (disabled).
    pub account_status: String,
    /// Model `License` given to new users.
    pub default_license: String,
    /// `AccountSettings.DisableRemoteControl`.
    pub disable_remote_control: bool,
    /// `AccountSettings.EnableDialOut`.
    pub enable_dial_out: bool,
    /// Creation, epoch milliseconds.
    pub created_at: i64,
    /// Deletion, epoch milliseconds; `None` while the account is live.
    pub deleted_at: Option<i64>,
}

/// Which accounts a listing returns and where it resumes.
#[derive(Debug, Clone, Default)]
pub struct ChimeAccountFilter {
    /// Only accounts whose name starts with this (case-sensitive).
    pub name_prefix: Option<String>,
    /// Only accounts with an ID greater than this (the previous page's last).
    pub after: Option<String>,
    /// At most this many rows.
    pub limit: i64,
}

const COLUMNS: &str = "chime_account_id, account_id, name, account_type, account_status, \
     default_license, disable_remote_control, enable_dial_out, created_at, deleted_at";

impl FromRow<'_, AnyRow> for ChimeAccountRecord {
    /// A row of [`COLUMNS`] (booleans stored as 0/1).
    fn from_row(row: &AnyRow) -> Result<ChimeAccountRecord, sqlx::Error> {
        Ok(ChimeAccountRecord {
            chime_account_id: row.try_get("chime_account_id")?,
            account_id: row.try_get("account_id")?,
            name: row.try_get("name")?,
            account_type: row.try_get("account_type")?,
            account_status: row.try_get("account_status")?,
            default_license: row.try_get("default_license")?,
            disable_remote_control: row.try_get::<i64, _>("disable_remote_control")? != 0,
            enable_dial_out: row.try_get::<i64, _>("enable_dial_out")? != 0,
            created_at: row.try_get("created_at")?,
            deleted_at: row.try_get("deleted_at")?,
        })
    }
}

impl Store {
    /// Inserts a new Chime account.
    ///
    /// Errors: `Database` (including a duplicate ID or an unknown tenant).
    pub async fn create_chime_account(&self, account: &ChimeAccountRecord) -> StoreResult<()> {
        sql::execute(
            &self.pool,
            &format!(
                "INSERT INTO chime_accounts ({COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &[
                (&account.chime_account_id).into(),
                (&account.account_id).into(),
                (&account.name).into(),
                (&account.account_type).into(),
                (&account.account_status).into(),
                (&account.default_license).into(),
                account.disable_remote_control.into(),
                account.enable_dial_out.into(),
                account.created_at.into(),
                account.deleted_at.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// `account_id`'s Chime account `chime_account_id`, live or deleted after
    /// `deleted_after` (epoch ms; older deleted rows read as gone).
    ///
    /// Errors: `Database`.
    pub async fn chime_account(
        &self,
        account_id: &str,
        chime_account_id: &str,
        deleted_after: i64,
    ) -> StoreResult<Option<ChimeAccountRecord>> {
        sql::fetch_optional(
            &self.pool,
            &format!(
                "SELECT {COLUMNS} FROM chime_accounts \
                 WHERE account_id = $1 AND chime_account_id = $2 \
                 AND (deleted_at IS NULL OR deleted_at > $3)"
            ),
            &[
                account_id.into(),
                chime_account_id.into(),
                deleted_after.into(),
            ],
        )
        .await
    }

    /// `account_id`'s live (not deleted) Chime accounts matching `filter`, by ID.
    ///
    /// Errors: `Database`.
    pub async fn list_chime_accounts(
        &self,
        account_id: &str,
        filter: &ChimeAccountFilter,
    ) -> StoreResult<Vec<ChimeAccountRecord>> {
        let prefix = filter.name_prefix.as_deref().unwrap_or_default();
        let prefix_len = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
        sql::fetch_all(
            &self.pool,
            &format!(
                "SELECT {COLUMNS} FROM chime_accounts \
                 WHERE account_id = $1 AND deleted_at IS NULL \
                 AND ($2 = 0 OR substr(name, 1, CAST($2 AS INTEGER)) = $3) \
                 AND chime_account_id > $4 \
                 ORDER BY chime_account_id LIMIT $5"
            ),
            &[
                account_id.into(),
                prefix_len.into(),
                prefix.into(),
                filter.after.as_deref().unwrap_or_default().into(),
                filter.limit.into(),
            ],
        )
        .await
    }

    /// Writes the mutable fields of `account` (name, type, status, license, settings,
    /// deletion time) to the row of the same tenant and ID; returns whether it existed.
    ///
    /// Errors: `Database`.
    pub async fn update_chime_account(&self, account: &ChimeAccountRecord) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "UPDATE chime_accounts SET name = $3, account_type = $4, account_status = $5, \
             default_license = $6, disable_remote_control = $7, enable_dial_out = $8, \
             deleted_at = $9 \
             WHERE account_id = $1 AND chime_account_id = $2",
            &[
                (&account.account_id).into(),
                (&account.chime_account_id).into(),
                (&account.name).into(),
                (&account.account_type).into(),
                (&account.account_status).into(),
                (&account.default_license).into(),
                account.disable_remote_control.into(),
                account.enable_dial_out.into(),
                account.deleted_at.into(),
            ],
        )
        .await
    }

    /// Removes for good `account_id`'s Chime accounts deleted at or before `cutoff` (epoch
    /// ms); returns how many.
    ///
    /// Errors: `Database`.
    pub async fn purge_chime_accounts(&self, account_id: &str, cutoff: i64) -> StoreResult<u64> {
        sql::execute(
            &self.pool,
            "DELETE FROM chime_accounts WHERE account_id = $1 \
             AND deleted_at IS NOT NULL AND deleted_at <= $2",
            &[account_id.into(), cutoff.into()],
        )
        .await
    }
}
