//! Email monitoring: PutEmailMonitoringConfiguration, DescribeEmailMonitoringConfiguration,
//! DeleteEmailMonitoringConfiguration. Spec: workmail.md §4.1. The configured log group
//! selects the JSON-lines file of the email event log (`crate::events::log_file`); no
//! configuration means no event log for the organization.

use carillon_awsapi::generated::workmail::*;
use carillon_core::time::now_millis;
use carillon_core::RequestContext;
use carillon_store::EmailMonitoringRecord;

use super::common::codes;
use super::error::{err, Result};
use super::WorkMail;
use crate::events;

/// PutEmailMonitoringConfiguration: turns the email event log on, into the log group of
/// `LogGroupArn` (replacing an earlier configuration); takes effect for the next message.
///
/// Errors: `InvalidParameterException` (a log group name that maps to no file: an empty,
/// `.` or `..` path component), `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn put(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: PutEmailMonitoringConfigurationRequest,
) -> Result<PutEmailMonitoringConfigurationResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    if events::log_file(&input.log_group_arn).is_none() {
        return Err(err(
            codes::INVALID_PARAMETER,
            "LogGroupArn names a log group whose name has an empty, '.' or '..' component",
        ));
    }
    let record = EmailMonitoringRecord {
        account_id: ctx.account_id.clone(),
        log_group_arn: input.log_group_arn,
        role_arn: input.role_arn,
    };
    wm.store
        .put_email_monitoring(&org.organization_id, &record, now_millis())
        .await?;
    Ok(PutEmailMonitoringConfigurationResponse {})
}

/// DescribeEmailMonitoringConfiguration: the log group and role; both absent when monitoring
/// is off.
///
/// Errors: `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn describe(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DescribeEmailMonitoringConfigurationRequest,
) -> Result<DescribeEmailMonitoringConfigurationResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let record = wm.store.email_monitoring(&org.organization_id).await?;
    Ok(match record {
        Some(record) => DescribeEmailMonitoringConfigurationResponse {
            log_group_arn: Some(record.log_group_arn),
            role_arn: record.role_arn,
        },
        None => DescribeEmailMonitoringConfigurationResponse::default(),
    })
}

/// DeleteEmailMonitoringConfiguration: turns the email event log off (idempotent); files
/// already written stay.
///
/// Errors: `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn delete(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DeleteEmailMonitoringConfigurationRequest,
) -> Result<DeleteEmailMonitoringConfigurationResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    wm.store
        .delete_email_monitoring(&ctx.account_id, &org.organization_id)
        .await?;
    Ok(DeleteEmailMonitoringConfigurationResponse {})
}
