//! The WorkMail Message Flow API (`workmailmessageflow`, restJson1) over the messages in
//! transit through flow-rule hooks ([`crate::flow::transit`]). Spec: workmail.md §2.10, §4.9,
//! §4.10.
//!
//! - `GetRawMessageContent(messageId)`: the full MIME content of a message in transit (as
//!   last replaced), for 24 hours after it was received or sent.
//! - `PutRawMessageContent(messageId, content.s3Reference{bucket, key, objectVersion})`: the
//!   new content is read from Carillon's S3 endpoint (a bucket of the caller's account),
//!   checked to be an RFC 5322 message, and replaces the content that will be delivered.
//!   Only for synchronous hooks that have not answered yet, inside the 24 hours.
//!
//! Another account's message, or one older than 24 hours, is `ResourceNotFoundException`.
//! IAM resource: `arn:aws:workmailmessageflow:<region>:<account>:message/<organization>/
//! <incoming|outgoing>/<messageId>` ([`MessageFlow::resource_arn`]).

use bytes::Bytes;
use carillon_awsapi::generated::workmailmessageflow::*;
use carillon_core::{ApiError, InternalFailure, OperationError, RequestContext};
use carillon_store::{ContentReplacement, Store, StoreError};

use crate::delivery::MAX_MESSAGE_MIME_BYTES;
use crate::flow::transit::{self, TRANSIT_WINDOW};

/// Error codes of the message-flow model.
pub mod codes {
    /// No such message in transit (in the caller's account, inside 24 hours).
    pub const RESOURCE_NOT_FOUND: &str = "ResourceNotFoundException";
    /// The S3 reference cannot be read (no bucket, no object, another account's bucket).
    pub const INVALID_CONTENT_LOCATION: &str = "InvalidContentLocation";
    /// The new content is not an RFC 5322 message.
    pub const MESSAGE_REJECTED: &str = "MessageRejected";
    /// The message cannot be updated (asynchronous hook, or the hook already answered).
    pub const MESSAGE_FROZEN: &str = "MessageFrozen";
}

/// Longest line RFC 5322 §2.1.1 allows, without its CRLF.
const MAX_LINE_CHARS: usize = 998;

/// The message-flow operations over one store.
#[derive(Debug, Clone)]
pub struct MessageFlow {
    store: Store,
    region: String,
}

/// How a message-flow store failure is answered: `InternalFailure`, the detail logged.
enum StoreFailure {}

impl InternalFailure for StoreFailure {
    const CODE: &'static str = carillon_core::error::codes::INTERNAL_FAILURE;
    const MESSAGE: &'static str = "internal failure";
    const LOG: &'static str = "message flow: store failure";
}

/// A failed message-flow operation, as it is answered: a model error shape. `?` on a
/// `StoreError` logs the detail once and answers `InternalFailure`; the operation table
/// turns it back into the [`ApiError`] it holds.
type Failure = OperationError<StoreFailure>;

fn not_found(message_id: &str) -> ApiError {
    ApiError::new(
        codes::RESOURCE_NOT_FOUND,
        format!("Message {message_id} is not in transit (or is older than 24 hours)."),
    )
}

impl MessageFlow {
    /// The service over `store`; `region` goes into resource ARNs.
    pub fn new(store: Store, region: String) -> MessageFlow {
        MessageFlow { store, region }
    }

    fn window_start() -> i64 {
        carillon_core::time::now_millis()
            .saturating_sub(i64::try_from(TRANSIT_WINDOW.as_millis()).unwrap_or(i64::MAX))
    }

    /// The §4.10 ARN of `account_id`'s message `message_id` for authorization, `None` when
    /// the account has no such message in transit (the operation then answers
    /// `ResourceNotFoundException`).
    ///
    /// Errors: store failures.
    pub async fn resource_arn(
        &self,
        account_id: &str,
        message_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let message = self
            .store
            .transit_message(account_id, message_id, Self::window_start())
            .await?;
        Ok(message.map(|m| {
            carillon_core::arn::Arn::new(
                "workmailmessageflow",
                &self.region,
                account_id,
                format!(
                    "message/{}/{}/{}",
                    m.organization_id,
                    transit::arn_context(&m.direction),
                    m.message_id
                ),
            )
            .to_string()
        }))
    }
}

/// The context an object of Carillon's S3 endpoint is sealed with: its ARN.
fn object_context(bucket: &str, key: &str) -> carillon_kms::EncryptionContext {
    carillon_kms::EncryptionContext::s3(&format!("arn:aws:s3:::{bucket}/{key}"))
}

