//! Audit logs (workmail.md §4.2): the four audit-log types, their records, and their sinks.
//!
//! An organization chooses per log type where its records go (the Carillon operations of
//! [`crate::directory::audit_logs`], standing for the console's "Audit log settings" and the
//! vended-log delivery of §5.4): `FILE` appends JSON lines to
//! `<data-dir>/logs/audit/<organization-id>/<LOG_TYPE>.jsonl`; `HTTP` POSTs batches of JSON
//! lines (`Content-Type: application/x-ndjson`, header `X-Carillon-Audit-Log-Type`) to an
//! endpoint, retried three times with backoff, from a bounded in-memory queue. A type without
//! a delivery produces nothing.
//!
//! Every record carries the common fields `event_timestamp` (epoch milliseconds),
//! `request_id`, `organization_arn` and `user_id`, then the fields of its type. Records never
//! hold up the access they describe: a sink failure is traced and the record dropped.
//!
//! What emits which type:
//! - `AUTHENTICATION_LOGS`: every IMAP and SMTP (submission) authentication attempt.
//! - `ACCESS_CONTROL_LOGS`: the access-control evaluation after each successful
//!   authentication (scope `AccessControl`). Carillon has no access control rules yet
//!   (workmail.md §2.11), so no rule matches: `rule_id` is absent and access is granted.
//! - `WORKMAIL_MAILBOX_ACCESS_LOGS`: each IMAP operation on a folder or message, and each
//!   message submitted for sending.
//! - `WORKMAIL_AVAILABILITY_PROVIDER_LOGS`: configurable; nothing emits it until availability
//!   providers (§2.5) exist.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use carillon_store::{AuditLogDeliveryRecord, Store};
use serde::Serialize;
use tokio::sync::mpsc;

/// Most batches waiting for HTTP delivery; beyond it new records are dropped (traced).
const HTTP_QUEUE_BATCHES: usize = 100;

/// Most records in one HTTP POST.
const HTTP_BATCH_RECORDS: usize = 500;

/// Attempts per HTTP batch before it is dropped.
const HTTP_ATTEMPTS: u32 = 3;

/// Timeout of one HTTP POST.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The four audit-log types (workmail.md §4.2), under their vended-log type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuditLogType {
    /// Operations on mailbox items and folders.
    MailboxAccess,
    /// Access-control rule evaluations.
    AccessControl,
    /// Authentication attempts.
    Authentication,
    /// Availability-provider requests.
    AvailabilityProvider,
}

impl AuditLogType {
    /// Every type, in the guide's order.
    pub const ALL: [AuditLogType; 4] = [
        AuditLogType::MailboxAccess,
        AuditLogType::AccessControl,
        AuditLogType::Authentication,
        AuditLogType::AvailabilityProvider,
    ];

    /// The log type name (`WORKMAIL_MAILBOX_ACCESS_LOGS`, `ACCESS_CONTROL_LOGS`,
    /// `AUTHENTICATION_LOGS`, `WORKMAIL_AVAILABILITY_PROVIDER_LOGS`).
    pub fn name(self) -> &'static str {
        match self {
            AuditLogType::MailboxAccess => "WORKMAIL_MAILBOX_ACCESS_LOGS",
            AuditLogType::AccessControl => "ACCESS_CONTROL_LOGS",
            AuditLogType::Authentication => "AUTHENTICATION_LOGS",
            AuditLogType::AvailabilityProvider => "WORKMAIL_AVAILABILITY_PROVIDER_LOGS",
        }
    }

    /// The type named `name` (exact, as [`AuditLogType::name`]).
    pub fn parse(name: &str) -> Option<AuditLogType> {
        AuditLogType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Who is on the other end of a protocol session: the `protocol`, `source_ip` and
/// `user_agent` fields of the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The protocol name of workmail.md §3 (`IMAP`, `SMTP`, …).
    pub protocol: &'static str,
    /// The client's address.
    pub source_ip: IpAddr,
    /// What the client said it is (IMAP `ID` name and version); `None` when unknown.
    pub user_agent: Option<String>,
}

