//! Operations on any directory entity: RegisterToWorkMail (enable), DeregisterFromWorkMail
//! (disable), UpdatePrimaryEmailAddress, DescribeEntity. Spec: workmail.md §1.4, §1.5, §1.7,
//! §2.14.

use carillon_awsapi::generated::workmail::*;
use carillon_core::time::now_millis;
use carillon_core::RequestContext;
use carillon_store::StoreError;

use super::common::{codes, display_name_of, not_deleted, DELETED, DISABLED, ENABLED, USER};
use super::error::{err, Error, Result};
use super::WorkMail;

/// Deletes a user or group (`kind`) permanently: it must be `DISABLED` (deregistered) first
/// (workmail.md §1.4, §1.5). Its name becomes free; the row stays in state `DELETED` so it can
/// still be described by ID. Deleting an unknown or already deleted entity succeeds without
/// effect: the model has no not-found error for DeleteUser or DeleteGroup. `member` names the
/// input member in errors (`UserId`, `GroupId`).
///
/// Errors: `EntityStateException` (enabled), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn delete_disabled(
    wm: &WorkMail,
    ctx: &RequestContext,
    organization_id: &str,
    entity_id: &str,
    kind: &str,
    member: &str,
) -> Result<()> {
    let org = wm.active_organization(ctx, organization_id).await?;
    let Some(entity) = wm
        .store
        .find_entity(&org.organization_id, entity_id, &[kind])
        .await?
    else {
        return Ok(());
    };
    match entity.state.as_str() {
        DELETED => Ok(()),
        ENABLED => Err(err(
            codes::ENTITY_STATE,
            format!(
                "{member}: {} {} is enabled; deregister it from WorkMail (disable it) first",
                kind.to_ascii_lowercase(),
                entity.entity_id
            ),
        )),
        _ => {
            wm.store
                .mark_entity_deleted(&org.organization_id, &entity.entity_id, now_millis())
                .await?;
            Ok(())
        }
    }
}

fn address_in_use(address: &str) -> Error {
    err(
        codes::EMAIL_ADDRESS_IN_USE,
        format!("Email: {address} is already in use"),
    )
}

/// RegisterToWorkMail (console "Enable"): gives a disabled user or group its primary email
/// address and sets it `ENABLED`; a user with role `USER` also gets its mailbox (with the
/// default folders). Registering an entity already enabled with the same address changes
/// nothing.
///
/// Errors: `EntityNotFoundException`, `EntityStateException` (deleted),
/// `EntityAlreadyRegisteredException` (enabled with another address),
/// `MailDomainNotFoundException` (not one of the organization's domains),
/// `MailDomainStateException` (domain not verified), `EmailAddressInUseException`,
/// `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn register(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: RegisterToWorkMailRequest,
) -> Result<RegisterToWorkMailResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let entity = wm
        .entity(&org.organization_id, &input.entity_id, &[], "EntityId")
        .await?;
    not_deleted(&entity)?;
    let email = wm
        .assignable_address(&org.organization_id, &input.email, "Email")
        .await?;
    if entity.state == ENABLED {
        if entity.email.as_deref() == Some(email.as_str()) {
            return Ok(RegisterToWorkMailResponse::default());
        }
        return Err(err(
            codes::ENTITY_ALREADY_REGISTERED,
            format!(
                "EntityId: {} is already registered to WorkMail",
                entity.entity_id
            ),
        ));
    }
    if wm.store.address_owner(&email).await?.is_some() {
        return Err(address_in_use(&email));
    }
    // The mailbox comes first: if claiming the address then fails, the user stays disabled
    // with an empty mailbox, as after a deregistration, rather than enabled without one.
    if entity.kind == USER && entity.role.as_deref().unwrap_or("USER") == "USER" {
        wm.store
            .create_mailbox(&org.organization_id, &entity.entity_id)
            .await?;
    }
    match wm
        .store
        .register_entity(
            &org.organization_id,
            &entity.entity_id,
            &email,
            now_millis(),
        )
        .await
    {
        Ok(()) => Ok(RegisterToWorkMailResponse::default()),
        Err(StoreError::Conflict(_)) => Err(address_in_use(&email)),
        Err(e) => Err(Error::from(e)),
    }
}

