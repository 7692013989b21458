//! Flow-rule hooks, Carillon's stand-in for the original's Run Lambda action: the event a hook
//! receives, how it is signed, the HTTPS client that posts it, and the synchronous answer's
//! schema. Spec: workmail.md §2.10, §4.5, §6 ("Sync Lambda", "Lambda event").
//!
//! **Request.** `POST <endpoint>` over HTTPS with `Content-Type: application/json` and the
//! exact §4.5 event as body:
//!
//! ```json
//! { "summaryVersion": "2018-10-10",
//!   "envelope": { "mailFrom": { "address": "from@example.com" },
//!                 "recipients": [ { "address": "to@corp.example" } ] },
//!   "sender": { "address": "boss@example.com" },
//!   "subject": "Hello", "messageId": "<uuid>", "invocationId": "<32 hex>",
//!   "flowDirection": "INBOUND", "truncated": false }
//! ```
//!
//! `sender` is present only when the message's `From` address differs from the envelope
//! sender (sent on behalf of someone); `subject` is cut to 256 characters; when the event
//! would exceed 128 KB, recipients are dropped from the end until it fits and `truncated`
//! is true. `invocationId` is the same for every retry of one invocation (de-duplicate on it).
//!
//! **Signature.** Each request carries the headers
//! - [`TIMESTAMP_HEADER`] `X-Carillon-Timestamp`: seconds since the Unix epoch, decimal;
//! - [`SIGNATURE_HEADER`] `X-Carillon-Signature`: `v1=` followed by the lower-case hex
//!   HMAC-SHA256, keyed with the organization's hook secret (the UTF-8 bytes of the 64-hex
//!   string the `GetFlowHookSecret` admin operation returns), of the timestamp, a `.`, and
//!   the exact request body bytes.
//!
//! A hook verifies the signature and rejects stale timestamps (e.g. older than 5 minutes).
//!
//! **Synchronous answer** (HTTP 2xx within 15 s, body at most 256 KB):
//! `{"actions": [{"action": {"type": "BOUNCE", "parameters": {"bounceMessage": "…"}},
//! "recipients": ["…"], "allRecipients": false}]}` — see [`parse_response`] and
//! [`apply_response`]. Anything else (timeout, other status, oversize or malformed body) is a
//! failed invocation.

use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

use super::rules::{FlowAction, FlowDirection};
use crate::https::HttpsError;

/// `summaryVersion` of the event (§4.5).
pub const SUMMARY_VERSION: &str = "2018-10-10";
/// How long a synchronous hook has to answer (§2.10: 15 s).
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest synchronous answer accepted, in bytes (§2.10: 256 KB).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Most actions of an answer applied; recipients of further ones get the fallback (§2.10).
pub const MAX_ACTIONS: usize = 10;
/// Longest `subject` of the event, in characters (§4.5).
pub const MAX_SUBJECT_CHARS: usize = 256;
/// Largest event, in bytes; beyond it the recipient list is cut (§4.5: 128 KB).
pub const MAX_EVENT_BYTES: usize = 128 * 1024;
/// Header carrying the signature timestamp (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "X-Carillon-Timestamp";
/// Header carrying `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub const SIGNATURE_HEADER: &str = "X-Carillon-Signature";

/// Why a hook invocation failed (each is a failure to retry, §2.10).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HookError {
    /// The hook did not answer within [`SYNC_TIMEOUT`].
    #[error("the hook did not answer within {} s", SYNC_TIMEOUT.as_secs())]
    Timeout,
    /// Connection, TLS or HTTP failure.
    #[error("hook request failed: {0}")]
    Transport(String),
    /// The hook answered with a non-2xx status.
    #[error("the hook answered HTTP {0}")]
    Status(u16),
    /// The answer exceeded [`MAX_RESPONSE_BYTES`].
    #[error("the hook's answer exceeds {MAX_RESPONSE_BYTES} bytes")]
    Oversize,
    /// The answer does not follow the §4.5 schema.
    #[error("malformed hook answer: {0}")]
    Malformed(String),
}

