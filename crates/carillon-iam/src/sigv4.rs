//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`): canonical request, string to sign, signing
//! key, and the checks a server makes on a signed request — in the `Authorization` header or
//! presigned in the query string (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
//! `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`).
//!
//! Canonicalization follows what the `aws` CLI v2 and boto3 (botocore) send for every
//! service except S3: the path *as received on the wire* is normalized (dot segments
//! removed, empty segments collapsed) and URI-encoded once more, so `%` becomes `%25`; the
//! query is decoded, re-encoded with RFC 3986 unreserved characters kept, and sorted by key
//! then value; header values are trimmed with inner whitespace runs collapsed, repeated
//! headers joined with `,`.
//!
//! Errors are the codes AWS returns (the wire layer maps codes to HTTP statuses: AWS answers
//! 403 for all of them but `IncompleteSignatureException`, which its common-errors list
//! gives as 400): `MissingAuthenticationTokenException` (no signature at all),
//! `IncompleteSignatureException` (malformed `Authorization` or presigned parameters),
//! `InvalidSignatureException` (scope, clock or signature wrong). The unknown-key case
//! (`UnrecognizedClientException`) is decided by the caller, which owns the key store.

use carillon_core::error::codes;
use carillon_core::ApiError;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use http::request::Parts;
use percent_encoding::{percent_decode_str, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Payload hash a signer uses to leave the body unsigned.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Last element of every credential scope.
pub const TERMINATOR: &str = "aws4_request";
/// Error code of a malformed `Authorization` header or presigned query.
pub const INCOMPLETE_SIGNATURE: &str = "IncompleteSignatureException";
/// Largest accepted distance between the request time and the server clock, in seconds.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 15 * 60;
/// Largest accepted `X-Amz-Expires`, in seconds (seven days, as AWS).
pub const MAX_PRESIGNED_EXPIRES_SECONDS: i64 = 7 * 24 * 3600;

/// `YYYYMMDDTHHMMSSZ`, the ISO-8601 basic format of `X-Amz-Date`.
const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const CONTENT_SHA256: &str = "x-amz-content-sha256";

/// Everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - _ . ~`) is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// As [`UNRESERVED`], keeping the path separator.
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Hex SHA-256 of `data` (the payload hash of a signed body).
pub fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Canonical URI of a request whose path arrived as `raw_path` (still percent-encoded):
/// normalized as botocore does (dot segments removed, empty segments collapsed, trailing
/// slash kept), then every byte outside the unreserved set and `/` encoded again. An empty
/// path is `/`.
pub fn canonical_uri(raw_path: &str) -> String {
    let segments = raw_path.split('/').fold(Vec::new(), |mut out, segment| {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
        out
    });
    let mut normalized = format!("/{}", segments.join("/"));
    if raw_path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    percent_encode(normalized.as_bytes(), UNRESERVED_AND_SLASH).to_string()
}

/// Canonical query string of `raw_query` (without `?`): each name and value decoded and
/// re-encoded (RFC 3986), pairs sorted by name then value; a name without `=` has an empty
/// value. With `presigned`, `X-Amz-Signature` is left out (it cannot sign itself).
pub fn canonical_query(raw_query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode(name), reencode(value))
        })
        .filter(|(name, _)| !(presigned && name == "X-Amz-Signature"))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn reencode(component: &str) -> String {
    let raw: Vec<u8> = percent_decode_str(component).collect();
    percent_encode(&raw, UNRESERVED).to_string()
}

/// A header value in canonical form: leading and trailing whitespace removed, inner runs of
/// whitespace collapsed to one space.
pub fn canonical_header_value(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .split_ascii_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The canonical headers block (each `name:value\n`) for the lowercase `signed_headers` in
/// order: repeated headers joined with `,` in arrival order; `host` falls back to the URI
/// authority (HTTP/2 `:authority`).
fn canonical_headers(parts: &Parts, signed_headers: &[String]) -> String {
    let mut block = String::new();
    for name in signed_headers {
        let mut values: Vec<String> = parts
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| canonical_header_value(v.as_bytes()))
            .collect();
        if values.is_empty() && name == "host" {
            if let Some(authority) = parts.uri.authority() {
                values.push(authority.as_str().to_string());
            }
        }
        block.push_str(name);
        block.push(':');
        block.push_str(&values.join(","));
        block.push('\n');
    }
    block
}

/// The canonical request: method, canonical URI, canonical query, canonical headers block
/// (each line ending in `\n`), signed header names joined with `;`, payload hash.
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    format!(
        "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
    )
}

/// The string to sign: algorithm, request time (`YYYYMMDDTHHMMSSZ`), credential scope
/// (`date/region/service/aws4_request`), hex SHA-256 of the canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex_sha256(canonical_request.as_bytes())
    )
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac
}

