//! WorkMail directory objects and their admin operations. Spec: workmail.md §1, §2.
//!
//! [`WorkMail`] implements the generated `WorkMailApi` trait through the operation table at
//! the end of this file (`impl_workmail_api!`): each operation is a function of its object's
//! module that takes its validated input and a
//! [`RequestContext`](carillon_core::RequestContext) naming the tenant, applies the guide's
//! rules and calls the store. One module per object: organizations, mail domains (and their
//! DNS records), users, groups, aliases, mailboxes, entities in general, tags. Every lookup
//! of an organization is scoped to `ctx.account_id`, so another tenant's organization reads
//! as `OrganizationNotFoundException`.
//!
//! Every function fails with [`Error`] ([`error`]), the model error shape it is answered
//! with: `?` on a store failure logs it once and answers `InternalFailure`, so no operation
//! maps errors by hand.

mod aliases;
pub mod audit_logs;
mod common;
pub mod dkim_rotation;
mod dmarc;
pub mod dns;
mod domains;
mod entities;
pub mod error;
pub mod export;
pub mod flow_rules;
mod groups;
pub mod hook_secret;
pub mod journaling;
pub mod keys;
mod mailboxes;
mod monitoring;
mod organizations;
pub mod password;
mod retention;
pub mod smtp_gateways;
mod tags;
mod users;

use std::net::SocketAddr;

use carillon_adminapi::Registry;
use carillon_core::pagination::TokenCodec;

use carillon_store::{Store, StoreError};

pub use dns::{DnsVerifier, ExpectedRecord, VerificationStatus};
pub use error::{Error, Result};

/// Adds every WorkMail operation of Carillon's own admin API (what the WorkMail console
/// offered beyond the model, `/carillon/v1/`) to `registry`: journaling, KMS-like keys, audit-log
/// deliveries, DKIM key rotation, the flow-hook secret, email flow rules and SMTP gateways.
pub fn register_carillon_operations(registry: &mut Registry, workmail: &WorkMail) {
    journaling::register(registry, workmail);
    keys::register(registry, workmail);
    audit_logs::register(registry, workmail);
    dkim_rotation::register(registry, workmail);
    hook_secret::register(registry, workmail);
    flow_rules::register(registry, workmail);
    smtp_gateways::register(registry, workmail);
}

/// The WorkMail admin operations over one store.
#[derive(Debug, Clone)]
pub struct WorkMail {
    store: Store,
    region: String,
    test_domain_base: String,
    dns: DnsVerifier,
    tokens: TokenCodec,
}

/// Why [`WorkMail::new`] could not build the service.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The store could not provide the pagination secret.
    #[error("WorkMail store: {0}")]
    Store(#[from] StoreError),
    /// The system resolver configuration could not be read.
    #[error("WorkMail DNS resolver: {0}")]
    Resolver(#[from] hickory_resolver::error::ResolveError),
}

impl WorkMail {
    /// Builds the service as `carillon serve` configures it: `region` goes into ARNs,
    /// `hostname` is Carillon's mail host (the MX and DKIM targets of every mail domain),
    /// `test_domain_base` forms each organization's test domain `<alias>.<test_domain_base>`
    /// (default `localhost`), and `dns_resolver` is the nameserver mail domains are verified
    /// through (`None`: the system resolver).
    ///
    /// Errors: the store cannot provide the pagination secret, or (without `dns_resolver`)
    /// the system resolver configuration cannot be read.
    pub async fn new(
        store: Store,
        region: String,
        hostname: String,
        test_domain_base: String,
        dns_resolver: Option<SocketAddr>,
    ) -> Result<WorkMail, SetupError> {
        let dns = DnsVerifier::new(&hostname, dns_resolver)?;
        Ok(WorkMail::with_verifier(store, &region, &test_domain_base, dns).await?)
    }

    /// Builds the service with an existing [`DnsVerifier`]. Pagination tokens are keyed with
    /// the store's `pagination` server secret.
    ///
    /// Errors: the store cannot provide the secret.
    pub async fn with_verifier(
        store: Store,
        region: &str,
        test_domain_base: &str,
        dns: DnsVerifier,
    ) -> Result<WorkMail, StoreError> {
        let tokens = TokenCodec::new(store.server_secret("pagination").await?);
        Ok(WorkMail {
            store,
            region: region.to_string(),
            test_domain_base: test_domain_base.trim_matches('.').to_ascii_lowercase(),
            dns,
            tokens,
        })
    }
}

// The model operations WorkMail implements, each by the function of its object's module;
// every other operation keeps the trait's answer, `NotImplementedException`.
carillon_awsapi::impl_workmail_api!(WorkMail {
    CreateOrganization => organizations::create,
    DescribeOrganization => organizations::describe,
    ListOrganizations => organizations::list,
    DeleteOrganization => organizations::delete,
    RegisterMailDomain => domains::register,
    PutInboundDmarcSettings => dmarc::put,
    DescribeInboundDmarcSettings => dmarc::describe,
    GetMailDomain => domains::get,
    ListMailDomains => domains::list,
    UpdateDefaultMailDomain => domains::update_default,
    DeregisterMailDomain => domains::deregister,
    CreateUser => users::create,
    DescribeUser => users::describe,
    ListUsers => users::list,
    UpdateUser => users::update,
    DeleteUser => users::delete,
    ResetPassword => users::reset_password,
    RegisterToWorkMail => entities::register,
    DeregisterFromWorkMail => entities::deregister,
    UpdatePrimaryEmailAddress => entities::update_primary_email,
    DescribeEntity => entities::describe,
    UpdateMailboxQuota => mailboxes::update_quota,
    GetMailboxDetails => mailboxes::details,
    CreateGroup => groups::create,
    DescribeGroup => groups::describe,
    ListGroups => groups::list,
    UpdateGroup => groups::update,
    DeleteGroup => groups::delete,
    AssociateMemberToGroup => groups::associate_member,
    DisassociateMemberFromGroup => groups::disassociate_member,
    ListGroupMembers => groups::list_members,
    ListGroupsForEntity => groups::list_for_entity,
    CreateAlias => aliases::create,
    DeleteAlias => aliases::delete,
    ListAliases => aliases::list,
    PutRetentionPolicy => retention::put,
    GetDefaultRetentionPolicy => retention::get,
    DeleteRetentionPolicy => retention::delete,
    PutEmailMonitoringConfiguration => monitoring::put,
    DescribeEmailMonitoringConfiguration => monitoring::describe,
    DeleteEmailMonitoringConfiguration => monitoring::delete,
    TagResource => tags::tag,
    UntagResource => tags::untag,
    ListTagsForResource => tags::list,
    StartMailboxExportJob => export::start,
    DescribeMailboxExportJob => export::describe,
    ListMailboxExportJobs => export::list,
    CancelMailboxExportJob => export::cancel,
});
