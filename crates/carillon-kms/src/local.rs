//! The default KEK provider: 256-bit keys in files under `<data-dir>/keys/`.
//!
//! Layout: `keys/<account>/<key uuid>.key`, one JSON document per key (its [`KeyMetadata`]
//! and the base64 key material under `"Material"`), and `keys/<account>/default` holding the
//! UUID of the account's default key ([`DEFAULT_KEY_ALIAS`]). Directories are mode 0700,
//! files 0600. A file is written under a temporary name, fsync'd, then hard-linked to its
//! final name (which fails when the name exists: creation never replaces a key, and two
//! nodes racing to make the default key agree on one), and the directory is fsync'd.
//!
//! Several nodes share keys by sharing (or copying) this directory. Losing it makes every
//! message sealed under its keys unreadable: back it up with the database.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cipher::{self, DataKey};
use crate::provider::{
    account_like, uuid_like, EncryptionContext, KeyArn, KeyManager, KeyMetadata, KeyProvider,
    DEFAULT_KEY_ALIAS,
};
use crate::{KmsError, KmsResult};

const DEFAULT_FILE: &str = "default";
const DEFAULT_DESCRIPTION: &str =
    "Default key that protects my WorkMail mailboxes when no other key is defined";

/// Keys in files under a directory (normally `<data-dir>/keys`).
#[derive(Debug, Clone)]
pub struct LocalKeyProvider {
    root: PathBuf,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyFile {
    #[serde(flatten)]
    metadata: KeyMetadata,
    /// Base64 of the 32 key bytes.
    material: Zeroizing<String>,
}

impl LocalKeyProvider {
    /// The provider over `root` (created, mode 0700, when missing).
    ///
    /// Errors: `Io`.
    pub fn open(root: impl Into<PathBuf>) -> KmsResult<LocalKeyProvider> {
        let root = root.into();
        create_private_dir(&root)?;
        Ok(LocalKeyProvider { root })
    }

    fn account_dir(&self, account_id: &str) -> KmsResult<PathBuf> {
        if !account_like(account_id) {
            return Err(KmsError::NotFound(format!("account {account_id}")));
        }
        Ok(self.root.join(account_id))
    }

    fn key_path(&self, account_id: &str, key_id: &str) -> KmsResult<PathBuf> {
        uuid_like(key_id).ok_or_else(|| KmsError::NotFound(format!("key {key_id}")))?;
        Ok(self.account_dir(account_id)?.join(format!("{key_id}.key")))
    }

    fn read_key(&self, account_id: &str, key_id: &str) -> KmsResult<KeyFile> {
        let path = self.key_path(account_id, key_id)?;
        let text = match std::fs::read(&path) {
            Ok(text) => Zeroizing::new(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KmsError::NotFound(format!("key {key_id}")))
            }
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&text)
            .map_err(|e| KmsError::InvalidKey(format!("{}: {e}", path.display())))
    }

