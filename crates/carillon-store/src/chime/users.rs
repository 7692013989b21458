//! Chime users, their invitations, claimed domains and sign-in delegate groups. Spec:
//! chime-zh.md §1.3, §1.4, §1.6.
//!
//! The store keeps rows; the rules (statuses, licenses, who may be invited, what a domain
//! removal does) live in carillon-chime's `users` and `domains` modules. Rows of a Chime
//! account are read with the tenant (`account_id`) and the Chime account in the filter; an
//! unmanaged identity (a user removed from a Team account) has neither.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{StoreError, StoreResult};
use crate::Store;

/// A Chime user as stored (table `chime_users`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChimeUserRecord {
    /// The user ID (UUID).
    pub user_id: String,
    /// The tenant; `None` for an unmanaged identity.
    pub account_id: Option<String>,
    /// The Chime account; `None` for an unmanaged identity.
    pub chime_account_id: Option<String>,
    /// Lower-cased email address, unique across Carillon.
    pub primary_email: String,
    /// Display name chosen at registration.
    pub display_name: Option<String>,
    /// `PrivateUser` or `SharedDevice`.
    pub user_type: String,
    /// `Basic`, `Plus`, `Pro`, `ProTrial`; `None` without a license.
    pub license_type: Option<String>,
    /// `Unregistered`, `Registered`, `Suspended`, or `Released` (after a domain removal).
    pub registration_status: String,
    /// `Pending`, `Accepted`, `Failed`; `None` when never invited.
    pub invitation_status: Option<String>,
    /// Last invitation, epoch ms.
    pub invited_at: Option<i64>,
    /// Registration, epoch ms.
    pub registered_at: Option<i64>,
    /// Start of a ProTrial license, epoch ms.
    pub trial_started_at: Option<i64>,
    /// The 10-digit personal meeting PIN.
    pub personal_pin: String,
    /// Argon2id PHC string; `None` until the user registers.
    pub password_hash: Option<String>,
    /// `Public` or `Private`.
    pub privacy: String,
    /// `AlexaForBusinessMetadata.IsAlexaForBusinessEnabled`.
    pub alexa_enabled: bool,
    /// `AlexaForBusinessMetadata.AlexaForBusinessRoomArn`.
    pub alexa_room_arn: Option<String>,
    /// `TelephonySettings.InboundCalling`.
    pub inbound_calling: bool,
    /// `TelephonySettings.OutboundCalling`.
    pub outbound_calling: bool,
    /// `TelephonySettings.SMS`.
    pub sms: bool,
    /// The assigned E.164 number.
    pub primary_provisioned_number: Option<String>,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
}

const USER_COLUMNS: &str = "user_id, account_id, chime_account_id, primary_email, display_name, \
     user_type, license_type, registration_status, invitation_status, invited_at, registered_at, \
     trial_started_at, personal_pin, password_hash, privacy, alexa_enabled, alexa_room_arn, \
     inbound_calling, outbound_calling, sms, primary_provisioned_number, created_at, updated_at";

