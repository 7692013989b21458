//! Chat rooms and their memberships, and redaction: CreateRoom, GetRoom, ListRooms,
//! UpdateRoom, DeleteRoom, CreateRoomMembership, BatchCreateRoomMembership,
//! ListRoomMemberships, UpdateRoomMembership, DeleteRoomMembership,
//! RedactConversationMessage, RedactRoomMessage; and the same room actions for signed-in
//! users (the client edge), where only room administrators manage members.
//! Spec: chime-zh.md §1.10, §1.16 (bots in rooms), §2.6 (redaction); chime-ko.md §1.7,
//! §2.1.8.
//!
//! A room belongs to a Chime account of the caller's tenant; another tenant's room, or a
//! room of another Chime account, reads as `NotFoundException`. Members are users of the
//! room's Chime account, or its bots (added by bot ID, bot user ID or bot email; a bot must
//! be enabled and have an outbound events endpoint, §1.16); incoming webhooks are added by
//! their own operations. A room has at most [`MAX_MEMBERS`] members (chime-ko.md §1.7).
//! Deleting a room purges its messages and memberships at once; redaction removes a
//! message's content for good. Each change is published on the hub for the room's clients.

use carillon_awsapi::generated::chime::*;
use carillon_core::time::{millis_to_datetime, now_millis};
use carillon_core::{ApiError, RequestContext};
use carillon_store::chime::chat::{ChatRoomRecord, RoomMembershipRecord};
use carillon_store::{ChimeAccountRecord, StoreError};

use crate::errors::{bad_request, error, forbidden, not_found, Error, Result};
use crate::hub::{ChatEvent, Container, MembershipChange, MessageChange};
use crate::messages::{container_state, view};
use crate::paging::page_size;
use crate::sessions::SessionUser;
use crate::Chime;

/// Most members a room has (chime-ko.md §1.7).
pub const MAX_MEMBERS: i64 = 10_000;
/// Longest room name, in characters.
pub const MAX_NAME: usize = 256;
/// Default and largest `MaxResults` of ListRooms and ListRoomMemberships (model `ResultMax`).
const MAX_PAGE: i64 = 99;
/// Most items of one BatchCreateRoomMembership (model `MembershipItemList`).
const MAX_BATCH: usize = 50;
/// `RoomMembershipRole` values.
pub const ADMINISTRATOR: &str = "Administrator";
/// `RoomMembershipRole` of an ordinary member.
pub const MEMBER: &str = "Member";

/// Checks a non-empty path or body member (model `NonEmptyString`).
///
/// Errors: `BadRequestException` naming `member`.
fn check_id(member: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(bad_request(format!("{member} must not be empty")));
    }
    Ok(())
}

/// Checks a room name: 1 to [`MAX_NAME`] characters, not only white space.
///
/// Errors: `BadRequestException` naming `Name`.
pub fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME {
        return Err(bad_request(format!(
            "Name must be 1 to {MAX_NAME} characters and not only white space"
        )));
    }
    Ok(())
}

/// The role given, or `Member`; it must be a model `RoomMembershipRole`.
///
/// Errors: `BadRequestException` naming `Role`.
fn check_role(role: Option<&str>) -> Result<String> {
    match role {
        None => Ok(MEMBER.to_string()),
        Some(r) if r == ADMINISTRATOR || r == MEMBER => Ok(r.to_string()),
        Some(_) => Err(bad_request("Role must be Administrator or Member")),
    }
}

/// The model's `Room`.
pub fn room_shape(room: &ChatRoomRecord) -> Room {
    Room {
        account_id: Some(room.chime_account_id.clone()),
        created_by: room.created_by.clone(),
        created_timestamp: Some(millis_to_datetime(room.created_at).into()),
        name: Some(room.name.clone()),
        room_id: Some(room.room_id.clone()),
        updated_timestamp: Some(millis_to_datetime(room.updated_at).into()),
    }
}

/// The model's `RoomMembership` (with its `Member`).
pub fn membership_shape(membership: &RoomMembershipRecord) -> RoomMembership {
    RoomMembership {
        invited_by: membership.invited_by.clone(),
        member: Some(Member {
            account_id: membership.member_chime_account_id.clone(),
            email: membership.email.clone(),
            full_name: membership.full_name.clone(),
            member_id: Some(membership.member_id.clone()),
            member_type: Some(membership.member_type.clone()),
        }),
        role: Some(membership.role.clone()),
        room_id: Some(membership.room_id.clone()),
        updated_timestamp: Some(millis_to_datetime(membership.updated_at).into()),
    }
}