    fn material(&self, key_arn: &str) -> KmsResult<DataKey> {
        let arn = KeyArn::parse(key_arn)?;
        let file = self.read_key(&arn.account_id, &arn.key_id)?;
        if file.metadata.arn != key_arn {
            return Err(KmsError::NotFound(key_arn.to_string()));
        }
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(file.material.as_bytes())
                .map_err(|_| KmsError::InvalidKey(format!("key {}", arn.key_id)))?,
        );
        DataKey::from_slice(&bytes)
    }

    /// Writes a new key file; returns its metadata.
    fn write_key(
        &self,
        account_id: &str,
        region: &str,
        description: &str,
        key_manager: KeyManager,
    ) -> KmsResult<KeyMetadata> {
        let dir = self.account_dir(account_id)?;
        create_private_dir(&dir)?;
        let key_id = carillon_core::ids::new_uuid();
        let metadata = KeyMetadata {
            arn: format!("arn:aws:kms:{region}:{account_id}:key/{key_id}"),
            key_id: key_id.clone(),
            account_id: account_id.to_string(),
            description: description.to_string(),
            creation_date: carillon_core::time::now_millis(),
            key_manager,
            alias: (key_manager == KeyManager::Aws).then(|| DEFAULT_KEY_ALIAS.to_string()),
        };
        let key = DataKey::generate();
        let file = KeyFile {
            metadata: metadata.clone(),
            material: Zeroizing::new(
                base64::engine::general_purpose::STANDARD.encode(key.expose()),
            ),
        };
        let text = Zeroizing::new(serde_json::to_vec(&file).expect("key file serializes"));
        create_file(&dir, &format!("{key_id}.key"), &text)?;
        Ok(metadata)
    }

    fn default_key_blocking(&self, account_id: &str, region: &str) -> KmsResult<KeyMetadata> {
        let dir = self.account_dir(account_id)?;
        if let Some(found) = self.read_default(account_id)? {
            return Ok(found);
        }
        let made = self.write_key(account_id, region, DEFAULT_DESCRIPTION, KeyManager::Aws)?;
        match create_file(&dir, DEFAULT_FILE, made.key_id.as_bytes()) {
            Ok(()) => Ok(made),
            Err(KmsError::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Another caller made the default first: keep theirs, drop the unused key.
                std::fs::remove_file(self.key_path(account_id, &made.key_id)?)?;
                self.read_default(account_id)?
                    .ok_or_else(|| KmsError::NotFound(DEFAULT_KEY_ALIAS.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    fn read_default(&self, account_id: &str) -> KmsResult<Option<KeyMetadata>> {
        match std::fs::read_to_string(self.account_dir(account_id)?.join(DEFAULT_FILE)) {
            Ok(id) => Ok(Some(self.read_key(account_id, id.trim())?.metadata)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn describe_blocking(&self, account_id: &str, key: &str) -> KmsResult<KeyMetadata> {
        if key == DEFAULT_KEY_ALIAS {
            return self
                .read_default(account_id)?
                .ok_or_else(|| KmsError::NotFound(key.to_string()));
        }
        let key_id = match key.strip_prefix("arn:") {
            Some(_) => {
                let arn = KeyArn::parse(key).map_err(|_| KmsError::NotFound(key.to_string()))?;
                if arn.account_id != account_id {
                    return Err(KmsError::NotFound(key.to_string()));
                }
                arn.key_id
            }
            None => key.to_string(),
        };
        let metadata = self.read_key(account_id, &key_id)?.metadata;
        if key.starts_with("arn:") && metadata.arn != key {
            return Err(KmsError::NotFound(key.to_string()));
        }
        Ok(metadata)
    }

    fn list_blocking(&self, account_id: &str) -> KmsResult<Vec<KeyMetadata>> {
        let dir = self.account_dir(account_id)?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".key")) else {
                continue;
            };
            if uuid_like(id).is_some() {
                keys.push(self.read_key(account_id, id)?.metadata);
            }
        }
        keys.sort_by(|a, b| (a.creation_date, &a.key_id).cmp(&(b.creation_date, &b.key_id)));
        Ok(keys)
    }
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> KmsResult<T> + Send + 'static,
) -> KmsResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| KmsError::Io(std::io::Error::other(e)))?
}

#[async_trait::async_trait]
impl KeyProvider for LocalKeyProvider {
    async fn create_key(
        &self,
        account_id: &str,
        region: &str,
        description: &str,
    ) -> KmsResult<KeyMetadata> {
        let (this, account, region, description) = (
            self.clone(),
            account_id.to_string(),
            region.to_string(),
            description.to_string(),
        );
        blocking(move || this.write_key(&account, &region, &description, KeyManager::Customer))
            .await
    }

    async fn default_key(&self, account_id: &str, region: &str) -> KmsResult<KeyMetadata> {
        let (this, account, region) = (self.clone(), account_id.to_string(), region.to_string());
        blocking(move || this.default_key_blocking(&account, &region)).await
    }

    async fn describe_key(&self, account_id: &str, key: &str) -> KmsResult<KeyMetadata> {
        let (this, account, key) = (self.clone(), account_id.to_string(), key.to_string());
        blocking(move || this.describe_blocking(&account, &key)).await
    }

    async fn list_keys(&self, account_id: &str) -> KmsResult<Vec<KeyMetadata>> {
        let (this, account) = (self.clone(), account_id.to_string());
        blocking(move || this.list_blocking(&account)).await
    }

    async fn encrypt(
        &self,
        key_arn: &str,
        context: &EncryptionContext,
        plaintext: &DataKey,
    ) -> KmsResult<Vec<u8>> {
        let (this, arn) = (self.clone(), key_arn.to_string());
        let kek = blocking(move || this.material(&arn)).await?;
        Ok(cipher::wrap_key(&kek, &context.aad(key_arn), plaintext))
    }

    async fn decrypt(
        &self,
        key_arn: &str,
        context: &EncryptionContext,
        wrapped: &[u8],
    ) -> KmsResult<DataKey> {
        let (this, arn) = (self.clone(), key_arn.to_string());
        let kek = blocking(move || this.material(&arn)).await?;
        cipher::unwrap_key(&kek, &context.aad(key_arn), wrapped)
    }
}

fn create_private_dir(dir: &Path) -> KmsResult<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    Ok(())
}

/// Creates `dir/name` with `content` (mode 0600), atomically and durably; `AlreadyExists`
/// (as `Io`) when the name is taken.
fn create_file(dir: &Path, name: &str, content: &[u8]) -> KmsResult<()> {
    let temporary = dir.join(format!(".{name}.{}.tmp", carillon_core::ids::new_uuid()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(content)?;
        file.sync_all()?;
        std::fs::hard_link(&temporary, dir.join(name))
    })();
    let removed = std::fs::remove_file(&temporary);
    result?;
    removed?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const ACCOUNT: &str = "111122223333";

    #[tokio::test]
    async fn keys_are_private_files_and_wrap_with_their_context() {
        let dir = tempfile::tempdir().unwrap();
        let provider = LocalKeyProvider::open(dir.path().join("keys")).unwrap();
        let key = provider
            .create_key(ACCOUNT, "us-east-1", "mine")
            .await
            .unwrap();
        assert!(KeyArn::parse(&key.arn).is_ok());
        let path = dir
            .path()
            .join("keys")
            .join(ACCOUNT)
            .join(format!("{}.key", key.key_id));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(dir.path().join("keys").join(ACCOUNT))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);

        let context =
            EncryptionContext::workmail("arn:aws:workmail:us-east-1:111122223333:organization/m-1");
        let data = DataKey::generate();
        let wrapped = provider.encrypt(&key.arn, &context, &data).await.unwrap();
        let back = provider
            .decrypt(&key.arn, &context, &wrapped)
            .await
            .unwrap();
        assert_eq!(back.expose(), data.expose());
        let other =
            EncryptionContext::workmail("arn:aws:workmail:us-east-1:111122223333:organization/m-2");
        assert!(matches!(
            provider.decrypt(&key.arn, &other, &wrapped).await,
            Err(KmsError::InvalidCiphertext(_))
        ));
        let second = provider.create_key(ACCOUNT, "us-east-1", "").await.unwrap();
        assert!(provider
            .decrypt(&second.arn, &context, &wrapped)
            .await
            .is_err());

        assert_eq!(provider.describe_key(ACCOUNT, &key.arn).await.unwrap(), key);
        assert_eq!(
            provider.describe_key(ACCOUNT, &key.key_id).await.unwrap(),
            key
        );
        assert!(matches!(
            provider.describe_key("999988887777", &key.arn).await,
            Err(KmsError::NotFound(_))
        ));
        let listed = provider.list_keys(ACCOUNT).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(provider.list_keys("999988887777").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_default_key_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let provider = LocalKeyProvider::open(dir.path()).unwrap();
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let p = provider.clone();
                tokio::spawn(async move { p.default_key(ACCOUNT, "us-east-1").await.unwrap() })
            })
            .collect();
        let mut arns = Vec::new();
        for racer in racers {
            arns.push(racer.await.unwrap().arn);
        }
        arns.dedup();
        assert_eq!(arns.len(), 1);
        let listed = provider.list_keys(ACCOUNT).await.unwrap();
        assert_eq!(listed.len(), 1, "losing racers removed their keys");
        assert_eq!(listed[0].key_manager, KeyManager::Aws);
        assert_eq!(listed[0].alias.as_deref(), Some(DEFAULT_KEY_ALIAS));
        assert_eq!(
            provider
                .describe_key(ACCOUNT, DEFAULT_KEY_ALIAS)
                .await
                .unwrap()
                .arn,
            arns[0]
        );
    }
}
