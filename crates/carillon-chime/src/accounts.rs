//! Chime accounts: CreateAccount, GetAccount, ListAccounts, UpdateAccount, DeleteAccount,
//! GetAccountSettings, UpdateAccountSettings, AssociateSigninDelegateGroupsWithAccount,
//! DisassociateSigninDelegateGroupsFromAccount. Spec: chime-zh.md §1.2, §1.6, §2.3, §2.4,
//! §2.5.
//!
//! Lifecycle: an account is created `Team` and `Active`. DeleteAccount disables it: it turns
//! `Suspended`, leaves ListAccounts and refuses changes, but GetAccount still shows it for
//! [`DISABLED_RETENTION_MS`] (90 days, the guide's "Disabled accounts" list); then it is
//! removed for good and reads as `NotFoundException`.

use carillon_awsapi::generated::chime::*;
use carillon_core::time::{millis_to_datetime, now_millis};
use carillon_core::RequestContext;
use carillon_store::chime::users::ChimeDelegateGroupRecord;
use carillon_store::{ChimeAccountFilter, ChimeAccountRecord};

use crate::errors::{bad_request, codes, error, Error, Result};
use crate::Chime;

/// `AccountType` of a new account (§2.3 step 1).
pub const TEAM: &str = "Team";
/// `AccountStatus` of a live account.
pub const ACTIVE: &str = "Active";
/// `AccountStatus` of a deleted (disabled) account.
pub const SUSPENDED: &str = "Suspended";
/// `DefaultLicense` of a new account: registered users get Pro (§2.3 step 3).
pub const DEFAULT_LICENSE: &str = "Pro";
/// `SupportedLicenses` of every account; `DefaultLicense` must be one of them.
pub const SUPPORTED_LICENSES: [&str; 2] = ["Basic", "Pro"];
/// How long a deleted account stays readable as `Suspended`: 90 days, in milliseconds.
pub const DISABLED_RETENTION_MS: i64 = 90 * 24 * 60 * 60 * 1000;
/// Default and largest `MaxResults` of ListAccounts (model `ProfileServiceMaxResults`, 1–200).
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 200;
/// Longest account name (model `AccountName`).
const MAX_NAME: usize = 100;

pub(crate) fn not_found(chime_account_id: &str) -> Error {
    error(
        codes::NOT_FOUND,
        format!("Chime account {chime_account_id} was not found"),
    )
}

/// Checks an `AccountName` in `member`: 1–100 characters, not only white space.
///
/// Errors: `BadRequestException` naming `member`.
fn check_name(member: &str, name: &str) -> Result<()> {
    let length = name.chars().count();
    if length == 0 || length > MAX_NAME || name.trim().is_empty() {
        return Err(bad_request(format!(
            "{member} must be 1 to {MAX_NAME} characters and not only white space"
        )));
    }
    Ok(())
}

/// Checks the `AccountId` path member.
///
/// Errors: `BadRequestException` naming `AccountId` when it is blank.
pub(crate) fn check_account_id(chime_account_id: &str) -> Result<()> {
    if chime_account_id.trim().is_empty() {
        return Err(bad_request("AccountId must not be empty"));
    }
    Ok(())
}

/// The model's `Account` for a stored account with its sign-in delegate group names.
fn account_shape(record: &ChimeAccountRecord, groups: &[ChimeDelegateGroupRecord]) -> Account {
    Account {
        account_id: record.chime_account_id.clone(),
        account_status: Some(record.account_status.clone()),
        account_type: Some(record.account_type.clone()),
        aws_account_id: record.account_id.clone(),
        created_timestamp: Some(millis_to_datetime(record.created_at).into()),
        default_license: Some(record.default_license.clone()),
        name: record.name.clone(),
        signin_delegate_groups: Some(
            groups
                .iter()
                .map(|g| SigninDelegateGroup {
                    group_name: Some(g.group_name.clone()),
                })
                .collect(),
        ),
        supported_licenses: Some(SUPPORTED_LICENSES.iter().map(|l| l.to_string()).collect()),
    }
}

impl Chime {
    /// The model's `Account` for `record`, with its delegate groups read from the store.
    async fn account_view(&self, record: &ChimeAccountRecord) -> Result<Account> {
        let groups = self
            .store
            .chime_delegate_groups(&record.account_id, &record.chime_account_id)
            .await?;
        Ok(account_shape(record, &groups))
    }