/// The `action` of a mailbox-access record (workmail.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailboxAction {
    /// A message's content was read.
    Read,
    /// The folder list was read.
    ReadHierarchy,
    /// A folder's or message's summary (counts, flags, envelope) was read.
    ReadSummary,
    /// A folder or message was created.
    Create,
    /// A folder or message was changed.
    Update,
    /// Only the read state (`\Seen`) of a message changed.
    UpdateReadState,
    /// A folder or message was deleted.
    Delete,
    /// A message was handed over for sending.
    SubmitEmailForSending,
    /// A message was moved out of the folder (source side).
    Move,
    /// A message was moved into the folder (target side).
    MoveTo,
    /// A message was copied (source side).
    Copy,
    /// A message was copied into the folder (target side).
    CopyTo,
}

/// The `object_type` of a mailbox-access record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectType {
    /// A folder.
    Folder,
    /// A message.
    Message,
}

/// The fields of one record, by type (workmail.md §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AuditFields {
    /// `WORKMAIL_MAILBOX_ACCESS_LOGS`.
    MailboxAccess {
        /// The client's protocol.
        protocol: &'static str,
        /// The client's address.
        source_ip: String,
        /// What the client said it is.
        #[serde(skip_serializing_if = "Option::is_none")]
        user_agent: Option<String>,
        /// What was done.
        action: MailboxAction,
        /// The mailbox owner's user ID.
        owner_id: String,
        /// Folder or message.
        object_type: ObjectType,
        /// The message (`<folder id>:<UID>`) or the folder ID.
        item_id: String,
        /// The folder's display path.
        folder_path: String,
        /// The folder's ID.
        folder_id: String,
        /// Whether the action was allowed.
        action_allowed: bool,
    },
    /// `ACCESS_CONTROL_LOGS`.
    AccessControl {
        /// The client's protocol.
        protocol: &'static str,
        /// The client's address.
        source_ip: String,
        /// `AccessControl`, `DeviceAccessControl` or `ImpersonationAccessControl`.
        scope: &'static str,
        /// The matching rule; absent when none matched.
        #[serde(skip_serializing_if = "Option::is_none")]
        rule_id: Option<String>,
        /// Whether access was granted.
        access_granted: bool,
    },
    /// `AUTHENTICATION_LOGS`.
    Authentication {
        /// The user name attempted.
        user: String,
        /// The client's protocol.
        protocol: &'static str,
        /// The client's address.
        source_ip: String,
        /// What the client said it is.
        #[serde(skip_serializing_if = "Option::is_none")]
        user_agent: Option<String>,
        /// `basic` (passwords are the only method).
        method: &'static str,
        /// Whether it succeeded.
        auth_successful: bool,
        /// Why it failed (failures only).
        #[serde(skip_serializing_if = "Option::is_none")]
        auth_failed_reason: Option<String>,
    },
}

impl AuditFields {
    /// The log type these fields belong to.
    pub fn log_type(&self) -> AuditLogType {
        match self {
            AuditFields::MailboxAccess { .. } => AuditLogType::MailboxAccess,
            AuditFields::AccessControl { .. } => AuditLogType::AccessControl,
            AuditFields::Authentication { .. } => AuditLogType::Authentication,
        }
    }
}

/// One audit record: the common fields and the type's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// Epoch milliseconds.
    pub event_timestamp: i64,
    /// One ID per request (IMAP command, authentication attempt, submission).
    pub request_id: String,
    /// `arn:aws:workmail:<region>:<account>:organization/<id>`; filled in at emission.
    pub organization_arn: String,
    /// The acting user's ID; absent when the login named no user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The type's fields.
    #[serde(flatten)]
    pub fields: AuditFields,
}

impl AuditRecord {
    /// A record of `fields` by `user_id` for `request_id`, stamped now.
    pub fn new(request_id: &str, user_id: Option<&str>, fields: AuditFields) -> AuditRecord {
        AuditRecord {
            event_timestamp: carillon_core::time::now_millis(),
            request_id: request_id.to_string(),
            organization_arn: String::new(),
            user_id: user_id.map(str::to_string),
            fields,
        }
    }
}

