//! Authentication of mail users (IMAP LOGIN/AUTHENTICATE, SMTP AUTH) against the directory,
//! and the password hashing every password write (CreateUser, ResetPassword) goes through.
//!
//! Passwords are stored as Argon2id PHC strings (`entities.password_hash`). A failed login
//! costs the same as a successful one: an Argon2 verification runs whether or not the login
//! names a usable user, so response time does not reveal which addresses exist.

use std::sync::OnceLock;

use crate::audit::{self, ClientInfo};
use crate::metrics;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use carillon_store::{Store, StoreError};

/// A mail user who authenticated. Spec: workmail.md §1.4 (enabled users with a mailbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailUser {
    /// Tenant owning the organization.
    pub account_id: String,
    /// The user's organization (`m-…`).
    pub organization_id: String,
    /// The user's entity ID (also the `mailboxes.user_id` of their mailbox).
    pub user_id: String,
    /// Primary email address, lower-case.
    pub email: String,
    /// Every address of the user (primary and aliases), lower-case, sorted.
    pub addresses: Vec<String>,
}

/// Hashes `password` with Argon2id (default parameters, random salt) into a PHC string.
///
/// Errors: only when the hasher rejects its parameters, which the defaults never cause;
/// callers treat it as an internal failure.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
}

/// A hash of a random password, verified against when the login names no usable user so
/// that the failure path does the same work as the success path.
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
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Authenticates `login` (the user's primary address or any alias of it, case-insensitive)
/// with `password`, for the client `client`.
///
/// Succeeds only for a user in state `ENABLED`, with a mailbox, in an organization in state
/// `Active`. Unknown login, wrong password and unusable user all give `Ok(None)` after the
/// same Argon2 work. The verification runs on a blocking thread (Argon2 is CPU-bound).
/// The attempt is recorded in the organization's `AUTHENTICATION_LOGS` (and, on success,
/// its `ACCESS_CONTROL_LOGS`) when they are delivered (workmail.md §4.2); a login naming no
/// user is recorded for the organization owning its domain.
///
/// Errors: store failures only.
pub async fn authenticate(
    store: &Store,
    login: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<Option<MailUser>, StoreError> {
    let login = login.trim();
    let record = store.find_mail_login(login).await?;
    let refusal = record.as_ref().map_or(Some("No such user"), |r| {
        if r.organization_state != "Active" {
            Some("Organization is not active")
        } else if r.user_state != "ENABLED" {
            Some("User is not enabled")
        } else if !r.has_mailbox || r.email.is_none() || r.password_hash.is_none() {
            Some("User has no mailbox")
        } else {
            None
        }
    });
    let usable = record
        .as_ref()
        .filter(|_| refusal.is_none())
        .and_then(|r| r.password_hash.clone());
    let hash = usable.clone().unwrap_or_else(|| decoy_hash().to_string());
    let password = password.to_string();
    let matches = tokio::task::spawn_blocking(move || verify(&hash, &password))
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))?;
    let organization = match &record {
        Some(r) => Some(r.organization_id.clone()),
        None => match login.rsplit_once('@') {
            Some((_, domain)) => store.mail_domain_owner(&domain.to_lowercase()).await?,
            None => None,
        },
    };
    let metrics_organization = organization
        .as_deref()
        .unwrap_or(metrics::UNKNOWN_ORGANIZATION);
    let failure = match refusal {
        Some(reason) => Some(reason),
        None if !matches => Some("Invalid password"),
        None => None,
    };
    metrics::authentication_attempt(metrics_organization, failure.is_some());
    if let Some(organization) = &organization {
        let user_id = record.as_ref().map(|r| r.user_id.as_str());
        let records = audit::authentication_records(client, login, user_id, failure);
        audit::emit(store, organization, records).await;
    }
    if failure.is_some() {
        return Ok(None);
    }
    Ok(record.and_then(|r| {
        Some(MailUser {
            account_id: r.account_id,
            organization_id: r.organization_id,
            user_id: r.user_id,
            email: r.email?,
            addresses: r.addresses,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let hash = hash_password("Corr3ct-horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify(&hash, "Corr3ct-horse"));
        assert!(!verify(&hash, "corr3ct-horse"));
        assert!(!verify("not a phc string", "Corr3ct-horse"));
        assert!(!verify(decoy_hash(), ""));
    }

    #[test]
    fn salts_differ_between_hashes() {
        assert_ne!(
            hash_password("same").unwrap(),
            hash_password("same").unwrap()
        );
    }
}
