//! The mailbox export runner: a background task that takes export jobs (StartMailboxExportJob)
//! and writes each mailbox into Carillon's object store. Spec: workmail.md §2.22, §4.8.
//!
//! # Where and what it writes
//!
//! Carillon writes to its own blob store, not to S3: the job's `S3BucketName` and `S3Path`
//! (`<S3Prefix>/<JobId>`) select the location `exports/<S3BucketName>/<S3Path>/` in it (on
//! the default local blob store: `<data-dir>/blobs/exports/…`). Under it:
//!
//! - `messages/<folder path>/<UID>.eml`: every message of every folder, the raw RFC 5322
//!   message exactly as stored (byte-equal to an IMAP `BODY[]` fetch). Folder path segments
//!   keep letters, digits and ` -_.,+@&()'`; other bytes become `=XX` (hex), and the
//!   segments `.`, `..` and the empty one are escaped the same way.
//! - `SHA384SUMS`: one line per message, `<SHA-384 hex>  messages/<folder path>/<UID>.eml`
//!   (the `sha384sum -c` format), in export order.
//! - `output-log.json`: the §4.8 output log, every value a string: `totalNonExportableItems`
//!   (always `"0"`: a Carillon mailbox holds only messages), `totalMessages`, `sha384Hash`
//!   (SHA-384 hex of the `SHA384SUMS` file, so it covers every name and every byte),
//!   `totalBytes` (sum of the message sizes), `totalFolders`, `startTime` and `endTime`
//!   (epoch milliseconds of this run).
//!
//! Every file is sealed under the job's `KmsKeyArn` the way S3 SSE-KMS protects an object
//! (workmail.md §2.22, §5.3: [`carillon_kms::object`], a fresh data key per file wrapped by
//! that Carillon key with the context `{"aws:s3:arn": "arn:aws:s3:::<bucket>/<S3Path>/<file>"}`);
//! a job whose key is not a Carillon key of the organization's account fails. Read them
//! decrypted with [`read_export_object`] (the `carillon exports get` command). The checksums
//! and sizes are those of the plaintext. The original writes one `.zip`; Carillon writes one
//! object per message so each can be read and checked on its own.
//!
//! # Crash safety
//!
//! A job is leased like a row of the outbound queue: the runner renews its leases while it
//! lives, and a job whose runner died is taken up again from the start once the lease
//! expires (every object is rewritten under the same key, so nothing is duplicated). The
//! output log is written last, after every message and the checksums are durable, and the
//! job turns `COMPLETED` only after that, so a `COMPLETED` job always has its full output.
//! The export is not a point-in-time snapshot (§2.22): a message expunged while the job runs
//! is left out.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use carillon_core::time::now_millis;
use carillon_jobs::{CancellationToken, Job, Pass, Trigger};
use carillon_store::{
    ExportJobRecord, Store, StoreError, StoreResult, EXPORT_CANCELLED, FOLDER_DELIMITER,
};
use sha2::{Digest, Sha384};

/// Top-level folder of the blob store holding every export.
pub const EXPORTS_ROOT: &str = "exports";
/// Folder of the messages inside a job's location.
pub const MESSAGES_DIR: &str = "messages";
/// Name of the checksum file inside a job's location.
pub const CHECKSUMS_FILE: &str = "SHA384SUMS";
/// Name of the §4.8 output log inside a job's location.
pub const OUTPUT_LOG_FILE: &str = "output-log.json";

/// Longest `ErrorInfo` of the model (`MailboxExportErrorInfo`).
const MAX_ERROR_INFO: usize = 1024;

/// How often an idle runner looks for jobs.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Job leases last this long and are renewed every [`LEASE_RENEWAL`] while the runner lives.
const LEASE: Duration = Duration::from_secs(60);
const LEASE_RENEWAL: Duration = Duration::from_secs(15);

/// Progress is also written (and cancellation noticed) at least every this many messages.
const PROGRESS_EVERY: usize = 25;

/// The encryption context of the job file `name`: `{"aws:s3:arn":
/// "arn:aws:s3:::<bucket>/<s3_path>/<name>"}`.
fn export_context(bucket: &str, s3_path: &str, name: &str) -> carillon_kms::EncryptionContext {
    carillon_kms::EncryptionContext::s3(&format!("arn:aws:s3:::{bucket}/{s3_path}/{name}"))
}

