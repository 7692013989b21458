//! Access keys handed to people, and the AWS shared-credentials file they are written to.

use std::io::Write;
use std::path::{Path, PathBuf};

/// An access key with its secret, as returned once at creation. `Debug` never prints the
/// secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// `AKIA…` identifier.
    pub access_key_id: String,
    /// The 40-character secret access key.
    pub secret_access_key: String,
    /// Account (tenant) of the key's principal.
    pub account_id: String,
    /// ARN of the key's principal, e.g. `arn:aws:iam::123456789012:user/admin`.
    pub principal_arn: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("account_id", &self.account_id)
            .field("principal_arn", &self.principal_arn)
            .finish()
    }
}

/// The file's contents: a comment naming the principal, then the `[default]` profile with
/// `aws_access_key_id` and `aws_secret_access_key` (AWS shared-credentials format).
fn credentials_text(key: &AccessKey) -> String {
    format!(
        "# Carillon access key of {} (account {})\n[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        key.principal_arn, key.account_id, key.access_key_id, key.secret_access_key
    )
}

/// A credentials file written and synced under a temporary name beside its destination,
/// not yet visible under the final name.
pub(crate) struct StagedCredentials {
    temp: PathBuf,
    path: PathBuf,
}

impl StagedCredentials {
    /// Writes `key` to a new temporary file (mode 0600 from creation, so the secret is never
    /// readable by others even briefly) in `path`'s directory, and syncs it.
    pub(crate) fn write(path: &Path, key: &AccessKey) -> std::io::Result<StagedCredentials> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().ok_or_else(|| {
            std::io::Error::other(format!("{} is not a file path", path.display()))
        })?;
        let temp = dir.join(format!(
            ".{}.tmp-{}",
            name.to_string_lossy(),
            uuid::Uuid::new_v4().simple()
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&temp)?;
        let written = file
            .write_all(credentials_text(key).as_bytes())
            .and_then(|()| file.sync_all());
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        Ok(StagedCredentials {
            temp,
            path: path.to_path_buf(),
        })
    }

    /// Renames the file into place (atomically replacing any previous file) and syncs the
    /// directory so the rename survives a crash.
    pub(crate) fn publish(self) -> std::io::Result<()> {
        std::fs::rename(&self.temp, &self.path)?;
        #[cfg(unix)]
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Removes the temporary file (the key it holds was never committed).
    pub(crate) fn discard(self) {
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// Writes `key` to `path` in AWS shared-credentials format (`[default]`,
/// `aws_access_key_id`, `aws_secret_access_key`), mode 0600, atomically: a temporary file in
/// the same directory is written, synced and renamed over `path`.
///
/// Errors: any I/O error (the directory must exist and be writable).
pub fn write_credentials_file(path: &Path, key: &AccessKey) -> std::io::Result<()> {
    StagedCredentials::write(path, key)?.publish()
}
