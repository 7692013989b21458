//! The WorkMail directory: organizations, mail domains, entities (users, groups, resources),
//! email addresses, group membership and organization tags. Spec: workmail.md §1.
//!
//! Records only: the rules (states, limits, which error applies) live in `carillon-mail`. Every
//! read of an organization filters on its `account_id`; lookups below an organization take the
//! organization ID the caller already resolved in its tenant. Addresses are stored lower-cased
//! and are unique across the whole server, so inbound mail routes by address alone.
//!
//! One submodule per directory object, each owning its record type, its columns and its
//! `impl Store` functions:
//!
//! - `organizations`: organizations, their creation with their domains and their deletion
//!   with everything below them;
//! - `domains`: mail domains and their verification status;
//! - `entities`: users, groups and resources, their profile and mail registration;
//! - `addresses`: aliases and the primary address;
//! - `groups`: group membership;
//! - `tags`: resource tags;
//! - `login`: what an IMAP/SMTP login needs about an address.

mod addresses;
mod domains;
mod entities;
mod groups;
mod login;
mod organizations;
mod tags;

pub use domains::MailDomainRecord;
pub use entities::{EntityFilter, EntityRecord};
pub use login::MailLoginRecord;
pub use organizations::OrganizationRecord;

use carillon_core::mail::domain_of;
