//! Chime users: InviteUsers, CreateUser, GetUser, ListUsers, UpdateUser, BatchUpdateUser,
//! BatchSuspendUser, BatchUnsuspendUser, LogoutUser, ResetPersonalPIN, GetUserSettings,
//! UpdateUserSettings, and registration from an invitation link ([`register`]). Spec:
//! chime-zh.md §1.3, §2.12; chime-ko.md §2.0.3, §2.0.4, §2.2.
//!
//! Identities: an email address has one `chime_users` row across Carillon. A new address
//! invited to an account gets a row there at once (`Unregistered`, invitation `Pending`);
//! an address with an identity elsewhere (unmanaged, or another Team account) moves to the
//! inviting account when it registers from the link. Registering with an address of a
//! domain another account holds verified joins that Enterprise account instead (§1.2).
//!
//! Licenses: a user registering gets the account's `DefaultLicense`; a `ProTrial` user
//! (30 days from `trial_started_at`) gets `Pro` on joining, which ends the trial (§2.12.6);
//! an expired trial shows `Basic`. Administrators assign `Basic` or `Pro`, except in an
//! account with sign-in delegate groups, where group membership decides ([`may_sign_in`]).
//!
//! Team vs Enterprise (§1.2, §2.0.3): BatchSuspendUser on a Team account removes the users
//! (their identity stays, unmanaged: no account, no license, still able to sign in); on an
//! Enterprise account it suspends them (sessions revoked, no sign-in) and
//! BatchUnsuspendUser lifts it. A user released by a domain removal has the stored
//! registration status `Released`, shown as `UserRegistrationStatus: "Released"` (the
//! guide's console value, beyond the model's enum).

use std::collections::BTreeSet;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use carillon_awsapi::generated::chime::*;
use carillon_core::time::{millis_to_datetime, now_millis};
use carillon_core::{ApiError, RequestContext};
use carillon_store::chime::users::{ChimeInvitationRecord, ChimeUserFilter, ChimeUserRecord};
use carillon_store::{ChimeAccountRecord, StoreError};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::accounts::SUPPORTED_LICENSES;
use crate::errors::{bad_request, codes, error, Error, Result};
use crate::hub::ChatEvent;
use crate::Chime;

/// `RegistrationStatus` values (plus `Released`, see the module docs).
pub const UNREGISTERED: &str = "Unregistered";
/// A user who set a password from an invitation link.
pub const REGISTERED: &str = "Registered";
/// A suspended Enterprise user (no sign-in).
pub const SUSPENDED: &str = "Suspended";
/// A user whose domain was removed from the Enterprise account (§1.3).
pub const RELEASED: &str = "Released";
/// `InviteStatus` of an invitation not yet used.
pub const PENDING: &str = "Pending";
/// `InviteStatus` once the invitee registered.
pub const ACCEPTED: &str = "Accepted";
/// `InviteStatus` / `EmailStatus` when the email could not be sent.
pub const FAILED: &str = "Failed";
/// The 30-day trial license.
pub const PRO_TRIAL: &str = "ProTrial";
/// Length of a Pro trial: 30 days, in milliseconds.
pub const TRIAL_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// How long an invitation link works: 30 days, in milliseconds.
pub const INVITATION_TTL_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// Shortest password accepted at registration.
pub const MIN_PASSWORD: usize = 8;
/// Most addresses of one InviteUsers and users of one BatchSuspendUser/BatchUnsuspendUser.
const MAX_BATCH: usize = 50;
/// Most items of one BatchUpdateUser.
const MAX_UPDATE_BATCH: usize = 20;
/// Default and largest `MaxResults` of ListUsers (model `ProfileServiceMaxResults`).
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 200;
const USER_TYPES: [&str; 2] = ["PrivateUser", "SharedDevice"];
const MAX_DISPLAY_NAME: usize = 100;

fn not_found(user_id: &str) -> Error {
    error(codes::NOT_FOUND, format!("User {user_id} was not found"))
}

/// A new 10-digit personal meeting PIN.
fn new_pin() -> String {
    let mut rng = rand::thread_rng();
    (0..10)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// SHA-256 (hex) of a registration token: what the store keeps.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks an `EmailAddress` (`.+@.+\..+`, no white space, ≤ 254 characters) in `member` and
/// returns it lower-cased.
///
/// Errors: `BadRequestException` naming `member`.
pub(crate) fn check_email(member: &str, email: &str) -> Result<String> {
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.rsplit_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain
                    .split_once('.')
                    .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        });
    if !valid {
        return Err(bad_request(format!("{member} must be an email address")));
    }
    Ok(email.to_lowercase())
}

/// The domain of a lower-cased address.
pub(crate) fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map_or("", |(_, domain)| domain)
}

fn check_user_type(member: &str, user_type: Option<&str>) -> Result<Option<String>> {
    match user_type {
        None => Ok(None),
        Some(t) if USER_TYPES.contains(&t) => Ok(Some(t.to_string())),
        Some(_) => Err(bad_request(format!(
            "{member} must be one of {}",
            USER_TYPES.join(", ")
        ))),
    }
}

fn check_user_id(user_id: &str) -> Result<()> {
    if user_id.trim().is_empty() {
        return Err(bad_request("UserId must not be empty"));
    }
    Ok(())
}

/// The license a user holds now: an expired `ProTrial` reads `Basic`.
fn effective_license(user: &ChimeUserRecord, now: i64) -> Option<String> {
    match (user.license_type.as_deref(), user.trial_started_at) {
        (Some(PRO_TRIAL), Some(start)) if now >= start.saturating_add(TRIAL_MS) => {
            Some("Basic".to_string())
        }
        (license, _) => license.map(str::to_string),
    }
}

