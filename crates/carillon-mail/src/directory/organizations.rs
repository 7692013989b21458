//! Organizations: CreateOrganization, DescribeOrganization, ListOrganizations,
//! DeleteOrganization. Spec: workmail.md §1.1, §1.2, §2.6, §6.

use carillon_awsapi::generated::workmail::*;
use carillon_core::ids::new_organization_id;
use carillon_core::time::now_millis;
use carillon_core::RequestContext;
use carillon_store::{MailDomainRecord, OrganizationRecord, StoreError};
use rand::Rng;

use super::common::{codes, opt_timestamp, organization_arn, ORG_ACTIVE, ORG_DELETED};
use super::dns::{new_dkim_selectors, new_ownership_token, VerificationStatus};
use super::error::{dkim_failure, err, Error, Result};
use super::WorkMail;

/// Organizations per account. Spec: workmail.md §1.1, §6 (default quota 100).
pub const MAX_ORGANIZATIONS_PER_ACCOUNT: i64 = 100;

/// `DirectoryType` of the built-in directory every Carillon organization gets (Carillon does
/// not connect AWS Directory Service directories).
pub const DIRECTORY_TYPE: &str = "WorkMailDirectory";

/// A directory ID in the AWS shape: `d-` + 10 lowercase hex.
fn new_directory_id() -> String {
    let n: u64 = rand::thread_rng().gen_range(0..(1u64 << 40));
    format!("d-{n:010x}")
}

/// A newly registered domain record, unverified unless it is the test domain.
pub(super) fn new_domain(
    organization_id: &str,
    domain: &str,
    is_test: bool,
    now: i64,
) -> MailDomainRecord {
    let status = if is_test {
        VerificationStatus::Verified
    } else {
        VerificationStatus::Pending
    };
    MailDomainRecord {
        domain_name: domain.to_ascii_lowercase(),
        organization_id: organization_id.to_string(),
        is_test_domain: is_test,
        ownership_token: new_ownership_token(),
        dkim_selectors: new_dkim_selectors(),
        ownership_verification_status: status.as_str().to_string(),
        dkim_verification_status: status.as_str().to_string(),
        created_at: now,
    }
}

/// CreateOrganization: a new organization with its own built-in directory, in state
/// `Active` at once, with the test domain `<alias>.<test-domain-base>` registered, verified
/// and default. Domains given in `Domains` are registered (unverified) too. The alias is
/// unique among live organizations of every account, compared case-insensitively (it names
/// the test domain). A request repeating the `ClientToken` of an earlier one answers that
/// one's organization ID and creates nothing.
///
/// Errors: `InvalidParameterException` (alias not a DNS label, see [`check_alias`]),
/// `NameAvailabilityException` (alias or its test domain taken),
/// `LimitExceededException` (100 organizations in the account), `DirectoryUnavailableException`
/// (`DirectoryId` given: external directories are not supported), `InvalidParameterException`
/// (`EnableInteroperability` without an AD Connector directory; a domain of `Domains` already
/// registered or reserved; `KmsKeyArn` not a Carillon key of the caller's account in this
/// region).
pub(super) async fn create(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: CreateOrganizationRequest,
) -> Result<CreateOrganizationResponse> {
    check_alias(&input.alias)?;
    if let Some(directory_id) = &input.directory_id {
        return Err(err(
            codes::DIRECTORY_UNAVAILABLE,
            format!(
                "DirectoryId: directory {directory_id} is not available; Carillon organizations \
                 use their built-in WorkMail directory"
            ),
        ));
    }
    if input.enable_interoperability == Some(true) {
        return Err(err(
            codes::INVALID_PARAMETER,
            "EnableInteroperability requires an AD Connector DirectoryId",
        ));
    }
    if let Some(existing) = wm
        .organization_for_token(ctx, input.client_token.as_deref())
        .await?
    {
        return Ok(CreateOrganizationResponse {
            organization_id: Some(existing),
        });
    }
    let count = wm.store.count_live_organizations(&ctx.account_id).await?;
    if count >= MAX_ORGANIZATIONS_PER_ACCOUNT {
        return Err(err(
            codes::LIMIT_EXCEEDED,
            format!("Account {} already has {count} organizations (limit {MAX_ORGANIZATIONS_PER_ACCOUNT})", ctx.account_id),
        ));
    }
    // Fixed for the organization's life (workmail.md §5.3).
    let kms_key_arn =
        super::keys::resolve_kms_key(wm, ctx, input.kms_key_arn.as_deref(), "KmsKeyArn").await?;
    let now = now_millis();
    let organization_id = new_organization_id();
    let test_domain = format!(
        "{}.{}",
        input.alias.to_ascii_lowercase(),
        wm.test_domain_base
    );
    let mut domains = vec![new_domain(&organization_id, &test_domain, true, now)];
    for domain in input.domains.iter().flatten() {
        let name = wm.registrable_domain(&domain.domain_name)?;
        if domains.iter().any(|d| d.domain_name == name) {
            continue;
        }
        if wm.store.mail_domain_owner(&name).await?.is_some() {
            return Err(err(
                codes::INVALID_PARAMETER,
                format!("Domains: {name} is already registered to an organization"),
            ));
        }
        domains.push(new_domain(&organization_id, &name, false, now));
    }
    if wm.store.mail_domain_owner(&test_domain).await?.is_some() {
        return Err(alias_taken(&input.alias));
    }
    let org = OrganizationRecord {
        organization_id: organization_id.clone(),
        account_id: ctx.account_id.clone(),
        alias: Some(input.alias.clone()),
        deleted_alias: None,
        state: ORG_ACTIVE.to_string(),
        directory_id: new_directory_id(),
        directory_type: DIRECTORY_TYPE.to_string(),
        default_mail_domain: Some(test_domain),
        kms_key_arn: Some(kms_key_arn),
        interoperability_enabled: false,
        created_at: now,
        completed_at: Some(now),
        deleted_at: None,
        client_token: input.client_token.clone(),
    };
    match wm.store.insert_organization(&org, &domains).await {
        Ok(()) => {
            // Every domain, the test domain included, signs its outbound mail (§1.3).
            for domain in &domains {
                crate::dkim::create_domain_keys(
                    &wm.store,
                    &domain.domain_name,
                    &domain.dkim_selectors,
                    now,
                )
                .await
                .map_err(dkim_failure)?;
            }
            Ok(CreateOrganizationResponse {
                organization_id: Some(organization_id),
            })
        }
        // A concurrent retry with the same ClientToken won the race: answer as it did.
        // Otherwise the alias, unique among live organizations, or the test domain derived
        // from it is taken.
        Err(StoreError::Conflict(_)) => {
            match wm
                .organization_for_token(ctx, input.client_token.as_deref())
                .await?
            {
                Some(existing) => Ok(CreateOrganizationResponse {
                    organization_id: Some(existing),
                }),
                None => Err(alias_taken(&input.alias)),
            }
        }
        Err(e) => Err(Error::from(e)),
    }
}

