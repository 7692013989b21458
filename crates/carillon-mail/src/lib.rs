//! The WorkMail system: organizations, domains, users, groups, aliases and their admin
//! operations (`directory`), authentication of mail users (`auth`), and the delivery pipeline
//! into mailboxes (`delivery`). Protocol edges (SMTP, IMAP, the admin API) call into it.

pub mod audit;
pub mod auth;
pub mod authentication;
pub mod crypto;
pub mod delivery;
pub mod directory;
pub mod dkim;
pub mod events;
pub mod export;
pub mod flow;
pub mod https;
pub mod messageflow;
pub mod metrics;
pub mod retention;
