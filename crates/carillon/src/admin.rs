//! The admin API front end: every AWS-style request goes through the same pipeline.
//!
//! body read (bounded) → service from the SigV4 credential scope → SigV4 verification
//! (carillon-iam) → operation resolved from the wire protocol (carillon-awsapi) → policy
//! evaluation of `<service>:<Operation>` → operation invoked → one audit record → response.
//! Spec: PRODUCT.md "Admin API engine"; workmail.md §5.1 (resource-level permissions on
//! organization ARNs).
//!
//! Requests under `/carillon/v1/` are Carillon's own admin API: once the body is read they
//! go to `carillon_adminapi::Engine`, which runs the same steps for credential-scope service
//! `carillon` (and serves its OpenAPI document unauthenticated). Requests scoped to service
//! `s3` go to the minimal S3 endpoint ([`carillon_s3`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Request};
use axum::response::Response;
use bytes::Bytes;
use carillon_awsapi::{Operation, ServiceId, Services};
use carillon_core::{ApiError, RequestContext};
use carillon_iam::{AuditRecord, Iam, RequestConditions, VerifiedCaller};

/// Largest admin request body accepted (PutRawMessageContent carries whole messages).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// What the admin front end needs, shared by every request.
pub struct AdminState {
    pub iam: Iam,
    pub services: Services,
    pub region: String,
    /// Carillon's own admin API (`/carillon/v1/`).
    pub carillon: carillon_adminapi::Engine,
    /// The minimal S3 endpoint (credential-scope service `s3`).
    pub s3: carillon_s3::S3Endpoint,
    /// The message-flow service, for the §4.10 ARN of a message (workmail.md §4.10).
    pub messageflow: carillon_mail::messageflow::MessageFlow,
}

/// Axum handler for every admin API request.
pub async fn handle(
    State(state): State<Arc<AdminState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let request_id = carillon_core::ids::new_uuid();
    let (parts, body) = request.into_parts();
    let scope = scope_service(&parts.headers, parts.uri.query());
    let service = scope.as_deref().and_then(ServiceId::from_signing_name);
    // Before the service is known, errors are answered in the JSON style every SDK reads.
    let error_service = service.unwrap_or(ServiceId::WorkMail);
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            let err = ApiError::new(
                carillon_core::error::codes::SERIALIZATION,
                format!("request body larger than {MAX_BODY_BYTES} bytes"),
            );
            return into_axum(carillon_awsapi::error_response(
                error_service,
                &err,
                &request_id,
            ));
        }
    };
    if carillon_adminapi::is_carillon_path(parts.uri.path()) {
        return into_axum(state.carillon.handle(parts, body, peer.ip()).await);
    }
    if scope.as_deref() == Some("s3") {
        return carillon_s3::handle(&state.s3, parts, body, peer.ip()).await;
    }
    let now = chrono::Utc::now();
    let caller = match state.iam.verify(&parts, &body, now).await {
        Ok(caller) => caller,
        Err(err) => {
            return into_axum(carillon_awsapi::error_response(
                error_service,
                &err,
                &request_id,
            ))
        }
    };
    let Some(service) = service else {
        let err = ApiError::new(
            carillon_core::error::codes::INVALID_SIGNATURE,
            format!(
                "Credential should be scoped to a valid service, not '{}'",
                caller.service
            ),
        );
        return into_axum(carillon_awsapi::error_response(
            error_service,
            &err,
            &request_id,
        ));
    };
    let operation = match carillon_awsapi::resolve(service, &parts) {
        Ok(op) => op,
        Err(err) => return into_axum(carillon_awsapi::error_response(service, &err, &request_id)),
    };
    let user_agent = header_str(&parts.headers, "user-agent");
    let ctx = RequestContext {
        account_id: caller.account_id.clone(),
        principal_arn: caller.principal_arn.clone(),
        access_key_id: caller.access_key_id.clone(),
        region: state.region.clone(),
        request_id: request_id.clone(),
        source_ip: peer.ip().to_string(),
    };
    let conditions = RequestConditions {
        secure_transport: false,
        source_ip: peer.ip().to_string(),
        user_agent: user_agent.clone(),
        current_time: now,
    };
    let resource = if service == ServiceId::WorkMailMessageFlow {
        message_arn(&state.messageflow, &caller, parts.uri.path()).await
    } else {
        resource_arn(&state.region, &caller, service, &body)
    };
    if let Err(err) = state
        .iam
        .authorize(&caller, operation.iam_action(), &resource, &conditions)
        .await
    {
        audit(
            &state,
            &ctx,
            &caller,
            &operation,
            &user_agent,
            serde_json::Value::Null,
            None,
            Some(&err),
        )
        .await;
        return into_axum(carillon_awsapi::error_response(service, &err, &request_id));
    }
    let invocation = carillon_awsapi::invoke(&state.services, &operation, &ctx, &parts, body).await;
    audit(
        &state,
        &ctx,
        &caller,
        &operation,
        &user_agent,
        invocation.request_parameters,
        invocation.response_elements,
        invocation.error.as_ref(),
    )
    .await;
    into_axum(invocation.response)
}

