//! Mailbox export jobs: StartMailboxExportJob, DescribeMailboxExportJob,
//! ListMailboxExportJobs, CancelMailboxExportJob. Spec: workmail.md §2.22, §4.8, §6.
//!
//! Carillon writes to its own object store, not to S3: `S3BucketName` and `S3Prefix` select
//! the location `exports/<S3BucketName>/<S3Prefix>/<JobId>/` of Carillon's blob store (see
//! [`crate::export`] for the layout). `RoleArn` and `KmsKeyArn` are checked against the
//! model and recorded; the role is not assumed (Carillon needs no permission to write its own
//! store), and encrypting the export with the key comes with encryption at rest (issue 3
//! point 9). The jobs themselves run in the background ([`crate::export::run_export_jobs`]).

use carillon_awsapi::generated::workmail::*;
use carillon_core::time::now_millis;
use carillon_core::RequestContext;
use carillon_store::{
    ExportAdmission, ExportJobRecord, NewExportJob, EXPORT_CANCELLED, EXPORT_PENDING,
    EXPORT_RUNNING,
};

use super::common::{codes, opt_timestamp, timestamp, USER};
use super::error::{err, Error, Result};
use super::WorkMail;

/// Export jobs pending or running at once per organization. Spec: workmail.md §2.22, §6.
pub const MAX_CONCURRENT_EXPORTS: i64 = 10;

/// One export per mailbox in this window, in milliseconds (24 hours). Spec: §2.22, §6.
pub const MAILBOX_EXPORT_WINDOW_MS: i64 = 24 * 3_600_000;

/// ListMailboxExportJobs covers the jobs started in this window, in milliseconds (7 days).
pub const LIST_WINDOW_MS: i64 = 7 * 24 * 3_600_000;

/// The model's state of a stored state: a job waiting for a runner is `RUNNING` (the model's
/// `MailboxExportJobState` has no pending state).
fn model_state(state: &str) -> String {
    if state == EXPORT_PENDING {
        EXPORT_RUNNING.to_string()
    } else {
        state.to_string()
    }
}

fn progress(job: &ExportJobRecord) -> Option<i32> {
    Some(i32::try_from(job.estimated_progress.clamp(0, 100)).unwrap_or(0))
}

/// `S3Prefix` as a relative path: slashes at its ends and repeated ones dropped.
///
/// Errors: `InvalidParameterException` for an empty path or a `.`/`..` segment (it could
/// leave the export location).
fn normalized_prefix(prefix: &str) -> Result<String> {
    let segments: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() || segments.iter().any(|s| matches!(*s, "." | "..")) {
        return Err(err(
            codes::INVALID_PARAMETER,
            format!("S3Prefix: {prefix:?} must name a path without '.' or '..' segments"),
        ));
    }
    Ok(segments.join("/"))
}

/// StartMailboxExportJob: queues an export of the mailbox of a user (by ID, name or email
/// address) and answers its job ID; the job shows `RUNNING` from the start. A request
/// repeating the `ClientToken` of an earlier one in the organization answers that job.
///
/// Errors: `InvalidParameterException` (bucket `.`/`..`, prefix with `.`/`..` segments, a
/// `KmsKeyArn` that is not a Carillon key of the caller's account in this region: §2.22
/// requires one region), `EntityNotFoundException` (no
/// such user, or no mailbox), `LimitExceededException` (10 jobs pending or running in the
/// organization, or the mailbox exported in the last 24 hours; a failed job does not count),
/// `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn start(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: StartMailboxExportJobRequest,
) -> Result<StartMailboxExportJobResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    if matches!(input.s3_bucket_name.as_str(), "." | "..") {
        return Err(err(
            codes::INVALID_PARAMETER,
            format!(
                "S3BucketName: {:?} is not a bucket name",
                input.s3_bucket_name
            ),
        ));
    }
    let prefix = normalized_prefix(&input.s3_prefix)?;
    // The output is sealed under this key (workmail.md §2.22, §5.3).
    super::keys::resolve_kms_key(wm, ctx, Some(&input.kms_key_arn), "KmsKeyArn").await?;
    let user = wm
        .entity(&org.organization_id, &input.entity_id, &[USER], "EntityId")
        .await?;
    if wm.store.mailbox_size(&user.entity_id).await?.is_none() {
        return Err(err(
            codes::ENTITY_NOT_FOUND,
            format!("EntityId: {} has no mailbox", user.entity_id),
        ));
    }
    let job_id = carillon_core::ids::new_uuid();
    let now = now_millis();
    let job = NewExportJob {
        s3_path: format!("{prefix}/{job_id}"),
        job_id,
        account_id: ctx.account_id.clone(),
        organization_id: org.organization_id.clone(),
        entity_id: user.entity_id.clone(),
        description: input.description,
        role_arn: input.role_arn,
        kms_key_arn: input.kms_key_arn,
        s3_bucket_name: input.s3_bucket_name,
        s3_prefix: input.s3_prefix,
        client_token: input.client_token,
        start_time: now,
    };
    let admission = wm
        .store
        .start_export_job(&job, MAX_CONCURRENT_EXPORTS, now - MAILBOX_EXPORT_WINDOW_MS)
        .await?;
    let job_id = match admission {
        ExportAdmission::Started => job.job_id,
        ExportAdmission::Existing(job_id) => job_id,
        ExportAdmission::TooManyConcurrent(active) => {
            return Err(err(
                codes::LIMIT_EXCEEDED,
                format!(
                    "Organization {} already has {active} export jobs running \
                     (limit {MAX_CONCURRENT_EXPORTS})",
                    org.organization_id
                ),
            ))
        }
        ExportAdmission::MailboxRecentlyExported(earlier) => {
            return Err(err(
                codes::LIMIT_EXCEEDED,
                format!(
                    "EntityId: the mailbox of {} was exported in the last 24 hours (job \
                     {earlier}); one export per mailbox per 24 hours",
                    user.entity_id
                ),
            ))
        }
    };
    Ok(StartMailboxExportJobResponse {
        job_id: Some(job_id),
    })
}

