//! Domain claims of Chime accounts, as operations of Carillon's admin API (the original
//! offered them only in its console, with the CloudTrail action `AddDomain`): ClaimDomain,
//! ListDomains, GetDomain and DeleteDomain under
//! `/carillon/v1/chime/accounts/{AccountId}/domains`. Spec: chime-zh.md §1.4, §2.4, §2.7;
//! chime-ko.md §1.4, §2.0.4, §2.1.2, §2.1.5.
//!
//! A claim starts `PendingVerification` with a TXT record to publish: owner name
//! `_carillon-chime.<domain>`, value `carillon-chime-verification=<32 hexadecimal digits>`.
//! GetDomain and the [`verification_job`] (every [`VERIFY_INTERVAL`]) look it up through the
//! configured resolver (`ChimeConfig::dns_resolver`, no cache); once found the claim is
//! `Verified` and the first verified domain makes a Team account `EnterpriseLWA`. Any
//! number of accounts may hold a pending claim of a domain; one holds it verified, and
//! claiming a domain another account verified is `ConflictException`.
//!
//! Removing a claim (§1.3, §2.4): the account's users with an address in that domain are
//! signed out everywhere at once (`SessionsRevoked`), lose their license and assigned
//! number; `Suspended` users stay `Suspended`, every other becomes `Released`. They also
//! leave the account's rooms at once (chime-ko.md §2.1.5: they lose their rooms), each
//! removal published as `Membership{Removed}` after the commit. [`RELEASED_PERIOD_MS`]
//! (90 days, chime-ko.md §2.0.4) after the removal, the [`ReleasedUsersPurge`] job moves each
//! user still `Released` out of the account: an identity of no account and no license, which
//! may sign up again. The account stays Enterprise (deletable once no domain is left). IAM:
//! `chime:<Operation>` on `*` (Chime policies name no resources, §1.21).

use std::net::SocketAddr;
use std::time::Duration;

use carillon_adminapi::{CarillonOperation, ErrorSpec, OperationSpec, Registry};
use carillon_core::time::{millis_to_datetime, now_millis};
use carillon_core::{ApiResult, RequestContext};
use carillon_jobs::{CancellationToken, Job, JobLease, Pass, Trigger};
use carillon_store::chime::users::ChimeDomainRecord;
use carillon_store::StoreError;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioAsyncResolver;
use http::Method;
use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::errors::{answer, bad_request, codes, error, Error, Result};
use crate::hub::ChatEvent;
use crate::users::RELEASED;
use crate::Chime;

/// `Status` of a claim whose TXT record was not found yet.
pub const PENDING_VERIFICATION: &str = "PendingVerification";
/// `Status` of a claim whose TXT record was found.
pub const VERIFIED: &str = carillon_store::chime::users::DOMAIN_VERIFIED;
/// `AccountType` an account takes with its first verified domain.
pub const ENTERPRISE_LWA: &str = "EnterpriseLWA";
/// Prefix of the verification TXT record's owner name.
pub const RECORD_PREFIX: &str = "_carillon-chime.";
/// Prefix of the verification TXT record's value.
pub const VALUE_PREFIX: &str = "carillon-chime-verification=";
/// How often the job checks pending claims.
pub const VERIFY_INTERVAL: Duration = Duration::from_secs(60);
/// Pending claims checked, or released users moved, per job round.
const BATCH: i64 = 100;
/// How long a released user stays in its account: 90 days (chime-ko.md §2.0.4), in
/// milliseconds.
pub const RELEASED_PERIOD_MS: i64 = 90 * 24 * 60 * 60 * 1000;
/// How often the [`ReleasedUsersPurge`] job looks for released users past
/// [`RELEASED_PERIOD_MS`].
pub const PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// Name of the [`ReleasedUsersPurge`] job's lease in `job_leases`.
pub const PURGE_LEASE: &str = "chime-released-users";

const COLLECTION: &str = "/carillon/v1/chime/accounts/{AccountId}/domains";
const ITEM: &str = "/carillon/v1/chime/accounts/{AccountId}/domains/{DomainName}";

