//! What every WorkMail operation shares: the model's error codes, tenant-scoped organization
//! and entity lookups, pagination, timestamps and address checks.

use carillon_adminapi::ErrorSpec;
use carillon_awsapi::types::Timestamp;
use carillon_core::arn::Arn;
use carillon_core::time::millis_to_datetime;
use carillon_core::RequestContext;
use carillon_store::{
    DkimKeyRecord, EntityRecord, MailDomainRecord, OrganizationRecord, DKIM_PENDING, DKIM_RETIRING,
};

use super::dns::{Verification, VerificationStatus};
use super::error::{err, Result};
use super::WorkMail;

/// The IAM resource of Carillon admin operations on an organization: its ARN, with the
/// `OrganizationId` path label.
pub(super) const ORGANIZATION_RESOURCE: &str =
    "arn:aws:workmail:{region}:{account}:organization/{OrganizationId}";

/// `OrganizationNotFoundException` as Carillon admin operations declare it.
pub(super) const ORG_NOT_FOUND: ErrorSpec = ErrorSpec {
    code: codes::ORGANIZATION_NOT_FOUND,
    status: 400,
    doc: "No such organization in the caller's account.",
};

/// `OrganizationStateException` as Carillon admin operations declare it.
pub(super) const ORG_STATE: ErrorSpec = ErrorSpec {
    code: codes::ORGANIZATION_STATE,
    status: 400,
    doc: "The organization is not Active.",
};

/// The errors of every Carillon admin operation on an organization.
pub(super) const ORGANIZATION_ERRORS: [ErrorSpec; 2] = [ORG_NOT_FOUND, ORG_STATE];

/// Input of Carillon admin operations on an organization as a whole (List*).
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OrganizationInput {
    /// The organization (`m-` and 32 hexadecimal digits).
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
}

/// The empty output of Carillon admin operations that return nothing.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct EmptyOutput {}

/// Epoch milliseconds as the RFC 3339 timestamps of Carillon's admin API (UTC, milliseconds).
pub(super) fn rfc3339(millis: i64) -> String {
    millis_to_datetime(millis).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Error shape names of the WorkMail model used by the directory operations.
pub mod codes {
    pub const ORGANIZATION_NOT_FOUND: &str = "OrganizationNotFoundException";
    pub const ORGANIZATION_STATE: &str = "OrganizationStateException";
    pub const INVALID_PARAMETER: &str = "InvalidParameterException";
    pub const NAME_AVAILABILITY: &str = "NameAvailabilityException";
    pub const LIMIT_EXCEEDED: &str = "LimitExceededException";
    pub const DIRECTORY_UNAVAILABLE: &str = "DirectoryUnavailableException";
    pub const MAIL_DOMAIN_NOT_FOUND: &str = "MailDomainNotFoundException";
    pub const MAIL_DOMAIN_STATE: &str = "MailDomainStateException";
    pub const MAIL_DOMAIN_IN_USE: &str = "MailDomainInUseException";
    pub const ENTITY_NOT_FOUND: &str = "EntityNotFoundException";
    pub const ENTITY_STATE: &str = "EntityStateException";
    pub const ENTITY_ALREADY_REGISTERED: &str = "EntityAlreadyRegisteredException";
    pub const EMAIL_ADDRESS_IN_USE: &str = "EmailAddressInUseException";
    pub const INVALID_PASSWORD: &str = "InvalidPasswordException";
    pub const RESOURCE_NOT_FOUND: &str = "ResourceNotFoundException";
    pub const TOO_MANY_TAGS: &str = "TooManyTagsException";
}

/// Organization states (workmail.md §1.1) Carillon uses.
pub const ORG_ACTIVE: &str = "Active";
/// State of a deleted organization (still describable).
pub const ORG_DELETED: &str = "Deleted";

/// Entity states of the model (`EntityState`).
pub const ENABLED: &str = "ENABLED";
/// See [`ENABLED`].
pub const DISABLED: &str = "DISABLED";
/// See [`ENABLED`].
pub const DELETED: &str = "DELETED";

/// Entity kinds as stored.
pub const USER: &str = "USER";
/// See [`USER`].
pub const GROUP: &str = "GROUP";

/// Default and largest `MaxResults` of the model (`MaxResults` range 1–100).
pub const MAX_PAGE: i64 = 100;

/// `arn:aws:workmail:<region>:<account>:organization/<id>`. Spec: workmail.md §1.1.
pub fn organization_arn(region: &str, account_id: &str, organization_id: &str) -> String {
    Arn::new(
        "workmail",
        region,
        account_id,
        format!("organization/{organization_id}"),
    )
    .to_string()
}

/// Epoch milliseconds as the model's `Timestamp`.
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp(millis_to_datetime(ms))
}

