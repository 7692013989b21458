//! Mail logins: the user an IMAP/SMTP login address names, with what authentication needs.
//! Spec: workmail.md §1.4.

use sqlx::Row;

use crate::error::StoreResult;
use crate::Store;

/// What an IMAP/SMTP login needs to know about the address it named. Spec: workmail.md §1.4.
#[derive(Debug, Clone)]
pub struct MailLoginRecord {
    /// Owning account.
    pub account_id: String,
    /// Organization of the user.
    pub organization_id: String,
    /// `Active` for a usable organization.
    pub organization_state: String,
    /// The user's entity ID.
    pub user_id: String,
    /// `ENABLED` for a usable user.
    pub user_state: String,
    /// Primary address (lower-case).
    pub email: Option<String>,
    /// Argon2 PHC string.
    pub password_hash: Option<String>,
    /// Whether a mailbox exists for the user.
    pub has_mailbox: bool,
    /// Every address of the user (primary and aliases), lower-case, sorted.
    pub addresses: Vec<String>,
}

impl Store {
    /// The user that owns `login` (an address, matched lower-case) with what authentication
    /// needs; `None` when no user (kind `USER`) has that address.
    pub async fn find_mail_login(&self, login: &str) -> StoreResult<Option<MailLoginRecord>> {
        let row = sqlx::query(
            "SELECT o.account_id, o.organization_id, o.state AS org_state, e.entity_id, \
             e.state AS user_state, e.email, e.password_hash, \
             (SELECT COUNT(*) FROM mailboxes m WHERE m.user_id = e.entity_id) AS mailboxes \
             FROM addresses a JOIN entities e ON e.entity_id = a.entity_id \
             JOIN organizations o ON o.organization_id = e.organization_id \
             WHERE a.address = $1 AND e.kind = 'USER'",
        )
        .bind(login.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user_id: String = row.try_get("entity_id")?;
        let addresses: Vec<String> = sqlx::query_scalar(
            "SELECT address FROM addresses WHERE entity_id = $1 ORDER BY address",
        )
        .bind(&user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(MailLoginRecord {
            account_id: row.try_get("account_id")?,
            organization_id: row.try_get("organization_id")?,
            organization_state: row.try_get("org_state")?,
            user_id,
            user_state: row.try_get("user_state")?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            has_mailbox: row.try_get::<i64, _>("mailboxes")? > 0,
            addresses,
        }))
    }
}
