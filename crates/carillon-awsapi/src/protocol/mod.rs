//! Routing a request to its operation and running it: binding the input from the HTTP
//! message, calling the service, and serializing the output or error in the service's
//! protocol.

mod aws_json;
mod rest_json;
mod uri;

use crate::dispatch::Dispatched;
use crate::error::{error_response, set_request_id};
use crate::generated::{chime, wickr, workmail, workmailmessageflow};
use crate::service::{ServiceId, Services};
use crate::spec::{OperationSpec, Protocol};
use bytes::Bytes;
use carillon_core::{ApiError, RequestContext};
use serde_json::Value;

/// A routed operation: which service and operation a request names, with the path labels
/// its URI template captured (restJson1).
#[derive(Debug, Clone)]
pub struct Operation {
    service: ServiceId,
    spec: &'static OperationSpec,
    labels: Vec<(String, String)>,
}

impl Operation {
    /// The operation `name` of `service`, if the model has it. It carries no path labels,
    /// so it suits awsJson1.1 (and tests); restJson1 requests are routed by [`resolve`].
    pub fn named(service: ServiceId, name: &str) -> Option<Operation> {
        service.spec().operation(name).map(|spec| Operation {
            service,
            spec,
            labels: Vec::new(),
        })
    }

    /// Operation name, e.g. `CreateUser` (CloudTrail `eventName`).
    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    /// IAM action, e.g. `workmail:CreateUser`.
    pub fn iam_action(&self) -> &'static str {
        self.spec.iam_action
    }

    /// The service.
    pub fn service(&self) -> ServiceId {
        self.service
    }

    /// The generated description of the operation.
    pub fn spec(&self) -> &'static OperationSpec {
        self.spec
    }

    /// CloudTrail `readOnly`: the model marks the operation read-only, or its name is a
    /// read verb (`Describe`, `Get`, `List`, `Search`), as for models without the trait.
    pub fn read_only(&self) -> bool {
        self.spec.readonly
            || ["Describe", "Get", "List", "Search"]
                .iter()
                .any(|verb| self.spec.name.starts_with(verb))
    }
}

/// Finds the operation a request names: awsJson1.1 by `X-Amz-Target`
/// (`<targetPrefix>.<Operation>` on `POST /`), restJson1 by method and `requestUri` template.
/// Unknown → `UnknownOperationException` (HTTP 400 for awsJson1.1, 404 for restJson1).
pub fn resolve(service: ServiceId, parts: &http::request::Parts) -> Result<Operation, ApiError> {
    match service.spec().protocol {
        Protocol::AwsJson11 => aws_json::resolve(service, parts),
        Protocol::RestJson1 => uri::resolve(service, parts),
    }
}

/// The result of one call: the HTTP response and what the audit record needs.
#[derive(Debug)]
pub struct Invocation {
    /// The HTTP response, with `x-amzn-RequestId`.
    pub response: http::Response<Bytes>,
    /// The input as the service received it, sensitive members replaced by
    /// `HIDDEN_DUE_TO_SECURITY_REASONS` (`null` when it could not be bound).
    pub request_parameters: Value,
    /// The output, sensitive members hidden; `None` on error.
    pub response_elements: Option<Value>,
    /// The error answered, if any.
    pub error: Option<ApiError>,
}

/// Binds the input of `op` from the request, validates it, calls the service in `services`
/// and serializes the answer. The caller has already authenticated and authorized the
/// request (`ctx`).
pub async fn invoke(
    services: &Services,
    op: &Operation,
    ctx: &RequestContext,
    parts: &http::request::Parts,
    body: Bytes,
) -> Invocation {
    let protocol = op.service.spec().protocol;
    let bound = match protocol {
        Protocol::AwsJson11 => aws_json::bind_input(&body),
        Protocol::RestJson1 => rest_json::bind_input(op, parts, &body),
    };
    let dispatched = match bound {
        Ok(input) => dispatch(services, op, ctx, input).await,
        Err(err) => Dispatched {
            request_parameters: Value::Null,
            output: Err(err),
            response_elements: None,
        },
    };
    let (mut response, error) = match dispatched.output {
        Ok(output) => {
            let serialized = match protocol {
                Protocol::AwsJson11 => Ok(aws_json::output_response(&output)),
                Protocol::RestJson1 => rest_json::output_response(op.spec, output),
            };
            match serialized {
                Ok(response) => (response, None),
                Err(err) => (error_response(op.service, &err, &ctx.request_id), Some(err)),
            }
        }
        Err(err) => (error_response(op.service, &err, &ctx.request_id), Some(err)),
    };
    set_request_id(&mut response, &ctx.request_id);
    Invocation {
        response,
        request_parameters: dispatched.request_parameters,
        response_elements: if error.is_none() {
            dispatched.response_elements
        } else {
            None
        },
        error,
    }
}

async fn dispatch(
    services: &Services,
    op: &Operation,
    ctx: &RequestContext,
    input: Value,
) -> Dispatched {
    let name = op.name();
    match op.service {
        ServiceId::WorkMail => {
            workmail::dispatch(services.workmail.as_ref(), ctx, name, input).await
        }
        ServiceId::Chime => chime::dispatch(services.chime.as_ref(), ctx, name, input).await,
        ServiceId::Wickr => wickr::dispatch(services.wickr.as_ref(), ctx, name, input).await,
        ServiceId::WorkMailMessageFlow => {
            workmailmessageflow::dispatch(services.messageflow.as_ref(), ctx, name, input).await
        }
    }
}
