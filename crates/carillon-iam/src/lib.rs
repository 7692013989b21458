//! Identity and access: accounts (tenants), principals, access keys, SigV4 verification,
//! policy evaluation with the guides' managed policies, and the audit trail.
//!
//! Owns who may call the admin APIs and what they may do: [`Iam::verify`] authenticates a
//! SigV4-signed request ([`sigv4`]), [`Iam::authorize`] evaluates the caller's policies
//! ([`policy`], [`managed`]), [`Iam::record_audit`] keeps the CloudTrail-shaped trail
//! ([`audit`]), and the account/key operations back `carillon serve`'s bootstrap and the
//! `carillon accounts|keys create` commands. It stores through carillon-store's typed
//! functions and must not touch any service's resources (organizations, users, mail): it
//! answers *who* and *may they*, never *what*. Private modules: `credentials` (the AWS
//! shared-credentials files `carillon accounts|keys create` write), `error`.
//!
//! Known gap: secret access keys are stored in clear in the metadata database, because
//! SigV4 verification needs the secret itself as HMAC key material (a hash cannot verify a
//! signature). Encrypting them at rest awaits the key-encryption-key provider (PRODUCT.md,
//! KMS row); until then the database must be protected like the credentials files.

pub mod audit;
mod credentials;
mod error;
pub mod managed;
pub mod policy;
pub mod sigv4;

use carillon_core::arn::Arn;
use carillon_core::error::codes;
use carillon_core::{ids, ApiError};
use carillon_store::{
    AccountRecord, AuditCursor, AuditEventRecord, NewPrincipal, Store, StoreError,
    ACCESS_KEY_ACTIVE,
};
use chrono::{DateTime, Utc};

pub use audit::{AuditRecord, UserIdentity};
pub use credentials::{write_credentials_file, AccessKey};
pub use error::IamError;
pub use managed::MANAGED_POLICY_NAMES;

use credentials::StagedCredentials;
use policy::{ConditionContext, Decision, RequestFacts};

/// Name of the account created on first start.
pub const BOOTSTRAP_ACCOUNT_NAME: &str = "bootstrap";
/// User name of every account's administrator principal.
pub const ADMINISTRATOR_NAME: &str = "admin";

/// How many fresh account IDs to try when a random one collides.
const ACCOUNT_ID_ATTEMPTS: usize = 3;

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// 12-digit account ID.
    pub account_id: String,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<AccountRecord> for Account {
    fn from(r: AccountRecord) -> Self {
        Account {
            account_id: r.account_id,
            name: r.name,
            created_at: carillon_core::time::millis_to_datetime(r.created_at),
        }
    }
}

/// The authenticated caller of a request, as established by [`Iam::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCaller {
    /// The caller's account: the tenant every resource of the call belongs to.
    pub account_id: String,
    /// ARN of the calling principal, e.g. `arn:aws:iam::123456789012:user/admin`.
    pub principal_arn: String,
    /// Access key that signed the request.
    pub access_key_id: String,
    /// Service name of the credential scope (`workmail`, `chime`, `wickr`, `carillon`, …).
    pub service: String,
    /// Region of the credential scope (equal to the server's region).
    pub region: String,
}

/// Request facts global condition keys are read from (see [`policy::ConditionContext`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestConditions {
    /// `aws:SecureTransport`: whether the request came over TLS.
    pub secure_transport: bool,
    /// `aws:SourceIp`: the caller's IP address.
    pub source_ip: String,
    /// `aws:UserAgent`.
    pub user_agent: String,
    /// `aws:CurrentTime` / `aws:EpochTime`.
    pub current_time: DateTime<Utc>,
}

/// The identity and access layer over the store, for one server region. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Iam {
    store: Store,
    region: String,
}

fn is_valid_account_name(name: &str) -> bool {
    (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || " .-_@+=,".contains(c))
        && name.trim() == name
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "identity store failed");
    ApiError::internal("The identity store could not be read.")
}

/// A fresh principal (and its key) named `name` in `account_id` with `policy`.
fn new_principal(account_id: &str, name: &str, policy: &str) -> NewPrincipal {
    NewPrincipal {
        account_id: account_id.to_string(),
        arn: Arn::new("iam", "", account_id, format!("user/{name}")).to_string(),
        name: name.to_string(),
        policy_names: vec![policy.to_string()],
        access_key_id: ids::new_access_key_id(),
        secret_access_key: ids::new_secret_access_key(),
        created_at: carillon_core::time::now_millis(),
    }
}

fn access_key_of(principal: &NewPrincipal) -> AccessKey {
    AccessKey {
        access_key_id: principal.access_key_id.clone(),
        secret_access_key: principal.secret_access_key.clone(),
        account_id: principal.account_id.clone(),
        principal_arn: principal.arn.clone(),
    }
}

impl Iam {
    /// The layer over `store` for a server in `region` (credential scopes must name it).
    pub fn new(store: Store, region: impl Into<String>) -> Self {
        Iam {
            store,
            region: region.into(),
        }
    }

