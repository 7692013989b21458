//! The error value admin operations return.
//!
//! An [`ApiError`] carries the model's error *code* (the shape name, e.g.
//! `OrganizationNotFoundException`) and a human message naming the field or object. The wire
//! layer maps the code to the model's HTTP status and serializes it in the service's protocol.

use std::borrow::Cow;

/// Result of an admin operation.
pub type ApiResult<T> = Result<T, ApiError>;

/// A modelled API error: `code` is an error shape name of the service's model (or one of the
/// common AWS codes below); `message` is for humans and names the member or object at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// Error shape name, e.g. `EntityNotFoundException`.
    pub code: Cow<'static, str>,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// An error with the given model error code.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ApiError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// `NotImplementedException` (HTTP 501) naming an operation Carillon does not build yet.
    pub fn not_implemented(operation: &str) -> Self {
        ApiError::new(
            codes::NOT_IMPLEMENTED,
            format!("{operation} is not implemented by Carillon yet"),
        )
    }

    /// `InternalFailure` (HTTP 500); the message must not leak internals or secrets.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(codes::INTERNAL_FAILURE, message)
    }
}

/// Error codes common to every AWS service, whatever its model says.
pub mod codes {
    /// 501: the operation is routed but not built.
    pub const NOT_IMPLEMENTED: &str = "NotImplementedException";
    /// 500: unexpected server failure.
    pub const INTERNAL_FAILURE: &str = "InternalFailure";
    /// 400: the body is not valid JSON or does not match the input shape's types.
    pub const SERIALIZATION: &str = "SerializationException";
    /// 400 (or the model's own code): a constraint of the input shape is violated.
    pub const VALIDATION: &str = "ValidationException";
    /// 403: the policy does not allow the action.
    pub const ACCESS_DENIED: &str = "AccessDeniedException";
    /// 403: the access key ID is unknown.
    pub const UNRECOGNIZED_CLIENT: &str = "UnrecognizedClientException";
    /// 403: the signature does not match.
    pub const INVALID_SIGNATURE: &str = "InvalidSignatureException";
    /// 403: the request lacks a signature or authentication header.
    pub const MISSING_AUTHENTICATION_TOKEN: &str = "MissingAuthenticationTokenException";
    /// 400: the request time is outside the allowed skew.
    pub const REQUEST_EXPIRED: &str = "RequestExpired";
    /// 400: unknown operation or target.
    pub const UNKNOWN_OPERATION: &str = "UnknownOperationException";
}
