//! SMTP gateways (workmail.md §2.8), which the WorkMail console configured for outbound rules
//! that route to one, as operations of Carillon's admin API: `CreateSmtpGateway`,
//! `GetSmtpGateway`, `ListSmtpGateways`, `UpdateSmtpGateway`, `DeleteSmtpGateway` under
//! `/carillon/v1/organizations/{OrganizationId}/smtp-gateways[/{SmtpGatewayId}]`.
//!
//! IAM actions are `workmail:<Operation>` on the organization ARN. A gateway's password is
//! kept for its AUTH, sealed under the organization's key ([`crate::crypto::seal_secret`]),
//! and never returned or logged. The outbound queue runner reads the gateway at each attempt.

use carillon_adminapi::{CarillonOperation, ErrorSpec, OperationSpec, Registry};
use carillon_core::{ApiResult, RequestContext};
use carillon_store::{SmtpGatewayRecord, StoreError};
use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    codes, rfc3339, EmptyOutput, OrganizationInput, ORGANIZATION_RESOURCE as RESOURCE,
    ORG_NOT_FOUND, ORG_STATE,
};
use super::error::{answer, err, Error, Result};
use super::WorkMail;

const GATEWAYS: &str = "/carillon/v1/organizations/{OrganizationId}/smtp-gateways";
const GATEWAY: &str = "/carillon/v1/organizations/{OrganizationId}/smtp-gateways/{SmtpGatewayId}";

const INVALID: ErrorSpec = ErrorSpec {
    code: codes::INVALID_PARAMETER,
    status: 400,
    doc: "A gateway field is not valid; the message names the member.",
};
const NAME_TAKEN: ErrorSpec = ErrorSpec {
    code: codes::NAME_AVAILABILITY,
    status: 400,
    doc: "The organization already has a gateway of that name.",
};
const NOT_FOUND: ErrorSpec = ErrorSpec {
    code: codes::RESOURCE_NOT_FOUND,
    status: 400,
    doc: "No such SMTP gateway in the organization.",
};

/// Input of CreateSmtpGateway.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateSmtpGatewayInput {
    /// The organization.
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
    /// The gateway's name, unique in the organization.
    #[schemars(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_.\- ]+$"))]
    pub name: String,
    /// Host name or IP address (TLS 1.2+ required when connecting).
    #[schemars(length(min = 1, max = 253))]
    pub address: String,
    /// TCP port (465: implicit TLS; otherwise STARTTLS).
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// AUTH user name.
    #[schemars(length(min = 1, max = 256))]
    pub username: String,
    /// AUTH password: strong (8–63 characters of 3 classes); never returned.
    pub password: String,
}

/// Output of CreateSmtpGateway.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSmtpGatewayOutput {
    /// The new gateway's ID (`gw-` and 32 hexadecimal digits).
    pub smtp_gateway_id: String,
}

/// Input of UpdateSmtpGateway.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateSmtpGatewayInput {
    /// The organization.
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
    /// The gateway.
    pub smtp_gateway_id: String,
    /// Host name or IP address.
    #[schemars(length(min = 1, max = 253))]
    pub address: String,
    /// TCP port.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// AUTH user name.
    #[schemars(length(min = 1, max = 256))]
    pub username: String,
    /// A new AUTH password; absent keeps the current one.
    pub password: Option<String>,
}

/// Input of Get/DeleteSmtpGateway.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SmtpGatewayInput {
    /// The organization.
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
    /// The gateway.
    pub smtp_gateway_id: String,
}

/// A gateway as described (never with its password).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SmtpGateway {
    /// The gateway's ID.
    pub smtp_gateway_id: String,
    /// Its name.
    pub name: String,
    /// Host name or IP address.
    pub address: String,
    /// TCP port.
    pub port: i64,
    /// AUTH user name.
    pub username: String,
    /// Creation (RFC 3339, UTC).
    pub date_created: String,
    /// Last change (RFC 3339, UTC).
    pub date_modified: String,
}

/// Output of ListSmtpGateways.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ListSmtpGatewaysOutput {
    /// The gateways, by name.
    pub smtp_gateways: Vec<SmtpGateway>,
}

/// Adds the SMTP gateway operations of `workmail` to `registry`.
pub fn register(registry: &mut Registry, workmail: &WorkMail) {
    registry
        .register(CreateSmtpGateway(workmail.clone()))
        .register(GetSmtpGateway(workmail.clone()))
        .register(ListSmtpGateways(workmail.clone()))
        .register(UpdateSmtpGateway(workmail.clone()))
        .register(DeleteSmtpGateway(workmail.clone()));
}

