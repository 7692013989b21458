//! Phone numbers: search, orders, inventory, deletion queue, user assignment, settings,
//! supported countries and global settings. Spec: chime-zh.md §1.12, §2.13, §4; chime-ja.md §4.

use carillon_awsapi::generated::chime::*;
use carillon_core::{ApiError, ApiResult, RequestContext};

use crate::Chime;

pub(crate) async fn search_available_phone_numbers(
    chime: &Chime,
    ctx: &RequestContext,
    input: SearchAvailablePhoneNumbersRequest,
) -> ApiResult<SearchAvailablePhoneNumbersResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("SearchAvailablePhoneNumbers"))
}

pub(crate) async fn create_phone_number_order(
    chime: &Chime,
    ctx: &RequestContext,
    input: CreatePhoneNumberOrderRequest,
) -> ApiResult<CreatePhoneNumberOrderResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("CreatePhoneNumberOrder"))
}

pub(crate) async fn get_phone_number_order(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetPhoneNumberOrderRequest,
) -> ApiResult<GetPhoneNumberOrderResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("GetPhoneNumberOrder"))
}

pub(crate) async fn list_phone_number_orders(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListPhoneNumberOrdersRequest,
) -> ApiResult<ListPhoneNumberOrdersResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("ListPhoneNumberOrders"))
}

pub(crate) async fn list_phone_numbers(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListPhoneNumbersRequest,
) -> ApiResult<ListPhoneNumbersResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("ListPhoneNumbers"))
}

pub(crate) async fn get_phone_number(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetPhoneNumberRequest,
) -> ApiResult<GetPhoneNumberResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("GetPhoneNumber"))
}

pub(crate) async fn update_phone_number(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdatePhoneNumberRequest,
) -> ApiResult<UpdatePhoneNumberResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("UpdatePhoneNumber"))
}

pub(crate) async fn batch_update_phone_number(
    chime: &Chime,
    ctx: &RequestContext,
    input: BatchUpdatePhoneNumberRequest,
) -> ApiResult<BatchUpdatePhoneNumberResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("BatchUpdatePhoneNumber"))
}

pub(crate) async fn delete_phone_number(
    chime: &Chime,
    ctx: &RequestContext,
    input: DeletePhoneNumberRequest,
) -> ApiResult<carillon_awsapi::types::Unit> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("DeletePhoneNumber"))
}

pub(crate) async fn batch_delete_phone_number(
    chime: &Chime,
    ctx: &RequestContext,
    input: BatchDeletePhoneNumberRequest,
) -> ApiResult<BatchDeletePhoneNumberResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("BatchDeletePhoneNumber"))
}

pub(crate) async fn restore_phone_number(
    chime: &Chime,
    ctx: &RequestContext,
    input: RestorePhoneNumberRequest,
) -> ApiResult<RestorePhoneNumberResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("RestorePhoneNumber"))
}

pub(crate) async fn associate_phone_number_with_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: AssociatePhoneNumberWithUserRequest,
) -> ApiResult<AssociatePhoneNumberWithUserResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("AssociatePhoneNumberWithUser"))
}

pub(crate) async fn disassociate_phone_number_from_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: DisassociatePhoneNumberFromUserRequest,
) -> ApiResult<DisassociatePhoneNumberFromUserResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("DisassociatePhoneNumberFromUser"))
}

pub(crate) async fn get_phone_number_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: carillon_awsapi::types::Unit,
) -> ApiResult<GetPhoneNumberSettingsResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("GetPhoneNumberSettings"))
}

pub(crate) async fn update_phone_number_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdatePhoneNumberSettingsRequest,
) -> ApiResult<carillon_awsapi::types::Unit> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("UpdatePhoneNumberSettings"))
}

pub(crate) async fn list_supported_phone_number_countries(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListSupportedPhoneNumberCountriesRequest,
) -> ApiResult<ListSupportedPhoneNumberCountriesResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented(
        "ListSupportedPhoneNumberCountries",
    ))
}

pub(crate) async fn get_global_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: carillon_awsapi::types::Unit,
) -> ApiResult<GetGlobalSettingsResponse> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("GetGlobalSettings"))
}

pub(crate) async fn update_global_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateGlobalSettingsRequest,
) -> ApiResult<carillon_awsapi::types::Unit> {
    let _ = (chime, ctx, input);
    Err(ApiError::not_implemented("UpdateGlobalSettings"))
}
