//! Chat rooms and their memberships, and redaction: CreateRoom, GetRoom, ListRooms,
//! UpdateRoom, DeleteRoom, CreateRoomMembership, BatchCreateRoomMembership,
//! ListRoomMemberships, UpdateRoomMembership, DeleteRoomMembership,
//! RedactConversationMessage, RedactRoomMessage. Spec: chime-zh.md §1.10.

use carillon_awsapi::generated::chime::*;
use carillon_core::{ApiError, ApiResult, RequestContext};

use crate::Chime;

pub(crate) async fn create_room(
    chime: &Chime,
    ctx: &RequestContext,
    input: CreateRoomRequest,
) -> ApiResult<CreateRoomResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("CreateRoom"))
}

pub(crate) async fn get_room(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetRoomRequest,
) -> ApiResult<GetRoomResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("GetRoom"))
}

pub(crate) async fn list_rooms(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListRoomsRequest,
) -> ApiResult<ListRoomsResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("ListRooms"))
}

pub(crate) async fn update_room(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateRoomRequest,
) -> ApiResult<UpdateRoomResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("UpdateRoom"))
}

pub(crate) async fn delete_room(
    chime: &Chime,
    ctx: &RequestContext,
    input: DeleteRoomRequest,
) -> ApiResult<carillon_awsapi::types::Unit> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("DeleteRoom"))
}

pub(crate) async fn create_room_membership(
    chime: &Chime,
    ctx: &RequestContext,
    input: CreateRoomMembershipRequest,
) -> ApiResult<CreateRoomMembershipResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("CreateRoomMembership"))
}

pub(crate) async fn batch_create_room_membership(
    chime: &Chime,
    ctx: &RequestContext,
    input: BatchCreateRoomMembershipRequest,
) -> ApiResult<BatchCreateRoomMembershipResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("BatchCreateRoomMembership"))
}

pub(crate) async fn list_room_memberships(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListRoomMembershipsRequest,
) -> ApiResult<ListRoomMembershipsResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("ListRoomMemberships"))
}

pub(crate) async fn update_room_membership(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateRoomMembershipRequest,
) -> ApiResult<UpdateRoomMembershipResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("UpdateRoomMembership"))
}

pub(crate) async fn delete_room_membership(
    chime: &Chime,
    ctx: &RequestContext,
    input: DeleteRoomMembershipRequest,
) -> ApiResult<carillon_awsapi::types::Unit> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("DeleteRoomMembership"))
}

pub(crate) async fn redact_conversation_message(
    chime: &Chime,
    ctx: &RequestContext,
    input: RedactConversationMessageRequest,
) -> ApiResult<RedactConversationMessageResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("RedactConversationMessage"))
}

pub(crate) async fn redact_room_message(
    chime: &Chime,
    ctx: &RequestContext,
    input: RedactRoomMessageRequest,
) -> ApiResult<RedactRoomMessageResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("RedactRoomMessage"))
}
