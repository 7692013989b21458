//! Users: CreateUser, DescribeUser, ListUsers, UpdateUser, DeleteUser, ResetPassword.
//! Spec: workmail.md §1.4, §2.14.

use carillon_awsapi::generated::workmail::*;
use carillon_core::ids::new_uuid;
use carillon_core::time::now_millis;
use carillon_core::RequestContext;
use carillon_store::{EntityFilter, EntityRecord, StoreError};
use serde_json::{Map, Value};

use super::common::{codes, display_name_of, not_deleted, opt_timestamp, DISABLED, ENABLED, USER};
use super::entities::delete_disabled;
use super::error::{err, Error, Result};
use super::password;
use super::WorkMail;

/// Roles an administrator may give (`SYSTEM_USER` and `RESOURCE` are not passed by requests).
const ASSIGNABLE_ROLES: &[&str] = &["USER", "REMOTE_USER"];

/// Profile attributes kept in the entity's JSON `attributes`, by their model member names.
const PROFILE_KEYS: &[&str] = &[
    "Initials",
    "Telephone",
    "Street",
    "JobTitle",
    "City",
    "Company",
    "ZipCode",
    "Department",
    "Country",
    "Office",
    "IdentityProviderUserId",
];

/// Checks a password against the WorkMail directory policy and hashes it (on a blocking
/// thread: Argon2 is CPU-bound by design).
///
/// Errors: `InvalidPasswordException` naming the rule broken (never the password).
pub(super) async fn checked_password_hash(password: &str) -> Result<String> {
    password::check(password)
        .map_err(|problem| err(codes::INVALID_PASSWORD, problem.to_string()))?;
    let password = password.to_string();
    tokio::task::spawn_blocking(move || crate::login::hash_password(&password))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| carillon_core::ApiError::internal("password hashing failed").into())
}

fn assignable_role(role: &str) -> Result<String> {
    if ASSIGNABLE_ROLES.contains(&role) {
        Ok(role.to_string())
    } else {
        Err(err(
            codes::INVALID_PARAMETER,
            format!("Role: {role} cannot be assigned; use USER or REMOTE_USER"),
        ))
    }
}

fn attributes_of(entity: &EntityRecord) -> Map<String, Value> {
    match serde_json::from_str(&entity.attributes) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn attribute(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_string)
}

/// CreateUser: a new user in state `DISABLED` without a mailbox; RegisterToWorkMail enables
/// it and provisions the mailbox. Names are unique among the organization's users, groups
/// and resources.
///
/// Errors: `NameAvailabilityException`, `InvalidPasswordException`,
/// `InvalidParameterException` (role `SYSTEM_USER`/`RESOURCE`), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn create(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: CreateUserRequest,
) -> Result<CreateUserResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let role = assignable_role(input.role.as_deref().unwrap_or("USER"))?;
    let password_hash = match input.password.as_deref() {
        Some(password) => Some(checked_password_hash(password).await?),
        None => None,
    };
    let name_taken = || {
        err(
            codes::NAME_AVAILABILITY,
            format!(
                "Name: {} is already used in organization {}",
                input.name, org.organization_id
            ),
        )
    };
    if wm
        .store
        .entity_name_taken(&org.organization_id, &input.name)
        .await?
    {
        return Err(name_taken());
    }
    let mut attributes = Map::new();
    if let Some(id) = &input.identity_provider_user_id {
        attributes.insert("IdentityProviderUserId".into(), Value::String(id.clone()));
    }
    let user = EntityRecord {
        entity_id: new_uuid(),
        organization_id: org.organization_id.clone(),
        kind: USER.to_string(),
        name: input.name.clone(),
        email: None,
        display_name: Some(input.display_name.clone()),
        first_name: input.first_name.clone(),
        last_name: input.last_name.clone(),
        state: DISABLED.to_string(),
        role: Some(role),
        password_hash,
        hidden_from_gal: input.hidden_from_global_address_list.unwrap_or(false),
        mailbox_quota_mb: None,
        attributes: Value::Object(attributes).to_string(),
        created_at: now_millis(),
        enabled_at: None,
        disabled_at: None,
        deleted_name: None,
    };
    match wm.store.insert_entity(&user).await {
        Ok(()) => Ok(CreateUserResponse {
            user_id: Some(user.entity_id),
        }),
        Err(StoreError::Conflict(_)) => Err(name_taken()),
        Err(e) => Err(Error::from(e)),
    }
}

/// DescribeUser: by user ID, user name or email address (any alias).
///
/// Errors: `EntityNotFoundException`, `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn describe(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DescribeUserRequest,
) -> Result<DescribeUserResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let user = wm
        .entity(&org.organization_id, &input.user_id, &[USER], "UserId")
        .await?;
    let attrs = attributes_of(&user);
    let has_mailbox = wm.store.mailbox_size(&user.entity_id).await?.is_some();
    Ok(DescribeUserResponse {
        city: attribute(&attrs, "City"),
        company: attribute(&attrs, "Company"),
        country: attribute(&attrs, "Country"),
        department: attribute(&attrs, "Department"),
        disabled_date: opt_timestamp(user.disabled_at.filter(|_| user.state != ENABLED)),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        enabled_date: opt_timestamp(user.enabled_at.filter(|_| user.state == ENABLED)),
        first_name: user.first_name.clone(),
        hidden_from_global_address_list: Some(user.hidden_from_gal),
        identity_provider_user_id: attribute(&attrs, "IdentityProviderUserId"),
        initials: attribute(&attrs, "Initials"),
        job_title: attribute(&attrs, "JobTitle"),
        last_name: user.last_name.clone(),
        mailbox_deprovisioned_date: opt_timestamp(
            user.disabled_at
                .filter(|_| has_mailbox && user.state != ENABLED),
        ),
        mailbox_provisioned_date: opt_timestamp(user.enabled_at.filter(|_| has_mailbox)),
        name: Some(display_name_of(&user)),
        office: attribute(&attrs, "Office"),
        state: Some(user.state.clone()),
        street: attribute(&attrs, "Street"),
        telephone: attribute(&attrs, "Telephone"),
        user_id: Some(user.entity_id.clone()),
        user_role: user.role.clone(),
        zip_code: attribute(&attrs, "ZipCode"),
        ..Default::default()
    })
}