/// The resource a call acts on, for resource-level permissions: the organization ARN when
/// the input names an organization (workmail.md §5.1), otherwise `*` (create-type actions).
fn resource_arn(region: &str, caller: &VerifiedCaller, service: ServiceId, body: &Bytes) -> String {
    if service == ServiceId::WorkMail {
        let org = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("OrganizationId")
                    .and_then(|o| o.as_str())
                    .map(str::to_string)
            });
        if let Some(org) = org {
            return carillon_core::arn::Arn::new(
                "workmail",
                region,
                &caller.account_id,
                format!("organization/{org}"),
            )
            .to_string();
        }
    }
    "*".to_string()
}

/// The resource of a message-flow call (`/messages/{messageId}`): the message's §4.10 ARN
/// `arn:aws:workmailmessageflow:<region>:<account>:message/<organization>/<incoming|outgoing>/<id>`
/// when the caller's account has it in transit, otherwise `*` (the operation then answers
/// `ResourceNotFoundException`).
async fn message_arn(
    flow: &carillon_mail::messageflow::MessageFlow,
    caller: &VerifiedCaller,
    path: &str,
) -> String {
    let Some(message_id) = path.strip_prefix("/messages/") else {
        return "*".to_string();
    };
    match flow.resource_arn(&caller.account_id, message_id).await {
        Ok(Some(arn)) => arn,
        Ok(None) => "*".to_string(),
        Err(e) => {
            tracing::error!(error = %e, "message-flow ARN lookup failed");
            "*".to_string()
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn audit(
    state: &AdminState,
    ctx: &RequestContext,
    caller: &VerifiedCaller,
    operation: &Operation,
    user_agent: &str,
    request_parameters: serde_json::Value,
    response_elements: Option<serde_json::Value>,
    error: Option<&ApiError>,
) {
    let record = AuditRecord::for_call(
        ctx,
        caller,
        operation.service().signing_name(),
        operation.name(),
        user_agent,
        request_parameters,
        response_elements,
        error,
    );
    if let Err(e) = state.iam.record_audit(&record).await {
        tracing::error!(request_id = %ctx.request_id, error = %e, "audit record not written");
    }
}

/// The service name of the SigV4 credential scope (`AKID/date/region/service/aws4_request`),
/// from the `Authorization` header or the presigned `X-Amz-Credential` query parameter.
fn scope_service(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let credential = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| {
            auth.split([' ', ','])
                .find_map(|part| part.trim().strip_prefix("Credential="))
                .map(str::to_string)
        })
        .or_else(|| {
            url::form_urlencoded::parse(query?.as_bytes())
                .find(|(k, _)| k == "X-Amz-Credential")
                .map(|(_, v)| v.into_owned())
        })?;
    credential.split('/').nth(3).map(str::to_string)
}

fn header_str(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn into_axum(response: http::Response<Bytes>) -> Response {
    response.map(Body::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_service_from_header_and_query() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/workmail/aws4_request, SignedHeaders=host, Signature=ab"
                .parse()
                .unwrap(),
        );
        assert_eq!(scope_service(&headers, None).as_deref(), Some("workmail"));
        let query =
            "X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fchime%2Faws4_request&X-Amz-Date=1";
        assert_eq!(
            scope_service(&HeaderMap::new(), Some(query)).as_deref(),
            Some("chime")
        );
        assert_eq!(scope_service(&HeaderMap::new(), None), None);
    }
}
