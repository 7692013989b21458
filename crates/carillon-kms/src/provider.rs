//! The key-encryption-key (KEK) provider: Carillon's stand-in for AWS KMS (workmail.md §5.3,
//! §8.1 "a pluggable KEK provider … that keeps the same 3-level envelope and the encryption
//! context"). Keys are named by ARNs `arn:aws:kms:<region>:<account>:key/<uuid>` and never
//! leave the provider: callers hand it a data key to wrap or a wrapped key to unwrap, always
//! with an encryption context bound to the result.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cipher::DataKey;
use crate::{KmsError, KmsResult};

/// The alias of each account's default key, the counterpart of "the AWS managed key for
/// WorkMail": used by organizations created without a `KmsKeyArn`.
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/workmail";

/// The encryption-context key WorkMail binds to every wrapping: the organization ARN.
/// Spec: workmail.md §5.3, §4.9.
pub const WORKMAIL_CONTEXT_KEY: &str = "aws:workmail:arn";

/// The encryption-context key of an object sealed like S3 SSE-KMS (mailbox export output):
/// `arn:aws:s3:::<bucket>/<key>`. Spec: workmail.md §2.22.
pub const S3_CONTEXT_KEY: &str = "aws:s3:arn";

/// The encryption-context key of a Chime chat container's data key: the room or
/// conversation ID (carillon-chime `chat_crypto`).
pub const CHIME_CONTAINER_CONTEXT_KEY: &str = "carillon:chime:container";

/// Name-value pairs bound to a wrapped key as additional authenticated data: unwrapping needs
/// exactly the same pairs (KMS encryption context).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// `{"aws:workmail:arn": organization_arn}`, WorkMail's context (workmail.md §5.3).
    pub fn workmail(organization_arn: &str) -> EncryptionContext {
        EncryptionContext::single(WORKMAIL_CONTEXT_KEY, organization_arn)
    }

    /// `{"aws:s3:arn": object_arn}`, the context of an SSE-KMS-like object.
    pub fn s3(object_arn: &str) -> EncryptionContext {
        EncryptionContext::single(S3_CONTEXT_KEY, object_arn)
    }

    /// `{"carillon:chime:container": container_id}`, the context of a chat room's or
    /// conversation's data key.
    pub fn chime_container(container_id: &str) -> EncryptionContext {
        EncryptionContext::single(CHIME_CONTAINER_CONTEXT_KEY, container_id)
    }

    fn single(key: &str, value: &str) -> EncryptionContext {
        EncryptionContext(BTreeMap::from([(key.to_string(), value.to_string())]))
    }

    /// The canonical bytes of the context together with the key ARN it is used with (JSON of
    /// `[key_arn, {sorted pairs}]`): the AAD of a wrapping.
    pub fn aad(&self, key_arn: &str) -> Vec<u8> {
        serde_json::to_vec(&(key_arn, &self.0)).expect("strings serialize")
    }
}

/// Who manages a key (KMS `KeyManager`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KeyManager {
    /// The account default key ([`DEFAULT_KEY_ALIAS`]), created on first use.
    Aws,
    /// A key created by an administrator.
    Customer,
}

/// What is known about a key besides its material (KMS `KeyMetadata`, reduced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    /// The key's UUID.
    pub key_id: String,
    /// `arn:aws:kms:<region>:<account>:key/<uuid>`.
    pub arn: String,
    /// The owning account (12 digits).
    pub account_id: String,
    /// Free text given at creation (may be empty).
    pub description: String,
    /// Creation time, epoch milliseconds.
    pub creation_date: i64,
    /// Customer key or the account default key.
    pub key_manager: KeyManager,
    /// [`DEFAULT_KEY_ALIAS`] for the account default key, else `None`.
    pub alias: Option<String>,
}

/// A parsed key ARN: `arn:aws:kms:<region>:<account>:key/<uuid>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyArn {
    /// The region of the ARN.
    pub region: String,
    /// The owning account.
    pub account_id: String,
    /// The key's UUID.
    pub key_id: String,
}