/// The model's `User` for a stored user.
fn user_shape(user: &ChimeUserRecord) -> User {
    let timestamp = |ms: i64| millis_to_datetime(ms).into();
    User {
        account_id: user.chime_account_id.clone(),
        alexa_for_business_metadata: Some(AlexaForBusinessMetadata {
            alexa_for_business_room_arn: user.alexa_room_arn.clone(),
            is_alexa_for_business_enabled: Some(user.alexa_enabled),
        }),
        display_name: user.display_name.clone(),
        invited_on: user.invited_at.map(timestamp),
        license_type: effective_license(user, now_millis()),
        personal_pin: Some(user.personal_pin.clone()),
        primary_email: Some(user.primary_email.clone()),
        primary_provisioned_number: user.primary_provisioned_number.clone(),
        registered_on: user.registered_at.map(timestamp),
        user_id: user.user_id.clone(),
        user_invitation_status: user.invitation_status.clone(),
        user_registration_status: Some(user.registration_status.clone()),
        user_type: Some(user.user_type.clone()),
    }
}

/// The license of a member of `groups` (names the user belongs to) under the account's
/// delegate groups: Pro when any Pro group has them, Basic for a Basic group, else none
/// (no sign-in). Spec: chime-zh.md §1.6.
fn directory_license(
    delegate: &[carillon_store::chime::users::ChimeDelegateGroupRecord],
    member_of: &[String],
) -> Option<String> {
    let mut best: Option<&str> = None;
    for group in delegate {
        if member_of.contains(&group.group_name) {
            if group.license == "Pro" {
                return Some("Pro".to_string());
            }
            best = Some(group.license.as_str());
        }
    }
    best.map(str::to_string)
}

fn user_error(user_id: &str, code: &str, message: impl Into<String>) -> UserError {
    UserError {
        error_code: Some(code.to_string()),
        error_message: Some(message.into()),
        user_id: Some(user_id.to_string()),
    }
}

/// A fresh user row of `account` for `email` (unregistered, the account's default license).
fn new_user(
    account: &ChimeAccountRecord,
    email: &str,
    user_type: &str,
    now: i64,
) -> ChimeUserRecord {
    ChimeUserRecord {
        account_id: Some(account.account_id.clone()),
        chime_account_id: Some(account.chime_account_id.clone()),
        license_type: Some(account.default_license.clone()),
        ..new_user_fields(email, user_type, now)
    }
}

/// A fresh unregistered identity for `email` of no account, without a license.
fn new_user_fields(email: &str, user_type: &str, now: i64) -> ChimeUserRecord {
    ChimeUserRecord {
        user_id: carillon_core::ids::new_uuid(),
        account_id: None,
        chime_account_id: None,
        primary_email: email.to_string(),
        display_name: None,
        user_type: user_type.to_string(),
        license_type: None,
        registration_status: UNREGISTERED.to_string(),
        invitation_status: None,
        invited_at: None,
        registered_at: None,
        trial_started_at: None,
        personal_pin: new_pin(),
        password_hash: None,
        privacy: "Public".to_string(),
        alexa_enabled: false,
        alexa_room_arn: None,
        inbound_calling: true,
        outbound_calling: true,
        sms: true,
        primary_provisioned_number: None,
        created_at: now,
        updated_at: now,
    }
}

impl Chime {
    /// The user `user_id` of the caller's live Chime account `chime_account_id`.
    ///
    /// Errors: `NotFoundException` for the account or the user; `BadRequestException`
    /// naming `AccountId` or `UserId`.
    async fn user(
        &self,
        ctx: &RequestContext,
        chime_account_id: &str,
        user_id: &str,
    ) -> Result<(ChimeAccountRecord, ChimeUserRecord)> {
        check_user_id(user_id)?;
        let account = self.live_account(ctx, chime_account_id).await?;
        let user = self
            .store
            .chime_user(&ctx.account_id, &account.chime_account_id, user_id)
            .await?
            .ok_or_else(|| not_found(user_id))?;
        Ok((account, user))
    }

    /// Whether the account manages licenses through sign-in delegate groups.
    async fn has_delegate_groups(&self, account: &ChimeAccountRecord) -> Result<bool> {
        Ok(!self
            .store
            .chime_delegate_groups(&account.account_id, &account.chime_account_id)
            .await?
            .is_empty())
    }

    async fn write_user(&self, user: &ChimeUserRecord) -> Result<()> {
        let found = self.store.update_chime_user(user).await?;
        if !found {
            return Err(not_found(&user.user_id));
        }
        Ok(())
    }

    /// The Chime account holding `email`'s domain verified, if any (§1.2: its users join it).
    async fn claiming_account(&self, email: &str) -> Result<Option<ChimeAccountRecord>> {
        let Some(domain) = self
            .store
            .verified_chime_domain(email_domain(email))
            .await?
        else {
            return Ok(None);
        };
        self.store
            .chime_account(&domain.account_id, &domain.chime_account_id, i64::MAX)
            .await
            .map_err(Error::from)
    }
}

/// The changes of UpdateUser / one BatchUpdateUser item.
struct UserChange {
    license_type: Option<String>,
    user_type: Option<String>,
    alexa: Option<AlexaForBusinessMetadata>,
}