/// The caller's room `room_id` of Chime account `chime_account_id`.
///
/// Errors: as [`Chime::live_account`]; `BadRequestException` naming `RoomId`;
/// `NotFoundException` for a room of another account or tenant.
async fn admin_room(
    chime: &Chime,
    ctx: &RequestContext,
    chime_account_id: &str,
    room_id: &str,
) -> Result<ChatRoomRecord> {
    chime.live_account(ctx, chime_account_id).await?;
    check_id("RoomId", room_id)?;
    chime
        .store
        .chat_room(&ctx.account_id, room_id)
        .await?
        .filter(|room| room.chime_account_id == chime_account_id)
        .ok_or_else(|| not_found(format!("Room {room_id} was not found")))
}

/// Every member ID of `room_id` (the audience of its events).
async fn member_ids(chime: &Chime, room_id: &str) -> Result<Vec<String>> {
    Ok(chime
        .store
        .list_room_memberships(room_id, "", None)
        .await?
        .into_iter()
        .map(|m| m.member_id)
        .collect())
}

fn publish_membership(
    chime: &Chime,
    room: &ChatRoomRecord,
    membership: &RoomMembershipRecord,
    change: MembershipChange,
    actor: Option<&str>,
    mut audience: Vec<String>,
) {
    if !audience.contains(&membership.member_id) {
        audience.push(membership.member_id.clone());
    }
    chime.hub().publish(ChatEvent::Membership {
        account_id: room.account_id.clone(),
        chime_account_id: room.chime_account_id.clone(),
        room_id: room.room_id.clone(),
        member_id: membership.member_id.clone(),
        member_type: membership.member_type.clone(),
        role: membership.role.clone(),
        change,
        actor: actor.map(str::to_string),
        audience,
    });
}

/// Creates a room of `account` named `name`, `created_by` a user ID or an administrator's
/// principal ARN; `first_admin`, a user creator, becomes its first Administrator. A
/// `client_request_token` already used in the account returns the room it created.
async fn create(
    chime: &Chime,
    account: &ChimeAccountRecord,
    name: String,
    created_by: String,
    first_admin: Option<&str>,
    client_request_token: Option<String>,
) -> Result<ChatRoomRecord> {
    if let Some(token) = &client_request_token {
        let existing = chime
            .store
            .chat_room_by_request_token(&account.account_id, &account.chime_account_id, token)
            .await?;
        if let Some(room) = existing {
            return Ok(room);
        }
    }
    let now = now_millis();
    let room = ChatRoomRecord {
        room_id: carillon_core::ids::new_uuid(),
        account_id: account.account_id.clone(),
        chime_account_id: account.chime_account_id.clone(),
        name,
        created_by: Some(created_by),
        created_at: now,
        updated_at: now,
        client_request_token,
    };
    let membership = first_admin.map(|user_id| RoomMembershipRecord {
        room_id: room.room_id.clone(),
        member_id: user_id.to_string(),
        account_id: room.account_id.clone(),
        member_type: "User".to_string(),
        role: ADMINISTRATOR.to_string(),
        invited_by: None,
        updated_at: now,
        email: None,
        full_name: None,
        member_chime_account_id: None,
    });
    match chime
        .store
        .create_chat_room(&room, membership.as_ref())
        .await
    {
        Ok(()) => Ok(room),
        // The same token raced in from a retry: answer with the room it made.
        Err(StoreError::Conflict(_)) if room.client_request_token.is_some() => chime
            .store
            .chat_room_by_request_token(
                &account.account_id,
                &account.chime_account_id,
                room.client_request_token.as_deref().unwrap_or_default(),
            )
            .await?
            .ok_or_else(|| ApiError::internal("The room could not be created").into()),
        Err(e) => Err(Error::from(e)),
    }
}