const NOT_FOUND: ErrorSpec = ErrorSpec {
    code: codes::NOT_FOUND,
    status: 404,
    doc: "No such Chime account (live) or claim in the caller's account.",
};
const BAD_REQUEST: ErrorSpec = ErrorSpec {
    code: codes::BAD_REQUEST,
    status: 400,
    doc: "A member is not valid (the message names it).",
};
const CONFLICT: ErrorSpec = ErrorSpec {
    code: codes::CONFLICT,
    status: 409,
    doc: "Request could not be completed due to a conflict: the account already claims the domain, or another account holds it verified.",
};
const ERRORS: [ErrorSpec; 2] = [NOT_FOUND, BAD_REQUEST];
const CLAIM_ERRORS: [ErrorSpec; 3] = [NOT_FOUND, BAD_REQUEST, CONFLICT];

/// Adds the domain-claim operations of `chime` to `registry`.
pub fn register(registry: &mut Registry, chime: &Chime) {
    registry
        .register(ClaimDomain(chime.clone()))
        .register(ListDomains(chime.clone()))
        .register(GetDomain(chime.clone()))
        .register(DeleteDomain(chime.clone()));
}

/// Input of ClaimDomain.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ClaimDomainInput {
    /// The Chime account.
    pub account_id: String,
    /// The email domain (each subdomain is claimed separately).
    pub domain_name: String,
}

/// Input of ListDomains.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AccountInput {
    /// The Chime account.
    pub account_id: String,
}

/// Input of GetDomain and DeleteDomain.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DomainInput {
    /// The Chime account.
    pub account_id: String,
    /// The claimed domain.
    pub domain_name: String,
}

/// The DNS record proving a claim.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct VerificationRecord {
    /// Owner name (`_carillon-chime.<domain>`).
    pub name: String,
    /// Always `TXT`.
    pub r#type: String,
    /// The record's value.
    pub value: String,
}

/// A claimed domain.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Domain {
    /// The Chime account.
    pub account_id: String,
    /// The domain.
    pub domain_name: String,
    /// `PendingVerification` or `Verified`.
    pub status: String,
    /// The TXT record to publish.
    pub verification_record: VerificationRecord,
    /// When it was claimed (RFC 3339).
    pub created_timestamp: String,
    /// When it was verified (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_timestamp: Option<String>,
}

/// Output of ClaimDomain and GetDomain.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DomainOutput {
    /// The claim.
    pub domain: Domain,
}

/// Output of ListDomains.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ListDomainsOutput {
    /// Every claim of the account, by name.
    pub domains: Vec<Domain>,
}

/// The empty output of DeleteDomain.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EmptyOutput {}

fn rfc3339(millis: i64) -> String {
    millis_to_datetime(millis).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn domain_shape(record: &ChimeDomainRecord) -> Domain {
    Domain {
        account_id: record.chime_account_id.clone(),
        domain_name: record.domain_name.clone(),
        status: record.status.clone(),
        verification_record: VerificationRecord {
            name: record.verification_name.clone(),
            r#type: "TXT".to_string(),
            value: record.verification_value.clone(),
        },
        created_timestamp: rfc3339(record.created_at),
        verified_timestamp: record.verified_at.map(rfc3339),
    }
}

/// `name` lower-cased without a trailing dot, checked as a domain name: 2+ labels of
/// 1–63 letters, digits and hyphens (not at a label's ends), 253 characters at most.
///
/// Errors: `BadRequestException` naming `DomainName`.
fn check_domain(name: &str) -> Result<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let valid = name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid {
        return Err(bad_request(
            "DomainName must be a domain name such as example.com",
        ));
    }
    Ok(name)
}

fn claim_not_found(domain: &str) -> Error {
    error(
        codes::NOT_FOUND,
        format!("The account has no claim of {domain}"),
    )
}

