//! Phone numbers: search, orders, inventory, deletion queue, user assignment, settings,
//! supported countries and global settings. Spec: chime-zh.md §1.12, §2.13, §2.14, §4;
//! chime-ja.md §1.7, §2.5, §2.6, §4; chime-ko.md §1.8, §1.12, §2.3, §2.4.
//!
//! Numbers come from the [`crate::carrier::Carrier`] adapter. Lifecycle of a tenant's number
//! (the PhoneNumberId is its E.164 form):
//! - CreatePhoneNumberOrder: the order is `Processing` and each number `AcquireInProgress`
//!   (Orders/Pending) while the adapter provisions it; then the number is `Unassigned`
//!   (Inventory, order number `Acquired`) or `AcquireFailed` (order number `Failed`), and the
//!   order `Successful`, `Partial` or `Failed`.
//! - Inventory: `Unassigned` ⇄ `Assigned` (a Business Calling number and one user).
//! - DeletePhoneNumber (unassigned only): `DeleteInProgress` with its `DeletionTimestamp`,
//!   the deletion queue; RestorePhoneNumber within 7 days brings it back; after 7 days
//!   [`PhoneNumberQueue`] releases it to the carrier's pool and it leaves the inventory.
//!
//! Calling names (≤ 15 characters): a number's own name and the tenant's default name can
//! each be set once every 7 days (chime-ko.md §2.3) and take 72 hours to apply
//! (`CallingNameStatus` `UpdateInProgress`, then `UpdateSucceeded`).

use std::time::Duration;

use carillon_awsapi::generated::chime::*;
use carillon_awsapi::types::Unit;
use carillon_core::time::{millis_to_datetime, now_millis};
use carillon_core::{ApiError, RequestContext};
use carillon_jobs::{CancellationToken, Job, Pass, Trigger};
use carillon_store::chime::phone_numbers::{
    order_status, status, AssociateOutcome, NewOrder, OrderRecord, PhoneNumberFilter,
    PhoneNumberRecord, PhoneSettingsRecord,
};
use carillon_store::StoreError;

use crate::carrier::{CarrierError, NumberQuery};
use crate::countries::{self, normalize_e164, BUSINESS_CALLING, LOCAL, TOLL_FREE};
use crate::errors::{bad_request, codes, error, not_found, Error, Result};
use crate::paging::page_size;
use crate::Chime;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// How long a deleted number stays in the deletion queue (restorable): 7 days.
pub const DELETION_QUEUE_MS: i64 = 7 * DAY_MS;
/// How long a calling-name update takes to apply: 72 hours.
pub const CALLING_NAME_APPLY_MS: i64 = 3 * DAY_MS;
/// How often a calling name may change: once every 7 days.
pub const CALLING_NAME_THROTTLE_MS: i64 = 7 * DAY_MS;
/// Carillon's limit on a tenant's numbers (inventory plus pending orders; the deletion
/// queue does not count): ResourceLimitExceededException beyond it.
pub const PHONE_NUMBER_QUOTA: i64 = 1000;
/// How often [`PhoneNumberQueue`] looks for due deletions and unfinished orders.
const JOB_INTERVAL: Duration = Duration::from_secs(30);

pub(crate) fn carrier_failure(e: CarrierError) -> Error {
    match e {
        CarrierError::Conflict(m) => error(codes::CONFLICT, m),
        CarrierError::Failed(m) => {
            tracing::error!(error = %m, "phone-number carrier failure");
            error(codes::SERVICE_FAILURE, "The phone-number carrier failed")
        }
    }
}

fn timestamp(ms: i64) -> carillon_awsapi::types::Iso8601Timestamp {
    millis_to_datetime(ms).into()
}

/// `member` as an E.164 number with `+`.
///
/// Errors: `BadRequestException` naming `member`.
pub(crate) fn e164(member: &str, value: &str) -> Result<String> {
    normalize_e164(value.trim()).ok_or_else(|| {
        bad_request(format!(
            "{member} must be an E.164 phone number such as +12065550100"
        ))
    })
}

/// Checks a model `PhoneNumberProductType` in `member`.
///
/// Errors: `BadRequestException` naming `member`.
pub(crate) fn check_product_type(member: &str, value: &str) -> Result<()> {
    if countries::PRODUCT_TYPES.contains(&value) {
        Ok(())
    } else {
        Err(bad_request(format!(
            "{member} must be one of {}",
            countries::PRODUCT_TYPES.join(", ")
        )))
    }
}

/// Checks that a number of `country` and `number_type` can have product type `product`
/// (§4.1: Business Calling and Voice Connector for US numbers, SIP media application dial-in
/// the only product for international numbers; the §4 country table).
///
/// Errors: `BadRequestException`.
pub(crate) fn check_product_for(
    e164: &str,
    country: &str,
    number_type: &str,
    product: &str,
) -> Result<()> {
    let supported = countries::country(country).is_some_and(|c| c.supports(product, number_type));
    if supported {
        Ok(())
    } else {
        Err(bad_request(format!(
            "ProductType {product} is not available for {e164} ({country} {number_type}); \
             international numbers must use SipMediaApplicationDialIn"
        )))
    }
}

/// Checks a calling name: empty (clears it) or 2–15 letters, digits and spaces.
///
/// Errors: `BadRequestException` naming `member`.
fn check_calling_name(member: &str, name: &str) -> Result<()> {
    let valid = name.is_empty()
        || ((2..=15).contains(&name.chars().count())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == ' '));
    if valid {
        Ok(())
    } else {
        Err(bad_request(format!(
            "{member} must be 2 to 15 letters, digits and spaces (or empty to clear it)"
        )))
    }
}

