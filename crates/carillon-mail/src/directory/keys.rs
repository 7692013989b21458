//! Carillon keys, the stand-in for the AWS KMS keys WorkMail uses (workmail.md §5.3, §2.6
//! `KmsKeyArn`, §2.22): `CreateKey`, `ListKeys` and `DescribeKey` as operations of
//! Carillon's admin API under `/carillon/v1/keys`, with KMS's IAM actions (`kms:CreateKey`,
//! `kms:ListKeys`, `kms:DescribeKey`), and the resolution of a `KmsKeyArn` given to
//! CreateOrganization or StartMailboxExportJob.
//!
//! A key is 256 bits of AES key material kept by the key provider (by default a private file
//! under `<data-dir>/keys/`); only its metadata is ever returned. Each account also has a
//! default key, alias `alias/aws/workmail` (the "AWS managed key for WorkMail"), created
//! when an organization is created without a `KmsKeyArn` and listed like the others.

use carillon_adminapi::{CarillonOperation, ErrorSpec, OperationSpec, Registry};
use carillon_core::{ApiResult, RequestContext};
use carillon_kms::{KeyArn, KeyManager, KeyMetadata, KmsError};
use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{codes, rfc3339};
use super::error::{answer, err, Error, Result};
use super::WorkMail;

const KEYS_PATH: &str = "/carillon/v1/keys";
const KEY_PATH: &str = "/carillon/v1/keys/{KeyId}";
const KEY_RESOURCE: &str = "arn:aws:kms:{region}:{account}:key/{KeyId}";

/// KMS's error for a key that does not exist (in the caller's account).
const NOT_FOUND: &str = "NotFoundException";

/// Input of CreateKey.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateKeyInput {
    /// Free text describing the key (KMS allows up to 8,192 characters).
    #[schemars(length(max = 8192))]
    #[serde(default)]
    pub description: Option<String>,
}

/// One key's metadata (KMS `KeyMetadata`, the members Carillon has).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadataOutput {
    /// The key's UUID.
    pub key_id: String,
    /// `arn:aws:kms:<region>:<account>:key/<uuid>`: what `KmsKeyArn` names.
    pub arn: String,
    /// The owning account.
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    /// The description given at creation.
    pub description: String,
    /// Creation time (RFC 3339, UTC).
    pub creation_date: String,
    /// `CUSTOMER` for created keys, `AWS` for the account default key.
    pub key_manager: String,
    /// Always `ENCRYPT_DECRYPT`.
    pub key_usage: String,
    /// Always `SYMMETRIC_DEFAULT` (256-bit AES-GCM).
    pub key_spec: String,
    /// Always `Enabled`.
    pub key_state: String,
    /// `alias/aws/workmail` for the account default key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

impl From<KeyMetadata> for KeyMetadataOutput {
    fn from(key: KeyMetadata) -> Self {
        KeyMetadataOutput {
            key_id: key.key_id,
            arn: key.arn,
            aws_account_id: key.account_id,
            description: key.description,
            creation_date: rfc3339(key.creation_date),
            key_manager: match key.key_manager {
                KeyManager::Aws => "AWS",
                KeyManager::Customer => "CUSTOMER",
            }
            .to_string(),
            key_usage: "ENCRYPT_DECRYPT".to_string(),
            key_spec: "SYMMETRIC_DEFAULT".to_string(),
            key_state: "Enabled".to_string(),
            alias: key.alias,
        }
    }
}

/// Output of CreateKey and DescribeKey.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct KeyOutput {
    /// The key.
    pub key_metadata: KeyMetadataOutput,
}

/// Input of ListKeys (none).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListKeysInput {}

/// One entry of ListKeys.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    /// The key's UUID.
    pub key_id: String,
    /// The key's ARN.
    pub key_arn: String,
}

/// Output of ListKeys.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysOutput {
    /// Every key of the account, oldest first.
    pub keys: Vec<KeyListEntry>,
}

/// Input of DescribeKey.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeKeyInput {
    /// The key's UUID.
    #[schemars(pattern(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"))]
    pub key_id: String,
}

/// Adds the key operations of `workmail` to `registry`.
pub fn register(registry: &mut Registry, workmail: &WorkMail) {
    registry
        .register(CreateKey(workmail.clone()))
        .register(ListKeys(workmail.clone()))
        .register(DescribeKey(workmail.clone()));
}

/// A key-provider failure, answered as a store failure (`InternalFailure`, logged).
fn key_failure(e: KmsError) -> Error {
    Error::from(carillon_store::StoreError::from(e))
}