/// The signing key: `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
/// "aws4_request")`, with `date` as `YYYYMMDD`.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(
        format!("AWS4{secret_access_key}").as_bytes(),
        date.as_bytes(),
    )
    .finalize()
    .into_bytes();
    let k_region = hmac_sha256(&k_date, region.as_bytes())
        .finalize()
        .into_bytes();
    let k_service = hmac_sha256(&k_region, service.as_bytes())
        .finalize()
        .into_bytes();
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
        .finalize()
        .into_bytes()
        .into()
}

/// Hex signature of `string_to_sign` under `signing_key`.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(
        hmac_sha256(signing_key, string_to_sign.as_bytes())
            .finalize()
            .into_bytes(),
    )
}

/// What a signed request claims about itself, parsed from the `Authorization` header or the
/// presigned query parameters. Contains no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureClaim {
    /// Access key ID of the credential.
    pub access_key_id: String,
    /// Scope date, `YYYYMMDD`.
    pub scope_date: String,
    /// Scope region, e.g. `us-east-1`.
    pub region: String,
    /// Scope service, e.g. `workmail`.
    pub service: String,
    /// Scope terminator (must be `aws4_request`).
    pub terminator: String,
    /// Lowercase names of the signed headers, as listed.
    pub signed_headers: Vec<String>,
    /// Hex signature the client sent.
    pub signature: String,
    /// Request time as used in the string to sign (`YYYYMMDDTHHMMSSZ`).
    pub amz_date: String,
    /// Request time, parsed.
    pub request_time: DateTime<Utc>,
    /// `Some(expires)` (seconds, or `None` inside when absent) for a presigned query.
    pub presigned: Option<Option<i64>>,
}

impl SignatureClaim {
    /// `date/region/service/terminator`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.scope_date, self.region, self.service, self.terminator
        )
    }
}

fn incomplete(message: impl Into<String>) -> ApiError {
    ApiError::new(INCOMPLETE_SIGNATURE, message)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(codes::INVALID_SIGNATURE, message)
}

fn parse_amz_date(value: &str) -> Result<DateTime<Utc>, ApiError> {
    NaiveDateTime::parse_from_str(value, AMZ_DATE_FORMAT)
        .map(|t| t.and_utc())
        .map_err(|_| {
            incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })
}

fn format_amz_date(t: DateTime<Utc>) -> String {
    t.format(AMZ_DATE_FORMAT).to_string()
}

/// Splits `AKID/date/region/service/terminator`.
fn parse_credential(credential: &str) -> Result<[String; 5], ApiError> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [key, date, region, service, terminator] if !key.is_empty() => Ok([
            key.to_string(),
            date.to_string(),
            region.to_string(),
            service.to_string(),
            terminator.to_string(),
        ]),
        _ => Err(incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        ))),
    }
}

