//! Test helpers: synthesizing valid requests for any operation straight from the models.

#![allow(dead_code)] // each test binary uses a different subset

use bytes::Bytes;
use carillon_awsapi::spec::Protocol;
use carillon_awsapi::ServiceId;
use carillon_core::RequestContext;
use fancy_regex::Regex;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

/// Characters left unescaped in a path label (RFC 3986 unreserved).
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Model file of a service.
pub fn model(service: ServiceId) -> Value {
    let file = match service {
        ServiceId::WorkMail => "workmail-2017-10-01.json",
        ServiceId::Chime => "chime-2018-05-01.json",
        ServiceId::Wickr => "wickr-2024-02-01.json",
        ServiceId::WorkMailMessageFlow => "workmailmessageflow-2019-05-01.json",
    };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/").to_string() + file;
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A request context as the protocol edge would build it.
pub fn ctx() -> RequestContext {
    RequestContext {
        account_id: "123456789012".into(),
        principal_arn: "arn:aws:iam::123456789012:user/admin".into(),
        access_key_id: "AKIAEXAMPLEEXAMPLE00".into(),
        region: "us-east-1".into(),
        request_id: "req-1".into(),
        source_ip: "127.0.0.1".into(),
    }
}

/// Values tried, in order, for a string shape with a pattern.
const CANDIDATES: &[&str] = &[
    "abc",
    "m-0123456789abcdef0123456789abcdef",
    "12345678",
    "example.com",
    "alice@example.com",
    "a1b2c3d4-0000-4000-8000-000000000000",
    "+12065550100",
    "10.0.0.1",
    "arn:aws:iam:us-east-1:123456789012:role/example",
    "arn:aws:kms:us-east-1:123456789012:key/example",
    "arn:aws:workmail:us-east-1:123456789012:organization/m-0123456789abcdef0123456789abcdef",
    "arn:aws:logs:us-east-1:123456789012:log-group:example:*",
    "arn:aws:sso:::instance/ssoins-0123456789abcdef",
    "arn:aws:sso::123456789012:application/ssoins-0123456789abcdef/apl-0123456789abcdef",
];

fn string_value(name: &str, shape: &Value) -> String {
    if let Some(values) = shape["enum"].as_array() {
        return values[0].as_str().unwrap().to_string();
    }
    let min = shape["min"].as_u64().unwrap_or(0) as usize;
    let max = shape["max"].as_u64().unwrap_or(u64::MAX) as usize;
    let pattern = shape["pattern"].as_str().map(|p| Regex::new(p).unwrap());
    let fits = |c: &str| {
        let n = c.chars().count();
        n >= min && n <= max && pattern.as_ref().is_none_or(|re| re.is_match(c).unwrap())
    };
    if pattern.is_none() {
        return "a".repeat(min.max(3).min(max));
    }
    CANDIDATES
        .iter()
        .find(|c| fits(c))
        .unwrap_or_else(|| panic!("no candidate value fits string shape {name}"))
        .to_string()
}

/// A minimal valid JSON value of shape `name` (required members only).
pub fn synth(model: &Value, name: &str) -> Value {
    let shape = &model["shapes"][name];
    match shape["type"].as_str().unwrap() {
        "structure" => {
            let mut map = Map::new();
            for required in shape["required"].as_array().into_iter().flatten() {
                let member = required.as_str().unwrap();
                let target = shape["members"][member]["shape"].as_str().unwrap();
                map.insert(member.to_string(), synth(model, target));
            }
            Value::Object(map)
        }
        "list" => {
            let element = synth(model, shape["member"]["shape"].as_str().unwrap());
            let n = shape["min"].as_u64().unwrap_or(1).max(1) as usize;
            Value::Array(vec![element; n])
        }
        "string" => Value::String(string_value(name, shape)),
        "integer" | "long" => json!(shape["min"].as_i64().unwrap_or(1).max(1)),
        "double" | "float" => json!(shape["min"].as_f64().unwrap_or(1.0)),
        "boolean" => json!(true),
        "timestamp" => json!(1_700_000_000),
        "blob" => json!("aGVsbG8="),
        other => panic!("unsupported type {other}"),
    }
}

/// Text of a bound member value.
fn text(model: &Value, target: &str, value: &Value) -> String {
    let shape = &model["shapes"][target];
    match (shape["type"].as_str().unwrap(), value) {
        ("timestamp", _) if shape["timestampFormat"] == "unixTimestamp" => "1700000000".into(),
        ("timestamp", _) => "2023-11-14T22:13:20Z".into(),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// A request for `operation` whose input is `input` (a JSON object of the input shape),
/// laid out the way an AWS SDK sends it.
pub fn request(
    service: ServiceId,
    model: &Value,
    operation: &str,
    input: &Value,
) -> (http::request::Parts, Bytes) {
    let op = &model["operations"][operation];
    match service.spec().protocol {
        Protocol::AwsJson11 => {
            let target = format!("{}.{operation}", service.spec().target_prefix);
            let (parts, ()) = http::Request::post("/")
                .header("x-amz-target", target)
                .header("content-type", "application/x-amz-json-1.1")
                .body(())
                .unwrap()
                .into_parts();
            (parts, Bytes::from(input.to_string()))
        }
        Protocol::RestJson1 => {
            let template = op["http"]["requestUri"].as_str().unwrap();
            let (path_template, literal_query) = template.split_once('?').unwrap_or((template, ""));
            let mut path = path_template.to_string();
            let mut query: Vec<String> = literal_query
                .split('&')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let mut headers = Vec::new();
            let mut body = Map::new();
            let mut payload = None;
            let input_shape = op["input"]["shape"].as_str();
            let shape = input_shape.map(|s| &model["shapes"][s]);
            let payload_member = shape.and_then(|s| s["payload"].as_str());
            for (member, value) in input.as_object().unwrap() {
                let binding = &shape.unwrap()["members"][member];
                let target = binding["shape"].as_str().unwrap();
                let location_name = binding["locationName"].as_str().unwrap_or(member);
                match binding["location"].as_str() {
                    Some("uri") => {
                        let encoded =
                            utf8_percent_encode(&text(model, target, value), LABEL).to_string();
                        path = path
                            .replace(&format!("{{{location_name}+}}"), &encoded)
                            .replace(&format!("{{{location_name}}}"), &encoded);
                    }
                    Some("querystring") => {
                        let values = match value {
                            Value::Array(items) => items.clone(),
                            other => vec![other.clone()],
                        };
                        for v in values {
                            query.push(format!(
                                "{location_name}={}",
                                utf8_percent_encode(&text(model, target, &v), LABEL)
                            ));
                        }
                    }
                    Some("header") => {
                        headers.push((location_name.to_string(), text(model, target, value)))
                    }
                    _ if Some(member.as_str()) == payload_member => payload = Some(value.clone()),
                    _ => {
                        body.insert(member.clone(), value.clone());
                    }
                }
            }
            let uri = if query.is_empty() {
                path
            } else {
                format!("{path}?{}", query.join("&"))
            };
            let mut builder = http::Request::builder()
                .method(op["http"]["method"].as_str().unwrap())
                .uri(uri);
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            let (parts, ()) = builder.body(()).unwrap().into_parts();
            let bytes = match payload {
                Some(Value::String(s)) => Bytes::from(s),
                Some(value) => Bytes::from(value.to_string()),
                None if body.is_empty() => Bytes::new(),
                None => Bytes::from(Value::Object(body).to_string()),
            };
            (parts, bytes)
        }
    }
}

/// The JSON body of a response.
pub fn body_json(response: &http::Response<Bytes>) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}