/// Adds `member` (a user ID of the room's Chime account; or a bot's ID, user ID or email;
/// for signed-in users also a user's email) to `room` with `role`, publishing
/// `Membership{Added}`.
///
/// Errors: `NotFoundException` when no such user or bot is in the room's account;
/// `ForbiddenException` for a disabled bot; `BadRequestException` for a bot without an
/// outbound events endpoint or a bot made Administrator; `ConflictException` when already a
/// member; `ResourceLimitExceededException` at [`MAX_MEMBERS`].
async fn add_member(
    chime: &Chime,
    room: &ChatRoomRecord,
    member: &str,
    role: String,
    actor: Option<&str>,
) -> Result<RoomMembershipRecord> {
    let member = member.trim();
    let user = if member.contains('@') {
        chime.store.chat_user_by_email(member).await
    } else {
        chime.store.chat_user(member).await
    }?
    .filter(|u| u.chime_account_id.as_deref() == Some(room.chime_account_id.as_str()));
    let (member_id, member_type) = match user {
        Some(user) => (user.user_id, "User"),
        None => {
            let bot = chime
                .store
                .chat_bot(&room.chime_account_id, member)
                .await?
                .ok_or_else(|| {
                    not_found(format!(
                        "Member {member} is not a user or bot of the room's Chime account"
                    ))
                })?;
            if bot.disabled {
                return Err(forbidden(format!("Bot {} is disabled", bot.bot_id)));
            }
            if !bot.has_endpoint {
                return Err(bad_request(format!(
                    "Bot {} has no outbound events endpoint; put an events configuration first",
                    bot.bot_id
                )));
            }
            if role == ADMINISTRATOR {
                return Err(bad_request("Role Administrator is for users only"));
            }
            (bot.user_id, "Bot")
        }
    };
    let count = chime.store.count_room_memberships(&room.room_id).await?;
    if count >= MAX_MEMBERS {
        return Err(error(
            "ResourceLimitExceededException",
            format!("A room has at most {MAX_MEMBERS} members"),
        ));
    }
    let record = RoomMembershipRecord {
        room_id: room.room_id.clone(),
        member_id: member_id.clone(),
        account_id: room.account_id.clone(),
        member_type: member_type.to_string(),
        role,
        invited_by: actor.map(str::to_string),
        updated_at: now_millis(),
        email: None,
        full_name: None,
        member_chime_account_id: None,
    };
    match chime.store.create_room_membership(&record).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(error(
                "ConflictException",
                format!(
                    "Member {member_id} already belongs to room {}",
                    room.room_id
                ),
            ))
        }
        Err(e) => return Err(Error::from(e)),
    }
    let stored = membership(chime, &room.room_id, &member_id).await?;
    let audience = member_ids(chime, &room.room_id).await?;
    publish_membership(
        chime,
        room,
        &stored,
        MembershipChange::Added,
        actor,
        audience,
    );
    Ok(stored)
}

/// The membership of `member_id` in `room_id`.
///
/// Errors: `NotFoundException` when it is not a member.
async fn membership(chime: &Chime, room_id: &str, member_id: &str) -> Result<RoomMembershipRecord> {
    chime
        .store
        .room_membership(room_id, member_id)
        .await?
        .ok_or_else(|| {
            not_found(format!(
                "Member {member_id} is not a member of room {room_id}"
            ))
        })
}

/// Sets the role of `member_id` in `room`, publishing `Membership{RoleChanged}` when it
/// changes.
///
/// Errors: `NotFoundException` when not a member; `BadRequestException` when a bot or
/// webhook would become Administrator.
async fn set_role(
    chime: &Chime,
    room: &ChatRoomRecord,
    member_id: &str,
    role: String,
    actor: Option<&str>,
) -> Result<RoomMembershipRecord> {
    let current = membership(chime, &room.room_id, member_id).await?;
    if current.role == role {
        return Ok(current);
    }
    if role == ADMINISTRATOR && current.member_type != "User" {
        return Err(bad_request("Role Administrator is for users only"));
    }
    let now = now_millis();
    let found = chime
        .store
        .update_room_membership_role(&room.room_id, member_id, &role, now)
        .await?;
    if !found {
        return Err(not_found(format!(
            "Member {member_id} is not a member of room {}",
            room.room_id
        )));
    }
    let updated = RoomMembershipRecord {
        role,
        updated_at: now,
        ..current
    };
    let audience = member_ids(chime, &room.room_id).await?;
    publish_membership(
        chime,
        room,
        &updated,
        MembershipChange::RoleChanged,
        actor,
        audience,
    );
    Ok(updated)
}

