//! Groups and membership: CreateGroup, DescribeGroup, ListGroups, UpdateGroup, DeleteGroup,
//! AssociateMemberToGroup, DisassociateMemberFromGroup, ListGroupMembers,
//! ListGroupsForEntity. Spec: workmail.md §1.5.
//!
//! Groups nest (a member may be a group). Carillon refuses a membership that would make a
//! group contain itself, directly or through nested groups; the walk that checks it is
//! cycle-safe itself, so membership data however it was made never loops it.

use std::collections::{HashMap, HashSet};

use carillon_awsapi::generated::workmail::*;
use carillon_core::ids::new_uuid;
use carillon_core::time::now_millis;
use carillon_core::RequestContext;
use carillon_store::{EntityFilter, EntityRecord, StoreError};

use super::common::{
    codes, display_name_of, not_deleted, opt_timestamp, DISABLED, ENABLED, GROUP, USER,
};
use super::entities::delete_disabled;
use super::error::{err, Error, Result};
use super::WorkMail;

/// Every entity reachable from `start` by following membership edges `(group, member)` from
/// group to member, `start` included. Visits each entity once, so cycles end the walk.
pub fn reachable_entities(edges: &[(String, String)], start: &str) -> HashSet<String> {
    let mut members: HashMap<&str, Vec<&str>> = HashMap::new();
    for (group, member) in edges {
        members
            .entry(group.as_str())
            .or_default()
            .push(member.as_str());
    }
    let mut seen: HashSet<String> = HashSet::from([start.to_string()]);
    let mut pending = vec![start];
    while let Some(group) = pending.pop() {
        for member in members.get(group).into_iter().flatten() {
            if seen.insert((*member).to_string()) {
                pending.push(member);
            }
        }
    }
    seen
}

/// Whether adding `member` to `group` would close a cycle: `group` is `member` itself or is
/// reachable from `member` through nested membership.
pub fn would_create_cycle(edges: &[(String, String)], group: &str, member: &str) -> bool {
    reachable_entities(edges, member).contains(group)
}

/// CreateGroup: a new group, `DISABLED` until RegisterToWorkMail gives it an address. Names
/// are unique among the organization's users, groups and resources.
///
/// Errors: `NameAvailabilityException`, `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn create(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: CreateGroupRequest,
) -> Result<CreateGroupResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
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
    let group = EntityRecord {
        entity_id: new_uuid(),
        organization_id: org.organization_id.clone(),
        kind: GROUP.to_string(),
        name: input.name.clone(),
        email: None,
        display_name: None,
        first_name: None,
        last_name: None,
        state: DISABLED.to_string(),
        role: None,
        password_hash: None,
        hidden_from_gal: input.hidden_from_global_address_list.unwrap_or(false),
        mailbox_quota_mb: None,
        attributes: "{}".to_string(),
        created_at: now_millis(),
        enabled_at: None,
        disabled_at: None,
        deleted_name: None,
    };
    match wm.store.insert_entity(&group).await {
        Ok(()) => Ok(CreateGroupResponse {
            group_id: Some(group.entity_id),
        }),
        Err(StoreError::Conflict(_)) => Err(name_taken()),
        Err(e) => Err(Error::from(e)),
    }
}

/// DescribeGroup: by group ID, name or email address.
///
/// Errors: `EntityNotFoundException`, `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn describe(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DescribeGroupRequest,
) -> Result<DescribeGroupResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let group = wm
        .entity(&org.organization_id, &input.group_id, &[GROUP], "GroupId")
        .await?;
    Ok(DescribeGroupResponse {
        disabled_date: opt_timestamp(group.disabled_at.filter(|_| group.state != ENABLED)),
        email: group.email.clone(),
        enabled_date: opt_timestamp(group.enabled_at.filter(|_| group.state == ENABLED)),
        group_id: Some(group.entity_id.clone()),
        hidden_from_global_address_list: Some(group.hidden_from_gal),
        name: Some(display_name_of(&group)),
        state: Some(group.state.clone()),
    })
}

