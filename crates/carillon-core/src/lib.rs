//! Shared domain vocabulary of Carillon.
//!
//! Owns the identifiers and formats every system shares (account IDs, WorkMail organization
//! IDs, UUIDs, ARNs), UTC time helpers, the API error value that operations return, opaque
//! tamper-checked pagination tokens and the paging steps around them, the mail vocabulary
//! several crates share, and the request context (tenant, principal, request ID) that every
//! operation receives. It performs no I/O and knows no protocol or storage detail.
//!
//! Modules: `arn` (ARNs in the originals' shapes, with the configured region), `error`
//! ([`ApiError`]: the model's error code and a human message), `ids` (12-digit accounts,
//! `m-` + 32 hex organizations, UUIDs, access key IDs), `mail` (address domains, message
//! flags, the queue lifetime), `pagination` (opaque, tamper-checked `NextToken`s, MaxResults
//! bounds and cutting a page), `tenant` ([`RequestContext`]: tenant, principal, request ID,
//! source IP), `time` (UTC epoch milliseconds and the models' timestamp formats).

pub mod arn;
pub mod error;
pub mod ids;
pub mod mail;
pub mod pagination;
pub mod tenant;
pub mod time;

pub use error::{answer, ApiError, ApiResult, InternalFailure, OperationError};
pub use tenant::RequestContext;