/// Applies `change` to `user`, checking it against the account's rules.
///
/// Errors: `BadRequestException` naming `LicenseType` or `UserType`, or for a released
/// user; `ForbiddenException` for a license in an account whose delegate groups decide.
fn apply_change(user: &mut ChimeUserRecord, change: UserChange, groups: bool) -> Result<()> {
    if user.registration_status == RELEASED {
        return Err(bad_request(format!(
            "User {} was released by a domain removal and can no longer be changed",
            user.user_id
        )));
    }
    if let Some(license) = change.license_type {
        if !SUPPORTED_LICENSES.contains(&license.as_str()) {
            return Err(bad_request(format!(
                "LicenseType must be one of the account's supported licenses: {}",
                SUPPORTED_LICENSES.join(", ")
            )));
        }
        if groups {
            return Err(error(
                codes::FORBIDDEN,
                "Licenses of this account are given by its sign-in delegate groups",
            ));
        }
        user.license_type = Some(license);
    }
    if let Some(user_type) = check_user_type("UserType", change.user_type.as_deref())? {
        user.user_type = user_type;
    }
    if let Some(alexa) = change.alexa {
        if let Some(enabled) = alexa.is_alexa_for_business_enabled {
            user.alexa_enabled = enabled;
        }
        if let Some(arn) = alexa.alexa_for_business_room_arn {
            user.alexa_room_arn = Some(arn);
        }
        if user.alexa_enabled && user.alexa_room_arn.is_none() {
            return Err(bad_request(
                "AlexaForBusinessRoomArn is required to enable Alexa for Business",
            ));
        }
    }
    user.updated_at = now_millis();
    Ok(())
}

/// `InviteUsers`: sends each address (1–50, deduplicated) an invitation email naming the
/// account, with a single-use registration link `<public_url>/chat/v1/register?token=…`
/// valid [`INVITATION_TTL_MS`]. A new address becomes an `Unregistered` user of the account
/// with invitation `Pending`; when the mail path refuses the message (or none is
/// configured) the invitation and the user's invitation status are `Failed`. An address
/// already registered in the account is answered `Accepted` without an email; one of a
/// domain another account claimed, or of a suspended identity, is `Failed` without an
/// email. Spec: chime-zh.md §2.3 step 3, §2.12; chime-ko.md §2.2.1.
///
/// Errors: `NotFoundException` (also for a deleted account); `BadRequestException` naming
/// `UserEmailList` or `UserType`.
pub(crate) async fn invite_users(
    chime: &Chime,
    ctx: &RequestContext,
    input: InviteUsersRequest,
) -> Result<InviteUsersResponse> {
    if input.user_email_list.is_empty() || input.user_email_list.len() > MAX_BATCH {
        return Err(bad_request(format!(
            "UserEmailList must hold 1 to {MAX_BATCH} addresses"
        )));
    }
    let user_type = check_user_type("UserType", input.user_type.as_deref())?
        .unwrap_or_else(|| USER_TYPES[0].to_string());
    let mut emails = BTreeSet::new();
    for email in &input.user_email_list {
        emails.insert(check_email("UserEmailList", email)?);
    }
    let account = chime.live_account(ctx, &input.account_id).await?;
    let mut invites = Vec::new();
    for email in emails {
        invites.push(invite_one(chime, &account, &email, &user_type).await?);
    }
    Ok(InviteUsersResponse {
        invites: Some(invites),
    })
}

fn invite(email: &str, invite_id: &str, status: &str, email_status: &str) -> Invite {
    Invite {
        email_address: Some(email.to_string()),
        email_status: Some(email_status.to_string()),
        invite_id: Some(invite_id.to_string()),
        status: Some(status.to_string()),
    }
}

async fn invite_one(
    chime: &Chime,
    account: &ChimeAccountRecord,
    email: &str,
    user_type: &str,
) -> Result<Invite> {
    let now = now_millis();
    let invite_id = carillon_core::ids::new_uuid();
    if let Some(claimer) = chime.claiming_account(email).await? {
        if claimer.chime_account_id != account.chime_account_id {
            return Ok(invite(email, &invite_id, FAILED, "NotSent"));
        }
    }
    let existing = chime.store.chime_user_by_email(email).await?;
    let in_account = |u: &ChimeUserRecord| {
        u.chime_account_id.as_deref() == Some(account.chime_account_id.as_str())
    };
    let (user, is_new) = match existing {
        None => {
            let mut user = new_user(account, email, user_type, now);
            user.invitation_status = Some(PENDING.to_string());
            user.invited_at = Some(now);
            (user, true)
        }
        Some(u) if in_account(&u) && u.registration_status == REGISTERED => {
            return Ok(invite(email, &invite_id, ACCEPTED, "NotSent"));
        }
        Some(u)
            if u.registration_status == SUSPENDED
                || (in_account(&u) && u.registration_status == RELEASED) =>
        {
            return Ok(invite(email, &invite_id, FAILED, "NotSent"));
        }
        Some(mut u) if in_account(&u) => {
            u.invitation_status = Some(PENDING.to_string());
            u.invited_at = Some(now);
            u.updated_at = now;
            (u, false)
        }
        // An identity elsewhere moves here only when it registers from the link.
        Some(u) => (u, false),
    };
    let (status, email_status) =
        match send_link(chime, Some(account), &invite_id, &user, is_new, now).await? {
            Some(outcome) => outcome,
            // Another request made this address's identity a moment ago.
            None => return Ok(invite(email, &invite_id, FAILED, "NotSent")),
        };
    Ok(invite(email, &invite_id, status, email_status))
}

