//! DKIM key rotation (issue 3 point 1; the keys and records of workmail.md §1.3), operations
//! of Carillon's admin API: `RotateDkimKeys` at
//! `POST /carillon/v1/organizations/{OrganizationId}/mail-domains/{DomainName}/dkim-rotation`
//! and `ListDkimKeys` at `GET …/mail-domains/{DomainName}/dkim-keys`.
//!
//! The rotation adds a new Ed25519 and RSA-2048 pair, pending until their TXT records are
//! published; GetMailDomain lists the records to publish and, when it finds them all, makes the
//! new keys sign and retires the old ones, each deleted once its record is removed from DNS (see
//! [`crate::dkim::rotate_domain_keys`]). IAM action `workmail:RotateDkimKeys` on the
//! organization ARN.

use carillon_adminapi::{CarillonOperation, ErrorSpec, OperationSpec, Registry};
use carillon_core::time::now_millis;
use carillon_core::{ApiResult, RequestContext};
use carillon_store::{MailDomainRecord, DKIM_PENDING};
use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{codes, rfc3339, ORGANIZATION_RESOURCE as RESOURCE, ORG_NOT_FOUND, ORG_STATE};
use super::dns::new_dkim_selectors;
use super::error::{answer, dkim_failure, err, Result};
use super::WorkMail;

const PATH: &str =
    "/carillon/v1/organizations/{OrganizationId}/mail-domains/{DomainName}/dkim-rotation";
const KEYS_PATH: &str =
    "/carillon/v1/organizations/{OrganizationId}/mail-domains/{DomainName}/dkim-keys";

/// Input of RotateDkimKeys and ListDkimKeys.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RotateDkimKeysInput {
    /// The organization (`m-` and 32 hexadecimal digits).
    #[schemars(pattern(r"^m-[0-9a-f]{32}$"))]
    pub organization_id: String,
    /// A mail domain registered in the organization (not its test domain).
    #[schemars(length(min = 3, max = 209))]
    pub domain_name: String,
}

/// A DNS record to publish.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PublishRecord {
    /// `TXT`.
    pub r#type: String,
    /// `<selector>._domainkey.<domain>.`
    pub hostname: String,
    /// `v=DKIM1; k=<ed25519|rsa>; p=<base64>`.
    pub value: String,
}

/// Output of RotateDkimKeys.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct RotateDkimKeysOutput {
    /// The domain.
    pub domain_name: String,
    /// The new keys' selectors (Ed25519 first, then RSA), pending until published.
    pub pending_selectors: Vec<String>,
    /// The TXT records to publish for them.
    pub records: Vec<PublishRecord>,
}

/// One DKIM key of a domain (never its private part).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DkimKey {
    /// The selector (`s=`).
    pub selector: String,
    /// `ed25519` or `rsa`.
    pub algorithm: String,
    /// `ACTIVE` (signs), `PENDING` (waiting for its record) or `RETIRING` (kept until its
    /// record is gone).
    pub state: String,
    /// Creation (RFC 3339, UTC).
    pub date_created: String,
}

/// Output of ListDkimKeys.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ListDkimKeysOutput {
    /// The domain's keys, by selector.
    pub keys: Vec<DkimKey>,
}

/// Adds RotateDkimKeys and ListDkimKeys of `workmail` to `registry`.
pub fn register(registry: &mut Registry, workmail: &WorkMail) {
    registry
        .register(RotateDkimKeys(workmail.clone()))
        .register(ListDkimKeys(workmail.clone()));
}

static ERRORS: [ErrorSpec; 4] = [
    ORG_NOT_FOUND,
    ORG_STATE,
    ErrorSpec {
        code: codes::MAIL_DOMAIN_NOT_FOUND,
        status: 400,
        doc: "The domain is not registered in the organization.",
    },
    ErrorSpec {
        code: codes::MAIL_DOMAIN_STATE,
        status: 400,
        doc: "A rotation is already waiting for its records, or the domain is the test domain.",
    },
];