/// Removes `member_id` from `room`, publishing `Membership{Removed}` to the remaining
/// members and the removed one.
///
/// Errors: `NotFoundException` when not a member; `BadRequestException` for an incoming
/// webhook (it leaves with DeleteWebhook).
async fn remove_member(
    chime: &Chime,
    room: &ChatRoomRecord,
    member_id: &str,
    actor: Option<&str>,
) -> Result<()> {
    let current = membership(chime, &room.room_id, member_id).await?;
    if current.member_type == "Webhook" {
        // Its membership is the webhook itself: removing one without the other would leave
        // a URL that answers but cannot post.
        return Err(bad_request(
            "An incoming webhook leaves its room when the webhook is deleted (DeleteWebhook)",
        ));
    }
    let found = chime
        .store
        .delete_room_membership(&room.room_id, member_id)
        .await?;
    if !found {
        return Err(not_found(format!(
            "Member {member_id} is not a member of room {}",
            room.room_id
        )));
    }
    let audience = member_ids(chime, &room.room_id).await?;
    publish_membership(
        chime,
        room,
        &current,
        MembershipChange::Removed,
        actor,
        audience,
    );
    Ok(())
}

/// Publishes `Membership{Removed}` for user `member_id` (role `role`), already taken out of
/// room `room_id` of tenant `account_id` by an administrator's committed operation (a
/// domain removal, chime-ko.md §2.1.5), to the remaining members and the removed one;
/// nothing when the room is gone.
///
/// Errors: `ServiceFailureException` when the store fails.
pub(crate) async fn publish_user_removed(
    chime: &Chime,
    account_id: &str,
    room_id: &str,
    member_id: &str,
    role: &str,
) -> Result<()> {
    let Some(room) = chime.store.chat_room(account_id, room_id).await? else {
        return Ok(());
    };
    let removed = RoomMembershipRecord {
        room_id: room.room_id.clone(),
        member_id: member_id.to_string(),
        account_id: room.account_id.clone(),
        member_type: "User".to_string(),
        role: role.to_string(),
        invited_by: None,
        updated_at: now_millis(),
        email: None,
        full_name: None,
        member_chime_account_id: None,
    };
    let audience = member_ids(chime, &room.room_id).await?;
    publish_membership(
        chime,
        &room,
        &removed,
        MembershipChange::Removed,
        None,
        audience,
    );
    Ok(())
}

/// One page of memberships of `room_id` after the decoded token, and the next token.
async fn membership_page(
    chime: &Chime,
    scope: &str,
    room_id: &str,
    limit: i64,
    next_token: Option<&str>,
) -> Result<(Vec<RoomMembershipRecord>, Option<String>)> {
    let after = chime.resume_after(scope, next_token)?.unwrap_or_default();
    let mut members = chime
        .store
        .list_room_memberships(room_id, &after, Some(limit + 1))
        .await?;
    let next = chime.next_page(scope, &mut members, limit, |m| &m.member_id);
    Ok((members, next))
}

/// `CreateRoom`: a room named `Name` in the account, created by the administrator
/// (`CreatedBy` is the caller's principal ARN, as the original shows; no member). `ClientRequestToken` (2–64 of `[-_a-zA-Z0-9]`) makes retries
/// return the first room.
///
/// Errors: `BadRequestException` naming `AccountId`, `Name` or `ClientRequestToken`;
/// `NotFoundException` for an account not the caller's.
pub(crate) async fn create_room(
    chime: &Chime,
    ctx: &RequestContext,
    input: CreateRoomRequest,
) -> Result<CreateRoomResponse> {
    check_name(&input.name)?;
    if let Some(token) = &input.client_request_token {
        let valid = (2..=64).contains(&token.len())
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(bad_request(
                "ClientRequestToken must be 2 to 64 characters of letters, digits, - and _",
            ));
        }
    }
    let account = chime.live_account(ctx, &input.account_id).await?;
    let room = create(
        chime,
        &account,
        input.name,
        ctx.principal_arn.clone(),
        None,
        input.client_request_token,
    )
    .await?;
    Ok(CreateRoomResponse {
        room: Some(room_shape(&room)),
    })
}

/// `GetRoom`.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId` or `RoomId`.
pub(crate) async fn get_room(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetRoomRequest,
) -> Result<GetRoomResponse> {
    let room = admin_room(chime, ctx, &input.account_id, &input.room_id).await?;
    Ok(GetRoomResponse {
        room: Some(room_shape(&room)),
    })
}