/// Stores a registration link for `user` (an invitation to `account`, or a sign-up
/// confirmation without one), mails it and records how sending went. Returns the
/// invitation's `(Status, EmailStatus)`: `Pending`/`Sent`, or `Failed`/`Failed` when the
/// mail path refused the message or none is configured; `None` when `user` is new and its
/// address got an identity meanwhile.
///
/// Errors: `ServiceFailureException` when the store fails.
async fn send_link(
    chime: &Chime,
    account: Option<&ChimeAccountRecord>,
    invite_id: &str,
    user: &ChimeUserRecord,
    is_new: bool,
    now: i64,
) -> Result<Option<(&'static str, &'static str)>> {
    let email = user.primary_email.as_str();
    let token = {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill(&mut bytes);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let invitation = ChimeInvitationRecord {
        invite_id: invite_id.to_string(),
        account_id: account.map(|a| a.account_id.clone()),
        chime_account_id: account.map(|a| a.chime_account_id.clone()),
        user_id: user.user_id.clone(),
        email: email.to_string(),
        token_hash: token_hash(&token),
        status: PENDING.to_string(),
        email_status: "NotSent".to_string(),
        created_at: now,
        expires_at: now.saturating_add(INVITATION_TTL_MS),
        accepted_at: None,
    };
    match chime
        .store
        .create_chime_invitation(&invitation, user, is_new)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(Error::from(e)),
    }
    let link = format!(
        "{}/chat/v1/register?token={token}",
        chime.config.public_url.trim_end_matches('/')
    );
    let sent = match &chime.config.mailer {
        None => Err("no mail path is configured".to_string()),
        Some(mailer) => match link_message(chime, account, email, &link) {
            Ok((from, message)) => mailer.send(&from, email, message).await,
            Err(e) => Err(e),
        },
    };
    let outcome = match sent {
        Ok(()) => (PENDING, "Sent"),
        Err(reason) => {
            tracing::warn!(invite_id, %reason, "Chime registration email not sent");
            (FAILED, FAILED)
        }
    };
    chime
        .store
        .set_chime_invitation_outcome(invite_id, outcome.0, outcome.1)
        .await?;
    Ok(Some(outcome))
}

/// The registration email (envelope sender and RFC 5322 message) for `email`, carrying the
/// registration `link`: an invitation naming `account` (§1.2), or a sign-up confirmation.
fn link_message(
    chime: &Chime,
    account: Option<&ChimeAccountRecord>,
    email: &str,
    link: &str,
) -> Result<(String, Vec<u8>), String> {
    let from = format!("no-reply@{}", chime.config.hostname);
    let (subject, intro_text, intro_html) = match account {
        Some(account) => {
            let name = &account.name;
            (
                format!("Invitation to join {name} on Amazon Chime"),
                format!(
                    "You have been invited to join the Amazon Chime account \"{name}\" on Carillon."
                ),
                format!(
                    "You have been invited to join the Amazon Chime account <b>{}</b> on Carillon.",
                    html_escape(name)
                ),
            )
        }
        None => {
            let intro = "Finish creating your Amazon Chime account on Carillon.".to_string();
            (
                "Confirm your Amazon Chime sign-up".to_string(),
                intro.clone(),
                intro,
            )
        }
    };
    let text = format!(
        "{intro_text}\r\n\r\n\
         Register (choose a password and a display name) within 30 days at:\r\n{link}\r\n\r\n\
         If you did not expect this message, you can ignore it.\r\n"
    );
    let html = format!(
        "<p>{intro_html}</p>\
         <p><a href=\"{}\">Register</a> (choose a password and a display name) within 30 days.</p>",
        html_escape(link)
    );
    let message = mail_builder::MessageBuilder::new()
        .from(("Amazon Chime", from.as_str()))
        .to(email)
        .subject(subject)
        .text_body(text)
        .html_body(html)
        .write_to_vec()
        .map_err(|e| format!("building the registration message: {e}"))?;
    Ok((from, message))
}

/// `text` safe inside HTML text and attribute values.
pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The pending invitation of the link carrying `token`.
///
/// Errors: `BadRequestException` for a blank token or a link already used, expired or void
/// (its email could not be sent); `NotFoundException` for an unknown token.
async fn pending_invitation(chime: &Chime, token: &str) -> Result<ChimeInvitationRecord> {
    if token.trim().is_empty() {
        return Err(bad_request("Token must not be empty"));
    }
    let invitation = chime
        .store
        .chime_invitation_by_token(&token_hash(token))
        .await?
        .ok_or_else(|| error(codes::NOT_FOUND, "This registration link is not valid"))?;
    match invitation.status.as_str() {
        PENDING if now_millis() < invitation.expires_at => Ok(invitation),
        PENDING => Err(bad_request("This registration link has expired")),
        ACCEPTED => Err(bad_request("This registration link was already used")),
        _ => Err(bad_request("This registration link is void")),
    }
}

/// The invited address of the link carrying `token`, while it can still register (the
/// registration form shows it).
///
/// Errors: as [`register`] for the token.
pub async fn invited_email(chime: &Chime, token: &str) -> Result<String> {
    Ok(pending_invitation(chime, token).await?.email)
}

/// What a successful registration made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The user (Chime user ID).
    pub user_id: String,
    /// Their address (lower-cased).
    pub email: String,
    /// The Chime account they joined; `None` for an unmanaged identity (a sign-up outside
    /// any claimed domain).
    pub chime_account_id: Option<String>,
    /// Its name.
    pub account_name: Option<String>,
    /// Their license now.
    pub license_type: Option<String>,
}

