//! Chat client sessions: sign-in with email and password, bearer authentication, sign-out.
//! Spec: chime-zh.md §1.3 (who may sign in), §1.10.
//!
//! A session is a random 32-byte bearer token (64 hex characters) given to the client once;
//! the store keeps only its SHA-256, so a leaked table cannot be replayed. Sessions last
//! [`SESSION_LIFETIME_MS`] (24 hours). Who signs in is decided by
//! [`crate::users::may_sign_in`]: a `Registered` user with a license in a live Chime account
//! (or an unmanaged identity); a `Suspended` user is refused (§1.3). Every request checks
//! the same rules again, so suspending a user or deleting the account ends their sessions
//! at once even before LogoutUser deletes the rows. A failed sign-in costs the same Argon2
//! work whether or not the email names a user, so timing does not reveal who exists.
//!
//! Throttle: every sign-in attempt of an email is counted in the store (shared by every
//! node) before its password is checked; a successful one clears the count. Once
//! [`MAX_FAILED_SIGN_INS`] attempts failed within a [`SIGN_IN_WINDOW_MS`] window (15
//! minutes from the window's first failure), further attempts for that email are refused
//! with `ThrottledClientException` (HTTP 429) until the window ends, even with the right
//! password. Unknown emails are counted the same way, so the throttle does not reveal who
//! exists either.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use carillon_core::time::now_millis;
use carillon_core::ApiError;
use carillon_store::chime::chat::{ChatSessionRecord, ChatUserRecord};
use sha2::{Digest, Sha256};

use crate::errors::{error, Error, Result};
use crate::Chime;

/// How long a session lasts: 24 hours, in milliseconds.
pub const SESSION_LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;

/// Model error code of a missing, unknown or expired session, and of a wrong email or
/// password (HTTP 401).
pub const UNAUTHORIZED: &str = "UnauthorizedClientException";
/// Model error code of a user who exists but may not sign in (HTTP 403).
pub const FORBIDDEN: &str = "ForbiddenException";
/// Model error code of a sign-in refused by the throttle (HTTP 429).
pub const THROTTLED: &str = "ThrottledClientException";
/// Failed sign-ins of one email a window allows; later attempts in it are refused.
pub const MAX_FAILED_SIGN_INS: i64 = 10;
/// Length of a sign-in throttle window from its first failure: 15 minutes, in milliseconds.
pub const SIGN_IN_WINDOW_MS: i64 = 15 * 60 * 1000;

/// A signed-in chat user, as every client route sees the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    /// The user ID.
    pub user_id: String,
    /// The Carillon account (tenant) of the user's Chime account; `None` for an unmanaged
    /// identity (a user removed from a Team account keeps chat sign-in, §1.3).
    pub account_id: Option<String>,
    /// The user's Chime account; `None` for an unmanaged identity.
    pub chime_account_id: Option<String>,
    /// The user's primary email (lower-case).
    pub email: String,
    /// The user's display name, if set.
    pub display_name: Option<String>,
    /// When the session ends (epoch ms).
    pub expires_at: i64,
}

impl SessionUser {
    /// How the user is shown as a message sender: the display name, else the email.
    pub fn shown_name(&self) -> String {
        self.display_name
            .clone()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| self.email.clone())
    }
}

/// A new session given to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The bearer token (64 hex characters); shown once, never stored.
    pub token: String,
    /// The session's user.
    pub user: SessionUser,
}

fn unauthorized(message: &str) -> Error {
    error(UNAUTHORIZED, message)
}

/// The hex SHA-256 of a bearer token: the session's name in the store.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The throttle's name for `email` (trimmed, lower-cased): its hex SHA-256, so the store
/// keeps no address someone typed.
fn email_key(email: &str) -> String {
    token_hash(&email.trim().to_lowercase())
}

/// Counts a sign-in attempt of `email` at `now`.
///
/// Errors: `ThrottledClientException` once the window's failures reached
/// [`MAX_FAILED_SIGN_INS`]; `ServiceFailureException` when the store fails.
async fn count_attempt(chime: &Chime, email: &str, now: i64) -> Result<()> {
    let window = chime
        .store
        .count_chime_sign_in_attempt(&email_key(email), now, now - SIGN_IN_WINDOW_MS)
        .await?;
    if window.failures <= MAX_FAILED_SIGN_INS {
        return Ok(());
    }
    let retry_in_s = ((window.window_start + SIGN_IN_WINDOW_MS - now).max(0) + 999) / 1000;
    // The address is personal data and the password never appears: the key and the count
    // are enough to follow an attack.
    tracing::warn!(
        email_key = %email_key(email),
        failures = window.failures,
        retry_in_s,
        "chat sign-in throttled"
    );
    Err(error(
        THROTTLED,
        format!("Too many failed sign-ins for this email; try again in {retry_in_s} seconds"),
    ))
}