/// `ms` as a `Timestamp` when present.
pub fn opt_timestamp(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(timestamp)
}

/// Where a listing resumes and how much it returns.
pub struct Paging {
    /// Sort key of the last item of the previous page.
    pub after: Option<String>,
    /// Page size requested by the caller (1–100).
    pub limit: i64,
}

impl WorkMail {
    /// The organization `organization_id` of the caller's account, whatever its state.
    ///
    /// Errors: `OrganizationNotFoundException` when it is not in `ctx.account_id`.
    pub(super) async fn organization(
        &self,
        ctx: &RequestContext,
        organization_id: &str,
    ) -> Result<OrganizationRecord> {
        self.store
            .get_organization(&ctx.account_id, organization_id)
            .await?
            .ok_or_else(|| {
                err(
                    codes::ORGANIZATION_NOT_FOUND,
                    format!("Organization {organization_id} was not found"),
                )
            })
    }

    /// The organization, which must be `Active`.
    ///
    /// Errors: `OrganizationNotFoundException`; `OrganizationStateException` otherwise.
    pub(super) async fn active_organization(
        &self,
        ctx: &RequestContext,
        organization_id: &str,
    ) -> Result<OrganizationRecord> {
        let org = self.organization(ctx, organization_id).await?;
        if org.state != ORG_ACTIVE {
            return Err(err(
                codes::ORGANIZATION_STATE,
                format!(
                    "Organization {organization_id} is in state {}, not Active",
                    org.state
                ),
            ));
        }
        Ok(org)
    }

    /// Decodes `NextToken`/`MaxResults` for a listing in `scope` (operation, tenant and
    /// parent object, so a token cannot be replayed elsewhere).
    ///
    /// Errors: `InvalidParameterException` naming `NextToken` for an altered or foreign
    /// token, or `MaxResults` out of 1–100.
    pub(super) fn paging(
        &self,
        scope: &str,
        next_token: Option<&str>,
        max_results: Option<i32>,
    ) -> Result<Paging> {
        let limit = carillon_core::pagination::page_size(max_results, MAX_PAGE, MAX_PAGE)
            .ok_or_else(|| {
                err(
                    codes::INVALID_PARAMETER,
                    format!("MaxResults must be between 1 and {MAX_PAGE}"),
                )
            })?;
        let after = self
            .tokens
            .resume_after(scope, next_token)
            .map_err(|invalid| err(codes::INVALID_PARAMETER, invalid.to_string()))?;
        Ok(Paging { after, limit })
    }

    /// Trims `items` (fetched with `limit + 1`) to one page and returns the token resuming
    /// after its last item when more remain.
    pub(super) fn finish_page<T>(
        &self,
        scope: &str,
        items: &mut Vec<T>,
        paging: &Paging,
        key: impl Fn(&T) -> String,
    ) -> Option<String> {
        self.tokens.next_page(scope, items, paging.limit, key)
    }

    /// Finds an entity of the organization by entity ID, name or email address, limited to
    /// `kinds` (empty = any). `member` names the request member for the error message.
    ///
    /// Errors: `EntityNotFoundException`.
    pub(super) async fn entity(
        &self,
        organization_id: &str,
        identifier: &str,
        kinds: &[&str],
        member: &str,
    ) -> Result<EntityRecord> {
        self.store
            .find_entity(organization_id, identifier, kinds)
            .await?
            .ok_or_else(|| {
                let what = match kinds {
                    [USER] => "user",
                    [GROUP] => "group",
                    _ => "entity",
                };
                err(
                    codes::ENTITY_NOT_FOUND,
                    format!("{member}: no {what} {identifier} in organization {organization_id}"),
                )
            })
    }

    /// An address of the organization about to be assigned (primary or alias): lower-cased,
    /// on one of the organization's mail domains, which must be verified.
    ///
    /// Errors: `InvalidParameterException` (no `@`), `MailDomainNotFoundException`,
    /// `MailDomainStateException`, `EmailAddressInUseException` for the reserved journal
    /// sender `amazonjournaling@<test domain>` (workmail.md §2.24).
    pub(super) async fn assignable_address(
        &self,
        organization_id: &str,
        address: &str,
        member: &str,
    ) -> Result<String> {
        let address = address.trim().to_lowercase();
        let Some((local, domain)) = address.rsplit_once('@') else {
            return Err(err(
                codes::INVALID_PARAMETER,
                format!("{member}: {address} is not an email address"),
            ));
        };
        if local.is_empty() || domain.is_empty() || !address.is_ascii() {
            return Err(err(
                codes::INVALID_PARAMETER,
                format!("{member}: {address} is not an email address"),
            ));
        }
        let record = self.verified_domain(organization_id, domain).await?;
        // The journal records' sender has no mailbox and cannot get one (§2.24).
        if record.is_test_domain && local == crate::delivery::journal::JOURNAL_SENDER_LOCAL_PART {
            return Err(err(
                codes::EMAIL_ADDRESS_IN_USE,
                format!("{member}: {address} is reserved for journal records"),
            ));
        }
        Ok(address)
    }

