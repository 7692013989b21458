//! WorkMail directory objects and their admin operations. Spec: workmail.md §1, §2.
//!
//! [`WorkMail`] implements the generated `WorkMailApi` trait: each operation takes its
//! validated input and a [`RequestContext`] naming the tenant, applies the guide's rules and
//! calls the store. One module per object: organizations, mail domains (and their DNS
//! records), users, groups, aliases, mailboxes, entities in general, tags. Every lookup of an
//! organization is scoped to `ctx.account_id`, so another tenant's organization reads as
//! `OrganizationNotFoundException`.

mod aliases;
pub mod audit_logs;
mod common;
pub mod dkim_rotation;
mod dmarc;
pub mod dns;
mod domains;
mod entities;
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
use carillon_awsapi::generated::workmail::*;
use carillon_core::pagination::TokenCodec;
use carillon_core::{ApiResult, RequestContext};
use carillon_store::{Store, StoreError};

pub use dns::{DnsVerifier, ExpectedRecord, VerificationStatus};

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

#[async_trait::async_trait]
impl WorkMailApi for WorkMail {
    async fn create_organization(
        &self,
        ctx: &RequestContext,
        input: CreateOrganizationRequest,
    ) -> ApiResult<CreateOrganizationResponse> {
        organizations::create(self, ctx, input).await
    }

    async fn describe_organization(
        &self,
        ctx: &RequestContext,
        input: DescribeOrganizationRequest,
    ) -> ApiResult<DescribeOrganizationResponse> {
        organizations::describe(self, ctx, input).await
    }

    async fn list_organizations(
        &self,
        ctx: &RequestContext,
        input: ListOrganizationsRequest,
    ) -> ApiResult<ListOrganizationsResponse> {
        organizations::list(self, ctx, input).await
    }

    async fn delete_organization(
        &self,
        ctx: &RequestContext,
        input: DeleteOrganizationRequest,
    ) -> ApiResult<DeleteOrganizationResponse> {
        organizations::delete(self, ctx, input).await
    }

    async fn register_mail_domain(
        &self,
        ctx: &RequestContext,
        input: RegisterMailDomainRequest,
    ) -> ApiResult<RegisterMailDomainResponse> {
        domains::register(self, ctx, input).await
    }

    async fn put_inbound_dmarc_settings(
        &self,
        ctx: &RequestContext,
        input: PutInboundDmarcSettingsRequest,
    ) -> ApiResult<PutInboundDmarcSettingsResponse> {
        dmarc::put(self, ctx, input).await
    }

    async fn describe_inbound_dmarc_settings(
        &self,
        ctx: &RequestContext,
        input: DescribeInboundDmarcSettingsRequest,
    ) -> ApiResult<DescribeInboundDmarcSettingsResponse> {
        dmarc::describe(self, ctx, input).await
    }

    async fn get_mail_domain(
        &self,
        ctx: &RequestContext,
        input: GetMailDomainRequest,
    ) -> ApiResult<GetMailDomainResponse> {
        domains::get(self, ctx, input).await
    }

    async fn list_mail_domains(
        &self,
        ctx: &RequestContext,
        input: ListMailDomainsRequest,
    ) -> ApiResult<ListMailDomainsResponse> {
        domains::list(self, ctx, input).await
    }

    async fn update_default_mail_domain(
        &self,
        ctx: &RequestContext,
        input: UpdateDefaultMailDomainRequest,
    ) -> ApiResult<UpdateDefaultMailDomainResponse> {
        domains::update_default(self, ctx, input).await
    }

    async fn deregister_mail_domain(
        &self,
        ctx: &RequestContext,
        input: DeregisterMailDomainRequest,
    ) -> ApiResult<DeregisterMailDomainResponse> {
        domains::deregister(self, ctx, input).await
    }

    async fn create_user(
        &self,
        ctx: &RequestContext,
        input: CreateUserRequest,
    ) -> ApiResult<CreateUserResponse> {
        users::create(self, ctx, input).await
    }

    async fn describe_user(
        &self,
        ctx: &RequestContext,
        input: DescribeUserRequest,
    ) -> ApiResult<DescribeUserResponse> {
        users::describe(self, ctx, input).await
    }