/// The plaintext of the export file `<bucket>/<key>` (`key` = `<S3Path>/<file>`, as an S3
/// object key), opened with the key it names.
///
/// Errors: `NotFound` when there is no such file; `Encryption` when it does not open (not a
/// sealed export file, altered, or its key is gone); `Config` without a keyring.
pub async fn read_export_object(store: &Store, bucket: &str, key: &str) -> StoreResult<Bytes> {
    let keyring = store.keyring()?;
    let sealed = store
        .blobs()
        .get(&format!("{EXPORTS_ROOT}/{bucket}/{key}"))
        .await?;
    let context = carillon_kms::EncryptionContext::s3(&format!("arn:aws:s3:::{bucket}/{key}"));
    let plain = carillon_kms::object::open_object(keyring.provider(), &context, &sealed).await?;
    Ok(Bytes::from(plain))
}

/// The blob-store location of a job: `exports/<bucket>/<s3_path>`.
pub fn export_location(bucket: &str, s3_path: &str) -> String {
    format!("{EXPORTS_ROOT}/{bucket}/{s3_path}")
}

/// A folder name as a path inside the export (see the module documentation).
pub fn folder_path(name: &str) -> String {
    name.split(FOLDER_DELIMITER)
        .map(|segment| {
            let escape_all = matches!(segment, "" | "." | "..");
            let mut out = String::new();
            if segment.is_empty() {
                out.push('=');
            }
            for &b in segment.as_bytes() {
                let safe = b.is_ascii_alphanumeric() || b" -_.,+@&()'".contains(&b);
                if safe && !escape_all {
                    out.push(char::from(b));
                } else {
                    let _ = write!(out, "={b:02X}");
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// How one run of a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Every file written; the job is `COMPLETED`.
    Completed,
    /// The job is `FAILED` with this `ErrorInfo`.
    Failed(String),
    /// This run stopped without recording an end: the job was cancelled (what the run wrote
    /// is removed), another runner holds it now, or the store failed (the job runs again when
    /// its lease expires).
    Stopped,
}

/// The export runner of one node, the background job of `carillon serve`: polls every
/// [`POLL_INTERVAL`] for due export jobs (at once again after a round that ran some) and
/// renews the leases of the jobs it holds every [`LEASE_RENEWAL`]. Jobs `node_id` held in a
/// previous run are due again at once.
#[derive(Debug, Clone)]
pub struct ExportRunner {
    store: Store,
    node_id: String,
}

impl ExportRunner {
    /// The runner on `store` of the node `node_id` (its stable identity).
    pub fn new(store: Store, node_id: String) -> Self {
        ExportRunner { store, node_id }
    }
}

/// A round stops at shutdown wherever it is: a job interrupted half-way runs again from the
/// start once its lease expires (see "Crash safety").
#[async_trait::async_trait]
impl Job for ExportRunner {
    fn name(&self) -> &'static str {
        "mailbox-export"
    }

    fn trigger(&self) -> Trigger {
        Trigger::Every(POLL_INTERVAL)
    }

    fn renew_every(&self) -> Option<Duration> {
        Some(LEASE_RENEWAL)
    }

    async fn renew(&self) {
        let until = now_millis() + LEASE.as_millis() as i64;
        if let Err(e) = self.store.renew_export_leases(&self.node_id, until).await {
            tracing::warn!(error = %e, "could not renew export leases");
        }
    }

    async fn start(&self) {
        if let Err(e) = self
            .store
            .release_export_leases(&self.node_id, now_millis())
            .await
        {
            tracing::warn!(error = %e, "could not release stale export leases");
        }
    }

    async fn pass(&self, shutdown: &CancellationToken) -> Pass {
        match shutdown
            .run_until_cancelled(run_due_jobs(&self.store, &self.node_id))
            .await
        {
            Some(0) | None => Pass::Idle,
            Some(_) => Pass::MoreDue,
        }
    }
}

/// Leases and runs, one after the other, every job due now; returns how many ran. A store
/// failure while leasing is logged and ends the round.
pub async fn run_due_jobs(store: &Store, node_id: &str) -> usize {
    let mut ran = 0;
    loop {
        let lease_ms = LEASE.as_millis() as i64;
        let job = match store
            .lease_export_job(node_id, now_millis(), lease_ms)
            .await
        {
            Ok(Some(job)) => job,
            Ok(None) => return ran,
            Err(e) => {
                tracing::error!(error = %e, "export job lease failed");
                return ran;
            }
        };
        let outcome = run_job(store, node_id, &job).await;
        tracing::info!(job_id = %job.job_id, ?outcome, "mailbox export job ended");
        ran += 1;
    }
}

/// Runs one job `node_id` holds (see the module documentation for what it writes) and
/// records how it ended.
pub async fn run_job(store: &Store, node_id: &str, job: &ExportJobRecord) -> JobOutcome {
    let mut run = Run {
        store,
        node_id,
        job,
        location: export_location(&job.s3_bucket_name, &job.s3_path),
        written: Vec::new(),
    };
    let result = run.export().await;
    let end = now_millis();
    let error = match result {
        Ok(false) => return run.stopped().await,
        Ok(true) => None,
        Err(error) => Some(truncate(&error, MAX_ERROR_INFO)),
    };
    match store
        .finish_export_job(&job.job_id, node_id, error.as_deref(), end)
        .await
    {
        Ok(true) => match error {
            None => JobOutcome::Completed,
            Some(error) => {
                run.remove_written().await;
                JobOutcome::Failed(error)
            }
        },
        Ok(false) => run.stopped().await,
        Err(e) => {
            // The job stays RUNNING under this node's lease; once the lease runs out (or
            // the node restarts) the job is run again.
            tracing::error!(job_id = %job.job_id, error = %e, "could not record the end of an export");
            JobOutcome::Stopped
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// One run of one job.
struct Run<'a> {
    store: &'a Store,
    node_id: &'a str,
    job: &'a ExportJobRecord,
    location: String,
    /// Keys written so far, removed again when the run does not complete.
    written: Vec<String>,
}

impl Run<'_> {
    /// Writes the messages, the checksums and the output log. `Ok(false)`: the job is no
    /// longer this runner's (cancelled or lease lost). `Err`: why the job failed.
    async fn export(&mut self) -> Result<bool, String> {
        let start = now_millis();
        let user = &self.job.entity_id;
        // Every file is sealed under the job's key: it must still exist (workmail.md §5.3).
        let keyring = self.store.keyring().map_err(describe)?;
        match keyring
            .provider()
            .describe_key(&self.job.account_id, &self.job.kms_key_arn)
            .await
        {
            Ok(_) => {}
            Err(carillon_kms::KmsError::NotFound(_)) => {
                return Err(format!(
                    "KmsKeyArn {} is not a key of account {}",
                    self.job.kms_key_arn, self.job.account_id
                ))
            }
            Err(e) => return Err(describe(e.into())),
        }
        if self
            .store
            .mailbox_size(user)
            .await
            .map_err(describe)?
            .is_none()
        {
            return Err(format!("the mailbox of {user} no longer exists"));
        }
        let folders = self.store.list_folders(user).await.map_err(describe)?;
        let mut contents = Vec::with_capacity(folders.len());
        for folder in &folders {
            let messages = self
                .store
                .list_messages(user, &folder.folder_id)
                .await
                .map_err(describe)?;
            contents.push((folder_path(&folder.name), messages));
        }
        let total: usize = contents.iter().map(|(_, m)| m.len()).sum();
        let mut sums = String::new();
        let (mut done, mut exported, mut bytes, mut reported) = (0usize, 0u64, 0u64, 0i64);
        for (path, messages) in &contents {
            for message in messages {
                done += 1;
                let raw = match crate::crypto::read_mailbox_copy(
                    self.store,
                    user,
                    &message.blob_key,
                    message.message_key.as_deref(),
                )
                .await
                {
                    Ok(raw) => raw,
                    // Expunged and collected since the listing: not exported.
                    Err(StoreError::NotFound(_)) => continue,
                    Err(e) => return Err(describe(e)),
                };
                let name = format!("{MESSAGES_DIR}/{path}/{}.eml", message.uid);
                let _ = writeln!(sums, "{}  {name}", hex::encode(Sha384::digest(&raw)));
                bytes += raw.len() as u64;
                exported += 1;
                self.put(&name, raw).await.map_err(describe)?;
                // Below 100 until the job is really complete.
                let progress = ((done * 100) / total.max(1)).min(99) as i64;
                if progress != reported || done % PROGRESS_EVERY == 0 {
                    reported = progress;
                    if !self.still_ours(progress).await? {
                        return Ok(false);
                    }
                }
            }
        }
        let sha384_hash = hex::encode(Sha384::digest(sums.as_bytes()));
        self.put(CHECKSUMS_FILE, Bytes::from(sums))
            .await
            .map_err(describe)?;
        if !self.still_ours(reported).await? {
            return Ok(false);
        }
        let log = serde_json::json!({
            "totalNonExportableItems": "0",
            "totalMessages": exported.to_string(),
            "sha384Hash": sha384_hash,
            "totalBytes": bytes.to_string(),
            "totalFolders": folders.len().to_string(),
            "startTime": start.to_string(),
            "endTime": now_millis().to_string(),
        });
        self.put(OUTPUT_LOG_FILE, Bytes::from(log.to_string()))
            .await
            .map_err(describe)?;
        Ok(true)
    }

    /// Writes `data` as the job's file `name`, sealed under the job's key.
    async fn put(&mut self, name: &str, data: Bytes) -> StoreResult<()> {
        let key = format!("{}/{name}", self.location);
        let context = export_context(&self.job.s3_bucket_name, &self.job.s3_path, name);
        let keyring = self.store.keyring()?;
        let sealed = carillon_kms::object::seal_object(
            keyring.provider(),
            &self.job.kms_key_arn,
            &context,
            &data,
        )
        .await?;
        self.store.blobs().put(&key, Bytes::from(sealed)).await?;
        self.written.push(key);
        Ok(())
    }

    /// Records the progress; false when the job is no longer this runner's.
    async fn still_ours(&self, progress: i64) -> Result<bool, String> {
        self.store
            .set_export_progress(&self.job.job_id, self.node_id, progress)
            .await
            .map_err(describe)
    }

    /// The job is no longer this runner's. When it was cancelled, what this run wrote is
    /// removed; when another runner took it over, that runner writes the same keys, so
    /// nothing is touched.
    async fn stopped(&self) -> JobOutcome {
        let job = self.job;
        match self
            .store
            .export_job(&job.account_id, &job.organization_id, &job.job_id)
            .await
        {
            Ok(Some(now)) if now.state == EXPORT_CANCELLED => self.remove_written().await,
            Ok(_) => {}
            Err(e) => tracing::warn!(job_id = %job.job_id, error = %e, "export job unreadable"),
        }
        JobOutcome::Stopped
    }

    /// Best effort: a cancelled or failed job leaves no partial export behind.
    async fn remove_written(&self) {
        for key in &self.written {
            if let Err(e) = self.store.blobs().delete(key).await {
                tracing::warn!(key = %key, error = %e, "could not remove a partial export file");
            }
        }
    }
}

/// A store failure as `ErrorInfo`: the detail goes to the log, not to the caller.
fn describe(e: StoreError) -> String {
    tracing::error!(error = %e, "mailbox export store failure");
    "Carillon's store failed during the export; see the server log".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_paths_keep_plain_names_and_escape_the_rest() {
        assert_eq!(folder_path("INBOX"), "INBOX");
        assert_eq!(folder_path("Sent Items"), "Sent Items");
        assert_eq!(folder_path("Projects/2024"), "Projects/2024");
        assert_eq!(folder_path("a=b"), "a=3Db");
        assert_eq!(folder_path("Réunions"), "R=C3=A9unions");
        assert_eq!(folder_path("x/../y"), "x/=2E=2E/y");
        assert_eq!(folder_path("x//y"), "x/=/y");
        assert_eq!(folder_path("[Gmail]~#"), "=5BGmail=5D=7E=23");
    }

    #[test]
    fn error_info_is_cut_on_a_character_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
