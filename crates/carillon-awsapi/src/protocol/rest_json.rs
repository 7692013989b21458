//! restJson1 binding: input members from URI labels, query parameters (lists as repeated
//! keys), headers, the JSON body or a payload member; output members to headers, the status
//! code, a payload (raw bytes for blobs) or the JSON body.

use super::uri::query_pairs;
use super::Operation;
use crate::error::REST_JSON_CONTENT_TYPE;
use crate::spec::{Kind, Location, MemberBinding, OperationSpec, Scalar, TimestampFormat};
use crate::types::{from_epoch_seconds, from_rfc3339};
use base64::Engine as _;
use bytes::Bytes;
use carillon_core::error::codes;
use carillon_core::ApiError;
use chrono::{DateTime, Utc};
use http::{header, HeaderName, HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

fn serialization(message: String) -> ApiError {
    ApiError::new(codes::SERIALIZATION, message)
}

fn parse_object(body: &[u8], what: &str) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(serialization(format!("{what} must be a JSON object"))),
        Err(e) => Err(serialization(format!("{what} is not valid JSON: {e}"))),
    }
}

/// The input of `op` as JSON, gathered from every HTTP location its model binds.
pub(super) fn bind_input(
    op: &Operation,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Value, ApiError> {
    let bindings = op.spec.input_bindings;
    let has_body = !body.iter().all(u8::is_ascii_whitespace);
    let mut input = match bindings.payload {
        Some(payload) => {
            let mut map = Map::new();
            if payload.blob {
                let encoded = base64::engine::general_purpose::STANDARD.encode(body);
                map.insert(payload.member.to_string(), Value::String(encoded));
            } else if has_body {
                let member = parse_object(body, "The request payload")?;
                map.insert(payload.member.to_string(), Value::Object(member));
            }
            map
        }
        None if has_body => parse_object(body, "The request body")?,
        None => Map::new(),
    };
    // Bound members are read from their HTTP location only, never from the body.
    for binding in bindings.members {
        input.remove(binding.member);
    }

    let query = query_pairs(parts.uri.query().unwrap_or(""));
    for binding in bindings.members {
        let texts: Vec<String> = match binding.location {
            Location::Uri => op
                .labels
                .iter()
                .filter(|(name, _)| name == binding.location_name)
                .map(|(_, value)| value.clone())
                .collect(),
            Location::Querystring => query
                .iter()
                .filter(|(k, _)| k == binding.location_name)
                .map(|(_, v)| v.clone())
                .collect(),
            Location::Header => header_texts(parts, binding),
            Location::StatusCode => Vec::new(),
        };
        if texts.is_empty() {
            continue;
        }
        let value = convert(binding, &texts)?;
        input.insert(binding.member.to_string(), value);
    }
    Ok(Value::Object(input))
}

/// Header values for a binding; a list header's values are comma separated.
fn header_texts(parts: &http::request::Parts, binding: &MemberBinding) -> Vec<String> {
    let values = parts
        .headers
        .get_all(binding.location_name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string());
    if matches!(binding.kind, Kind::List(_)) {
        values
            .flat_map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        values.collect()
    }
}

/// Converts the text(s) of a bound member into the JSON its shape deserializes from.
fn convert(binding: &MemberBinding, texts: &[String]) -> Result<Value, ApiError> {
    let fail = |text: &str, expected: &str| {
        serialization(format!(
            "Cannot bind {} '{}' to member '{}': '{}' is not {expected}",
            location_word(binding.location),
            binding.location_name,
            binding.member,
            text
        ))
    };
    let scalar = |kind: Scalar, text: &str| -> Result<Value, ApiError> {
        match kind {
            Scalar::String => Ok(Value::String(text.to_string())),
            Scalar::Integer => text
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| fail(text, "an integer")),
            Scalar::Double => text
                .parse::<f64>()
                .ok()
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                .ok_or_else(|| fail(text, "a number")),
            Scalar::Boolean => match text {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(fail(text, "a boolean")),
            },
        }
    };
    let first = texts[0].as_str();
    match binding.kind {
        Kind::String => scalar(Scalar::String, first),
        Kind::Integer => scalar(Scalar::Integer, first),
        Kind::Double => scalar(Scalar::Double, first),
        Kind::Boolean => scalar(Scalar::Boolean, first),
        Kind::Timestamp(format) => parse_timestamp(first, format, binding.location)
            .map(|t| Value::from(t.timestamp_millis() as f64 / 1000.0))
            .ok_or_else(|| fail(first, "a timestamp")),
        Kind::List(kind) => texts
            .iter()
            .map(|t| scalar(kind, t))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
    }
}

