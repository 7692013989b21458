//! Carillon's S3 endpoint, a crate of its own so the binary only wires it: it owns the S3 wire
//! subset (path-style addressing, the five operations, S3's headers and XML errors) and its
//! authorization (SigV4 verification, `s3:` actions on bucket and object ARNs, tenant ownership
//! of buckets, one audit record per call). It writes no SQL: bucket ownership goes through
//! carillon-store's typed functions, and objects are sealed and opened by carillon-mail's
//! `messageflow` bucket-object functions, the one place that format is defined. It knows no
//! mail or chat beyond those two calls.
//!
//! A minimal S3 endpoint on the admin HTTP port, so the guide's PutRawMessageContent example
//! (`s3.put_object` then `workmailmessageflow.put_raw_message_content`, workmail.md §2.10)
//! runs against Carillon with boto3 unchanged but for the endpoint URL.
//!
//! Requests whose SigV4 credential scope names service `s3` come here. Path-style addressing
//! only (`/<bucket>` and `/<bucket>/<key>`; boto3: `Config(s3={"addressing_style": "path"})`).
//! Operations: CreateBucket (`PUT /<bucket>`), PutObject (`PUT`), GetObject (`GET`),
//! HeadObject (`HEAD`) and DeleteObject (`DELETE`) on `/<bucket>/<key>`; anything else is
//! `501 NotImplemented`. Objects live in the blob store under `buckets/<bucket>/<key>`,
//! sealed like S3 SSE-KMS under the owning account's default key
//! ([`carillon_mail::messageflow::put_bucket_object`]).
//!
//! - Tenant isolation: a bucket belongs to the account that created it (names are global, as
//!   in S3); another account's bucket is `403 AccessDenied` for object operations and
//!   `409 BucketAlreadyExists` for CreateBucket. Objects need an existing bucket
//!   (`404 NoSuchBucket`).
//! - Authorization: `s3:CreateBucket` on `arn:aws:s3:::<bucket>`, `s3:PutObject`,
//!   `s3:GetObject` (also HEAD) and `s3:DeleteObject` on `arn:aws:s3:::<bucket>/<key>`,
//!   evaluated like every other call; one audit record per call.
//! - Responses: `ETag` is the quoted hex MD5 of the content, `Content-Length` exact, errors are
//!   S3's XML `<Error><Code>…</Code><Message>…</Message>…</Error>` (no body for HEAD).
//! - Limits: the signed payload must be the whole body (no `aws-chunked` streaming uploads:
//!   `501 NotImplemented`); `Content-MD5` is checked when sent (`400 BadDigest`); object keys
//!   are 1–1024 bytes without empty, `.` or `..` segments. The SigV4 canonical URI is the
//!   one of the other services, which equals S3's for keys whose characters need no
//!   percent-encoding (letters, digits, `-`, `_`, `.`, `~`, `/`).

use std::net::IpAddr;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use carillon_core::error::codes;
use carillon_core::{ApiError, RequestContext};
use carillon_iam::{AuditRecord, Iam, RequestConditions, VerifiedCaller};
use carillon_store::Store;
use md5::{Digest, Md5};

/// The S3 endpoint's state.
pub struct S3Endpoint {
    /// Signature verification, authorization and audit.
    pub iam: Iam,
    /// Bucket ownership and objects.
    pub store: Store,
    /// The server region (the audit record's).
    pub region: String,
}

/// An S3 error: HTTP status, code, message.
struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn s3_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> S3Error {
    S3Error {
        status,
        code,
        message: message.into(),
    }
}

/// The S3 error for a failed signature check or authorization.
fn from_api_error(err: &ApiError) -> S3Error {
    let code = match err.code.as_ref() {
        codes::UNRECOGNIZED_CLIENT => "InvalidAccessKeyId",
        codes::INVALID_SIGNATURE => "SignatureDoesNotMatch",
        codes::REQUEST_EXPIRED => "RequestTimeTooSkewed",
        codes::INTERNAL_FAILURE => "InternalError",
        _ => "AccessDenied",
    };
    let status = if code == "InternalError" {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::FORBIDDEN
    };
    s3_error(status, code, err.message.clone())
}

impl From<carillon_store::StoreError> for S3Error {
    /// S3's `InternalError` (500), so `?` answers a store failure; the detail goes to the log.
    fn from(e: carillon_store::StoreError) -> S3Error {
        tracing::error!(error = %e, "s3 endpoint: store failure");
        s3_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }
}

/// The S3 operation a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    CreateBucket,
    PutObject,
    GetObject,
    HeadObject,
    DeleteObject,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::CreateBucket => "CreateBucket",
            Operation::PutObject => "PutObject",
            Operation::GetObject => "GetObject",
            Operation::HeadObject => "HeadObject",
            Operation::DeleteObject => "DeleteObject",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Operation::CreateBucket => "s3:CreateBucket",
            Operation::PutObject => "s3:PutObject",
            Operation::GetObject | Operation::HeadObject => "s3:GetObject",
            Operation::DeleteObject => "s3:DeleteObject",
        }
    }
}