/// The message facts an event is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInput<'a> {
    /// Inbound or outbound.
    pub direction: FlowDirection,
    /// Envelope MAIL FROM (empty for `<>`).
    pub mail_from: &'a str,
    /// The recipients the hook decides for (inbound: the organization's only).
    pub recipients: &'a [String],
    /// The raw message (only its headers are read).
    pub message: &'a [u8],
    /// The message-flow API key.
    pub message_id: &'a str,
    /// 32 hex digits, stable across retries.
    pub invocation_id: &'a str,
}

#[derive(Serialize)]
struct Address<'a> {
    address: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    mail_from: Address<'a>,
    recipients: Vec<Address<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    summary_version: &'static str,
    envelope: Envelope<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender: Option<Address<'a>>,
    subject: String,
    message_id: &'a str,
    invocation_id: &'a str,
    flow_direction: &'static str,
    truncated: bool,
}

/// `INBOUND` or `OUTBOUND`.
pub fn direction_name(direction: FlowDirection) -> &'static str {
    match direction {
        FlowDirection::Inbound => "INBOUND",
        FlowDirection::Outbound => "OUTBOUND",
    }
}

/// The §4.5 event JSON for `input`, at most [`MAX_EVENT_BYTES`] long unless even an empty
/// recipient list does not fit (never, given the 256-character subject).
pub fn build_event(input: &EventInput<'_>) -> Vec<u8> {
    let parsed = mail_parser::MessageParser::default().parse_headers(input.message);
    let subject: String = parsed
        .as_ref()
        .and_then(|m| m.subject())
        .unwrap_or_default()
        .chars()
        .take(MAX_SUBJECT_CHARS)
        .collect();
    let from = parsed
        .as_ref()
        .and_then(|m| m.from())
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .map(str::to_string);
    let sender = from
        .as_deref()
        .filter(|f| !f.eq_ignore_ascii_case(input.mail_from))
        .map(|address| Address { address });
    let mut event = Event {
        summary_version: SUMMARY_VERSION,
        envelope: Envelope {
            mail_from: Address {
                address: input.mail_from,
            },
            recipients: input
                .recipients
                .iter()
                .map(|r| Address { address: r })
                .collect(),
        },
        sender,
        subject,
        message_id: input.message_id,
        invocation_id: input.invocation_id,
        flow_direction: direction_name(input.direction),
        truncated: false,
    };
    let mut json = serde_json::to_vec(&event).expect("the event serializes");
    if json.len() <= MAX_EVENT_BYTES {
        return json;
    }
    event.truncated = true;
    // Each recipient costs its JSON length plus a comma; drop from the end until it fits.
    let mut size = serde_json::to_vec(&event)
        .expect("the event serializes")
        .len();
    while size > MAX_EVENT_BYTES {
        let Some(last) = event.envelope.recipients.pop() else {
            break;
        };
        let cost = serde_json::to_vec(&last)
            .expect("an address serializes")
            .len()
            + usize::from(!event.envelope.recipients.is_empty());
        size -= cost;
    }
    json = serde_json::to_vec(&event).expect("the event serializes");
    json
}

/// `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`, the [`SIGNATURE_HEADER`] value.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A new hook signing secret: 32 random bytes as 64 lower-case hex digits.
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// One applicable action of a synchronous answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseAction {
    /// The final action.
    pub action: FlowAction,
    /// Recipients it names (lower-case), in order.
    pub recipients: Vec<String>,
    /// Whether it applies to every recipient no other action names.
    pub all_recipients: bool,
}

/// A validated synchronous answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookResponse {
    /// The first [`MAX_ACTIONS`] actions.
    pub actions: Vec<ResponseAction>,
    /// Recipients named only by actions beyond the tenth: they get the fallback.
    pub overflow: Vec<String>,
}

fn malformed(why: impl Into<String>) -> HookError {
    HookError::Malformed(why.into())
}

