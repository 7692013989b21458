//! Error responses in the restJson1 style of the AWS APIs: status from the operation's
//! declared errors, then the common AWS codes; headers `x-amzn-ErrorType` and
//! `x-amzn-RequestId`; body `{"Code", "Message", "message"}` (SDKs read either spelling).

use bytes::Bytes;
use carillon_core::error::codes;
use carillon_core::ApiError;
use http::{header, HeaderValue, Response, StatusCode};

use crate::operation::ErrorSpec;

/// Header naming the request ID on every response.
pub const REQUEST_ID_HEADER: &str = "x-amzn-RequestId";

/// Header naming the error code of an error response.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-ErrorType";

/// HTTP status of `code`: the status an operation declares for it in `declared`, else the
/// common AWS status (403 for authentication and authorization failures, 404 unknown
/// operation, 500 internal, 501 not implemented), else 400.
pub fn status_of(declared: &[ErrorSpec], code: &str) -> StatusCode {
    if let Some(spec) = declared.iter().find(|e| e.code == code) {
        return StatusCode::from_u16(spec.status).unwrap_or(StatusCode::BAD_REQUEST);
    }
    match code {
        codes::NOT_IMPLEMENTED => StatusCode::NOT_IMPLEMENTED,
        codes::INTERNAL_FAILURE => StatusCode::INTERNAL_SERVER_ERROR,
        codes::ACCESS_DENIED
        | codes::UNRECOGNIZED_CLIENT
        | codes::INVALID_SIGNATURE
        | codes::MISSING_AUTHENTICATION_TOKEN => StatusCode::FORBIDDEN,
        codes::UNKNOWN_OPERATION => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The error response for `err` (status per [`status_of`] over `declared`), tagged with
/// `request_id`.
pub fn error_response(declared: &[ErrorSpec], err: &ApiError, request_id: &str) -> Response<Bytes> {
    let body =
        serde_json::json!({ "Code": err.code, "Message": err.message, "message": err.message });
    let mut response = json_response(status_of(declared, &err.code), &body, request_id);
    if let Ok(code) = HeaderValue::from_str(&err.code) {
        response.headers_mut().insert(ERROR_TYPE_HEADER, code);
    }
    response
}

/// A JSON response with `status`, `body` and `x-amzn-RequestId` (omitted when empty).
pub(crate) fn json_response(
    status: StatusCode,
    body: &serde_json::Value,
    request_id: &str,
) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if !request_id.is_empty() {
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert(REQUEST_ID_HEADER, id);
        }
    }
    response
}
