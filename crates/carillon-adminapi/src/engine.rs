//! The request pipeline of Carillon's admin API.
//!
//! `GET /carillon/v1/openapi.json` → the document, unauthenticated. Every other request:
//! SigV4 verification (carillon-iam) → the credential scope must name service `carillon` →
//! operation resolved from method + path → input bound (path labels + JSON body) → policy
//! evaluation of the operation's action on its resource → input validated against the
//! input's JSON Schema → operation called → one audit record → response.

use std::net::IpAddr;

use bytes::Bytes;
use carillon_core::error::codes;
use carillon_core::{ApiError, RequestContext};
use carillon_iam::{AuditRecord, Iam, RequestConditions, VerifiedCaller};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use serde_json::{Map, Value};

use crate::error::{error_response, json_response};
use crate::operation::{fill_resource, Entry, Registry};
use crate::validate;

/// Every path of the API starts with this.
pub const PATH_PREFIX: &str = "/carillon/v1/";

/// The OpenAPI document's path (the one route served without authentication).
pub const OPENAPI_PATH: &str = "/carillon/v1/openapi.json";

/// SigV4 service name (credential scope) and audit signing name of the API.
pub const SIGNING_NAME: &str = "carillon";

/// Whether a request for `path` belongs to this API (the front end routes it here).
pub fn is_carillon_path(path: &str) -> bool {
    path.starts_with(PATH_PREFIX)
}

/// Carillon's admin API over its registered operations. Cheap to share behind an `Arc`.
pub struct Engine {
    iam: Iam,
    region: String,
    registry: Registry,
    openapi: Bytes,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("region", &self.region)
            .field("operations", &self.registry.operation_names())
            .finish()
    }
}

impl Engine {
    /// The engine for a server in `region`, authenticating and authorizing through `iam`,
    /// serving the operations of `registry`. The OpenAPI document is generated here, once.
    pub fn new(iam: Iam, region: impl Into<String>, registry: Registry) -> Engine {
        let openapi = Bytes::from(crate::openapi::document(&registry).to_string());
        Engine {
            iam,
            region: region.into(),
            registry,
            openapi,
        }
    }

    /// The OpenAPI 3 document as served.
    pub fn openapi_document(&self) -> &Bytes {
        &self.openapi
    }

    /// Answers one request: `parts` and the complete `body` as received, `peer` the caller's
    /// IP address. Errors are answered in the restJson1 style (see [`crate::error_response`]):
    /// `MissingAuthenticationTokenException` and the other SigV4 failures (403),
    /// `InvalidSignatureException` when the credential scope names another service,
    /// `UnknownOperationException` (404), `SerializationException` (400, body not a JSON
    /// object), `AccessDeniedException` (403), `ValidationException` (400, naming the
    /// members), the operation's own errors, `InternalFailure` (500).
    pub async fn handle(&self, parts: Parts, body: Bytes, peer: IpAddr) -> Response<Bytes> {
        if parts.uri.path() == OPENAPI_PATH && parts.method == Method::GET {
            let mut response = Response::new(self.openapi.clone());
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            return response;
        }
        let request_id = carillon_core::ids::new_uuid();
        let now = chrono::Utc::now();
        let caller = match self.iam.verify(&parts, &body, now).await {
            Ok(caller) => caller,
            Err(err) => return error_response(&[], &err, &request_id),
        };
        if caller.service != SIGNING_NAME {
            let err = ApiError::new(
                codes::INVALID_SIGNATURE,
                format!(
                    "Credential should be scoped to correct service: '{SIGNING_NAME}', not '{}'",
                    caller.service
                ),
            );
            return error_response(&[], &err, &request_id);
        }
        let Some((entry, labels)) = self.registry.resolve(&parts.method, parts.uri.path()) else {
            let err = ApiError::new(
                codes::UNKNOWN_OPERATION,
                format!(
                    "No Carillon operation answers {} {}",
                    parts.method,
                    parts.uri.path()
                ),
            );
            return error_response(&[], &err, &request_id);
        };
        let user_agent = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let call = Call {
            entry,
            ctx: RequestContext {
                account_id: caller.account_id.clone(),
                principal_arn: caller.principal_arn.clone(),
                access_key_id: caller.access_key_id.clone(),
                region: self.region.clone(),
                request_id: request_id.clone(),
                source_ip: peer.to_string(),
            },
            caller,
            user_agent,
        };
        let input = bind(&labels, &body);
        let request_parameters = input.clone().unwrap_or(Value::Null);
        let resource = fill_resource(
            entry.spec.resource,
            &self.region,
            &call.ctx.account_id,
            &labels,
        );
        let conditions = RequestConditions {
            secure_transport: false,
            source_ip: peer.to_string(),
            user_agent: call.user_agent.clone(),
            current_time: now,
        };
        let outcome = match self
            .iam
            .authorize(&call.caller, entry.spec.action, &resource, &conditions)
            .await
        {
            Err(err) => Err(err),
            Ok(()) => match input {
                Err(err) => Err(err),
                Ok(input) => self.invoke(&call, input).await,
            },
        };
        self.audit(&call, request_parameters, &outcome).await;
        match outcome {
            Ok(output) => json_response(StatusCode::OK, &output, &request_id),
            Err(err) => error_response(entry.spec.errors, &err, &request_id),
        }
    }