impl WorkMail {
    /// The ID of the organization an earlier CreateOrganization with `client_token` made in
    /// the caller's account.
    async fn organization_for_token(
        &self,
        ctx: &RequestContext,
        client_token: Option<&str>,
    ) -> Result<Option<String>> {
        let Some(token) = client_token else {
            return Ok(None);
        };
        Ok(self
            .store
            .organization_by_client_token(&ctx.account_id, token)
            .await?
            .map(|org| org.organization_id))
    }
}

/// The alias names the test domain `<alias>.<base>`, so it must be one DNS label: the model's
/// pattern `^(?!d-)([\da-zA-Z]+)([-][\da-zA-Z]+)*` matched over the *whole* value (the wire
/// layer searches patterns, Smithy-style, which would accept `bad alias!` by its prefix).
fn check_alias(alias: &str) -> Result<()> {
    let label = !alias.is_empty()
        && !alias.starts_with("d-")
        && alias
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
    if label {
        Ok(())
    } else {
        Err(err(
            codes::INVALID_PARAMETER,
            format!(
                "Alias: {alias:?} is not a valid organization alias: letters and digits, \
                 separated by single hyphens, not starting with \"d-\""
            ),
        ))
    }
}

fn alias_taken(alias: &str) -> Error {
    err(
        codes::NAME_AVAILABILITY,
        format!("Alias: organization alias {alias} is already in use"),
    )
}

/// DescribeOrganization: works in every state, including `Deleted`.
///
/// Errors: `OrganizationNotFoundException`.
pub(super) async fn describe(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DescribeOrganizationRequest,
) -> Result<DescribeOrganizationResponse> {
    let org = wm.organization(ctx, &input.organization_id).await?;
    Ok(DescribeOrganizationResponse {
        arn: Some(organization_arn(
            &wm.region,
            &org.account_id,
            &org.organization_id,
        )),
        alias: org.alias.clone().or(org.deleted_alias.clone()),
        completed_date: opt_timestamp(org.completed_at),
        default_mail_domain: org.default_mail_domain.clone(),
        directory_id: Some(org.directory_id.clone()),
        directory_type: Some(org.directory_type.clone()),
        interoperability_enabled: Some(org.interoperability_enabled),
        organization_id: Some(org.organization_id.clone()),
        state: Some(org.state.clone()),
        ..Default::default()
    })
}