/// Self sign-up ("Create an Amazon Chime account", chime-zh.md §2.12 "Invite Enterprise
/// users"; chime-ko.md §2.2.1): mails `email` a registration link (valid 30 days, single
/// use). A new address of a domain an Enterprise account holds verified is added to that
/// account at once (`Unregistered`, §1.2); any other new address gets an identity of no
/// account. Registering from the link then joins the claiming account, or the account an
/// administrator created the user in (CreateUser), or leaves an unmanaged identity with
/// the 30-day Pro trial (§1.3).
///
/// Errors: `BadRequestException` naming `Email`; `ConflictException` when the address is
/// already registered; `ForbiddenException` for a suspended identity;
/// `ServiceFailureException` when the email could not be sent.
pub async fn sign_up(chime: &Chime, email: &str) -> Result<()> {
    let email = check_email("Email", email)?;
    let now = now_millis();
    let existing = chime.store.chime_user_by_email(&email).await?;
    let (user, is_new) = match existing {
        Some(u) if u.registration_status == SUSPENDED => {
            return Err(error(
                codes::FORBIDDEN,
                "This user is suspended and cannot sign up",
            ))
        }
        Some(u) if u.registration_status == REGISTERED => {
            return Err(error(
                codes::CONFLICT,
                format!("{email} already has an Amazon Chime account: sign in instead"),
            ))
        }
        Some(u) => (u, false),
        None => {
            let user = match chime.claiming_account(&email).await? {
                Some(claimer) if claimer.deleted_at.is_none() => {
                    new_user(&claimer, &email, USER_TYPES[0], now)
                }
                _ => ChimeUserRecord {
                    account_id: None,
                    chime_account_id: None,
                    license_type: None,
                    ..new_user_fields(&email, USER_TYPES[0], now)
                },
            };
            (user, true)
        }
    };
    let invite_id = carillon_core::ids::new_uuid();
    match send_link(chime, None, &invite_id, &user, is_new, now).await? {
        Some((PENDING, _)) => Ok(()),
        Some(_) => Err(error(
            "ServiceFailureException",
            "The confirmation email could not be sent",
        )),
        None => Err(error(
            codes::CONFLICT,
            format!("{email} already has an Amazon Chime identity"),
        )),
    }
}

/// The live Chime account `(account_id, chime_account_id)`, if both are given and it is.
async fn live_account_of(
    chime: &Chime,
    account_id: Option<&str>,
    chime_account_id: Option<&str>,
) -> Result<Option<ChimeAccountRecord>> {
    let (Some(account_id), Some(chime_account_id)) = (account_id, chime_account_id) else {
        return Ok(None);
    };
    Ok(chime
        .store
        .chime_account(account_id, chime_account_id, i64::MAX)
        .await?
        .filter(|a| a.deleted_at.is_none()))
}

/// Registers the identity of the link carrying `token` (an invitation or a sign-up
/// confirmation): sets `password` (hashed with Argon2id, PHC string) and `display_name`,
/// moves the user to `Registered` (`RegisteredOn` now) and the link `Pending` →
/// `Accepted`; the token works once. The user joins, in this order: the Enterprise account
/// holding the address's domain verified (§1.2); the inviting account; for a sign-up, the
/// account an administrator created the user in. There it gets the account's default
/// license, `Pro` for a trial user (the trial ends, §2.12.6), or what its delegate groups
/// give. A sign-up joining no account stays an unmanaged identity with the 30-day
/// `ProTrial` (§1.3; `Basic` once a trial was used). Spec: chime-zh.md §1.3.
///
/// Errors: `BadRequestException` for a blank token, a password under 8 characters, a blank
/// or over-100-character display name, a link already used, expired or void, or an
/// inviting account that no longer exists; `NotFoundException` for an unknown token;
/// `ForbiddenException` for a suspended identity.
pub async fn register(
    chime: &Chime,
    token: &str,
    password: &str,
    display_name: &str,
) -> Result<Registration> {
    if password.chars().count() < MIN_PASSWORD || password.len() > 1024 {
        return Err(bad_request(format!(
            "Password must be at least {MIN_PASSWORD} characters"
        )));
    }
    let display_name = display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > MAX_DISPLAY_NAME {
        return Err(bad_request(format!(
            "DisplayName must be 1 to {MAX_DISPLAY_NAME} characters"
        )));
    }
    let invitation = pending_invitation(chime, token).await?;
    let now = now_millis();
    let invited = invitation.chime_account_id.is_some();
    let inviting = live_account_of(
        chime,
        invitation.account_id.as_deref(),
        invitation.chime_account_id.as_deref(),
    )
    .await?;
    if invited && inviting.is_none() {
        return Err(bad_request(
            "The account of this invitation no longer exists",
        ));
    }
    let mut user = chime
        .store
        .chime_user_by_id(&invitation.user_id)
        .await?
        .ok_or_else(|| error(codes::NOT_FOUND, "This registration link is not valid"))?;
    if user.registration_status == SUSPENDED {
        return Err(error(
            codes::FORBIDDEN,
            "This user is suspended and cannot register",
        ));
    }
    let claimer = chime
        .claiming_account(&invitation.email)
        .await?
        .filter(|a| a.deleted_at.is_none());
    let target = match (claimer, inviting) {
        (Some(claimer), _) => Some(claimer),
        (None, Some(inviting)) => Some(inviting),
        (None, None) if user.registration_status != RELEASED => {
            live_account_of(
                chime,
                user.account_id.as_deref(),
                user.chime_account_id.as_deref(),
            )
            .await?
        }
        (None, None) => None,
    };
    let password_hash = Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .map_err(|e| {
            tracing::error!(error = %e, "hashing a Chime password");
            ApiError::internal("The password could not be hashed")
        })?
        .to_string();
    match &target {
        Some(target) => {
            let groups = chime
                .store
                .chime_delegate_groups(&target.account_id, &target.chime_account_id)
                .await?;
            let same_account =
                user.chime_account_id.as_deref() == Some(target.chime_account_id.as_str());
            let on_trial = effective_license(&user, now).as_deref() == Some(PRO_TRIAL);
            user.license_type = if !groups.is_empty() {
                let member_of = chime
                    .store
                    .directory_groups_of_email(&target.account_id, &user.primary_email)
                    .await?;
                directory_license(&groups, &member_of)
            } else if on_trial {
                Some("Pro".to_string())
            } else if same_account && user.license_type.as_deref().is_some_and(|l| l != PRO_TRIAL) {
                user.license_type.clone()
            } else {
                Some(target.default_license.clone())
            };
            user.account_id = Some(target.account_id.clone());
            user.chime_account_id = Some(target.chime_account_id.clone());
            if invited || user.invitation_status.as_deref() == Some(PENDING) {
                user.invitation_status = Some(ACCEPTED.to_string());
            }
        }
        None => {
            user.account_id = None;
            user.chime_account_id = None;
            user.license_type = Some(if user.trial_started_at.is_none() {
                user.trial_started_at = Some(now);
                PRO_TRIAL.to_string()
            } else {
                "Basic".to_string()
            });
        }
    }
    user.registration_status = REGISTERED.to_string();
    user.registered_at = Some(now);
    user.password_hash = Some(password_hash);
    user.display_name = Some(display_name.to_string());
    user.updated_at = now;
    let accepted = chime
        .store
        .accept_chime_invitation(&invitation.invite_id, now, &user)
        .await?;
    if !accepted {
        return Err(bad_request("This registration link was already used"));
    }
    Ok(Registration {
        user_id: user.user_id,
        email: user.primary_email,
        chime_account_id: target.as_ref().map(|t| t.chime_account_id.clone()),
        account_name: target.map(|t| t.name),
        license_type: user.license_type,
    })
}