/// The model `CallingNameStatus` of a name set at `updated_at`.
fn calling_name_status(name: Option<&str>, updated_at: Option<i64>, now: i64) -> &'static str {
    match (name, updated_at) {
        (_, Some(at)) if now - at < CALLING_NAME_APPLY_MS => "UpdateInProgress",
        (Some(n), Some(_)) if !n.is_empty() => "UpdateSucceeded",
        _ => "Unassigned",
    }
}

/// Checks that a calling name last set at `updated_at` may change at `now`.
fn check_calling_name_throttle(
    code: &'static str,
    what: &str,
    updated_at: Option<i64>,
    now: i64,
) -> Result<()> {
    match updated_at {
        Some(at) if now - at < CALLING_NAME_THROTTLE_MS => Err(error(
            code,
            format!(
                "{what} can be updated once every 7 days; next update allowed after {}",
                millis_to_datetime(at + CALLING_NAME_THROTTLE_MS).to_rfc3339()
            ),
        )),
        _ => Ok(()),
    }
}

/// The model's `PhoneNumber` for a stored number.
fn number_shape(n: &PhoneNumberRecord, now: i64) -> PhoneNumber {
    let mut associations = Vec::new();
    if let (Some(user), Some(account)) = (&n.user_id, &n.chime_account_id) {
        let at = n.associated_at.map(timestamp);
        associations.push(PhoneNumberAssociation {
            associated_timestamp: at,
            name: Some("AccountId".to_string()),
            value: Some(account.clone()),
        });
        associations.push(PhoneNumberAssociation {
            associated_timestamp: at,
            name: Some("UserId".to_string()),
            value: Some(user.clone()),
        });
    }
    let c = n.capabilities;
    PhoneNumber {
        associations: Some(associations),
        calling_name: n.calling_name.clone().filter(|s| !s.is_empty()),
        calling_name_status: Some(
            calling_name_status(n.calling_name.as_deref(), n.calling_name_updated_at, now)
                .to_string(),
        ),
        capabilities: Some(PhoneNumberCapabilities {
            inbound_call: Some(c.voice),
            outbound_call: Some(c.voice),
            inbound_sms: Some(c.sms),
            outbound_sms: Some(c.sms),
            inbound_mms: Some(c.mms),
            outbound_mms: Some(c.mms),
        }),
        country: Some(n.country.clone()),
        created_timestamp: Some(timestamp(n.created_at)),
        deletion_timestamp: n.deletion_at.map(timestamp),
        e164_phone_number: Some(n.e164.clone()),
        phone_number_id: Some(n.e164.clone()),
        product_type: Some(n.product_type.clone()),
        status: Some(n.status.clone()),
        r#type: Some(n.number_type.clone()),
        updated_timestamp: Some(timestamp(n.updated_at)),
    }
}

fn order_shape(o: &OrderRecord) -> PhoneNumberOrder {
    PhoneNumberOrder {
        created_timestamp: Some(timestamp(o.created_at)),
        ordered_phone_numbers: Some(
            o.numbers
                .iter()
                .map(|(e164, status)| OrderedPhoneNumber {
                    e164_phone_number: Some(e164.clone()),
                    status: Some(status.clone()),
                })
                .collect(),
        ),
        phone_number_order_id: Some(o.order_id.clone()),
        product_type: Some(o.product_type.clone()),
        status: Some(o.status.clone()),
        updated_timestamp: Some(timestamp(o.updated_at)),
    }
}

impl Chime {
    /// The caller's inventory number `id` (an E.164 number, `+` optional).
    ///
    /// Errors: `BadRequestException` naming `member`; `NotFoundException` when the tenant
    /// has no such number.
    async fn tenant_number(
        &self,
        ctx: &RequestContext,
        member: &str,
        id: &str,
    ) -> Result<PhoneNumberRecord> {
        let e164 = e164(member, id)?;
        self.release_stale_assignments(ctx).await?;
        self.store
            .phone_number(&ctx.account_id, &e164)
            .await?
            .ok_or_else(|| not_found(format!("Phone number {e164} was not found")))
    }

    /// Unassigns the caller's numbers whose users no longer hold them (removed from the
    /// account, a removed domain), so reads and changes see the assignment as it is.
    async fn release_stale_assignments(&self, ctx: &RequestContext) -> Result<()> {
        self.store
            .release_stale_assignments(&ctx.account_id, now_millis())
            .await?;
        Ok(())
    }

    /// Checks that `chime_account_id` is a live Chime account of the caller.
    ///
    /// Errors: `NotFoundException`.
    async fn check_chime_account(
        &self,
        ctx: &RequestContext,
        chime_account_id: &str,
    ) -> Result<()> {
        let account = self
            .store
            .chime_account(&ctx.account_id, chime_account_id, now_millis())
            .await?;
        match account {
            Some(a) if a.deleted_at.is_none() => Ok(()),
            _ => Err(not_found(format!(
                "Chime account {chime_account_id} was not found"
            ))),
        }
    }
}