    /// The organization's mail domain `domain`, which must be verified (its ownership record
    /// is looked up again when it is not yet).
    ///
    /// Errors: `MailDomainNotFoundException`, `MailDomainStateException`.
    pub(super) async fn verified_domain(
        &self,
        organization_id: &str,
        domain: &str,
    ) -> Result<MailDomainRecord> {
        let record = self
            .store
            .get_mail_domain(organization_id, &domain.to_ascii_lowercase())
            .await?
            .ok_or_else(|| {
                err(
                    codes::MAIL_DOMAIN_NOT_FOUND,
                    format!(
                        "Mail domain {domain} is not registered in organization {organization_id}"
                    ),
                )
            })?;
        let verified = |r: &MailDomainRecord| {
            VerificationStatus::parse(&r.ownership_verification_status)
                == VerificationStatus::Verified
        };
        // A verified domain stays usable without a lookup per address; a pending one is
        // looked up again in case its record was published since.
        let record = if verified(&record) {
            record
        } else {
            self.refresh_verification(record).await?
        };
        if !verified(&record) {
            return Err(err(
                codes::MAIL_DOMAIN_STATE,
                format!(
                    "Mail domain {domain} is not verified (ownership {})",
                    record.ownership_verification_status
                ),
            ));
        }
        Ok(record)
    }

    /// Re-checks the DNS records of a non-test domain and stores the new statuses. The test
    /// domain is verified by construction.
    pub(super) async fn refresh_verification(
        &self,
        mut record: MailDomainRecord,
    ) -> Result<MailDomainRecord> {
        if record.is_test_domain {
            return Ok(record);
        }
        let dkim = self.store.dkim_keys(&record.domain_name).await?;
        let verification = self.dns.verify(&record, &dkim).await;
        let activated = self
            .advance_dkim_rotation(&record.domain_name, &dkim, &verification)
            .await?;
        let ownership = verification.ownership.as_str();
        // Newly activated keys were all found published: the active set is verified.
        let dkim = if activated {
            VerificationStatus::Verified.as_str()
        } else {
            verification.dkim.as_str()
        };
        if ownership != record.ownership_verification_status
            || dkim != record.dkim_verification_status
        {
            self.store
                .set_mail_domain_status(&record.domain_name, ownership, dkim)
                .await?;
            record.ownership_verification_status = ownership.to_string();
            record.dkim_verification_status = dkim.to_string();
        }
        Ok(record)
    }

    /// Moves a DKIM key rotation of `domain` on from what DNS shows (issue 3 point 1): once
    /// every pending key's record is published the pending keys become active (the active
    /// ones retiring); a retiring key whose record is gone is deleted. Returns whether keys
    /// were activated.
    async fn advance_dkim_rotation(
        &self,
        domain: &str,
        keys: &[DkimKeyRecord],
        verification: &Verification,
    ) -> Result<bool> {
        let status = |selector: &str| {
            verification
                .keys
                .iter()
                .find(|(s, _)| s == selector)
                .map(|(_, status)| *status)
        };
        let pending: Vec<_> = keys.iter().filter(|k| k.state == DKIM_PENDING).collect();
        let activate = !pending.is_empty()
            && pending
                .iter()
                .all(|k| status(&k.selector) == Some(VerificationStatus::Verified));
        if activate {
            self.store.activate_pending_dkim_keys(domain).await?;
        }
        for key in keys.iter().filter(|k| k.state == DKIM_RETIRING) {
            if status(&key.selector) == Some(VerificationStatus::Pending) {
                self.store
                    .delete_retiring_dkim_key(domain, &key.selector)
                    .await?;
            }
        }
        Ok(activate)
    }
}

/// Refuses an operation on a deleted entity.
///
/// Errors: `EntityStateException`.
pub fn not_deleted(entity: &EntityRecord) -> Result<()> {
    if entity.state == DELETED {
        return Err(err(
            codes::ENTITY_STATE,
            format!("Entity {} is deleted", entity.entity_id),
        ));
    }
    Ok(())
}

/// The name to show for an entity (a deleted entity's former name).
pub fn display_name_of(entity: &EntityRecord) -> String {
    entity
        .deleted_name
        .clone()
        .unwrap_or_else(|| entity.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organization_arn_has_the_original_shape() {
        assert_eq!(
            organization_arn("us-east-1", "123456789012", "m-0123"),
            "arn:aws:workmail:us-east-1:123456789012:organization/m-0123"
        );
    }
}
