//! Mail domains: RegisterMailDomain, GetMailDomain, ListMailDomains, UpdateDefaultMailDomain,
//! DeregisterMailDomain. Spec: workmail.md §1.3, §4.11, §6.

use carillon_awsapi::generated::workmail::*;
use carillon_core::time::now_millis;
use carillon_core::RequestContext;
use carillon_store::StoreError;

use super::common::codes;
use super::dns::new_dkim_selectors;
use super::error::{dkim_failure, err, Error, Result};
use super::organizations::new_domain;
use super::WorkMail;

/// Mail domains per organization, the test domain included. The guide gives 100 in its
/// Domains chapter and 1,000 (hard) in its quota table (workmail.md §1.3, §6, §8.3); Carillon
/// takes the quota table's 1,000.
pub const MAX_DOMAINS_PER_ORGANIZATION: i64 = 1_000;

impl WorkMail {
    /// Normalizes a domain an administrator registers: lower-case, no trailing dot, Basic
    /// Latin letters, digits and hyphens in dot-separated labels of 1–63 characters, at least
    /// two labels, and not at or under the test-domain base (those names are the
    /// organizations' test domains).
    ///
    /// Errors: `InvalidParameterException` naming `DomainName`.
    pub(super) fn registrable_domain(&self, domain: &str) -> Result<String> {
        let name = domain.trim_end_matches('.').to_ascii_lowercase();
        let labels_ok = name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if !labels_ok || !name.contains('.') || name.len() > 253 {
            return Err(err(
                codes::INVALID_PARAMETER,
                format!("DomainName: {domain} is not a valid ASCII domain name"),
            ));
        }
        let base = &self.test_domain_base;
        if name == *base || name.ends_with(&format!(".{base}")) {
            return Err(err(
                codes::INVALID_PARAMETER,
                format!("DomainName: domains under {base} are reserved for test domains"),
            ));
        }
        Ok(name)
    }
}

/// RegisterMailDomain: adds a domain to the organization, pending verification, with its
/// DKIM keys (Ed25519 and RSA-2048, [`crate::dkim`]). A domain belongs to at most one
/// organization.
///
/// Errors: `MailDomainInUseException` (registered already, here or elsewhere),
/// `LimitExceededException` (1,000 domains), `InvalidParameterException` (not an ASCII domain
/// name, or reserved), `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn register(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: RegisterMailDomainRequest,
) -> Result<RegisterMailDomainResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let name = wm.registrable_domain(&input.domain_name)?;
    let in_use = || {
        err(
            codes::MAIL_DOMAIN_IN_USE,
            format!("DomainName: {name} is already registered to an organization"),
        )
    };
    if wm.store.mail_domain_owner(&name).await?.is_some() {
        return Err(in_use());
    }
    let count = wm.store.count_mail_domains(&org.organization_id).await?;
    if count >= MAX_DOMAINS_PER_ORGANIZATION {
        return Err(err(
            codes::LIMIT_EXCEEDED,
            format!(
                "Organization {} already has {count} mail domains (limit {MAX_DOMAINS_PER_ORGANIZATION})",
                org.organization_id
            ),
        ));
    }
    let record = new_domain(&org.organization_id, &name, false, now_millis());
    match wm.store.insert_mail_domain(&record).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(in_use()),
        Err(e) => return Err(Error::from(e)),
    }
    crate::dkim::create_domain_keys(&wm.store, &name, &record.dkim_selectors, record.created_at)
        .await
        .map_err(dkim_failure)?;
    Ok(RegisterMailDomainResponse::default())
}