/// `SearchAvailablePhoneNumbers`: numbers the carrier can provide to the caller, by number.
/// US numbers (the default `Country`) need at least one of `AreaCode` (3 digits), `City`
/// (with `State`), `State` or `TollFreePrefix` (800, 833, …, 888; toll-free numbers); numbers
/// of other countries take only `PhoneNumberType`, which they need. `MaxResults` 1–500
/// (default 100); `NextToken` bound to the tenant and the filters.
///
/// Errors: `BadRequestException` naming the member.
pub(crate) async fn search_available_phone_numbers(
    chime: &Chime,
    ctx: &RequestContext,
    input: SearchAvailablePhoneNumbersRequest,
) -> Result<SearchAvailablePhoneNumbersResponse> {
    let limit = page_size(input.max_results, 100, 500)?;
    let country_code = input.country.clone().unwrap_or_else(|| "US".to_string());
    let country = countries::country(&country_code).ok_or_else(|| {
        bad_request(format!(
            "Country {country_code} is not a supported country (see ListSupportedPhoneNumberCountries)"
        ))
    })?;
    let blank = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (area_code, city, state, toll_free) = (
        blank(&input.area_code),
        blank(&input.city),
        blank(&input.state),
        blank(&input.toll_free_prefix),
    );
    if let Some(t) = &input.phone_number_type {
        if !countries::NUMBER_TYPES.contains(&t.as_str()) {
            return Err(bad_request("PhoneNumberType must be Local or TollFree"));
        }
    }
    let mut number_type = input.phone_number_type.clone();
    let mut prefix = None;
    if country.code == "US" {
        if area_code.is_none() && city.is_none() && state.is_none() && toll_free.is_none() {
            return Err(bad_request(
                "US numbers need at least one of AreaCode, City, State or TollFreePrefix",
            ));
        }
        if city.is_some() && state.is_none() {
            return Err(bad_request("City needs State"));
        }
        if let Some(area) = &area_code {
            if area.len() != 3 || !area.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad_request("AreaCode must be 3 digits"));
            }
            if toll_free.is_some() {
                return Err(bad_request(
                    "AreaCode and TollFreePrefix cannot both be given",
                ));
            }
            prefix = Some(format!("+1{area}"));
        }
        if let Some(tf) = &toll_free {
            if !countries::NANP_TOLL_FREE.contains(&tf.as_str()) {
                return Err(bad_request(format!(
                    "TollFreePrefix must be one of {}",
                    countries::NANP_TOLL_FREE.join(", ")
                )));
            }
            if number_type.as_deref() == Some(LOCAL) {
                return Err(bad_request(
                    "TollFreePrefix cannot be used with PhoneNumberType Local",
                ));
            }
            number_type = Some(TOLL_FREE.to_string());
            prefix = Some(format!("+1{tf}"));
        }
    } else {
        if area_code.is_some() || city.is_some() || state.is_some() || toll_free.is_some() {
            return Err(bad_request(format!(
                "Numbers of {} can be searched by PhoneNumberType only",
                country.code
            )));
        }
        if number_type.is_none() {
            return Err(bad_request(format!(
                "PhoneNumberType is required for numbers of {}",
                country.code
            )));
        }
    }
    let scope = format!(
        "SearchAvailablePhoneNumbers\0{}\0{}\0{}\0{}\0{}\0{}",
        ctx.account_id,
        country.code,
        number_type.as_deref().unwrap_or_default(),
        prefix.as_deref().unwrap_or_default(),
        city.as_deref().unwrap_or_default(),
        state.as_deref().unwrap_or_default()
    );
    let after = chime.resume_after(&scope, input.next_token.as_deref())?;
    let query = NumberQuery {
        country: country.code.to_string(),
        number_type,
        e164_prefix: prefix,
        city,
        state,
        after,
        limit: limit + 1,
    };
    let mut found = chime
        .carrier
        .search(&ctx.account_id, &query)
        .await
        .map_err(carrier_failure)?;
    let next_token = chime.next_page(&scope, &mut found, limit, |n| &n.e164);
    Ok(SearchAvailablePhoneNumbersResponse {
        e164_phone_numbers: Some(found.into_iter().map(|n| n.e164).collect()),
        next_token,
    })
}

/// `CreatePhoneNumberOrder`: orders `E164PhoneNumbers` (at least one, no repeats) as
/// `ProductType`. The order answers `Processing`; the carrier provisions the numbers in the
/// background ([`process_order`]). A number the carrier does not know ends `Failed`.
///
/// Errors: `BadRequestException` naming the member (an invalid number, a product type the
/// number's country or type does not allow (§4.1), a number already in the inventory);
/// `ResourceLimitExceededException` beyond [`PHONE_NUMBER_QUOTA`].
pub(crate) async fn create_phone_number_order(
    chime: &Chime,
    ctx: &RequestContext,
    input: CreatePhoneNumberOrderRequest,
) -> Result<CreatePhoneNumberOrderResponse> {
    check_product_type("ProductType", &input.product_type)?;
    if input.e164_phone_numbers.is_empty() {
        return Err(bad_request(
            "E164PhoneNumbers must name at least one number",
        ));
    }
    let now = now_millis();
    let order_id = carillon_core::ids::new_uuid();
    let mut numbers: Vec<(String, String)> = Vec::new();
    let mut inventory = Vec::new();
    for raw in &input.e164_phone_numbers {
        let number = e164("E164PhoneNumbers", raw)?;
        if numbers.iter().any(|(n, _)| *n == number) {
            return Err(bad_request(format!(
                "E164PhoneNumbers names {number} twice"
            )));
        }
        if let Some(existing) = chime.store.phone_number(&ctx.account_id, &number).await? {
            if existing.status != status::ACQUIRE_FAILED {
                return Err(bad_request(format!(
                    "{number} is already in your phone numbers ({})",
                    existing.status
                )));
            }
        }
        if let Some(info) = chime
            .carrier
            .describe(&number)
            .await
            .map_err(carrier_failure)?
        {
            check_product_for(
                &number,
                &info.country,
                &info.number_type,
                &input.product_type,
            )?;
            inventory.push(PhoneNumberRecord {
                account_id: ctx.account_id.clone(),
                e164: number.clone(),
                country: info.country,
                number_type: info.number_type,
                product_type: input.product_type.clone(),
                status: status::ACQUIRE_IN_PROGRESS.to_string(),
                capabilities: info.capabilities,
                calling_name: None,
                calling_name_updated_at: None,
                user_id: None,
                chime_account_id: None,
                associated_at: None,
                order_id: order_id.clone(),
                deletion_at: None,
                created_at: now,
                updated_at: now,
            });
        }
        numbers.push((number, order_status::PROCESSING.to_string()));
    }
    check_quota(chime, ctx, inventory.len()).await?;
    numbers.sort();
    let order = OrderRecord {
        order_id: order_id.clone(),
        account_id: ctx.account_id.clone(),
        product_type: input.product_type,
        status: order_status::PROCESSING.to_string(),
        numbers,
        created_at: now,
        updated_at: now,
    };
    let new = NewOrder {
        order: order.clone(),
        inventory,
    };
    chime
        .store
        .create_phone_number_order(&new)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                bad_request("A number of the order is already in your phone numbers")
            }
            other => Error::from(other),
        })?;
    let worker = chime.clone();
    let account_id = ctx.account_id.clone();
    tokio::spawn(async move { process_order(&worker, &account_id, &order_id).await });
    Ok(CreatePhoneNumberOrderResponse {
        phone_number_order: Some(order_shape(&order)),
    })
}