/// `ListRooms`: the account's rooms by ID, only those `MemberId` (a user ID, or a bot's ID
/// or user ID) belongs to when given; `MaxResults` 1–99 (default 99), `NextToken` bound to
/// the tenant, the account and the filter.
///
/// Errors: `NotFoundException` for the account; `BadRequestException` naming `AccountId`,
/// `MaxResults`, `MemberId` or `NextToken`.
pub(crate) async fn list_rooms(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListRoomsRequest,
) -> Result<ListRoomsResponse> {
    let limit = page_size(input.max_results, MAX_PAGE, MAX_PAGE)?;
    if let Some(member) = &input.member_id {
        check_id("MemberId", member)?;
    }
    let account = chime.live_account(ctx, &input.account_id).await?;
    let member = match input.member_id.as_deref() {
        None => None,
        // A bot is a member under its user ID.
        Some(id) => Some(
            chime
                .store
                .chat_bot(&account.chime_account_id, id)
                .await?
                .map_or_else(|| id.to_string(), |bot| bot.user_id),
        ),
    };
    let scope = format!(
        "ListRooms\0{}\0{}\0{}",
        ctx.account_id,
        account.chime_account_id,
        member.as_deref().unwrap_or_default()
    );
    let after = chime
        .resume_after(&scope, input.next_token.as_deref())?
        .unwrap_or_default();
    let mut rooms = chime
        .store
        .list_chat_rooms(
            &ctx.account_id,
            &account.chime_account_id,
            member.as_deref(),
            &after,
            limit + 1,
        )
        .await?;
    let next_token = chime.next_page(&scope, &mut rooms, limit, |r| &r.room_id);
    Ok(ListRoomsResponse {
        rooms: Some(rooms.iter().map(room_shape).collect()),
        next_token,
    })
}

/// `UpdateRoom`: renames the room when `Name` is given.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId`, `RoomId` or
/// `Name`.
pub(crate) async fn update_room(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateRoomRequest,
) -> Result<UpdateRoomResponse> {
    if let Some(name) = &input.name {
        check_name(name)?;
    }
    let mut room = admin_room(chime, ctx, &input.account_id, &input.room_id).await?;
    if let Some(name) = input.name {
        let now = now_millis();
        let found = chime
            .store
            .rename_chat_room(&ctx.account_id, &room.room_id, &name, now)
            .await?;
        if !found {
            return Err(not_found(format!("Room {} was not found", room.room_id)));
        }
        room.name = name;
        room.updated_at = now;
    }
    Ok(UpdateRoomResponse {
        room: Some(room_shape(&room)),
    })
}

/// Deletes `room` with its messages and memberships for good and publishes
/// `RoomDeleted` to its former members.
async fn delete(chime: &Chime, room: &ChatRoomRecord) -> Result<()> {
    let members = chime
        .store
        .delete_chat_room(&room.account_id, &room.room_id)
        .await?
        .ok_or_else(|| not_found(format!("Room {} was not found", room.room_id)))?;
    chime.hub().publish(ChatEvent::RoomDeleted {
        account_id: room.account_id.clone(),
        room_id: room.room_id.clone(),
        audience: members,
    });
    Ok(())
}

/// `DeleteRoom`: the room, its messages (§1.10: permanently) and its memberships, at once.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId` or `RoomId`.
pub(crate) async fn delete_room(
    chime: &Chime,
    ctx: &RequestContext,
    input: DeleteRoomRequest,
) -> Result<carillon_awsapi::types::Unit> {
    let room = admin_room(chime, ctx, &input.account_id, &input.room_id).await?;
    delete(chime, &room).await?;
    Ok(carillon_awsapi::types::Unit {})
}

/// `CreateRoomMembership`: adds a user of the account or one of its bots, `Role` Member by
/// default.
///
/// Errors: `BadRequestException` naming `AccountId`, `RoomId`, `MemberId` or `Role`, or
/// for a bot without an events endpoint; `NotFoundException` for the room or the member;
/// `ForbiddenException` for a disabled bot; `ConflictException` when already a member;
/// `ResourceLimitExceededException` when the room is full.
pub(crate) async fn create_room_membership(
    chime: &Chime,
    ctx: &RequestContext,
    input: CreateRoomMembershipRequest,
) -> Result<CreateRoomMembershipResponse> {
    check_id("MemberId", &input.member_id)?;
    let role = check_role(input.role.as_deref())?;
    let room = admin_room(chime, ctx, &input.account_id, &input.room_id).await?;
    let added = add_member(chime, &room, &input.member_id, role, None).await?;
    Ok(CreateRoomMembershipResponse {
        room_membership: Some(membership_shape(&added)),
    })
}

