//! Encryption at rest: WorkMail's key hierarchy over the store (workmail.md §5.3).
//!
//! - Each message blob is sealed ([`carillon_kms::cipher`], chunked AES-256-GCM) under its
//!   own fresh 256-bit **message key** before it is written; the blob store never holds
//!   plaintext of a message written since encryption at rest.
//! - Each mailbox copy (`messages.message_key`) carries the message key wrapped by the
//!   **mailbox key**, a 256-bit AES key per mailbox, made on the mailbox's first message.
//! - A blob referenced outside any mailbox (an outbound queue row, an in-transit message)
//!   carries the message key wrapped by its organization's **transit key**, a per-organization
//!   256-bit key handled exactly like a mailbox key. (Chosen over wrapping each message key by
//!   the KEK directly: one provider call per organization per minute instead of one per
//!   message, and the same code path as mailbox keys.)
//! - Mailbox and transit keys are stored (`encryption_keys`) only wrapped by the
//!   organization's **key-encryption key** (`KmsKeyArn`, chosen at CreateOrganization, the
//!   account default key otherwise, fixed after), through the [`carillon_kms::KeyProvider`]
//!   with the encryption context `{"aws:workmail:arn": <organization ARN>}`.
//! - Unwrapped mailbox and transit keys are cached in the store's [`carillon_kms::Keyring`]
//!   for at most one minute, in memory only.
//!
//! A wrapped message key is bound (AAD) to its blob key, so it cannot be moved to another
//! blob. A copy or row with no wrapped key is a plaintext blob from before encryption at
//! rest and is read as it is.

use base64::Engine;
use bytes::Bytes;
use carillon_kms::{cipher, DataKey, EncryptionContext, KeyArn};
use carillon_store::{
    EncryptionKeyRecord, NewMessage, NewOutbound, Store, StoreError, KEY_KIND_MAILBOX,
    KEY_KIND_TRANSIT,
};

/// A message blob sealed and stored durably, with its message key (in memory only, zeroed
/// on drop) for wrapping per copy.
#[derive(Debug)]
pub struct SealedBlob {
    /// The blob's key in the blob store.
    pub key: String,
    message_key: DataKey,
}

impl SealedBlob {
    /// The message key wrapped for a copy in the mailbox of `user_id` (base64, for
    /// [`NewMessage::message_key`]).
    ///
    /// Errors: `NotFound` when the user has no mailbox; `Encryption`, `Io`, `Database`.
    pub async fn wrap_for_mailbox(
        &self,
        store: &Store,
        user_id: &str,
    ) -> Result<String, StoreError> {
        self.wrap_for(store, Owner::Mailbox(user_id)).await
    }

    /// The message key wrapped for a reference outside any mailbox owned by
    /// `organization_id` (a queue row, an in-transit message; base64).
    ///
    /// Errors: `NotFound` for an unknown organization; `Encryption`, `Io`, `Database`.
    pub async fn wrap_for_organization(
        &self,
        store: &Store,
        organization_id: &str,
    ) -> Result<String, StoreError> {
        self.wrap_for(store, Owner::Organization(organization_id))
            .await
    }

    async fn wrap_for(&self, store: &Store, owner: Owner<'_>) -> Result<String, StoreError> {
        let key = owner.key(store).await?;
        let aad = message_key_aad(&self.key);
        let wrapped = cipher::wrap_key(&key, &aad, &self.message_key);
        Ok(base64::engine::general_purpose::STANDARD.encode(wrapped))
    }
}

/// Seals `message` under a fresh message key and stores it as `messages/<uuid>`; durable
/// when it returns.
///
/// Errors: `Config` without a keyring; blob store failures.
pub async fn put_sealed(store: &Store, message: &[u8]) -> Result<SealedBlob, StoreError> {
    put_sealed_at(
        store,
        format!("messages/{}", carillon_core::ids::new_uuid()),
        message,
    )
    .await
}

/// [`put_sealed`] under the blob key `key`.
///
/// Errors: as [`put_sealed`].
pub async fn put_sealed_at(
    store: &Store,
    key: String,
    message: &[u8],
) -> Result<SealedBlob, StoreError> {
    store.keyring()?;
    let message_key = DataKey::generate();
    let sealed = cipher::seal(&message_key, message)?;
    store.blobs().put(&key, Bytes::from(sealed)).await?;
    Ok(SealedBlob { key, message_key })
}

