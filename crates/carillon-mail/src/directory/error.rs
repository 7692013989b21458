//! How WorkMail directory operations fail: [`Error`], the model error shape an operation is
//! answered with.
//!
//! A store failure is `InternalFailure` (HTTP 500): `?` on a [`StoreError`] logs the detail
//! once and answers the shape, never the detail. An [`ApiError`] passes through `?`
//! unchanged. The operation table (`impl_workmail_api!`) and the admin-API operations
//! ([`answer`]) turn an [`Error`] back into the [`ApiError`] the wire layer answers.

use std::future::Future;

use carillon_core::{ApiError, ApiResult};
use carillon_store::StoreError;

/// A failed WorkMail directory operation, as it is answered: a model error shape (code and
/// message). It reads as the [`ApiError`] it holds (`error.code`, `error.message`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct Error(ApiError);

/// Result of a WorkMail directory operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    /// `InternalFailure`; the detail goes to the log, not to the caller.
    fn from(e: StoreError) -> Error {
        tracing::error!(error = %e, "WorkMail directory store failure");
        Error(ApiError::internal(
            "The directory store failed; see the server log",
        ))
    }
}

/// Runs `body`, an admin-API operation (whose trait answers [`ApiError`]), and answers its
/// failure as the [`ApiError`] it holds: inside `body`, `?` works as in every other function
/// of the directory.
pub(super) async fn answer<T>(body: impl Future<Output = Result<T>>) -> ApiResult<T> {
    body.await.map_err(ApiError::from)
}

/// An error of the model shape `code` (one of [`super::common::codes`]).
pub fn err(code: &'static str, message: impl Into<String>) -> Error {
    Error(ApiError::new(code, message))
}

/// A DKIM key that could not be generated or stored, as an internal error; the detail (which
/// names no key material) goes to the log.
pub fn dkim_failure(e: crate::dkim::DkimError) -> Error {
    tracing::error!(error = %e, "DKIM key creation failed");
    Error(ApiError::internal(
        "The DKIM keys could not be created; see the server log",
    ))
}