/// Whether the user `user_id` may sign in to chat now: registered with a password, not
/// suspended or released, and either an unmanaged identity (a user removed from a Team
/// account keeps sign-in, §2.0.3) or a member of a live account with a license. In an
/// account with sign-in delegate groups the license comes from the user's directory groups
/// (the tenant's WorkMail groups) at each call and is stored; no group, no sign-in
/// (§1.6). Spec: chime-zh.md §1.3, §1.6.
///
/// Errors: `ServiceFailureException` when the store fails.
pub async fn may_sign_in(chime: &Chime, user_id: &str) -> Result<bool> {
    let Some(mut user) = chime.store.chime_user_by_id(user_id).await? else {
        return Ok(false);
    };
    if user.password_hash.is_none() || user.registration_status != REGISTERED {
        return Ok(false);
    }
    let (Some(account_id), Some(chime_account_id)) =
        (user.account_id.clone(), user.chime_account_id.clone())
    else {
        return Ok(true);
    };
    let live = chime
        .store
        .chime_account(&account_id, &chime_account_id, i64::MAX)
        .await?
        .is_some_and(|a| a.deleted_at.is_none());
    if !live {
        return Ok(false);
    }
    let groups = chime
        .store
        .chime_delegate_groups(&account_id, &chime_account_id)
        .await?;
    if groups.is_empty() {
        return Ok(user.license_type.is_some());
    }
    let member_of = chime
        .store
        .directory_groups_of_email(&account_id, &user.primary_email)
        .await?;
    let license = directory_license(&groups, &member_of);
    if license != user.license_type {
        user.license_type = license.clone();
        user.updated_at = now_millis();
        chime.write_user(&user).await?;
    }
    Ok(license.is_some())
}

/// Recomputes the stored license of every user of `account` from its delegate groups (after
/// they changed); with no group left, users without a license get the default license.
pub(crate) async fn relicense_users(chime: &Chime, account: &ChimeAccountRecord) -> Result<()> {
    let groups = chime
        .store
        .chime_delegate_groups(&account.account_id, &account.chime_account_id)
        .await?;
    let mut after = None;
    loop {
        let page = chime
            .store
            .list_chime_users(
                &account.account_id,
                &account.chime_account_id,
                &ChimeUserFilter {
                    after: after.clone(),
                    limit: MAX_PAGE,
                    ..ChimeUserFilter::default()
                },
            )
            .await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.user_id.clone());
        for mut user in page {
            if user.registration_status == RELEASED {
                continue;
            }
            let license = if groups.is_empty() {
                user.license_type
                    .clone()
                    .or_else(|| Some(account.default_license.clone()))
            } else {
                let member_of = chime
                    .store
                    .directory_groups_of_email(&account.account_id, &user.primary_email)
                    .await?;
                directory_license(&groups, &member_of)
            };
            if license != user.license_type {
                user.license_type = license;
                user.updated_at = now_millis();
                chime.write_user(&user).await?;
            }
        }
    }
}

/// `CreateUser`: a user of the account for `Email` (required), `Unregistered` with the
/// account's default license and a new personal PIN; `Username` becomes the display name.
/// The user registers from an InviteUsers link. Spec: chime-zh.md §1.3, §2.12.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `Email`, `UserType` or
/// `Username`; `ConflictException` when the address already has a Chime identity or its
/// domain is claimed by another account.
pub(crate) async fn create_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: CreateUserRequest,
) -> Result<CreateUserResponse> {
    let email = check_email(
        "Email",
        input
            .email
            .as_deref()
            .ok_or_else(|| bad_request("Email is required"))?,
    )?;
    let user_type = check_user_type("UserType", input.user_type.as_deref())?
        .unwrap_or_else(|| USER_TYPES[0].to_string());
    if let Some(name) = &input.username {
        if name.trim().is_empty() || name.chars().count() > MAX_DISPLAY_NAME {
            return Err(bad_request(format!(
                "Username must be 1 to {MAX_DISPLAY_NAME} characters"
            )));
        }
    }
    let account = chime.live_account(ctx, &input.account_id).await?;
    if let Some(claimer) = chime.claiming_account(&email).await? {
        if claimer.chime_account_id != account.chime_account_id {
            return Err(error(
                codes::CONFLICT,
                format!(
                    "The domain {} is claimed by another Amazon Chime account",
                    email_domain(&email)
                ),
            ));
        }
    }
    let mut user = new_user(&account, &email, &user_type, now_millis());
    user.display_name = input.username;
    match chime.store.insert_chime_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(error(
                codes::CONFLICT,
                format!("{email} already has an Amazon Chime identity"),
            ))
        }
        Err(e) => return Err(Error::from(e)),
    }
    Ok(CreateUserResponse {
        user: Some(user_shape(&user)),
    })
}

