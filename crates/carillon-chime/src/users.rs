//! Chime users: InviteUsers, CreateUser, GetUser, ListUsers, UpdateUser, BatchUpdateUser,
//! BatchSuspendUser, BatchUnsuspendUser, LogoutUser, ResetPersonalPIN, GetUserSettings,
//! UpdateUserSettings. Spec: chime-zh.md §1.3, §2.12.

use carillon_awsapi::generated::chime::*;
use carillon_core::{ApiError, ApiResult, RequestContext};

use crate::Chime;

pub(crate) async fn batch_suspend_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: BatchSuspendUserRequest,
) -> ApiResult<BatchSuspendUserResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("BatchSuspendUser"))
}

pub(crate) async fn batch_unsuspend_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: BatchUnsuspendUserRequest,
) -> ApiResult<BatchUnsuspendUserResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("BatchUnsuspendUser"))
}

pub(crate) async fn batch_update_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: BatchUpdateUserRequest,
) -> ApiResult<BatchUpdateUserResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("BatchUpdateUser"))
}

pub(crate) async fn create_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: CreateUserRequest,
) -> ApiResult<CreateUserResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("CreateUser"))
}

pub(crate) async fn get_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetUserRequest,
) -> ApiResult<GetUserResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("GetUser"))
}

pub(crate) async fn list_users(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListUsersRequest,
) -> ApiResult<ListUsersResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("ListUsers"))
}

pub(crate) async fn update_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateUserRequest,
) -> ApiResult<UpdateUserResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("UpdateUser"))
}

pub(crate) async fn invite_users(
    chime: &Chime,
    ctx: &RequestContext,
    input: InviteUsersRequest,
) -> ApiResult<InviteUsersResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("InviteUsers"))
}

pub(crate) async fn logout_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: LogoutUserRequest,
) -> ApiResult<LogoutUserResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("LogoutUser"))
}

pub(crate) async fn reset_personal_pin(
    chime: &Chime,
    ctx: &RequestContext,
    input: ResetPersonalPINRequest,
) -> ApiResult<ResetPersonalPINResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("ResetPersonalPIN"))
}

pub(crate) async fn get_user_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetUserSettingsRequest,
) -> ApiResult<GetUserSettingsResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("GetUserSettings"))
}

pub(crate) async fn update_user_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateUserSettingsRequest,
) -> ApiResult<carillon_awsapi::types::Unit> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("UpdateUserSettings"))
}