fn gateway_not_found(id: &str) -> Error {
    err(
        codes::RESOURCE_NOT_FOUND,
        format!("SmtpGatewayId: the organization has no SMTP gateway {id}"),
    )
}

fn describe_gateway(g: SmtpGatewayRecord) -> SmtpGateway {
    SmtpGateway {
        smtp_gateway_id: g.gateway_id,
        name: g.name,
        address: g.address,
        port: g.port,
        username: g.username,
        date_created: rfc3339(g.created_at),
        date_modified: rfc3339(g.updated_at),
    }
}

/// Checks a gateway password's strength (the console asked for a strong one).
fn check_password(password: &str) -> Result<()> {
    super::password::check(password)
        .map_err(|problem| err(codes::INVALID_PASSWORD, format!("Password: {problem}")))
}

/// Checks a gateway address: a host name or an IP address.
fn check_address(address: &str) -> Result<()> {
    let host_ok = address.parse::<std::net::IpAddr>().is_ok()
        || (!address.is_empty()
            && address.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }));
    if !host_ok {
        return Err(err(
            codes::INVALID_PARAMETER,
            format!("Address: {address:?} is not a host name or IP address"),
        ));
    }
    Ok(())
}

/// CreateSmtpGateway: adds a gateway outbound rules can route through.
pub struct CreateSmtpGateway(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for CreateSmtpGateway {
    type Input = CreateSmtpGatewayInput;
    type Output = CreateSmtpGatewayOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 5] = [
            ORG_NOT_FOUND,
            ORG_STATE,
            INVALID,
            NAME_TAKEN,
            ErrorSpec {
                code: codes::INVALID_PASSWORD,
                status: 400,
                doc: "The password is not strong (8-63 characters of 3 classes).",
            },
        ];
        OperationSpec {
            name: "CreateSmtpGateway",
            method: Method::POST,
            path: GATEWAYS,
            action: "workmail:CreateSmtpGateway",
            resource: RESOURCE,
            summary: "Creates an SMTP gateway for outbound rules that route to one.",
            docs: "Mail routed to the gateway is sent with TLS 1.2 or later (implicit TLS on port 465, STARTTLS otherwise) and a verified certificate, authenticating with AUTH PLAIN or LOGIN; when the gateway cannot be reached the message bounces to its sender. The password is kept for that and never returned. Spec: workmail.md §2.8.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: CreateSmtpGatewayInput,
    ) -> ApiResult<CreateSmtpGatewayOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let address = input.address.trim().to_ascii_lowercase();
            check_address(&address)?;
            check_password(&input.password)?;
            let password =
                crate::crypto::seal_secret(&wm.store, &org.organization_id, &input.password)
                    .await?;
            let now = carillon_core::time::now_millis();
            let record = SmtpGatewayRecord {
                gateway_id: format!("gw-{}", carillon_core::ids::new_uuid().replace('-', "")),
                organization_id: org.organization_id,
                name: input.name.trim().to_string(),
                address,
                port: i64::from(input.port),
                username: input.username,
                password,
                created_at: now,
                updated_at: now,
            };
            match wm.store.create_smtp_gateway(&ctx.account_id, &record).await {
                Ok(()) => Ok(CreateSmtpGatewayOutput {
                    smtp_gateway_id: record.gateway_id,
                }),
                Err(StoreError::Conflict(_)) => Err(err(
                    codes::NAME_AVAILABILITY,
                    format!(
                        "Name: the organization already has an SMTP gateway named {:?}",
                        record.name
                    ),
                )),
                Err(e) => Err(Error::from(e)),
            }
        })
        .await
    }
}

/// GetSmtpGateway: describes a gateway (without its password).
pub struct GetSmtpGateway(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for GetSmtpGateway {
    type Input = SmtpGatewayInput;
    type Output = SmtpGateway;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 3] = [ORG_NOT_FOUND, ORG_STATE, NOT_FOUND];
        OperationSpec {
            name: "GetSmtpGateway",
            method: Method::GET,
            path: GATEWAY,
            action: "workmail:GetSmtpGateway",
            resource: RESOURCE,
            summary: "Describes an SMTP gateway.",
            docs: "Name, address, port and user name; never the password. Spec: workmail.md §2.8.",
            errors: &ERRORS,
        }
    }

    async fn call(&self, ctx: &RequestContext, input: SmtpGatewayInput) -> ApiResult<SmtpGateway> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let gateway = wm
                .store
                .smtp_gateway(
                    &ctx.account_id,
                    &org.organization_id,
                    &input.smtp_gateway_id,
                )
                .await?
                .ok_or_else(|| gateway_not_found(&input.smtp_gateway_id))?;
            Ok(describe_gateway(gateway))
        })
        .await
    }
}

