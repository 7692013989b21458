//! The email event log (workmail.md §4.1): one JSON record per event, for organizations whose
//! email monitoring is on (PutEmailMonitoringConfiguration), appended as one line to a
//! JSON-lines file standing in for the CloudWatch Logs log group.
//!
//! A record is `{"eventName", "traceId", "organizationArn", "timestamp", …the event's fields}`;
//! `traceId` is one ID per message (the message blob's UUID), the same on every event of the
//! message, so a message can be traced from `OUTGOING_EMAIL_SUBMITTED` to
//! `OUTGOING_EMAIL_SENT`; `timestamp` is epoch milliseconds.
//!
//! Log group to file: the log group name of the configured `LogGroupArn` without its
//! `/aws/workmail/` prefix names a file under `<data-dir>/logs/`, so the default log group
//! `/aws/workmail/emailevents/<organization-alias>` is
//! `<data-dir>/logs/emailevents/<organization-alias>.jsonl`; another name `/team/mail` is
//! `<data-dir>/logs/team/mail.jsonl`.
//!
//! The log never holds up mail: without an installed sink (see [`install`]) or when a write
//! fails, the event is dropped (a warning is traced).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use carillon_store::Store;
use serde::Serialize;

/// Prefix of WorkMail's own log group names, dropped from the file path.
const WORKMAIL_LOG_GROUP_PREFIX: &str = "/aws/workmail/";

/// A recipient WorkMail refused or could not deliver to (`bouncedRecipient`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BouncedRecipient {
    /// The recipient address.
    pub email_address: String,
    /// Why, in words (the SMTP reply or diagnostic text).
    pub reason: String,
    /// The enhanced status code (RFC 3463), e.g. `5.1.1`.
    pub status: String,
}

/// One email event with the guide's fields (workmail.md §4.1). Optional fields are left out
/// of the record when `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "eventName",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum EmailEvent {
    /// Once per message received by the organization, whatever its number of recipients.
    OrganizationEmailReceived {
        /// The organization's envelope recipients of the message.
        recipients: Vec<String>,
        /// The envelope sender (MAIL FROM).
        sender: String,
        /// The `From` header address.
        from: String,
        /// The `Subject` header.
        subject: String,
        /// The `Message-ID` header.
        message_id: String,
        /// SPF verdict (`PASS`, `FAIL`, `GRAY`, `PROCESSING_FAILED`) of inbound mail.
        #[serde(skip_serializing_if = "Option::is_none")]
        spf_verdict: Option<String>,
        /// DKIM verdict of inbound mail, as `spfVerdict`.
        #[serde(skip_serializing_if = "Option::is_none")]
        dkim_verdict: Option<String>,
        /// DMARC verdict of inbound mail, as `spfVerdict`.
        #[serde(skip_serializing_if = "Option::is_none")]
        dmarc_verdict: Option<String>,
        /// The sender domain's policy (`none`, `quarantine`, `reject`), only when DMARC failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        dmarc_policy: Option<String>,
        /// When the message arrived, epoch milliseconds.
        message_timestamp: i64,
    },
    /// Once per mailbox delivered to.
    MailboxEmailDelivered {
        /// The envelope recipient that reached the mailbox.
        recipient: String,
        /// The folder the copy went to (`INBOX`, `Junk E-mail`).
        folder: String,
    },
    /// A journal record was created for the message.
    JournalingInitiated {
        /// The organization's journaling address.
        journaling_address: String,
    },
    /// Once per inbound recipient refused.
    IncomingEmailBounced {
        /// The refused recipient.
        bounced_recipient: BouncedRecipient,
    },
    /// A user submitted the message, before it leaves the organization.
    OutgoingEmailSubmitted {
        /// All envelope recipients (To, CC and BCC).
        recipients: Vec<String>,
        /// The envelope sender (MAIL FROM).
        sender: String,
        /// The `From` header address.
        from: String,
        /// The `Subject` header.
        subject: String,
    },
    /// Once per outbound recipient a remote server accepted.
    OutgoingEmailSent {
        /// The recipient.
        recipient: String,
        /// The envelope sender.
        sender: String,
        /// The `From` header address.
        from: String,
        /// The `Message-ID` header.
        message_id: String,
    },
    /// Once per outbound recipient given up on.
    OutgoingEmailBounced {
        /// The bounced recipient.
        bounced_recipient: BouncedRecipient,
        /// The recipient address (queried as `event.destination`).
        destination: String,
        /// Why (queried as `event.reason`).
        reason: String,
    },
    /// An email flow rule (or its hook's answer) decided the action of some recipients
    /// (workmail.md §2.9), once per rule and message.
    RuleApplied {
        /// The rule's name.
        rule_name: String,
        /// `INBOUND_RULE` or `OUTBOUND_RULE`.
        rule_type: String,
        /// Per action taken, the recipients it was taken for.
        rule_actions: Vec<RuleAction>,
    },
    /// A failed DMARC check's policy was applied to the message (enforcing organizations).
    DmarcPolicyApplied {
        /// The `From` header address.
        from: String,
        /// The organization's recipients it was applied to.
        recipients: Vec<String>,
        /// `quarantine` or `reject`.
        policy: String,
    },
}