/// Stores object `key` of `bucket` (a bucket of `account_id`) for Carillon's S3 endpoint,
/// sealed the way S3 SSE-KMS protects an object: a fresh data key wrapped by the account's
/// default key, the object ARN as encryption context (workmail.md §5.3: nothing a hook uploads
/// lies in the blob store as plaintext). Durable when it returns.
///
/// Errors: key provider, blob store and `Config` (no keyring) failures.
pub async fn put_bucket_object(
    store: &Store,
    account_id: &str,
    bucket: &str,
    key: &str,
    data: &[u8],
) -> Result<(), StoreError> {
    let keyring = store.keyring()?;
    let default = keyring
        .provider()
        .default_key(account_id, keyring.region())
        .await?;
    let sealed = carillon_kms::object::seal_object(
        keyring.provider(),
        &default.arn,
        &object_context(bucket, key),
        data,
    )
    .await?;
    store.put_s3_object(bucket, key, Bytes::from(sealed)).await
}

/// The plaintext of object `key` of `bucket` written by [`put_bucket_object`], `None` when
/// there is no such object.
///
/// Errors: `Encryption` when the object does not open; key provider and blob store failures.
pub async fn read_bucket_object(
    store: &Store,
    bucket: &str,
    key: &str,
) -> Result<Option<Bytes>, StoreError> {
    let Some(sealed) = store.s3_object(bucket, key).await? else {
        return Ok(None);
    };
    let keyring = store.keyring()?;
    let plain = carillon_kms::object::open_object(
        keyring.provider(),
        &object_context(bucket, key),
        &sealed,
    )
    .await?;
    Ok(Some(Bytes::from(plain)))
}

/// Checks that `content` is an RFC 5322 message and returns it with CRLF line ends (a bare LF,
/// as Python's `email` writes, becomes CRLF). Rules: not empty, at most 40 MB; a header
/// section of `name: value` fields (continuation lines start with a space or tab) ended by an
/// empty line or the end of the content; `From` and `Date` present (§3.6); no line over 998
/// characters; and mail-parser reads it.
///
/// Errors: the reason, for `MessageRejected`.
pub fn validate_message(content: &[u8]) -> Result<Bytes, String> {
    if content.is_empty() {
        return Err("the content is empty".to_string());
    }
    if content.len() > MAX_MESSAGE_MIME_BYTES {
        return Err(format!(
            "the content is {} bytes, over the {MAX_MESSAGE_MIME_BYTES}-byte message limit",
            content.len()
        ));
    }
    let normalized = crlf(content);
    let mut in_headers = true;
    for (index, line) in normalized.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let number = index + 1;
        if line.len() > MAX_LINE_CHARS {
            return Err(format!(
                "line {number} is {} characters long; RFC 5322 allows at most {MAX_LINE_CHARS}",
                line.len()
            ));
        }
        if !in_headers {
            continue;
        }
        if line.is_empty() {
            if index == 0 {
                return Err("the message has no header section".to_string());
            }
            in_headers = false;
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if index == 0 {
                return Err("line 1 is a continuation line, not a header field".to_string());
            }
            continue;
        }
        let name_end = line.iter().position(|b| *b == b':');
        let valid_name = name_end.is_some_and(|end| {
            end > 0
                && line[..end]
                    .iter()
                    .all(|b| (33..=126).contains(b) && *b != b':')
        });
        if !valid_name {
            return Err(format!(
                "line {number} of the header section is not a header field (name: value): {:?}",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            ));
        }
    }
    let parsed = mail_parser::MessageParser::default()
        .parse(&normalized[..])
        .ok_or_else(|| "the content cannot be parsed as a MIME message".to_string())?;
    if parsed.from().is_none_or(|from| from.first().is_none()) {
        return Err("the message has no From header field (RFC 5322 §3.6)".to_string());
    }
    if parsed.date().is_none() {
        return Err("the message has no valid Date header field (RFC 5322 §3.6)".to_string());
    }
    Ok(Bytes::from(normalized))
}

/// `content` with every bare LF turned into CRLF.
fn crlf(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 32);
    let mut previous = 0u8;
    for &b in content {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    out
}

// Both operations of the model, implemented below.
carillon_awsapi::impl_workmailmessageflow_api!(MessageFlow {
    GetRawMessageContent => get_raw_message_content,
    PutRawMessageContent => put_raw_message_content,
});

/// `GetRawMessageContent`: the content of the caller's message in transit, as last replaced.
async fn get_raw_message_content(
    flow: &MessageFlow,
    ctx: &RequestContext,
    input: GetRawMessageContentRequest,
) -> Result<GetRawMessageContentResponse, Failure> {
    let message = flow
        .store
        .transit_message(
            &ctx.account_id,
            &input.message_id,
            MessageFlow::window_start(),
        )
        .await?
        .ok_or_else(|| not_found(&input.message_id))?;
    let content = transit::read_transit_blob(
        &flow.store,
        &message.organization_id,
        &message.blob_key,
        message.message_key.as_deref(),
    )
    .await
    .map_err(|e| match e {
        StoreError::NotFound(_) => not_found(&input.message_id).into(),
        e => Failure::from(e),
    })?;
    Ok(GetRawMessageContentResponse {
        message_content: carillon_awsapi::types::Blob(content.to_vec()),
    })
}