/// Whether `name` is a valid bucket name: 3–63 characters of lower-case letters, digits, `.`
/// and `-`, starting and ending with a letter or digit.
fn valid_bucket(name: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge(name.chars().next())
        && edge(name.chars().last())
}

/// Whether `key` is an object key this endpoint stores: 1–1024 bytes, no empty, `.` or `..`
/// segment.
fn valid_key(key: &str) -> bool {
    (1..=1024).contains(&key.len())
        && key
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
}

/// Splits the request path into (bucket, key), both percent-decoded; the key is empty for
/// `/<bucket>`.
fn bucket_and_key(path: &str) -> (String, String) {
    let path = path.trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    (decode(bucket), decode(key))
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Handles one S3 request whose body has been read.
pub async fn handle(endpoint: &S3Endpoint, parts: Parts, body: Bytes, peer: IpAddr) -> Response {
    let request_id = carillon_core::ids::new_uuid();
    let head = parts.method == Method::HEAD;
    let (bucket, key) = bucket_and_key(parts.uri.path());
    match serve(endpoint, &parts, body, peer, &request_id, &bucket, &key).await {
        Ok(response) => response,
        Err(err) => error_response(&err, &bucket, &key, &request_id, head),
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    endpoint: &S3Endpoint,
    parts: &Parts,
    body: Bytes,
    peer: IpAddr,
    request_id: &str,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    let now = chrono::Utc::now();
    let caller = endpoint
        .iam
        .verify(parts, &body, now)
        .await
        .map_err(|e| from_api_error(&e))?;
    let has_query = parts.uri.query().is_some_and(|q| !q.is_empty());
    let operation = match (&parts.method, key.is_empty(), has_query) {
        (&Method::PUT, true, false) => Operation::CreateBucket,
        (&Method::PUT, false, false) if header(parts, "x-amz-copy-source").is_none() => {
            Operation::PutObject
        }
        (&Method::GET, false, false) => Operation::GetObject,
        (&Method::HEAD, false, false) => Operation::HeadObject,
        (&Method::DELETE, false, false) => Operation::DeleteObject,
        _ => {
            return Err(s3_error(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "Carillon's S3 endpoint implements CreateBucket, PutObject, GetObject, HeadObject and DeleteObject (path-style) only.",
            ))
        }
    };
    if !valid_bucket(bucket) {
        return Err(s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            "The specified bucket is not valid.",
        ));
    }
    if operation != Operation::CreateBucket && !valid_key(key) {
        return Err(s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Object keys are 1-1024 bytes without empty, '.' or '..' segments.",
        ));
    }
    let ctx = RequestContext {
        account_id: caller.account_id.clone(),
        principal_arn: caller.principal_arn.clone(),
        access_key_id: caller.access_key_id.clone(),
        region: endpoint.region.clone(),
        request_id: request_id.to_string(),
        source_ip: peer.to_string(),
    };
    let user_agent = header(parts, "user-agent").unwrap_or_default().to_string();
    let resource = if operation == Operation::CreateBucket {
        format!("arn:aws:s3:::{bucket}")
    } else {
        format!("arn:aws:s3:::{bucket}/{key}")
    };
    let conditions = RequestConditions {
        secure_transport: false,
        source_ip: peer.to_string(),
        user_agent: user_agent.clone(),
        current_time: now,
    };
    let result = match endpoint
        .iam
        .authorize(&caller, operation.action(), &resource, &conditions)
        .await
    {
        Ok(()) => run(endpoint, &caller, operation, parts, body, bucket, key).await,
        Err(e) => Err(from_api_error(&e)),
    };
    let parameters = if key.is_empty() {
        serde_json::json!({ "bucketName": bucket })
    } else {
        serde_json::json!({ "bucketName": bucket, "key": key })
    };
    let error = result
        .as_ref()
        .err()
        .map(|e| ApiError::new(e.code, e.message.clone()));
    let record = AuditRecord::for_call(
        &ctx,
        &caller,
        "s3",
        operation.name(),
        &user_agent,
        parameters,
        None,
        error.as_ref(),
    );
    if let Err(e) = endpoint.iam.record_audit(&record).await {
        tracing::error!(request_id, error = %e, "audit record not written");
    }
    result
}

