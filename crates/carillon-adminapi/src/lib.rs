//! Carillon's own admin API engine: JSON over HTTP under `/carillon/v1/`, authenticated with
//! SigV4 (credential-scope service `carillon`), authorized with the same IAM policies as the
//! AWS-compatible APIs, one audit record per call, and described by an OpenAPI 3 document
//! generated from the code (`GET /carillon/v1/openapi.json`, the only unauthenticated route).
//!
//! Spec: PRODUCT.md "Carillon's own admin API" (features the originals offered only in their
//! consoles, and everything Carillon adds).
//!
//! Each operation is declared once, as a [`CarillonOperation`]: its [`OperationSpec`] (name,
//! HTTP method, path template with `{Label}`s, IAM action and resource, errors, docs) and its
//! input and output Rust types (serde + `schemars::JsonSchema`). From that declaration the
//! engine routes ([`route`]), binds the path labels and the JSON body into one input object,
//! validates it against the input type's JSON Schema ([`validate`]: messages name the
//! member), authorizes, calls, serializes, and writes the OpenAPI document ([`openapi`]).
//!
//! Query-string parameters are not bound (no operation takes any yet); a body member that
//! repeats a path label is refused.
//!
//! The engine knows nothing of mail or chat: service crates implement the operations and the
//! binary fills a [`Registry`] with them. Errors use the restJson1 style of the AWS APIs
//! (`x-amzn-ErrorType`, `x-amzn-RequestId`, body `{"Code", "Message"}`).

mod engine;
mod error;
pub mod openapi;
mod operation;
pub mod route;
pub mod validate;

pub use engine::{is_carillon_path, Engine, OPENAPI_PATH, PATH_PREFIX, SIGNING_NAME};
pub use error::{error_response, status_of};
pub use operation::{CarillonOperation, ErrorSpec, OperationSpec, Registry};
