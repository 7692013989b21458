//! Inbound DMARC enforcement: PutInboundDmarcSettings, DescribeInboundDmarcSettings.
//! Spec: workmail.md §2.25 (on by default; `SetDmarcEnforcement` in the console). What
//! enforcement does to a message is `crate::sender_authentication` and `crate::delivery`'s.

use carillon_awsapi::generated::workmail::*;
use carillon_core::time::now_millis;
use carillon_core::RequestContext;

use super::error::Result;
use super::WorkMail;

/// PutInboundDmarcSettings: turns enforcement of sender domains' DMARC policies on inbound
/// mail on or off for the organization; takes effect for the next message.
///
/// Errors: `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn put(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: PutInboundDmarcSettingsRequest,
) -> Result<PutInboundDmarcSettingsResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    wm.store
        .put_inbound_dmarc_enforced(
            &ctx.account_id,
            &org.organization_id,
            input.enforced,
            now_millis(),
        )
        .await?;
    Ok(PutInboundDmarcSettingsResponse {})
}

/// DescribeInboundDmarcSettings: whether DMARC policies are enforced (`true` unless turned
/// off).
///
/// Errors: `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn describe(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DescribeInboundDmarcSettingsRequest,
) -> Result<DescribeInboundDmarcSettingsResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let enforced = wm
        .store
        .inbound_dmarc_enforced(&org.organization_id)
        .await?;
    Ok(DescribeInboundDmarcSettingsResponse {
        enforced: Some(enforced),
    })
}
