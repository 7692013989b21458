//! Organization tags: TagResource, UntagResource, ListTagsForResource.
//! Spec: workmail.md §1.1, §2.13, §6 (50 tags per organization).

use carillon_awsapi::generated::workmail::*;
use carillon_core::arn::Arn;
use carillon_core::RequestContext;
use carillon_store::{OrganizationRecord, StoreError};

use super::common::{codes, organization_arn, ORG_ACTIVE, ORG_DELETED};
use super::error::{err, Error, Result};
use super::WorkMail;

/// Tags per organization. Spec: workmail.md §2.13, §6.
pub const MAX_TAGS: i64 = 50;

/// The organization `arn` names, in the caller's account and this server's region.
///
/// Errors: `ResourceNotFoundException` for any other ARN, an organization of another
/// account, or a deleted organization.
async fn tagged_organization(
    wm: &WorkMail,
    ctx: &RequestContext,
    arn: &str,
) -> Result<OrganizationRecord> {
    let not_found = || {
        err(
            codes::RESOURCE_NOT_FOUND,
            format!("ResourceARN: {arn} does not name an organization of this account"),
        )
    };
    let parsed = Arn::parse(arn).ok_or_else(not_found)?;
    let organization_id = parsed
        .resource
        .strip_prefix("organization/")
        .ok_or_else(not_found)?;
    if parsed.service != "workmail"
        || parsed.region != wm.region
        || parsed.account != ctx.account_id
    {
        return Err(not_found());
    }
    let org = wm
        .store
        .get_organization(&ctx.account_id, organization_id)
        .await?
        .ok_or_else(not_found)?;
    if org.state == ORG_DELETED {
        return Err(not_found());
    }
    Ok(org)
}

/// The canonical ARN of the organization (the key tags are stored under).
fn canonical_arn(wm: &WorkMail, org: &OrganizationRecord) -> String {
    organization_arn(&wm.region, &org.account_id, &org.organization_id)
}

/// TagResource: adds tags or replaces the values of existing keys. Keys starting with `aws:`
/// are reserved.
///
/// Errors: `ResourceNotFoundException`, `TooManyTagsException` (more than 50 tags would
/// result; nothing is written), `InvalidParameterException` (reserved key),
/// `OrganizationStateException` (organization not active).
pub(super) async fn tag(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: TagResourceRequest,
) -> Result<TagResourceResponse> {
    let org = tagged_organization(wm, ctx, &input.resource_arn).await?;
    if org.state != ORG_ACTIVE {
        return Err(err(
            codes::ORGANIZATION_STATE,
            format!(
                "Organization {} is in state {}, not Active",
                org.organization_id, org.state
            ),
        ));
    }
    if let Some(tag) = input
        .tags
        .iter()
        .find(|t| t.key.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(err(
            codes::INVALID_PARAMETER,
            format!("Tags: key {} uses the reserved prefix aws:", tag.key),
        ));
    }
    let tags: Vec<(String, String)> = input.tags.into_iter().map(|t| (t.key, t.value)).collect();
    match wm
        .store
        .put_tags(&ctx.account_id, &canonical_arn(wm, &org), &tags, MAX_TAGS)
        .await
    {
        Ok(_) => Ok(TagResourceResponse::default()),
        Err(StoreError::Conflict(_)) => Err(err(
            codes::TOO_MANY_TAGS,
            format!(
                "Tags: organization {} can carry at most {MAX_TAGS} tags",
                org.organization_id
            ),
        )),
        Err(e) => Err(Error::from(e)),
    }
}

/// UntagResource: removes the tags with the given keys (absent keys are ignored).
///
/// Errors: `ResourceNotFoundException`.
pub(super) async fn untag(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: UntagResourceRequest,
) -> Result<UntagResourceResponse> {
    let org = tagged_organization(wm, ctx, &input.resource_arn).await?;
    wm.store
        .delete_tags(&ctx.account_id, &canonical_arn(wm, &org), &input.tag_keys)
        .await?;
    Ok(UntagResourceResponse::default())
}

/// ListTagsForResource: the organization's tags in key order.
///
/// Errors: `ResourceNotFoundException`.
pub(super) async fn list(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse> {
    let org = tagged_organization(wm, ctx, &input.resource_arn).await?;
    let tags = wm
        .store
        .list_tags(&ctx.account_id, &canonical_arn(wm, &org))
        .await?;
    Ok(ListTagsForResourceResponse {
        tags: Some(
            tags.into_iter()
                .map(|(key, value)| Tag { key, value })
                .collect(),
        ),
    })
}
