//! The tenant model and the context every operation receives.
//!
//! An *account* (12-digit ID) is the tenant: every resource belongs to exactly one account,
//! and no operation may read or change another account's resources.

/// Who is calling and on whose behalf; built by the protocol edge after SigV4 verification and
/// policy evaluation, handed to every admin operation.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The tenant: 12-digit account ID that owns every resource the call touches.
    pub account_id: String,
    /// ARN of the calling principal, e.g. `arn:aws:iam::123456789012:user/admin`.
    pub principal_arn: String,
    /// Access key ID used to sign the request.
    pub access_key_id: String,
    /// Region of the server (ARNs are built with it).
    pub region: String,
    /// Request ID echoed in `x-amzn-RequestId` and the audit record.
    pub request_id: String,
    /// Caller's IP address as seen by the listener.
    pub source_ip: String,
}