/// One action of a `RULE_APPLIED` event and the recipients it applied to
/// (`ruleActions.0.action`, `ruleActions.0.recipients.0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleAction {
    /// The action (`DROP`, `BOUNCE`, `MOVE_TO_JUNK`, `DEFAULT`, `BYPASS_SPAM_CHECK`,
    /// `ROUTE_TO_GATEWAY`).
    pub action: String,
    /// The recipients.
    pub recipients: Vec<String>,
}

/// The record written for `event`: the event's fields plus `traceId`, `organizationArn` and
/// `timestamp` (epoch milliseconds).
pub fn record(
    event: &EmailEvent,
    trace_id: &str,
    organization_arn: &str,
    timestamp: i64,
) -> serde_json::Value {
    let mut value = serde_json::to_value(event).expect("events serialize");
    if let Some(object) = value.as_object_mut() {
        object.insert("traceId".into(), trace_id.into());
        object.insert("organizationArn".into(), organization_arn.into());
        object.insert("timestamp".into(), timestamp.into());
    }
    value
}

/// The file under the logs directory that stands for the log group of `log_group_arn`
/// (`arn:aws:logs:<region>:<account>:log-group:<name>:*`): `<name>` without the
/// `/aws/workmail/` prefix, plus `.jsonl`. `None` when the ARN names no log group or the name
/// has an empty, `.` or `..` component (it would leave the logs directory).
pub fn log_file(log_group_arn: &str) -> Option<PathBuf> {
    let name = log_group_arn
        .split_once(":log-group:")?
        .1
        .strip_suffix(":*")?;
    let name = name.strip_prefix(WORKMAIL_LOG_GROUP_PREFIX).unwrap_or(name);
    let mut path = PathBuf::new();
    for component in name.trim_start_matches('/').split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return None;
        }
        path.push(component);
    }
    let mut file = path.into_os_string();
    file.push(".jsonl");
    Some(PathBuf::from(file))
}

/// Where records go: the logs directory and the region of the organization ARNs.
#[derive(Debug)]
struct Sink {
    logs_dir: PathBuf,
    region: String,
    // Serializes appends so lines of concurrent deliveries never interleave.
    write: Mutex<()>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Installs the process-wide sink: records go under `<data_dir>/logs/`, organization ARNs
/// name `region`. The first call wins; until then events are dropped.
pub fn install(data_dir: &Path, region: &str) {
    let _ = SINK.set(Sink {
        logs_dir: data_dir.join("logs"),
        region: region.to_string(),
        write: Mutex::new(()),
    });
}

/// Emits `event` of the message `trace_id` for `organization_id`, when the sink is installed
/// and the organization's email monitoring is on. Failures are traced, never returned.
pub async fn emit(store: &Store, organization_id: &str, trace_id: &str, event: EmailEvent) {
    let Some(sink) = SINK.get() else {
        return;
    };
    let config = match store.email_monitoring(organization_id).await {
        Ok(Some(config)) => config,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(organization_id, error = %e, "email event dropped");
            return;
        }
    };
    let Some(file) = log_file(&config.log_group_arn) else {
        tracing::warn!(organization_id, "email event dropped: unusable log group");
        return;
    };
    let arn = format!(
        "arn:aws:workmail:{}:{}:organization/{organization_id}",
        sink.region, config.account_id
    );
    let record = record(&event, trace_id, &arn, carillon_core::time::now_millis());
    let path = sink.logs_dir.join(file);
    let mut line = record.to_string();
    line.push('\n');
    let result = {
        let _guard = sink.write.lock().unwrap_or_else(|e| e.into_inner());
        append(&path, line.as_bytes())
    };
    if let Err(e) = result {
        tracing::warn!(organization_id, file = %path.display(), error = %e, "email event dropped");
    }
}

