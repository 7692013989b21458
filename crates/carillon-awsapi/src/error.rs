//! Serialization of API errors in each service's protocol.
//!
//! The HTTP status comes from the service's model (`error.httpStatusCode` of the error shape;
//! 500 for faults, 400 otherwise), then from the common AWS codes; unknown codes are client
//! errors (400). awsJson1.1 answers `{"__type": code, "message": ...}`; restJson1 answers
//! `{"Code": code, "Message": ..., "message": ...}` (boto3 reads either spelling). Both carry
//! `x-amzn-ErrorType` and `x-amzn-RequestId`.

use crate::service::ServiceId;
use crate::spec::Protocol;
use bytes::Bytes;
use carillon_core::error::codes;
use carillon_core::ApiError;
use http::{header, HeaderValue, Response, StatusCode};

/// Header naming the request ID on every response.
pub const REQUEST_ID_HEADER: &str = "x-amzn-RequestId";

/// Header naming the error code of an error response.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-ErrorType";

/// Content type of awsJson1.1 bodies.
pub const AWS_JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Content type of restJson1 bodies.
pub const REST_JSON_CONTENT_TYPE: &str = "application/json";

/// HTTP status of error `code` in `service`.
pub fn status_of(service: ServiceId, code: &str) -> StatusCode {
    let spec = service.spec();
    if let Some(modelled) = spec.error(code) {
        return StatusCode::from_u16(modelled.status).unwrap_or(StatusCode::BAD_REQUEST);
    }
    match code {
        codes::NOT_IMPLEMENTED => StatusCode::NOT_IMPLEMENTED,
        codes::INTERNAL_FAILURE => StatusCode::INTERNAL_SERVER_ERROR,
        codes::ACCESS_DENIED
        | codes::UNRECOGNIZED_CLIENT
        | codes::INVALID_SIGNATURE
        | codes::MISSING_AUTHENTICATION_TOKEN => StatusCode::FORBIDDEN,
        codes::UNKNOWN_OPERATION if spec.protocol == Protocol::RestJson1 => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The HTTP response for `err` in `service`'s protocol, tagged with `request_id`.
pub fn error_response(service: ServiceId, err: &ApiError, request_id: &str) -> Response<Bytes> {
    let (content_type, body) = match service.spec().protocol {
        Protocol::AwsJson11 => (
            AWS_JSON_CONTENT_TYPE,
            serde_json::json!({ "__type": err.code, "message": err.message }),
        ),
        Protocol::RestJson1 => (
            REST_JSON_CONTENT_TYPE,
            serde_json::json!({ "Code": err.code, "Message": err.message, "message": err.message }),
        ),
    };
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status_of(service, &err.code);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(code) = HeaderValue::from_str(&err.code) {
        headers.insert(ERROR_TYPE_HEADER, code);
    }
    set_request_id(&mut response, request_id);
    response
}

/// Sets `x-amzn-RequestId` on `response`.
pub(crate) fn set_request_id(response: &mut Response<Bytes>, request_id: &str) {
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
}