/// The registered domain `name` of the caller's organization `organization_id`.
async fn mail_domain(
    wm: &WorkMail,
    ctx: &RequestContext,
    organization_id: &str,
    name: &str,
) -> Result<MailDomainRecord> {
    let org = wm.active_organization(ctx, organization_id).await?;
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    wm.store
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
        })
}

/// ListDkimKeys: a mail domain's DKIM keys and where each is in a rotation.
pub struct ListDkimKeys(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for ListDkimKeys {
    type Input = RotateDkimKeysInput;
    type Output = ListDkimKeysOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "ListDkimKeys",
            method: Method::GET,
            path: KEYS_PATH,
            action: "workmail:ListDkimKeys",
            resource: RESOURCE,
            summary: "Lists a mail domain's DKIM keys and their rotation state.",
            docs: "Selector, algorithm, state (ACTIVE, PENDING, RETIRING) and creation time of each key; never the private key. Spec: workmail.md §1.3.",
            errors: &ERRORS[..3],
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: RotateDkimKeysInput,
    ) -> ApiResult<ListDkimKeysOutput> {
        answer(async move {
            let wm = &self.0;
            let domain = mail_domain(wm, ctx, &input.organization_id, &input.domain_name).await?;
            let keys = wm
                .store
                .dkim_keys(&domain.domain_name)
                .await?
                .into_iter()
                .map(|k| DkimKey {
                    selector: k.selector,
                    algorithm: k.algorithm,
                    state: k.state,
                    date_created: rfc3339(k.created_at),
                })
                .collect();
            Ok(ListDkimKeysOutput { keys })
        })
        .await
    }
}

/// RotateDkimKeys: starts a DKIM key rotation of a mail domain.
pub struct RotateDkimKeys(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for RotateDkimKeys {
    type Input = RotateDkimKeysInput;
    type Output = RotateDkimKeysOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "RotateDkimKeys",
            method: Method::POST,
            path: PATH,
            action: "workmail:RotateDkimKeys",
            resource: RESOURCE,
            summary: "Starts a DKIM key rotation of a mail domain.",
            docs: "Creates a new Ed25519 and RSA-2048 key pair under new selectors and returns the TXT records to publish. The current keys go on signing until GetMailDomain finds every new record published; then the new keys sign and the old ones retire. A retired key is deleted once its record is gone from DNS, so mail signed with it verifies while the record is still published. One rotation at a time. Spec: workmail.md §1.3.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: RotateDkimKeysInput,
    ) -> ApiResult<RotateDkimKeysOutput> {
        answer(async move {
            let wm = &self.0;
            let record = mail_domain(wm, ctx, &input.organization_id, &input.domain_name).await?;
            let name = record.domain_name.clone();
            if record.is_test_domain {
                return Err(err(
                    codes::MAIL_DOMAIN_STATE,
                    format!("DomainName: {name} is the test domain; Carillon publishes its keys"),
                ));
            }
            let selectors = new_dkim_selectors();
            let started =
                crate::dkim::rotate_domain_keys(&wm.store, &name, &selectors, now_millis())
                    .await
                    .map_err(dkim_failure)?;
            if !started {
                return Err(err(
                    codes::MAIL_DOMAIN_STATE,
                    format!("DomainName: a key rotation of {name} is waiting for its DNS records"),
                ));
            }
            let keys = wm.store.dkim_keys(&name).await?;
            let pending: Vec<_> = keys.iter().filter(|k| k.state == DKIM_PENDING).collect();
            Ok(RotateDkimKeysOutput {
                domain_name: name.clone(),
                pending_selectors: selectors,
                records: pending
                    .iter()
                    .map(|key| PublishRecord {
                        r#type: "TXT".to_string(),
                        hostname: format!("{}._domainkey.{name}.", key.selector),
                        value: crate::dkim::txt_record_value(key),
                    })
                    .collect(),
            })
        })
        .await
    }
}