/// Fills the `message_key` of every copy and queue row whose blob is one of `blobs`: copies
/// get it wrapped by their mailbox key, rows by their organization's transit key. Others are
/// left as they are.
///
/// Errors: as [`SealedBlob::wrap_for_mailbox`] and [`SealedBlob::wrap_for_organization`].
pub async fn wrap_message_keys(
    store: &Store,
    blobs: &[SealedBlob],
    copies: &mut [NewMessage],
    outbound: &mut [NewOutbound],
) -> Result<(), StoreError> {
    for copy in copies.iter_mut() {
        if let Some(blob) = blobs.iter().find(|b| b.key == copy.blob_key) {
            copy.message_key = Some(blob.wrap_for_mailbox(store, &copy.user_id).await?);
        }
    }
    for row in outbound.iter_mut() {
        if let Some(blob) = blobs.iter().find(|b| b.key == row.blob_key) {
            row.message_key = Some(
                blob.wrap_for_organization(store, &row.organization_id)
                    .await?,
            );
        }
    }
    Ok(())
}

/// The plaintext of a mailbox copy of `user_id`: the blob `blob_key` opened with the copy's
/// wrapped `message_key`, or as stored when `None` (a blob from before encryption at rest).
///
/// Errors: `NotFound` when the blob is gone; `Encryption` when a key is missing or the blob
/// does not authenticate; `Io`, `Database`, blob store failures.
pub async fn read_mailbox_copy(
    store: &Store,
    user_id: &str,
    blob_key: &str,
    message_key: Option<&str>,
) -> Result<Bytes, StoreError> {
    read_sealed(store, Owner::Mailbox(user_id), blob_key, message_key).await
}

/// The plaintext of a blob referenced outside any mailbox by `organization_id` (a queue
/// row, an in-transit message), as [`read_mailbox_copy`] with the transit key.
///
/// Errors: as [`read_mailbox_copy`].
pub async fn read_organization_blob(
    store: &Store,
    organization_id: &str,
    blob_key: &str,
    message_key: Option<&str>,
) -> Result<Bytes, StoreError> {
    read_sealed(
        store,
        Owner::Organization(organization_id),
        blob_key,
        message_key,
    )
    .await
}

/// Prefix of a secret sealed by [`seal_secret`] (what follows is base64).
const SEALED_SECRET_PREFIX: &str = "sealed:v1:";

/// `secret` (an SMTP gateway password, a DKIM private key, the hook signing secret) sealed
/// under `organization_id`'s transit key for the metadata database, as
/// `sealed:v1:<base64>`; read it back with [`open_secret`]. Spec: workmail.md §5.3 (no
/// customer data stored in plaintext).
///
/// Errors: `NotFound` for an unknown organization; `Encryption`, `Config`, `Database`.
pub async fn seal_secret(
    store: &Store,
    organization_id: &str,
    secret: &str,
) -> Result<String, StoreError> {
    let key = Owner::Organization(organization_id).key(store).await?;
    let sealed = cipher::seal(&key, secret.as_bytes())?;
    Ok(format!(
        "{SEALED_SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(sealed)
    ))
}

/// The plaintext of a secret stored by [`seal_secret`]; a value without the prefix was stored
/// before secrets were sealed and is returned as it is.
///
/// Errors: `Encryption` when it does not open under the organization's transit key;
/// `NotFound`, `Config`, `Database`.
pub async fn open_secret(
    store: &Store,
    organization_id: &str,
    stored: &str,
) -> Result<String, StoreError> {
    let Some(encoded) = stored.strip_prefix(SEALED_SECRET_PREFIX) else {
        return Ok(stored.to_string());
    };
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| StoreError::Encryption("sealed secret is not base64".to_string()))?;
    let key = Owner::Organization(organization_id).key(store).await?;
    String::from_utf8(cipher::open(&key, &sealed)?)
        .map_err(|_| StoreError::Encryption("sealed secret is not UTF-8".to_string()))
}

/// Whose data key wraps a message key: a mailbox's or an organization's transit key.
#[derive(Clone, Copy)]
enum Owner<'a> {
    /// The mailbox of this user ID.
    Mailbox(&'a str),
    /// This organization (its transit key).
    Organization(&'a str),
}

impl Owner<'_> {
    async fn key(self, store: &Store) -> Result<DataKey, StoreError> {
        match self {
            Owner::Mailbox(user_id) => owner_key(store, KEY_KIND_MAILBOX, user_id, None).await,
            Owner::Organization(id) => owner_key(store, KEY_KIND_TRANSIT, id, Some(id)).await,
        }
    }
}

async fn read_sealed(
    store: &Store,
    owner: Owner<'_>,
    blob_key: &str,
    message_key: Option<&str>,
) -> Result<Bytes, StoreError> {
    let raw = store.blobs().get(blob_key).await?;
    let Some(wrapped) = message_key else {
        return Ok(raw);
    };
    let key = owner.key(store).await?;
    open_blob(&key, blob_key, wrapped, &raw)
}