/// ListGroups: the organization's groups in name order, optionally filtered by name or
/// primary email prefix (case-sensitive) and state.
///
/// Errors: `InvalidParameterException` (paging), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn list(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: ListGroupsRequest,
) -> Result<ListGroupsResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let filters = input.filters.unwrap_or_default();
    let filter = EntityFilter {
        kind: GROUP.to_string(),
        name_prefix: filters.name_prefix,
        display_name_prefix: None,
        email_prefix: filters.primary_email_prefix,
        state: filters.state,
    };
    let scope = format!("ListGroups:{}:{}", ctx.account_id, org.organization_id);
    let paging = wm.paging(&scope, input.next_token.as_deref(), input.max_results)?;
    let mut groups = wm
        .store
        .list_entities(
            &org.organization_id,
            &filter,
            paging.after.as_deref(),
            paging.limit + 1,
        )
        .await?;
    let next_token = wm.finish_page(&scope, &mut groups, &paging, |g| g.name.clone());
    Ok(ListGroupsResponse {
        groups: Some(
            groups
                .iter()
                .map(|g| Group {
                    disabled_date: opt_timestamp(g.disabled_at.filter(|_| g.state != ENABLED)),
                    email: g.email.clone(),
                    enabled_date: opt_timestamp(g.enabled_at.filter(|_| g.state == ENABLED)),
                    id: Some(g.entity_id.clone()),
                    name: Some(display_name_of(g)),
                    state: Some(g.state.clone()),
                })
                .collect(),
        ),
        next_token,
    })
}

/// UpdateGroup: GAL visibility.
///
/// Errors: `EntityNotFoundException`, `EntityStateException` (deleted),
/// `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn update(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: UpdateGroupRequest,
) -> Result<UpdateGroupResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let mut group = wm
        .entity(&org.organization_id, &input.group_id, &[GROUP], "GroupId")
        .await?;
    not_deleted(&group)?;
    if let Some(hidden) = input.hidden_from_global_address_list {
        group.hidden_from_gal = hidden;
        wm.store.update_entity_profile(&group).await?;
    }
    Ok(UpdateGroupResponse::default())
}

/// DeleteGroup: permanent; the group must be disabled first (workmail.md §1.5). Its
/// memberships (as group and as member) go with it. Deleting an unknown or already deleted
/// group succeeds without effect (the model has no not-found error for this operation).
///
/// Errors: `EntityStateException` (enabled), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn delete(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DeleteGroupRequest,
) -> Result<DeleteGroupResponse> {
    delete_disabled(
        wm,
        ctx,
        &input.organization_id,
        &input.group_id,
        GROUP,
        "GroupId",
    )
    .await?;
    Ok(DeleteGroupResponse::default())
}

/// The group and the member (user or group) named by a membership request; neither may be
/// deleted.
async fn group_and_member(
    wm: &WorkMail,
    organization_id: &str,
    group_id: &str,
    member_id: &str,
) -> Result<(EntityRecord, EntityRecord)> {
    let group = wm
        .entity(organization_id, group_id, &[GROUP], "GroupId")
        .await?;
    not_deleted(&group)?;
    let member = wm
        .entity(organization_id, member_id, &[USER, GROUP], "MemberId")
        .await?;
    not_deleted(&member)?;
    Ok((group, member))
}

/// AssociateMemberToGroup: adds a user or group to the group (adding a member twice is a
/// no-op).
///
/// Errors: `EntityNotFoundException`, `EntityStateException` (deleted group or member),
/// `InvalidParameterException` (the group would contain itself, directly or through nested
/// groups), `OrganizationNotFoundException`, `OrganizationStateException`.
pub(super) async fn associate_member(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: AssociateMemberToGroupRequest,
) -> Result<AssociateMemberToGroupResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let (group, member) =
        group_and_member(wm, &org.organization_id, &input.group_id, &input.member_id).await?;
    if member.kind == GROUP {
        let edges = wm.store.group_edges(&org.organization_id).await?;
        if would_create_cycle(&edges, &group.entity_id, &member.entity_id) {
            return Err(err(
                codes::INVALID_PARAMETER,
                format!(
                    "MemberId: group {} contains group {} (directly or through nested groups); \
                     a group cannot be a member of itself",
                    member.entity_id, group.entity_id
                ),
            ));
        }
    }
    wm.store
        .add_group_member(&org.organization_id, &group.entity_id, &member.entity_id)
        .await?;
    Ok(AssociateMemberToGroupResponse::default())
}

