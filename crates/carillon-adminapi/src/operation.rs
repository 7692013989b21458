//! How an operation is declared ([`CarillonOperation`] + [`OperationSpec`]) and the
//! [`Registry`] the binary fills with the operations of every service crate.

use std::collections::BTreeMap;
use std::sync::Arc;

use carillon_core::error::codes;
use carillon_core::{ApiError, ApiResult, RequestContext};
use http::Method;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::route::PathTemplate;

/// An error an operation may answer, for the status mapping and the OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorSpec {
    /// Error code (`x-amzn-ErrorType`, body `Code`), e.g. `OrganizationNotFoundException`.
    pub code: &'static str,
    /// HTTP status.
    pub status: u16,
    /// When it is answered.
    pub doc: &'static str,
}

/// The declaration of one operation; with the input and output types of its
/// [`CarillonOperation`] it drives routing, binding, validation, authorization and the
/// OpenAPI document.
#[derive(Debug, Clone)]
pub struct OperationSpec {
    /// Operation name, e.g. `PutJournalingConfiguration` (the audit `eventName` and the
    /// OpenAPI `operationId`).
    pub name: &'static str,
    /// HTTP method.
    pub method: Method,
    /// Path template under `/carillon/v1/`, e.g.
    /// `/carillon/v1/organizations/{OrganizationId}/journaling-configuration`. Each label
    /// binds the input member of the same name, which must be a required string.
    pub path: &'static str,
    /// IAM action evaluated for the call, `<prefix>:<Operation>`: `carillon:…` for
    /// Carillon's own features, the original service's prefix (`workmail:…`) for features
    /// that service offered only in its console, so its managed policies cover them.
    pub action: &'static str,
    /// IAM resource: `*`, or an ARN template whose `{region}`, `{account}` and `{Label}`
    /// placeholders are filled from the server region, the caller's account and the path
    /// labels, e.g. `arn:aws:workmail:{region}:{account}:organization/{OrganizationId}`.
    pub resource: &'static str,
    /// One-line summary (OpenAPI `summary`).
    pub summary: &'static str,
    /// Longer description: behaviour, spec section (OpenAPI `description`).
    pub docs: &'static str,
    /// The operation's own errors (the engine adds the common ones: validation,
    /// authentication, authorization, internal failure).
    pub errors: &'static [ErrorSpec],
}

/// One operation of Carillon's admin API, implemented by a service crate.
///
/// `Input` is bound from the path labels and the JSON body (members in `PascalCase`, as the
/// AWS APIs spell them; declare `#[serde(deny_unknown_fields)]` so unknown members are
/// refused) and validated against its JSON Schema (use `#[schemars(length(..), email,
/// pattern(..), range(..))]` for constraints) before `call` runs.
#[async_trait::async_trait]
pub trait CarillonOperation: Send + Sync + 'static {
    /// The request members (path labels and body).
    type Input: DeserializeOwned + JsonSchema + Send + 'static;
    /// The response body.
    type Output: Serialize + JsonSchema + Send + 'static;

    /// The declaration.
    fn spec(&self) -> OperationSpec;

    /// Performs the operation for the authenticated, authorized caller `ctx`.
    async fn call(&self, ctx: &RequestContext, input: Self::Input) -> ApiResult<Self::Output>;
}

/// A registered operation with its types erased.
#[async_trait::async_trait]
pub(crate) trait Handler: Send + Sync {
    /// Deserializes the validated input, calls the operation, serializes its output.
    async fn call(&self, ctx: &RequestContext, input: Value) -> ApiResult<Value>;
}

struct Typed<O>(O);

#[async_trait::async_trait]
impl<O: CarillonOperation> Handler for Typed<O> {
    async fn call(&self, ctx: &RequestContext, input: Value) -> ApiResult<Value> {
        let input: O::Input = serde_path_to_error::deserialize(input).map_err(|e| {
            ApiError::new(
                codes::SERIALIZATION,
                format!("Value at '{}' could not be read: {}", e.path(), e.inner()),
            )
        })?;
        let output = self.0.call(ctx, input).await?;
        serde_json::to_value(output).map_err(|e| {
            tracing::error!(error = %e, "operation output not serializable");
            ApiError::internal("The response could not be serialized.")
        })
    }
}

