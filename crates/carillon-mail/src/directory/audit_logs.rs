//! Audit log delivery, the console's "Audit log settings" (workmail.md §4.2, §5.4), as
//! operations of Carillon's admin API: `PutAuditLogDelivery`, `ListAuditLogDeliveries`,
//! `DeleteAuditLogDelivery` under
//! `/carillon/v1/organizations/{OrganizationId}/audit-log-deliveries[/{LogType}]`.
//!
//! One delivery per organization and log type, to a `FILE` (JSON lines under the data
//! directory) or an `HTTP` endpoint; see [`crate::audit`] for the records and the sinks.
//! IAM actions carry the `workmail:` prefix (so `AmazonWorkMailFullAccess` allows all three and
//! `AmazonWorkMailReadOnlyAccess` only the List); the resource is the organization ARN.
//! Changes apply to the next record.

use carillon_adminapi::{CarillonOperation, ErrorSpec, OperationSpec, Registry};
use carillon_core::{ApiResult, RequestContext};
use carillon_store::AuditLogDeliveryRecord;
use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    codes, rfc3339, OrganizationInput, ORGANIZATION_ERRORS, ORGANIZATION_RESOURCE as RESOURCE,
};
use super::error::{answer, err, Result};
use super::WorkMail;
use crate::audit::{self, AuditLogType};

const COLLECTION: &str = "/carillon/v1/organizations/{OrganizationId}/audit-log-deliveries";
const ITEM: &str = "/carillon/v1/organizations/{OrganizationId}/audit-log-deliveries/{LogType}";

/// The pattern of the `LogType` path label: one of the four audit-log types (§4.2).
const LOG_TYPE_PATTERN: &str = "^(WORKMAIL_MAILBOX_ACCESS_LOGS|ACCESS_CONTROL_LOGS|AUTHENTICATION_LOGS|WORKMAIL_AVAILABILITY_PROVIDER_LOGS)$";

/// The audit-log type named by a validated `LogType`.
fn log_type(name: &str) -> Result<AuditLogType> {
    AuditLogType::parse(name).ok_or_else(|| {
        err(
            codes::INVALID_PARAMETER,
            format!("LogType: {name:?} is not an audit-log type"),
        )
    })
}

/// Where records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DestinationType {
    /// JSON lines in `<data-dir>/logs/audit/<organization-id>/<LogType>.jsonl`.
    File,
    /// Batches of JSON lines POSTed to `Endpoint`.
    Http,
}

/// Input of PutAuditLogDelivery.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutAuditLogDeliveryInput {
    /// The organization (`m-` and 32 hexadecimal digits).
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
    /// The audit-log type to deliver: `WORKMAIL_MAILBOX_ACCESS_LOGS`, `ACCESS_CONTROL_LOGS`,
    /// `AUTHENTICATION_LOGS` or `WORKMAIL_AVAILABILITY_PROVIDER_LOGS`.
    #[schemars(pattern(LOG_TYPE_PATTERN))]
    pub log_type: String,
    /// Where its records go.
    pub destination_type: DestinationType,
    /// `HTTP` only: an `https` URL (or `http` to a loopback address).
    #[schemars(length(min = 1, max = 2048))]
    pub endpoint: Option<String>,
}

/// Output of PutAuditLogDelivery (empty).
#[derive(Debug, Serialize, JsonSchema)]
pub struct PutAuditLogDeliveryOutput {}

/// One delivery.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AuditLogDelivery {
    /// The audit-log type.
    pub log_type: String,
    /// `FILE` or `HTTP`.
    pub destination_type: String,
    /// The HTTP endpoint (`HTTP` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Last change (RFC 3339, UTC).
    pub date_modified: String,
}

/// Output of ListAuditLogDeliveries.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ListAuditLogDeliveriesOutput {
    /// The organization's deliveries, by log type; types not listed are not delivered.
    pub deliveries: Vec<AuditLogDelivery>,
}

/// Input of DeleteAuditLogDelivery.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeleteAuditLogDeliveryInput {
    /// The organization (`m-` and 32 hexadecimal digits).
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
    /// The audit-log type to stop delivering (as in PutAuditLogDelivery).
    #[schemars(pattern(LOG_TYPE_PATTERN))]
    pub log_type: String,
}

/// Output of DeleteAuditLogDelivery (empty).
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeleteAuditLogDeliveryOutput {}

/// Adds the audit-log delivery operations of `workmail` to `registry`.
pub fn register(registry: &mut Registry, workmail: &WorkMail) {
    registry
        .register(PutAuditLogDelivery(workmail.clone()))
        .register(ListAuditLogDeliveries(workmail.clone()))
        .register(DeleteAuditLogDelivery(workmail.clone()));
}

