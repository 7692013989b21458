//! Chime users, their invitations, claimed domains and sign-in delegate groups. Spec:
//! chime-zh.md §1.3, §1.4, §1.6.
//!
//! The store keeps rows; the rules (statuses, licenses, who may be invited, what a domain
//! removal does) live in carillon-chime's `users` and `domains` modules. Rows of a Chime
//! account are read with the tenant (`account_id`) and the Chime account in the filter; an
//! unmanaged identity (a user removed from a Team account) has neither.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::error::{StoreError, StoreResult};
use crate::sql::{self, Arg};
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

impl FromRow<'_, AnyRow> for ChimeUserRecord {
    /// A row of [`USER_COLUMNS`] (booleans stored as 0/1).
    fn from_row(row: &AnyRow) -> Result<ChimeUserRecord, sqlx::Error> {
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
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
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

/// A claimed domain as stored (table `chime_domains`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
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

/// A sign-in delegate group of a Chime account.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChimeDelegateGroupRecord {
    /// The directory group's name (exact match).
    pub group_name: String,
    /// `Basic` or `Pro`: the license its members get.
    pub license: String,
}

/// What a domain removal did ([`Store::delete_chime_domain`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainRemoval {
    /// The users of the domain (released or still suspended), by ID.
    pub users: Vec<String>,
    /// Their memberships of the account's rooms, now deleted.
    pub memberships: Vec<RemovedMembership>,
}