/// ListSmtpGateways: the organization's gateways.
pub struct ListSmtpGateways(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for ListSmtpGateways {
    type Input = OrganizationInput;
    type Output = ListSmtpGatewaysOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 2] = [ORG_NOT_FOUND, ORG_STATE];
        OperationSpec {
            name: "ListSmtpGateways",
            method: Method::GET,
            path: GATEWAYS,
            action: "workmail:ListSmtpGateways",
            resource: RESOURCE,
            summary: "Lists an organization's SMTP gateways.",
            docs: "By name, without passwords. Spec: workmail.md §2.8.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: OrganizationInput,
    ) -> ApiResult<ListSmtpGatewaysOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let gateways = wm
                .store
                .list_smtp_gateways(&ctx.account_id, &org.organization_id)
                .await?;
            Ok(ListSmtpGatewaysOutput {
                smtp_gateways: gateways.into_iter().map(describe_gateway).collect(),
            })
        })
        .await
    }
}

/// UpdateSmtpGateway: changes a gateway's address, port, user name or password.
pub struct UpdateSmtpGateway(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for UpdateSmtpGateway {
    type Input = UpdateSmtpGatewayInput;
    type Output = EmptyOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 4] = [ORG_NOT_FOUND, ORG_STATE, INVALID, NOT_FOUND];
        OperationSpec {
            name: "UpdateSmtpGateway",
            method: Method::PUT,
            path: GATEWAY,
            action: "workmail:UpdateSmtpGateway",
            resource: RESOURCE,
            summary: "Changes an SMTP gateway.",
            docs: "Address, port and user name are replaced; the password only when given. Mail queued for the gateway uses the new settings at its next attempt. Spec: workmail.md §2.8.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: UpdateSmtpGatewayInput,
    ) -> ApiResult<EmptyOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let mut gateway = wm
                .store
                .smtp_gateway(
                    &ctx.account_id,
                    &org.organization_id,
                    &input.smtp_gateway_id,
                )
                .await?
                .ok_or_else(|| gateway_not_found(&input.smtp_gateway_id))?;
            let address = input.address.trim().to_ascii_lowercase();
            check_address(&address)?;
            let password = match &input.password {
                Some(password) => {
                    check_password(password)?;
                    let sealed =
                        crate::crypto::seal_secret(&wm.store, &gateway.organization_id, password)
                            .await?;
                    Some(sealed)
                }
                None => None,
            };
            gateway.address = address;
            gateway.port = i64::from(input.port);
            gateway.username = input.username;
            gateway.updated_at = carillon_core::time::now_millis();
            match wm
                .store
                .update_smtp_gateway(&ctx.account_id, &gateway, password.as_deref())
                .await
            {
                Ok(()) => Ok(EmptyOutput {}),
                Err(StoreError::NotFound(_)) => Err(gateway_not_found(&input.smtp_gateway_id)),
                Err(e) => Err(Error::from(e)),
            }
        })
        .await
    }
}

/// DeleteSmtpGateway: removes a gateway no rule uses.
pub struct DeleteSmtpGateway(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for DeleteSmtpGateway {
    type Input = SmtpGatewayInput;
    type Output = EmptyOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 4] = [
            ORG_NOT_FOUND,
            ORG_STATE,
            NOT_FOUND,
            ErrorSpec {
                code: codes::INVALID_PARAMETER,
                status: 400,
                doc: "Rules route to the gateway; change or remove them first.",
            },
        ];
        OperationSpec {
            name: "DeleteSmtpGateway",
            method: Method::DELETE,
            path: GATEWAY,
            action: "workmail:DeleteSmtpGateway",
            resource: RESOURCE,
            summary: "Removes an SMTP gateway that no rule uses.",
            docs: "Refused while an email flow rule routes to it (the message names those rules). Spec: workmail.md §2.8.",
            errors: &ERRORS,
        }
    }

    async fn call(&self, ctx: &RequestContext, input: SmtpGatewayInput) -> ApiResult<EmptyOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            match wm
                .store
                .delete_smtp_gateway(
                    &ctx.account_id,
                    &org.organization_id,
                    &input.smtp_gateway_id,
                )
                .await
            {
                Ok(None) => Ok(EmptyOutput {}),
                Ok(Some(rules)) => Err(err(
                    codes::INVALID_PARAMETER,
                    format!(
                        "SmtpGatewayId: {} is used by the email flow rules {}",
                        input.smtp_gateway_id,
                        rules.join(", ")
                    ),
                )),
                Err(StoreError::NotFound(_)) => Err(gateway_not_found(&input.smtp_gateway_id)),
                Err(e) => Err(Error::from(e)),
            }
        })
        .await
    }
}