fn user_from_row(row: &AnyRow) -> StoreResult<ChimeUserRecord> {
    Ok(ChimeUserRecord {
        user_id: row.try_get("user_id")?,
        account_id: row.try_get("account_id")?,
        chime_account_id: row.try_get("chime_account_id")?,
        primary_email: row.try_get("primary_email")?,
        display_name: row.try_get("display_name")?,
        user_type: row.try_get("user_type")?,
        license_type: row.try_get("license_type")?,
        registration_status: row.try_get("registration_status")?,
        invitation_status: row.try_get("invitation_status")?,
        invited_at: row.try_get("invited_at")?,
        registered_at: row.try_get("registered_at")?,
        trial_started_at: row.try_get("trial_started_at")?,
        personal_pin: row.try_get("personal_pin")?,
        password_hash: row.try_get("password_hash")?,
        privacy: row.try_get("privacy")?,
        alexa_enabled: row.try_get::<i64, _>("alexa_enabled")? != 0,
        alexa_room_arn: row.try_get("alexa_room_arn")?,
        inbound_calling: row.try_get::<i64, _>("inbound_calling")? != 0,
        outbound_calling: row.try_get::<i64, _>("outbound_calling")? != 0,
        sms: row.try_get::<i64, _>("sms")? != 0,
        primary_provisioned_number: row.try_get("primary_provisioned_number")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Which users of a Chime account a listing returns and where it resumes.
#[derive(Debug, Clone, Default)]
pub struct ChimeUserFilter {
    /// Only the user with this (lower-cased) email.
    pub email: Option<String>,
    /// Only users of this type.
    pub user_type: Option<String>,
    /// Only users with an ID greater than this (the previous page's last).
    pub after: Option<String>,
    /// At most this many rows.
    pub limit: i64,
}

/// An invitation or a sign-up confirmation as stored (table `chime_invitations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChimeInvitationRecord {
    /// The invitation ID (UUID), the model's `InviteId`.
    pub invite_id: String,
    /// The tenant; `None` for a self sign-up.
    pub account_id: Option<String>,
    /// The inviting Chime account; `None` for a self sign-up.
    pub chime_account_id: Option<String>,
    /// The identity that registers through it.
    pub user_id: String,
    /// The invited (lower-cased) address.
    pub email: String,
    /// SHA-256 (hex) of the registration token.
    pub token_hash: String,
    /// `Pending`, `Accepted` or `Failed`.
    pub status: String,
    /// `NotSent`, `Sent` or `Failed`.
    pub email_status: String,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// The link stops working then, epoch ms.
    pub expires_at: i64,
    /// Registration through it, epoch ms.
    pub accepted_at: Option<i64>,
}

const INVITATION_COLUMNS: &str = "invite_id, account_id, chime_account_id, user_id, email, \
     token_hash, status, email_status, created_at, expires_at, accepted_at";

fn invitation_from_row(row: &AnyRow) -> StoreResult<ChimeInvitationRecord> {
    Ok(ChimeInvitationRecord {
        invite_id: row.try_get("invite_id")?,
        account_id: row.try_get("account_id")?,
        chime_account_id: row.try_get("chime_account_id")?,
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        token_hash: row.try_get("token_hash")?,
        status: row.try_get("status")?,
        email_status: row.try_get("email_status")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        accepted_at: row.try_get("accepted_at")?,
    })
}

/// A claimed domain as stored (table `chime_domains`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChimeDomainRecord {
    /// The claiming Chime account.
    pub chime_account_id: String,
    /// Lower-case domain name without a trailing dot.
    pub domain_name: String,
    /// The tenant.
    pub account_id: String,
    /// `PendingVerification` or `Verified`.
    pub status: String,
    /// Owner name of the verification TXT record.
    pub verification_name: String,
    /// Value of the verification TXT record.
    pub verification_value: String,
    /// Claim, epoch ms.
    pub created_at: i64,
    /// Verification, epoch ms.
    pub verified_at: Option<i64>,
    /// Last DNS check, epoch ms.
    pub checked_at: Option<i64>,
}

const DOMAIN_COLUMNS: &str = "chime_account_id, domain_name, account_id, status, \
     verification_name, verification_value, created_at, verified_at, checked_at";

fn domain_from_row(row: &AnyRow) -> StoreResult<ChimeDomainRecord> {
    Ok(ChimeDomainRecord {
        chime_account_id: row.try_get("chime_account_id")?,
        domain_name: row.try_get("domain_name")?,
        account_id: row.try_get("account_id")?,
        status: row.try_get("status")?,
        verification_name: row.try_get("verification_name")?,
        verification_value: row.try_get("verification_value")?,
        created_at: row.try_get("created_at")?,
        verified_at: row.try_get("verified_at")?,
        checked_at: row.try_get("checked_at")?,
    })
}

/// A sign-in delegate group of a Chime account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChimeDelegateGroupRecord {
    /// The directory group's name (exact match).
    pub group_name: String,
    /// `Basic` or `Pro`: the license its members get.
    pub license: String,
}

/// Domain status of a claim whose TXT record was found.
pub const DOMAIN_VERIFIED: &str = "Verified";