/// Provisions the `Processing` numbers of `account_id`'s order `order_id` through the
/// carrier and settles each (the order's status follows). A carrier failure leaves the
/// number `Processing` for [`PhoneNumberQueue`] to retry. Safe to run on several nodes at
/// once: each number settles once, and provisioning is idempotent.
pub async fn process_order(chime: &Chime, account_id: &str, order_id: &str) {
    let order = match chime.store.phone_number_order(account_id, order_id).await {
        Ok(Some(order)) => order,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, order_id, "reading a phone-number order failed");
            return;
        }
    };
    for (e164, number_status) in &order.numbers {
        if number_status != order_status::PROCESSING {
            continue;
        }
        let acquired = match chime.carrier.describe(e164).await {
            Ok(None) => Ok(false),
            Ok(Some(_)) => chime.carrier.provision(account_id, e164).await,
            Err(e) => Err(e),
        };
        let acquired = match acquired {
            Ok(acquired) => acquired,
            Err(e) => {
                tracing::warn!(error = %e, order_id, "provisioning a phone number failed; retrying later");
                continue;
            }
        };
        if let Err(e) = chime
            .store
            .settle_ordered_number(account_id, order_id, e164, acquired, now_millis())
            .await
        {
            tracing::error!(error = %e, order_id, "settling an ordered phone number failed");
        }
    }
}

/// `GetPhoneNumberOrder`: the caller's order with its numbers' statuses.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `PhoneNumberOrderId`.
pub(crate) async fn get_phone_number_order(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetPhoneNumberOrderRequest,
) -> Result<GetPhoneNumberOrderResponse> {
    if input.phone_number_order_id.trim().is_empty() {
        return Err(bad_request("PhoneNumberOrderId must not be empty"));
    }
    let order = chime
        .store
        .phone_number_order(&ctx.account_id, &input.phone_number_order_id)
        .await?
        .ok_or_else(|| {
            not_found(format!(
                "Phone number order {} was not found",
                input.phone_number_order_id
            ))
        })?;
    Ok(GetPhoneNumberOrderResponse {
        phone_number_order: Some(order_shape(&order)),
    })
}

/// `ListPhoneNumberOrders`: the caller's orders by ID, `MaxResults` 1–99 (default 99).
///
/// Errors: `BadRequestException` naming `MaxResults` or `NextToken`.
pub(crate) async fn list_phone_number_orders(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListPhoneNumberOrdersRequest,
) -> Result<ListPhoneNumberOrdersResponse> {
    let limit = page_size(input.max_results, 99, 99)?;
    let scope = format!("ListPhoneNumberOrders\0{}", ctx.account_id);
    let after = chime.resume_after(&scope, input.next_token.as_deref())?;
    let mut orders = chime
        .store
        .list_phone_number_orders(&ctx.account_id, after.as_deref(), limit + 1)
        .await?;
    let next_token = chime.next_page(&scope, &mut orders, limit, |o| &o.order_id);
    Ok(ListPhoneNumberOrdersResponse {
        next_token,
        phone_number_orders: Some(orders.iter().map(order_shape).collect()),
    })
}

