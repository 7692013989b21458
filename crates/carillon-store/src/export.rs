//! Mailbox export jobs: their records, the admission rule (concurrency and per-mailbox limits
//! checked and the job inserted in one transaction) and the leases of the background runner.
//! Spec: workmail.md §2.22.
//!
//! The limits' values are business rules and come from the caller; this module only makes
//! the check and the insert atomic. Leases work like the outbound queue's (`queue.rs`): a
//! conditional UPDATE claims a job, a heartbeat renews the holder's leases, and a job whose
//! holder died comes free when its lease expires.

use crate::error::StoreResult;
use crate::sql;
use crate::Store;

/// Job waiting for a runner (shown as `RUNNING` by the API: the model has no pending state).
pub const EXPORT_PENDING: &str = "PENDING";
/// Job held by a runner.
pub const EXPORT_RUNNING: &str = "RUNNING";
/// Job whose files and output log are all written.
pub const EXPORT_COMPLETED: &str = "COMPLETED";
/// Job that stopped on an error (`error_info` says which).
pub const EXPORT_FAILED: &str = "FAILED";
/// Job cancelled by CancelMailboxExportJob.
pub const EXPORT_CANCELLED: &str = "CANCELLED";

/// A mailbox export job to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExportJob {
    /// Job ID (UUID).
    pub job_id: String,
    /// The tenant owning the organization.
    pub account_id: String,
    /// The organization (`m-…`).
    pub organization_id: String,
    /// The user (or resource) whose mailbox is exported.
    pub entity_id: String,
    /// Free text from the request.
    pub description: Option<String>,
    /// `RoleArn` as given (recorded, not assumed).
    pub role_arn: String,
    /// `KmsKeyArn` as given (recorded).
    pub kms_key_arn: String,
    /// `S3BucketName` as given.
    pub s3_bucket_name: String,
    /// `S3Prefix` as given.
    pub s3_prefix: String,
    /// Where the job writes inside the bucket (`S3Path`).
    pub s3_path: String,
    /// The request's idempotency token.
    pub client_token: String,
    /// Start, epoch milliseconds.
    pub start_time: i64,
}

/// A stored mailbox export job.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExportJobRecord {
    /// See [`NewExportJob::job_id`].
    pub job_id: String,
    /// See [`NewExportJob::account_id`].
    pub account_id: String,
    /// See [`NewExportJob::organization_id`].
    pub organization_id: String,
    /// See [`NewExportJob::entity_id`].
    pub entity_id: String,
    /// See [`NewExportJob::description`].
    pub description: Option<String>,
    /// See [`NewExportJob::role_arn`].
    pub role_arn: String,
    /// See [`NewExportJob::kms_key_arn`].
    pub kms_key_arn: String,
    /// See [`NewExportJob::s3_bucket_name`].
    pub s3_bucket_name: String,
    /// See [`NewExportJob::s3_prefix`].
    pub s3_prefix: String,
    /// See [`NewExportJob::s3_path`].
    pub s3_path: String,
    /// One of the `EXPORT_*` states.
    pub state: String,
    /// 0–100.
    pub estimated_progress: i64,
    /// Why the job failed, when it did.
    pub error_info: Option<String>,
    /// Start, epoch milliseconds.
    pub start_time: i64,
    /// End (completed, failed or cancelled), epoch milliseconds.
    pub end_time: Option<i64>,
}

/// What [`Store::start_export_job`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportAdmission {
    /// The job was inserted, `PENDING`.
    Started,
    /// An earlier request of the organization carried the same client token: its job ID.
    Existing(String),
    /// The organization already has this many pending or running jobs.
    TooManyConcurrent(i64),
    /// The mailbox already has a job started inside the window (its ID).
    MailboxRecentlyExported(String),
}

const COLUMNS: &str = "job_id, account_id, organization_id, entity_id, description, role_arn, \
                       kms_key_arn, s3_bucket_name, s3_prefix, s3_path, state, \
                       estimated_progress, error_info, start_time, end_time";

