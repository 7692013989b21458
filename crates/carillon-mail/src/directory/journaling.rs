//! Journaling configuration, an organization setting the WorkMail console offered
//! (workmail.md §2.7, §2.24), as operations of Carillon's admin API:
//! `PutJournalingConfiguration`, `GetJournalingConfiguration`,
//! `DeleteJournalingConfiguration` under
//! `/carillon/v1/organizations/{OrganizationId}/journaling-configuration`.
//!
//! Their IAM actions carry the `workmail:` prefix, as the console's calls did, so
//! `AmazonWorkMailFullAccess` (`workmail:*`) allows all three and
//! `AmazonWorkMailReadOnlyAccess` (`workmail:Get*`) only the Get. The resource is the
//! organization ARN. Another account's organization is `OrganizationNotFoundException`.
//! Changes apply to the next message delivered (§2.24: "Changes apply immediately").

use carillon_adminapi::{CarillonOperation, ErrorSpec, OperationSpec, Registry};
use carillon_core::{ApiResult, RequestContext};
use carillon_store::JournalingConfigurationRecord;
use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{codes, rfc3339, ORGANIZATION_ERRORS, ORGANIZATION_RESOURCE as RESOURCE};
use super::error::{answer, err};
use super::WorkMail;
use crate::delivery::journal::is_reserved_journal_sender;

const PATH: &str = "/carillon/v1/organizations/{OrganizationId}/journaling-configuration";

/// Input of PutJournalingConfiguration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutJournalingConfigurationInput {
    /// The organization (`m-` and 32 hexadecimal digits).
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
    /// Where journal records go: a dedicated mailbox here or a third-party archive.
    #[schemars(email, length(min = 3, max = 254))]
    pub journaling_email_address: String,
    /// Who is notified of messages that could not be journaled (an administrator).
    #[schemars(email, length(min = 3, max = 254))]
    pub report_email_address: String,
}

/// Output of PutJournalingConfiguration (empty).
#[derive(Debug, Serialize, JsonSchema)]
pub struct PutJournalingConfigurationOutput {}

/// Input of GetJournalingConfiguration and DeleteJournalingConfiguration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OrganizationJournalingInput {
    /// The organization (`m-` and 32 hexadecimal digits).
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
}

/// Output of GetJournalingConfiguration.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct GetJournalingConfigurationOutput {
    /// The organization.
    pub organization_id: String,
    /// Where journal records go.
    pub journaling_email_address: String,
    /// Who is notified of messages that could not be journaled.
    pub report_email_address: String,
    /// The sender of the journal records, `amazonjournaling@<test domain>`.
    pub journal_sender_address: String,
    /// Last change (RFC 3339, UTC).
    pub date_modified: String,
}

/// Output of DeleteJournalingConfiguration (empty).
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeleteJournalingConfigurationOutput {}

/// Adds the journaling operations of `workmail` to `registry`.
pub fn register(registry: &mut Registry, workmail: &WorkMail) {
    registry
        .register(PutJournalingConfiguration(workmail.clone()))
        .register(GetJournalingConfiguration(workmail.clone()))
        .register(DeleteJournalingConfiguration(workmail.clone()));
}

/// The organization's test domain `<alias>.<test domain base>` (the journal sender's).
fn test_domain(wm: &WorkMail, alias: Option<&str>) -> String {
    format!("{}.{}", alias.unwrap_or_default(), wm.test_domain_base)
}