    /// The caller's Chime account `chime_account_id`, live or still inside its disabled
    /// window.
    ///
    /// Errors: `BadRequestException` for a blank ID; `NotFoundException` when it is not the
    /// caller's or was purged.
    pub(crate) async fn account(
        &self,
        ctx: &RequestContext,
        chime_account_id: &str,
    ) -> Result<ChimeAccountRecord> {
        check_account_id(chime_account_id)?;
        self.store
            .chime_account(
                &ctx.account_id,
                chime_account_id,
                now_millis() - DISABLED_RETENTION_MS,
            )
            .await?
            .ok_or_else(|| not_found(chime_account_id))
    }

    /// The caller's live (not deleted) Chime account.
    ///
    /// Errors: as [`Chime::account`]; `NotFoundException` also for a deleted account.
    pub(crate) async fn live_account(
        &self,
        ctx: &RequestContext,
        chime_account_id: &str,
    ) -> Result<ChimeAccountRecord> {
        let account = self.account(ctx, chime_account_id).await?;
        if account.deleted_at.is_some() {
            return Err(error(
                codes::NOT_FOUND,
                format!("Chime account {chime_account_id} was deleted and is disabled"),
            ));
        }
        Ok(account)
    }

    async fn save(&self, account: &ChimeAccountRecord) -> Result<()> {
        let found = self.store.update_chime_account(account).await?;
        if !found {
            return Err(not_found(&account.chime_account_id));
        }
        Ok(())
    }
}

/// `CreateAccount`: a new `Team`, `Active` account named `Name`, default license Pro,
/// remote control allowed and dial-out on (§2.5 policies on). Spec: chime-zh.md §2.3 step 1.
///
/// Errors: `BadRequestException` naming `Name`.
pub(crate) async fn create(
    chime: &Chime,
    ctx: &RequestContext,
    input: CreateAccountRequest,
) -> Result<CreateAccountResponse> {
    check_name("Name", &input.name)?;
    let record = ChimeAccountRecord {
        chime_account_id: carillon_core::ids::new_uuid(),
        account_id: ctx.account_id.clone(),
        name: input.name,
        account_type: TEAM.to_string(),
        account_status: ACTIVE.to_string(),
        default_license: DEFAULT_LICENSE.to_string(),
        disable_remote_control: false,
        enable_dial_out: true,
        created_at: now_millis(),
        deleted_at: None,
    };
    chime.store.create_chime_account(&record).await?;
    Ok(CreateAccountResponse {
        account: Some(account_shape(&record, &[])),
    })
}

/// `GetAccount`: the account, `Suspended` while a deleted account is in its disabled window.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId`.
pub(crate) async fn get(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetAccountRequest,
) -> Result<GetAccountResponse> {
    let account = chime.account(ctx, &input.account_id).await?;
    Ok(GetAccountResponse {
        account: Some(chime.account_view(&account).await?),
    })
}

/// `ListAccounts`: the caller's live accounts by ID, `Name` a case-sensitive name prefix,
/// `MaxResults` 1–200 (default 100), `NextToken` bound to the tenant and the filters.
/// `UserEmail` (case-insensitive) keeps only the account that user belongs to.
///
/// Errors: `BadRequestException` naming `MaxResults`, `Name`, `UserEmail` or `NextToken`.
pub(crate) async fn list(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListAccountsRequest,
) -> Result<ListAccountsResponse> {
    let limit = crate::paging::page_size(input.max_results, DEFAULT_PAGE, MAX_PAGE)?;
    if let Some(name) = &input.name {
        check_name("Name", name)?;
    }
    let user_email = input
        .user_email
        .as_deref()
        .map(|e| crate::users::check_email("UserEmail", e))
        .transpose()?;
    let scope = format!(
        "ListAccounts\0{}\0{}\0{}",
        ctx.account_id,
        input.name.as_deref().unwrap_or_default(),
        user_email.as_deref().unwrap_or_default()
    );
    let after = chime.resume_after(&scope, input.next_token.as_deref())?;
    chime
        .store
        .purge_chime_accounts(&ctx.account_id, now_millis() - DISABLED_RETENTION_MS)
        .await?;
    let mut accounts = match user_email {
        Some(email) => {
            let member_of = chime
                .store
                .chime_user_by_email(&email)
                .await?
                .filter(|u| u.account_id.as_deref() == Some(ctx.account_id.as_str()))
                .and_then(|u| u.chime_account_id);
            let mut found = Vec::new();
            if let Some(id) = member_of {
                let account = chime
                    .store
                    .chime_account(&ctx.account_id, &id, i64::MAX)
                    .await?;
                found.extend(account.filter(|a| {
                    a.deleted_at.is_none()
                        && after
                            .as_deref()
                            .is_none_or(|after| a.chime_account_id.as_str() > after)
                        && input.name.as_deref().is_none_or(|p| a.name.starts_with(p))
                }));
            }
            found
        }
        None => {
            chime
                .store
                .list_chime_accounts(
                    &ctx.account_id,
                    &ChimeAccountFilter {
                        name_prefix: input.name,
                        after,
                        limit: limit + 1,
                    },
                )
                .await?
        }
    };
    let next_token = chime.next_page(&scope, &mut accounts, limit, |a| &a.chime_account_id);
    let mut shapes = Vec::with_capacity(accounts.len());
    for account in &accounts {
        shapes.push(chime.account_view(account).await?);
    }
    Ok(ListAccountsResponse {
        accounts: Some(shapes),
        next_token,
    })
}