/// Appends `data` (whole lines) to the JSON-lines file `path`, creating it and its directory
/// as needed. Also the file sink of [`crate::audit`].
pub(crate) fn append(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(data)
}

/// The header facts of a message the events report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageHeaders {
    /// The first `From` address (lower-case); empty when absent.
    pub from: String,
    /// The decoded `Subject`; empty when absent.
    pub subject: String,
    /// The `Message-ID` in angle brackets; empty when absent.
    pub message_id: String,
    authentication_results: Option<String>,
}

impl MessageHeaders {
    /// Parses the header section of `message` (the body is not read).
    pub fn parse(message: &[u8]) -> MessageHeaders {
        let end = message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(message.len(), |i| i + 4);
        let Some(parsed) = mail_parser::MessageParser::default().parse(&message[..end]) else {
            return MessageHeaders::default();
        };
        MessageHeaders {
            from: parsed
                .from()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(str::to_lowercase)
                .unwrap_or_default(),
            subject: parsed.subject().unwrap_or_default().to_string(),
            message_id: parsed
                .message_id()
                .map(|id| format!("<{id}>"))
                .unwrap_or_default(),
            authentication_results: first_field(&message[..end], "Authentication-Results"),
        }
    }

    /// The verdict of `method` (`spf`, `dkim`, `dmarc`) in the topmost
    /// `Authentication-Results` field (Carillon's own on inbound mail, RFC 8601), in SES
    /// terms: `PASS`; `FAIL` (fail, softfail); `GRAY` (none, neutral, policy);
    /// `PROCESSING_FAILED` (temperror, permerror). `None` without such a result.
    pub fn verdict(&self, method: &str) -> Option<String> {
        let results = self.authentication_results.as_deref()?;
        let prefix = format!("{method}=");
        let result = results
            .split(|c: char| c == ';' || c.is_whitespace())
            .find_map(|token| token.trim().strip_prefix(&prefix))?;
        Some(
            match result.to_ascii_lowercase().as_str() {
                "pass" => "PASS",
                "fail" | "softfail" | "hardfail" => "FAIL",
                "temperror" | "permerror" => "PROCESSING_FAILED",
                _ => "GRAY",
            }
            .to_string(),
        )
    }
}

/// The unfolded value of the first (topmost) header field `name` in `header` (RFC 5322
/// §2.2.3: continuation lines start with white space).
fn first_field(header: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let first = lines.find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field
            .trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.to_string())
    })?;
    let continuation = lines.take_while(|l| l.starts_with([' ', '\t']));
    Some(continuation.fold(first, |acc, l| acc + " " + l.trim()))
}