    async fn list_users(
        &self,
        ctx: &RequestContext,
        input: ListUsersRequest,
    ) -> ApiResult<ListUsersResponse> {
        users::list(self, ctx, input).await
    }

    async fn update_user(
        &self,
        ctx: &RequestContext,
        input: UpdateUserRequest,
    ) -> ApiResult<UpdateUserResponse> {
        users::update(self, ctx, input).await
    }

    async fn delete_user(
        &self,
        ctx: &RequestContext,
        input: DeleteUserRequest,
    ) -> ApiResult<DeleteUserResponse> {
        users::delete(self, ctx, input).await
    }

    async fn reset_password(
        &self,
        ctx: &RequestContext,
        input: ResetPasswordRequest,
    ) -> ApiResult<ResetPasswordResponse> {
        users::reset_password(self, ctx, input).await
    }

    async fn register_to_work_mail(
        &self,
        ctx: &RequestContext,
        input: RegisterToWorkMailRequest,
    ) -> ApiResult<RegisterToWorkMailResponse> {
        entities::register(self, ctx, input).await
    }

    async fn deregister_from_work_mail(
        &self,
        ctx: &RequestContext,
        input: DeregisterFromWorkMailRequest,
    ) -> ApiResult<DeregisterFromWorkMailResponse> {
        entities::deregister(self, ctx, input).await
    }

    async fn update_primary_email_address(
        &self,
        ctx: &RequestContext,
        input: UpdatePrimaryEmailAddressRequest,
    ) -> ApiResult<UpdatePrimaryEmailAddressResponse> {
        entities::update_primary_email(self, ctx, input).await
    }

    async fn describe_entity(
        &self,
        ctx: &RequestContext,
        input: DescribeEntityRequest,
    ) -> ApiResult<DescribeEntityResponse> {
        entities::describe(self, ctx, input).await
    }

    async fn update_mailbox_quota(
        &self,
        ctx: &RequestContext,
        input: UpdateMailboxQuotaRequest,
    ) -> ApiResult<UpdateMailboxQuotaResponse> {
        mailboxes::update_quota(self, ctx, input).await
    }

    async fn get_mailbox_details(
        &self,
        ctx: &RequestContext,
        input: GetMailboxDetailsRequest,
    ) -> ApiResult<GetMailboxDetailsResponse> {
        mailboxes::details(self, ctx, input).await
    }

    async fn create_group(
        &self,
        ctx: &RequestContext,
        input: CreateGroupRequest,
    ) -> ApiResult<CreateGroupResponse> {
        groups::create(self, ctx, input).await
    }

    async fn describe_group(
        &self,
        ctx: &RequestContext,
        input: DescribeGroupRequest,
    ) -> ApiResult<DescribeGroupResponse> {
        groups::describe(self, ctx, input).await
    }

    async fn list_groups(
        &self,
        ctx: &RequestContext,
        input: ListGroupsRequest,
    ) -> ApiResult<ListGroupsResponse> {
        groups::list(self, ctx, input).await
    }

    async fn update_group(
        &self,
        ctx: &RequestContext,
        input: UpdateGroupRequest,
    ) -> ApiResult<UpdateGroupResponse> {
        groups::update(self, ctx, input).await
    }

    async fn delete_group(
        &self,
        ctx: &RequestContext,
        input: DeleteGroupRequest,
    ) -> ApiResult<DeleteGroupResponse> {
        groups::delete(self, ctx, input).await
    }

    async fn associate_member_to_group(
        &self,
        ctx: &RequestContext,
        input: AssociateMemberToGroupRequest,
    ) -> ApiResult<AssociateMemberToGroupResponse> {
        groups::associate_member(self, ctx, input).await
    }

    async fn disassociate_member_from_group(
        &self,
        ctx: &RequestContext,
        input: DisassociateMemberFromGroupRequest,
    ) -> ApiResult<DisassociateMemberFromGroupResponse> {
        groups::disassociate_member(self, ctx, input).await
    }

    async fn list_group_members(
        &self,
        ctx: &RequestContext,
        input: ListGroupMembersRequest,
    ) -> ApiResult<ListGroupMembersResponse> {
        groups::list_members(self, ctx, input).await
    }