/// Parses and validates a synchronous answer (§4.5): a JSON object whose `actions` is a list
/// of `{action: {type, parameters?}, recipients?, allRecipients?}`; `type` one of `BOUNCE`,
/// `DROP`, `DEFAULT`, and inbound also `BYPASS_SPAM_CHECK`, `MOVE_TO_JUNK`; `parameters`
/// only for `BOUNCE` (`bounceMessage`, a string); `recipients` a list of addresses, needed
/// unless `allRecipients` is true. Actions beyond [`MAX_ACTIONS`] are not applied: their
/// recipients are returned in `overflow`. An empty body or `{}` has no actions.
///
/// Errors: `Oversize` over [`MAX_RESPONSE_BYTES`]; `Malformed` with the first violation.
pub fn parse_response(body: &[u8], direction: FlowDirection) -> Result<HookResponse, HookError> {
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(HookError::Oversize);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(HookResponse {
            actions: Vec::new(),
            overflow: Vec::new(),
        });
    }
    let json: Value =
        serde_json::from_slice(body).map_err(|e| malformed(format!("not JSON: {e}")))?;
    let object = json
        .as_object()
        .ok_or_else(|| malformed("the answer is not a JSON object"))?;
    let actions = match object.get("actions") {
        None | Some(Value::Null) => {
            return Ok(HookResponse {
                actions: Vec::new(),
                overflow: Vec::new(),
            })
        }
        Some(Value::Array(actions)) => actions,
        Some(_) => return Err(malformed("actions is not a list")),
    };
    let mut parsed = Vec::new();
    let mut overflow = Vec::new();
    for (i, entry) in actions.iter().enumerate() {
        let action =
            parse_action(entry, direction).map_err(|e| malformed(format!("actions[{i}]: {e}")))?;
        if i < MAX_ACTIONS {
            parsed.push(action);
        } else {
            overflow.extend(action.recipients);
        }
    }
    Ok(HookResponse {
        actions: parsed,
        overflow,
    })
}

fn parse_action(entry: &Value, direction: FlowDirection) -> Result<ResponseAction, String> {
    let entry = entry.as_object().ok_or("not an object")?;
    let action = entry
        .get("action")
        .and_then(Value::as_object)
        .ok_or("action is missing or not an object")?;
    let kind = action
        .get("type")
        .and_then(Value::as_str)
        .ok_or("action.type is missing or not a string")?;
    let parameters = match action.get("parameters") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => Some(p),
        Some(_) => return Err("action.parameters is not an object".to_string()),
    };
    if kind != "BOUNCE" && parameters.is_some_and(|p| !p.is_empty()) {
        return Err(format!(
            "action.parameters is only allowed for BOUNCE, not {kind}"
        ));
    }
    let inbound = direction == FlowDirection::Inbound;
    let action = match kind {
        "BOUNCE" => {
            let message = match parameters.and_then(|p| p.get("bounceMessage")) {
                None | Some(Value::Null) => None,
                Some(Value::String(m)) => Some(m.clone()),
                Some(_) => return Err("parameters.bounceMessage is not a string".to_string()),
            };
            FlowAction::Bounce { message }
        }
        "DROP" => FlowAction::Drop,
        "DEFAULT" => FlowAction::Default,
        "BYPASS_SPAM_CHECK" if inbound => FlowAction::BypassSpamCheck,
        "MOVE_TO_JUNK" if inbound => FlowAction::MoveToJunk,
        other => {
            return Err(format!(
                "action.type {other:?} is not one of the {} action types",
                direction_name(direction)
            ))
        }
    };
    let all_recipients = match entry.get("allRecipients") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("allRecipients is not a boolean".to_string()),
    };
    let recipients = match entry.get("recipients") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|r| {
                r.as_str()
                    .filter(|a| a.contains('@') && !a.trim().is_empty())
                    .map(|a| a.trim().to_lowercase())
                    .ok_or_else(|| "recipients holds something other than an address".to_string())
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("recipients is not a list".to_string()),
    };
    if recipients.is_empty() && !all_recipients {
        return Err("recipients is required unless allRecipients is true".to_string());
    }
    Ok(ResponseAction {
        action,
        recipients,
        all_recipients,
    })
}