/// `BatchCreateRoomMembership`: adds 1–50 members; each one that cannot be added is
/// reported in `Errors` with its `ErrorCode` (`BadRequest`, `NotFound`, `Forbidden`,
/// `Conflict`, `ResourceLimitExceeded`) while the others are added.
///
/// Errors: `BadRequestException` naming `AccountId`, `RoomId` or `MembershipItemList`;
/// `NotFoundException` for the room.
pub(crate) async fn batch_create_room_membership(
    chime: &Chime,
    ctx: &RequestContext,
    input: BatchCreateRoomMembershipRequest,
) -> Result<BatchCreateRoomMembershipResponse> {
    if input.membership_item_list.is_empty() || input.membership_item_list.len() > MAX_BATCH {
        return Err(bad_request(format!(
            "MembershipItemList must have 1 to {MAX_BATCH} items"
        )));
    }
    let room = admin_room(chime, ctx, &input.account_id, &input.room_id).await?;
    let mut errors = Vec::new();
    for item in input.membership_item_list {
        let member_id = item.member_id.unwrap_or_default();
        let outcome = match (
            check_id("MemberId", &member_id),
            check_role(item.role.as_deref()),
        ) {
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(()), Ok(role)) => add_member(chime, &room, &member_id, role, None)
                .await
                .map(|_| ()),
        };
        if let Err(e) = outcome {
            if e.code == crate::errors::codes::SERVICE_FAILURE {
                return Err(e);
            }
            errors.push(MemberError {
                error_code: Some(e.code.trim_end_matches("Exception").to_string()),
                error_message: Some(e.message.clone()),
                member_id: Some(member_id),
            });
        }
    }
    Ok(BatchCreateRoomMembershipResponse {
        errors: Some(errors),
    })
}