/// A room membership a domain removal deleted.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RemovedMembership {
    /// The room.
    pub room_id: String,
    /// The user.
    pub member_id: String,
    /// `Administrator` or `Member`, as it was.
    pub role: String,
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
        self.chime_user_where(
            "account_id = $1 AND chime_account_id = $2 AND user_id = $3",
            &[account_id.into(), chime_account_id.into(), user_id.into()],
        )
        .await
    }

    /// The identity of `email` (lower-cased), in whichever account it is (or unmanaged): an
    /// address has one identity across Carillon.
    ///
    /// Errors: `Database`.
    pub async fn chime_user_by_email(&self, email: &str) -> StoreResult<Option<ChimeUserRecord>> {
        self.chime_user_where(
            "primary_email = $1",
            &[email.to_lowercase().as_str().into()],
        )
        .await
    }

    /// The identity `user_id`, whichever account it is in (sign-in checks, registration).
    ///
    /// Errors: `Database`.
    pub async fn chime_user_by_id(&self, user_id: &str) -> StoreResult<Option<ChimeUserRecord>> {
        self.chime_user_where("user_id = $1", &[user_id.into()])
            .await
    }

    /// The user matching `condition`, its placeholders bound to `args` in order.
    async fn chime_user_where(
        &self,
        condition: &str,
        args: &[Arg<'_>],
    ) -> StoreResult<Option<ChimeUserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM chime_users WHERE {condition}");
        sql::fetch_optional(&self.pool, &sql, args).await
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
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM chime_users \
             WHERE account_id = $1 AND chime_account_id = $2 \
             AND ($3 = '' OR primary_email = $3) AND ($4 = '' OR user_type = $4) \
             AND user_id > $5 ORDER BY user_id LIMIT $6"
        );
        let email = filter.email.as_deref().unwrap_or_default().to_lowercase();
        let args = [
            account_id.into(),
            chime_account_id.into(),
            email.as_str().into(),
            filter.user_type.as_deref().unwrap_or_default().into(),
            filter.after.as_deref().unwrap_or_default().into(),
            filter.limit.into(),
        ];
        sql::fetch_all(&self.pool, &sql, &args).await
    }

    /// How many users the tenant's Chime account has.
    ///
    /// Errors: `Database`.
    pub async fn count_chime_users(
        &self,
        account_id: &str,
        chime_account_id: &str,
    ) -> StoreResult<i64> {
        self.count_of_chime_account("chime_users", account_id, chime_account_id)
            .await
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
        sql::execute(&mut *tx, DELETE_SESSIONS, &[(&user.user_id).into()]).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Deletes every chat session of `user_id`; returns how many.
    ///
    /// Errors: `Database`.
    pub async fn delete_chime_sessions_of_user(&self, user_id: &str) -> StoreResult<u64> {
        sql::execute(&self.pool, DELETE_SESSIONS, &[user_id.into()]).await
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
        sql::execute(
            &mut *tx,
            "DELETE FROM chime_invitations \
             WHERE account_id = $1 AND chime_account_id = $2 AND user_id = $3",
            &[
                account_id.into(),
                chime_account_id.into(),
                (&user.user_id).into(),
            ],
        )
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
        sql::execute(
            &mut *tx,
            "DELETE FROM chime_invitations \
             WHERE COALESCE(chime_account_id, '') = COALESCE($1, '') AND user_id = $2 \
             AND status = 'Pending'",
            &[
                (&invitation.chime_account_id).into(),
                (&invitation.user_id).into(),
            ],
        )
        .await?;
        let sql = format!(
            "INSERT INTO chime_invitations ({INVITATION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        let args = [
            (&invitation.invite_id).into(),
            (&invitation.account_id).into(),
            (&invitation.chime_account_id).into(),
            (&invitation.user_id).into(),
            (&invitation.email).into(),
            (&invitation.token_hash).into(),
            (&invitation.status).into(),
            (&invitation.email_status).into(),
            invitation.created_at.into(),
            invitation.expires_at.into(),
            invitation.accepted_at.into(),
        ];
        sql::execute(&mut *tx, &sql, &args).await?;
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
        let args = [invite_id.into(), status.into(), email_status.into()];
        sql::execute(
            &mut *tx,
            "UPDATE chime_invitations SET status = $2, email_status = $3 WHERE invite_id = $1",
            &args,
        )
        .await?;
        sql::execute(
            &mut *tx,
            "UPDATE chime_users SET invitation_status = $2 WHERE registration_status = 'Unregistered' \
             AND user_id = (SELECT user_id FROM chime_invitations WHERE invite_id = $1) \
             AND chime_account_id = (SELECT chime_account_id FROM chime_invitations WHERE invite_id = $1)",
            &args[..2],
        )
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
        let sql =
            format!("SELECT {INVITATION_COLUMNS} FROM chime_invitations WHERE token_hash = $1");
        sql::fetch_optional(&self.pool, &sql, &[token_hash.into()]).await
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
        let accepted = sql::changed(
            &mut *tx,
            "UPDATE chime_invitations SET status = 'Accepted', accepted_at = $2 \
             WHERE invite_id = $1 AND status = 'Pending'",
            &[invite_id.into(), now.into()],
        )
        .await?;
        if !accepted {
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
        let sql = format!(
            "INSERT INTO chime_domains ({DOMAIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let args = [
            (&domain.chime_account_id).into(),
            (&domain.domain_name).into(),
            (&domain.account_id).into(),
            (&domain.status).into(),
            (&domain.verification_name).into(),
            (&domain.verification_value).into(),
            domain.created_at.into(),
            domain.verified_at.into(),
            domain.checked_at.into(),
        ];
        sql::execute(&self.pool, &sql, &args).await?;
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
        let domains = self
            .chime_domains_where(
                "account_id = $1 AND chime_account_id = $2 AND domain_name = $3",
                &[
                    account_id.into(),
                    chime_account_id.into(),
                    domain_name.into(),
                ],
            )
            .await?;
        Ok(domains.into_iter().next())
    }

    /// The tenant's Chime account's claims, by name.
    ///
    /// Errors: `Database`.
    pub async fn list_chime_domains(
        &self,
        account_id: &str,
        chime_account_id: &str,
    ) -> StoreResult<Vec<ChimeDomainRecord>> {
        self.chime_domains_where(
            "account_id = $1 AND chime_account_id = $2 ORDER BY domain_name",
            &[account_id.into(), chime_account_id.into()],
        )
        .await
    }

    /// Up to `limit` pending claims of every tenant, least recently checked first (the
    /// verification job).
    ///
    /// Errors: `Database`.
    pub async fn pending_chime_domains(&self, limit: i64) -> StoreResult<Vec<ChimeDomainRecord>> {
        self.chime_domains_where(
            "status = 'PendingVerification' ORDER BY COALESCE(checked_at, 0), domain_name LIMIT $1",
            &[limit.into()],
        )
        .await
    }

    /// The verified claim of `domain_name` (lower-case), whichever tenant holds it.
    ///
    /// Errors: `Database`.
    pub async fn verified_chime_domain(
        &self,
        domain_name: &str,
    ) -> StoreResult<Option<ChimeDomainRecord>> {
        let domains = self
            .chime_domains_where(
                "domain_name = $1 AND status = 'Verified'",
                &[domain_name.into()],
            )
            .await?;
        Ok(domains.into_iter().next())
    }

    /// The claims matching `condition` (with its ordering and limit), its placeholders
    /// bound to `args` in order.
    async fn chime_domains_where(
        &self,
        condition: &str,
        args: &[Arg<'_>],
    ) -> StoreResult<Vec<ChimeDomainRecord>> {
        let sql = format!("SELECT {DOMAIN_COLUMNS} FROM chime_domains WHERE {condition}");
        sql::fetch_all(&self.pool, &sql, args).await
    }

    /// Records a DNS check of a pending claim at `now`.
    ///
    /// Errors: `Database`.
    pub async fn touch_chime_domain(
        &self,
        domain: &ChimeDomainRecord,
        now: i64,
    ) -> StoreResult<()> {
        sql::execute(
            &self.pool,
            "UPDATE chime_domains SET checked_at = $3 \
             WHERE chime_account_id = $1 AND domain_name = $2 AND account_id = $4",
            &[
                (&domain.chime_account_id).into(),
                (&domain.domain_name).into(),
                now.into(),
                (&domain.account_id).into(),
            ],
        )
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
        let verified = sql::changed(
            &mut *tx,
            "UPDATE chime_domains SET status = 'Verified', verified_at = $3, checked_at = $3 \
             WHERE account_id = $4 AND chime_account_id = $1 AND domain_name = $2 \
             AND status = 'PendingVerification'",
            &[
                (&domain.chime_account_id).into(),
                (&domain.domain_name).into(),
                now.into(),
                (&domain.account_id).into(),
            ],
        )
        .await?;
        if !verified {
            return Ok(false);
        }
        sql::execute(
            &mut *tx,
            "UPDATE chime_accounts SET account_type = $3 \
             WHERE account_id = $1 AND chime_account_id = $2 AND account_type = 'Team'",
            &[
                (&domain.account_id).into(),
                (&domain.chime_account_id).into(),
                enterprise_type.into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes the tenant's claim of `domain_name` with its effect on the account's users
    /// whose address is in that domain (chime-zh.md §1.3; chime-ko.md §2.1.5): `Suspended`
    /// users stay suspended, every other one becomes `released_status` (`released_at` =
    /// `now`); all lose their license, assigned number, chat sessions and memberships of
    /// the account's rooms. Returns what it did, or `None` when there was no such claim.
    /// One transaction.
    ///
    /// Errors: `Database`.
    pub async fn delete_chime_domain(
        &self,
        account_id: &str,
        chime_account_id: &str,
        domain_name: &str,
        released_status: &str,
        now: i64,
    ) -> StoreResult<Option<DomainRemoval>> {
        let mut tx = self.begin_write().await?;
        let deleted = sql::changed(
            &mut *tx,
            "DELETE FROM chime_domains \
             WHERE account_id = $1 AND chime_account_id = $2 AND domain_name = $3",
            &[
                account_id.into(),
                chime_account_id.into(),
                domain_name.into(),
            ],
        )
        .await?;
        if !deleted {
            return Ok(None);
        }
        let suffix = format!("@{domain_name}");
        let users = sql::fetch_texts(
            &mut *tx,
            "SELECT user_id FROM chime_users WHERE account_id = $1 AND chime_account_id = $2 \
             AND substr(primary_email, length(primary_email) - length($3) + 1) = $3 \
             ORDER BY user_id",
            &[
                account_id.into(),
                chime_account_id.into(),
                suffix.as_str().into(),
            ],
        )
        .await?;
        for user_id in &users {
            sql::execute(
                &mut *tx,
                "UPDATE chime_users SET registration_status = CASE \
                 WHEN registration_status = 'Suspended' THEN 'Suspended' ELSE $2 END, \
                 released_at = CASE \
                 WHEN registration_status = 'Suspended' THEN released_at ELSE $3 END, \
                 license_type = NULL, primary_provisioned_number = NULL, updated_at = $3 \
                 WHERE user_id = $1 AND account_id = $4",
                &[
                    user_id.into(),
                    released_status.into(),
                    now.into(),
                    account_id.into(),
                ],
            )
            .await?;
            sql::execute(&mut *tx, DELETE_SESSIONS, &[user_id.into()]).await?;
            sql::execute(
                &mut *tx,
                "DELETE FROM chime_invitations WHERE user_id = $1 AND status = 'Pending'",
                &[user_id.into()],
            )
            .await?;
        }
        let rooms_of_account = "SELECT room_id FROM chime_rooms \
             WHERE account_id = $1 AND chime_account_id = $2";
        let mut memberships = Vec::new();
        for user_id in &users {
            let args = [account_id.into(), chime_account_id.into(), user_id.into()];
            let sql = format!(
                "SELECT room_id, member_id, role FROM chime_room_memberships \
                 WHERE account_id = $1 AND member_id = $3 AND member_type = 'User' \
                 AND room_id IN ({rooms_of_account}) ORDER BY room_id"
            );
            let found: Vec<RemovedMembership> = sql::fetch_all(&mut *tx, &sql, &args).await?;
            let sql = format!(
                "DELETE FROM chime_room_memberships \
                 WHERE account_id = $1 AND member_id = $3 AND member_type = 'User' \
                 AND room_id IN ({rooms_of_account})"
            );
            sql::execute(&mut *tx, &sql, &args).await?;
            memberships.extend(found);
        }
        tx.commit().await?;
        Ok(Some(DomainRemoval { users, memberships }))
    }

    /// Moves the tenant-owned users released (by a domain removal) at or before `before`
    /// (epoch ms) out of their account: each becomes an identity of no account and no
    /// license, keeping its `Released` status (it signs up again to use Chime), and the
    /// account's invitations to it are deleted; at most `limit` users, one transaction.
    /// Returns the moved user IDs. Spec: chime-ko.md §2.0.4 (users are deleted after 90
    /// days).
    ///
    /// Errors: `Database`.
    pub async fn purge_released_chime_users(
        &self,
        released_status: &str,
        before: i64,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        let mut tx = self.begin_write().await?;
        let due: Vec<(String, String, String)> = sql::fetch_all(
            &mut *tx,
            "SELECT user_id, account_id, chime_account_id FROM chime_users \
             WHERE registration_status = $1 AND released_at <= $2 \
             AND account_id IS NOT NULL AND chime_account_id IS NOT NULL \
             ORDER BY released_at, user_id LIMIT $3",
            &[released_status.into(), before.into(), limit.into()],
        )
        .await?;
        let mut moved = Vec::with_capacity(due.len());
        for (user_id, account_id, chime_account_id) in due {
            let args = [
                user_id.as_str().into(),
                account_id.as_str().into(),
                chime_account_id.as_str().into(),
                released_status.into(),
                now.into(),
            ];
            let left = sql::changed(
                &mut *tx,
                "UPDATE chime_users SET account_id = NULL, chime_account_id = NULL, \
                 license_type = NULL, updated_at = $5 \
                 WHERE user_id = $1 AND account_id = $2 AND chime_account_id = $3 \
                 AND registration_status = $4",
                &args,
            )
            .await?;
            if !left {
                continue;
            }
            sql::execute(
                &mut *tx,
                "DELETE FROM chime_invitations \
                 WHERE user_id = $1 AND account_id = $2 AND chime_account_id = $3",
                &args[..3],
            )
            .await?;
            moved.push(user_id);
        }
        tx.commit().await?;
        Ok(moved)
    }

    /// How many domains (pending or verified) the tenant's Chime account claims.
    ///
    /// Errors: `Database`.
    pub async fn count_chime_domains(
        &self,
        account_id: &str,
        chime_account_id: &str,
    ) -> StoreResult<i64> {
        self.count_of_chime_account("chime_domains", account_id, chime_account_id)
            .await
    }

    /// How many rows of `table` belong to the tenant's Chime account.
    async fn count_of_chime_account(
        &self,
        table: &'static str,
        account_id: &str,
        chime_account_id: &str,
    ) -> StoreResult<i64> {
        let sql =
            format!("SELECT COUNT(*) FROM {table} WHERE account_id = $1 AND chime_account_id = $2");
        let (count,): (i64,) = sql::fetch_one(
            &self.pool,
            &sql,
            &[account_id.into(), chime_account_id.into()],
        )
        .await?;
        Ok(count)
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
        let args = [account_id.into(), chime_account_id.into(), now.into()];
        for table in ["chime_invitations", "chime_signin_delegate_groups"] {
            let sql =
                format!("DELETE FROM {table} WHERE account_id = $1 AND chime_account_id = $2");
            sql::execute(&mut *tx, &sql, &args[..2]).await?;
        }
        sql::execute(
            &mut *tx,
            "UPDATE chime_users SET account_id = NULL, chime_account_id = NULL, \
             license_type = NULL, updated_at = $3 \
             WHERE account_id = $1 AND chime_account_id = $2",
            &args,
        )
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
            sql::execute(
                &mut *tx,
                DELETE_DELEGATE_GROUP,
                &[
                    account_id.into(),
                    chime_account_id.into(),
                    (&group.group_name).into(),
                ],
            )
            .await?;
            sql::execute(
                &mut *tx,
                "INSERT INTO chime_signin_delegate_groups \
                 (chime_account_id, group_name, account_id, license, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    chime_account_id.into(),
                    (&group.group_name).into(),
                    account_id.into(),
                    (&group.license).into(),
                    now.into(),
                ],
            )
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
            removed += sql::execute(
                &mut *tx,
                DELETE_DELEGATE_GROUP,
                &[account_id.into(), chime_account_id.into(), name.into()],
            )
            .await?;
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
        sql::fetch_all(
            &self.pool,
            "SELECT group_name, license FROM chime_signin_delegate_groups \
             WHERE account_id = $1 AND chime_account_id = $2 ORDER BY group_name",
            &[account_id.into(), chime_account_id.into()],
        )
        .await
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
        sql::fetch_texts(
            &self.pool,
            "SELECT g.name FROM addresses a \
             JOIN entities u ON u.entity_id = a.entity_id \
             JOIN organizations o ON o.organization_id = u.organization_id \
             JOIN group_members m ON m.member_id = u.entity_id \
             JOIN entities g ON g.entity_id = m.group_id \
             WHERE a.address = $1 AND o.account_id = $2 AND u.kind = 'USER' \
             AND u.state = 'ENABLED' AND g.kind = 'GROUP' AND g.state = 'ENABLED' \
             ORDER BY g.name",
            &[email.to_lowercase().as_str().into(), account_id.into()],
        )
        .await
    }
}

/// Every column of `user` in [`USER_COLUMNS`] order (`$1`–`$23`), with `email` (its
/// address lower-cased) for `primary_email`.
fn user_args<'a>(user: &'a ChimeUserRecord, email: &'a str) -> [Arg<'a>; 23] {
    [
        (&user.user_id).into(),
        (&user.account_id).into(),
        (&user.chime_account_id).into(),
        email.into(),
        (&user.display_name).into(),
        (&user.user_type).into(),
        (&user.license_type).into(),
        (&user.registration_status).into(),
        (&user.invitation_status).into(),
        user.invited_at.into(),
        user.registered_at.into(),
        user.trial_started_at.into(),
        (&user.personal_pin).into(),
        (&user.password_hash).into(),
        (&user.privacy).into(),
        user.alexa_enabled.into(),
        (&user.alexa_room_arn).into(),
        user.inbound_calling.into(),
        user.outbound_calling.into(),
        user.sms.into(),
        (&user.primary_provisioned_number).into(),
        user.created_at.into(),
        user.updated_at.into(),
    ]
}

/// Ends every chat session of user `$1`.
const DELETE_SESSIONS: &str = "DELETE FROM chime_sessions WHERE user_id = $1";

/// Removes group `$3` from Chime account `$2` of tenant `$1`.
const DELETE_DELEGATE_GROUP: &str = "DELETE FROM chime_signin_delegate_groups \
     WHERE account_id = $1 AND chime_account_id = $2 AND group_name = $3";

async fn insert_user(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user: &ChimeUserRecord,
) -> StoreResult<()> {
    let placeholders: Vec<String> = (1..=23).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO chime_users ({USER_COLUMNS}) VALUES ({})",
        placeholders.join(", ")
    );
    let email = user.primary_email.to_lowercase();
    sql::execute(&mut **tx, &sql, &user_args(user, &email))
        .await
        .map_err(|e| match e {
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
    let email = user.primary_email.to_lowercase();
    sql::changed(&mut **tx, &sql, &user_args(user, &email)).await
}