/// The key-encryption key of a new organization (workmail.md §2.6, §5.3): `kms_key_arn`
/// when given, else the account's default key (made on first use). `field` names the input
/// member in errors.
///
/// Errors: `InvalidParameterException` naming `field` when the ARN is not a Carillon key
/// ARN, names another account or region, or no such key exists.
pub(super) async fn resolve_kms_key(
    wm: &WorkMail,
    ctx: &RequestContext,
    kms_key_arn: Option<&str>,
    field: &str,
) -> Result<String> {
    let keyring = wm.store.keyring()?;
    let Some(arn) = kms_key_arn else {
        let key = keyring
            .provider()
            .default_key(&ctx.account_id, &wm.region)
            .await
            .map_err(key_failure)?;
        return Ok(key.arn);
    };
    let invalid = |why: String| err(codes::INVALID_PARAMETER, format!("{field}: {why}"));
    let parsed = KeyArn::parse(arn).map_err(|_| {
        invalid(format!(
            "{arn:?} is not a key ARN (arn:aws:kms:<region>:<account>:key/<key id>)"
        ))
    })?;
    if parsed.account_id != ctx.account_id {
        return Err(invalid(format!(
            "{arn} is not a key of account {}",
            ctx.account_id
        )));
    }
    if parsed.region != wm.region {
        return Err(invalid(format!(
            "the key is in region {}, the organization in {}",
            parsed.region, wm.region
        )));
    }
    match keyring.provider().describe_key(&ctx.account_id, arn).await {
        Ok(key) => Ok(key.arn),
        Err(KmsError::NotFound(_)) => Err(invalid(format!("no such key {arn}"))),
        Err(e) => Err(key_failure(e)),
    }
}

/// CreateKey: a new 256-bit key of the caller's account.
pub struct CreateKey(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for CreateKey {
    type Input = CreateKeyInput;
    type Output = KeyOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "CreateKey",
            method: Method::POST,
            path: KEYS_PATH,
            action: "kms:CreateKey",
            resource: "*",
            summary: "Creates a key for encryption at rest (Carillon's stand-in for a KMS key).",
            docs: "A 256-bit symmetric key kept by Carillon's key provider (a private file under <data-dir>/keys/ by default). Its Arn is what CreateOrganization's KmsKeyArn and StartMailboxExportJob's KmsKeyArn name. The key material is never returned. Spec: workmail.md §5.3.",
            errors: &[],
        }
    }

    async fn call(&self, ctx: &RequestContext, input: CreateKeyInput) -> ApiResult<KeyOutput> {
        answer(async move {
            let wm = &self.0;
            let keyring = wm.store.keyring()?;
            let key = keyring
                .provider()
                .create_key(
                    &ctx.account_id,
                    &wm.region,
                    input.description.as_deref().unwrap_or_default(),
                )
                .await
                .map_err(key_failure)?;
            Ok(KeyOutput {
                key_metadata: key.into(),
            })
        })
        .await
    }
}

/// ListKeys: every key of the caller's account.
pub struct ListKeys(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for ListKeys {
    type Input = ListKeysInput;
    type Output = ListKeysOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "ListKeys",
            method: Method::GET,
            path: KEYS_PATH,
            action: "kms:ListKeys",
            resource: "*",
            summary: "Lists the keys of the caller's account.",
            docs: "Created keys and the account default key (alias/aws/workmail, made when an organization is created without a KmsKeyArn), oldest first. Spec: workmail.md §5.3.",
            errors: &[],
        }
    }

    async fn call(&self, ctx: &RequestContext, _input: ListKeysInput) -> ApiResult<ListKeysOutput> {
        answer(async move {
            let keyring = self.0.store.keyring()?;
            let keys = keyring
                .provider()
                .list_keys(&ctx.account_id)
                .await
                .map_err(key_failure)?;
            Ok(ListKeysOutput {
                keys: keys
                    .into_iter()
                    .map(|k| KeyListEntry {
                        key_id: k.key_id,
                        key_arn: k.arn,
                    })
                    .collect(),
            })
        })
        .await
    }
}

/// DescribeKey: one key's metadata.
pub struct DescribeKey(pub WorkMail);

#[async_trait::async_trait]
impl CarillonOperation for DescribeKey {
    type Input = DescribeKeyInput;
    type Output = KeyOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 1] = [ErrorSpec {
            code: NOT_FOUND,
            status: 400,
            doc: "No such key in the caller's account.",
        }];
        OperationSpec {
            name: "DescribeKey",
            method: Method::GET,
            path: KEY_PATH,
            action: "kms:DescribeKey",
            resource: KEY_RESOURCE,
            summary: "Describes a key of the caller's account.",
            docs: "The key's ARN, description, creation date and manager (CUSTOMER, or AWS for the account default key). Spec: workmail.md §5.3.",
            errors: &ERRORS,
        }
    }

    async fn call(&self, ctx: &RequestContext, input: DescribeKeyInput) -> ApiResult<KeyOutput> {
        answer(async move {
            let keyring = self.0.store.keyring()?;
            match keyring
                .provider()
                .describe_key(&ctx.account_id, &input.key_id)
                .await
            {
                Ok(key) => Ok(KeyOutput {
                    key_metadata: key.into(),
                }),
                Err(KmsError::NotFound(_)) => Err(err(
                    NOT_FOUND,
                    format!("Key {} does not exist", input.key_id),
                )),
                Err(e) => Err(key_failure(e)),
            }
        })
        .await
    }
}