/// `ListRoomMemberships`: the room's members by member ID with their user or bot details;
/// `MaxResults` 1–99 (default 99).
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId`, `RoomId`,
/// `MaxResults` or `NextToken`.
pub(crate) async fn list_room_memberships(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListRoomMembershipsRequest,
) -> Result<ListRoomMembershipsResponse> {
    let limit = page_size(input.max_results, MAX_PAGE, MAX_PAGE)?;
    let room = admin_room(chime, ctx, &input.account_id, &input.room_id).await?;
    let scope = format!("ListRoomMemberships\0{}\0{}", ctx.account_id, room.room_id);
    let (members, next_token) = membership_page(
        chime,
        &scope,
        &room.room_id,
        limit,
        input.next_token.as_deref(),
    )
    .await?;
    Ok(ListRoomMembershipsResponse {
        room_memberships: Some(members.iter().map(membership_shape).collect()),
        next_token,
    })
}

/// `UpdateRoomMembership`: sets the member's `Role` (Administrator or Member; only users
/// may be Administrator). Without `Role` the membership is returned unchanged.
///
/// Errors: `NotFoundException` for the room or the member; `BadRequestException` naming
/// `AccountId`, `RoomId`, `MemberId` or `Role`.
pub(crate) async fn update_room_membership(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateRoomMembershipRequest,
) -> Result<UpdateRoomMembershipResponse> {
    check_id("MemberId", &input.member_id)?;
    let role = match input.role.as_deref() {
        Some(role) => Some(check_role(Some(role))?),
        None => None,
    };
    let room = admin_room(chime, ctx, &input.account_id, &input.room_id).await?;
    let updated = match role {
        Some(role) => set_role(chime, &room, &input.member_id, role, None).await?,
        None => membership(chime, &room.room_id, &input.member_id).await?,
    };
    Ok(UpdateRoomMembershipResponse {
        room_membership: Some(membership_shape(&updated)),
    })
}

/// `DeleteRoomMembership`: removes the member (a bot is told through its Remove event).
///
/// Errors: `NotFoundException` for the room or the member; `BadRequestException` naming
/// `AccountId`, `RoomId` or `MemberId`, or for an incoming webhook (deleted with its own
/// operation).
pub(crate) async fn delete_room_membership(
    chime: &Chime,
    ctx: &RequestContext,
    input: DeleteRoomMembershipRequest,
) -> Result<carillon_awsapi::types::Unit> {
    check_id("MemberId", &input.member_id)?;
    let room = admin_room(chime, ctx, &input.account_id, &input.room_id).await?;
    remove_member(chime, &room, &input.member_id, None).await?;
    Ok(carillon_awsapi::types::Unit {})
}

/// Redacts message `message_id` of `container`: removes its content for good and tells
/// the container's clients (`Message{Redacted}`).
async fn redact(chime: &Chime, container: Container, message_id: &str) -> Result<()> {
    let state = container_state(chime, &container).await?;
    let (_, container_id) = crate::messages::container_parts(&container);
    let redacted = chime
        .store
        .redact_chat_message(container_id, message_id)
        .await?
        .ok_or_else(|| not_found(format!("Message {message_id} was not found")))?;
    chime.hub().publish(ChatEvent::Message {
        account_id: state.account_id.clone(),
        change: MessageChange::Redacted,
        message: view(redacted),
        audience: state.audience(),
    });
    Ok(())
}

/// `RedactRoomMessage`: removes the content of a message of the account's room for good
/// (§2.6, chime-ko.md §2.1.8); clients see it redacted.
///
/// Errors: `NotFoundException` for the room or the message; `BadRequestException` naming
/// `AccountId`, `RoomId` or `MessageId`.
pub(crate) async fn redact_room_message(
    chime: &Chime,
    ctx: &RequestContext,
    input: RedactRoomMessageRequest,
) -> Result<RedactRoomMessageResponse> {
    check_id("MessageId", &input.message_id)?;
    let room = admin_room(chime, ctx, &input.account_id, &input.room_id).await?;
    redact(chime, Container::Room(room.room_id), &input.message_id).await?;
    Ok(RedactRoomMessageResponse {})
}

/// `RedactConversationMessage`: the same for a conversation; the message must be in the
/// administrator's account (§2.6): a member of the conversation belongs to this Chime
/// account of the caller's tenant.
///
/// Errors: `NotFoundException` for the conversation (also when no member is of the
/// account) or the message; `BadRequestException` naming `AccountId`, `ConversationId` or
/// `MessageId`.
pub(crate) async fn redact_conversation_message(
    chime: &Chime,
    ctx: &RequestContext,
    input: RedactConversationMessageRequest,
) -> Result<RedactConversationMessageResponse> {
    check_id("ConversationId", &input.conversation_id)?;
    check_id("MessageId", &input.message_id)?;
    let account = chime.live_account(ctx, &input.account_id).await?;
    let members = chime
        .store
        .conversation_members(&input.conversation_id)
        .await?;
    let ours = members.iter().any(|m| {
        m.account_id.as_deref() == Some(ctx.account_id.as_str())
            && m.chime_account_id.as_deref() == Some(account.chime_account_id.as_str())
    });
    if !ours {
        return Err(not_found(format!(
            "Conversation {} was not found",
            input.conversation_id
        )));
    }
    redact(
        chime,
        Container::Conversation(input.conversation_id),
        &input.message_id,
    )
    .await?;
    Ok(RedactConversationMessageResponse {})
}

/// The room `room_id` when `user` is one of its members, with the user's membership.
///
/// Errors: `NotFoundException` when it does not exist or the user is not a member.
async fn user_room(
    chime: &Chime,
    user: &SessionUser,
    room_id: &str,
) -> Result<(ChatRoomRecord, RoomMembershipRecord)> {
    let missing = || not_found(format!("No room {room_id} of yours was found"));
    let room = chime
        .store
        .chat_room_any(room_id)
        .await?
        .ok_or_else(missing)?;
    let membership = chime
        .store
        .room_membership(room_id, &user.user_id)
        .await?
        .filter(|m| m.member_type == "User")
        .ok_or_else(missing)?;
    Ok((room, membership))
}

/// The room `room_id` when `user` is one of its administrators.
///
/// Errors: `NotFoundException` when the user is not a member; `ForbiddenException` when
/// not an administrator.
async fn administered_room(
    chime: &Chime,
    user: &SessionUser,
    room_id: &str,
) -> Result<ChatRoomRecord> {
    let (room, membership) = user_room(chime, user, room_id).await?;
    if membership.role != ADMINISTRATOR {
        return Err(forbidden("Only room administrators may do this"));
    }
    Ok(room)
}

/// A room `user` creates in their Chime account; they become its Administrator.
///
/// Errors: `BadRequestException` naming `Name`; `ForbiddenException` for an unmanaged
/// user (no account); `NotFoundException` when the user's account is gone.
pub async fn create_for_user(
    chime: &Chime,
    user: &SessionUser,
    name: String,
) -> Result<ChatRoomRecord> {
    check_name(&name)?;
    let (Some(account_id), Some(chime_account_id)) = (&user.account_id, &user.chime_account_id)
    else {
        return Err(forbidden(
            "Only users of a Chime account create rooms; you have none",
        ));
    };
    let account = chime
        .store
        .chime_account(account_id, chime_account_id, i64::MAX)
        .await?
        .filter(|a| a.deleted_at.is_none())
        .ok_or_else(|| not_found("Your Chime account was not found"))?;
    let room = create(
        chime,
        &account,
        name,
        user.user_id.clone(),
        Some(&user.user_id),
        None,
    )
    .await?;
    let creator = membership(chime, &room.room_id, &user.user_id).await?;
    publish_membership(
        chime,
        &room,
        &creator,
        MembershipChange::Added,
        Some(&user.user_id),
        vec![user.user_id.clone()],
    );
    Ok(room)
}

/// The rooms `user` belongs to by ID, `limit` (1–99) per page after `next_token`.
///
/// Errors: `BadRequestException` naming `MaxResults` or `NextToken`.
pub async fn rooms_of_user(
    chime: &Chime,
    user: &SessionUser,
    limit: Option<i32>,
    next_token: Option<&str>,
) -> Result<(Vec<ChatRoomRecord>, Option<String>)> {
    let limit = page_size(limit, MAX_PAGE, MAX_PAGE)?;
    let scope = format!("MyRooms\0{}", user.user_id);
    let after = chime.resume_after(&scope, next_token)?.unwrap_or_default();
    let mut rooms = chime
        .store
        .chat_rooms_of_member(&user.user_id, &after, limit + 1)
        .await?;
    let next = chime.next_page(&scope, &mut rooms, limit, |r| &r.room_id);
    Ok((rooms, next))
}

/// The room `room_id` `user` belongs to.
///
/// Errors: `NotFoundException` when it does not exist or the user is not a member.
pub async fn room_for_user(
    chime: &Chime,
    user: &SessionUser,
    room_id: &str,
) -> Result<ChatRoomRecord> {
    Ok(user_room(chime, user, room_id).await?.0)
}

/// The members of room `room_id` `user` belongs to, `limit` (1–99) per page.
///
/// Errors: `NotFoundException` when not a member; `BadRequestException` naming
/// `MaxResults` or `NextToken`.
pub async fn members_for_user(
    chime: &Chime,
    user: &SessionUser,
    room_id: &str,
    limit: Option<i32>,
    next_token: Option<&str>,
) -> Result<(Vec<RoomMembershipRecord>, Option<String>)> {
    let limit = page_size(limit, MAX_PAGE, MAX_PAGE)?;
    user_room(chime, user, room_id).await?;
    let scope = format!("MyRoomMembers\0{}\0{room_id}", user.user_id);
    membership_page(chime, &scope, room_id, limit, next_token).await
}

/// Adds `member` (a user ID or email of the room's Chime account, or a bot's ID or email)
/// to the room `room_id` administered by `user`, with `role` (default Member).
///
/// Errors: as [`add_member`]; `ForbiddenException` when the user is not a room
/// administrator; `BadRequestException` naming `MemberId` or `Role`.
pub async fn add_member_by_user(
    chime: &Chime,
    user: &SessionUser,
    room_id: &str,
    member: &str,
    role: Option<&str>,
) -> Result<RoomMembershipRecord> {
    check_id("MemberId", member)?;
    let role = check_role(role)?;
    let room = administered_room(chime, user, room_id).await?;
    add_member(chime, &room, member, role, Some(&user.user_id)).await
}

/// Sets the role of `member_id` in room `room_id` administered by `user`.
///
/// Errors: as [`set_role`]; `ForbiddenException` when the user is not a room
/// administrator; `BadRequestException` naming `Role`.
pub async fn set_role_by_user(
    chime: &Chime,
    user: &SessionUser,
    room_id: &str,
    member_id: &str,
    role: &str,
) -> Result<RoomMembershipRecord> {
    let role = check_role(Some(role))?;
    let room = administered_room(chime, user, room_id).await?;
    set_role(chime, &room, member_id, role, Some(&user.user_id)).await
}

/// Removes `member_id` from room `room_id`: a room administrator removes anyone, any member
/// removes themselves (leaving).
///
/// Errors: `NotFoundException` when the user or the member is not in the room;
/// `ForbiddenException` when a non-administrator removes someone else.
pub async fn remove_member_by_user(
    chime: &Chime,
    user: &SessionUser,
    room_id: &str,
    member_id: &str,
) -> Result<()> {
    let room = if member_id == user.user_id {
        user_room(chime, user, room_id).await?.0
    } else {
        administered_room(chime, user, room_id).await?
    };
    remove_member(chime, &room, member_id, Some(&user.user_id)).await
}
