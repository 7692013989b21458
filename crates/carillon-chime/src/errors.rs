//! How Chime operations fail: the model's error shapes as [`Error`], shared by every
//! operation of the crate.
//!
//! [`Error`] is carillon-core's `OperationError` with Chime's [`StoreFailure`]: `?` on a
//! `StoreError` logs the detail once and answers `ServiceFailureException` (HTTP 500), never
//! the detail; an `ApiError` passes through `?` unchanged. The operation table
//! (`impl_chime_api!`) and the admin-API operations ([`answer`]) turn an [`Error`] back into
//! the `ApiError` the wire layer answers.

use carillon_core::{InternalFailure, OperationError};

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

/// How a Chime store failure is answered: `ServiceFailureException`, the detail logged.
#[derive(Debug)]
pub enum StoreFailure {}

impl InternalFailure for StoreFailure {
    const CODE: &'static str = codes::SERVICE_FAILURE;
    const MESSAGE: &'static str = "The Chime store failed; see the server log";
    const LOG: &'static str = "Chime store failure";
}

/// A failed Chime operation, as it is answered: a model error shape (code and message).
/// It reads as the `ApiError` it holds (`error.code`, `error.message`).
pub type Error = OperationError<StoreFailure>;

/// Result of a Chime operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs `body`, an operation answered outside the crate (an admin-API operation, a function
/// of the client edge), and answers its failure as the `ApiError` it holds: inside `body`,
/// `?` works as in every other function of the crate.
pub(crate) async fn answer<T>(
    body: impl std::future::Future<Output = Result<T>>,
) -> carillon_core::ApiResult<T> {
    carillon_core::answer(body).await
}

/// `BadRequestException`: `message` names the member at fault.
pub(crate) fn bad_request(message: impl Into<String>) -> Error {
    Error::new(codes::BAD_REQUEST, message)
}

/// `NotFoundException`: `message` names the object.
pub(crate) fn not_found(message: impl Into<String>) -> Error {
    Error::new(codes::NOT_FOUND, message)
}

/// `ForbiddenException`.
pub(crate) fn forbidden(message: impl Into<String>) -> Error {
    Error::new(codes::FORBIDDEN, message)
}

/// `ConflictException`.
pub(crate) fn conflict(message: impl Into<String>) -> Error {
    Error::new(codes::CONFLICT, message)
}

/// An error of the model shape `code`, e.g. [`codes::UNPROCESSABLE`].
pub(crate) fn error(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(code, message)
}