/// `UpdateAccount`: renames the account and/or sets its `DefaultLicense` (Basic or Pro).
/// Spec: chime-zh.md §2.4 "Rename account".
///
/// Errors: `NotFoundException` (also for a deleted account); `BadRequestException` naming
/// `Name` or `DefaultLicense`.
pub(crate) async fn update(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateAccountRequest,
) -> Result<UpdateAccountResponse> {
    if let Some(name) = &input.name {
        check_name("Name", name)?;
    }
    if let Some(license) = &input.default_license {
        if !SUPPORTED_LICENSES.contains(&license.as_str()) {
            return Err(bad_request(format!(
                "DefaultLicense must be one of the account's supported licenses: {}",
                SUPPORTED_LICENSES.join(", ")
            )));
        }
    }
    let mut account = chime.live_account(ctx, &input.account_id).await?;
    if let Some(name) = input.name {
        account.name = name;
    }
    if let Some(license) = input.default_license {
        account.default_license = license;
    }
    chime.save(&account).await?;
    Ok(UpdateAccountResponse {
        account: Some(chime.account_view(&account).await?),
    })
}

/// `DeleteAccount`: disables the account (`Suspended`, gone from ListAccounts, readable
/// for 90 days, then purged). A Team account must have no users left (remove them with
/// BatchSuspendUser) and an Enterprise account no claimed domain (§2.4, chime-ko.md §1.2);
/// users an Enterprise account still lists (released or suspended by domain removals)
/// become identities of no account, keeping their status, and the account's invitations
/// and delegate groups go. Deleting a disabled account again changes nothing.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId`;
/// `UnprocessableEntityException` while the precondition does not hold.
pub(crate) async fn delete(
    chime: &Chime,
    ctx: &RequestContext,
    input: DeleteAccountRequest,
) -> Result<DeleteAccountResponse> {
    let mut account = chime.account(ctx, &input.account_id).await?;
    if account.deleted_at.is_none() {
        let (id, tenant) = (&account.chime_account_id, &account.account_id);
        if account.account_type == TEAM {
            let users = chime.store.count_chime_users(tenant, id).await?;
            if users > 0 {
                return Err(error(
                    codes::UNPROCESSABLE,
                    format!("Remove the account's {users} users before deleting a Team account"),
                ));
            }
        } else {
            let domains = chime.store.count_chime_domains(tenant, id).await?;
            if domains > 0 {
                return Err(error(
                    codes::UNPROCESSABLE,
                    format!(
                        "Remove the account's {domains} claimed domains before deleting an \
                         Enterprise account"
                    ),
                ));
            }
        }
        let now = now_millis();
        chime
            .store
            .detach_chime_account_users(tenant, id, now)
            .await?;
        account.account_status = SUSPENDED.to_string();
        account.deleted_at = Some(now);
        chime.save(&account).await?;
    }
    Ok(DeleteAccountResponse {})
}

/// `GetAccountSettings`: the meeting policies (§2.5).
///
/// Errors: `NotFoundException` (also for a deleted account); `BadRequestException` naming
/// `AccountId`.
pub(crate) async fn get_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetAccountSettingsRequest,
) -> Result<GetAccountSettingsResponse> {
    let account = chime.live_account(ctx, &input.account_id).await?;
    Ok(GetAccountSettingsResponse {
        account_settings: Some(AccountSettings {
            disable_remote_control: Some(account.disable_remote_control),
            enable_dial_out: Some(account.enable_dial_out),
        }),
    })
}