impl Store {
    /// Inserts a new user.
    ///
    /// Errors: `Conflict` when the email already has an identity; `Database`.
    pub async fn insert_chime_user(&self, user: &ChimeUserRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_user(&mut tx, user).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user `user_id` of the tenant's Chime account.
    ///
    /// Errors: `Database`.
    pub async fn chime_user(
        &self,
        account_id: &str,
        chime_account_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<ChimeUserRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM chime_users \
             WHERE account_id = $1 AND chime_account_id = $2 AND user_id = $3"
        ))
        .bind(account_id)
        .bind(chime_account_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The identity of `email` (lower-cased), in whichever account it is (or unmanaged): an
    /// address has one identity across Carillon.
    ///
    /// Errors: `Database`.
    pub async fn chime_user_by_email(&self, email: &str) -> StoreResult<Option<ChimeUserRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM chime_users WHERE primary_email = $1"
        ))
        .bind(email.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The identity `user_id`, whichever account it is in (sign-in checks, registration).
    ///
    /// Errors: `Database`.
    pub async fn chime_user_by_id(&self, user_id: &str) -> StoreResult<Option<ChimeUserRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM chime_users WHERE user_id = $1"
        ))
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Users of the tenant's Chime account matching `filter`, by ID.
    ///
    /// Errors: `Database`.
    pub async fn list_chime_users(
        &self,
        account_id: &str,
        chime_account_id: &str,
        filter: &ChimeUserFilter,
    ) -> StoreResult<Vec<ChimeUserRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM chime_users \
             WHERE account_id = $1 AND chime_account_id = $2 \
             AND ($3 = '' OR primary_email = $3) AND ($4 = '' OR user_type = $4) \
             AND user_id > $5 ORDER BY user_id LIMIT $6"
        ))
        .bind(account_id)
        .bind(chime_account_id)
        .bind(filter.email.clone().unwrap_or_default().to_lowercase())
        .bind(filter.user_type.clone().unwrap_or_default())
        .bind(filter.after.clone().unwrap_or_default())
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// How many users the tenant's Chime account has.
    ///
    /// Errors: `Database`.
    pub async fn count_chime_users(
        &self,
        account_id: &str,
        chime_account_id: &str,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM chime_users WHERE account_id = $1 AND chime_account_id = $2",
        )
        .bind(account_id)
        .bind(chime_account_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Writes every mutable column of `user` (account membership included) to the row with
    /// its ID; returns whether it existed. The caller read the row scoped to its tenant.
    ///
    /// Errors: `Database`.
    pub async fn update_chime_user(&self, user: &ChimeUserRecord) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let found = update_user(&mut tx, user).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Writes `user` and deletes every chat session of it in one transaction (suspension,
    /// removal); returns whether the user existed.
    ///
    /// Errors: `Database`.
    pub async fn update_chime_user_revoking_sessions(
        &self,
        user: &ChimeUserRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let found = update_user(&mut tx, user).await?;
        sqlx::query("DELETE FROM chime_sessions WHERE user_id = $1")
            .bind(&user.user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Deletes every chat session of `user_id`; returns how many.
    ///
    /// Errors: `Database`.
    pub async fn delete_chime_sessions_of_user(&self, user_id: &str) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM chime_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Removes `user` from its Team account (`user` already carries the unmanaged state:
    /// no account, no license) and deletes the invitations of that account to it, in one
    /// transaction.
    ///
    /// Errors: `Database`.
    pub async fn remove_chime_user_from_account(
        &self,
        account_id: &str,
        chime_account_id: &str,
        user: &ChimeUserRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM chime_invitations \
             WHERE account_id = $1 AND chime_account_id = $2 AND user_id = $3",
        )
        .bind(account_id)
        .bind(chime_account_id)
        .bind(&user.user_id)
        .execute(&mut *tx)
        .await?;
        update_user(&mut tx, user).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a new invitation for `user` (inserted when `new_user`, else written) and
    /// withdraws the user's earlier pending invitations from the same Chime account (or
    /// earlier sign-up links, for a sign-up: only the newest link works), in one
    /// transaction.
    ///
    /// Errors: `Conflict` when a new user's email already has an identity; `Database`.
    pub async fn create_chime_invitation(
        &self,
        invitation: &ChimeInvitationRecord,
        user: &ChimeUserRecord,
        new_user: bool,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if new_user {
            insert_user(&mut tx, user).await?;
        } else {
            update_user(&mut tx, user).await?;
        }
        sqlx::query(
            "DELETE FROM chime_invitations \
             WHERE COALESCE(chime_account_id, '') = COALESCE($1, '') AND user_id = $2 \
             AND status = 'Pending'",
        )
        .bind(&invitation.chime_account_id)
        .bind(&invitation.user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO chime_invitations ({INVITATION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&invitation.invite_id)
        .bind(&invitation.account_id)
        .bind(&invitation.chime_account_id)
        .bind(&invitation.user_id)
        .bind(&invitation.email)
        .bind(&invitation.token_hash)
        .bind(&invitation.status)
        .bind(&invitation.email_status)
        .bind(invitation.created_at)
        .bind(invitation.expires_at)
        .bind(invitation.accepted_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records how sending invitation `invite_id` went: its `status` and `email_status`,
    /// and the invitee's `invitation_status` (when the user is still in the inviting
    /// account and unregistered).
    ///
    /// Errors: `Database`.
    pub async fn set_chime_invitation_outcome(
        &self,
        invite_id: &str,
        status: &str,
        email_status: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE chime_invitations SET status = $2, email_status = $3 WHERE invite_id = $1",
        )
        .bind(invite_id)
        .bind(status)
        .bind(email_status)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE chime_users SET invitation_status = $2 WHERE registration_status = 'Unregistered' \
             AND user_id = (SELECT user_id FROM chime_invitations WHERE invite_id = $1) \
             AND chime_account_id = (SELECT chime_account_id FROM chime_invitations WHERE invite_id = $1)",
        )
        .bind(invite_id)
        .bind(status)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The invitation whose token hashes to `token_hash` (the token is the capability, so
    /// no tenant is needed).
    ///
    /// Errors: `Database`.
    pub async fn chime_invitation_by_token(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<ChimeInvitationRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {INVITATION_COLUMNS} FROM chime_invitations WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(invitation_from_row).transpose()
    }

    /// Accepts the pending invitation `invite_id` at `now` and writes the registered `user`
    /// in one transaction; returns `false` (and changes nothing) when the invitation was no
    /// longer pending, so a token registers once even under concurrent requests.
    ///
    /// Errors: `Database`.
    pub async fn accept_chime_invitation(
        &self,
        invite_id: &str,
        now: i64,
        user: &ChimeUserRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE chime_invitations SET status = 'Accepted', accepted_at = $2 \
             WHERE invite_id = $1 AND status = 'Pending'",
        )
        .bind(invite_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        update_user(&mut tx, user).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Inserts a domain claim.
    ///
    /// Errors: `Conflict` when the Chime account already claims it; `Database`.
    pub async fn insert_chime_domain(&self, domain: &ChimeDomainRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO chime_domains ({DOMAIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&domain.chime_account_id)
        .bind(&domain.domain_name)
        .bind(&domain.account_id)
        .bind(&domain.status)
        .bind(&domain.verification_name)
        .bind(&domain.verification_value)
        .bind(domain.created_at)
        .bind(domain.verified_at)
        .bind(domain.checked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The tenant's Chime account's claim of `domain_name`.
    ///
    /// Errors: `Database`.
    pub async fn chime_domain(
        &self,
        account_id: &str,
        chime_account_id: &str,
        domain_name: &str,
    ) -> StoreResult<Option<ChimeDomainRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM chime_domains \
             WHERE account_id = $1 AND chime_account_id = $2 AND domain_name = $3"
        ))
        .bind(account_id)
        .bind(chime_account_id)
        .bind(domain_name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(domain_from_row).transpose()
    }

    /// The tenant's Chime account's claims, by name.
    ///
    /// Errors: `Database`.
    pub async fn list_chime_domains(
        &self,
        account_id: &str,
        chime_account_id: &str,
    ) -> StoreResult<Vec<ChimeDomainRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM chime_domains \
             WHERE account_id = $1 AND chime_account_id = $2 ORDER BY domain_name"
        ))
        .bind(account_id)
        .bind(chime_account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(domain_from_row).collect()
    }

    /// Up to `limit` pending claims of every tenant, least recently checked first (the
    /// verification job).
    ///
    /// Errors: `Database`.
    pub async fn pending_chime_domains(&self, limit: i64) -> StoreResult<Vec<ChimeDomainRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM chime_domains WHERE status = 'PendingVerification' \
             ORDER BY COALESCE(checked_at, 0), domain_name LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(domain_from_row).collect()
    }

    /// The verified claim of `domain_name` (lower-case), whichever tenant holds it.
    ///
    /// Errors: `Database`.
    pub async fn verified_chime_domain(
        &self,
        domain_name: &str,
    ) -> StoreResult<Option<ChimeDomainRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {DOMAIN_COLUMNS} FROM chime_domains \
             WHERE domain_name = $1 AND status = 'Verified'"
        ))
        .bind(domain_name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(domain_from_row).transpose()
    }

    /// Records a DNS check of a pending claim at `now`.
    ///
    /// Errors: `Database`.
    pub async fn touch_chime_domain(
        &self,
        domain: &ChimeDomainRecord,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE chime_domains SET checked_at = $3 \
             WHERE chime_account_id = $1 AND domain_name = $2",
        )
        .bind(&domain.chime_account_id)
        .bind(&domain.domain_name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a pending claim `Verified` at `now` and, when the Chime account is still
    /// `Team`, makes it `enterprise_type`, in one transaction. Returns `false` when the
    /// claim is gone or no longer pending.
    ///
    /// Errors: `Conflict` when another account already holds the domain verified;
    /// `Database`.
    pub async fn verify_chime_domain(
        &self,
        domain: &ChimeDomainRecord,
        now: i64,
        enterprise_type: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE chime_domains SET status = 'Verified', verified_at = $3, checked_at = $3 \
             WHERE account_id = $4 AND chime_account_id = $1 AND domain_name = $2 \
             AND status = 'PendingVerification'",
        )
        .bind(&domain.chime_account_id)
        .bind(&domain.domain_name)
        .bind(now)
        .bind(&domain.account_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE chime_accounts SET account_type = $3 \
             WHERE account_id = $1 AND chime_account_id = $2 AND account_type = 'Team'",
        )
        .bind(&domain.account_id)
        .bind(&domain.chime_account_id)
        .bind(enterprise_type)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes the tenant's claim of `domain_name` with its effect on the account's users
    /// whose address is in that domain (chime-zh.md §1.3): `Suspended` users stay
    /// suspended, every other one becomes `released_status`; all lose their license,
    /// assigned number and chat sessions. Returns the affected user IDs, or `None` when
    /// there was no such claim. One transaction.
    ///
    /// Errors: `Database`.
    pub async fn delete_chime_domain(
        &self,
        account_id: &str,
        chime_account_id: &str,
        domain_name: &str,
        released_status: &str,
        now: i64,
    ) -> StoreResult<Option<Vec<String>>> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM chime_domains \
             WHERE account_id = $1 AND chime_account_id = $2 AND domain_name = $3",
        )
        .bind(account_id)
        .bind(chime_account_id)
        .bind(domain_name)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let suffix = format!("@{domain_name}");
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT user_id FROM chime_users WHERE account_id = $1 AND chime_account_id = $2 \
             AND substr(primary_email, length(primary_email) - length($3) + 1) = $3 \
             ORDER BY user_id",
        )
        .bind(account_id)
        .bind(chime_account_id)
        .bind(&suffix)
        .fetch_all(&mut *tx)
        .await?;
        for user_id in &users {
            sqlx::query(
                "UPDATE chime_users SET registration_status = CASE \
                 WHEN registration_status = 'Suspended' THEN 'Suspended' ELSE $2 END, \
                 license_type = NULL, primary_provisioned_number = NULL, updated_at = $3 \
                 WHERE user_id = $1",
            )
            .bind(user_id)
            .bind(released_status)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM chime_sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM chime_invitations WHERE user_id = $1 AND status = 'Pending'")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(users))
    }

    /// How many domains (pending or verified) the tenant's Chime account claims.
    ///
    /// Errors: `Database`.
    pub async fn count_chime_domains(
        &self,
        account_id: &str,
        chime_account_id: &str,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM chime_domains WHERE account_id = $1 AND chime_account_id = $2",
        )
        .bind(account_id)
        .bind(chime_account_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Before a Chime account is deleted: its remaining users (an Enterprise account's
    /// users released or suspended by a domain removal) become identities of no account,
    /// keeping their status, and its invitations and delegate groups are removed, in one
    /// transaction.
    ///
    /// Errors: `Database`.
    pub async fn detach_chime_account_users(
        &self,
        account_id: &str,
        chime_account_id: &str,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for table in ["chime_invitations", "chime_signin_delegate_groups"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE account_id = $1 AND chime_account_id = $2"
            ))
            .bind(account_id)
            .bind(chime_account_id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE chime_users SET account_id = NULL, chime_account_id = NULL, \
             license_type = NULL, updated_at = $3 \
             WHERE account_id = $1 AND chime_account_id = $2",
        )
        .bind(account_id)
        .bind(chime_account_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Associates `groups` with the tenant's Chime account (a group already there takes the
    /// new license), in one transaction.
    ///
    /// Errors: `Database`.
    pub async fn put_chime_delegate_groups(
        &self,
        account_id: &str,
        chime_account_id: &str,
        groups: &[ChimeDelegateGroupRecord],
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for group in groups {
            sqlx::query(
                "DELETE FROM chime_signin_delegate_groups \
                 WHERE account_id = $1 AND chime_account_id = $2 AND group_name = $3",
            )
            .bind(account_id)
            .bind(chime_account_id)
            .bind(&group.group_name)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO chime_signin_delegate_groups \
                 (chime_account_id, group_name, account_id, license, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(chime_account_id)
            .bind(&group.group_name)
            .bind(account_id)
            .bind(&group.license)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes the named groups from the tenant's Chime account; returns how many were
    /// there.
    ///
    /// Errors: `Database`.
    pub async fn delete_chime_delegate_groups(
        &self,
        account_id: &str,
        chime_account_id: &str,
        group_names: &[String],
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut removed = 0;
        for name in group_names {
            removed += sqlx::query(
                "DELETE FROM chime_signin_delegate_groups \
                 WHERE account_id = $1 AND chime_account_id = $2 AND group_name = $3",
            )
            .bind(account_id)
            .bind(chime_account_id)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(removed)
    }

    /// The sign-in delegate groups of the tenant's Chime account, by name.
    ///
    /// Errors: `Database`.
    pub async fn chime_delegate_groups(
        &self,
        account_id: &str,
        chime_account_id: &str,
    ) -> StoreResult<Vec<ChimeDelegateGroupRecord>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT group_name, license FROM chime_signin_delegate_groups \
             WHERE account_id = $1 AND chime_account_id = $2 ORDER BY group_name",
        )
        .bind(account_id)
        .bind(chime_account_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(group_name, license)| ChimeDelegateGroupRecord {
                group_name,
                license,
            })
            .collect())
    }

    /// The names of the directory groups `email` belongs to in the tenant's directory: the
    /// enabled WorkMail groups of the tenant's organizations that the enabled user owning
    /// the address is a direct member of.
    ///
    /// Errors: `Database`.
    pub async fn directory_groups_of_email(
        &self,
        account_id: &str,
        email: &str,
    ) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT g.name FROM addresses a \
             JOIN entities u ON u.entity_id = a.entity_id \
             JOIN organizations o ON o.organization_id = u.organization_id \
             JOIN group_members m ON m.member_id = u.entity_id \
             JOIN entities g ON g.entity_id = m.group_id \
             WHERE a.address = $1 AND o.account_id = $2 AND u.kind = 'USER' \
             AND u.state = 'ENABLED' AND g.kind = 'GROUP' AND g.state = 'ENABLED' \
             ORDER BY g.name",
        )
        .bind(email.to_lowercase())
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// `query` with every column of `user` bound in [`USER_COLUMNS`] order ($1–$23).
fn bind_user<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    user: &'q ChimeUserRecord,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(&user.user_id)
        .bind(&user.account_id)
        .bind(&user.chime_account_id)
        .bind(user.primary_email.to_lowercase())
        .bind(&user.display_name)
        .bind(&user.user_type)
        .bind(&user.license_type)
        .bind(&user.registration_status)
        .bind(&user.invitation_status)
        .bind(user.invited_at)
        .bind(user.registered_at)
        .bind(user.trial_started_at)
        .bind(&user.personal_pin)
        .bind(&user.password_hash)
        .bind(&user.privacy)
        .bind(i64::from(user.alexa_enabled))
        .bind(&user.alexa_room_arn)
        .bind(i64::from(user.inbound_calling))
        .bind(i64::from(user.outbound_calling))
        .bind(i64::from(user.sms))
        .bind(&user.primary_provisioned_number)
        .bind(user.created_at)
        .bind(user.updated_at)
}

async fn insert_user(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user: &ChimeUserRecord,
) -> StoreResult<()> {
    let placeholders: Vec<String> = (1..=23).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO chime_users ({USER_COLUMNS}) VALUES ({})",
        placeholders.join(", ")
    );
    bind_user(sqlx::query(&sql), user)
        .execute(&mut **tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "{} already has a Chime identity",
                user.primary_email
            )),
            other => other,
        })?;
    Ok(())
}

/// Writes every column of `user` (the ID and the address stay what they are).
async fn update_user(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user: &ChimeUserRecord,
) -> StoreResult<bool> {
    let assignments: Vec<String> = USER_COLUMNS
        .split(", ")
        .enumerate()
        .skip(1)
        .filter(|(_, column)| *column != "primary_email" && *column != "created_at")
        .map(|(i, column)| format!("{column} = ${}", i + 1))
        .collect();
    let sql = format!(
        "UPDATE chime_users SET {} WHERE user_id = $1 AND primary_email = $4",
        assignments.join(", ")
    );
    let done = bind_user(sqlx::query(&sql), user)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}