/// ListOrganizations: the caller's organizations (deleted ones included, as in the
/// original), in organization-ID order.
///
/// Errors: `InvalidParameterException` for a bad `NextToken` or `MaxResults`.
pub(super) async fn list(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: ListOrganizationsRequest,
) -> Result<ListOrganizationsResponse> {
    let scope = format!("ListOrganizations:{}", ctx.account_id);
    let paging = wm.paging(&scope, input.next_token.as_deref(), input.max_results)?;
    let mut orgs = wm
        .store
        .list_organizations(&ctx.account_id, paging.after.as_deref(), paging.limit + 1)
        .await?;
    let next_token = wm.finish_page(&scope, &mut orgs, &paging, |o| o.organization_id.clone());
    Ok(ListOrganizationsResponse {
        next_token,
        organization_summaries: Some(
            orgs.into_iter()
                .map(|o| OrganizationSummary {
                    alias: o.alias.or(o.deleted_alias),
                    default_mail_domain: o.default_mail_domain,
                    organization_id: Some(o.organization_id),
                    state: Some(o.state),
                    ..Default::default()
                })
                .collect(),
        ),
    })
}

/// DeleteOrganization: irreversible. Every mailbox and message, user, group, alias, mail
/// domain and tag of the organization is removed; its alias (and test domain) become free.
/// The organization stays describable in state `Deleted`. Carillon's directory belongs to
/// its organization, so it is deleted whatever `DeleteDirectory` says (a kept WorkMail
/// directory would serve nothing). Without `ForceDelete`, an organization with enabled users
/// is refused.
///
/// Errors: `OrganizationNotFoundException`; `OrganizationStateException` when already
/// deleted or when users are enabled and `ForceDelete` is not set.
pub(super) async fn delete(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DeleteOrganizationRequest,
) -> Result<DeleteOrganizationResponse> {
    let org = wm.organization(ctx, &input.organization_id).await?;
    if org.state == ORG_DELETED {
        return Err(err(
            codes::ORGANIZATION_STATE,
            format!("Organization {} is already deleted", org.organization_id),
        ));
    }
    if input.force_delete != Some(true) {
        let filter = carillon_store::EntityFilter {
            kind: super::common::USER.to_string(),
            state: Some(super::common::ENABLED.to_string()),
            ..Default::default()
        };
        let enabled = wm
            .store
            .list_entities(&org.organization_id, &filter, None, 1)
            .await?;
        if !enabled.is_empty() {
            return Err(err(
                codes::ORGANIZATION_STATE,
                format!(
                    "Organization {} has enabled users; disable them or set ForceDelete",
                    org.organization_id
                ),
            ));
        }
    }
    let arn = organization_arn(&wm.region, &org.account_id, &org.organization_id);
    let orphaned = wm
        .store
        .delete_organization(&ctx.account_id, &org.organization_id, &arn, now_millis())
        .await?;
    for key in orphaned {
        // The rows are gone already; a blob left behind is unreachable, not inconsistent.
        if let Err(e) = wm.store.blobs().delete(&key).await {
            tracing::warn!(error = %e, blob = %key, "could not delete a deleted organization's blob");
        }
    }
    Ok(DeleteOrganizationResponse {
        organization_id: Some(org.organization_id),
        state: Some(ORG_DELETED.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_must_be_dns_labels() {
        for good in ["acme", "Acme-Corp", "a1-b2-c3", "d2"] {
            assert!(check_alias(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "bad alias!",
            "-acme",
            "acme-",
            "a--b",
            "d-acme",
            "acme.corp",
        ] {
            let e = check_alias(bad).unwrap_err();
            assert_eq!(e.code, "InvalidParameterException", "{bad}");
            assert!(e.message.starts_with("Alias:"), "{bad}");
        }
    }

    #[test]
    fn directory_ids_have_the_aws_shape() {
        let id = new_directory_id();
        assert_eq!(id.len(), 12);
        assert!(id.starts_with("d-"));
        assert!(id[2..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn only_the_test_domain_starts_verified() {
        let test = new_domain("m-1", "Acme.localhost", true, 5);
        assert_eq!(test.domain_name, "acme.localhost");
        assert_eq!(test.ownership_verification_status, "VERIFIED");
        let custom = new_domain("m-1", "example.com", false, 5);
        assert_eq!(custom.ownership_verification_status, "PENDING");
        assert_eq!(custom.dkim_verification_status, "PENDING");
        assert_ne!(test.ownership_token, custom.ownership_token);
    }
}
