//! The audit trail: one CloudTrail-shaped record per admin call.
//!
//! Spec: workmail.md §4.9 (CloudTrail records: `eventSource` `workmail.amazonaws.com`,
//! `workmailMessageFlow.amazonaws.com` for message flow; `requestParameters` and
//! `responseElements` as the call's input and output); PRODUCT.md "Conventions" (who, source
//! IP, operation, parameters without secrets, result or error code, request ID).

use carillon_core::{ApiError, RequestContext};
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::VerifiedCaller;

/// `eventVersion` of every record (CloudTrail's current record format).
pub const EVENT_VERSION: &str = "1.08";
/// What CloudTrail writes in place of a sensitive value.
pub const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// CloudTrail `userIdentity` of an IAM user calling with an access key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserIdentity {
    /// Always `IAMUser`.
    #[serde(rename = "type")]
    pub identity_type: String,
    /// Stable unique ID of the principal (`AIDA` + 17 characters, see [`principal_id`]).
    #[serde(rename = "principalId")]
    pub principal_id: String,
    /// Principal ARN.
    pub arn: String,
    /// Principal's account.
    #[serde(rename = "accountId")]
    pub account_id: String,
    /// Access key that signed the call.
    #[serde(rename = "accessKeyId")]
    pub access_key_id: String,
    /// IAM user name (last ARN path segment).
    #[serde(rename = "userName")]
    pub user_name: String,
}

impl UserIdentity {
    /// The identity of a verified caller.
    pub fn of(caller: &VerifiedCaller) -> Self {
        let user_name = caller
            .principal_arn
            .rsplit(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_string();
        UserIdentity {
            identity_type: "IAMUser".to_string(),
            principal_id: principal_id(&caller.principal_arn),
            arn: caller.principal_arn.clone(),
            account_id: caller.account_id.clone(),
            access_key_id: caller.access_key_id.clone(),
            user_name,
        }
    }
}

/// The principal ID CloudTrail shows for `principal_arn`: `AIDA` followed by 17 base-32
/// characters of its SHA-256, so it is stable without being stored.
pub fn principal_id(principal_arn: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(principal_arn.as_bytes());
    let tail: String = digest
        .iter()
        .take(17)
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect();
    format!("AIDA{tail}")
}

/// One audit record. [`AuditRecord::to_json`] (and `Serialize`) give the CloudTrail record
/// with the constant members (`eventVersion` `1.08`, `eventType` `AwsApiCall`,
/// `managementEvent`, `eventCategory`); `Deserialize` reads that form back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuditRecord {
    /// When the call was made, UTC, whole seconds.
    #[serde(rename = "eventTime")]
    pub event_time: DateTime<Utc>,
    /// `workmail.amazonaws.com`, `chime.amazonaws.com`, … (see [`event_source`]).
    #[serde(rename = "eventSource")]
    pub event_source: String,
    /// Operation name, e.g. `CreateUser`.
    #[serde(rename = "eventName")]
    pub event_name: String,
    /// Server region.
    #[serde(rename = "awsRegion")]
    pub aws_region: String,
    /// Caller's IP address.
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    /// Caller's `User-Agent`.
    #[serde(rename = "userAgent")]
    pub user_agent: String,
    /// Who called.
    #[serde(rename = "userIdentity")]
    pub user_identity: UserIdentity,
    /// The call's input; secrets are hidden by [`crate::Iam::record_audit`].
    #[serde(rename = "requestParameters")]
    pub request_parameters: Value,
    /// The call's output on success (`null` on error or when empty).
    #[serde(rename = "responseElements")]
    pub response_elements: Option<Value>,
    /// Error code on failure, e.g. `AccessDeniedException`.
    #[serde(rename = "errorCode", default)]
    pub error_code: Option<String>,
    /// Error message on failure.
    #[serde(rename = "errorMessage", default)]
    pub error_message: Option<String>,
    /// Request ID echoed to the caller.
    #[serde(rename = "requestID")]
    pub request_id: String,
    /// Unique ID of this record (UUID).
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// Whether the operation only reads.
    #[serde(rename = "readOnly")]
    pub read_only: bool,
    /// The account the call was made in (the tenant whose trail holds the record).
    #[serde(rename = "recipientAccountId")]
    pub recipient_account_id: String,
}