/// Whether the verification TXT record of `domain` is published, looked up through
/// `nameserver` (or the system resolver) without a cache. A lookup failure reads as not
/// published (the job tries again).
async fn record_published(nameserver: Option<SocketAddr>, domain: &ChimeDomainRecord) -> bool {
    let (config, mut opts) = match nameserver {
        Some(addr) => (
            ResolverConfig::from_parts(
                None,
                vec![],
                NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true),
            ),
            ResolverOpts::default(),
        ),
        None => match hickory_resolver::system_conf::read_system_conf() {
            Ok(system) => system,
            Err(e) => {
                tracing::warn!(error = %e, "reading the system DNS configuration");
                return false;
            }
        },
    };
    opts.cache_size = 0;
    opts.use_hosts_file = false;
    opts.timeout = Duration::from_secs(3);
    opts.attempts = 2;
    let resolver = TokioAsyncResolver::tokio(config, opts);
    let Ok(answer) = resolver
        .lookup(format!("{}.", domain.verification_name), RecordType::TXT)
        .await
    else {
        return false;
    };
    answer.record_iter().any(|record| match record.data() {
        Some(RData::TXT(txt)) => {
            let value: String = txt
                .txt_data()
                .iter()
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect();
            value.trim() == domain.verification_value
        }
        _ => false,
    })
}

/// Checks a pending claim's TXT record and verifies it when found; returns the claim as it
/// is afterwards.
///
/// Errors: `ServiceFailureException` when the store fails.
async fn check(chime: &Chime, mut domain: ChimeDomainRecord) -> Result<ChimeDomainRecord> {
    if domain.status != PENDING_VERIFICATION {
        return Ok(domain);
    }
    let now = now_millis();
    if !record_published(chime.config.dns_resolver, &domain).await {
        chime.store.touch_chime_domain(&domain, now).await?;
        domain.checked_at = Some(now);
        return Ok(domain);
    }
    match chime
        .store
        .verify_chime_domain(&domain, now, ENTERPRISE_LWA)
        .await
    {
        Ok(true) => {
            domain.status = VERIFIED.to_string();
            domain.verified_at = Some(now);
            domain.checked_at = Some(now);
        }
        Ok(false) => {}
        // Another account verified the domain first: this claim stays pending.
        Err(StoreError::Conflict(_)) => {
            chime.store.touch_chime_domain(&domain, now).await?;
            domain.checked_at = Some(now);
        }
        Err(e) => return Err(Error::from(e)),
    }
    Ok(domain)
}

/// Checks pending claims every [`VERIFY_INTERVAL`] until `shutdown` (see
/// [`DomainVerification`]).
pub async fn verification_job(chime: Chime, shutdown: CancellationToken) {
    carillon_jobs::run(DomainVerification(chime), shutdown).await;
}

/// The domain verification job: checks pending claims every [`VERIFY_INTERVAL`] (§2.7:
/// Chime checks for the record). Each check is idempotent, so every node runs it; at
/// shutdown a pass ends after the claim it is checking.
#[derive(Clone)]
pub struct DomainVerification(pub Chime);

