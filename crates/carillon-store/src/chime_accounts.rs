//! Chime administrator accounts, tenant-scoped. Spec: chime-zh.md §1.2, §2.4.
//!
//! The store keeps rows; the rules (types, licenses, the deletion preconditions, how long a
//! deleted account stays disabled) live in carillon-chime.

use crate::error::StoreResult;
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

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
);

const COLUMNS: &str = "chime_account_id, account_id, name, account_type, account_status, \
     default_license, disable_remote_control, enable_dial_out, created_at, deleted_at";

fn record(row: Row) -> ChimeAccountRecord {
    let (
        id,
        account_id,
        name,
        account_type,
        account_status,
        default_license,
        remote,
        dial,
        created_at,
        deleted_at,
    ) = row;
    ChimeAccountRecord {
        chime_account_id: id,
        account_id,
        name,
        account_type,
        account_status,
        default_license,
        disable_remote_control: remote != 0,
        enable_dial_out: dial != 0,
        created_at,
        deleted_at,
    }
}

impl Store {
    /// Inserts a new Chime account.
    ///
    /// Errors: `Database` (including a duplicate ID or an unknown tenant).
    pub async fn create_chime_account(&self, account: &ChimeAccountRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO chime_accounts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&account.chime_account_id)
        .bind(&account.account_id)
        .bind(&account.name)
        .bind(&account.account_type)
        .bind(&account.account_status)
        .bind(&account.default_license)
        .bind(i64::from(account.disable_remote_control))
        .bind(i64::from(account.enable_dial_out))
        .bind(account.created_at)
        .bind(account.deleted_at)
        .execute(&self.pool)
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
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM chime_accounts \
             WHERE account_id = $1 AND chime_account_id = $2 \
             AND (deleted_at IS NULL OR deleted_at > $3)"
        ))
        .bind(account_id)
        .bind(chime_account_id)
        .bind(deleted_after)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(record))
    }

    /// `account_id`'s live (not deleted) Chime accounts matching `filter`, by ID.
    ///
    /// Errors: `Database`.
    pub async fn list_chime_accounts(
        &self,
        account_id: &str,
        filter: &ChimeAccountFilter,
    ) -> StoreResult<Vec<ChimeAccountRecord>> {
        let prefix = filter.name_prefix.clone().unwrap_or_default();
        let prefix_len = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM chime_accounts \
             WHERE account_id = $1 AND deleted_at IS NULL \
             AND ($2 = 0 OR substr(name, 1, CAST($2 AS INTEGER)) = $3) AND chime_account_id > $4 \
             ORDER BY chime_account_id LIMIT $5"
        ))
        .bind(account_id)
        .bind(prefix_len)
        .bind(prefix)
        .bind(filter.after.clone().unwrap_or_default())
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(record).collect())
    }

    /// Writes the mutable fields of `account` (name, type, status, license, settings,
    /// deletion time) to the row of the same tenant and ID; returns whether it existed.
    ///
    /// Errors: `Database`.
    pub async fn update_chime_account(&self, account: &ChimeAccountRecord) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE chime_accounts SET name = $3, account_type = $4, account_status = $5, \
             default_license = $6, disable_remote_control = $7, enable_dial_out = $8, \
             deleted_at = $9 \
             WHERE account_id = $1 AND chime_account_id = $2",
        )
        .bind(&account.account_id)
        .bind(&account.chime_account_id)
        .bind(&account.name)
        .bind(&account.account_type)
        .bind(&account.account_status)
        .bind(&account.default_license)
        .bind(i64::from(account.disable_remote_control))
        .bind(i64::from(account.enable_dial_out))
        .bind(account.deleted_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes for good `account_id`'s Chime accounts deleted at or before `cutoff` (epoch
    /// ms); returns how many.
    ///
    /// Errors: `Database`.
    pub async fn purge_chime_accounts(&self, account_id: &str, cutoff: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM chime_accounts WHERE account_id = $1 \
             AND deleted_at IS NOT NULL AND deleted_at <= $2",
        )
        .bind(account_id)
        .bind(cutoff)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