/// `ListPhoneNumbers`: the caller's numbers (inventory, pending and deletion queue) by
/// number, filtered by `Status`, `ProductType` and `FilterName`/`FilterValue` (together):
/// `AccountId` (numbers assigned to users of that Chime account, which must be the
/// caller's), `UserId`; `VoiceConnectorId`, `VoiceConnectorGroupId` and `SipRuleId` match
/// nothing (Carillon has no Voice Connectors). `MaxResults` 1–99 (default 99).
///
/// Errors: `BadRequestException` naming the member; `NotFoundException` for another
/// tenant's Chime account.
pub(crate) async fn list_phone_numbers(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListPhoneNumbersRequest,
) -> Result<ListPhoneNumbersResponse> {
    const STATUSES: [&str; 8] = [
        "AcquireInProgress",
        "AcquireFailed",
        "Unassigned",
        "Assigned",
        "ReleaseInProgress",
        "DeleteInProgress",
        "ReleaseFailed",
        "DeleteFailed",
    ];
    let limit = page_size(input.max_results, 99, 99)?;
    if let Some(s) = &input.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(bad_request(format!(
                "Status must be one of {}",
                STATUSES.join(", ")
            )));
        }
    }
    if let Some(p) = &input.product_type {
        check_product_type("ProductType", p)?;
    }
    let mut filter = PhoneNumberFilter {
        status: input.status.clone(),
        product_type: input.product_type.clone(),
        limit: limit + 1,
        ..PhoneNumberFilter::default()
    };
    let mut matches_nothing = false;
    match (input.filter_name.as_deref(), input.filter_value.as_deref()) {
        (None, None) => {}
        (Some(_), None) | (Some(_), Some("")) => {
            return Err(bad_request("FilterValue is required with FilterName"))
        }
        (None, Some(_)) => return Err(bad_request("FilterName is required with FilterValue")),
        (Some("AccountId"), Some(v)) => {
            chime.check_chime_account(ctx, v).await?;
            filter.chime_account_id = Some(v.to_string());
        }
        (Some("UserId"), Some(v)) => filter.user_id = Some(v.to_string()),
        (Some("VoiceConnectorId" | "VoiceConnectorGroupId" | "SipRuleId"), Some(_)) => {
            matches_nothing = true
        }
        (Some(_), Some(_)) => {
            return Err(bad_request(
                "FilterName must be one of AccountId, UserId, VoiceConnectorId, VoiceConnectorGroupId, SipRuleId",
            ))
        }
    }
    let scope = format!(
        "ListPhoneNumbers\0{}\0{}\0{}\0{}\0{}",
        ctx.account_id,
        input.status.as_deref().unwrap_or_default(),
        input.product_type.as_deref().unwrap_or_default(),
        input.filter_name.as_deref().unwrap_or_default(),
        input.filter_value.as_deref().unwrap_or_default()
    );
    filter.after = chime.resume_after(&scope, input.next_token.as_deref())?;
    chime.release_stale_assignments(ctx).await?;
    let mut numbers = if matches_nothing {
        Vec::new()
    } else {
        chime
            .store
            .list_phone_numbers(&ctx.account_id, &filter)
            .await?
    };
    let next_token = chime.next_page(&scope, &mut numbers, limit, |n| &n.e164);
    let now = now_millis();
    Ok(ListPhoneNumbersResponse {
        next_token,
        phone_numbers: Some(numbers.iter().map(|n| number_shape(n, now)).collect()),
    })
}

/// `GetPhoneNumber`: one of the caller's numbers (its ID is the E.164 number).
///
/// Errors: `NotFoundException`; `BadRequestException` naming `PhoneNumberId`.
pub(crate) async fn get_phone_number(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetPhoneNumberRequest,
) -> Result<GetPhoneNumberResponse> {
    let number = chime
        .tenant_number(ctx, "PhoneNumberId", &input.phone_number_id)
        .await?;
    Ok(GetPhoneNumberResponse {
        phone_number: Some(number_shape(&number, now_millis())),
    })
}

/// Applies one update (product type or calling name, one at a time) to the caller's
/// number `id`; returns the number as updated.
async fn update_one(
    chime: &Chime,
    ctx: &RequestContext,
    id: &str,
    product_type: Option<&str>,
    calling_name: Option<&str>,
) -> Result<PhoneNumberRecord> {
    let mut number = chime.tenant_number(ctx, "PhoneNumberId", id).await?;
    let now = now_millis();
    match (product_type, calling_name) {
        (None, None) => return Err(bad_request("Give ProductType or CallingName")),
        (Some(_), Some(_)) => {
            return Err(bad_request(
                "Update ProductType or CallingName, one at a time",
            ))
        }
        _ => {}
    }
    if number.status != status::UNASSIGNED && number.status != status::ASSIGNED {
        return Err(bad_request(format!(
            "{} is not in the inventory (status {})",
            number.e164, number.status
        )));
    }
    let expected = number.status.clone();
    if let Some(product) = product_type {
        check_product_type("ProductType", product)?;
        if product == number.product_type {
            return Ok(number);
        }
        check_product_for(&number.e164, &number.country, &number.number_type, product)?;
        if number.user_id.is_some() {
            return Err(error(
                codes::CONFLICT,
                format!(
                    "{} is assigned to a user; disassociate it before changing its product type",
                    number.e164
                ),
            ));
        }
        number.product_type = product.to_string();
    }
    if let Some(name) = calling_name {
        check_calling_name("CallingName", name)?;
        check_calling_name_throttle(
            codes::CONFLICT,
            "The calling name of a phone number",
            number.calling_name_updated_at,
            now,
        )?;
        number.calling_name = Some(name.to_string()).filter(|n| !n.is_empty());
        number.calling_name_updated_at = Some(now);
    }
    number.updated_at = now;
    save_number(chime, &number, &expected).await?;
    Ok(number)
}

/// Writes `number` if it is still in status `expected`.
///
/// Errors: `BadRequestException` when it changed at the same time.
async fn save_number(chime: &Chime, number: &PhoneNumberRecord, expected: &str) -> Result<()> {
    let saved = chime.store.update_phone_number(number, expected).await?;
    if saved {
        Ok(())
    } else {
        Err(bad_request(format!(
            "{} changed at the same time (it is no longer {expected}); try again",
            number.e164
        )))
    }
}

/// Checks that the caller may hold `adding` more numbers.
///
/// Errors: `ResourceLimitExceededException` beyond [`PHONE_NUMBER_QUOTA`].
async fn check_quota(chime: &Chime, ctx: &RequestContext, adding: usize) -> Result<()> {
    let held = chime.store.count_phone_numbers(&ctx.account_id).await?;
    if held + adding as i64 > PHONE_NUMBER_QUOTA {
        return Err(error(
            codes::RESOURCE_LIMIT,
            format!(
                "An account can hold at most {PHONE_NUMBER_QUOTA} phone numbers; it holds {held}"
            ),
        ));
    }
    Ok(())
}