async fn run(
    endpoint: &S3Endpoint,
    caller: &VerifiedCaller,
    operation: Operation,
    parts: &Parts,
    body: Bytes,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    let store = &endpoint.store;
    if operation == Operation::CreateBucket {
        let owner = store
            .claim_s3_bucket(
                bucket,
                &caller.account_id,
                carillon_core::time::now_millis(),
            )
            .await?;
        if owner != caller.account_id {
            return Err(s3_error(
                StatusCode::CONFLICT,
                "BucketAlreadyExists",
                "The requested bucket name is not available. The bucket namespace is shared by all users of the system.",
            ));
        }
        let mut response = empty(StatusCode::OK);
        if let Ok(location) = HeaderValue::from_str(&format!("/{bucket}")) {
            response.headers_mut().insert("location", location);
        }
        return Ok(response);
    }
    match store.s3_bucket_owner(bucket).await? {
        None => {
            return Err(s3_error(
                StatusCode::NOT_FOUND,
                "NoSuchBucket",
                "The specified bucket does not exist",
            ))
        }
        Some(owner) if owner != caller.account_id => {
            return Err(s3_error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Access Denied",
            ))
        }
        Some(_) => {}
    }
    match operation {
        Operation::PutObject => {
            let streaming = header(parts, "x-amz-content-sha256")
                .is_some_and(|h| h.starts_with("STREAMING-"))
                || header(parts, "content-encoding").is_some_and(|h| h.contains("aws-chunked"));
            if streaming {
                return Err(s3_error(
                    StatusCode::NOT_IMPLEMENTED,
                    "NotImplemented",
                    "aws-chunked (streaming) uploads are not supported; send the whole body.",
                ));
            }
            let digest = Md5::digest(&body);
            if let Some(sent) = header(parts, "content-md5") {
                let expected = base64::engine::general_purpose::STANDARD.encode(digest);
                if sent.trim() != expected {
                    return Err(s3_error(
                        StatusCode::BAD_REQUEST,
                        "BadDigest",
                        "The Content-MD5 you specified did not match what we received.",
                    ));
                }
            }
            carillon_mail::messageflow::put_bucket_object(
                store,
                &caller.account_id,
                bucket,
                key,
                &body,
            )
            .await?;
            let mut response = empty(StatusCode::OK);
            set_etag(&mut response, &hex::encode(digest));
            Ok(response)
        }
        Operation::GetObject | Operation::HeadObject => {
            let data = carillon_mail::messageflow::read_bucket_object(store, bucket, key)
                .await?
                .ok_or_else(|| {
                    s3_error(
                        StatusCode::NOT_FOUND,
                        "NoSuchKey",
                        "The specified key does not exist.",
                    )
                })?;
            let etag = hex::encode(Md5::digest(&data));
            let length = data.len();
            let body = if operation == Operation::HeadObject {
                Body::empty()
            } else {
                Body::from(data)
            };
            let mut response = Response::new(body);
            let headers = response.headers_mut();
            headers.insert(
                "content-type",
                HeaderValue::from_static("application/octet-stream"),
            );
            headers.insert("content-length", HeaderValue::from(length));
            set_etag(&mut response, &etag);
            Ok(response)
        }
        Operation::DeleteObject => {
            store.delete_s3_object(bucket, key).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Operation::CreateBucket => unreachable!("handled above"),
    }
}

fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

fn set_etag(response: &mut Response, md5_hex: &str) {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{md5_hex}\"")) {
        response.headers_mut().insert("etag", value);
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn error_response(
    err: &S3Error,
    bucket: &str,
    key: &str,
    request_id: &str,
    head: bool,
) -> Response {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>",
        err.code,
        xml_escape(&err.message)
    );
    if !bucket.is_empty() {
        xml.push_str(&format!("<BucketName>{}</BucketName>", xml_escape(bucket)));
    }
    if !key.is_empty() {
        xml.push_str(&format!("<Key>{}</Key>", xml_escape(key)));
    }
    xml.push_str(&format!("<RequestId>{request_id}</RequestId></Error>"));
    let mut response = Response::new(if head { Body::empty() } else { Body::from(xml) });
    *response.status_mut() = err.status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/xml"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amz-request-id", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_and_keys() {
        assert!(valid_bucket("my-bucket.1"));
        for bad in [
            "ab",
            "My-Bucket",
            "-bucket",
            "bucket-",
            "bu_cket",
            &"b".repeat(64),
        ] {
            assert!(!valid_bucket(bad), "{bad}");
        }
        assert!(valid_key("dir/6f1c-uuid"));
        for bad in ["", "a//b", "../x", "a/./b", "/a"] {
            assert!(!valid_key(bad), "{bad:?}");
        }
        assert_eq!(
            bucket_and_key("/bucket/dir/a%20b"),
            ("bucket".to_string(), "dir/a b".to_string())
        );
        assert_eq!(
            bucket_and_key("/bucket"),
            ("bucket".to_string(), String::new())
        );
    }

    #[tokio::test]
    async fn errors_are_s3_xml_without_a_body_for_head() {
        let err = s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
        let response = error_response(&err, "b", "k<1>", "req", false);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("<Code>NoSuchKey</Code>"), "{text}");
        assert!(text.contains("<Key>k&lt;1&gt;</Key>"), "{text}");
        let head = error_response(&err, "b", "k", "req", true);
        let body = axum::body::to_bytes(head.into_body(), 4096).await.unwrap();
        assert!(body.is_empty());
    }
}