/// A batch of lines for one HTTP endpoint.
struct HttpBatch {
    endpoint: String,
    log_type: AuditLogType,
    lines: Vec<String>,
}

/// The installed sink: the logs directory, the region of organization ARNs, the HTTP queue.
struct Sink {
    logs_dir: PathBuf,
    region: String,
    // Serializes file appends so lines of concurrent sessions never interleave.
    write: Mutex<()>,
    http: mpsc::Sender<HttpBatch>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Installs the process-wide sink (files under `<data_dir>/logs/audit/`, organization ARNs in
/// `region`) and spawns the HTTP delivery task on the current Tokio runtime. `client` is the
/// HTTP client for `HTTP` deliveries (its trust roots decide which endpoints are accepted).
/// The first call wins; until then records are dropped.
pub fn install(data_dir: &Path, region: &str, client: reqwest::Client) {
    if SINK.get().is_some() {
        return;
    }
    let (tx, rx) = mpsc::channel(HTTP_QUEUE_BATCHES);
    let sink = Sink {
        logs_dir: data_dir.join("logs").join("audit"),
        region: region.to_string(),
        write: Mutex::new(()),
        http: tx,
    };
    if SINK.set(sink).is_ok() {
        tokio::spawn(deliver_http(rx, client));
    }
}

/// Emits `records` of `organization_id` to the sinks configured for their types. Failures
/// are traced, never returned.
pub async fn emit(store: &Store, organization_id: &str, records: Vec<AuditRecord>) {
    if SINK.get().is_none() || records.is_empty() {
        return;
    }
    match store.audit_log_deliveries(organization_id).await {
        Ok(deliveries) => emit_to(&deliveries, organization_id, records),
        Err(e) => tracing::warn!(organization_id, error = %e, "audit records dropped"),
    }
}

/// [`emit`] with the organization's deliveries already read (`Store::audit_log_deliveries`),
/// for a caller that looked them up to decide whether to make records at all.
pub fn emit_to(
    deliveries: &[AuditLogDeliveryRecord],
    organization_id: &str,
    records: Vec<AuditRecord>,
) {
    let Some(sink) = SINK.get() else {
        return;
    };
    let mut by_type: BTreeMap<AuditLogType, Vec<String>> = BTreeMap::new();
    for mut record in records {
        let log_type = record.fields.log_type();
        let Some(delivery) = deliveries.iter().find(|d| d.log_type == log_type.name()) else {
            continue;
        };
        record.organization_arn = format!(
            "arn:aws:workmail:{}:{}:organization/{organization_id}",
            sink.region, delivery.account_id
        );
        by_type
            .entry(log_type)
            .or_default()
            .push(serde_json::to_string(&record).expect("records serialize"));
    }
    for (log_type, lines) in by_type {
        let Some(delivery) = deliveries.iter().find(|d| d.log_type == log_type.name()) else {
            continue;
        };
        match (delivery.destination_type.as_str(), &delivery.endpoint) {
            ("HTTP", Some(endpoint)) => {
                for chunk in lines.chunks(HTTP_BATCH_RECORDS) {
                    let batch = HttpBatch {
                        endpoint: endpoint.clone(),
                        log_type,
                        lines: chunk.to_vec(),
                    };
                    if sink.http.try_send(batch).is_err() {
                        tracing::warn!(organization_id, "audit HTTP queue full: records dropped");
                    }
                }
            }
            _ => {
                let path = sink
                    .logs_dir
                    .join(organization_id)
                    .join(format!("{}.jsonl", log_type.name()));
                let mut text = lines.join("\n");
                text.push('\n');
                let result = {
                    let _guard = sink.write.lock().unwrap_or_else(|e| e.into_inner());
                    crate::events::append(&path, text.as_bytes())
                };
                if let Err(e) = result {
                    tracing::warn!(organization_id, file = %path.display(), error = %e, "audit records dropped");
                }
            }
        }
    }
}

/// The HTTP delivery task: POSTs each batch, retrying after 1 s and 2 s.
async fn deliver_http(mut rx: mpsc::Receiver<HttpBatch>, client: reqwest::Client) {
    while let Some(batch) = rx.recv().await {
        let mut body = batch.lines.join("\n");
        body.push('\n');
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=HTTP_ATTEMPTS {
            let result = client
                .post(&batch.endpoint)
                .timeout(HTTP_TIMEOUT)
                .header(http::header::CONTENT_TYPE, "application/x-ndjson")
                .header("X-Carillon-Audit-Log-Type", batch.log_type.name())
                .body(body.clone())
                .send()
                .await;
            match result {
                Ok(response) if response.status().is_success() => break,
                Ok(response) if attempt == HTTP_ATTEMPTS => {
                    tracing::warn!(endpoint = %batch.endpoint, status = %response.status(), records = batch.lines.len(), "audit records dropped");
                }
                Err(e) if attempt == HTTP_ATTEMPTS => {
                    tracing::warn!(endpoint = %batch.endpoint, error = %e, records = batch.lines.len(), "audit records dropped");
                }
                _ => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
    }
}

/// Checks an HTTP delivery endpoint: an absolute `https` URL, or `http` to a loopback
/// address (records carry user names and addresses; they never cross a network in clear).
///
/// Errors: a sentence naming what is wrong.
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| format!("Endpoint is not a URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback =
                host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err("Endpoint must use https (http only to a loopback address)".to_string())
            }
        }
        other => Err(format!("Endpoint scheme {other:?} is not https")),
    }
}

/// The records of one authentication attempt by `login`: its `AUTHENTICATION_LOGS` record
/// and, when it succeeded, the `ACCESS_CONTROL_LOGS` evaluation that follows.
pub fn authentication_records(
    client: &ClientInfo,
    login: &str,
    user_id: Option<&str>,
    failure: Option<&str>,
) -> Vec<AuditRecord> {
    let request_id = carillon_core::ids::new_uuid();
    let mut records = vec![AuditRecord::new(
        &request_id,
        user_id,
        AuditFields::Authentication {
            user: login.to_string(),
            protocol: client.protocol,
            source_ip: client.source_ip.to_string(),
            user_agent: client.user_agent.clone(),
            method: "basic",
            auth_successful: failure.is_none(),
            auth_failed_reason: failure.map(str::to_string),
        },
    )];
    if failure.is_none() {
        records.push(AuditRecord::new(
            &request_id,
            user_id,
            AuditFields::AccessControl {
                protocol: client.protocol,
                source_ip: client.source_ip.to_string(),
                scope: "AccessControl",
                rule_id: None,
                access_granted: true,
            },
        ));
    }
    records
}

/// A folder or message touched by a mailbox operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxItem {
    /// Folder or message.
    pub object_type: ObjectType,
    /// The message (`<folder id>:<UID>`) or the folder ID.
    pub item_id: String,
    /// The folder's display path.
    pub folder_path: String,
    /// The folder's ID.
    pub folder_id: String,
}