/// Schema of `T` through `generator` (a `$ref` into its definitions for named types).
fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// Self-contained schema of `T` (subschemas inlined), what inputs are validated against.
fn inline_schema_of<T: JsonSchema>() -> Value {
    schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// A registered operation.
pub(crate) struct Entry {
    pub spec: OperationSpec,
    pub template: PathTemplate,
    /// The input's self-contained JSON Schema (draft 2020-12).
    pub input_schema: Value,
    pub input_schema_fn: fn(&mut SchemaGenerator) -> Schema,
    pub output_schema_fn: fn(&mut SchemaGenerator) -> Schema,
    pub handler: Arc<dyn Handler>,
}

/// The operations the engine serves, in registration order. The binary fills it with the
/// operations of each service crate, then hands it to [`crate::Engine::new`].
#[derive(Default)]
pub struct Registry {
    pub(crate) entries: Vec<Entry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds `operation`.
    ///
    /// # Panics
    ///
    /// On a declaration error, which is a programming error caught by any test that builds
    /// the registry: a name already registered; a path not under `/carillon/v1/` or
    /// malformed; the same method on a path another operation's template also matches; a
    /// path label that is not a required string member of the input; a resource template
    /// placeholder that is not `{region}`, `{account}` or a path label; an action without a
    /// `prefix:` naming the operation.
    pub fn register<O: CarillonOperation>(&mut self, operation: O) -> &mut Self {
        let spec = operation.spec();
        let template = PathTemplate::parse(spec.path).unwrap_or_else(|e| panic!("{e}"));
        let input_schema = inline_schema_of::<O::Input>();
        if let Err(e) = check_declaration(&spec, &template, &input_schema, &self.entries) {
            panic!("operation {}: {e}", spec.name);
        }
        self.entries.push(Entry {
            spec,
            template,
            input_schema,
            input_schema_fn: schema_of::<O::Input>,
            output_schema_fn: schema_of::<O::Output>,
            handler: Arc::new(Typed(operation)),
        });
        self
    }

    /// Names of the registered operations, in registration order.
    pub fn operation_names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.spec.name).collect()
    }

    /// The operation for `method` and `path` (percent-encoded) with its bound labels.
    pub(crate) fn resolve(
        &self,
        method: &Method,
        path: &str,
    ) -> Option<(&Entry, BTreeMap<String, String>)> {
        self.entries
            .iter()
            .filter(|e| e.spec.method == method)
            .find_map(|e| e.template.matches(path).map(|labels| (e, labels)))
    }
}

fn check_declaration(
    spec: &OperationSpec,
    template: &PathTemplate,
    input_schema: &Value,
    existing: &[Entry],
) -> Result<(), String> {
    if existing.iter().any(|e| e.spec.name == spec.name) {
        return Err("registered twice".to_string());
    }
    if !spec.path.starts_with(crate::PATH_PREFIX) || spec.path == crate::OPENAPI_PATH {
        return Err(format!(
            "path {} must be under {}",
            spec.path,
            crate::PATH_PREFIX
        ));
    }
    if let Some(other) = existing
        .iter()
        .find(|e| e.spec.method == spec.method && e.template.overlaps(template))
    {
        return Err(format!(
            "{} {} is ambiguous with {}",
            spec.method, spec.path, other.spec.name
        ));
    }
    let required: Vec<&str> = input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for label in template.labels() {
        let member_type = input_schema
            .pointer(&format!("/properties/{label}/type"))
            .and_then(Value::as_str);
        if member_type != Some("string") || !required.contains(&label) {
            return Err(format!(
                "path label {label} must be a required string member of the input"
            ));
        }
    }
    let labels: Vec<&str> = template.labels().collect();
    for placeholder in placeholders(spec.resource) {
        if placeholder != "region" && placeholder != "account" && !labels.contains(&placeholder) {
            return Err(format!(
                "resource placeholder {{{placeholder}}} is not region, account or a path label"
            ));
        }
    }
    match spec.action.split_once(':') {
        Some((prefix, op)) if !prefix.is_empty() && op == spec.name => Ok(()),
        _ => Err(format!(
            "action {} must be <prefix>:{}",
            spec.action, spec.name
        )),
    }
}

/// The `{name}` placeholders of a resource template.
pub(crate) fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

/// The resource ARN of a call: the template with its placeholders filled.
pub(crate) fn fill_resource(
    template: &str,
    region: &str,
    account: &str,
    labels: &BTreeMap<String, String>,
) -> String {
    let mut resource = template.to_string();
    for name in placeholders(template) {
        let value = match name {
            "region" => region,
            "account" => account,
            label => labels.get(label).map(String::as_str).unwrap_or_default(),
        };
        resource = resource.replace(&format!("{{{name}}}"), value);
    }
    resource
}