/// `UpdatePhoneNumber`: the product type (§4.1 constraints; not while assigned to a user)
/// or the calling name (≤ 15 characters, once every 7 days, 72 hours to apply) of an
/// inventory number — one of the two per call.
///
/// Errors: `NotFoundException`; `BadRequestException` naming the member;
/// `ConflictException` inside the 7-day throttle or for an assigned number's product type.
pub(crate) async fn update_phone_number(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdatePhoneNumberRequest,
) -> Result<UpdatePhoneNumberResponse> {
    let number = update_one(
        chime,
        ctx,
        &input.phone_number_id,
        input.product_type.as_deref(),
        input.calling_name.as_deref(),
    )
    .await?;
    Ok(UpdatePhoneNumberResponse {
        phone_number: Some(number_shape(&number, now_millis())),
    })
}

/// The model's batch `ErrorCode` for an error of a single-number operation.
fn batch_error(id: &str, e: ApiError) -> PhoneNumberError {
    let code = e.code.strip_suffix("Exception").unwrap_or(&e.code);
    let code = match code {
        "ResourceLimitExceeded"
        | "BadRequest"
        | "Conflict"
        | "NotFound"
        | "PhoneNumberAssociationsExist" => code.to_string(),
        _ => "ServiceFailure".to_string(),
    };
    PhoneNumberError {
        error_code: Some(code),
        error_message: Some(e.message),
        phone_number_id: Some(id.to_string()),
    }
}

/// `BatchUpdatePhoneNumber`: [`update_phone_number`] for each item; an item that fails
/// is reported in `PhoneNumberErrors` and the others still apply.
///
/// Errors: `BadRequestException` for an empty list.
pub(crate) async fn batch_update_phone_number(
    chime: &Chime,
    ctx: &RequestContext,
    input: BatchUpdatePhoneNumberRequest,
) -> Result<BatchUpdatePhoneNumberResponse> {
    if input.update_phone_number_request_items.is_empty() {
        return Err(bad_request(
            "UpdatePhoneNumberRequestItems must have at least one item",
        ));
    }
    let mut errors = Vec::new();
    for item in &input.update_phone_number_request_items {
        if let Err(e) = update_one(
            chime,
            ctx,
            &item.phone_number_id,
            item.product_type.as_deref(),
            item.calling_name.as_deref(),
        )
        .await
        {
            errors.push(batch_error(&item.phone_number_id, e.into()));
        }
    }
    Ok(BatchUpdatePhoneNumberResponse {
        phone_number_errors: Some(errors),
    })
}

/// Moves the caller's number `id` into the deletion queue (or drops an `AcquireFailed`
/// row, which holds nothing).
async fn delete_one(chime: &Chime, ctx: &RequestContext, id: &str) -> Result<()> {
    let mut number = chime.tenant_number(ctx, "PhoneNumberId", id).await?;
    let now = now_millis();
    match number.status.as_str() {
        status::UNASSIGNED => {}
        status::ASSIGNED => {
            return Err(error(
                "PhoneNumberAssociationsExist",
                format!(
                    "{} is assigned to a user; disassociate it before deleting it",
                    number.e164
                ),
            ))
        }
        status::ACQUIRE_FAILED => {
            chime
                .store
                .remove_failed_phone_number(&ctx.account_id, &number.e164)
                .await?;
            return Ok(());
        }
        other => {
            return Err(bad_request(format!(
                "{} cannot be deleted in status {other}",
                number.e164
            )))
        }
    }
    number.status = status::DELETE_IN_PROGRESS.to_string();
    number.deletion_at = Some(now);
    number.updated_at = now;
    save_number(chime, &number, status::UNASSIGNED).await
}

/// `DeletePhoneNumber`: an unassigned inventory number enters the deletion queue
/// (`DeleteInProgress`, `DeletionTimestamp`) for 7 days, then returns to the pool.
///
/// Errors: `NotFoundException`; `BadRequestException` for an assigned number (disassociate
/// it first) or one not in the inventory.
pub(crate) async fn delete_phone_number(
    chime: &Chime,
    ctx: &RequestContext,
    input: DeletePhoneNumberRequest,
) -> Result<Unit> {
    delete_one(chime, ctx, &input.phone_number_id)
        .await
        .map_err(|e| {
            if e.code == "PhoneNumberAssociationsExist" {
                bad_request(e.message.clone())
            } else {
                e
            }
        })?;
    Ok(Unit {})
}

/// `BatchDeletePhoneNumber`: [`delete_phone_number`] for each ID; failures are reported
/// per number in `PhoneNumberErrors` (`PhoneNumberAssociationsExist` for an assigned one).
///
/// Errors: `BadRequestException` for an empty list.
pub(crate) async fn batch_delete_phone_number(
    chime: &Chime,
    ctx: &RequestContext,
    input: BatchDeletePhoneNumberRequest,
) -> Result<BatchDeletePhoneNumberResponse> {
    if input.phone_number_ids.is_empty() {
        return Err(bad_request("PhoneNumberIds must name at least one number"));
    }
    let mut errors = Vec::new();
    for id in &input.phone_number_ids {
        if let Err(e) = delete_one(chime, ctx, id).await {
            errors.push(batch_error(id, e.into()));
        }
    }
    Ok(BatchDeletePhoneNumberResponse {
        phone_number_errors: Some(errors),
    })
}

/// `RestorePhoneNumber`: a number of the deletion queue goes back to the inventory
/// (`Unassigned`) within 7 days of its deletion.
///
/// Errors: `NotFoundException` (also once the 7 days have passed); `BadRequestException`
/// for a number not in the deletion queue; `ResourceLimitExceededException` when the
/// inventory is full.
pub(crate) async fn restore_phone_number(
    chime: &Chime,
    ctx: &RequestContext,
    input: RestorePhoneNumberRequest,
) -> Result<RestorePhoneNumberResponse> {
    let mut number = chime
        .tenant_number(ctx, "PhoneNumberId", &input.phone_number_id)
        .await?;
    let now = now_millis();
    if number.status != status::DELETE_IN_PROGRESS {
        return Err(bad_request(format!(
            "{} is not in the deletion queue (status {})",
            number.e164, number.status
        )));
    }
    if number
        .deletion_at
        .is_some_and(|at| now - at >= DELETION_QUEUE_MS)
    {
        return Err(not_found(format!(
            "{} left the deletion queue after 7 days",
            number.e164
        )));
    }
    check_quota(chime, ctx, 1).await?;
    number.status = status::UNASSIGNED.to_string();
    number.deletion_at = None;
    number.updated_at = now;
    save_number(chime, &number, status::DELETE_IN_PROGRESS).await?;
    Ok(RestorePhoneNumberResponse {
        phone_number: Some(number_shape(&number, now)),
    })
}