/// The job of the organization, for Describe and Cancel.
///
/// Errors: `EntityNotFoundException` naming `JobId`.
async fn job(
    wm: &WorkMail,
    ctx: &RequestContext,
    organization_id: &str,
    job_id: &str,
) -> Result<ExportJobRecord> {
    wm.store
        .export_job(&ctx.account_id, organization_id, job_id)
        .await?
        .ok_or_else(|| job_not_found(organization_id, job_id))
}

fn job_not_found(organization_id: &str, job_id: &str) -> Error {
    err(
        codes::ENTITY_NOT_FOUND,
        format!("JobId: no export job {job_id} in organization {organization_id}"),
    )
}

/// DescribeMailboxExportJob: the job's request, state, `EstimatedProgress` (0–100), times,
/// the location written (`S3Path`) and, for a failed job, `ErrorInfo`.
///
/// Errors: `EntityNotFoundException` (no such job), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn describe(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DescribeMailboxExportJobRequest,
) -> Result<DescribeMailboxExportJobResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let job = job(wm, ctx, &org.organization_id, &input.job_id).await?;
    Ok(DescribeMailboxExportJobResponse {
        estimated_progress: progress(&job),
        state: Some(model_state(&job.state)),
        description: job.description,
        end_time: opt_timestamp(job.end_time),
        entity_id: Some(job.entity_id),
        error_info: job.error_info,
        kms_key_arn: Some(job.kms_key_arn),
        role_arn: Some(job.role_arn),
        s3_bucket_name: Some(job.s3_bucket_name),
        s3_path: Some(job.s3_path),
        s3_prefix: Some(job.s3_prefix),
        start_time: Some(timestamp(job.start_time)),
    })
}

/// ListMailboxExportJobs: the organization's jobs started in the last 7 days, oldest first,
/// paginated (`MaxResults` 1–100, default 100).
///
/// Errors: `InvalidParameterException` (paging), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn list(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: ListMailboxExportJobsRequest,
) -> Result<ListMailboxExportJobsResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let scope = format!(
        "ListMailboxExportJobs:{}:{}",
        ctx.account_id, org.organization_id
    );
    let paging = wm.paging(&scope, input.next_token.as_deref(), input.max_results)?;
    let after = match paging.after.as_deref() {
        None => None,
        Some(key) => Some(
            key.split_once(':')
                .and_then(|(time, id)| Some((time.parse::<i64>().ok()?, id.to_string())))
                .ok_or_else(|| {
                    err(
                        codes::INVALID_PARAMETER,
                        "NextToken is not valid for this request",
                    )
                })?,
        ),
    };
    let mut jobs = wm
        .store
        .list_export_jobs(
            &ctx.account_id,
            &org.organization_id,
            now_millis() - LIST_WINDOW_MS,
            after.as_ref().map(|(time, id)| (*time, id.as_str())),
            paging.limit + 1,
        )
        .await?;
    let next_token = wm.finish_page(&scope, &mut jobs, &paging, |j| {
        format!("{}:{}", j.start_time, j.job_id)
    });
    Ok(ListMailboxExportJobsResponse {
        jobs: Some(
            jobs.into_iter()
                .map(|job| MailboxExportJob {
                    estimated_progress: progress(&job),
                    state: Some(model_state(&job.state)),
                    description: job.description,
                    end_time: opt_timestamp(job.end_time),
                    entity_id: Some(job.entity_id),
                    job_id: Some(job.job_id),
                    s3_bucket_name: Some(job.s3_bucket_name),
                    s3_path: Some(job.s3_path),
                    start_time: Some(timestamp(job.start_time)),
                })
                .collect(),
        ),
        next_token,
    })
}

/// CancelMailboxExportJob: a pending or running job becomes `CANCELLED` at once; its runner
/// stops at its next progress report and removes what it wrote. Cancelling a cancelled job
/// again succeeds (idempotent).
///
/// Errors: `EntityNotFoundException` (no such job), `InvalidParameterException` (the job
/// already `COMPLETED` or `FAILED`: "near completion, it might not be possible to cancel
/// it"), `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn cancel(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: CancelMailboxExportJobRequest,
) -> Result<CancelMailboxExportJobResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let state = wm
        .store
        .cancel_export_job(
            &ctx.account_id,
            &org.organization_id,
            &input.job_id,
            now_millis(),
        )
        .await?;
    match state.as_deref() {
        None => Err(job_not_found(&org.organization_id, &input.job_id)),
        Some(EXPORT_CANCELLED) => Ok(CancelMailboxExportJobResponse::default()),
        Some(other) => Err(err(
            codes::INVALID_PARAMETER,
            format!(
                "JobId: export job {} is {other} and can no longer be cancelled",
                input.job_id
            ),
        )),
    }
}