#[async_trait::async_trait]
impl Job for DomainVerification {
    fn name(&self) -> &'static str {
        "chime-domain-verification"
    }

    fn trigger(&self) -> Trigger {
        Trigger::Every(VERIFY_INTERVAL)
    }

    async fn pass(&self, shutdown: &CancellationToken) -> Pass {
        match self.0.store.pending_chime_domains(BATCH).await {
            Ok(pending) => {
                for domain in pending {
                    if shutdown.is_cancelled() {
                        break;
                    }
                    if let Err(e) = check(&self.0, domain).await {
                        tracing::warn!(error = %e.message, "checking a Chime domain claim");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing pending Chime domain claims"),
        }
        Pass::Idle
    }
}

/// Moves every user released at or before `now - RELEASED_PERIOD_MS` and still `Released`
/// out of its account (an identity of no account and no license, the account's invitations
/// to it deleted); returns their IDs. Idempotent.
///
/// Errors: `ServiceFailureException` when the store fails.
pub async fn purge_released_users(chime: &Chime, now: i64) -> Result<Vec<String>> {
    let mut moved = Vec::new();
    loop {
        let batch = chime
            .store
            .purge_released_chime_users(RELEASED, now - RELEASED_PERIOD_MS, now, BATCH)
            .await?;
        let done = (batch.len() as i64) < BATCH;
        moved.extend(batch);
        if done {
            return Ok(moved);
        }
    }
}

/// The released-users job: runs [`purge_released_users`] every [`PURGE_INTERVAL`] on the
/// node holding the job lease [`PURGE_LEASE`] (two intervals long, so another node takes over
/// when the holder stops). A pass finishes its batches at shutdown.
#[derive(Clone)]
pub struct ReleasedUsersPurge {
    chime: Chime,
    lease: JobLease,
}

impl ReleasedUsersPurge {
    /// The job of the node `chime.config().node_id`.
    pub fn new(chime: Chime) -> Self {
        let lease = JobLease::new(
            chime.store.clone(),
            PURGE_LEASE,
            chime.config.node_id.clone(),
            PURGE_INTERVAL * 2,
        );
        ReleasedUsersPurge { chime, lease }
    }
}

#[async_trait::async_trait]
impl Job for ReleasedUsersPurge {
    fn name(&self) -> &'static str {
        PURGE_LEASE
    }

    fn trigger(&self) -> Trigger {
        Trigger::Every(PURGE_INTERVAL)
    }

    fn lease(&self) -> Option<&JobLease> {
        Some(&self.lease)
    }

    async fn pass(&self, _shutdown: &CancellationToken) -> Pass {
        match purge_released_users(&self.chime, now_millis()).await {
            Ok(moved) if !moved.is_empty() => {
                tracing::info!(
                    users = moved.len(),
                    "released Chime users left their accounts"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e.message, "purging released Chime users"),
        }
        Pass::Idle
    }
}

async fn claim(
    chime: &Chime,
    ctx: &RequestContext,
    account_id: &str,
    domain_name: &str,
) -> Result<ChimeDomainRecord> {
    let name = check_domain(domain_name)?;
    let account = chime.live_account(ctx, account_id).await?;
    chime
        .store
        .chime_domain(&ctx.account_id, &account.chime_account_id, &name)
        .await?
        .ok_or_else(|| claim_not_found(&name))
}

/// ClaimDomain (the guide's `AddDomain`).
pub struct ClaimDomain(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for ClaimDomain {
    type Input = ClaimDomainInput;
    type Output = DomainOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "ClaimDomain",
            method: Method::POST,
            path: COLLECTION,
            action: "chime:ClaimDomain",
            resource: "*",
            summary: "Claims an email domain for a Chime account (the console's AddDomain).",
            docs: "The claim is PendingVerification until the TXT record in VerificationRecord is published; GetDomain and a background check (every minute) verify it through DNS. The first verified domain makes the account EnterpriseLWA, and users signing up with an address of the domain join it. Claim each subdomain separately. Spec: chime-zh.md §1.4, §2.7.",
            errors: &CLAIM_ERRORS,
        }
    }

    async fn call(&self, ctx: &RequestContext, input: ClaimDomainInput) -> ApiResult<DomainOutput> {
        answer(async move {
            let chime = &self.0;
            let name = check_domain(&input.domain_name)?;
            let account = chime.live_account(ctx, &input.account_id).await?;
            let conflict = || {
                error(
                    codes::CONFLICT,
                    "Request could not be completed due to a conflict",
                )
            };
            let held = chime.store.verified_chime_domain(&name).await?;
            if held.is_some() {
                return Err(conflict());
            }
            let token: [u8; 16] = rand::thread_rng().gen();
            let record = ChimeDomainRecord {
                chime_account_id: account.chime_account_id.clone(),
                domain_name: name.clone(),
                account_id: ctx.account_id.clone(),
                status: PENDING_VERIFICATION.to_string(),
                verification_name: format!("{RECORD_PREFIX}{name}"),
                verification_value: format!("{VALUE_PREFIX}{}", hex::encode(token)),
                created_at: now_millis(),
                verified_at: None,
                checked_at: None,
            };
            match chime.store.insert_chime_domain(&record).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => return Err(conflict()),
                Err(e) => return Err(Error::from(e)),
            }
            Ok(DomainOutput {
                domain: domain_shape(&record),
            })
        })
        .await
    }
}