/// `AssociatePhoneNumberWithUser`: assigns an unassigned Business Calling number of the
/// inventory to a user of the caller's Chime account `AccountId` (one number per user) and
/// sets the user's `PrimaryProvisionedNumber`. Assigning a user their own number again is a
/// no-op.
///
/// Errors: `NotFoundException` (account, user or number); `BadRequestException` naming the
/// member (not a Business Calling number, assigned to someone else, the user already has a
/// number).
pub(crate) async fn associate_phone_number_with_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: AssociatePhoneNumberWithUserRequest,
) -> Result<AssociatePhoneNumberWithUserResponse> {
    chime.check_chime_account(ctx, &input.account_id).await?;
    let number = chime
        .tenant_number(ctx, "E164PhoneNumber", &input.e164_phone_number)
        .await?;
    let exists = chime
        .store
        .chime_user_exists(&ctx.account_id, &input.account_id, &input.user_id)
        .await?;
    if !exists {
        return Err(not_found(format!("User {} was not found", input.user_id)));
    }
    if number.user_id.as_deref() == Some(input.user_id.as_str()) {
        return Ok(AssociatePhoneNumberWithUserResponse {});
    }
    if number.product_type != BUSINESS_CALLING {
        return Err(bad_request(format!(
            "{} is a {} number; only BusinessCalling numbers are assigned to users",
            number.e164, number.product_type
        )));
    }
    let outcome = chime
        .store
        .associate_phone_number(
            &ctx.account_id,
            &input.account_id,
            &input.user_id,
            &number.e164,
            now_millis(),
        )
        .await?;
    match outcome {
        AssociateOutcome::Associated => Ok(AssociatePhoneNumberWithUserResponse {}),
        AssociateOutcome::NoUser => Err(not_found(format!("User {} was not found", input.user_id))),
        AssociateOutcome::UserHasNumber => Err(bad_request(format!(
            "User {} already has a phone number; disassociate it first",
            input.user_id
        ))),
        AssociateOutcome::NumberUnavailable => Err(bad_request(format!(
            "E164PhoneNumber {} is not an unassigned number of the inventory (status {})",
            number.e164, number.status
        ))),
    }
}

/// `DisassociatePhoneNumberFromUser`: takes the user's number back to the inventory
/// (`Unassigned`) and clears their `PrimaryProvisionedNumber`; a user without a number is
/// left as is.
///
/// Errors: `NotFoundException` (account or user).
pub(crate) async fn disassociate_phone_number_from_user(
    chime: &Chime,
    ctx: &RequestContext,
    input: DisassociatePhoneNumberFromUserRequest,
) -> Result<DisassociatePhoneNumberFromUserResponse> {
    chime.check_chime_account(ctx, &input.account_id).await?;
    let exists = chime
        .store
        .chime_user_exists(&ctx.account_id, &input.account_id, &input.user_id)
        .await?;
    if !exists {
        return Err(not_found(format!("User {} was not found", input.user_id)));
    }
    chime
        .store
        .disassociate_phone_number(&ctx.account_id, &input.user_id, now_millis())
        .await?;
    Ok(DisassociatePhoneNumberFromUserResponse {})
}

/// `GetPhoneNumberSettings`: the caller's default outbound calling name and when it was
/// last set.
///
/// Errors: none beyond the store's.
pub(crate) async fn get_phone_number_settings(
    chime: &Chime,
    ctx: &RequestContext,
    _input: Unit,
) -> Result<GetPhoneNumberSettingsResponse> {
    let settings = chime.store.phone_settings(&ctx.account_id).await?;
    Ok(GetPhoneNumberSettingsResponse {
        calling_name: settings.calling_name,
        calling_name_updated_timestamp: settings.calling_name_updated_at.map(timestamp),
    })
}

/// `UpdatePhoneNumberSettings`: the default outbound calling name (≤ 15 characters; applies
/// to every product type; once every 7 days; 72 hours to apply).
///
/// Errors: `BadRequestException` naming `CallingName`, or inside the 7 days (not
/// `ThrottledClientException`, which clients retry at once).
pub(crate) async fn update_phone_number_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdatePhoneNumberSettingsRequest,
) -> Result<Unit> {
    check_calling_name("CallingName", &input.calling_name)?;
    let now = now_millis();
    let mut settings = chime.store.phone_settings(&ctx.account_id).await?;
    check_calling_name_throttle(
        codes::BAD_REQUEST,
        "The default calling name",
        settings.calling_name_updated_at,
        now,
    )?;
    settings.calling_name = Some(input.calling_name).filter(|n| !n.is_empty());
    settings.calling_name_updated_at = Some(now);
    chime
        .store
        .put_phone_settings(&ctx.account_id, &settings, now)
        .await?;
    Ok(Unit {})
}