fn location_word(location: Location) -> &'static str {
    match location {
        Location::Uri => "path label",
        Location::Querystring => "query parameter",
        Location::Header => "header",
        Location::StatusCode => "status code",
    }
}

/// Parses a bound timestamp: the model's format, else the location's default (HTTP date
/// in headers, ISO 8601 in the URI and query).
fn parse_timestamp(
    text: &str,
    format: TimestampFormat,
    location: Location,
) -> Option<DateTime<Utc>> {
    let format = match (format, location) {
        (TimestampFormat::Default, Location::Header) => TimestampFormat::HttpDate,
        (TimestampFormat::Default, _) => TimestampFormat::Iso8601,
        (explicit, _) => explicit,
    };
    match format {
        TimestampFormat::EpochSeconds => from_epoch_seconds(text.parse().ok()?),
        TimestampFormat::HttpDate => DateTime::parse_from_rfc2822(text)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        TimestampFormat::Iso8601 | TimestampFormat::Default => from_rfc3339(text),
    }
}

/// The success response of `spec` for its serialized output.
pub(super) fn output_response(
    spec: &OperationSpec,
    output: Value,
) -> Result<Response<Bytes>, ApiError> {
    let mut body = match output {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut status = spec.response_code;
    let mut headers = Vec::new();
    for binding in spec.output_bindings.members {
        let Some(value) = body.remove(binding.member).filter(|v| !v.is_null()) else {
            continue;
        };
        match binding.location {
            Location::Header => {
                headers.push((binding.location_name, header_text(&value, binding.kind)))
            }
            Location::StatusCode => {
                status = value
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(status)
            }
            Location::Uri | Location::Querystring => {}
        }
    }

    let (content_type, bytes) = match spec.output_bindings.payload {
        Some(payload) => match body.remove(payload.member) {
            Some(Value::String(encoded)) if payload.blob => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(encoded.as_bytes())
                    .map_err(|_| ApiError::internal("the payload could not be encoded"))?;
                (Some("application/octet-stream"), Bytes::from(raw))
            }
            Some(value) if !value.is_null() && !payload.blob => {
                (Some(REST_JSON_CONTENT_TYPE), Bytes::from(value.to_string()))
            }
            _ => (None, Bytes::new()),
        },
        // A 204 answer has no body.
        None if status == 204 => (None, Bytes::new()),
        None => (
            Some(REST_JSON_CONTENT_TYPE),
            Bytes::from(Value::Object(body).to_string()),
        ),
    };

    let mut response = Response::new(bytes);
    *response.status_mut() = StatusCode::from_u16(status)
        .map_err(|_| ApiError::internal("the operation answered an invalid status code"))?;
    let map = response.headers_mut();
    if let Some(content_type) = content_type {
        map.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    for (name, text) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&text),
        ) {
            map.insert(name, value);
        }
    }
    Ok(response)
}

/// Header text of an output member's JSON value: lists comma separated, timestamps in the
/// model's format (HTTP date by default).
fn header_text(value: &Value, kind: Kind) -> String {
    let instant = match value {
        Value::Number(n) => n.as_f64().and_then(from_epoch_seconds),
        Value::String(s) => from_rfc3339(s),
        _ => None,
    };
    match (kind, value, instant) {
        (Kind::Timestamp(format), _, Some(t)) => match format {
            TimestampFormat::Default | TimestampFormat::HttpDate => {
                t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
            }
            TimestampFormat::Iso8601 => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            TimestampFormat::EpochSeconds => value.to_string(),
        },
        (_, Value::String(s), _) => s.clone(),
        (_, Value::Array(items), _) => items
            .iter()
            .map(|item| header_text(item, kind))
            .collect::<Vec<_>>()
            .join(","),
        (_, other, _) => other.to_string(),
    }
}