/// CloudTrail `eventSource` of a service by its SigV4 signing name: `<name>.amazonaws.com`,
/// with message flow spelled as the guide does (`workmailMessageFlow.amazonaws.com`).
pub fn event_source(signing_name: &str) -> String {
    match signing_name {
        "workmailmessageflow" => "workmailMessageFlow.amazonaws.com".to_string(),
        other => format!("{other}.amazonaws.com"),
    }
}

/// Whether `operation` only reads: the `Describe*`, `Get*`, `List*` and `Search*` families
/// (the read actions of workmail.md §5.1; the same prefixes in Chime and Wickr).
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "Get", "List", "Search"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
}

impl AuditRecord {
    /// The record of one admin call made now: `service` is the SigV4 signing name
    /// (`workmail`, `chime`, …), `operation` the model's operation name; an `error` fills
    /// `errorCode`/`errorMessage` and drops `responseElements`.
    #[allow(clippy::too_many_arguments)]
    pub fn for_call(
        ctx: &RequestContext,
        caller: &VerifiedCaller,
        service: &str,
        operation: &str,
        user_agent: &str,
        request_parameters: Value,
        response_elements: Option<Value>,
        error: Option<&ApiError>,
    ) -> AuditRecord {
        AuditRecord {
            event_time: Utc::now().trunc_subsecs(0),
            event_source: event_source(service),
            event_name: operation.to_string(),
            aws_region: ctx.region.clone(),
            source_ip_address: ctx.source_ip.clone(),
            user_agent: user_agent.to_string(),
            user_identity: UserIdentity::of(caller),
            request_parameters,
            response_elements: if error.is_some() {
                None
            } else {
                response_elements
            },
            error_code: error.map(|e| e.code.to_string()),
            error_message: error.map(|e| e.message.clone()),
            request_id: ctx.request_id.clone(),
            event_id: uuid::Uuid::new_v4().to_string(),
            read_only: is_read_only(operation),
            recipient_account_id: ctx.account_id.clone(),
        }
    }

    /// The CloudTrail record as JSON; `errorCode`/`errorMessage` only when set.
    pub fn to_json(&self) -> Value {
        let mut record = json!({
            "eventVersion": EVENT_VERSION,
            "userIdentity": self.user_identity,
            "eventTime": self.event_time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": self.event_source,
            "eventName": self.event_name,
            "awsRegion": self.aws_region,
            "sourceIPAddress": self.source_ip_address,
            "userAgent": self.user_agent,
            "requestParameters": self.request_parameters,
            "responseElements": self.response_elements,
            "requestID": self.request_id,
            "eventID": self.event_id,
            "readOnly": self.read_only,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": self.recipient_account_id,
            "eventCategory": "Management",
        });
        if let Some(code) = &self.error_code {
            record["errorCode"] = json!(code);
        }
        if let Some(message) = &self.error_message {
            record["errorMessage"] = json!(message);
        }
        record
    }

    /// This record with every secret-looking member hidden (see [`hide_secrets`]).
    pub fn redacted(&self) -> AuditRecord {
        let mut record = self.clone();
        hide_secrets(&mut record.request_parameters);
        if let Some(response) = &mut record.response_elements {
            hide_secrets(response);
        }
        record
    }
}

