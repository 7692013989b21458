//! Errors of the identity operations (the CLI-facing ones; request verification and
//! authorization answer [`carillon_core::ApiError`]).

use carillon_store::StoreError;

use crate::managed::MANAGED_POLICY_NAMES;

/// What can go wrong creating accounts, keys or audit records.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// The policy name is not one of the managed policies.
    #[error("unknown managed policy '{0}'; valid names: {names}", names = MANAGED_POLICY_NAMES.join(", "))]
    UnknownPolicy(String),
    /// No account has this ID.
    #[error("account {0} does not exist")]
    AccountNotFound(String),
    /// Account names are unique.
    #[error("an account named '{0}' already exists")]
    AccountNameExists(String),
    /// The account name is empty, too long or has characters outside the allowed set.
    #[error("invalid account name '{0}': use 1 to 64 letters, digits, spaces or .-_@+=,")]
    InvalidAccountName(String),
    /// A key for the bootstrap account was asked for before the account exists.
    #[error(
        "the bootstrap account does not exist yet: start `carillon serve` once, or pass --account"
    )]
    NoBootstrapAccount,
    /// Every freshly drawn account ID was already taken (practically impossible: 9·10¹¹ IDs).
    #[error("could not draw an unused account ID")]
    AccountIdsExhausted,
    /// A stored audit record is not a CloudTrail record any more.
    #[error("audit record {event_id} is unreadable: {reason}")]
    UnreadableAuditRecord {
        /// Its `eventID`.
        event_id: String,
        /// The parse error.
        reason: String,
    },
    /// Writing the credentials file failed.
    #[error("credentials file: {0}")]
    Io(#[from] std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