/// ListDomains.
pub struct ListDomains(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for ListDomains {
    type Input = AccountInput;
    type Output = ListDomainsOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "ListDomains",
            method: Method::GET,
            path: COLLECTION,
            action: "chime:ListDomains",
            resource: "*",
            summary: "Lists the domains a Chime account claims, with their status.",
            docs: "Every claim, pending or verified, by name, with the TXT record that verifies it. Spec: chime-zh.md §1.4.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: AccountInput,
    ) -> ApiResult<ListDomainsOutput> {
        answer(async move {
            let chime = &self.0;
            let account = chime.live_account(ctx, &input.account_id).await?;
            let domains = chime
                .store
                .list_chime_domains(&ctx.account_id, &account.chime_account_id)
                .await?;
            Ok(ListDomainsOutput {
                domains: domains.iter().map(domain_shape).collect(),
            })
        })
        .await
    }
}

/// GetDomain (checks DNS while pending).
pub struct GetDomain(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for GetDomain {
    type Input = DomainInput;
    type Output = DomainOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "GetDomain",
            method: Method::GET,
            path: ITEM,
            action: "chime:GetDomain",
            resource: "*",
            summary: "Returns a domain claim, verifying it first if its TXT record is now published.",
            docs: "A PendingVerification claim is looked up in DNS (through the configured resolver, uncached) and becomes Verified when the record is found. Spec: chime-zh.md §2.7.",
            errors: &ERRORS,
        }
    }

    async fn call(&self, ctx: &RequestContext, input: DomainInput) -> ApiResult<DomainOutput> {
        answer(async move {
            let chime = &self.0;
            let domain = claim(chime, ctx, &input.account_id, &input.domain_name).await?;
            let domain = check(chime, domain).await?;
            Ok(DomainOutput {
                domain: domain_shape(&domain),
            })
        })
        .await
    }
}

/// DeleteDomain (the console's Remove domain; irreversible).
pub struct DeleteDomain(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for DeleteDomain {
    type Input = DomainInput;
    type Output = EmptyOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "DeleteDomain",
            method: Method::DELETE,
            path: ITEM,
            action: "chime:DeleteDomain",
            resource: "*",
            summary: "Removes a domain claim and releases the account's users of that domain.",
            docs: "The account's users with an address in the domain are signed out of every device at once and lose their license, phone number and memberships of the account's rooms; Suspended users stay Suspended, the others become Released (UserRegistrationStatus \"Released\") and may join another account. 90 days later the Released users leave the account. Cannot be undone. Spec: chime-zh.md §1.3, §2.4; chime-ko.md §2.0.4, §2.1.5.",
            errors: &ERRORS,
        }
    }

    async fn call(&self, ctx: &RequestContext, input: DomainInput) -> ApiResult<EmptyOutput> {
        answer(async move {
        let chime = &self.0;
        let domain = claim(chime, ctx, &input.account_id, &input.domain_name).await?;
        let removal = chime
            .store
            .delete_chime_domain(
                &ctx.account_id,
                &domain.chime_account_id,
                &domain.domain_name,
                RELEASED,
                now_millis(),
            )
            .await?
            .ok_or_else(|| claim_not_found(&domain.domain_name))?;
        // The removal is committed: a failed event read is logged, not answered as a
        // failure of the operation.
        for membership in &removal.memberships {
            if let Err(e) = crate::rooms::publish_user_removed(
                chime,
                &ctx.account_id,
                &membership.room_id,
                &membership.member_id,
                &membership.role,
            )
            .await
            {
                tracing::warn!(room_id = %membership.room_id, error = %e.message, "publishing a released user's room removal");
            }
        }
        for user_id in removal.users {
            chime.hub.publish(ChatEvent::SessionsRevoked { user_id });
        }
        Ok(EmptyOutput {})
    }).await
    }
}