/// ListUsers: the organization's users in name order, optionally filtered by one of user
/// name, display name or primary email prefix (case-sensitive, workmail.md §1.4) and state.
///
/// Errors: `InvalidParameterException` (paging, filter state), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn list(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: ListUsersRequest,
) -> Result<ListUsersResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let filters = input.filters.unwrap_or_default();
    let filter = EntityFilter {
        kind: USER.to_string(),
        name_prefix: filters.username_prefix,
        display_name_prefix: filters.display_name_prefix,
        email_prefix: filters.primary_email_prefix,
        state: filters.state,
    };
    let scope = format!("ListUsers:{}:{}", ctx.account_id, org.organization_id);
    let paging = wm.paging(&scope, input.next_token.as_deref(), input.max_results)?;
    let mut users = wm
        .store
        .list_entities(
            &org.organization_id,
            &filter,
            paging.after.as_deref(),
            paging.limit + 1,
        )
        .await?;
    let next_token = wm.finish_page(&scope, &mut users, &paging, |u| u.name.clone());
    Ok(ListUsersResponse {
        next_token,
        users: Some(
            users
                .iter()
                .map(|u| {
                    let attrs = attributes_of(u);
                    User {
                        disabled_date: opt_timestamp(u.disabled_at.filter(|_| u.state != ENABLED)),
                        display_name: u.display_name.clone(),
                        email: u.email.clone(),
                        enabled_date: opt_timestamp(u.enabled_at.filter(|_| u.state == ENABLED)),
                        id: Some(u.entity_id.clone()),
                        identity_provider_user_id: attribute(&attrs, "IdentityProviderUserId"),
                        name: Some(display_name_of(u)),
                        state: Some(u.state.clone()),
                        user_role: u.role.clone(),
                        ..Default::default()
                    }
                })
                .collect(),
        ),
    })
}

/// UpdateUser: changes the members given; an empty string clears a profile attribute.
///
/// Errors: `EntityNotFoundException`, `EntityStateException` (deleted user),
/// `InvalidParameterException` (role), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn update(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: UpdateUserRequest,
) -> Result<UpdateUserResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let mut user = wm
        .entity(&org.organization_id, &input.user_id, &[USER], "UserId")
        .await?;
    not_deleted(&user)?;
    if let Some(role) = &input.role {
        user.role = Some(assignable_role(role)?);
    }
    if let Some(v) = &input.display_name {
        user.display_name = Some(v.clone());
    }
    if let Some(v) = &input.first_name {
        user.first_name = Some(v.clone()).filter(|s| !s.is_empty());
    }
    if let Some(v) = &input.last_name {
        user.last_name = Some(v.clone()).filter(|s| !s.is_empty());
    }
    if let Some(hidden) = input.hidden_from_global_address_list {
        user.hidden_from_gal = hidden;
    }
    let mut attrs = attributes_of(&user);
    let given = [
        &input.initials,
        &input.telephone,
        &input.street,
        &input.job_title,
        &input.city,
        &input.company,
        &input.zip_code,
        &input.department,
        &input.country,
        &input.office,
        &input.identity_provider_user_id,
    ];
    for (key, value) in PROFILE_KEYS.iter().zip(given) {
        match value.as_deref() {
            Some("") => {
                attrs.remove(*key);
            }
            Some(v) => {
                attrs.insert((*key).to_string(), Value::String(v.to_string()));
            }
            None => {}
        }
    }
    user.attributes = Value::Object(attrs).to_string();
    wm.store.update_entity_profile(&user).await?;
    Ok(UpdateUserResponse::default())
}

/// DeleteUser: permanent. The user must be `DISABLED` first. Its name becomes free; the row
/// stays, in state `DELETED`, so DescribeUser by ID still answers. The mailbox of a user
/// deregistered earlier is kept for the guide's 30 days, then purged by the retention job
/// (`crate::retention`). Deleting an unknown or already deleted user succeeds without effect (the
/// model has no not-found error for this operation).
///
/// Errors: `EntityStateException` (user enabled), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn delete(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DeleteUserRequest,
) -> Result<DeleteUserResponse> {
    delete_disabled(
        wm,
        ctx,
        &input.organization_id,
        &input.user_id,
        USER,
        "UserId",
    )
    .await?;
    Ok(DeleteUserResponse::default())
}

/// ResetPassword: sets a new password under the directory policy.
///
/// Errors: `EntityNotFoundException`, `EntityStateException` (deleted user),
/// `InvalidPasswordException`, `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn reset_password(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: ResetPasswordRequest,
) -> Result<ResetPasswordResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let user = wm
        .entity(&org.organization_id, &input.user_id, &[USER], "UserId")
        .await?;
    not_deleted(&user)?;
    let hash = checked_password_hash(&input.password).await?;
    wm.store
        .set_password_hash(&org.organization_id, &user.entity_id, &hash)
        .await?;
    Ok(ResetPasswordResponse::default())
}