fn parse_signed_headers(list: &str) -> Result<Vec<String>, ApiError> {
    let names: Vec<String> = list
        .split(';')
        .filter(|n| !n.is_empty())
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    if !names.iter().any(|n| n == "host") {
        return Err(incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    Ok(names)
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode_str(k).decode_utf8_lossy();
        (k == name).then(|| percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}

/// Parses the signature a request carries: the `Authorization` header when present,
/// otherwise the presigned `X-Amz-*` query parameters.
///
/// Errors: `MissingAuthenticationTokenException` when neither is present;
/// `IncompleteSignatureException` when they are malformed (algorithm, missing parameter,
/// credential shape, `host` not signed, date format, `X-Amz-Expires` out of 1–604800).
pub fn parse_claim(parts: &Parts) -> Result<SignatureClaim, ApiError> {
    let query = parts.uri.query().unwrap_or("");
    if let Some(header) = parts.headers.get(http::header::AUTHORIZATION) {
        let header = header
            .to_str()
            .map_err(|_| incomplete("Authorization header is not visible ASCII."))?;
        return parse_authorization_header(parts, header);
    }
    let presigned = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"]
        .iter()
        .any(|name| query_param(query, name).is_some());
    if presigned {
        return parse_presigned_query(query);
    }
    Err(ApiError::new(
        codes::MISSING_AUTHENTICATION_TOKEN,
        "Missing Authentication Token",
    ))
}

fn parse_authorization_header(parts: &Parts, header: &str) -> Result<SignatureClaim, ApiError> {
    let (algorithm, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'. Only '{ALGORITHM}' is accepted."
        )));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for component in rest.split(',') {
        match component.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v.trim()),
            Some(("SignedHeaders", v)) => signed_headers = Some(v.trim()),
            Some(("Signature", v)) => signature = Some(v.trim()),
            _ => {}
        }
    }
    let missing: Vec<String> = [
        ("Credential", credential.is_none()),
        ("Signature", signature.is_none()),
        ("SignedHeaders", signed_headers.is_none()),
    ]
    .iter()
    .filter(|(_, absent)| *absent)
    .map(|(name, _)| format!("Authorization header requires '{name}' parameter."))
    .collect();
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(incomplete(missing.join(" ")));
    };
    let [access_key_id, scope_date, region, service, terminator] = parse_credential(credential)?;
    let signed_headers = parse_signed_headers(signed_headers)?;
    let (amz_date, request_time) = if let Some(v) = parts.headers.get("x-amz-date") {
        let v = v.to_str().unwrap_or_default().trim().to_string();
        let t = parse_amz_date(&v)?;
        (v, t)
    } else if let Some(v) = parts.headers.get(http::header::DATE) {
        let v = v.to_str().unwrap_or_default().trim();
        let t = DateTime::parse_from_rfc2822(v)
            .map_err(|_| incomplete(format!("Date header is not an HTTP date: '{v}'.")))?
            .with_timezone(&Utc);
        (format_amz_date(t), t)
    } else {
        return Err(incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    Ok(SignatureClaim {
        access_key_id,
        scope_date,
        region,
        service,
        terminator,
        signed_headers,
        signature: signature.to_string(),
        amz_date,
        request_time,
        presigned: None,
    })
}

fn parse_presigned_query(query: &str) -> Result<SignatureClaim, ApiError> {
    let param = |name| query_param(query, name);
    let (Some(algorithm), Some(credential), Some(signature), Some(signed_headers), Some(amz_date)) = (
        param("X-Amz-Algorithm"),
        param("X-Amz-Credential"),
        param("X-Amz-Signature"),
        param("X-Amz-SignedHeaders"),
        param("X-Amz-Date"),
    ) else {
        return Err(incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders', 'X-Amz-Date'. Re-examine the query-string parameters.",
        ));
    };
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'. Only '{ALGORITHM}' is accepted."
        )));
    }
    let expires = match param("X-Amz-Expires") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(secs) if (1..=MAX_PRESIGNED_EXPIRES_SECONDS).contains(&secs) => Some(secs),
            _ => {
                return Err(incomplete(format!(
                    "X-Amz-Expires must be a number of seconds from 1 to {MAX_PRESIGNED_EXPIRES_SECONDS}, got '{v}'."
                )))
            }
        },
    };
    let [access_key_id, scope_date, region, service, terminator] = parse_credential(&credential)?;
    let signed_headers = parse_signed_headers(&signed_headers)?;
    let request_time = parse_amz_date(&amz_date)?;
    Ok(SignatureClaim {
        access_key_id,
        scope_date,
        region,
        service,
        terminator,
        signed_headers,
        signature,
        amz_date,
        request_time,
        presigned: Some(expires),
    })
}

/// Checks the claim's scope and time against the server: terminator `aws4_request`, scope
/// date equal to the request date, scope region equal to `server_region`, request time
/// within 15 minutes of `now`, and for a presigned request `now` before the request time
/// plus `X-Amz-Expires`.
///
/// Errors: `InvalidSignatureException` with AWS's message for each case.
pub fn check_scope_and_time(
    claim: &SignatureClaim,
    server_region: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if claim.terminator != TERMINATOR {
        return Err(invalid(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
            claim.terminator
        )));
    }
    let request_day = &claim.amz_date[..8.min(claim.amz_date.len())];
    if claim.scope_date != request_day {
        return Err(invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{request_day}', from '{}'.",
            claim.scope_date, claim.amz_date
        )));
    }
    if claim.region != server_region {
        return Err(invalid(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            claim.region
        )));
    }
    if claim.service.is_empty() {
        return Err(invalid(
            "Credential should be scoped to correct service: ''.",
        ));
    }
    let skew = Duration::seconds(MAX_CLOCK_SKEW_SECONDS);
    if claim.request_time > now + skew {
        return Err(invalid(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            claim.amz_date,
            format_amz_date(now + skew),
            format_amz_date(now)
        )));
    }
    match claim.presigned {
        Some(Some(expires)) => {
            let expiry = claim.request_time + Duration::seconds(expires);
            if now > expiry {
                return Err(invalid(format!(
                    "Signature expired: {} is now earlier than {} ({} + {expires} s.)",
                    format_amz_date(expiry),
                    format_amz_date(now),
                    claim.amz_date
                )));
            }
        }
        _ => {
            if claim.request_time < now - skew {
                return Err(invalid(format!(
                    "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                    claim.amz_date,
                    format_amz_date(now - skew),
                    format_amz_date(now)
                )));
            }
        }
    }
    Ok(())
}

