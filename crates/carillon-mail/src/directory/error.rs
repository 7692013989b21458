//! How WorkMail directory operations fail: [`Error`], the model error shape an operation is
//! answered with.
//!
//! [`Error`] is carillon-core's `OperationError` with the directory's [`StoreFailure`]: `?`
//! on a `StoreError` logs the detail once and answers `InternalFailure` (HTTP 500), never the
//! detail; an `ApiError` passes through `?` unchanged. The operation table
//! (`impl_workmail_api!`) and the admin-API operations ([`answer`]) turn an [`Error`] back
//! into the `ApiError` the wire layer answers.

use carillon_core::{ApiError, InternalFailure, OperationError};

/// How a directory store failure is answered: `InternalFailure`, the detail logged.
#[derive(Debug)]
pub enum StoreFailure {}

impl InternalFailure for StoreFailure {
    const CODE: &'static str = carillon_core::error::codes::INTERNAL_FAILURE;
    const MESSAGE: &'static str = "The directory store failed; see the server log";
    const LOG: &'static str = "WorkMail directory store failure";
}

/// A failed WorkMail directory operation, as it is answered: a model error shape (code and
/// message). It reads as the `ApiError` it holds (`error.code`, `error.message`).
pub type Error = OperationError<StoreFailure>;

/// Result of a WorkMail directory operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs `body`, an admin-API operation (whose trait answers `ApiError`), and answers its
/// failure as the `ApiError` it holds: inside `body`, `?` works as in every other function of
/// the directory.
pub(super) async fn answer<T>(
    body: impl std::future::Future<Output = Result<T>>,
) -> carillon_core::ApiResult<T> {
    carillon_core::answer(body).await
}

/// An error of the model shape `code` (one of [`super::common::codes`]).
pub fn err(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(code, message)
}

/// A DKIM key that could not be generated or stored, as an internal error; the detail (which
/// names no key material) goes to the log.
pub fn dkim_failure(e: crate::dkim::DkimError) -> Error {
    tracing::error!(error = %e, "DKIM key creation failed");
    ApiError::internal("The DKIM keys could not be created; see the server log").into()
}