impl Store {
    /// Inserts `job` as `PENDING` unless the organization already has `max_concurrent`
    /// pending or running jobs, or the mailbox has a job (other than a failed one) started at
    /// or after `mailbox_window_start` (epoch ms). A repeated client token answers the
    /// earlier job instead. Check and insert happen in one write transaction holding the
    /// organization's row, so concurrent starts cannot both pass a limit.
    ///
    /// Errors: `Database`.
    pub async fn start_export_job(
        &self,
        job: &NewExportJob,
        max_concurrent: i64,
        mailbox_window_start: i64,
    ) -> StoreResult<ExportAdmission> {
        let mut tx = self.begin_write().await?;
        // A no-op write takes the organization row's lock on PostgreSQL (SQLite's BEGIN
        // IMMEDIATE already serializes writers), so admissions of one organization queue up.
        sql::execute(
            &mut *tx,
            "UPDATE organizations SET state = state \
             WHERE organization_id = $1 AND account_id = $2",
            &[(&job.organization_id).into(), (&job.account_id).into()],
        )
        .await?;
        let existing: Option<String> = sql::fetch_optional_scalar(
            &mut *tx,
            "SELECT job_id FROM mailbox_export_jobs \
             WHERE organization_id = $1 AND account_id = $2 AND client_token = $3",
            &[
                (&job.organization_id).into(),
                (&job.account_id).into(),
                (&job.client_token).into(),
            ],
        )
        .await?;
        if let Some(job_id) = existing {
            return Ok(ExportAdmission::Existing(job_id));
        }
        let active: i64 = sql::fetch_scalar(
            &mut *tx,
            "SELECT COUNT(*) FROM mailbox_export_jobs \
             WHERE organization_id = $1 AND state IN ('PENDING', 'RUNNING')",
            &[(&job.organization_id).into()],
        )
        .await?;
        if active >= max_concurrent {
            return Ok(ExportAdmission::TooManyConcurrent(active));
        }
        let recent: Option<String> = sql::fetch_optional_scalar(
            &mut *tx,
            "SELECT job_id FROM mailbox_export_jobs \
             WHERE organization_id = $1 AND entity_id = $2 AND start_time >= $3 \
               AND state <> 'FAILED' \
             ORDER BY start_time DESC LIMIT 1",
            &[
                (&job.organization_id).into(),
                (&job.entity_id).into(),
                mailbox_window_start.into(),
            ],
        )
        .await?;
        if let Some(job_id) = recent {
            return Ok(ExportAdmission::MailboxRecentlyExported(job_id));
        }
        sql::execute(
            &mut *tx,
            "INSERT INTO mailbox_export_jobs (job_id, account_id, organization_id, entity_id, \
             description, role_arn, kms_key_arn, s3_bucket_name, s3_prefix, s3_path, \
             client_token, state, estimated_progress, start_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'PENDING', 0, $12)",
            &[
                (&job.job_id).into(),
                (&job.account_id).into(),
                (&job.organization_id).into(),
                (&job.entity_id).into(),
                (&job.description).into(),
                (&job.role_arn).into(),
                (&job.kms_key_arn).into(),
                (&job.s3_bucket_name).into(),
                (&job.s3_prefix).into(),
                (&job.s3_path).into(),
                (&job.client_token).into(),
                job.start_time.into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(ExportAdmission::Started)
    }

    /// The job `job_id` of `account_id`'s organization `organization_id`.
    ///
    /// Errors: `Database`.
    pub async fn export_job(
        &self,
        account_id: &str,
        organization_id: &str,
        job_id: &str,
    ) -> StoreResult<Option<ExportJobRecord>> {
        sql::fetch_optional(
            &self.pool,
            &format!(
                "SELECT {COLUMNS} FROM mailbox_export_jobs \
             WHERE account_id = $1 AND organization_id = $2 AND job_id = $3"
            ),
            &[account_id.into(), organization_id.into(), job_id.into()],
        )
        .await
    }

    /// Up to `limit` jobs of the organization started at or after `since` (epoch ms), by
    /// start time then job ID, resuming after the `(start_time, job_id)` of `after`.
    ///
    /// Errors: `Database`.
    pub async fn list_export_jobs(
        &self,
        account_id: &str,
        organization_id: &str,
        since: i64,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<ExportJobRecord>> {
        let (after_time, after_id) = after.unwrap_or((i64::MIN, ""));
        sql::fetch_all(
            &self.pool,
            &format!(
                "SELECT {COLUMNS} FROM mailbox_export_jobs \
             WHERE account_id = $1 AND organization_id = $2 AND start_time >= $3 \
               AND (start_time > $4 OR (start_time = $4 AND job_id > $5)) \
             ORDER BY start_time, job_id LIMIT $6"
            ),
            &[
                account_id.into(),
                organization_id.into(),
                since.into(),
                after_time.into(),
                after_id.into(),
                limit.into(),
            ],
        )
        .await
    }

    /// Cancels a pending or running job at `now` (epoch ms): state `CANCELLED`, lease
    /// dropped, so its runner's next progress report fails and it stops. Returns the job's
    /// state afterwards (`CANCELLED`, or the terminal state it had already reached), `None`
    /// when there is no such job.
    ///
    /// Errors: `Database`.
    pub async fn cancel_export_job(
        &self,
        account_id: &str,
        organization_id: &str,
        job_id: &str,
        now: i64,
    ) -> StoreResult<Option<String>> {
        sql::execute(
            &self.pool,
            "UPDATE mailbox_export_jobs SET state = 'CANCELLED', end_time = $4, \
             lease_holder = NULL, lease_expires_at = NULL \
             WHERE account_id = $1 AND organization_id = $2 AND job_id = $3 \
               AND state IN ('PENDING', 'RUNNING')",
            &[
                account_id.into(),
                organization_id.into(),
                job_id.into(),
                now.into(),
            ],
        )
        .await?;
        sql::fetch_optional_scalar(
            &self.pool,
            "SELECT state FROM mailbox_export_jobs \
             WHERE account_id = $1 AND organization_id = $2 AND job_id = $3",
            &[account_id.into(), organization_id.into(), job_id.into()],
        )
        .await
    }

    /// Leases the oldest job due at `now` (epoch ms) to `node` until `now + lease_ms`: a
    /// `PENDING` job, or a `RUNNING` one whose lease expired (its runner died; it starts over,
    /// progress 0). The job becomes `RUNNING`. A conditional UPDATE claims it, so two nodes
    /// never hold the same job.
    ///
    /// Errors: `Database`.
    pub async fn lease_export_job(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
    ) -> StoreResult<Option<ExportJobRecord>> {
        let candidates: Vec<String> = sql::fetch_all_scalar(
            &self.pool,
            "SELECT job_id FROM mailbox_export_jobs \
             WHERE state = 'PENDING' OR (state = 'RUNNING' AND lease_expires_at <= $1) \
             ORDER BY start_time, job_id LIMIT 8",
            &[now.into()],
        )
        .await?;
        for job_id in candidates {
            let row: Option<ExportJobRecord> = sql::fetch_optional(
                &self.pool,
                &format!(
                    "UPDATE mailbox_export_jobs SET state = 'RUNNING', estimated_progress = 0, \
                 lease_holder = $1, lease_expires_at = $2 \
                 WHERE job_id = $3 AND (state = 'PENDING' \
                   OR (state = 'RUNNING' AND lease_expires_at <= $4)) \
                 RETURNING {COLUMNS}"
                ),
                &[
                    node.into(),
                    (now + lease_ms).into(),
                    (&job_id).into(),
                    now.into(),
                ],
            )
            .await?;
            if row.is_some() {
                return Ok(row);
            }
        }
        Ok(None)
    }

    /// Makes every running job `node` holds due again at once (called when a node starts:
    /// its previous run's leases are stale, so those jobs restart now rather than when the
    /// leases expire). Returns how many were released.
    ///
    /// Errors: `Database`.
    pub async fn release_export_leases(&self, node: &str, now: i64) -> StoreResult<u64> {
        sql::execute(
            &self.pool,
            "UPDATE mailbox_export_jobs SET lease_expires_at = $1 \
             WHERE lease_holder = $2 AND state = 'RUNNING'",
            &[now.into(), node.into()],
        )
        .await
    }

    /// Extends the leases of every running job `node` holds to `until` (epoch ms): the
    /// runner's heartbeat.
    ///
    /// Errors: `Database`.
    pub async fn renew_export_leases(&self, node: &str, until: i64) -> StoreResult<u64> {
        sql::execute(
            &self.pool,
            "UPDATE mailbox_export_jobs SET lease_expires_at = $1 \
             WHERE lease_holder = $2 AND state = 'RUNNING'",
            &[until.into(), node.into()],
        )
        .await
    }

    /// Records the progress (0–100) of a job `node` holds. Returns false when the job is no
    /// longer `node`'s running job (cancelled, or the lease was lost): the runner must stop.
    ///
    /// Errors: `Database`.
    pub async fn set_export_progress(
        &self,
        job_id: &str,
        node: &str,
        progress: i64,
    ) -> StoreResult<bool> {
        let done = sql::execute(
            &self.pool,
            "UPDATE mailbox_export_jobs SET estimated_progress = $1 \
             WHERE job_id = $2 AND lease_holder = $3 AND state = 'RUNNING'",
            &[progress.into(), job_id.into(), node.into()],
        )
        .await?;
        Ok(done == 1)
    }

    /// Ends a job `node` holds: `COMPLETED` (progress 100) when `error_info` is `None`,
    /// `FAILED` with it otherwise; end time `now` (epoch ms); lease dropped. Returns false
    /// (and changes nothing) when the job is no longer `node`'s running job.
    ///
    /// Errors: `Database`.
    pub async fn finish_export_job(
        &self,
        job_id: &str,
        node: &str,
        error_info: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let (state, progress_sql) = match error_info {
            None => (EXPORT_COMPLETED, "100"),
            Some(_) => (EXPORT_FAILED, "estimated_progress"),
        };
        let done = sql::execute(
            &self.pool,
            &format!(
                "UPDATE mailbox_export_jobs SET state = $1, estimated_progress = {progress_sql}, \
             error_info = $2, end_time = $3, lease_holder = NULL, lease_expires_at = NULL \
             WHERE job_id = $4 AND lease_holder = $5 AND state = 'RUNNING'"
            ),
            &[
                state.into(),
                error_info.into(),
                now.into(),
                job_id.into(),
                node.into(),
            ],
        )
        .await?;
        Ok(done == 1)
    }
}
