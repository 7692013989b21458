//! How Chime operations fail: the model's error shapes as [`Error`], shared by every
//! operation of the crate.
//!
//! A store failure is the model's `ServiceFailureException` (HTTP 500): `?` on a
//! [`StoreError`] logs the detail once and answers the shape, never the detail. An
//! [`ApiError`] passes through `?` unchanged. The operation table (`impl_chime_api!`) and
//! the admin-API operations turn an [`Error`] back into the [`ApiError`] the wire layer
//! answers.

use std::future::Future;

use carillon_core::{ApiError, ApiResult};
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

/// A failed Chime operation, as it is answered: a model error shape (code and message).
/// It reads as the [`ApiError`] it holds (`error.code`, `error.message`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct Error(ApiError);

/// Result of a Chime operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The [`ApiError`] answered for this failure.
    pub fn into_api_error(self) -> ApiError {
        self.0
    }
}

impl std::ops::Deref for Error {
    type Target = ApiError;

    fn deref(&self) -> &ApiError {
        &self.0
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Error {
        Error(e)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        e.0
    }
}

impl From<StoreError> for Error {
    /// `ServiceFailureException`; the detail goes to the log.
    fn from(e: StoreError) -> Error {
        tracing::error!(error = %e, "Chime store failure");
        Error(ApiError::new(
            codes::SERVICE_FAILURE,
            "The Chime store failed; see the server log",
        ))
    }
}

/// Runs `body`, an operation answered outside the crate (an admin-API operation, a function
/// of the client edge), and answers its failure as the [`ApiError`] it holds: inside `body`,
/// `?` works as in every other function of the crate.
pub(crate) async fn answer<T>(body: impl Future<Output = Result<T>>) -> ApiResult<T> {
    body.await.map_err(ApiError::from)
}

/// `BadRequestException`: `message` names the member at fault.
pub(crate) fn bad_request(message: impl Into<String>) -> Error {
    Error(ApiError::new(codes::BAD_REQUEST, message))
}

/// `NotFoundException`: `message` names the object.
pub(crate) fn not_found(message: impl Into<String>) -> Error {
    Error(ApiError::new(codes::NOT_FOUND, message))
}

/// `ForbiddenException`.
pub(crate) fn forbidden(message: impl Into<String>) -> Error {
    Error(ApiError::new(codes::FORBIDDEN, message))
}

/// `ConflictException`.
pub(crate) fn conflict(message: impl Into<String>) -> Error {
    Error(ApiError::new(codes::CONFLICT, message))
}

/// An error of the model shape `code`, e.g. [`codes::UNPROCESSABLE`].
pub(crate) fn error(code: &'static str, message: impl Into<String>) -> Error {
    Error(ApiError::new(code, message))
}
