//! awsJson1.1: `POST /` with `X-Amz-Target: <targetPrefix>.<Operation>`, the input as the
//! JSON body, the output as the JSON body of a 200.

use super::Operation;
use crate::error::AWS_JSON_CONTENT_TYPE;
use crate::service::ServiceId;
use bytes::Bytes;
use carillon_core::error::codes;
use carillon_core::ApiError;
use http::{header, HeaderValue, Method, Response};
use serde_json::Value;

/// Header naming the operation.
const TARGET_HEADER: &str = "x-amz-target";

pub(super) fn resolve(
    service: ServiceId,
    parts: &http::request::Parts,
) -> Result<Operation, ApiError> {
    let target = parts
        .headers
        .get(TARGET_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let prefix = service.spec().target_prefix;
    let name = target
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .filter(|_| parts.method == Method::POST);
    name.and_then(|name| Operation::named(service, name))
        .ok_or_else(|| {
            ApiError::new(
                codes::UNKNOWN_OPERATION,
                if target.is_empty() {
                    "The request has no X-Amz-Target header".to_string()
                } else {
                    format!("Unknown operation {target}")
                },
            )
        })
}

/// The JSON body as the input; an empty body is the empty structure.
pub(super) fn bind_input(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::new(
            codes::SERIALIZATION,
            "The request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::new(
            codes::SERIALIZATION,
            format!("The request body is not valid JSON: {e}"),
        )),
    }
}

pub(super) fn output_response(output: &Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(output.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(AWS_JSON_CONTENT_TYPE),
    );
    response
}
