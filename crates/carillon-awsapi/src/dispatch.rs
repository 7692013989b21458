//! The generic step every generated dispatcher arm runs: deserialize the bound input,
//! validate it against the model, call the operation, serialize the output.

use crate::spec::ServiceSpec;
use crate::validate::{Redact, Validate, Violations};
use carillon_core::error::codes;
use carillon_core::{ApiError, ApiResult};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;

/// Outcome of one dispatched call.
#[derive(Debug)]
pub struct Dispatched {
    /// The deserialized input with sensitive members hidden (`null` when the input could
    /// not be deserialized).
    pub request_parameters: Value,
    /// The serialized output, or the error.
    pub output: Result<Value, ApiError>,
    /// The output with sensitive members hidden, for the audit record.
    pub response_elements: Option<Value>,
}

impl Dispatched {
    /// The answer for an operation name the dispatcher does not know.
    pub fn unknown_operation(operation: &str) -> Self {
        Dispatched {
            request_parameters: Value::Null,
            output: Err(ApiError::new(
                codes::UNKNOWN_OPERATION,
                format!("Unknown operation {operation}"),
            )),
            response_elements: None,
        }
    }

    fn failed(request_parameters: Value, err: ApiError) -> Self {
        Dispatched {
            request_parameters,
            output: Err(err),
            response_elements: None,
        }
    }
}

/// Deserializes `input` as `I` (`SerializationException` naming the member on a type
/// error), validates it (`service.validation_error` naming every violating member), runs
/// `call` and serializes its output.
pub async fn call<I, O, F, Fut>(service: &ServiceSpec, input: Value, call: F) -> Dispatched
where
    I: DeserializeOwned + Serialize + Validate + Redact,
    O: Serialize + Redact,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = ApiResult<O>>,
{
    let typed: I = match serde_path_to_error::deserialize(&input) {
        Ok(typed) => typed,
        Err(e) => return Dispatched::failed(Value::Null, serialization_error(&e)),
    };
    let mut request_parameters = serde_json::to_value(&typed).unwrap_or(Value::Null);
    keep_sent(&mut request_parameters, &input);
    I::redact(&mut request_parameters);

    let mut violations = Violations::default();
    typed.validate(&input, "", &mut violations);
    if let Some(err) = violations.into_error(service.validation_error) {
        return Dispatched::failed(request_parameters, err);
    }

    let output = match call(typed).await {
        Ok(output) => output,
        Err(err) => return Dispatched::failed(request_parameters, err),
    };
    match serde_json::to_value(&output) {
        Ok(value) => {
            let mut response_elements = value.clone();
            O::redact(&mut response_elements);
            Dispatched {
                request_parameters,
                output: Ok(value),
                response_elements: Some(response_elements),
            }
        }
        Err(_) => Dispatched::failed(
            request_parameters,
            ApiError::internal("the operation output could not be serialized"),
        ),
    }
}

/// Drops from `typed` (the serialized input) every member the caller did not send: a
/// missing required member deserializes to its default, which the audit record must not
/// show as if it had been sent.
fn keep_sent(typed: &mut Value, sent: &Value) {
    match (typed, sent) {
        (Value::Object(members), Value::Object(sent_members)) => {
            members.retain(|name, _| sent_members.get(name).is_some_and(|v| !v.is_null()));
            for (name, value) in members.iter_mut() {
                keep_sent(value, &sent_members[name]);
            }
        }
        (Value::Array(items), Value::Array(sent_items)) => {
            for (item, sent_item) in items.iter_mut().zip(sent_items) {
                keep_sent(item, sent_item);
            }
        }
        _ => {}
    }
}

/// `SerializationException` for a deserialization failure, naming the member path.
fn serialization_error(e: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.inner().to_string();
    let message = if path == "." || path.is_empty() {
        format!("Cannot deserialize the request: {inner}")
    } else {
        format!("Cannot deserialize member '{path}': {inner}")
    };
    ApiError::new(codes::SERIALIZATION, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keep_sent_drops_defaults_of_missing_members() {
        let mut typed = json!({"Name": "", "Tags": [{"Key": "", "Value": "v"}], "Id": "x"});
        let sent = json!({"Tags": [{"Value": "v"}], "Id": "x", "Name": null});
        keep_sent(&mut typed, &sent);
        assert_eq!(typed, json!({"Tags": [{"Value": "v"}], "Id": "x"}));
    }
}