/// DisassociateMemberFromGroup: removes a direct member.
///
/// Errors: `EntityNotFoundException` (group, member, or not a member),
/// `EntityStateException` (deleted), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn disassociate_member(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: DisassociateMemberFromGroupRequest,
) -> Result<DisassociateMemberFromGroupResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let (group, member) =
        group_and_member(wm, &org.organization_id, &input.group_id, &input.member_id).await?;
    let removed = wm
        .store
        .remove_group_member(&org.organization_id, &group.entity_id, &member.entity_id)
        .await?;
    if !removed {
        return Err(err(
            codes::ENTITY_NOT_FOUND,
            format!(
                "MemberId: {} is not a member of group {}",
                member.entity_id, group.entity_id
            ),
        ));
    }
    Ok(DisassociateMemberFromGroupResponse::default())
}

/// ListGroupMembers: the group's direct members (users and groups).
///
/// Errors: `EntityNotFoundException`, `EntityStateException` (deleted group),
/// `InvalidParameterException` (paging), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn list_members(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: ListGroupMembersRequest,
) -> Result<ListGroupMembersResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let group = wm
        .entity(&org.organization_id, &input.group_id, &[GROUP], "GroupId")
        .await?;
    not_deleted(&group)?;
    let scope = format!("ListGroupMembers:{}:{}", ctx.account_id, group.entity_id);
    let paging = wm.paging(&scope, input.next_token.as_deref(), input.max_results)?;
    let mut members = wm
        .store
        .list_group_members(&group.entity_id, paging.after.as_deref(), paging.limit + 1)
        .await?;
    let next_token = wm.finish_page(&scope, &mut members, &paging, |m| m.entity_id.clone());
    Ok(ListGroupMembersResponse {
        members: Some(
            members
                .iter()
                .map(|m| Member {
                    disabled_date: opt_timestamp(m.disabled_at.filter(|_| m.state != ENABLED)),
                    enabled_date: opt_timestamp(m.enabled_at.filter(|_| m.state == ENABLED)),
                    id: Some(m.entity_id.clone()),
                    name: Some(display_name_of(m)),
                    state: Some(m.state.clone()),
                    r#type: Some(m.kind.clone()),
                })
                .collect(),
        ),
        next_token,
    })
}

/// ListGroupsForEntity: the groups the user or group is a direct member of, optionally
/// filtered by group name prefix (case-sensitive).
///
/// Errors: `EntityNotFoundException`, `EntityStateException` (deleted),
/// `InvalidParameterException` (paging), `OrganizationNotFoundException`,
/// `OrganizationStateException`.
pub(super) async fn list_for_entity(
    wm: &WorkMail,
    ctx: &RequestContext,
    input: ListGroupsForEntityRequest,
) -> Result<ListGroupsForEntityResponse> {
    let org = wm.active_organization(ctx, &input.organization_id).await?;
    let entity = wm
        .entity(
            &org.organization_id,
            &input.entity_id,
            &[USER, GROUP],
            "EntityId",
        )
        .await?;
    not_deleted(&entity)?;
    let prefix = input
        .filters
        .and_then(|f| f.group_name_prefix)
        .unwrap_or_default();
    let scope = format!(
        "ListGroupsForEntity:{}:{}",
        ctx.account_id, entity.entity_id
    );
    let paging = wm.paging(&scope, input.next_token.as_deref(), input.max_results)?;
    let mut groups = wm
        .store
        .list_groups_of_member(
            &entity.entity_id,
            &prefix,
            paging.after.as_deref(),
            paging.limit + 1,
        )
        .await?;
    let next_token = wm.finish_page(&scope, &mut groups, &paging, |g| g.entity_id.clone());
    Ok(ListGroupsForEntityResponse {
        groups: Some(
            groups
                .iter()
                .map(|g| GroupIdentifier {
                    group_id: Some(g.entity_id.clone()),
                    group_name: Some(display_name_of(g)),
                })
                .collect(),
        ),
        next_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(g, m)| (g.to_string(), m.to_string()))
            .collect()
    }

    #[test]
    fn nested_membership_closes_a_cycle() {
        let e = edges(&[("a", "b"), ("b", "c"), ("c", "alice")]);
        assert!(would_create_cycle(&e, "c", "a"));
        assert!(would_create_cycle(&e, "a", "a"));
        assert!(!would_create_cycle(&e, "a", "c"));
        assert!(!would_create_cycle(&e, "d", "a"));
    }

    #[test]
    fn walks_end_on_cyclic_data() {
        let e = edges(&[("a", "b"), ("b", "a"), ("b", "bob")]);
        let reached = reachable_entities(&e, "a");
        assert_eq!(
            reached,
            HashSet::from(["a".to_string(), "b".to_string(), "bob".to_string()])
        );
    }
}
