//! Mailbox retention policy: PutRetentionPolicy, GetDefaultRetentionPolicy,
//! DeleteRetentionPolicy. Spec: workmail.md §2.12.
//!
//! An organization has at most one policy; Put replaces it whole. It applies to the chosen
//! default folders of every mailbox of the organization, and the retention job
//! ([`crate::retention`]) enforces it.

use carillon_awsapi::generated::workmail::*;
use carillon_core::time::now_millis;
use carillon_core::RequestContext;
use carillon_store::{RetentionFolderRecord, RetentionPolicyRecord, StoreError};

use super::common::codes;
use super::error::{err, Error, Result};
use super::WorkMail;
use crate::retention::{FOLDER_NAMES, NONE};

/// PutRetentionPolicy: sets the organization's policy, replacing any previous one. Without
/// `Id`, the previous policy's ID is kept (a new one is made when there was none). Each
/// folder may appear once; `DELETE` and `PERMANENTLY_DELETE` need a `Period`.
///
/// Errors: `InvalidParameterException` (a folder twice, a missing period),
/// `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn put(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: PutRetentionPolicyRequest,
) -> Result<PutRetentionPolicyResponse> {
    let mut folders: Vec<RetentionFolderRecord> = Vec::new();
    for (index, config) in input.folder_configurations.iter().enumerate() {
        let path = format!("FolderConfigurations[{index}]");
        if !FOLDER_NAMES.iter().any(|(name, _)| *name == config.name) {
            return Err(err(
                codes::INVALID_PARAMETER,
                format!("{path}.Name: unknown folder {:?}", config.name),
            ));
        }
        if folders.iter().any(|f| f.folder == config.name) {
            return Err(err(
                codes::INVALID_PARAMETER,
                format!("{path}.Name: folder {} is configured twice", config.name),
            ));
        }
        if config.action != NONE && config.period.is_none() {
            return Err(err(
                codes::INVALID_PARAMETER,
                format!("{path}.Period is required with action {}", config.action),
            ));
        }
        folders.push(RetentionFolderRecord {
            folder: config.name.clone(),
            action: config.action.clone(),
            period_days: config.period.map(i64::from),
        });
    }
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let policy_id = match input.id {
        Some(id) => id,
        None => wm
            .store
            .retention_policy(&ctx.account_id, &org.organization_id)
            .await?
            .map_or_else(carillon_core::ids::new_uuid, |p| p.policy_id),
    };
    let policy = RetentionPolicyRecord {
        organization_id: org.organization_id.clone(),
        policy_id,
        name: input.name,
        description: input.description,
        folders,
        updated_at: now_millis(),
    };
    match wm
        .store
        .put_retention_policy(&ctx.account_id, &policy)
        .await
    {
        Ok(()) => Ok(PutRetentionPolicyResponse::default()),
        // Only another account's row can refuse the write, and that organization is not ours.
        Err(StoreError::NotFound(_)) => Err(err(
            codes::ORGANIZATION_NOT_FOUND,
            format!("Organization {} was not found", org.organization_id),
        )),
        Err(e) => Err(Error::from(e)),
    }
}

/// GetDefaultRetentionPolicy: the organization's policy with its folder configurations.
///
/// Errors: `EntityNotFoundException` (no policy set), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn get(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: GetDefaultRetentionPolicyRequest,
) -> Result<GetDefaultRetentionPolicyResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let policy = wm
        .store
        .retention_policy(&ctx.account_id, &org.organization_id)
        .await?
        .ok_or_else(|| {
            err(
                codes::ENTITY_NOT_FOUND,
                format!(
                    "Organization {} has no retention policy",
                    org.organization_id
                ),
            )
        })?;
    Ok(GetDefaultRetentionPolicyResponse {
        id: Some(policy.policy_id),
        name: Some(policy.name),
        description: policy.description,
        folder_configurations: Some(
            policy
                .folders
                .into_iter()
                .map(|f| FolderConfiguration {
                    name: f.folder,
                    action: f.action,
                    period: f.period_days.and_then(|d| i32::try_from(d).ok()),
                })
                .collect(),
        ),
    })
}

/// DeleteRetentionPolicy: removes the organization's policy when `Id` names it; deleting a
/// policy that is not there succeeds without effect (the model has no not-found error here).
///
/// Errors: `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn delete(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DeleteRetentionPolicyRequest,
) -> Result<DeleteRetentionPolicyResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    wm.store
        .delete_retention_policy(&ctx.account_id, &org.organization_id, &input.id)
        .await?;
    Ok(DeleteRetentionPolicyResponse::default())
}