/// The trace ID of the message stored under `blob_key` (`messages/<uuid>`): the UUID.
pub fn trace_id(blob_key: &str) -> &str {
    blob_key.rsplit('/').next().unwrap_or(blob_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_the_guide_names_and_the_trace() {
        let event = EmailEvent::MailboxEmailDelivered {
            recipient: "bob@example.test".into(),
            folder: "INBOX".into(),
        };
        let value = record(&event, "t-1", "arn:aws:workmail:r:1:organization/m-1", 7);
        assert_eq!(
            value,
            serde_json::json!({
                "eventName": "MAILBOX_EMAIL_DELIVERED",
                "recipient": "bob@example.test",
                "folder": "INBOX",
                "traceId": "t-1",
                "organizationArn": "arn:aws:workmail:r:1:organization/m-1",
                "timestamp": 7,
            })
        );
        let bounced = EmailEvent::OutgoingEmailBounced {
            bounced_recipient: BouncedRecipient {
                email_address: "x@remote.test".into(),
                reason: "no such user".into(),
                status: "5.1.1".into(),
            },
            destination: "x@remote.test".into(),
            reason: "no such user".into(),
        };
        let value = record(&bounced, "t", "a", 0);
        assert_eq!(value["eventName"], "OUTGOING_EMAIL_BOUNCED");
        assert_eq!(value["bouncedRecipient"]["emailAddress"], "x@remote.test");
        assert_eq!(value["bouncedRecipient"]["status"], "5.1.1");
        assert_eq!(value["destination"], "x@remote.test");
    }

    #[test]
    fn received_leaves_out_verdicts_it_does_not_have() {
        let event = EmailEvent::OrganizationEmailReceived {
            recipients: vec!["a@example.test".into()],
            sender: "s@remote.test".into(),
            from: "f@remote.test".into(),
            subject: "Hi".into(),
            message_id: "<1@remote.test>".into(),
            spf_verdict: Some("PASS".into()),
            dkim_verdict: None,
            dmarc_verdict: Some("FAIL".into()),
            dmarc_policy: Some("quarantine".into()),
            message_timestamp: 5,
        };
        let value = record(&event, "t", "a", 0);
        assert_eq!(value["eventName"], "ORGANIZATION_EMAIL_RECEIVED");
        assert_eq!(value["messageId"], "<1@remote.test>");
        assert_eq!(value["spfVerdict"], "PASS");
        assert_eq!(value["dmarcPolicy"], "quarantine");
        assert_eq!(value["messageTimestamp"], 5);
        assert!(value.get("dkimVerdict").is_none());
    }

    #[test]
    fn log_groups_map_to_files_under_the_logs_directory() {
        let arn = |name: &str| format!("arn:aws:logs:us-east-1:111122223333:log-group:{name}:*");
        assert_eq!(
            log_file(&arn("/aws/workmail/emailevents/acme")),
            Some(PathBuf::from("emailevents/acme.jsonl"))
        );
        assert_eq!(
            log_file(&arn("/team/mail")),
            Some(PathBuf::from("team/mail.jsonl"))
        );
        assert_eq!(log_file(&arn("/a/../../etc")), None);
        assert_eq!(log_file(&arn("/a//b")), None);
        assert_eq!(log_file("arn:aws:logs:us-east-1:1:stream:x"), None);
    }

    #[test]
    fn headers_and_verdicts_are_read_from_the_top_fields() {
        let message = b"Authentication-Results: mx.example.test; spf=softfail smtp.mailfrom=a@b; dkim=pass header.d=b; dmarc=temperror\r\n\
Authentication-Results: forged; spf=pass\r\n\
From: Ann <Ann@Remote.test>\r\nSubject: Hello\r\nMessage-ID: <42@remote.test>\r\n\r\nbody\r\n";
        let headers = MessageHeaders::parse(message);
        assert_eq!(headers.from, "ann@remote.test");
        assert_eq!(headers.subject, "Hello");
        assert_eq!(headers.message_id, "<42@remote.test>");
        assert_eq!(headers.verdict("spf").as_deref(), Some("FAIL"));
        assert_eq!(headers.verdict("dkim").as_deref(), Some("PASS"));
        assert_eq!(
            headers.verdict("dmarc").as_deref(),
            Some("PROCESSING_FAILED")
        );
        assert_eq!(headers.verdict("arc"), None);
        assert_eq!(
            MessageHeaders::parse(b"Subject: x\r\n\r\n").verdict("spf"),
            None
        );
    }

    #[test]
    fn the_trace_id_is_the_message_uuid() {
        assert_eq!(trace_id("messages/0b1c"), "0b1c");
    }
}