/// `PutRawMessageContent`: replaces the content a synchronous hook holds with an object of
/// the caller's S3 bucket.
async fn put_raw_message_content(
    flow: &MessageFlow,
    ctx: &RequestContext,
    input: PutRawMessageContentRequest,
) -> Result<PutRawMessageContentResponse, Failure> {
    let message_id = &input.message_id;
    let message = flow
        .store
        .transit_message(&ctx.account_id, message_id, MessageFlow::window_start())
        .await?
        .ok_or_else(|| not_found(message_id))?;
    if !message.synchronous || message.state != carillon_store::TRANSIT_PENDING {
        return Err(frozen(message_id).into());
    }
    let reference = &input.content.s3_reference;
    let location = |why: String| {
        ApiError::new(
            codes::INVALID_CONTENT_LOCATION,
            format!("s3://{}/{}: {why}", reference.bucket, reference.key),
        )
    };
    let owner = flow.store.s3_bucket_owner(&reference.bucket).await?;
    if owner.as_deref() != Some(ctx.account_id.as_str()) {
        return Err(location("no such bucket in the caller's account".to_string()).into());
    }
    if reference.object_version.is_some() {
        return Err(location(
            "the bucket is not versioned, so objectVersion names no object".to_string(),
        )
        .into());
    }
    let content = read_bucket_object(&flow.store, &reference.bucket, &reference.key)
        .await?
        .ok_or_else(|| location("no such key".to_string()))?;
    let content = validate_message(&content).map_err(|why| {
        ApiError::new(
            codes::MESSAGE_REJECTED,
            format!("The new content is not a valid RFC 5322 message: {why}."),
        )
    })?;
    // A sibling of the original (`transit/<id>` is a file, not a directory).
    let blob_key = format!("transit/{message_id}-{}", carillon_core::ids::new_uuid());
    let message_key =
        transit::write_transit_blob(&flow.store, &message.organization_id, &blob_key, &content)
            .await?;
    let replaced = flow
        .store
        .replace_transit_content(
            &ctx.account_id,
            message_id,
            MessageFlow::window_start(),
            &blob_key,
            Some(&message_key),
        )
        .await;
    let (unused, result) = match replaced {
        Ok(ContentReplacement::Replaced(previous)) => {
            (previous, Ok(PutRawMessageContentResponse {}))
        }
        Ok(ContentReplacement::Frozen) => (blob_key, Err(frozen(message_id).into())),
        Ok(ContentReplacement::NotFound) => (blob_key, Err(not_found(message_id).into())),
        Err(e) => (blob_key, Err(Failure::from(e))),
    };
    if let Err(e) = flow.store.blobs().delete(&unused).await {
        tracing::warn!(blob_key = unused, error = %e, "could not remove replaced in-transit content");
    }
    result
}

fn frozen(message_id: &str) -> ApiError {
    ApiError::new(
        codes::MESSAGE_FROZEN,
        format!(
            "Message {message_id} can no longer be updated: only a message held by a synchronous hook that has not answered yet can be."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_email_message_is_accepted_with_crlf_line_ends() {
        let python = b"From: a@example.com\nTo: b@corp.test\nDate: Sat, 21 Nov 2026 10:00:00 +0000\nSubject: New\n\nbody\n";
        let content = validate_message(python).unwrap();
        assert!(content.starts_with(b"From: a@example.com\r\nTo: b@corp.test\r\n"));
        assert!(!content.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
        let already = b"From: a@example.com\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\nx";
        assert_eq!(&validate_message(already).unwrap()[..], &already[..]);
    }

    #[test]
    fn malformed_messages_are_rejected_with_the_reason() {
        let date = "Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n";
        let long = format!("From: a@example.com\r\n{date}\r\n{}\r\n", "x".repeat(999));
        let cases: [(&[u8], &str); 6] = [
            (b"", "empty"),
            (b"this is not a message\r\nat all\r\n", "not a header field"),
            (b"\r\nbody only", "no header section"),
            (b"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\nx", "no From"),
            (b"From: a@example.com\r\n\r\nx", "no valid Date"),
            (long.as_bytes(), "at most 998"),
        ];
        for (content, reason) in cases {
            let err = validate_message(content).unwrap_err();
            assert!(err.contains(reason), "{reason}: {err}");
        }
    }
}