/// GetMailDomain: the records to publish (the DKIM TXT records carry the domain's public
/// keys) and the ownership and DKIM statuses, checked against DNS now (the test domain is
/// verified by construction).
///
/// Errors: `MailDomainNotFoundException`, `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn get(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: GetMailDomainRequest,
) -> Result<GetMailDomainResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let name = input.domain_name.trim_end_matches('.').to_ascii_lowercase();
    let record = wm
        .store
        .get_mail_domain(&org.organization_id, &name)
        .await?
        .ok_or_else(|| {
            err(
                codes::MAIL_DOMAIN_NOT_FOUND,
                format!(
                    "DomainName: {name} is not registered in organization {}",
                    org.organization_id
                ),
            )
        })?;
    if wm.store.dkim_keys(&record.domain_name).await?.is_empty() {
        // A domain registered before Carillon signed mail gets its keys on first look.
        let selectors = new_dkim_selectors();
        crate::dkim::create_domain_keys(&wm.store, &name, &selectors, now_millis())
            .await
            .map_err(dkim_failure)?;
    }
    let record = wm.refresh_verification(record).await?;
    let dkim = wm.store.dkim_keys(&record.domain_name).await?;
    Ok(GetMailDomainResponse {
        dkim_verification_status: Some(record.dkim_verification_status.clone()),
        is_default: Some(org.default_mail_domain.as_deref() == Some(record.domain_name.as_str())),
        is_test_domain: Some(record.is_test_domain),
        ownership_verification_status: Some(record.ownership_verification_status.clone()),
        records: Some(
            wm.dns
                .expected_records(&record, &dkim)
                .into_iter()
                .map(|r| DnsRecord {
                    hostname: Some(r.hostname),
                    r#type: Some(r.record_type.to_string()),
                    value: Some(r.value),
                })
                .collect(),
        ),
    })
}

/// ListMailDomains: the organization's domains in name order, the default one flagged.
///
/// Errors: `InvalidParameterException` (paging), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn list(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: ListMailDomainsRequest,
) -> Result<ListMailDomainsResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let scope = format!("ListMailDomains:{}:{}", ctx.account_id, org.organization_id);
    let paging = wm.paging(&scope, input.next_token.as_deref(), input.max_results)?;
    let mut domains = wm
        .store
        .list_mail_domains(
            &org.organization_id,
            paging.after.as_deref(),
            paging.limit + 1,
        )
        .await?;
    let next_token = wm.finish_page(&scope, &mut domains, &paging, |d| d.domain_name.clone());
    Ok(ListMailDomainsResponse {
        mail_domains: Some(
            domains
                .into_iter()
                .map(|d| MailDomainSummary {
                    default_domain: Some(
                        org.default_mail_domain.as_deref() == Some(d.domain_name.as_str()),
                    ),
                    domain_name: Some(d.domain_name),
                })
                .collect(),
        ),
        next_token,
    })
}

/// UpdateDefaultMailDomain: the domain suggested for new addresses. Existing addresses do
/// not change (workmail.md §1.3).
///
/// Errors: `MailDomainNotFoundException`, `MailDomainStateException` (not verified),
/// `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn update_default(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: UpdateDefaultMailDomainRequest,
) -> Result<UpdateDefaultMailDomainResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let record = wm
        .verified_domain(
            &org.organization_id,
            input.domain_name.trim_end_matches('.'),
        )
        .await?;
    wm.store
        .set_default_mail_domain(&org.organization_id, &record.domain_name)
        .await?;
    Ok(UpdateDefaultMailDomainResponse::default())
}

/// DeregisterMailDomain: removes a domain no address uses. Deregistering a domain the
/// organization does not have succeeds without effect (the model has no not-found error
/// for it).
///
/// Errors: `MailDomainInUseException` (an address of a user, group or alias uses it, or it is
/// the default domain), `InvalidParameterException` (the test domain),
/// `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn deregister(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DeregisterMailDomainRequest,
) -> Result<DeregisterMailDomainResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let name = input.domain_name.trim_end_matches('.').to_ascii_lowercase();
    let Some(record) = wm
        .store
        .get_mail_domain(&org.organization_id, &name)
        .await?
    else {
        return Ok(DeregisterMailDomainResponse::default());
    };
    if record.is_test_domain {
        return Err(err(
            codes::INVALID_PARAMETER,
            format!(
                "DomainName: {name} is the organization's test domain and cannot be deregistered"
            ),
        ));
    }
    if org.default_mail_domain.as_deref() == Some(name.as_str()) {
        return Err(err(
            codes::MAIL_DOMAIN_IN_USE,
            format!("DomainName: {name} is the default mail domain; choose another default first"),
        ));
    }
    let used = wm.store.count_addresses_on_domain(&name).await?;
    if used > 0 {
        return Err(err(
            codes::MAIL_DOMAIN_IN_USE,
            format!("DomainName: {name} is used by {used} email addresses; remove them first"),
        ));
    }
    let removed = wm
        .store
        .delete_unused_mail_domain(&org.organization_id, &name)
        .await?;
    if !removed {
        // An address on the domain appeared since the count above.
        return Err(err(
            codes::MAIL_DOMAIN_IN_USE,
            format!("DomainName: {name} is used by an email address; remove it first"),
        ));
    }
    Ok(DeregisterMailDomainResponse::default())
}
