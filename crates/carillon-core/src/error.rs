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

/// What a service answers when its store fails: the model's internal-failure shape, a fixed
/// message (the detail goes to the log only) and the log line's subject. Each service names
/// one implementation; [`OperationError`] uses it.
pub trait InternalFailure {
    /// The model's error shape, e.g. Chime `ServiceFailureException`.
    const CODE: &'static str;
    /// The message answered to the caller.
    const MESSAGE: &'static str;
    /// What the log line says failed, e.g. `Chime store failure`.
    const LOG: &'static str;
}

/// A failed operation of a service whose store failures are answered as `F` says: a model
/// error shape, readable as the [`ApiError`] it holds (`error.code`, `error.message`).
/// `?` turns an [`ApiError`] into it unchanged, and a store failure (through carillon-store's
/// conversion) into `F`'s answer, logged once; it turns back into the [`ApiError`] the wire
/// layer answers with `ApiError::from`.
pub struct OperationError<F> {
    error: ApiError,
    failure: std::marker::PhantomData<fn() -> F>,
}

impl<F: InternalFailure> OperationError<F> {
    /// An error of the model shape `code`.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ApiError::new(code, message).into()
    }

    /// `F`'s internal-failure answer (the caller has logged the detail).
    pub fn internal_failure() -> Self {
        ApiError::new(F::CODE, F::MESSAGE).into()
    }

    /// The [`ApiError`] answered for this failure.
    pub fn into_api_error(self) -> ApiError {
        self.error
    }
}

impl<F> std::ops::Deref for OperationError<F> {
    type Target = ApiError;

    fn deref(&self) -> &ApiError {
        &self.error
    }
}

impl<F> From<ApiError> for OperationError<F> {
    fn from(error: ApiError) -> Self {
        OperationError {
            error,
            failure: std::marker::PhantomData,
        }
    }
}

impl<F> From<OperationError<F>> for ApiError {
    fn from(e: OperationError<F>) -> ApiError {
        e.error
    }
}

impl<F> Clone for OperationError<F> {
    fn clone(&self) -> Self {
        self.error.clone().into()
    }
}

impl<F> PartialEq for OperationError<F> {
    fn eq(&self, other: &Self) -> bool {
        self.error == other.error
    }
}

impl<F> Eq for OperationError<F> {}

impl<F> std::fmt::Debug for OperationError<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl<F> std::fmt::Display for OperationError<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl<F> std::error::Error for OperationError<F> {}

/// Runs `body`, an operation whose caller wants an [`ApiError`] (an admin-API operation, a
/// function of a client edge), and answers its failure as the [`ApiError`] it holds: inside
/// `body`, `?` works on store failures as in the rest of the service.
pub async fn answer<T, F>(
    body: impl std::future::Future<Output = Result<T, OperationError<F>>>,
) -> ApiResult<T> {
    body.await.map_err(ApiError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Failure {}

    impl InternalFailure for Failure {
        const CODE: &'static str = "ServiceFailureException";
        const MESSAGE: &'static str = "The store failed";
        const LOG: &'static str = "store failure";
    }

    #[test]
    fn an_api_error_passes_through_unchanged_and_a_store_failure_gets_the_service_answer() {
        let modelled = ApiError::new("NotFoundException", "Room r-1 not found");
        let wrapped: OperationError<Failure> = modelled.clone().into();
        assert_eq!(
            wrapped.code, "NotFoundException",
            "reads as the ApiError it holds"
        );
        assert_eq!(ApiError::from(wrapped), modelled);
        let failure = OperationError::<Failure>::internal_failure().into_api_error();
        assert_eq!(
            failure,
            ApiError::new("ServiceFailureException", "The store failed")
        );
    }
}
