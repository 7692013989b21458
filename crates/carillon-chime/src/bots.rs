//! Chat bots and their events configuration: CreateBot, GetBot, ListBots, UpdateBot,
//! RegenerateSecurityToken, Put/Get/DeleteEventsConfiguration. Spec: chime-zh.md §1.16, §1.17,
//! §3.2.

use carillon_awsapi::generated::chime::*;
use carillon_core::{ApiError, ApiResult, RequestContext};

use crate::Chime;

pub(crate) async fn create_bot(
    chime: &Chime,
    ctx: &RequestContext,
    input: CreateBotRequest,
) -> ApiResult<CreateBotResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("CreateBot"))
}

pub(crate) async fn get_bot(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetBotRequest,
) -> ApiResult<GetBotResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("GetBot"))
}

pub(crate) async fn list_bots(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListBotsRequest,
) -> ApiResult<ListBotsResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("ListBots"))
}

pub(crate) async fn update_bot(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateBotRequest,
) -> ApiResult<UpdateBotResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("UpdateBot"))
}

pub(crate) async fn regenerate_security_token(
    chime: &Chime,
    ctx: &RequestContext,
    input: RegenerateSecurityTokenRequest,
) -> ApiResult<RegenerateSecurityTokenResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("RegenerateSecurityToken"))
}

pub(crate) async fn put_events_configuration(
    chime: &Chime,
    ctx: &RequestContext,
    input: PutEventsConfigurationRequest,
) -> ApiResult<PutEventsConfigurationResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("PutEventsConfiguration"))
}

pub(crate) async fn get_events_configuration(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetEventsConfigurationRequest,
) -> ApiResult<GetEventsConfigurationResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("GetEventsConfiguration"))
}

pub(crate) async fn delete_events_configuration(
    chime: &Chime,
    ctx: &RequestContext,
    input: DeleteEventsConfigurationRequest,
) -> ApiResult<carillon_awsapi::types::Unit> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("DeleteEventsConfiguration"))
}