/// `GetUser`: the user (full details). Spec: chime-zh.md §1.3.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId` or `UserId`.
pub(crate) async fn get_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetUserRequest,
) -> Result<GetUserResponse> {
    let (_, user) = chime.user(ctx, &input.account_id, &input.user_id).await?;
    Ok(GetUserResponse {
        user: Some(user_shape(&user)),
    })
}

/// `ListUsers`: the account's users by ID; `UserEmail` (exact, case-insensitive) and
/// `UserType` filter, `MaxResults` 1–200 (default 100), `NextToken` bound to the tenant, the
/// account and the filters. Spec: chime-zh.md §2.12 "List/search users".
///
/// Errors: `NotFoundException`; `BadRequestException` naming `MaxResults`, `UserEmail`,
/// `UserType` or `NextToken`.
pub(crate) async fn list_users(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListUsersRequest,
) -> Result<ListUsersResponse> {
    let limit = crate::paging::page_size(input.max_results, DEFAULT_PAGE, MAX_PAGE)?;
    let email = input
        .user_email
        .as_deref()
        .map(|e| check_email("UserEmail", e))
        .transpose()?;
    let user_type = check_user_type("UserType", input.user_type.as_deref())?;
    let account = chime.live_account(ctx, &input.account_id).await?;
    let scope = format!(
        "ListUsers\0{}\0{}\0{}\0{}",
        ctx.account_id,
        account.chime_account_id,
        email.as_deref().unwrap_or_default(),
        user_type.as_deref().unwrap_or_default()
    );
    let after = chime.resume_after(&scope, input.next_token.as_deref())?;
    let mut users = chime
        .store
        .list_chime_users(
            &ctx.account_id,
            &account.chime_account_id,
            &ChimeUserFilter {
                email,
                user_type,
                after,
                limit: limit + 1,
            },
        )
        .await?;
    let next_token = chime.next_page(&scope, &mut users, limit, |u| &u.user_id);
    Ok(ListUsersResponse {
        users: Some(users.iter().map(user_shape).collect()),
        next_token,
    })
}

/// `UpdateUser`: sets `LicenseType` (Basic or Pro; not in an account whose delegate groups
/// decide), `UserType` and `AlexaForBusinessMetadata`. Spec: chime-zh.md §2.3 step 3b,
/// §2.12 "Assign permission".
///
/// Errors: `NotFoundException`; `BadRequestException` naming `LicenseType`, `UserType` or
/// `AlexaForBusinessRoomArn`, or for a released user; `ForbiddenException` for a license in
/// a directory-managed account.
pub(crate) async fn update_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateUserRequest,
) -> Result<UpdateUserResponse> {
    let (account, mut user) = chime.user(ctx, &input.account_id, &input.user_id).await?;
    let groups = chime.has_delegate_groups(&account).await?;
    apply_change(
        &mut user,
        UserChange {
            license_type: input.license_type,
            user_type: input.user_type,
            alexa: input.alexa_for_business_metadata,
        },
        groups,
    )?;
    chime.write_user(&user).await?;
    Ok(UpdateUserResponse {
        user: Some(user_shape(&user)),
    })
}

/// The error code of `UserError` for an operation error.
fn error_code(err: &ApiError) -> &'static str {
    match err.code.as_ref() {
        codes::NOT_FOUND => "NotFound",
        codes::FORBIDDEN => "Forbidden",
        codes::CONFLICT => "Conflict",
        codes::BAD_REQUEST => "BadRequest",
        _ => "ServiceFailure",
    }
}

/// `BatchUpdateUser`: UpdateUser for 1–20 items; each failing item is a `UserError`
/// (`NotFound`, `BadRequest`, `Forbidden`) and the others are applied.
///
/// Errors: `NotFoundException` for the account; `BadRequestException` naming
/// `UpdateUserRequestItems`.
pub(crate) async fn batch_update_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: BatchUpdateUserRequest,
) -> Result<BatchUpdateUserResponse> {
    let items = input.update_user_request_items;
    if items.is_empty() || items.len() > MAX_UPDATE_BATCH {
        return Err(bad_request(format!(
            "UpdateUserRequestItems must hold 1 to {MAX_UPDATE_BATCH} items"
        )));
    }
    let account = chime.live_account(ctx, &input.account_id).await?;
    let groups = chime.has_delegate_groups(&account).await?;
    let mut errors = Vec::new();
    for item in items {
        let user_id = item.user_id.clone();
        let result = async {
            let (_, mut user) = chime.user(ctx, &account.chime_account_id, &user_id).await?;
            apply_change(
                &mut user,
                UserChange {
                    license_type: item.license_type,
                    user_type: item.user_type,
                    alexa: item.alexa_for_business_metadata,
                },
                groups,
            )?;
            chime.write_user(&user).await
        }
        .await;
        if let Err(e) = result {
            errors.push(user_error(&user_id, error_code(&e), e.message.clone()));
        }
    }
    Ok(BatchUpdateUserResponse {
        user_errors: Some(errors),
    })
}

fn check_user_id_list(ids: &[String]) -> Result<()> {
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(bad_request(format!(
            "UserIdList must hold 1 to {MAX_BATCH} user IDs"
        )));
    }
    Ok(())
}