/// PutAuditLogDelivery: delivers one audit-log type to a file or an HTTP endpoint.
pub struct PutAuditLogDelivery(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for PutAuditLogDelivery {
    type Input = PutAuditLogDeliveryInput;
    type Output = PutAuditLogDeliveryOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 3] = [
            ORGANIZATION_ERRORS[0],
            ORGANIZATION_ERRORS[1],
            ErrorSpec {
                code: codes::INVALID_PARAMETER,
                status: 400,
                doc: "Endpoint missing for HTTP, given for FILE, or not an https URL.",
            },
        ];
        OperationSpec {
            name: "PutAuditLogDelivery",
            method: Method::PUT,
            path: ITEM,
            action: "workmail:PutAuditLogDelivery",
            resource: RESOURCE,
            summary: "Delivers one audit-log type of an organization to a file or an HTTP endpoint.",
            docs: "Replaces the type's earlier delivery. FILE appends JSON lines to <data-dir>/logs/audit/<OrganizationId>/<LogType>.jsonl; HTTP POSTs batches of JSON lines (Content-Type application/x-ndjson, header X-Carillon-Audit-Log-Type) to Endpoint, which must be https (http only to a loopback address). Records carry event_timestamp, request_id, organization_arn, user_id and the fields of their type. Spec: workmail.md §4.2, §5.4.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: PutAuditLogDeliveryInput,
    ) -> ApiResult<PutAuditLogDeliveryOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let log_type = log_type(&input.log_type)?;
            let endpoint = match (input.destination_type, input.endpoint) {
                (DestinationType::Http, Some(endpoint)) => {
                    audit::check_endpoint(&endpoint)
                        .map_err(|m| err(codes::INVALID_PARAMETER, m))?;
                    Some(endpoint)
                }
                (DestinationType::Http, None) => {
                    return Err(err(
                        codes::INVALID_PARAMETER,
                        "Endpoint is required when DestinationType is HTTP",
                    ))
                }
                (DestinationType::File, Some(_)) => {
                    return Err(err(
                        codes::INVALID_PARAMETER,
                        "Endpoint is only allowed when DestinationType is HTTP",
                    ))
                }
                (DestinationType::File, None) => None,
            };
            let record = AuditLogDeliveryRecord {
                account_id: ctx.account_id.clone(),
                log_type: log_type.name().to_string(),
                destination_type: match input.destination_type {
                    DestinationType::File => "FILE",
                    DestinationType::Http => "HTTP",
                }
                .to_string(),
                endpoint,
                updated_at: carillon_core::time::now_millis(),
            };
            wm.store
                .put_audit_log_delivery(&org.organization_id, &record)
                .await?;
            Ok(PutAuditLogDeliveryOutput {})
        })
        .await
    }
}

/// ListAuditLogDeliveries: the organization's audit-log deliveries.
pub struct ListAuditLogDeliveries(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for ListAuditLogDeliveries {
    type Input = OrganizationInput;
    type Output = ListAuditLogDeliveriesOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "ListAuditLogDeliveries",
            method: Method::GET,
            path: COLLECTION,
            action: "workmail:ListAuditLogDeliveries",
            resource: RESOURCE,
            summary: "Lists an organization's audit-log deliveries.",
            docs: "One entry per delivered log type, ordered by type; a type not listed produces no records. Spec: workmail.md §4.2.",
            errors: &ORGANIZATION_ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: OrganizationInput,
    ) -> ApiResult<ListAuditLogDeliveriesOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let deliveries = wm
                .store
                .audit_log_deliveries(&org.organization_id)
                .await?
                .into_iter()
                .map(|d| AuditLogDelivery {
                    log_type: d.log_type,
                    destination_type: d.destination_type,
                    endpoint: d.endpoint,
                    date_modified: rfc3339(d.updated_at),
                })
                .collect();
            Ok(ListAuditLogDeliveriesOutput { deliveries })
        })
        .await
    }
}

/// DeleteAuditLogDelivery: stops delivering one audit-log type.
pub struct DeleteAuditLogDelivery(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for DeleteAuditLogDelivery {
    type Input = DeleteAuditLogDeliveryInput;
    type Output = DeleteAuditLogDeliveryOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 3] = [
            ORGANIZATION_ERRORS[0],
            ORGANIZATION_ERRORS[1],
            ErrorSpec {
                code: codes::RESOURCE_NOT_FOUND,
                status: 400,
                doc: "The log type is not delivered.",
            },
        ];
        OperationSpec {
            name: "DeleteAuditLogDelivery",
            method: Method::DELETE,
            path: ITEM,
            action: "workmail:DeleteAuditLogDelivery",
            resource: RESOURCE,
            summary: "Stops delivering one audit-log type of an organization.",
            docs: "Records of the type are no longer produced; files already written stay. Spec: workmail.md §4.2.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: DeleteAuditLogDeliveryInput,
    ) -> ApiResult<DeleteAuditLogDeliveryOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let name = log_type(&input.log_type)?.name();
            let deleted = wm
                .store
                .delete_audit_log_delivery(&ctx.account_id, &org.organization_id, name)
                .await?;
            if !deleted {
                return Err(err(
                    codes::RESOURCE_NOT_FOUND,
                    format!("LogType {name} is not delivered for this organization"),
                ));
            }
            Ok(DeleteAuditLogDeliveryOutput {})
        })
        .await
    }
}