    /// Verifies the SigV4 signature of a request (header `Authorization: AWS4-HMAC-SHA256 …`
    /// or presigned query), with `body` the complete request body and `now` the server clock.
    ///
    /// Errors: `MissingAuthenticationTokenException` (unsigned);
    /// `IncompleteSignatureException` (malformed); `UnrecognizedClientException` "The
    /// security token included in the request is invalid." (unknown or inactive key);
    /// `InvalidSignatureException` (scope region or date wrong, more than 15 minutes of
    /// skew, presigned URL expired, signature mismatch); `InternalFailure` when the store
    /// fails.
    pub async fn verify(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<VerifiedCaller, ApiError> {
        let claim = sigv4::parse_claim(parts)?;
        let key = match self
            .store
            .access_key(&claim.access_key_id)
            .await
            .map_err(internal)?
        {
            Some(key) if key.status == ACCESS_KEY_ACTIVE => key,
            _ => {
                return Err(ApiError::new(
                    codes::UNRECOGNIZED_CLIENT,
                    "The security token included in the request is invalid.",
                ))
            }
        };
        sigv4::check_scope_and_time(&claim, &self.region, now)?;
        sigv4::verify_signature(&claim, parts, body, &key.secret_access_key)?;
        Ok(VerifiedCaller {
            account_id: key.account_id,
            principal_arn: key.principal_arn,
            access_key_id: key.access_key_id,
            service: claim.service,
            region: claim.region,
        })
    }

    /// Decides whether `caller` may perform `action` (`service:Operation`) on `resource`
    /// (an ARN, or `*` for create-type actions): explicit Deny > Allow > implicit deny over
    /// the managed policies attached to the caller's principal.
    ///
    /// Errors: `AccessDeniedException` "User: <arn> is not authorized to perform: <action>
    /// on resource: <resource>" (workmail.md §5.1); `InternalFailure` when the store fails.
    pub async fn authorize(
        &self,
        caller: &VerifiedCaller,
        action: &str,
        resource: &str,
        conditions: &RequestConditions,
    ) -> Result<(), ApiError> {
        let names = self
            .store
            .principal_policy_names(&caller.account_id, &caller.principal_arn)
            .await
            .map_err(internal)?;
        let policies = names.iter().filter_map(|name| {
            let policy = managed::managed_policy(name);
            if policy.is_none() {
                tracing::warn!(policy = %name, principal = %caller.principal_arn, "attached policy unknown; ignored");
            }
            policy
        });
        let context = ConditionContext::for_request(&RequestFacts {
            secure_transport: conditions.secure_transport,
            source_ip: &conditions.source_ip,
            user_agent: &conditions.user_agent,
            current_time: conditions.current_time,
            requested_region: &caller.region,
            principal_arn: &caller.principal_arn,
            principal_account: &caller.account_id,
        });
        match policy::evaluate(policies, action, resource, &context) {
            Decision::Allow => Ok(()),
            decision => {
                tracing::debug!(principal = %caller.principal_arn, action, resource, ?decision, "access denied");
                Err(ApiError::new(
                    codes::ACCESS_DENIED,
                    format!(
                        "User: {} is not authorized to perform: {action} on resource: {resource}",
                        caller.principal_arn
                    ),
                ))
            }
        }
    }

    /// First start: creates the account `bootstrap` with the principal `admin`
    /// (`AdministratorAccess`) and its access key, and writes the key to `credentials_path`
    /// (AWS shared-credentials format, mode 0600). The file is written and synced under a
    /// temporary name (`.<name>.tmp-<uuid>`, same directory) *before* the account is
    /// committed and renamed into place after, so a committed key is always on disk: should
    /// the final rename fail, it remains in that temporary file.
    ///
    /// Idempotent: when the account exists (or another node creates it concurrently) it
    /// does nothing and returns `None`. It never recreates secrets: if the account exists
    /// but the file is gone, it logs a warning; create a new key with
    /// `carillon keys create --policy AdministratorAccess --credentials-out FILE`.
    ///
    /// Errors: `Io` when the file cannot be written (nothing is committed then);
    /// `AccountIdsExhausted`; `Store`.
    pub async fn ensure_bootstrap(
        &self,
        credentials_path: &std::path::Path,
    ) -> Result<Option<AccessKey>, IamError> {
        if self
            .store
            .account_by_name(BOOTSTRAP_ACCOUNT_NAME)
            .await?
            .is_some()
        {
            if !credentials_path.exists() {
                tracing::warn!(
                    file = %credentials_path.display(),
                    "bootstrap account exists but its credentials file is missing; secrets are not recreated (use `carillon keys create --policy AdministratorAccess`)"
                );
            }
            return Ok(None);
        }
        for _ in 0..ACCOUNT_ID_ATTEMPTS {
            let principal = new_principal(
                &ids::new_account_id(),
                ADMINISTRATOR_NAME,
                managed::ADMINISTRATOR_ACCESS,
            );
            let key = access_key_of(&principal);
            let staged = StagedCredentials::write(credentials_path, &key)?;
            let account = AccountRecord {
                account_id: principal.account_id.clone(),
                name: BOOTSTRAP_ACCOUNT_NAME.to_string(),
                created_at: principal.created_at,
            };
            match self
                .store
                .create_account_with_principal(&account, &principal)
                .await
            {
                Ok(()) => {
                    staged.publish()?;
                    return Ok(Some(key));
                }
                Err(StoreError::Conflict(_)) => {
                    staged.discard();
                    // Another node (or process) created the bootstrap account first; else the
                    // random account ID collided and a fresh one is drawn.
                    if self
                        .store
                        .account_by_name(BOOTSTRAP_ACCOUNT_NAME)
                        .await?
                        .is_some()
                    {
                        return Ok(None);
                    }
                }
                Err(e) => {
                    staged.discard();
                    return Err(e.into());
                }
            }
        }
        Err(IamError::AccountIdsExhausted)
    }

    /// Creates a tenant named `name` (12-digit account ID) with its administrator principal
    /// `admin` (`AdministratorAccess`) and that principal's access key.
    ///
    /// Errors: `InvalidAccountName`; `AccountNameExists`; `AccountIdsExhausted`; `Store`.
    pub async fn create_account(&self, name: &str) -> Result<(Account, AccessKey), IamError> {
        if !is_valid_account_name(name) {
            return Err(IamError::InvalidAccountName(name.to_string()));
        }
        for _ in 0..ACCOUNT_ID_ATTEMPTS {
            if self.store.account_by_name(name).await?.is_some() {
                return Err(IamError::AccountNameExists(name.to_string()));
            }
            let principal = new_principal(
                &ids::new_account_id(),
                ADMINISTRATOR_NAME,
                managed::ADMINISTRATOR_ACCESS,
            );
            let record = AccountRecord {
                account_id: principal.account_id.clone(),
                name: name.to_string(),
                created_at: principal.created_at,
            };
            match self
                .store
                .create_account_with_principal(&record, &principal)
                .await
            {
                Ok(()) => return Ok((record.into(), access_key_of(&principal))),
                // The name was taken meanwhile (checked on the next turn) or the random
                // account ID collided (a fresh one is drawn).
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(IamError::AccountIdsExhausted)
    }

    /// Creates a new principal in `account_id` (the bootstrap account when `None`) with the
    /// managed policy `policy_name` attached, and returns its access key. The principal is
    /// named `<policy_name>-<8 hex digits>`.
    ///
    /// Errors: `UnknownPolicy` (listing the valid names); `AccountNotFound`;
    /// `NoBootstrapAccount`; `Store`.
    pub async fn create_access_key(
        &self,
        account_id: Option<&str>,
        policy_name: &str,
    ) -> Result<AccessKey, IamError> {
        if managed::managed_policy(policy_name).is_none() {
            return Err(IamError::UnknownPolicy(policy_name.to_string()));
        }
        let account = match account_id {
            Some(id) => self
                .store
                .account(id)
                .await?
                .ok_or_else(|| IamError::AccountNotFound(id.to_string()))?,
            None => self
                .store
                .account_by_name(BOOTSTRAP_ACCOUNT_NAME)
                .await?
                .ok_or(IamError::NoBootstrapAccount)?,
        };
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let principal = new_principal(
            &account.account_id,
            &format!("{policy_name}-{suffix}"),
            policy_name,
        );
        match self.store.create_principal(&principal).await {
            Ok(()) => Ok(access_key_of(&principal)),
            Err(StoreError::NotFound(_)) => Err(IamError::AccountNotFound(account.account_id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends `record` to the audit trail of its `recipient_account_id`, with secret-looking
    /// members of its parameters and response hidden ([`audit::hide_secrets`]).
    ///
    /// Errors: `Store` (including `Conflict` for a repeated `event_id`).
    pub async fn record_audit(&self, record: &AuditRecord) -> Result<(), IamError> {
        let record = record.redacted();
        self.store
            .insert_audit_event(&AuditEventRecord {
                event_id: record.event_id.clone(),
                account_id: record.recipient_account_id.clone(),
                // Whole seconds, as in the JSON, so a record read back gives its own cursor.
                event_time: record.event_time.timestamp() * 1000,
                event_source: record.event_source.clone(),
                event_name: record.event_name.clone(),
                record: record.to_json().to_string(),
            })
            .await?;
        Ok(())
    }

    /// Up to `limit` audit records of `account_id`, oldest first, strictly after `after`
    /// (use [`audit_cursor`] of the last record read to page on).
    ///
    /// Errors: `Store`; `UnreadableAuditRecord` when a stored record no longer parses.
    pub async fn list_audit_records(
        &self,
        account_id: &str,
        after: Option<&AuditCursor>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, IamError> {
        self.store
            .list_audit_events(account_id, after, limit)
            .await?
            .into_iter()
            .map(|event| {
                serde_json::from_str(&event.record).map_err(|e| IamError::UnreadableAuditRecord {
                    event_id: event.event_id.clone(),
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}

/// The cursor that resumes an audit listing after `record`.
pub fn audit_cursor(record: &AuditRecord) -> AuditCursor {
    AuditCursor {
        event_time: record.event_time.timestamp() * 1000,
        event_id: record.event_id.clone(),
    }
}
