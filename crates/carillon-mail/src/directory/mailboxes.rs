//! Mailbox quota and details: UpdateMailboxQuota, GetMailboxDetails.
//! Spec: workmail.md §1.4, §1.7, §6 (quota 1–51,200 MB).

use carillon_awsapi::generated::workmail::*;
use carillon_core::RequestContext;
use carillon_store::DEFAULT_MAILBOX_QUOTA_MB;

use super::common::{codes, not_deleted, USER};
use super::error::{err, Result};
use super::WorkMail;

/// Smallest mailbox quota, in MB.
pub const MIN_QUOTA_MB: i32 = 1;
/// Largest mailbox quota, in MB (50 GB).
pub const MAX_QUOTA_MB: i32 = 51_200;

/// Bytes per MB as WorkMail counts them (MiB).
const BYTES_PER_MB: f64 = 1024.0 * 1024.0;

/// UpdateMailboxQuota: the user's quota in MB, 1–51,200. Delivery refuses mail that would
/// exceed it.
///
/// Errors: `InvalidParameterException` (out of range), `EntityNotFoundException`,
/// `EntityStateException` (deleted user), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn update_quota(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: UpdateMailboxQuotaRequest,
) -> Result<UpdateMailboxQuotaResponse> {
    if !(MIN_QUOTA_MB..=MAX_QUOTA_MB).contains(&input.mailbox_quota) {
        return Err(err(
            codes::INVALID_PARAMETER,
            format!(
                "MailboxQuota must be between {MIN_QUOTA_MB} and {MAX_QUOTA_MB} MB, got {}",
                input.mailbox_quota
            ),
        ));
    }
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let user = wm
        .entity(&org.organization_id, &input.user_id, &[USER], "UserId")
        .await?;
    not_deleted(&user)?;
    wm.store
        .set_mailbox_quota(
            &org.organization_id,
            &user.entity_id,
            i64::from(input.mailbox_quota),
        )
        .await?;
    Ok(UpdateMailboxQuotaResponse::default())
}

/// GetMailboxDetails: the quota (MB) and the current size (MB, fractional) of the user's
/// mailbox, from the mailbox store.
///
/// Errors: `EntityNotFoundException` (no such user, or the user has no mailbox: never
/// registered, or a remote user), `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn details(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: GetMailboxDetailsRequest,
) -> Result<GetMailboxDetailsResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let user = wm
        .entity(&org.organization_id, &input.user_id, &[USER], "UserId")
        .await?;
    let size = wm
        .store
        .mailbox_size(&user.entity_id)
        .await?
        .ok_or_else(|| {
            err(
                codes::ENTITY_NOT_FOUND,
                format!("UserId: user {} has no mailbox", user.entity_id),
            )
        })?;
    let quota = user.mailbox_quota_mb.unwrap_or(DEFAULT_MAILBOX_QUOTA_MB);
    Ok(GetMailboxDetailsResponse {
        mailbox_quota: Some(i32::try_from(quota).unwrap_or(MAX_QUOTA_MB)),
        mailbox_size: Some(size as f64 / BYTES_PER_MB),
    })
}
