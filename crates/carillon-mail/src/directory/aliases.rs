//! Email aliases of users and groups: CreateAlias, DeleteAlias, ListAliases.
//! Spec: workmail.md §1.8, §2.14, §6 (100 aliases per entity).

use carillon_awsapi::generated::workmail::*;
use carillon_core::RequestContext;
use carillon_store::StoreError;

use super::common::{codes, not_deleted, ENABLED};
use super::error::{err, Error, Result};
use super::WorkMail;

/// Aliases per user (and per group or resource). Spec: workmail.md §1.4, §6.
pub const MAX_ALIASES_PER_ENTITY: i64 = 100;

/// CreateAlias: adds an address on one of the organization's verified domains to an enabled
/// entity. Addresses are unique across the whole server and compared case-insensitively.
///
/// Errors: `EntityNotFoundException`, `EntityStateException` (not enabled),
/// `MailDomainNotFoundException`, `MailDomainStateException`, `EmailAddressInUseException`,
/// `LimitExceededException` (100 aliases), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn create(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: CreateAliasRequest,
) -> Result<CreateAliasResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let entity = wm
        .entity(&org.organization_id, &input.entity_id, &[], "EntityId")
        .await?;
    if entity.state != ENABLED {
        return Err(err(
            codes::ENTITY_STATE,
            format!(
                "EntityId: {} is {}; register it to WorkMail before adding aliases",
                entity.entity_id, entity.state
            ),
        ));
    }
    let alias = wm
        .assignable_address(&org.organization_id, &input.alias, "Alias")
        .await?;
    let in_use = || {
        err(
            codes::EMAIL_ADDRESS_IN_USE,
            format!("Alias: {alias} is already in use"),
        )
    };
    if wm.store.address_owner(&alias).await?.is_some() {
        return Err(in_use());
    }
    let count = wm.store.count_aliases(&entity.entity_id).await?;
    if count >= MAX_ALIASES_PER_ENTITY {
        return Err(err(
            codes::LIMIT_EXCEEDED,
            format!(
                "EntityId: {} already has {count} aliases (limit {MAX_ALIASES_PER_ENTITY})",
                entity.entity_id
            ),
        ));
    }
    match wm
        .store
        .insert_alias(&org.organization_id, &entity.entity_id, &alias)
        .await
    {
        Ok(()) => Ok(CreateAliasResponse::default()),
        Err(StoreError::Conflict(_)) => Err(in_use()),
        Err(e) => Err(Error::from(e)),
    }
}

/// DeleteAlias: removes an alias; removing an address the entity does not have as an alias
/// changes nothing.
///
/// Errors: `EntityNotFoundException`, `EntityStateException` (deleted),
/// `InvalidParameterException` (the primary address: change it with
/// UpdatePrimaryEmailAddress), `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn delete(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DeleteAliasRequest,
) -> Result<DeleteAliasResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let entity = wm
        .entity(&org.organization_id, &input.entity_id, &[], "EntityId")
        .await?;
    not_deleted(&entity)?;
    let alias = input.alias.trim().to_lowercase();
    if entity.email.as_deref() == Some(alias.as_str()) {
        return Err(err(
            codes::INVALID_PARAMETER,
            format!(
                "Alias: {alias} is the primary address of {}",
                entity.entity_id
            ),
        ));
    }
    wm.store
        .delete_alias(&org.organization_id, &entity.entity_id, &alias)
        .await?;
    Ok(DeleteAliasResponse::default())
}

/// ListAliases: the entity's aliases (not its primary address) in address order.
///
/// Errors: `EntityNotFoundException`, `EntityStateException` (deleted),
/// `InvalidParameterException` (paging), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn list(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: ListAliasesRequest,
) -> Result<ListAliasesResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let entity = wm
        .entity(&org.organization_id, &input.entity_id, &[], "EntityId")
        .await?;
    not_deleted(&entity)?;
    let scope = format!("ListAliases:{}:{}", ctx.account_id, entity.entity_id);
    let paging = wm.paging(&scope, input.next_token.as_deref(), input.max_results)?;
    let mut aliases = wm
        .store
        .list_aliases(&entity.entity_id, paging.after.as_deref(), paging.limit + 1)
        .await?;
    let next_token = wm.finish_page(&scope, &mut aliases, &paging, Clone::clone);
    Ok(ListAliasesResponse {
        aliases: Some(aliases),
        next_token,
    })
}
