//! The OpenAPI 3.0 document of the registered operations, generated from their declarations
//! and the JSON Schemas `schemars` derives for their input and output types.
//!
//! Per operation: `operationId` (the name), `summary`, `description`, the IAM action
//! (`x-carillon-iam-action`) and resource (`x-carillon-iam-resource`), the path labels as
//! path parameters, the request body (the input without its path labels) for methods with a
//! body, the 200 response (the output), and every error status with its codes. The security
//! scheme is SigV4 with service name `carillon`.

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use crate::engine::SIGNING_NAME;
use crate::operation::{ErrorSpec, Registry};

/// OpenAPI version of the document.
pub const OPENAPI_VERSION: &str = "3.0.3";

/// Errors every operation may answer, besides its own.
const COMMON_ERRORS: &[ErrorSpec] = &[
    ErrorSpec {
        code: "ValidationException",
        status: 400,
        doc: "A member violates its constraint; the message names each member.",
    },
    ErrorSpec {
        code: "SerializationException",
        status: 400,
        doc: "The body is not a JSON object, or a member has the wrong JSON type.",
    },
    ErrorSpec {
        code: "MissingAuthenticationTokenException",
        status: 403,
        doc: "The request is not signed with SigV4.",
    },
    ErrorSpec {
        code: "InvalidSignatureException",
        status: 403,
        doc: "The signature does not match, is too old, or is not scoped to service `carillon`.",
    },
    ErrorSpec {
        code: "UnrecognizedClientException",
        status: 403,
        doc: "The access key is unknown or inactive.",
    },
    ErrorSpec {
        code: "AccessDeniedException",
        status: 403,
        doc: "The caller's policies do not allow the operation's IAM action on its resource.",
    },
    ErrorSpec {
        code: "InternalFailure",
        status: 500,
        doc: "The server failed; retry.",
    },
];

/// The document for `registry`.
pub fn document(registry: &Registry) -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut bodies = Map::new();
    let mut operations = Vec::new();
    for entry in &registry.entries {
        let input = (entry.input_schema_fn)(&mut generator).to_value();
        let output = (entry.output_schema_fn)(&mut generator).to_value();
        operations.push((entry, input, output));
    }
    let mut schemas = generator.take_definitions(true);
    for (entry, input, output) in operations {
        let spec = &entry.spec;
        let labels: Vec<&str> = entry.template.labels().collect();
        let parameters: Vec<Value> = labels
            .iter()
            .map(|label| {
                let schema = resolve(&input, &schemas)
                    .and_then(|s| s.pointer(&format!("/properties/{label}")).cloned())
                    .unwrap_or_else(|| json!({"type": "string"}));
                json!({"name": label, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        let mut operation = json!({
            "operationId": spec.name,
            "summary": spec.summary,
            "description": spec.docs,
            "x-carillon-iam-action": spec.action,
            "x-carillon-iam-resource": spec.resource,
            "parameters": parameters,
            "responses": responses(spec.errors, output),
        });
        if !matches!(spec.method.as_str(), "GET" | "DELETE" | "HEAD") {
            let body_name = format!("{}RequestBody", spec.name);
            let mut body = resolve(&input, &schemas).cloned().unwrap_or(input.clone());
            strip_labels(&mut body, &labels);
            bodies.insert(body_name.clone(), body);
            operation["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body_name}")}}}
            });
        }
        paths
            .entry(spec.path.to_string())
            .or_default()
            .insert(spec.method.as_str().to_lowercase(), operation);
    }
    schemas.extend(bodies);
    schemas.insert(
        "Error".to_string(),
        json!({
            "type": "object",
            "required": ["Code", "Message"],
            "properties": {
                "Code": {"type": "string", "description": "Error code, also in the x-amzn-ErrorType header."},
                "Message": {"type": "string", "description": "What went wrong, naming the member or object."},
                "message": {"type": "string", "description": "The same message, for SDKs that read this spelling."}
            }
        }),
    );
    json!({
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Carillon admin API",
            "version": "v1",
            "description": "Carillon's own operations: features the original services offered only in their consoles, and what Carillon adds. JSON over HTTP; every request except this document is signed with AWS Signature Version 4 for service `carillon` (e.g. `curl --aws-sigv4 \"aws:amz:<region>:carillon\"`) and authorized with the caller's IAM policies. Errors carry `x-amzn-ErrorType` and `x-amzn-RequestId`."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": format!("AWS Signature Version 4, credential scope service `{SIGNING_NAME}`."),
                    "x-amazon-apigateway-authtype": "awsSigv4"
                }
            }
        },
        "security": [{"sigv4": []}]
    })
}

/// The schema `schema` refers to (`$ref` into `#/components/schemas/`), or itself.
fn resolve<'a>(schema: &'a Value, schemas: &'a Map<String, Value>) -> Option<&'a Value> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix("#/components/schemas/")
            .and_then(|name| schemas.get(name)),
        None => Some(schema),
    }
}

/// Removes the path-label members from an object schema (they travel in the path).
fn strip_labels(schema: &mut Value, labels: &[&str]) {
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for label in labels {
            properties.remove(*label);
        }
    }
    if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|name| !labels.iter().any(|l| name == l));
    }
}

/// The 200 response and one response per error status, listing its codes.
fn responses(own: &[ErrorSpec], output: Value) -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".to_string(),
        json!({"description": "Success.", "content": {"application/json": {"schema": output}}}),
    );
    let mut by_status: BTreeMap<u16, Vec<&ErrorSpec>> = BTreeMap::new();
    for error in own.iter().chain(COMMON_ERRORS) {
        by_status.entry(error.status).or_default().push(error);
    }
    for (status, errors) in by_status {
        let description: Vec<String> = errors
            .iter()
            .map(|e| format!("`{}`: {}", e.code, e.doc))
            .collect();
        responses.insert(
            status.to_string(),
            json!({
                "description": description.join(" "),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            }),
        );
    }
    Value::Object(responses)
}