/// DeregisterFromWorkMail (console "Disable"): sets the entity `DISABLED` and frees its
/// primary address and aliases at once, so mail to them is refused. The mailbox and its
/// messages are kept; the retention job (`crate::retention`) purges them once the user has
/// been disabled for 30 days (workmail.md §1.4). Deregistering a disabled entity changes
/// nothing.
///
/// Errors: `EntityNotFoundException`, `EntityStateException` (deleted),
/// `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn deregister(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DeregisterFromWorkMailRequest,
) -> Result<DeregisterFromWorkMailResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let entity = wm
        .entity(&org.organization_id, &input.entity_id, &[], "EntityId")
        .await?;
    not_deleted(&entity)?;
    if entity.state == DISABLED {
        return Ok(DeregisterFromWorkMailResponse::default());
    }
    wm.store
        .deregister_entity(&org.organization_id, &entity.entity_id, now_millis())
        .await?;
    Ok(DeregisterFromWorkMailResponse::default())
}

/// UpdatePrimaryEmailAddress: `Email` becomes the primary address; the previous primary
/// becomes an alias (swapped when `Email` was an alias of the entity).
///
/// Errors: `EntityNotFoundException`, `EntityStateException` (not enabled),
/// `EmailAddressInUseException` (another entity's address), `MailDomainNotFoundException`,
/// `MailDomainStateException`, `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn update_primary_email(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: UpdatePrimaryEmailAddressRequest,
) -> Result<UpdatePrimaryEmailAddressResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let entity = wm
        .entity(&org.organization_id, &input.entity_id, &[], "EntityId")
        .await?;
    if entity.state != ENABLED {
        return Err(err(
            codes::ENTITY_STATE,
            format!(
                "EntityId: {} is {}; register it to WorkMail first",
                entity.entity_id, entity.state
            ),
        ));
    }
    let email = wm
        .assignable_address(&org.organization_id, &input.email, "Email")
        .await?;
    if entity.email.as_deref() == Some(email.as_str()) {
        return Ok(UpdatePrimaryEmailAddressResponse::default());
    }
    if let Some((_, owner)) = wm.store.address_owner(&email).await? {
        if owner != entity.entity_id {
            return Err(address_in_use(&email));
        }
    }
    match wm
        .store
        .set_primary_address(&org.organization_id, &entity.entity_id, &email)
        .await
    {
        Ok(()) => Ok(UpdatePrimaryEmailAddressResponse::default()),
        Err(StoreError::Conflict(_)) => Err(address_in_use(&email)),
        Err(e) => Err(Error::from(e)),
    }
}

/// DescribeEntity: which user, group or resource of the organization has `Email` (primary
/// address or alias) — the console's "Find email address" (workmail.md §2.6).
///
/// Errors: `EntityNotFoundException`, `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn describe(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DescribeEntityRequest,
) -> Result<DescribeEntityResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let not_found = || {
        err(
            codes::ENTITY_NOT_FOUND,
            format!(
                "Email: no entity of organization {} has the address {}",
                org.organization_id, input.email
            ),
        )
    };
    let Some((owner_org, entity_id)) = wm.store.address_owner(&input.email).await? else {
        return Err(not_found());
    };
    if owner_org != org.organization_id {
        return Err(not_found());
    }
    let entity = wm
        .entity(&org.organization_id, &entity_id, &[], "Email")
        .await?;
    Ok(DescribeEntityResponse {
        entity_id: Some(entity.entity_id.clone()),
        name: Some(display_name_of(&entity)),
        r#type: Some(entity.kind.clone()),
    })
}