/// A hash of a random password, verified against when the email names no user with a
/// password, so the failure path does the Argon2 work of the success path.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(salt.as_str().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

/// Whether `password` matches the PHC string `hash` (a malformed hash never matches).
fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Why `user` may not sign in now, if anything stops them. The rules are
/// [`crate::users::may_sign_in`]'s (registered, not suspended or released, a license in a
/// live account or an unmanaged identity, sign-in delegate groups); this names the reason.
async fn refusal(chime: &Chime, user: &ChatUserRecord) -> Result<Option<&'static str>> {
    if crate::users::may_sign_in(chime, &user.user_id).await? {
        return Ok(None);
    }
    Ok(Some(match user.registration_status.as_str() {
        "Suspended" => "The user is suspended and cannot sign in",
        "Registered" => "The user has no license in a live Chime account and cannot sign in",
        _ => "The user has not registered and cannot sign in",
    }))
}

fn session_user(user: ChatUserRecord, expires_at: i64) -> SessionUser {
    SessionUser {
        user_id: user.user_id,
        account_id: user.account_id,
        chime_account_id: user.chime_account_id,
        email: user.primary_email,
        display_name: user.display_name,
        expires_at,
    }
}

/// Signs `email` (case-insensitive) in with `password`: a new 24-hour session, recorded as
/// the user's latest sign-in for the usage report.
///
/// Errors: `UnauthorizedClientException` for an unknown email or a wrong password (the same
/// message for both); `ForbiddenException` for a user with the right password who may not
/// sign in (suspended, unregistered, unlicensed, account deleted); `ThrottledClientException`
/// after [`MAX_FAILED_SIGN_INS`] failed attempts for the email within the window (see the
/// module docs); `BadRequestException` naming `Email` or `Password` when blank.
pub async fn sign_in(chime: &Chime, email: &str, password: &str) -> Result<SignedIn> {
    if email.trim().is_empty() {
        return Err(error("BadRequestException", "Email must not be empty"));
    }
    if password.is_empty() {
        return Err(error("BadRequestException", "Password must not be empty"));
    }
    count_attempt(chime, email, now_millis()).await?;
    let user = chime.store.chat_user_by_email(email.trim()).await?;
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_string());
    let candidate = password.to_string();
    let matches = tokio::task::spawn_blocking(move || verify(&hash, &candidate))
        .await
        .map_err(|_| ApiError::internal("Password verification failed"))?;
    let user = match user {
        Some(user) if matches && user.password_hash.is_some() => user,
        _ => return Err(unauthorized("The email or password is not correct")),
    };
    if let Some(reason) = refusal(chime, &user).await? {
        return Err(error(FORBIDDEN, reason));
    }
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let token = hex::encode(secret);
    let now = now_millis();
    let record = ChatSessionRecord {
        session_hash: token_hash(&token),
        user_id: user.user_id.clone(),
        created_at: now,
        expires_at: now + SESSION_LIFETIME_MS,
    };
    chime.store.create_chat_session(&record).await?;
    chime
        .store
        .clear_chime_sign_in_failures(&email_key(email))
        .await?;
    // The usage report's last sign-in outlives the session (chime-ko.md §2.0.1).
    if let Err(e) =
        carillon_store::chime::reports::record_sign_in(&chime.store, &user.user_id, now).await
    {
        tracing::warn!(user_id = %user.user_id, error = %e, "chat sign-in not recorded for reports");
    }
    Ok(SignedIn {
        token,
        user: session_user(user, record.expires_at),
    })
}

/// The user of the live session named by `bearer` (the token a sign-in gave).
///
/// Errors: `UnauthorizedClientException` when the token is empty, unknown or expired, or
/// its user may no longer sign in (suspended, unlicensed, account deleted).
pub async fn authenticate(chime: &Chime, bearer: &str) -> Result<SessionUser> {
    let bearer = bearer.trim();
    if bearer.is_empty() {
        return Err(unauthorized("A session token is required"));
    }
    let session = chime
        .store
        .chat_session(&token_hash(bearer), now_millis())
        .await?
        .ok_or_else(|| unauthorized("The session token is not valid or has expired"))?;
    let user = chime
        .store
        .chat_user(&session.user_id)
        .await?
        .ok_or_else(|| unauthorized("The session's user no longer exists"))?;
    if let Some(reason) = refusal(chime, &user).await? {
        return Err(unauthorized(reason));
    }
    Ok(session_user(user, session.expires_at))
}

/// Ends the session named by `bearer`.
///
/// Errors: `UnauthorizedClientException` when there is no such session.
pub async fn sign_out(chime: &Chime, bearer: &str) -> Result<()> {
    let found = chime
        .store
        .delete_chat_session(&token_hash(bearer.trim()))
        .await?;
    if !found {
        return Err(unauthorized(
            "The session token is not valid or has expired",
        ));
    }
    Ok(())
}
