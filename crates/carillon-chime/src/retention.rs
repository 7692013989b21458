//! Chat retention settings: PutRetentionSettings, GetRetentionSettings. Spec: chime-zh.md
//! §1.9, §2.6.

use carillon_awsapi::generated::chime::*;
use carillon_core::{ApiError, ApiResult, RequestContext};

use crate::Chime;

pub(crate) async fn put_retention_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: PutRetentionSettingsRequest,
) -> ApiResult<PutRetentionSettingsResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("PutRetentionSettings"))
}

pub(crate) async fn get_retention_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetRetentionSettingsRequest,
) -> ApiResult<GetRetentionSettingsResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("GetRetentionSettings"))
}
