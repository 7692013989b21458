//! The signing secret of an organization's flow-rule hooks (Carillon's stand-in for the
//! original's Lambda invoke permission, workmail.md §2.10), as operations of Carillon's admin
//! API: `GetFlowHookSecret` and `RotateFlowHookSecret` under
//! `/carillon/v1/organizations/{OrganizationId}/flow-hook-secret`.
//!
//! Every hook request is signed with it (HMAC-SHA256, see [`crate::flow::hooks`]); the hook
//! keeps a copy to verify requests. The secret is made on first use (the first Get, or the
//! first hook invocation). The IAM actions carry the `workmail:` prefix; the resource is the
//! organization ARN. Another account's organization is `OrganizationNotFoundException`.

use carillon_adminapi::{CarillonOperation, OperationSpec, Registry};
use carillon_core::{ApiResult, RequestContext};
use http::Method;
use schemars::JsonSchema;
use serde::Serialize;

use super::common::{
    OrganizationInput, ORGANIZATION_ERRORS as ERRORS, ORGANIZATION_RESOURCE as RESOURCE,
};
use super::error::answer;
use super::WorkMail;
use crate::flow::hooks;

const PATH: &str = "/carillon/v1/organizations/{OrganizationId}/flow-hook-secret";

/// Output of GetFlowHookSecret and RotateFlowHookSecret.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct FlowHookSecretOutput {
    /// The organization.
    pub organization_id: String,
    /// The HMAC-SHA256 key (64 hexadecimal digits, used as its UTF-8 bytes).
    pub secret: String,
    /// The header carrying `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
    pub signature_header: String,
    /// The header carrying the signed timestamp (Unix seconds).
    pub timestamp_header: String,
}

/// Adds the hook secret operations of `workmail` to `registry`.
pub fn register(registry: &mut Registry, workmail: &WorkMail) {
    registry
        .register(GetFlowHookSecret(workmail.clone()))
        .register(RotateFlowHookSecret(workmail.clone()));
}

fn output(organization_id: String, secret: String) -> FlowHookSecretOutput {
    FlowHookSecretOutput {
        organization_id,
        secret,
        signature_header: hooks::SIGNATURE_HEADER.to_string(),
        timestamp_header: hooks::TIMESTAMP_HEADER.to_string(),
    }
}

/// GetFlowHookSecret: the organization's hook signing secret (made on first use).
pub struct GetFlowHookSecret(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for GetFlowHookSecret {
    type Input = OrganizationInput;
    type Output = FlowHookSecretOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "GetFlowHookSecret",
            method: Method::GET,
            path: PATH,
            action: "workmail:GetFlowHookSecret",
            resource: RESOURCE,
            summary: "Returns the secret an organization's flow-rule hook requests are signed with.",
            docs: "Every request to a Run hook rule's endpoint carries X-Carillon-Timestamp (Unix seconds) and X-Carillon-Signature: v1=<hex HMAC-SHA256 keyed with Secret over the timestamp, '.', and the body>. The secret is made on first use. Spec: workmail.md §2.10, §4.5.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: OrganizationInput,
    ) -> ApiResult<FlowHookSecretOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let secret =
                crate::flow::transit::hook_secret(&wm.store, &ctx.account_id, &org.organization_id)
                    .await?;
            Ok(output(org.organization_id, secret))
        })
        .await
    }
}

/// RotateFlowHookSecret: replaces the organization's hook signing secret.
pub struct RotateFlowHookSecret(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for RotateFlowHookSecret {
    type Input = OrganizationInput;
    type Output = FlowHookSecretOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "RotateFlowHookSecret",
            method: Method::POST,
            path: PATH,
            action: "workmail:RotateFlowHookSecret",
            resource: RESOURCE,
            summary: "Replaces the secret an organization's flow-rule hook requests are signed with.",
            docs: "Hook requests made from now on are signed with the new secret it returns; the old one stops at once. Spec: workmail.md §2.10.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: OrganizationInput,
    ) -> ApiResult<FlowHookSecretOutput> {
        answer(async move {
            let wm = &self.0;
            let org = wm.active_organization(ctx, &input.organization_id).await?;
            let secret = hooks::new_secret();
            let sealed =
                crate::crypto::seal_secret(&wm.store, &org.organization_id, &secret).await?;
            wm.store
                .set_hook_secret(
                    &ctx.account_id,
                    &org.organization_id,
                    &sealed,
                    carillon_core::time::now_millis(),
                )
                .await?;
            Ok(output(org.organization_id, secret))
        })
        .await
    }
}
