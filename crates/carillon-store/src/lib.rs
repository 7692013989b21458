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
//!
//! Modules (most add `impl Store` blocks of typed functions; migrations are in
//! `migrations/`, numbered):
//! - plumbing: `db` (the pool, backend, migrations, `begin_write`), `blob` (the blob store:
//!   local directory or S3), `settings` (server secrets), `notify` (change notification
//!   across nodes: PostgreSQL NOTIFY/LISTEN on a schema-scoped channel, a reconnecting
//!   `Listener`, payloads over 8,000 bytes through `notify_payloads`; nothing on SQLite),
//!   `sql` (the one query idiom: a statement with its values bound in order as `Arg`s, on the
//!   pool or in a transaction, rows decoded by `FromRow`), `error`, `testing` (feature
//!   `test-fixtures`: one store per backend for the test suites);
//! - identity: `iam` (accounts, principals, access keys, the audit trail);
//! - WorkMail: `workmail` (one module per directory object: organizations, domains,
//!   entities, addresses, groups, tags, login), `recipients` (address → mailboxes, groups
//!   expanded), `mailbox` (folders; messages with UIDs, flags, MODSEQ, expunge, copy/move;
//!   blob reference counting), `queue` (leased outbound rows, each with the SMTP gateway a
//!   flow rule routed it to), `flow_rules` (email flow rules and SMTP gateways; the 1,000
//!   sender patterns per organization checked in the write transaction), `flow_hooks`
//!   (in-transit messages of flow-rule hooks: leased rows, content replaceable while a
//!   synchronous hook runs; hook signing secrets), `journaling`, `retention` (policies, aged
//!   messages, purge, job leases), `export` (export jobs), `keys` (wrapped mailbox and
//!   organization transit keys), `dkim` (DKIM keys per domain with their rotation state;
//!   inbound DMARC enforcement), `audit_logs` (audit-log delivery per organization and type),
//!   `monitoring` (the event log's log group per organization), `s3` (buckets and objects
//!   of the minimal S3 endpoint);
//! - Chime: `chime` (one module per object family).

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
mod sql;
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
    StoredMessage, DEFAULT_FOLDERS, DELETED_ITEMS, DRAFTS, FOLDER_DELIMITER, INBOX, JUNK_EMAIL,
    SENT_ITEMS,
};
pub use monitoring::EmailMonitoringRecord;
pub use notify::{Listener, NOTIFY_INLINE_LIMIT};
pub use queue::{NewOutbound, QueuedOutbound};
pub use recipients::{LocalMailbox, Resolution, DEFAULT_MAILBOX_QUOTA_MB};
pub use retention::{PurgedMailbox, RetentionFolderRecord, RetentionPolicyRecord};
pub use workmail::{
    EntityFilter, EntityRecord, MailDomainRecord, MailLoginRecord, OrganizationRecord,
};