impl Serialize for AuditRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// Replaces, at any depth, the value of every member whose name contains `password`,
/// `secret` or `privatekey` (any case) with `HIDDEN_DUE_TO_SECURITY_REASONS`. A safety net:
/// callers should already leave the model's sensitive members out.
pub fn hide_secrets(value: &mut Value) {
    match value {
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                let lower = name.to_ascii_lowercase();
                if ["password", "secret", "privatekey"]
                    .iter()
                    .any(|s| lower.contains(s))
                {
                    *member = Value::String(HIDDEN.to_string());
                } else {
                    hide_secrets(member);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(hide_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> VerifiedCaller {
        VerifiedCaller {
            account_id: "123456789012".to_string(),
            principal_arn: "arn:aws:iam::123456789012:user/admin".to_string(),
            access_key_id: "AKIAEXAMPLEEXAMPLE12".to_string(),
            service: "workmail".to_string(),
            region: "us-east-1".to_string(),
        }
    }

    fn ctx() -> RequestContext {
        RequestContext {
            account_id: "123456789012".to_string(),
            principal_arn: "arn:aws:iam::123456789012:user/admin".to_string(),
            access_key_id: "AKIAEXAMPLEEXAMPLE12".to_string(),
            region: "us-east-1".to_string(),
            request_id: "req-1".to_string(),
            source_ip: "127.0.0.1".to_string(),
        }
    }

    #[test]
    fn record_has_the_cloudtrail_shape() {
        let record = AuditRecord::for_call(
            &ctx(),
            &caller(),
            "workmail",
            "CreateUser",
            "aws-cli/2.17",
            json!({"name": "alice", "displayName": "Alice", "organizationId": "m-1"}),
            Some(json!({"userId": "u-1"})),
            None,
        );
        let json = record.to_json();
        assert_eq!(json["eventVersion"], "1.08");
        assert_eq!(json["eventSource"], "workmail.amazonaws.com");
        assert_eq!(json["eventName"], "CreateUser");
        assert_eq!(json["eventType"], "AwsApiCall");
        assert_eq!(json["readOnly"], false);
        assert_eq!(json["userIdentity"]["type"], "IAMUser");
        assert_eq!(json["userIdentity"]["userName"], "admin");
        assert_eq!(json["userIdentity"]["accessKeyId"], "AKIAEXAMPLEEXAMPLE12");
        assert_eq!(json["responseElements"]["userId"], "u-1");
        assert_eq!(json["recipientAccountId"], "123456789012");
        assert!(json.get("errorCode").is_none());
        let time = json["eventTime"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.len() == 20, "{time}");
        let back: AuditRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn errors_replace_response_elements() {
        let err = ApiError::new("AccessDeniedException", "User: x is not authorized");
        let record = AuditRecord::for_call(
            &ctx(),
            &caller(),
            "workmailmessageflow",
            "GetRawMessageContent",
            "boto3",
            json!({"messageId": "m"}),
            Some(json!({"ignored": true})),
            Some(&err),
        );
        let json = record.to_json();
        assert_eq!(json["eventSource"], "workmailMessageFlow.amazonaws.com");
        assert_eq!(json["readOnly"], true);
        assert_eq!(json["errorCode"], "AccessDeniedException");
        assert!(json["responseElements"].is_null());
    }

    #[test]
    fn secrets_are_hidden_at_any_depth() {
        let mut value = json!({
            "Name": "alice",
            "Password": "hunter2",
            "Nested": [{"SecretAccessKey": "abc", "ok": 1}],
            "NextToken": "t"
        });
        hide_secrets(&mut value);
        assert_eq!(value["Password"], HIDDEN);
        assert_eq!(value["Nested"][0]["SecretAccessKey"], HIDDEN);
        assert_eq!(value["Nested"][0]["ok"], 1);
        assert_eq!(value["Name"], "alice");
        assert_eq!(value["NextToken"], "t");
        assert_eq!(principal_id("arn:aws:iam::1:user/a").len(), 21);
        assert_ne!(
            principal_id("arn:aws:iam::1:user/a"),
            principal_id("arn:aws:iam::1:user/b")
        );
    }
}