/// `raw`, the sealed blob `blob_key`, opened with its message key `wrapped` under `key`.
fn open_blob(
    key: &DataKey,
    blob_key: &str,
    wrapped: &str,
    raw: &[u8],
) -> Result<Bytes, StoreError> {
    let wrapped = base64::engine::general_purpose::STANDARD
        .decode(wrapped)
        .map_err(|_| StoreError::Encryption(format!("wrapped key of {blob_key} is not base64")))?;
    let message_key = cipher::unwrap_key(key, &message_key_aad(blob_key), &wrapped)?;
    Ok(Bytes::from(cipher::open(&message_key, raw)?))
}

/// The unwrapped mailbox key of `user_id`, for reading many of its copies with
/// [`read_mailbox_copy_with`] (an IMAP FETCH) without looking the key up per message.
///
/// Errors: as [`read_mailbox_copy`].
pub async fn mailbox_key(store: &Store, user_id: &str) -> Result<DataKey, StoreError> {
    Owner::Mailbox(user_id).key(store).await
}

/// [`read_mailbox_copy`] with the mailbox key already at hand ([`mailbox_key`]).
///
/// Errors: as [`read_mailbox_copy`].
pub async fn read_mailbox_copy_with(
    store: &Store,
    key: &DataKey,
    blob_key: &str,
    message_key: Option<&str>,
) -> Result<Bytes, StoreError> {
    let raw = store.blobs().get(blob_key).await?;
    match message_key {
        Some(wrapped) => open_blob(key, blob_key, wrapped, &raw),
        None => Ok(raw),
    }
}

fn message_key_aad(blob_key: &str) -> Vec<u8> {
    format!("carillon:message-key:{blob_key}").into_bytes()
}

/// The organization ARN of the encryption context: in the region of its key-encryption key
/// (an organization and its key share a region, workmail.md §2.22).
fn context(record: &EncryptionKeyRecord) -> Result<EncryptionContext, StoreError> {
    let region = KeyArn::parse(&record.kms_key_arn)?.region;
    Ok(EncryptionContext::workmail(&format!(
        "arn:aws:workmail:{region}:{}:organization/{}",
        record.account_id, record.organization_id
    )))
}

/// The unwrapped mailbox or transit key of `owner_id`: its stored wrapping (made now when
/// there is none, stored once whoever races), unwrapped by the provider unless the keyring
/// unwrapped that same wrapping less than a minute ago. The cache is keyed by the wrapping
/// read from the store, so a key deleted (mailbox purged) and made anew is never confused
/// with a cached predecessor.
async fn owner_key(
    store: &Store,
    kind: &str,
    owner_id: &str,
    organization_id: Option<&str>,
) -> Result<DataKey, StoreError> {
    let keyring = store.keyring()?;
    let record = match store.encryption_key(owner_id).await? {
        Some(record) => record,
        None => make_owner_key(store, kind, owner_id, organization_id).await?,
    };
    let cache_id = format!("{owner_id}/{}", record.wrapped_key);
    if let Some(key) = keyring.cached(&cache_id) {
        return Ok(key);
    }
    let wrapped = base64::engine::general_purpose::STANDARD
        .decode(&record.wrapped_key)
        .map_err(|_| StoreError::Encryption(format!("stored key of {owner_id} is not base64")))?;
    let key = keyring
        .provider()
        .decrypt(&record.kms_key_arn, &context(&record)?, &wrapped)
        .await?;
    keyring.remember(&cache_id, &key);
    Ok(key)
}

async fn make_owner_key(
    store: &Store,
    kind: &str,
    owner_id: &str,
    organization_id: Option<&str>,
) -> Result<EncryptionKeyRecord, StoreError> {
    let keyring = store.keyring()?;
    let organization_id = match organization_id {
        Some(id) => id.to_string(),
        None => store
            .mailbox_organization(owner_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {owner_id}")))?,
    };
    let (account_id, kms_key_arn) = store
        .organization_key_facts(&organization_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("organization {organization_id}")))?;
    let kms_key_arn = match kms_key_arn {
        Some(arn) => arn,
        // An organization from before encryption at rest: the account default key, fixed now.
        None => {
            let default = keyring
                .provider()
                .default_key(&account_id, keyring.region())
                .await?;
            store
                .settle_organization_kms_key(&organization_id, &default.arn)
                .await?
        }
    };
    let mut record = EncryptionKeyRecord {
        owner_id: owner_id.to_string(),
        kind: kind.to_string(),
        organization_id,
        account_id,
        kms_key_arn,
        wrapped_key: String::new(),
        created_at: carillon_core::time::now_millis(),
    };
    let fresh = DataKey::generate();
    let wrapped = keyring
        .provider()
        .encrypt(&record.kms_key_arn, &context(&record)?, &fresh)
        .await?;
    record.wrapped_key = base64::engine::general_purpose::STANDARD.encode(wrapped);
    store.insert_encryption_key(&record).await
}