/// `UpdateAccountSettings`: sets the meeting policies given; an absent member is unchanged.
/// Spec: chime-zh.md §2.3 step 2b, §2.5.
///
/// Errors: `NotFoundException` (also for a deleted account); `BadRequestException` naming
/// `AccountId`.
pub(crate) async fn update_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateAccountSettingsRequest,
) -> Result<UpdateAccountSettingsResponse> {
    let mut account = chime.live_account(ctx, &input.account_id).await?;
    let settings = input.account_settings;
    if let Some(disable) = settings.disable_remote_control {
        account.disable_remote_control = disable;
    }
    if let Some(dial_out) = settings.enable_dial_out {
        account.enable_dial_out = dial_out;
    }
    chime.save(&account).await?;
    Ok(UpdateAccountSettingsResponse {})
}

/// Checks a directory group name: 1–256 characters, not only white space.
fn check_group_name(member: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 256 {
        return Err(bad_request(format!(
            "{member} must be 1 to 256 characters and not only white space"
        )));
    }
    Ok(())
}

/// `AssociateSigninDelegateGroupsWithAccount`: the named directory groups become the
/// account's sign-in delegate groups. Each group gives its members the license that is the
/// account's `DefaultLicense` when it is associated (the model's `SigninDelegateGroup`
/// carries only `GroupName`): associate the Pro groups while the default is Pro and the
/// Basic groups after UpdateAccount sets it to Basic; re-associating a group updates its
/// license. The directory is the tenant's WorkMail directory: a user is a member of a group
/// when the enabled WorkMail user owning their address is a direct member of an enabled
/// WorkMail group of that name in one of the tenant's organizations. From then on, members
/// of a Pro group get Pro, members of only Basic groups Basic, and users in no group
/// cannot sign in; licenses are no longer assigned by UpdateUser. Spec: chime-zh.md §1.6,
/// §2.8.
///
/// Errors: `NotFoundException` (also for a deleted account); `BadRequestException` naming
/// `SigninDelegateGroups` or `GroupName`.
pub(crate) async fn associate_signin_delegate_groups_with_account(
    chime: &Chime,
    ctx: &RequestContext,
    input: AssociateSigninDelegateGroupsWithAccountRequest,
) -> Result<AssociateSigninDelegateGroupsWithAccountResponse> {
    if input.signin_delegate_groups.is_empty() {
        return Err(bad_request(
            "SigninDelegateGroups must name at least one group",
        ));
    }
    let mut names = Vec::new();
    for group in &input.signin_delegate_groups {
        let name = group
            .group_name
            .as_deref()
            .ok_or_else(|| bad_request("GroupName is required in every SigninDelegateGroup"))?;
        check_group_name("GroupName", name)?;
        names.push(name.to_string());
    }
    let account = chime.live_account(ctx, &input.account_id).await?;
    let groups: Vec<ChimeDelegateGroupRecord> = names
        .into_iter()
        .map(|group_name| ChimeDelegateGroupRecord {
            group_name,
            license: account.default_license.clone(),
        })
        .collect();
    chime
        .store
        .put_chime_delegate_groups(
            &account.account_id,
            &account.chime_account_id,
            &groups,
            now_millis(),
        )
        .await?;
    crate::users::relicense_users(chime, &account).await?;
    Ok(AssociateSigninDelegateGroupsWithAccountResponse {})
}

/// `DisassociateSigninDelegateGroupsFromAccount`: removes the named groups (names not
/// associated are ignored). When none is left, licenses are assigned by administrators
/// again and users without one get the account's default license. Spec: chime-zh.md §1.6.
///
/// Errors: `NotFoundException` (also for a deleted account); `BadRequestException` naming
/// `GroupNames`.
pub(crate) async fn disassociate_signin_delegate_groups_from_account(
    chime: &Chime,
    ctx: &RequestContext,
    input: DisassociateSigninDelegateGroupsFromAccountRequest,
) -> Result<DisassociateSigninDelegateGroupsFromAccountResponse> {
    if input.group_names.is_empty() {
        return Err(bad_request("GroupNames must name at least one group"));
    }
    for name in &input.group_names {
        check_group_name("GroupNames", name)?;
    }
    let account = chime.live_account(ctx, &input.account_id).await?;
    chime
        .store
        .delete_chime_delegate_groups(
            &account.account_id,
            &account.chime_account_id,
            &input.group_names,
        )
        .await?;
    crate::users::relicense_users(chime, &account).await?;
    Ok(DisassociateSigninDelegateGroupsFromAccountResponse {})
}