/// Recipients with their final actions, in order.
pub type RecipientActions = Vec<(String, FlowAction)>;

/// The final action of every recipient after a synchronous answer (§4.5, §2.10): a recipient
/// named by an action gets the first such action; otherwise the first `allRecipients`
/// action; otherwise `fallback` (so do recipients only named beyond the tenth action).
/// Returns the original recipients in order, then the addresses the answer added (not in
/// `recipients`, case-insensitively), each with its action; the caller decides which added
/// addresses are allowed (inbound: inside the organization, delivered as BCC).
pub fn apply_response(
    response: &HookResponse,
    recipients: &[String],
    fallback: &FlowAction,
) -> (RecipientActions, RecipientActions) {
    let named = |address: &str| {
        response
            .actions
            .iter()
            .find(|a| a.recipients.iter().any(|r| r.eq_ignore_ascii_case(address)))
            .map(|a| a.action.clone())
    };
    let all = response
        .actions
        .iter()
        .find(|a| a.all_recipients)
        .map(|a| a.action.clone());
    let original = recipients
        .iter()
        .map(|r| {
            let action = named(r)
                .or_else(|| {
                    let overflowed = response.overflow.iter().any(|o| o.eq_ignore_ascii_case(r));
                    (!overflowed).then(|| all.clone()).flatten()
                })
                .unwrap_or_else(|| fallback.clone());
            (r.clone(), action)
        })
        .collect();
    let mut added: RecipientActions = Vec::new();
    for action in &response.actions {
        for r in &action.recipients {
            let known = recipients.iter().any(|o| o.eq_ignore_ascii_case(r))
                || added.iter().any(|(a, _)| a == r);
            if !known {
                added.push((r.clone(), action.action.clone()));
            }
        }
    }
    (original, added)
}

/// The HTTPS client hooks are invoked with: the platform's trusted roots plus an optional
/// extra CA bundle (`--trusted-ca-file`), TLS 1.2 or later, no redirects. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HookClient {
    http: reqwest::Client,
}

impl HookClient {
    /// A client trusting the system roots and every certificate of the PEM bundle
    /// `extra_ca_pem` (when given), through [`crate::https::client_config`].
    ///
    /// Errors: `CaBundle` when the bundle is unreadable or empty; `Client` otherwise.
    pub fn new(extra_ca_pem: Option<&[u8]>) -> Result<HookClient, HttpsError> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(crate::https::client_config(extra_ca_pem)?)
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(SYNC_TIMEOUT)
            .build()
            .map_err(|e| HttpsError::Client(e.to_string()))?;
        Ok(HookClient { http })
    }

    /// Posts `event` to `endpoint`, signed with `secret` at the current time, and returns the
    /// answer's body (at most [`MAX_RESPONSE_BYTES`]). The whole exchange is bounded by
    /// [`SYNC_TIMEOUT`].
    ///
    /// Errors: `Timeout`, `Transport` (also for a non-HTTPS endpoint), `Status` for a
    /// non-2xx answer, `Oversize`.
    pub async fn invoke(
        &self,
        endpoint: &str,
        secret: &str,
        event: &[u8],
    ) -> Result<Bytes, HookError> {
        let timestamp = chrono::Utc::now().timestamp();
        let exchange = async {
            let mut response = self
                .http
                .post(endpoint)
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(SIGNATURE_HEADER, sign(secret, timestamp, event))
                .body(event.to_vec())
                .send()
                .await
                .map_err(transport)?;
            let status = response.status();
            if !status.is_success() {
                return Err(HookError::Status(status.as_u16()));
            }
            if response
                .content_length()
                .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
            {
                return Err(HookError::Oversize);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(HookError::Oversize);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Bytes::from(body))
        };
        match tokio::time::timeout(SYNC_TIMEOUT, exchange).await {
            Ok(result) => result,
            Err(_) => Err(HookError::Timeout),
        }
    }
}

fn transport(e: reqwest::Error) -> HookError {
    if e.is_timeout() {
        HookError::Timeout
    } else {
        HookError::Transport(error_chain(&e))
    }
}

