//! The WorkMail system. Spec: workmail.md. Protocol edges (SMTP, IMAP, the admin APIs) call
//! into it; it speaks none of their protocols.
//!
//! Modules:
//! - `directory`: the `WorkMailApi` operations (organizations, domains, users, groups,
//!   resources' entities, aliases, mailboxes, tags, retention, exports, DMARC settings) and
//!   the WorkMail operations of Carillon's own admin API (journaling, email flow rules, SMTP
//!   gateways, keys, the hook secret, audit-log deliveries, DKIM rotation, email monitoring),
//!   one module per object; `messageflow` the `WorkMailMessageFlowApi` (in-transit messages).
//! - `login`: mail-user login (SMTP AUTH, IMAP LOGIN) against the directory, and password
//!   hashing (Argon2id).
//! - `sender_authentication`: the inbound sender's SPF, DKIM, ARC and DMARC verdict with
//!   `mail-auth`, and the `Authentication-Results` header.
//! - `delivery`: the pipeline a message takes from SMTP `DATA` to the mailboxes, the outbound
//!   queue and its after-commit effects, one stage per module (envelope limits, recipients,
//!   verdict, decide, seal, commit, effects; `pipeline` names the order); `journal` and DSNs.
//! - `flow`: email flow rules (`rules`: patterns and evaluation), their hooks (`hooks`: the
//!   §4.5 event, signatures, the HTTPS client) and messages held for a hook (`transit`: the
//!   hook worker job).
//! - `crypto`: encryption at rest of every message blob (workmail.md §5.3), over
//!   carillon-kms; `dkim`: DKIM keys, their DNS records, signing and rotation.
//! - `retention` and `export`: the retention job and the export runner (both jobs).
//! - `events` (the §4.1 email event log), `audit` (the four §4.2 audit-log types and their
//!   sinks), `metrics` (the nine §4.3 metrics), `https` (the TLS client configuration of
//!   outgoing HTTPS).

pub mod audit;
pub mod crypto;
pub mod delivery;
pub mod directory;
pub mod dkim;
pub mod events;
pub mod export;
pub mod flow;
pub mod https;
pub mod login;
pub mod messageflow;
pub mod metrics;
pub mod retention;
pub mod sender_authentication;