/// `ListSupportedPhoneNumberCountries`: the countries of the §4 table offering
/// `ProductType`, with their number types.
///
/// Errors: `BadRequestException` naming `ProductType`.
pub(crate) async fn list_supported_phone_number_countries(
    _chime: &Chime,
    _ctx: &RequestContext,
    input: ListSupportedPhoneNumberCountriesRequest,
) -> Result<ListSupportedPhoneNumberCountriesResponse> {
    check_product_type("ProductType", &input.product_type)?;
    let countries = countries::COUNTRIES
        .iter()
        .filter(|c| c.products.contains(&input.product_type.as_str()))
        .map(|c| PhoneNumberCountry {
            country_code: Some(c.code.to_string()),
            supported_phone_number_types: Some(
                c.number_types.iter().map(|t| t.to_string()).collect(),
            ),
        })
        .collect();
    Ok(ListSupportedPhoneNumberCountriesResponse {
        phone_number_countries: Some(countries),
    })
}

/// `GetGlobalSettings`: the caller's CDR buckets (Business Calling, Voice Connector).
///
/// Errors: none beyond the store's.
pub(crate) async fn get_global_settings(
    chime: &Chime,
    ctx: &RequestContext,
    _input: Unit,
) -> Result<GetGlobalSettingsResponse> {
    let s = chime.store.phone_settings(&ctx.account_id).await?;
    Ok(GetGlobalSettingsResponse {
        business_calling: Some(BusinessCallingSettings {
            cdr_bucket: s.business_calling_cdr_bucket,
        }),
        voice_connector: Some(VoiceConnectorSettings {
            cdr_bucket: s.voice_connector_cdr_bucket,
        }),
    })
}

/// Checks a CDR bucket name (S3 rules: 3–63 lower-case letters, digits, `.` and `-`,
/// starting and ending with a letter or digit) and claims it for the caller on Carillon's
/// S3 endpoint (Chime gets read and write access to it, §2.14).
///
/// Errors: `BadRequestException` naming `member` (bad name, another account's bucket).
async fn claim_cdr_bucket(
    chime: &Chime,
    ctx: &RequestContext,
    member: &str,
    bucket: &str,
) -> Result<()> {
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && bucket
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if !valid {
        return Err(bad_request(format!(
            "{member} must be an S3 bucket name (3 to 63 lower-case letters, digits, '.' and '-')"
        )));
    }
    let owner = chime
        .store
        .claim_s3_bucket(bucket, &ctx.account_id, now_millis())
        .await?;
    if owner != ctx.account_id {
        return Err(bad_request(format!(
            "{member} {bucket} belongs to another account"
        )));
    }
    Ok(())
}

/// `UpdateGlobalSettings`: sets (a bucket name) or turns off (no `CdrBucket`, or empty)
/// the Business Calling and Voice Connector CDR destinations; a member left out keeps its
/// setting.
///
/// Errors: `BadRequestException` naming `BusinessCalling.CdrBucket` or
/// `VoiceConnector.CdrBucket`.
pub(crate) async fn update_global_settings(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateGlobalSettingsRequest,
) -> Result<Unit> {
    let now = now_millis();
    let mut settings: PhoneSettingsRecord = chime.store.phone_settings(&ctx.account_id).await?;
    if let Some(bc) = input.business_calling {
        let bucket = bc.cdr_bucket.filter(|b| !b.is_empty());
        if let Some(b) = &bucket {
            claim_cdr_bucket(chime, ctx, "BusinessCalling.CdrBucket", b).await?;
        }
        settings.business_calling_cdr_bucket = bucket;
    }
    if let Some(vc) = input.voice_connector {
        let bucket = vc.cdr_bucket.filter(|b| !b.is_empty());
        if let Some(b) = &bucket {
            claim_cdr_bucket(chime, ctx, "VoiceConnector.CdrBucket", b).await?;
        }
        settings.voice_connector_cdr_bucket = bucket;
    }
    chime
        .store
        .put_phone_settings(&ctx.account_id, &settings, now)
        .await?;
    Ok(Unit {})
}

/// One pass of [`PhoneNumberQueue`]: numbers whose users no longer hold them become
/// `Unassigned`; numbers 7 days in the deletion queue go back to the carrier's pool and leave
/// the inventory; orders still `Processing` (a node stopped, the carrier failed) are
/// provisioned again. Returns how many numbers were released.
///
/// Errors: the store failed (what was done stays done).
pub async fn run_once(chime: &Chime) -> Result<usize, StoreError> {
    chime
        .store
        .release_stale_assignments("", now_millis())
        .await?;
    let cutoff = now_millis() - DELETION_QUEUE_MS;
    let mut released = 0;
    for (account_id, e164) in chime.store.due_phone_number_deletions(cutoff).await? {
        if let Err(e) = chime.carrier.release(&account_id, &e164).await {
            tracing::warn!(error = %e, "releasing a deleted phone number failed; retrying later");
            continue;
        }
        if chime
            .store
            .remove_deleted_phone_number(&account_id, &e164, cutoff)
            .await?
        {
            released += 1;
        }
    }
    for (account_id, order_id) in chime.store.processing_phone_number_orders().await? {
        process_order(chime, &account_id, &order_id).await;
    }
    Ok(released)
}

/// The phone-number job: [`run_once`] every 30 seconds. Every step is idempotent and
/// guarded by the rows' status, so every node runs it without a lease; at shutdown a pass
/// finishes (a release at the carrier is recorded before the job ends).
#[derive(Clone)]
pub struct PhoneNumberQueue(pub Chime);

#[async_trait::async_trait]
impl Job for PhoneNumberQueue {
    fn name(&self) -> &'static str {
        "chime-phone-numbers"
    }

    fn trigger(&self) -> Trigger {
        Trigger::Every(JOB_INTERVAL)
    }

    async fn pass(&self, _shutdown: &CancellationToken) -> Pass {
        if let Err(e) = run_once(&self.0).await {
            tracing::error!(error = %e, "phone-number job pass failed");
        }
        Pass::Idle
    }
}