/// `BatchSuspendUser` for 1–50 users. Enterprise account: each becomes `Suspended`, its
/// chat sessions are deleted at once and `SessionsRevoked` is published (no sign-in until
/// unsuspended). Team account (which cannot suspend, §1.2): each is removed — the identity
/// stays as an unmanaged user with no account and no license, still able to sign in, and
/// the account's invitations to it are withdrawn (§2.0.3). Per-user failures (`NotFound`;
/// `Conflict` already suspended; `BadRequest` released) are `UserErrors`.
///
/// Errors: `NotFoundException` for the account; `BadRequestException` naming `UserIdList`.
pub(crate) async fn batch_suspend_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: BatchSuspendUserRequest,
) -> Result<BatchSuspendUserResponse> {
    check_user_id_list(&input.user_id_list)?;
    let account = chime.live_account(ctx, &input.account_id).await?;
    let team = account.account_type == crate::accounts::TEAM;
    let mut errors = Vec::new();
    for user_id in &input.user_id_list {
        let result = async {
            let (_, mut user) = chime.user(ctx, &account.chime_account_id, user_id).await?;
            let now = now_millis();
            if team {
                user.account_id = None;
                user.chime_account_id = None;
                user.license_type = None;
                user.updated_at = now;
                chime
                    .store
                    .remove_chime_user_from_account(
                        &account.account_id,
                        &account.chime_account_id,
                        &user,
                    )
                    .await?;
                return Ok(());
            }
            match user.registration_status.as_str() {
                SUSPENDED => {
                    return Err(error(
                        codes::CONFLICT,
                        format!("User {user_id} is already suspended"),
                    ))
                }
                RELEASED => {
                    return Err(bad_request(format!(
                        "User {user_id} was released by a domain removal"
                    )))
                }
                _ => {}
            }
            user.registration_status = SUSPENDED.to_string();
            user.updated_at = now;
            chime
                .store
                .update_chime_user_revoking_sessions(&user)
                .await?;
            chime.hub.publish(ChatEvent::SessionsRevoked {
                user_id: user.user_id.clone(),
            });
            Ok(())
        }
        .await;
        if let Err(e) = result {
            errors.push(user_error(user_id, error_code(&e), e.message.clone()));
        }
    }
    Ok(BatchSuspendUserResponse {
        user_errors: Some(errors),
    })
}

/// `BatchUnsuspendUser` for 1–50 users of an Enterprise account: each suspended user
/// becomes `Registered` again (`Unregistered` if it never registered). A user who is not
/// suspended is a `BadRequest` `UserError`, an unknown one `NotFound`; a Team account never
/// has suspended users (its users are removed instead, §1.2).
///
/// Errors: `NotFoundException` for the account; `BadRequestException` naming `UserIdList`.
pub(crate) async fn batch_unsuspend_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: BatchUnsuspendUserRequest,
) -> Result<BatchUnsuspendUserResponse> {
    check_user_id_list(&input.user_id_list)?;
    let account = chime.live_account(ctx, &input.account_id).await?;
    let mut errors = Vec::new();
    for user_id in &input.user_id_list {
        let result = async {
            let (_, mut user) = chime.user(ctx, &account.chime_account_id, user_id).await?;
            if user.registration_status != SUSPENDED {
                return Err(bad_request(format!("User {user_id} is not suspended")));
            }
            user.registration_status = if user.password_hash.is_some() {
                REGISTERED
            } else {
                UNREGISTERED
            }
            .to_string();
            user.updated_at = now_millis();
            chime.write_user(&user).await
        }
        .await;
        if let Err(e) = result {
            errors.push(user_error(user_id, error_code(&e), e.message.clone()));
        }
    }
    Ok(BatchUnsuspendUserResponse {
        user_errors: Some(errors),
    })
}

/// `LogoutUser`: deletes every chat session of the user at once and publishes
/// `SessionsRevoked` so open connections close. Spec: chime-zh.md §2.12 "Log out users".
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId` or `UserId`.
pub(crate) async fn logout_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: LogoutUserRequest,
) -> Result<LogoutUserResponse> {
    let (_, user) = chime.user(ctx, &input.account_id, &input.user_id).await?;
    chime
        .store
        .delete_chime_sessions_of_user(&user.user_id)
        .await?;
    chime.hub.publish(ChatEvent::SessionsRevoked {
        user_id: user.user_id,
    });
    Ok(LogoutUserResponse {})
}

/// `ResetPersonalPIN`: a new random 10-digit personal meeting PIN; returns the user with
/// it. Spec: chime-zh.md §2.12; chime-ko.md §2.2.5.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId` or `UserId`.
pub(crate) async fn reset_personal_pin(
    chime: &Chime,
    ctx: &RequestContext,
    input: ResetPersonalPINRequest,
) -> Result<ResetPersonalPINResponse> {
    let (_, mut user) = chime.user(ctx, &input.account_id, &input.user_id).await?;
    let old = user.personal_pin.clone();
    while user.personal_pin == old {
        user.personal_pin = new_pin();
    }
    user.updated_at = now_millis();
    chime.write_user(&user).await?;
    Ok(ResetPersonalPINResponse {
        user: Some(user_shape(&user)),
    })
}

/// `GetUserSettings`: the user's telephony settings (inbound and outbound calling, SMS).
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId` or `UserId`.
pub(crate) async fn get_user_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetUserSettingsRequest,
) -> Result<GetUserSettingsResponse> {
    let (_, user) = chime.user(ctx, &input.account_id, &input.user_id).await?;
    Ok(GetUserSettingsResponse {
        user_settings: Some(UserSettings {
            telephony: TelephonySettings {
                inbound_calling: user.inbound_calling,
                outbound_calling: user.outbound_calling,
                sms: user.sms,
            },
        }),
    })
}

/// `UpdateUserSettings`: replaces the user's telephony settings.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId` or `UserId`.
pub(crate) async fn update_user_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateUserSettingsRequest,
) -> Result<carillon_awsapi::types::Unit> {
    let (_, mut user) = chime.user(ctx, &input.account_id, &input.user_id).await?;
    let telephony = input.user_settings.telephony;
    user.inbound_calling = telephony.inbound_calling;
    user.outbound_calling = telephony.outbound_calling;
    user.sms = telephony.sms;
    user.updated_at = now_millis();
    chime.write_user(&user).await?;
    Ok(carillon_awsapi::types::Unit::default())
}