/// Verifies the claim's signature over `parts` and `body` with `secret_access_key`.
///
/// The payload hash is the `x-amz-content-sha256` header when present (which must then be
/// `UNSIGNED-PAYLOAD` or the body's real hash), otherwise the body's hash; a presigned
/// request is also accepted with `UNSIGNED-PAYLOAD`, which is what botocore presigns with.
/// Signatures are compared in constant time.
///
/// Errors: `InvalidSignatureException` with AWS's message, the canonical request and the
/// string to sign the server expected (neither contains a secret).
pub fn verify_signature(
    claim: &SignatureClaim,
    parts: &Parts,
    body: &[u8],
    secret_access_key: &str,
) -> Result<(), ApiError> {
    let body_hash = hex_sha256(body);
    let payload_hashes: Vec<String> = match parts.headers.get(CONTENT_SHA256) {
        Some(v) => {
            let v = v.to_str().unwrap_or_default().trim().to_string();
            if v != UNSIGNED_PAYLOAD && !v.eq_ignore_ascii_case(&body_hash) {
                return Err(invalid(
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ));
            }
            vec![v]
        }
        None if claim.presigned.is_some() => vec![UNSIGNED_PAYLOAD.to_string(), body_hash],
        None => vec![body_hash],
    };
    let canonical_uri = canonical_uri(parts.uri.path());
    let canonical_query =
        canonical_query(parts.uri.query().unwrap_or(""), claim.presigned.is_some());
    let headers = canonical_headers(parts, &claim.signed_headers);
    let signed = claim.signed_headers.join(";");
    let key = signing_key(
        secret_access_key,
        &claim.scope_date,
        &claim.region,
        &claim.service,
    );
    let scope = claim.scope();
    let provided = hex::decode(&claim.signature).unwrap_or_default();
    let mut first_attempt = None;
    for payload_hash in &payload_hashes {
        let creq = canonical_request(
            parts.method.as_str(),
            &canonical_uri,
            &canonical_query,
            &headers,
            &signed,
            payload_hash,
        );
        let sts = string_to_sign(&claim.amz_date, &scope, &creq);
        // `verify_slice` compares in constant time.
        if hmac_sha256(&key, sts.as_bytes())
            .verify_slice(&provided)
            .is_ok()
        {
            return Ok(());
        }
        first_attempt.get_or_insert((creq, sts));
    }
    let (creq, sts) = first_attempt.unwrap_or_default();
    Err(invalid(format!(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'{creq}'\n\nThe String-to-Sign should have been\n'{sts}'\n"
    )))
}

/// Credentials for the client-side helpers [`sign_request`] and [`presign_request`].
#[derive(Clone, Copy)]
pub struct SigningCredentials<'a> {
    /// Access key ID.
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_access_key: &'a str,
}

impl std::fmt::Debug for SigningCredentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

fn ensure_host(parts: &mut Parts) -> Result<(), http::Error> {
    if !parts.headers.contains_key(http::header::HOST) {
        if let Some(authority) = parts.uri.authority() {
            let value = http::HeaderValue::from_str(authority.as_str())?;
            parts.headers.insert(http::header::HOST, value);
        }
    }
    Ok(())
}

/// Signs a request the way botocore does for non-S3 services: sets `X-Amz-Date` and
/// `Authorization`, signing `host`, `x-amz-date`, `content-type` and every other `x-amz-*`
/// header present, with the body's SHA-256 as payload hash. For clients and tests (e.g.
/// Carillon's own end-to-end tests); the server never signs.
pub fn sign_request(
    parts: &mut Parts,
    body: &[u8],
    credentials: SigningCredentials<'_>,
    region: &str,
    service: &str,
    now: DateTime<Utc>,
) -> Result<(), http::Error> {
    ensure_host(parts)?;
    let amz_date = format_amz_date(now);
    parts
        .headers
        .insert("x-amz-date", http::HeaderValue::from_str(&amz_date)?);
    let mut names: Vec<String> = parts
        .headers
        .keys()
        .map(|n| n.as_str().to_string())
        .filter(|n| n == "host" || n == "content-type" || n.starts_with("x-amz-"))
        .collect();
    names.sort();
    names.dedup();
    let payload_hash = parts
        .headers
        .get(CONTENT_SHA256)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| hex_sha256(body));
    let scope = format!("{}/{region}/{service}/{TERMINATOR}", &amz_date[..8]);
    let creq = canonical_request(
        parts.method.as_str(),
        &canonical_uri(parts.uri.path()),
        &canonical_query(parts.uri.query().unwrap_or(""), false),
        &canonical_headers(parts, &names),
        &names.join(";"),
        &payload_hash,
    );
    let key = signing_key(
        credentials.secret_access_key,
        &amz_date[..8],
        region,
        service,
    );
    let sig = signature(&key, &string_to_sign(&amz_date, &scope, &creq));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
        credentials.access_key_id,
        names.join(";")
    );
    parts.headers.insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_str(&authorization)?,
    );
    Ok(())
}