    async fn list_groups_for_entity(
        &self,
        ctx: &RequestContext,
        input: ListGroupsForEntityRequest,
    ) -> ApiResult<ListGroupsForEntityResponse> {
        groups::list_for_entity(self, ctx, input).await
    }

    async fn create_alias(
        &self,
        ctx: &RequestContext,
        input: CreateAliasRequest,
    ) -> ApiResult<CreateAliasResponse> {
        aliases::create(self, ctx, input).await
    }

    async fn delete_alias(
        &self,
        ctx: &RequestContext,
        input: DeleteAliasRequest,
    ) -> ApiResult<DeleteAliasResponse> {
        aliases::delete(self, ctx, input).await
    }

    async fn list_aliases(
        &self,
        ctx: &RequestContext,
        input: ListAliasesRequest,
    ) -> ApiResult<ListAliasesResponse> {
        aliases::list(self, ctx, input).await
    }

    async fn put_retention_policy(
        &self,
        ctx: &RequestContext,
        input: PutRetentionPolicyRequest,
    ) -> ApiResult<PutRetentionPolicyResponse> {
        retention::put(self, ctx, input).await
    }

    async fn get_default_retention_policy(
        &self,
        ctx: &RequestContext,
        input: GetDefaultRetentionPolicyRequest,
    ) -> ApiResult<GetDefaultRetentionPolicyResponse> {
        retention::get(self, ctx, input).await
    }

    async fn delete_retention_policy(
        &self,
        ctx: &RequestContext,
        input: DeleteRetentionPolicyRequest,
    ) -> ApiResult<DeleteRetentionPolicyResponse> {
        retention::delete(self, ctx, input).await
    }

    async fn put_email_monitoring_configuration(
        &self,
        ctx: &RequestContext,
        input: PutEmailMonitoringConfigurationRequest,
    ) -> ApiResult<PutEmailMonitoringConfigurationResponse> {
        monitoring::put(self, ctx, input).await
    }

    async fn describe_email_monitoring_configuration(
        &self,
        ctx: &RequestContext,
        input: DescribeEmailMonitoringConfigurationRequest,
    ) -> ApiResult<DescribeEmailMonitoringConfigurationResponse> {
        monitoring::describe(self, ctx, input).await
    }

    async fn delete_email_monitoring_configuration(
        &self,
        ctx: &RequestContext,
        input: DeleteEmailMonitoringConfigurationRequest,
    ) -> ApiResult<DeleteEmailMonitoringConfigurationResponse> {
        monitoring::delete(self, ctx, input).await
    }

    async fn tag_resource(
        &self,
        ctx: &RequestContext,
        input: TagResourceRequest,
    ) -> ApiResult<TagResourceResponse> {
        tags::tag(self, ctx, input).await
    }

    async fn untag_resource(
        &self,
        ctx: &RequestContext,
        input: UntagResourceRequest,
    ) -> ApiResult<UntagResourceResponse> {
        tags::untag(self, ctx, input).await
    }

    async fn list_tags_for_resource(
        &self,
        ctx: &RequestContext,
        input: ListTagsForResourceRequest,
    ) -> ApiResult<ListTagsForResourceResponse> {
        tags::list(self, ctx, input).await
    }

    async fn start_mailbox_export_job(
        &self,
        ctx: &RequestContext,
        input: StartMailboxExportJobRequest,
    ) -> ApiResult<StartMailboxExportJobResponse> {
        export::start(self, ctx, input).await
    }

    async fn describe_mailbox_export_job(
        &self,
        ctx: &RequestContext,
        input: DescribeMailboxExportJobRequest,
    ) -> ApiResult<DescribeMailboxExportJobResponse> {
        export::describe(self, ctx, input).await
    }

    async fn list_mailbox_export_jobs(
        &self,
        ctx: &RequestContext,
        input: ListMailboxExportJobsRequest,
    ) -> ApiResult<ListMailboxExportJobsResponse> {
        export::list(self, ctx, input).await
    }

    async fn cancel_mailbox_export_job(
        &self,
        ctx: &RequestContext,
        input: CancelMailboxExportJobRequest,
    ) -> ApiResult<CancelMailboxExportJobResponse> {
        export::cancel(self, ctx, input).await
    }
}
