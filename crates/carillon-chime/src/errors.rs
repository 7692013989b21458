//! The Chime model's error shapes as [`ApiError`]s, shared by every operation of the crate.
//!
//! A store failure is the model's `ServiceFailureException` (HTTP 500): the detail goes to
//! the log, never to the caller.

use carillon_core::ApiError;
use carillon_store::StoreError;

/// Error shape names of the Chime model.
pub(crate) mod codes {
    pub const BAD_REQUEST: &str = "BadRequestException";
    pub const NOT_FOUND: &str = "NotFoundException";
    pub const CONFLICT: &str = "ConflictException";
    pub const FORBIDDEN: &str = "ForbiddenException";
    pub const UNPROCESSABLE: &str = "UnprocessableEntityException";
    pub const RESOURCE_LIMIT: &str = "ResourceLimitExceededException";
    pub const SERVICE_FAILURE: &str = "ServiceFailureException";
}

/// `BadRequestException`: `message` names the member at fault.
pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(codes::BAD_REQUEST, message)
}

/// `NotFoundException`: `message` names the object.
pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(codes::NOT_FOUND, message)
}

/// `ForbiddenException`.
pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(codes::FORBIDDEN, message)
}

/// `ConflictException`.
pub(crate) fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(codes::CONFLICT, message)
}

/// A store failure as `ServiceFailureException`; the detail goes to the log.
pub(crate) fn internal(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "Chime store failure");
    ApiError::new(
        codes::SERVICE_FAILURE,
        "The Chime store failed; see the server log",
    )
}
