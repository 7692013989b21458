//! Chat content at rest: no message is plaintext at rest (ARCHITECTURE.md invariants).
//!
//! - Each room or conversation has a 256-bit **container key**, made with its first sealed
//!   message and stored (`chime_container_keys`) only wrapped by its tenant's default KMS key,
//!   with `{"carillon:chime:container": <container ID>}` as encryption context. The tenant is
//!   the room's, or the conversation creator's ([`crate::messages`] `ContainerState`), fixed
//!   when the key is made. One key per container rather than one KMS wrapping per message:
//!   a history page of 50 messages costs one provider call per container per minute (the
//!   store's [`carillon_kms::Keyring`] caches unwrapped keys for at most a minute, in memory
//!   only), not 50.
//! - Each content (each post, each edit) is sealed ([`cipher::seal`]) under a fresh
//!   **message key**, which is wrapped by the container key with the container and message
//!   IDs as AAD: every key seals one value only, as the cipher requires, and a sealed value
//!   copied to another message's row does not open.
//! - The column holds `sealed:v1:<base64(wrapped message key | sealed content)>`. A value
//!   without the prefix was written before sealing and reads as it is; a redacted message
//!   keeps NULL. Hub events carry the plaintext, in memory only.

use base64::Engine;
use carillon_core::time::now_millis;
use carillon_kms::cipher::{self, WRAPPED_KEY_BYTES};
use carillon_kms::{DataKey, EncryptionContext};
use carillon_store::chime::chat::ContainerKeyRecord;
use carillon_store::StoreError;

use crate::Chime;

/// Prefix of sealed content (what follows is base64).
const SEALED_PREFIX: &str = "sealed:v1:";

/// The KMS account whose default key wraps the key of a conversation in which no member has
/// a tenant (unmanaged identities only). Tenant IDs never start with 0
/// (`carillon_core::ids::new_account_id`), so this is no tenant's.
pub const NO_TENANT_KEY_ACCOUNT: &str = "000000000000";

/// `content` of message `message_id` in `container_id` sealed for `chime_messages.content`,
/// under the container's key (made now, wrapped by `account_id`'s default KMS key, when the
/// container has none yet).
///
/// Errors: `Config` without a keyring; the provider's; `Database`.
pub(crate) async fn seal_content(
    chime: &Chime,
    account_id: &str,
    container_id: &str,
    message_id: &str,
    content: &str,
) -> Result<String, StoreError> {
    let container_key = container_key(chime, account_id, container_id).await?;
    let message_key = DataKey::generate();
    let mut sealed = cipher::wrap_key(
        &container_key,
        &message_key_aad(container_id, message_id),
        &message_key,
    );
    sealed.extend(cipher::seal(&message_key, content.as_bytes())?);
    Ok(format!(
        "{SEALED_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(sealed)
    ))
}

/// The plaintext of `stored`, the content column of message `message_id` in
/// `container_id`: opened when sealed, as it is when written before sealing.
///
/// Errors: `Encryption` when it does not open (altered, moved from another message, or the
/// container's key is gone); `Config`, the provider's, `Database`.
pub(crate) async fn open_content(
    chime: &Chime,
    container_id: &str,
    message_id: &str,
    stored: &str,
) -> Result<String, StoreError> {
    let Some(encoded) = stored.strip_prefix(SEALED_PREFIX) else {
        return Ok(stored.to_string());
    };
    let invalid = |what: &str| {
        StoreError::Encryption(format!("sealed content of message {message_id}: {what}"))
    };
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| invalid("not base64"))?;
    if sealed.len() < WRAPPED_KEY_BYTES {
        return Err(invalid("too short"));
    }
    let (wrapped, body) = sealed.split_at(WRAPPED_KEY_BYTES);
    let record = chime
        .store
        .chime_container_key(container_id)
        .await?
        .ok_or_else(|| invalid("the container has no key"))?;
    let container_key = unwrap_container_key(chime, &record).await?;
    let message_key = cipher::unwrap_key(
        &container_key,
        &message_key_aad(container_id, message_id),
        wrapped,
    )?;
    String::from_utf8(cipher::open(&message_key, body)?).map_err(|_| invalid("not UTF-8"))
}

/// Binds a message key to its message: `carillon:chime-message:<container>/<message>`.
fn message_key_aad(container_id: &str, message_id: &str) -> Vec<u8> {
    format!("carillon:chime-message:{container_id}/{message_id}").into_bytes()
}

/// The unwrapped key of `container_id`: its stored wrapping, or a new key wrapped by the
/// default KMS key of `account_id` (of [`NO_TENANT_KEY_ACCOUNT`] when empty) and stored once,
/// whoever races.
async fn container_key(
    chime: &Chime,
    account_id: &str,
    container_id: &str,
) -> Result<DataKey, StoreError> {
    if let Some(record) = chime.store.chime_container_key(container_id).await? {
        return unwrap_container_key(chime, &record).await;
    }
    let keyring = chime.store.keyring()?;
    let account_id = if account_id.is_empty() {
        NO_TENANT_KEY_ACCOUNT
    } else {
        account_id
    };
    let kms_key = keyring
        .provider()
        .default_key(account_id, keyring.region())
        .await?;
    let fresh = DataKey::generate();
    let wrapped = keyring
        .provider()
        .encrypt(
            &kms_key.arn,
            &EncryptionContext::chime_container(container_id),
            &fresh,
        )
        .await?;
    let record = ContainerKeyRecord {
        container_id: container_id.to_string(),
        account_id: account_id.to_string(),
        kms_key_arn: kms_key.arn,
        wrapped_key: base64::engine::general_purpose::STANDARD.encode(wrapped),
        created_at: now_millis(),
    };
    let stored = chime.store.insert_chime_container_key(&record).await?;
    if stored.wrapped_key == record.wrapped_key {
        return Ok(fresh);
    }
    unwrap_container_key(chime, &stored).await
}

/// `record` unwrapped by the provider, unless the keyring unwrapped that same wrapping less
/// than a minute ago (keyed by the wrapping, so a key made anew is never confused with a
/// cached predecessor).
async fn unwrap_container_key(
    chime: &Chime,
    record: &ContainerKeyRecord,
) -> Result<DataKey, StoreError> {
    let keyring = chime.store.keyring()?;
    let cache_id = format!("chime/{}/{}", record.container_id, record.wrapped_key);
    if let Some(key) = keyring.cached(&cache_id) {
        return Ok(key);
    }
    let wrapped = base64::engine::general_purpose::STANDARD
        .decode(&record.wrapped_key)
        .map_err(|_| {
            StoreError::Encryption(format!(
                "stored key of container {} is not base64",
                record.container_id
            ))
        })?;
    let key = keyring
        .provider()
        .decrypt(
            &record.kms_key_arn,
            &EncryptionContext::chime_container(&record.container_id),
            &wrapped,
        )
        .await?;
    keyring.remember(&cache_id, &key);
    Ok(key)
}