/// Presigns a request as botocore does: appends `X-Amz-Algorithm`, `X-Amz-Credential`,
/// `X-Amz-Date`, `X-Amz-Expires` (seconds), `X-Amz-SignedHeaders=host` and
/// `X-Amz-Signature` to the query, with `UNSIGNED-PAYLOAD` as payload hash.
pub fn presign_request(
    parts: &mut Parts,
    credentials: SigningCredentials<'_>,
    region: &str,
    service: &str,
    now: DateTime<Utc>,
    expires_seconds: i64,
) -> Result<(), http::Error> {
    ensure_host(parts)?;
    let amz_date = format_amz_date(now);
    let scope = format!("{}/{region}/{service}/{TERMINATOR}", &amz_date[..8]);
    let credential = format!("{}/{scope}", credentials.access_key_id);
    let expires = expires_seconds.to_string();
    let mut query = parts.uri.query().unwrap_or("").to_string();
    for (name, value) in [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", credential.as_str()),
        ("X-Amz-Date", amz_date.as_str()),
        ("X-Amz-Expires", expires.as_str()),
        ("X-Amz-SignedHeaders", "host"),
    ] {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!(
            "{name}={}",
            percent_encode(value.as_bytes(), UNRESERVED)
        ));
    }
    let creq = canonical_request(
        parts.method.as_str(),
        &canonical_uri(parts.uri.path()),
        &canonical_query(&query, true),
        &canonical_headers(parts, &["host".to_string()]),
        "host",
        UNSIGNED_PAYLOAD,
    );
    let key = signing_key(
        credentials.secret_access_key,
        &amz_date[..8],
        region,
        service,
    );
    let sig = signature(&key, &string_to_sign(&amz_date, &scope, &creq));
    query.push_str(&format!("&X-Amz-Signature={sig}"));
    let mut uri = parts.uri.clone().into_parts();
    uri.path_and_query = Some(format!("{}?{query}", parts.uri.path()).parse()?);
    parts.uri = http::Uri::from_parts(uri)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // The AWS SigV4 test suite (aws-sig-v4-test-suite, as shipped in awslabs/aws-c-auth
    // tests/aws-signing-test-suite/v4): credentials, clock and scope of every vector.
    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const REGION: &str = "us-east-1";
    const SERVICE: &str = "service";
    const AMZ_DATE: &str = "20150830T123600Z";
    const SCOPE: &str = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn vector_time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap()
    }

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn vector_request(
        method: &str,
        uri: &str,
        extra: &[(&str, &str)],
        signed: &str,
        sig: &str,
    ) -> Parts {
        let authorization =
            format!("{ALGORITHM} Credential={SCOPE}, SignedHeaders={signed}, Signature={sig}");
        let mut headers = vec![("host", "example.amazonaws.com"), ("x-amz-date", AMZ_DATE)];
        headers.extend_from_slice(extra);
        headers.push(("authorization", authorization.as_str()));
        request(method, uri, &headers)
    }

    fn verify(parts: &Parts, body: &[u8], now: DateTime<Utc>) -> Result<SignatureClaim, ApiError> {
        let claim = parse_claim(parts)?;
        check_scope_and_time(&claim, REGION, now)?;
        verify_signature(&claim, parts, body, SECRET)?;
        Ok(claim)
    }

    #[test]
    fn get_vanilla_intermediate_values() {
        let parts = request(
            "GET",
            "/",
            &[("host", "example.amazonaws.com"), ("x-amz-date", AMZ_DATE)],
        );
        let names = vec!["host".to_string(), "x-amz-date".to_string()];
        let creq = canonical_request(
            "GET",
            &canonical_uri(parts.uri.path()),
            &canonical_query("", false),
            &canonical_headers(&parts, &names),
            "host;x-amz-date",
            &hex_sha256(b""),
        );
        assert_eq!(
            creq,
            format!("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:{AMZ_DATE}\n\nhost;x-amz-date\n{EMPTY_SHA256}")
        );
        let sts = string_to_sign(AMZ_DATE, "20150830/us-east-1/service/aws4_request", &creq);
        assert_eq!(
            sts,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        let key = signing_key(SECRET, "20150830", REGION, SERVICE);
        assert_eq!(
            signature(&key, &sts),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn header_vectors_verify() {
        let vectors: Vec<(&str, Parts, &[u8])> = vec![
            (
                "get-vanilla",
                vector_request("GET", "/", &[], "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
                b"",
            ),
            (
                "get-vanilla-query-order-key-case",
                vector_request("GET", "/?Param2=value2&Param1=value1", &[], "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
                b"",
            ),
            (
                "get-vanilla-query-unreserved",
                vector_request(
                    "GET",
                    "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                    &[],
                    "host;x-amz-date",
                    "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
                ),
                b"",
            ),
            (
                "get-header-value-trim",
                vector_request(
                    "GET",
                    "/",
                    &[("my-header1", "value1"), ("my-header2", "\"a   b   c\"")],
                    "host;my-header1;my-header2;x-amz-date",
                    "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
                ),
                b"",
            ),
            (
                "get-header-key-duplicate",
                vector_request(
                    "GET",
                    "/",
                    &[("my-header1", "value2"), ("my-header1", "value2"), ("my-header1", "value1")],
                    "host;my-header1;x-amz-date",
                    "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
                ),
                b"",
            ),
            (
                "get-slashes-normalized",
                vector_request("GET", "//example//", &[], "host;x-amz-date", "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"),
                b"",
            ),
            (
                "post-x-www-form-urlencoded",
                vector_request(
                    "POST",
                    "/",
                    &[
                        ("content-type", "application/x-www-form-urlencoded"),
                        ("content-length", "13"),
                        ("x-amz-content-sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
                    ],
                    "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
                    "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
                ),
                b"Param1=value1",
            ),
        ];
        for (name, parts, body) in vectors {
            let claim =
                verify(&parts, body, vector_time()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(claim.access_key_id, AKID);
            assert_eq!(claim.service, SERVICE);
        }
    }

    #[test]
    fn raw_path_vectors_canonicalize() {
        // get-utf8 and get-space-normalized list raw (unencoded) paths, which cannot travel
        // in an HTTP/1.1 request line; their canonical URI is the single encoding.
        let key = signing_key(SECRET, "20150830", REGION, SERVICE);
        let headers = format!("host:example.amazonaws.com\nx-amz-date:{AMZ_DATE}\n");
        for (raw, canonical, expected) in [
            (
                "/ሴ",
                "/%E1%88%B4",
                "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            ),
            (
                "/example space/",
                "/example%20space/",
                "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
            ),
        ] {
            assert_eq!(canonical_uri(raw), canonical);
            let creq = canonical_request(
                "GET",
                canonical,
                "",
                &headers,
                "host;x-amz-date",
                EMPTY_SHA256,
            );
            let sts = string_to_sign(AMZ_DATE, "20150830/us-east-1/service/aws4_request", &creq);
            assert_eq!(signature(&key, &sts), expected, "{raw}");
        }
    }

    #[test]
    fn presigned_vectors_verify() {
        for (query, sig) in [
            ("Param2=value2&Param1=value1", "86012e2c9ad4d77369f5d81c11f75158aae4f895a085212cc6d3f923d300bed5"),
            (
                "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                "8e76a88a7433637b12778d5592799b29ad21ecd6cf6325051c21d86f0acda2bf",
            ),
        ] {
            let uri = format!(
                "/?{query}&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature={sig}"
            );
            let parts = request("GET", &uri, &[("host", "example.amazonaws.com"), ("x-amz-date", AMZ_DATE)]);
            let claim = verify(&parts, b"", vector_time()).unwrap_or_else(|e| panic!("{query}: {e}"));
            assert_eq!(claim.presigned, Some(Some(3600)));
            // Valid until the hour is over, not after.
            assert!(verify(&parts, b"", vector_time() + Duration::seconds(3600)).is_ok());
            let err = verify(&parts, b"", vector_time() + Duration::seconds(3601)).unwrap_err();
            assert_eq!(err.code, codes::INVALID_SIGNATURE);
            assert!(err.message.starts_with("Signature expired:"), "{}", err.message);
        }
    }

    #[test]
    fn canonical_forms() {
        // Non-S3 services: the wire path is encoded again (`%` → `%25`).
        assert_eq!(canonical_uri("/a%20b/c:d"), "/a%2520b/c%3Ad");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/a/./b/../c/"), "/a/c/");
        assert_eq!(
            canonical_query("b=2&a=z&a=y&c&sp=a%20b&plus=a+b&X-Amz-Signature=ff", true),
            "a=y&a=z&b=2&c=&plus=a%2Bb&sp=a%20b"
        );
        assert_eq!(
            canonical_query("X-Amz-Signature=ff", false),
            "X-Amz-Signature=ff"
        );
        assert_eq!(canonical_header_value(b"  a \t  b  c "), "a b c");
    }

    fn creds() -> SigningCredentials<'static> {
        SigningCredentials {
            access_key_id: AKID,
            secret_access_key: SECRET,
        }
    }

    fn signed_post(now: DateTime<Utc>, body: &[u8]) -> Parts {
        let mut parts = request(
            "POST",
            "http://127.0.0.1:8080/accounts/a%2Fb?max-results=5&next-token=x%3D",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "WorkMailService.ListUsers"),
                ("user-agent", "aws-cli/2"),
            ],
        );
        sign_request(&mut parts, body, creds(), REGION, "workmail", now).unwrap();
        parts
    }

    #[test]
    fn self_signed_header_requests_verify_and_tampering_is_caught() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 13, 0, 0).unwrap();
        let body = br#"{"OrganizationId":"m-1"}"#;
        let parts = signed_post(now, body);
        let claim = verify(&parts, body, now).unwrap();
        assert_eq!(claim.service, "workmail");
        assert_eq!(
            claim.signed_headers,
            ["content-type", "host", "x-amz-date", "x-amz-target"]
        );
        // An unsigned header may change.
        let mut unsigned = parts.clone();
        unsigned
            .headers
            .insert("user-agent", "other".parse().unwrap());
        assert!(verify(&unsigned, body, now).is_ok());

        let mismatch = |parts: &Parts, body: &[u8]| {
            let err = verify(parts, body, now).unwrap_err();
            assert_eq!(err.code, codes::INVALID_SIGNATURE);
            assert!(
                err.message
                    .starts_with("The request signature we calculated does not match"),
                "{}",
                err.message
            );
        };
        mismatch(&parts, br#"{"OrganizationId":"m-2"}"#);
        let mut header = parts.clone();
        header.headers.insert(
            "x-amz-target",
            "WorkMailService.DeleteUser".parse().unwrap(),
        );
        mismatch(&header, body);
        let mut query = parts.clone();
        query.uri = "http://127.0.0.1:8080/accounts/a%2Fb?max-results=6&next-token=x%3D"
            .parse()
            .unwrap();
        mismatch(&query, body);
        let mut path = parts.clone();
        path.uri = "http://127.0.0.1:8080/accounts/a/b?max-results=5&next-token=x%3D"
            .parse()
            .unwrap();
        mismatch(&path, body);
        let mut method = parts.clone();
        method.method = http::Method::PUT;
        mismatch(&method, body);
        let claim = parse_claim(&parts).unwrap();
        let err = verify_signature(&claim, &parts, body, "not-the-secret").unwrap_err();
        assert_eq!(err.code, codes::INVALID_SIGNATURE);
    }

    #[test]
    fn content_sha256_must_match_the_body() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 13, 0, 0).unwrap();
        let mut parts = request(
            "POST",
            "http://h/",
            &[("x-amz-content-sha256", UNSIGNED_PAYLOAD)],
        );
        sign_request(&mut parts, b"anything", creds(), REGION, "workmail", now).unwrap();
        assert!(
            verify(&parts, b"something else", now).is_ok(),
            "UNSIGNED-PAYLOAD leaves the body out"
        );

        let mut parts = request(
            "POST",
            "http://h/",
            &[("x-amz-content-sha256", &hex_sha256(b"abc"))],
        );
        sign_request(&mut parts, b"abc", creds(), REGION, "workmail", now).unwrap();
        assert!(verify(&parts, b"abc", now).is_ok());
        let err = verify(&parts, b"abd", now).unwrap_err();
        assert_eq!(err.code, codes::INVALID_SIGNATURE);
        assert!(err.message.contains("x-amz-content-sha256"));
    }

    #[test]
    fn self_presigned_requests_verify() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 13, 0, 0).unwrap();
        let mut parts = request("GET", "http://127.0.0.1:8080/networks?maxResults=2", &[]);
        presign_request(&mut parts, creds(), REGION, "wickr", now, 300).unwrap();
        assert!(parts.headers.get("authorization").is_none());
        let claim = verify(&parts, b"", now + Duration::seconds(299)).unwrap();
        assert_eq!(claim.service, "wickr");
        let err = verify(&parts, b"", now + Duration::seconds(301)).unwrap_err();
        assert!(err.message.starts_with("Signature expired:"));
        let mut tampered = parts.clone();
        let uri = parts
            .uri
            .to_string()
            .replace("maxResults=2", "maxResults=3");
        tampered.uri = uri.parse().unwrap();
        assert_eq!(
            verify(&tampered, b"", now).unwrap_err().code,
            codes::INVALID_SIGNATURE
        );
    }

    #[test]
    fn clock_skew_and_scope_are_checked() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 13, 0, 0).unwrap();
        let parts = signed_post(now, b"{}");
        assert!(verify(&parts, b"{}", now + Duration::minutes(15)).is_ok());
        let late = verify(&parts, b"{}", now + Duration::minutes(16)).unwrap_err();
        assert_eq!(late.code, codes::INVALID_SIGNATURE);
        assert_eq!(
            late.message,
            "Signature expired: 20261121T130000Z is now earlier than 20261121T130100Z (20261121T131600Z - 15 min.)"
        );
        let early = verify(&parts, b"{}", now - Duration::minutes(16)).unwrap_err();
        assert!(
            early.message.starts_with("Signature not yet current:"),
            "{}",
            early.message
        );

        let claim = parse_claim(&parts).unwrap();
        let err = check_scope_and_time(&claim, "eu-west-1", now).unwrap_err();
        assert_eq!(err.code, codes::INVALID_SIGNATURE);
        assert_eq!(
            err.message,
            "Credential should be scoped to a valid region, not 'us-east-1'."
        );

        let mut wrong_day = claim.clone();
        wrong_day.scope_date = "20261120".to_string();
        let err = check_scope_and_time(&wrong_day, REGION, now).unwrap_err();
        assert_eq!(err.code, codes::INVALID_SIGNATURE);
        assert!(err
            .message
            .starts_with("Date in Credential scope does not match"));

        let mut wrong_terminator = claim;
        wrong_terminator.terminator = "aws5_request".to_string();
        assert_eq!(
            check_scope_and_time(&wrong_terminator, REGION, now)
                .unwrap_err()
                .code,
            codes::INVALID_SIGNATURE
        );
    }

    #[test]
    fn missing_and_malformed_signatures() {
        let err = parse_claim(&request("GET", "/", &[("host", "h")])).unwrap_err();
        assert_eq!(err.code, codes::MISSING_AUTHENTICATION_TOKEN);

        let incomplete = |headers: &[(&str, &str)]| {
            let err = parse_claim(&request("GET", "/", headers)).unwrap_err();
            assert_eq!(err.code, INCOMPLETE_SIGNATURE, "{headers:?}");
            err.message
        };
        let message = incomplete(&[("authorization", "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/s/aws4_request, SignedHeaders=host"), ("x-amz-date", AMZ_DATE)]);
        assert_eq!(
            message,
            "Authorization header requires 'Signature' parameter."
        );
        incomplete(&[("authorization", "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1, SignedHeaders=host, Signature=ab"), ("x-amz-date", AMZ_DATE)]);
        let message = incomplete(&[("authorization", "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/s/aws4_request, SignedHeaders=x-amz-date, Signature=ab"), ("x-amz-date", AMZ_DATE)]);
        assert!(message.contains("'Host'"));
        incomplete(&[("authorization", "AWS AKID:signature")]);
        incomplete(&[("authorization", "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/s/aws4_request, SignedHeaders=host, Signature=ab")]);
        incomplete(&[("authorization", "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/s/aws4_request, SignedHeaders=host, Signature=ab"), ("x-amz-date", "2015-08-30")]);

        let err = parse_claim(&request("GET", "/?X-Amz-Signature=ab", &[])).unwrap_err();
        assert_eq!(err.code, INCOMPLETE_SIGNATURE);
        let err = parse_claim(&request(
            "GET",
            "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20150830%2Fus-east-1%2Fs%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=604801&X-Amz-Signature=ab",
            &[],
        ))
        .unwrap_err();
        assert_eq!(err.code, INCOMPLETE_SIGNATURE);
        assert!(err.message.contains("X-Amz-Expires"));
    }

    /// Requests signed offline by botocore 1.44.5 (what `aws` CLI v2 and boto3 run) at
    /// 2026-11-21T13:00:00Z with AWS's documentation example key: an awsJson1.1 call, a
    /// restJson1 call whose path carries percent-encoded characters (double-encoded in the
    /// canonical URI), and a presigned URL (`UNSIGNED-PAYLOAD`).
    #[test]
    fn botocore_signed_requests_verify() {
        const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 13, 0, 0).unwrap();
        let json = request(
            "POST",
            "/",
            &[
                ("host", "127.0.0.1:8080"),
                ("x-amz-target", "WorkMailService.ListUsers"),
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-date", "20261121T130000Z"),
                ("authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/us-east-1/workmail/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=f3be336e982b71ab1a57661762f8054ac4956fe2c86b3d76708bd7891c76e3e4"),
            ],
        );
        let rest = request(
            "GET",
            "/accounts/a%2Fb%20c/users?max-results=5&user-email=a%40b.c",
            &[
                ("host", "127.0.0.1:8080"),
                ("x-amz-date", "20261121T130000Z"),
                ("authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/us-east-1/chime/aws4_request, SignedHeaders=host;x-amz-date, Signature=2ea20acb685c29160f04f75b93e8a0b57cf917b4d7d53e5456957f403d839ae8"),
            ],
        );
        let presigned = request(
            "GET",
            "/networks?maxResults=2&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261121%2Fus-east-1%2Fwickr%2Faws4_request&X-Amz-Date=20261121T130000Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Signature=fb860937c72b0597946790f1500adfee1024508281629c11ae6bc61c1698a3fe",
            &[("host", "127.0.0.1:8080")],
        );
        for (parts, body, service) in [
            (json, &br#"{"OrganizationId":"m-1"}"#[..], "workmail"),
            (rest, &b""[..], "chime"),
            (presigned, &b""[..], "wickr"),
        ] {
            let claim = parse_claim(&parts).unwrap();
            check_scope_and_time(&claim, REGION, now).unwrap();
            verify_signature(&claim, &parts, body, SECRET)
                .unwrap_or_else(|e| panic!("{service}: {e}"));
            assert_eq!(claim.service, service);
        }
    }

    #[test]
    fn date_header_stands_in_for_x_amz_date() {
        let parts = request(
            "GET",
            "/",
            &[
                ("host", "h"),
                ("date", "Sun, 30 Aug 2015 12:36:00 GMT"),
                ("authorization", "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/s/aws4_request, SignedHeaders=date;host, Signature=ab"),
            ],
        );
        let claim = parse_claim(&parts).unwrap();
        assert_eq!(claim.amz_date, AMZ_DATE);
        assert_eq!(claim.request_time, vector_time());
    }
}
