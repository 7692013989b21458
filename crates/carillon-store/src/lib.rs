//! Carillon's persistence: the SQL metadata store and the blob store.
//!
//! Owns every SQL statement in Carillon (other crates call typed functions here), the schema
//! migrations (one portable set applied on SQLite and PostgreSQL at start), the blob store
//! (message bodies and other large objects through `object_store`), server settings and job
//! leases. It knows the *shape* of stored records but no protocol and no business rule: rules
//! (limits, states, permissions) live in the service crates that call it.
//!
//! Every tenant-owned table carries `account_id`, and every query on such a table filters on
//! it: tenant isolation is enforced here as well as above.

mod audit_logs;
mod blob;
pub mod chime;
mod db;
mod dkim;
mod error;
mod export;
mod flow_hooks;
mod flow_rules;
mod iam;
mod journaling;
mod keys;
mod mailbox;
mod monitoring;
mod notify;
mod queue;
mod recipients;
mod retention;
mod s3;
mod settings;
#[cfg(feature = "test-fixtures")]
pub mod testing;
mod workmail;

pub use audit_logs::AuditLogDeliveryRecord;
pub use blob::BlobStore;
pub use chime::accounts::{ChimeAccountFilter, ChimeAccountRecord};
pub use db::{Backend, Store};
pub use dkim::{DkimKeyRecord, DKIM_ACTIVE, DKIM_PENDING, DKIM_RETIRING};
pub use error::{StoreError, StoreResult};
pub use export::{
    ExportAdmission, ExportJobRecord, NewExportJob, EXPORT_CANCELLED, EXPORT_COMPLETED,
    EXPORT_FAILED, EXPORT_PENDING, EXPORT_RUNNING,
};
pub use flow_hooks::{
    ContentReplacement, NewTransitMessage, TransitMessageRecord, TRANSIT_ASYNC, TRANSIT_DELIVERING,
    TRANSIT_DONE, TRANSIT_PENDING,
};
pub use flow_rules::{FlowRuleRecord, FlowRuleWrite, SmtpGatewayRecord};
pub use iam::{
    AccessKeyRecord, AccountRecord, AuditCursor, AuditEventRecord, NewPrincipal, ACCESS_KEY_ACTIVE,
    ACCESS_KEY_INACTIVE,
};
pub use journaling::{JournalingConfigurationRecord, JournalingTarget};
pub use keys::{EncryptionKeyRecord, KEY_KIND_MAILBOX, KEY_KIND_TRANSIT};
pub use mailbox::{
    canonical_folder_name, AppendedMessage, CopyResult, FlagOp, Folder, FolderStatus, NewMessage,
    StoredMessage, DEFAULT_FOLDERS, FOLDER_DELIMITER,
};
pub use monitoring::EmailMonitoringRecord;
pub use notify::{Listener, NOTIFY_INLINE_LIMIT};
pub use queue::{NewOutbound, QueuedOutbound};
pub use recipients::{LocalMailbox, Resolution, DEFAULT_MAILBOX_QUOTA_MB};
pub use retention::{PurgedMailbox, RetentionFolderRecord, RetentionPolicyRecord};
pub use workmail::{
    EntityFilter, EntityRecord, MailDomainRecord, MailLoginRecord, OrganizationRecord,
};