/// The error and its sources, `: `-separated (reqwest's own message hides the TLS cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(recipients: &'a [String], message: &'a [u8]) -> EventInput<'a> {
        EventInput {
            direction: FlowDirection::Inbound,
            mail_from: "from@example.com",
            recipients,
            message,
            message_id: "d1234567-8e90-1f23-4567-abcdef012345",
            invocation_id: "0123456789abcdef0123456789abcdef",
        }
    }

    #[test]
    fn event_has_the_exact_shape_of_the_guide() {
        let recipients = vec!["a@corp.test".to_string(), "b@corp.test".to_string()];
        let message = b"From: from@example.com\r\nSubject: Hello From Carillon!\r\n\r\nbody";
        let event: Value =
            serde_json::from_slice(&build_event(&input(&recipients, message))).unwrap();
        assert_eq!(
            event,
            serde_json::json!({
                "summaryVersion": "2018-10-10",
                "envelope": {
                    "mailFrom": {"address": "from@example.com"},
                    "recipients": [{"address": "a@corp.test"}, {"address": "b@corp.test"}]
                },
                "subject": "Hello From Carillon!",
                "messageId": "d1234567-8e90-1f23-4567-abcdef012345",
                "invocationId": "0123456789abcdef0123456789abcdef",
                "flowDirection": "INBOUND",
                "truncated": false
            })
        );
    }

    #[test]
    fn sender_only_on_behalf_and_subject_cut_at_256_characters() {
        let recipients = vec!["a@corp.test".to_string()];
        let subject = "é".repeat(300);
        let message = format!("From: Boss <boss@example.com>\r\nSubject: {subject}\r\n\r\nx");
        let mut event_input = input(&recipients, message.as_bytes());
        event_input.direction = FlowDirection::Outbound;
        let event: Value = serde_json::from_slice(&build_event(&event_input)).unwrap();
        assert_eq!(event["sender"]["address"], "boss@example.com");
        assert_eq!(event["flowDirection"], "OUTBOUND");
        assert_eq!(event["subject"].as_str().unwrap().chars().count(), 256);
    }

    #[test]
    fn oversize_event_cuts_the_recipient_list_to_fit() {
        let recipients: Vec<String> = (0..5000)
            .map(|i| format!("recipient-number-{i:05}@corp.test"))
            .collect();
        let json = build_event(&input(&recipients, b"Subject: x\r\n\r\n"));
        assert!(json.len() <= MAX_EVENT_BYTES);
        let event: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(event["truncated"], true);
        let kept = event["envelope"]["recipients"].as_array().unwrap();
        assert!(kept.len() > 2000 && kept.len() < 5000, "{}", kept.len());
        assert_eq!(kept[0]["address"], "recipient-number-00000@corp.test");
        // One more recipient would not have fitted.
        let mut more: Value = event.clone();
        more["envelope"]["recipients"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"address": recipients[kept.len()]}));
        assert!(serde_json::to_vec(&more).unwrap().len() > MAX_EVENT_BYTES);
    }

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Reference value: python3 -c 'import hmac,hashlib;
        // print(hmac.new(b"secret", b"1700000000.{}", hashlib.sha256).hexdigest())'
        assert_eq!(
            sign("secret", 1_700_000_000, b"{}"),
            "v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(
            sign("secret", 1_700_000_001, b"{}"),
            sign("secret", 1_700_000_000, b"{}")
        );
        assert_eq!(new_secret().len(), 64);
    }

    #[test]
    fn answer_actions_apply_per_recipient() {
        let body = br#"{"actions": [
            {"action": {"type": "DEFAULT"}, "allRecipients": true},
            {"action": {"type": "DROP"}, "recipients": ["Drop-Recipient@corp.test"]},
            {"action": {"type": "BOUNCE", "parameters": {"bounceMessage": "Policy."}},
             "recipients": ["b@corp.test"]},
            {"action": {"type": "DEFAULT"}, "recipients": ["new@corp.test"]}
        ]}"#;
        let response = parse_response(body, FlowDirection::Inbound).unwrap();
        let recipients = vec![
            "a@corp.test".to_string(),
            "b@corp.test".to_string(),
            "drop-recipient@corp.test".to_string(),
        ];
        let (original, added) = apply_response(&response, &recipients, &FlowAction::Drop);
        assert_eq!(
            original,
            vec![
                ("a@corp.test".to_string(), FlowAction::Default),
                (
                    "b@corp.test".to_string(),
                    FlowAction::Bounce {
                        message: Some("Policy.".to_string())
                    }
                ),
                ("drop-recipient@corp.test".to_string(), FlowAction::Drop),
            ]
        );
        assert_eq!(
            added,
            vec![("new@corp.test".to_string(), FlowAction::Default)]
        );
    }

    #[test]
    fn recipients_left_out_get_the_fallback_without_all_recipients() {
        let body = br#"{"actions": [{"action": {"type": "MOVE_TO_JUNK"}, "recipients": ["a@corp.test"]}]}"#;
        let response = parse_response(body, FlowDirection::Inbound).unwrap();
        let recipients = vec!["a@corp.test".to_string(), "b@corp.test".to_string()];
        let fallback = FlowAction::Bounce { message: None };
        let (original, added) = apply_response(&response, &recipients, &fallback);
        assert_eq!(original[0].1, FlowAction::MoveToJunk);
        assert_eq!(original[1].1, fallback);
        assert!(added.is_empty());
        let empty = parse_response(b"", FlowDirection::Inbound).unwrap();
        let (original, _) = apply_response(&empty, &recipients, &FlowAction::Default);
        assert!(original.iter().all(|(_, a)| *a == FlowAction::Default));
    }

    #[test]
    fn actions_beyond_ten_get_the_fallback() {
        let actions: Vec<Value> = (0..12)
            .map(|i| {
                serde_json::json!({"action": {"type": "DEFAULT"}, "recipients": [format!("r{i}@corp.test")]})
            })
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({ "actions": actions })).unwrap();
        let response = parse_response(&body, FlowDirection::Outbound).unwrap();
        assert_eq!(response.actions.len(), MAX_ACTIONS);
        let recipients: Vec<String> = (0..12).map(|i| format!("r{i}@corp.test")).collect();
        let (original, _) = apply_response(&response, &recipients, &FlowAction::Drop);
        assert_eq!(original[9].1, FlowAction::Default);
        assert_eq!(original[10].1, FlowAction::Drop);
        assert_eq!(original[11].1, FlowAction::Drop);
    }

    #[test]
    fn oversize_and_malformed_answers_are_failures() {
        let big = vec![b' '; MAX_RESPONSE_BYTES + 1];
        assert_eq!(
            parse_response(&big, FlowDirection::Inbound),
            Err(HookError::Oversize)
        );
        for body in [
            &b"not json"[..],
            b"[]",
            br#"{"actions": {}}"#,
            br#"{"actions": [{"action": {"type": "EXPLODE"}, "allRecipients": true}]}"#,
            br#"{"actions": [{"action": {"type": "DEFAULT"}}]}"#,
            br#"{"actions": [{"action": {"type": "DROP", "parameters": {"x": 1}}, "allRecipients": true}]}"#,
            br#"{"actions": [{"action": {"type": "BOUNCE", "parameters": {"bounceMessage": 5}}, "allRecipients": true}]}"#,
            br#"{"actions": [{"action": {"type": "DEFAULT"}, "recipients": [3]}]}"#,
        ] {
            assert!(
                matches!(parse_response(body, FlowDirection::Inbound), Err(HookError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let junk = br#"{"actions": [{"action": {"type": "MOVE_TO_JUNK"}, "allRecipients": true}]}"#;
        assert!(parse_response(junk, FlowDirection::Inbound).is_ok());
        assert!(
            matches!(
                parse_response(junk, FlowDirection::Outbound),
                Err(HookError::Malformed(_))
            ),
            "inbound-only types are refused outbound"
        );
    }
}