    /// Validates the bound input and calls the operation.
    async fn invoke(&self, call: &Call<'_>, input: Value) -> Result<Value, ApiError> {
        let violations = validate::validate(&call.entry.input_schema, &input);
        if !violations.is_empty() {
            return Err(ApiError::new(
                codes::VALIDATION,
                validate::message(&violations),
            ));
        }
        call.entry.handler.call(&call.ctx, input).await
    }

    async fn audit(&self, call: &Call<'_>, parameters: Value, outcome: &Result<Value, ApiError>) {
        let (response, error) = match outcome {
            Ok(output) => (Some(output.clone()), None),
            Err(err) => (None, Some(err)),
        };
        let record = AuditRecord::for_call(
            &call.ctx,
            &call.caller,
            SIGNING_NAME,
            call.entry.spec.name,
            &call.user_agent,
            parameters,
            response,
            error,
        );
        if let Err(e) = self.iam.record_audit(&record).await {
            tracing::error!(request_id = %call.ctx.request_id, error = %e, "audit record not written");
        }
    }
}

/// One authenticated call being served.
struct Call<'a> {
    entry: &'a Entry,
    ctx: RequestContext,
    caller: VerifiedCaller,
    user_agent: String,
}

/// The input object: the JSON body (empty: `{}`) with the path labels added as strings.
///
/// Errors: `SerializationException` when the body is not a JSON object; `ValidationException`
/// when the body repeats a path label.
fn bind(
    labels: &std::collections::BTreeMap<String, String>,
    body: &[u8],
) -> Result<Value, ApiError> {
    let mut members = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(members)) => members,
            Ok(_) => {
                return Err(ApiError::new(
                    codes::SERIALIZATION,
                    "The request body must be a JSON object",
                ))
            }
            Err(e) => {
                return Err(ApiError::new(
                    codes::SERIALIZATION,
                    format!("The request body is not valid JSON: {e}"),
                ))
            }
        }
    };
    for (name, value) in labels {
        if members.contains_key(name) {
            return Err(ApiError::new(
                codes::VALIDATION,
                format!(
                    "1 validation error detected: Value at '{name}' failed to satisfy constraint: Member is bound from the request path and must not be sent in the body"
                ),
            ));
        }
        members.insert(name.clone(), Value::String(value.clone()));
    }
    Ok(Value::Object(members))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn binding_merges_labels_into_the_body() {
        let labels = BTreeMap::from([("OrganizationId".to_string(), "m-1".to_string())]);
        let bound = bind(&labels, br#"{"A": 1}"#).unwrap();
        assert_eq!(bound, serde_json::json!({"A": 1, "OrganizationId": "m-1"}));
        assert_eq!(
            bind(&labels, b"  ").unwrap(),
            serde_json::json!({"OrganizationId": "m-1"})
        );
        let err = bind(&labels, b"[1]").unwrap_err();
        assert_eq!(err.code, codes::SERIALIZATION);
        let err = bind(&labels, b"{").unwrap_err();
        assert_eq!(err.code, codes::SERIALIZATION);
        let err = bind(&labels, br#"{"OrganizationId": "m-2"}"#).unwrap_err();
        assert_eq!(err.code, codes::VALIDATION);
        assert!(err.message.contains("'OrganizationId'"));
    }
}