/// PutJournalingConfiguration: turns journaling on, or changes its addresses.
pub struct PutJournalingConfiguration(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for PutJournalingConfiguration {
    type Input = PutJournalingConfigurationInput;
    type Output = PutJournalingConfigurationOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 3] = [
            ORGANIZATION_ERRORS[0],
            ORGANIZATION_ERRORS[1],
            ErrorSpec {
                code: codes::INVALID_PARAMETER,
                status: 400,
                doc: "The journaling address is the reserved journal sender.",
            },
        ];
        OperationSpec {
            name: "PutJournalingConfiguration",
            method: Method::PUT,
            path: PATH,
            action: "workmail:PutJournalingConfiguration",
            resource: RESOURCE,
            summary: "Turns journaling on for an organization, or changes its addresses.",
            docs: "From the next message on, every message sent to or by a user of the organization produces exactly one journal record (an Exchange-compatible envelope journal report with the original attached) addressed to JournalingEmailAddress, sent from amazonjournaling@<organization test domain>. Messages that cannot be journaled are reported to ReportEmailAddress. Spec: workmail.md §2.24.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: PutJournalingConfigurationInput,
    ) -> ApiResult<PutJournalingConfigurationOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let journaling = input.journaling_email_address.trim().to_lowercase();
            let report = input.report_email_address.trim().to_lowercase();
            let domain = test_domain(wm, org.alias.as_deref());
            if is_reserved_journal_sender(&journaling, &domain) {
                return Err(err(
                    codes::INVALID_PARAMETER,
                    format!(
                        "JournalingEmailAddress: {journaling} is the sender of the journal records"
                    ),
                ));
            }
            wm.store
                .put_journaling_configuration(
                    &ctx.account_id,
                    &JournalingConfigurationRecord {
                        organization_id: org.organization_id,
                        journaling_address: journaling,
                        report_address: report,
                        updated_at: carillon_core::time::now_millis(),
                    },
                )
                .await?;
            Ok(PutJournalingConfigurationOutput {})
        })
        .await
    }
}

/// GetJournalingConfiguration: the organization's journaling addresses.
pub struct GetJournalingConfiguration(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for GetJournalingConfiguration {
    type Input = OrganizationJournalingInput;
    type Output = GetJournalingConfigurationOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 3] = [
            ORGANIZATION_ERRORS[0],
            ORGANIZATION_ERRORS[1],
            ErrorSpec {
                code: codes::RESOURCE_NOT_FOUND,
                status: 400,
                doc: "Journaling is not configured for the organization.",
            },
        ];
        OperationSpec {
            name: "GetJournalingConfiguration",
            method: Method::GET,
            path: PATH,
            action: "workmail:GetJournalingConfiguration",
            resource: RESOURCE,
            summary: "Describes an organization's journaling configuration.",
            docs: "The journaling and report addresses and the reserved sender of the journal records. Spec: workmail.md §2.24.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: OrganizationJournalingInput,
    ) -> ApiResult<GetJournalingConfigurationOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let config = wm
                .store
                .journaling_configuration(&ctx.account_id, &org.organization_id)
                .await?
                .ok_or_else(|| {
                    err(
                        codes::RESOURCE_NOT_FOUND,
                        format!(
                            "Journaling is not configured for organization {}",
                            org.organization_id
                        ),
                    )
                })?;
            Ok(GetJournalingConfigurationOutput {
                journal_sender_address: crate::delivery::journal::journal_sender(&test_domain(
                    wm,
                    org.alias.as_deref(),
                )),
                organization_id: config.organization_id,
                journaling_email_address: config.journaling_address,
                report_email_address: config.report_address,
                date_modified: rfc3339(config.updated_at),
            })
        })
        .await
    }
}

/// DeleteJournalingConfiguration: turns journaling off (succeeds when it already is).
pub struct DeleteJournalingConfiguration(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for DeleteJournalingConfiguration {
    type Input = OrganizationJournalingInput;
    type Output = DeleteJournalingConfigurationOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "DeleteJournalingConfiguration",
            method: Method::DELETE,
            path: PATH,
            action: "workmail:DeleteJournalingConfiguration",
            resource: RESOURCE,
            summary: "Turns journaling off for an organization.",
            docs: "Messages delivered from now on are not journaled. Succeeds when journaling is already off. Spec: workmail.md §2.24.",
            errors: &ORGANIZATION_ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: OrganizationJournalingInput,
    ) -> ApiResult<DeleteJournalingConfigurationOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            wm.store
                .delete_journaling_configuration(&ctx.account_id, &org.organization_id)
                .await?;
            Ok(DeleteJournalingConfigurationOutput {})
        })
        .await
    }
}