impl KeyArn {
    /// Parses `arn`. Errors: `InvalidKeyArn` for anything but a KMS key ARN with a UUID key ID.
    pub fn parse(arn: &str) -> KmsResult<KeyArn> {
        let invalid = || KmsError::InvalidKeyArn(arn.to_string());
        let parsed = carillon_core::arn::Arn::parse(arn).ok_or_else(invalid)?;
        let key_id = parsed.resource.strip_prefix("key/").ok_or_else(invalid)?;
        if parsed.service != "kms"
            || parsed.region.is_empty()
            || !account_like(&parsed.account)
            || uuid_like(key_id).is_none()
        {
            return Err(invalid());
        }
        Ok(KeyArn {
            region: parsed.region,
            account_id: parsed.account,
            key_id: key_id.to_string(),
        })
    }
}

/// Whether `s` can be an account ID: 1 to 64 ASCII letters and digits (Carillon's are 12
/// digits; the check keeps it safe as a file name).
pub(crate) fn account_like(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `Some(())` when `s` is a lower-case hyphenated UUID (the only key IDs Carillon makes, and
/// safe as a file name).
pub(crate) fn uuid_like(s: &str) -> Option<()> {
    let shape = s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        });
    shape.then_some(())
}

/// A KEK provider. Implementations keep key material to themselves; every method is safe to
/// call from several tasks and nodes at once.
#[async_trait::async_trait]
pub trait KeyProvider: Send + Sync + std::fmt::Debug {
    /// Creates a customer key for `account_id` in `region`.
    ///
    /// Errors: `Io` when it cannot be stored durably.
    async fn create_key(
        &self,
        account_id: &str,
        region: &str,
        description: &str,
    ) -> KmsResult<KeyMetadata>;

    /// The account's default key ([`DEFAULT_KEY_ALIAS`]), created on first use (once, even
    /// when several callers race).
    ///
    /// Errors: `Io`.
    async fn default_key(&self, account_id: &str, region: &str) -> KmsResult<KeyMetadata>;

    /// The key named by `key` (an ARN, a key UUID, or [`DEFAULT_KEY_ALIAS`]) of `account_id`.
    ///
    /// Errors: `NotFound` when the account has no such key (another account's key included);
    /// `Io`.
    async fn describe_key(&self, account_id: &str, key: &str) -> KmsResult<KeyMetadata>;

    /// Every key of `account_id`, oldest first.
    ///
    /// Errors: `Io`.
    async fn list_keys(&self, account_id: &str) -> KmsResult<Vec<KeyMetadata>>;

    /// Wraps `plaintext` under the key `key_arn` with `context` (KMS `Encrypt`).
    ///
    /// Errors: `InvalidKeyArn`, `NotFound`, `Io`.
    async fn encrypt(
        &self,
        key_arn: &str,
        context: &EncryptionContext,
        plaintext: &DataKey,
    ) -> KmsResult<Vec<u8>>;

    /// Unwraps what [`KeyProvider::encrypt`] returned (KMS `Decrypt`).
    ///
    /// Errors: `InvalidKeyArn`, `NotFound`, `InvalidCiphertext` (another key or context,
    /// altered bytes), `Io`.
    async fn decrypt(
        &self,
        key_arn: &str,
        context: &EncryptionContext,
        wrapped: &[u8],
    ) -> KmsResult<DataKey>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_arns_parse_strictly() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let parsed = KeyArn::parse(arn).unwrap();
        assert_eq!(parsed.account_id, "111122223333");
        assert_eq!(parsed.region, "us-east-1");
        assert_eq!(parsed.key_id, "1234abcd-12ab-34cd-56ef-1234567890ab");
        for bad in [
            "arn:aws:kms:us-east-1:111122223333:alias/aws/workmail",
            "arn:aws:s3:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:11/11:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:key/../../etc/passwd",
            "not-an-arn",
        ] {
            assert!(KeyArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn context_aad_is_canonical() {
        let a = EncryptionContext::workmail("arn:aws:workmail:us-east-1:1:organization/m-1");
        assert_eq!(
            String::from_utf8(a.aad("k")).unwrap(),
            r#"["k",{"aws:workmail:arn":"arn:aws:workmail:us-east-1:1:organization/m-1"}]"#
        );
        assert_ne!(a.aad("k"), EncryptionContext::s3("x").aad("k"));
    }
}