impl MailboxItem {
    /// The folder `folder_id` named `folder_path`.
    pub fn folder(folder_id: &str, folder_path: &str) -> MailboxItem {
        MailboxItem {
            object_type: ObjectType::Folder,
            item_id: folder_id.to_string(),
            folder_path: folder_path.to_string(),
            folder_id: folder_id.to_string(),
        }
    }

    /// The message with `uid` in the folder `folder_id` named `folder_path`.
    pub fn message(folder_id: &str, folder_path: &str, uid: i64) -> MailboxItem {
        MailboxItem {
            object_type: ObjectType::Message,
            item_id: format!("{folder_id}:{uid}"),
            folder_path: folder_path.to_string(),
            folder_id: folder_id.to_string(),
        }
    }
}

/// The `WORKMAIL_MAILBOX_ACCESS_LOGS` records of one request by `user_id` on the mailbox of
/// `owner_id`: one per item, all with the same `request_id`.
pub fn mailbox_records(
    client: &ClientInfo,
    user_id: &str,
    owner_id: &str,
    action: MailboxAction,
    items: &[MailboxItem],
    allowed: bool,
) -> Vec<AuditRecord> {
    let request_id = carillon_core::ids::new_uuid();
    items
        .iter()
        .map(|item| {
            AuditRecord::new(
                &request_id,
                Some(user_id),
                AuditFields::MailboxAccess {
                    protocol: client.protocol,
                    source_ip: client.source_ip.to_string(),
                    user_agent: client.user_agent.clone(),
                    action,
                    owner_id: owner_id.to_string(),
                    object_type: item.object_type,
                    item_id: item.item_id.clone(),
                    folder_path: item.folder_path.clone(),
                    folder_id: item.folder_id.clone(),
                    action_allowed: allowed,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientInfo {
        ClientInfo {
            protocol: "IMAP",
            source_ip: "192.0.2.7".parse().unwrap(),
            user_agent: Some("imaplib 3".into()),
        }
    }

    #[test]
    fn type_names_round_trip() {
        for t in AuditLogType::ALL {
            assert_eq!(AuditLogType::parse(t.name()), Some(t));
        }
        assert_eq!(AuditLogType::parse("authentication_logs"), None);
    }

    #[test]
    fn authentication_records_carry_the_guide_fields() {
        let failed = authentication_records(&client(), "ann@x.test", None, Some("bad password"));
        assert_eq!(failed.len(), 1);
        let value = serde_json::to_value(&failed[0]).unwrap();
        assert_eq!(value["user"], "ann@x.test");
        assert_eq!(value["protocol"], "IMAP");
        assert_eq!(value["source_ip"], "192.0.2.7");
        assert_eq!(value["user_agent"], "imaplib 3");
        assert_eq!(value["method"], "basic");
        assert_eq!(value["auth_successful"], false);
        assert_eq!(value["auth_failed_reason"], "bad password");
        assert!(value.get("user_id").is_none());
        assert!(value["event_timestamp"].as_i64().unwrap() > 0);

        let ok = authentication_records(&client(), "ann@x.test", Some("u-1"), None);
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].request_id, ok[1].request_id);
        let auth = serde_json::to_value(&ok[0]).unwrap();
        assert_eq!(auth["auth_successful"], true);
        assert!(auth.get("auth_failed_reason").is_none());
        let access = serde_json::to_value(&ok[1]).unwrap();
        assert_eq!(ok[1].fields.log_type(), AuditLogType::AccessControl);
        assert_eq!(access["scope"], "AccessControl");
        assert_eq!(access["access_granted"], true);
        assert!(access.get("rule_id").is_none());
        assert_eq!(access["user_id"], "u-1");
    }

    #[test]
    fn mailbox_records_share_the_request() {
        let items = [
            MailboxItem::message("f-1", "INBOX", 4),
            MailboxItem::message("f-1", "INBOX", 5),
        ];
        let records = mailbox_records(
            &client(),
            "u-1",
            "u-1",
            MailboxAction::UpdateReadState,
            &items,
            true,
        );
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].request_id, records[1].request_id);
        let value = serde_json::to_value(&records[1]).unwrap();
        assert_eq!(value["action"], "update_read_state");
        assert_eq!(value["object_type"], "message");
        assert_eq!(value["item_id"], "f-1:5");
        assert_eq!(value["folder_path"], "INBOX");
        assert_eq!(value["owner_id"], "u-1");
        assert_eq!(value["action_allowed"], true);
    }

    #[test]
    fn endpoints_must_be_https_unless_loopback() {
        assert!(check_endpoint("https://logs.example.test/in").is_ok());
        assert!(check_endpoint("http://127.0.0.1:9000/in").is_ok());
        assert!(check_endpoint("http://[::1]:9000/in").is_ok());
        assert!(check_endpoint("http://logs.example.test/in").is_err());
        assert!(check_endpoint("ftp://127.0.0.1/").is_err());
        assert!(check_endpoint("not a url").is_err());
    }
}
