//! Encryption at rest for Carillon (workmail.md §5.3): the key hierarchy's primitives.
//!
//! - [`KeyProvider`]: the key-encryption-key (KEK) provider standing in for AWS KMS — keys
//!   named `arn:aws:kms:<region>:<account>:key/<uuid>`, wrap and unwrap of data keys with an
//!   [`EncryptionContext`] (WorkMail's is `{"aws:workmail:arn": <organization ARN>}`). The
//!   default implementation, [`LocalKeyProvider`], keeps 256-bit keys in private files under
//!   `<data-dir>/keys/`; another provider (HSM, Vault) implements the same trait.
//! - [`cipher`]: fresh 256-bit [`DataKey`]s, the chunked AES-256-GCM sealing of blobs and the
//!   wrapping of one data key by another.
//! - [`object`]: objects sealed under a key-encryption key directly (like S3 SSE-KMS),
//!   naming their key.
//! - [`Keyring`]: the provider plus a cache of unwrapped keys kept at most one minute, in
//!   memory only.
//!
//! The hierarchy itself (message key → mailbox key → organization KEK) is assembled by
//! `carillon-mail`'s `crypto` module over the store's tables. Key material never enters the
//! database, a log line or a `Debug` output.

pub mod cipher;
mod keyring;
mod local;
pub mod object;
mod provider;

pub use cipher::DataKey;
pub use keyring::{Keyring, KEY_CACHE_TTL};
pub use local::LocalKeyProvider;
pub use provider::{
    EncryptionContext, KeyArn, KeyManager, KeyMetadata, KeyProvider, DEFAULT_KEY_ALIAS,
    S3_CONTEXT_KEY, WORKMAIL_CONTEXT_KEY,
};

/// Result of a key operation.
pub type KmsResult<T> = Result<T, KmsError>;

/// What can go wrong with keys and ciphertexts. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// The text is not a Carillon key ARN (`arn:aws:kms:<region>:<account>:key/<uuid>`).
    #[error("not a key ARN: {0}")]
    InvalidKeyArn(String),
    /// No such key (in this account).
    #[error("key not found: {0}")]
    NotFound(String),
    /// Stored key material is unusable (corrupt key file).
    #[error("invalid key material: {0}")]
    InvalidKey(String),
    /// A ciphertext or wrapped key failed authentication (other key or context, altered,
    /// truncated) or is not one.
    #[error("invalid ciphertext: {0}")]
    InvalidCiphertext(String),
    /// Key file I/O failed.
    #[error("key store I/O: {0}")]
    Io(#[from] std::io::Error),
}
