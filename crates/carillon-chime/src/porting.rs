//! Porting orders (what Chime handled through support cases) as operations of Carillon's
//! admin API under `/carillon/v1/chime/porting-orders`: CreatePortingOrder, GetPortingOrder,
//! ListPortingOrders, UpdatePortingOrderStatus, UploadPortingDocument, GetPortingDocument,
//! CancelPortingOrder.
//! IAM actions `chime:<Operation>`, resource `*` (Chime policies name no resources).
//! Spec: chime-zh.md §4.4 (workflow, statuses), §4.3 (porting documents per country);
//! chime-ja.md §1.8, §4.2–§4.4; chime-ko.md §1.8 (port-out PIN), §2.0.2, §4.2–§4.4.
//!
//! Statuses (§4.4) and their transitions:
//! - `SUBMITTED` → `PENDING_DOCUMENTS` | `EXCEPTION` | `CHANGE_REQUESTED` | `FOC`;
//!   those three → each other, `SUBMITTED` or `FOC`; `FOC` (needs `FocDate`) →
//!   `COMPLETED` | `CHANGE_REQUESTED` | `EXCEPTION`.
//! - Every status but `COMPLETED` and `CANCELLED` → `CANCEL_REQUESTED` (CancelPortingOrder,
//!   or the carrier) → `CANCELLED`.
//!
//! UpdatePortingOrderStatus is the support/carrier side (grant it to operators only).
//! Entering `PENDING_DOCUMENTS` issues a document-upload link valid 10 days, through which
//! an authorized user of the account uploads documents (UploadPortingDocument, sealed at
//! rest). A completed port-in puts the numbers in the account's inventory (`Unassigned`,
//! the order's product type) through the carrier adapter. A port-out carries a PIN of 4–10
//! letters and digits (given or generated, shown once, stored as an Argon2id hash): the
//! winning carrier must present the account ID and the PIN to complete it; then the numbers
//! leave the inventory and the pool.

use std::collections::BTreeMap;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use carillon_adminapi::{CarillonOperation, ErrorSpec, OperationSpec, Registry};
use carillon_core::time::{millis_to_datetime, now_millis};
use carillon_core::{ApiError, ApiResult, RequestContext};
use carillon_store::chime::phone_numbers::{status as number_status, PhoneNumberRecord};
use carillon_store::chime::porting::{PortingDocumentRecord, PortingOrderRecord};
use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::carrier::{Capabilities, NumberInfo};
use crate::countries::{self, check_number, LOCAL};
use crate::errors::{answer, bad_request, codes, conflict, error, not_found, Error, Result};
use crate::phone_numbers::{carrier_failure, check_product_type, e164};
use crate::Chime;

const ORDERS: &str = "/carillon/v1/chime/porting-orders";
const ORDER: &str = "/carillon/v1/chime/porting-orders/{PortingOrderId}";
const STATUS: &str = "/carillon/v1/chime/porting-orders/{PortingOrderId}/status";
const CANCEL: &str = "/carillon/v1/chime/porting-orders/{PortingOrderId}/cancel";
const DOCUMENT: &str = "/carillon/v1/chime/porting-orders/{PortingOrderId}/documents/{Name}";

/// How long a document-upload link stays valid: 10 days.
pub const UPLOAD_LINK_MS: i64 = 10 * 24 * 60 * 60 * 1000;
/// Largest document: 10 MiB.
const MAX_DOCUMENT: usize = 10 * 1024 * 1024;

/// The eight statuses of §4.4.
pub mod status {
    /// Order submitted; carrier response pending.
    pub const SUBMITTED: &str = "SUBMITTED";
    /// More documents needed (an upload link is issued).
    pub const PENDING_DOCUMENTS: &str = "PENDING_DOCUMENTS";
    /// More details needed.
    pub const EXCEPTION: &str = "EXCEPTION";
    /// A change request is being processed.
    pub const CHANGE_REQUESTED: &str = "CHANGE_REQUESTED";
    /// The Firm Order Commitment date is confirmed.
    pub const FOC: &str = "FOC";
    /// Port complete.
    pub const COMPLETED: &str = "COMPLETED";
    /// Cancellation in progress.
    pub const CANCEL_REQUESTED: &str = "CANCEL_REQUESTED";
    /// Order cancelled.
    pub const CANCELLED: &str = "CANCELLED";
    /// Every status.
    pub const ALL: [&str; 8] = [
        SUBMITTED,
        PENDING_DOCUMENTS,
        EXCEPTION,
        CHANGE_REQUESTED,
        FOC,
        COMPLETED,
        CANCEL_REQUESTED,
        CANCELLED,
    ];
}

/// Whether a porting order may move from `from` to `to` (the state machine above).
pub fn may_move(from: &str, to: &str) -> bool {
    use status::*;
    let side = [PENDING_DOCUMENTS, EXCEPTION, CHANGE_REQUESTED];
    match from {
        COMPLETED | CANCELLED => false,
        _ if to == CANCEL_REQUESTED => from != CANCEL_REQUESTED,
        CANCEL_REQUESTED => to == CANCELLED,
        SUBMITTED => side.contains(&to) || to == FOC,
        _ if side.contains(&from) => {
            (side.contains(&to) && to != from) || to == SUBMITTED || to == FOC
        }
        FOC => to == COMPLETED || to == CHANGE_REQUESTED || to == EXCEPTION,
        _ => false,
    }
}

const NOT_FOUND: ErrorSpec = ErrorSpec {
    code: codes::NOT_FOUND,
    status: 404,
    doc: "No such porting order (or number) in the caller's account.",
};
const BAD_REQUEST: ErrorSpec = ErrorSpec {
    code: codes::BAD_REQUEST,
    status: 400,
    doc: "A member is invalid; the message names it.",
};
const CONFLICT: ErrorSpec = ErrorSpec {
    code: codes::CONFLICT,
    status: 409,
    doc: "The order's status does not allow it, or it changed at the same time.",
};
const SERVICE_FAILURE: ErrorSpec = ErrorSpec {
    code: codes::SERVICE_FAILURE,
    status: 500,
    doc: "The store or the carrier failed; the detail is in the server log.",
};
const FORBIDDEN: ErrorSpec = ErrorSpec {
    code: "ForbiddenException",
    status: 403,
    doc: "No document-upload link is open for the order (never issued, or its 10 days passed).",
};

/// Input of CreatePortingOrder.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreatePortingOrderInput {
    /// `PortIn` (numbers come to this server) or `PortOut` (numbers leave for another
    /// carrier).
    #[schemars(pattern(r"^(PortIn|PortOut)$"))]
    pub direction: String,
    /// The numbers (E.164), at least one.
    #[schemars(length(min = 1, max = 500))]
    pub e164_phone_numbers: Vec<String>,
    /// Port-in: `BusinessCalling`, `VoiceConnector` or `SipMediaApplicationDialIn`
    /// (international numbers: `SipMediaApplicationDialIn` only).
    pub product_type: Option<String>,
    /// Port-in: ISO 3166 alpha-2 country of the numbers (default `US`).
    pub country: Option<String>,
    /// Port-in: `Local` (default) or `TollFree`.
    pub phone_number_type: Option<String>,
    /// Port-in: requested port date, `YYYY-MM-DD`.
    pub requested_port_date: Option<String>,
    /// Port-in: requested port time, `HH:MM` (UTC).
    pub requested_port_time: Option<String>,
    /// US port-in: the billing telephone number (BTN).
    pub billing_telephone_number: Option<String>,
    /// US port-in: the person responsible for billing at the current carrier.
    pub authorized_name: Option<String>,
    /// US port-in: the current carrier, if known.
    pub current_carrier: Option<String>,
    /// US port-in: the service account number, if the carrier has one.
    pub service_account_number: Option<String>,
    /// US port-in: the service PIN, if available (never returned).
    pub service_pin: Option<String>,
    /// US port-in: the service address exactly as on the carrier contract.
    pub service_address: Option<String>,
    /// US port-in: the customer name exactly as on the carrier contract.
    pub customer_name: Option<String>,
    /// US port-in, when the BTN is ported: `ReplaceBtn` (with `NewBillingTelephoneNumber`),
    /// `CloseAccount` or `EachNumberOwnBtn`.
    #[schemars(pattern(r"^(ReplaceBtn|CloseAccount|EachNumberOwnBtn)$"))]
    pub btn_option: Option<String>,
    /// US port-in with `BtnOption` `ReplaceBtn`: the new BTN at the old carrier.
    pub new_billing_telephone_number: Option<String>,
    /// International port-in: the estimated usage.
    pub estimated_usage: Option<String>,
    /// Port-out: the PIN the winning carrier must present, 4–10 letters and digits
    /// (generated when absent).
    #[schemars(pattern(r"^[A-Za-z0-9]{4,10}$"))]
    pub pin: Option<String>,
}

/// Input of the operations on one porting order.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PortingOrderInput {
    /// The porting order ID.
    #[schemars(length(min = 1, max = 64))]
    pub porting_order_id: String,
}

/// Input of ListPortingOrders.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListPortingOrdersInput {
    /// Page size, 1–99 (default 99).
    #[schemars(range(min = 1, max = 99))]
    pub max_results: Option<i32>,
    /// The previous page's token.
    pub next_token: Option<String>,
}

/// Input of UpdatePortingOrderStatus.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdatePortingOrderStatusInput {
    /// The porting order ID.
    #[schemars(length(min = 1, max = 64))]
    pub porting_order_id: String,
    /// The new status (one of the eight of §4.4).
    pub status: String,
    /// What support tells the customer (why documents or details are needed, …).
    #[schemars(length(max = 1000))]
    pub message: Option<String>,
    /// With `FOC`: the Firm Order Commitment date and time (RFC 3339).
    pub foc_date: Option<String>,
    /// Port-out `COMPLETED`: the account ID the winning carrier presented.
    pub carrier_account_id: Option<String>,
    /// Port-out `COMPLETED`: the PIN the winning carrier presented.
    pub carrier_pin: Option<String>,
}

/// Input of UploadPortingDocument.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UploadPortingDocumentInput {
    /// The porting order ID.
    #[schemars(length(min = 1, max = 64))]
    pub porting_order_id: String,
    /// The file name (letters, digits, `.`, `_`, `-`; a second upload of a name replaces it).
    #[schemars(pattern(r"^[A-Za-z0-9._-]{1,128}$"))]
    pub name: String,
    /// MIME type, e.g. `application/pdf`.
    #[schemars(length(min = 1, max = 255))]
    pub content_type: String,
    /// The content, base64 (at most 10 MiB decoded).
    pub content: String,
}

/// Input of GetPortingDocument.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PortingDocumentInput {
    /// The porting order ID.
    #[schemars(length(min = 1, max = 64))]
    pub porting_order_id: String,
    /// The document's file name.
    #[schemars(pattern(r"^[A-Za-z0-9._-]{1,128}$"))]
    pub name: String,
}

/// Output of GetPortingDocument.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PortingDocumentOutput {
    /// What is known of the document.
    pub document: PortingDocument,
    /// The content, base64.
    pub content: String,
}

/// A document of a porting order.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PortingDocument {
    /// File name.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// Upload time (RFC 3339).
    pub uploaded_at: String,
}

/// The open document-upload link of an order.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DocumentUploadLink {
    /// `PUT` documents here (append `/{Name}`), signed by a user of the account.
    pub url: String,
    /// When the link stops working (RFC 3339; 10 days after it was issued).
    pub expires_at: String,
}

/// A porting order.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PortingOrder {
    /// Its ID.
    pub porting_order_id: String,
    /// The account (tenant) it belongs to.
    pub account_id: String,
    /// `PortIn` or `PortOut`.
    pub direction: String,
    /// The numbers.
    pub e164_phone_numbers: Vec<String>,
    /// The product type the numbers have (port-in) or had (port-out).
    pub product_type: String,
    /// ISO 3166 alpha-2.
    pub country: String,
    /// `Local` or `TollFree`.
    pub phone_number_type: String,
    /// One of the eight statuses of §4.4.
    pub status: String,
    /// What support last said.
    pub status_message: Option<String>,
    /// The request's description fields (the service PIN is never shown).
    pub details: BTreeMap<String, String>,
    /// The documents a port-in of these numbers needs (§4.3).
    pub required_documents: Vec<String>,
    /// The documents uploaded so far.
    pub documents: Vec<PortingDocument>,
    /// The open upload link, if any.
    pub document_upload_link: Option<DocumentUploadLink>,
    /// The Firm Order Commitment date and time (RFC 3339).
    pub foc_date: Option<String>,
    /// Creation (RFC 3339).
    pub created_timestamp: String,
    /// Last change (RFC 3339).
    pub updated_timestamp: String,
}

/// Output of CreatePortingOrder.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CreatePortingOrderOutput {
    /// The order.
    pub porting_order: PortingOrder,
    /// Port-out: the PIN to give the winning carrier with `PortingOrder.AccountId` (shown
    /// only here).
    pub pin: Option<String>,
}

/// Output of the operations returning one order.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PortingOrderOutput {
    /// The order.
    pub porting_order: PortingOrder,
}

/// Output of ListPortingOrders.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ListPortingOrdersOutput {
    /// The orders, by ID.
    pub porting_orders: Vec<PortingOrder>,
    /// Token of the next page.
    pub next_token: Option<String>,
}

/// Adds the porting operations of `chime` to `registry`.
pub fn register(registry: &mut Registry, chime: &Chime) {
    registry
        .register(CreatePortingOrder(chime.clone()))
        .register(GetPortingOrder(chime.clone()))
        .register(ListPortingOrders(chime.clone()))
        .register(UpdatePortingOrderStatus(chime.clone()))
        .register(UploadPortingDocument(chime.clone()))
        .register(GetPortingDocument(chime.clone()))
        .register(CancelPortingOrder(chime.clone()));
}

fn rfc3339(ms: i64) -> String {
    millis_to_datetime(ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn document_shape(d: PortingDocumentRecord) -> PortingDocument {
    PortingDocument {
        name: d.name,
        content_type: d.content_type,
        size: d.size,
        sha256: d.sha256,
        uploaded_at: rfc3339(d.uploaded_at),
    }
}

impl Chime {
    async fn porting_order(&self, ctx: &RequestContext, id: &str) -> Result<PortingOrderRecord> {
        self.store
            .porting_order(&ctx.account_id, id)
            .await?
            .ok_or_else(|| not_found(format!("Porting order {id} was not found")))
    }

    async fn porting_shape(&self, order: &PortingOrderRecord) -> Result<PortingOrder> {
        let documents = self
            .store
            .porting_documents(&order.porting_order_id)
            .await?
            .into_iter()
            .map(document_shape)
            .collect();
        let details: BTreeMap<String, String> =
            serde_json::from_str(&order.details).unwrap_or_default();
        let required_documents = if order.direction == "PortIn" {
            countries::country(&order.country)
                .and_then(|c| c.porting_documents(&order.number_type))
                .unwrap_or_default()
                .iter()
                .map(|d| d.to_string())
                .collect()
        } else {
            Vec::new()
        };
        let now = now_millis();
        let document_upload_link =
            order
                .upload_expires_at
                .filter(|at| *at > now)
                .map(|at| DocumentUploadLink {
                    url: format!(
                        "{}/carillon/v1/chime/porting-orders/{}/documents",
                        self.config.public_url, order.porting_order_id
                    ),
                    expires_at: rfc3339(at),
                });
        Ok(PortingOrder {
            porting_order_id: order.porting_order_id.clone(),
            account_id: order.account_id.clone(),
            direction: order.direction.clone(),
            e164_phone_numbers: order.numbers.clone(),
            product_type: order.product_type.clone(),
            country: order.country.clone(),
            phone_number_type: order.number_type.clone(),
            status: order.status.clone(),
            status_message: order.status_message.clone(),
            details: details
                .into_iter()
                .filter(|(k, _)| k != "ServicePin")
                .collect(),
            required_documents,
            documents,
            document_upload_link,
            foc_date: order.foc_at.map(rfc3339),
            created_timestamp: rfc3339(order.created_at),
            updated_timestamp: rfc3339(order.updated_at),
        })
    }
}

/// A new random port-out PIN: 8 upper-case letters and digits (no look-alikes).
fn new_pin() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..8)
        .map(|_| ALPHABET[rand::Rng::gen_range(&mut rng, 0..ALPHABET.len())] as char)
        .collect()
}

fn hash_pin(pin: &str) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| ApiError::internal("The PIN could not be hashed").into())
}

fn pin_matches(hash: &str, pin: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok()
    })
}

fn required<'a>(member: &str, value: &'a Option<String>) -> Result<&'a str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad_request(format!("{member} is required")))
}

/// The checked description fields of a port-in and its (country, type, product).
fn port_in_details(
    input: &CreatePortingOrderInput,
    numbers: &[String],
) -> Result<(
    BTreeMap<String, String>,
    &'static countries::Country,
    String,
    String,
)> {
    let product = required("ProductType", &input.product_type)?.to_string();
    check_product_type("ProductType", &product)?;
    let code = input.country.as_deref().unwrap_or("US");
    let country = countries::country(code)
        .ok_or_else(|| bad_request(format!("Country {code} is not a supported country")))?;
    let number_type = input
        .phone_number_type
        .clone()
        .unwrap_or_else(|| LOCAL.to_string());
    if !countries::NUMBER_TYPES.contains(&number_type.as_str()) {
        return Err(bad_request("PhoneNumberType must be Local or TollFree"));
    }
    if !country.supports(&product, &number_type) {
        return Err(bad_request(format!(
            "ProductType {product} is not available for {} {number_type} numbers; international numbers port as SipMediaApplicationDialIn",
            country.code
        )));
    }
    if country.porting_documents(&number_type).is_none() {
        return Err(bad_request(format!(
            "Porting {} {number_type} numbers in is not supported",
            country.name
        )));
    }
    for n in numbers {
        check_number(n, country, &number_type)
            .map_err(|reason| bad_request(format!("E164PhoneNumbers: {reason}")))?;
    }
    let date = required("RequestedPortDate", &input.requested_port_date)?;
    let time = required("RequestedPortTime", &input.requested_port_time)?;
    let valid_date = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !valid_date {
        return Err(bad_request("RequestedPortDate must be YYYY-MM-DD"));
    }
    let valid_time = time.len() == 5
        && time.bytes().enumerate().all(|(i, b)| {
            if i == 2 {
                b == b':'
            } else {
                b.is_ascii_digit()
            }
        });
    if !valid_time {
        return Err(bad_request("RequestedPortTime must be HH:MM"));
    }
    let mut details = BTreeMap::new();
    details.insert("RequestedPortDate".to_string(), date.to_string());
    details.insert("RequestedPortTime".to_string(), time.to_string());
    let mut put = |member: &str, value: &Option<String>| {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            details.insert(member.to_string(), v.to_string());
        }
    };
    if country.code == "US" {
        let btn = required("BillingTelephoneNumber", &input.billing_telephone_number)?;
        e164("BillingTelephoneNumber", btn)?;
        for (member, value) in [
            ("AuthorizedName", &input.authorized_name),
            ("ServiceAddress", &input.service_address),
            ("CustomerName", &input.customer_name),
        ] {
            required(member, value)?;
        }
        if input.btn_option.as_deref() == Some("ReplaceBtn") {
            let new_btn = required(
                "NewBillingTelephoneNumber",
                &input.new_billing_telephone_number,
            )?;
            e164("NewBillingTelephoneNumber", new_btn)?;
        }
        put("BillingTelephoneNumber", &input.billing_telephone_number);
        put("AuthorizedName", &input.authorized_name);
        put("CurrentCarrier", &input.current_carrier);
        put("ServiceAccountNumber", &input.service_account_number);
        put("ServicePin", &input.service_pin);
        put("ServiceAddress", &input.service_address);
        put("CustomerName", &input.customer_name);
        put("BtnOption", &input.btn_option);
        put(
            "NewBillingTelephoneNumber",
            &input.new_billing_telephone_number,
        );
    } else {
        required("EstimatedUsage", &input.estimated_usage)?;
        put("EstimatedUsage", &input.estimated_usage);
    }
    Ok((details, country, number_type, product))
}

/// CreatePortingOrder: a port-in or port-out request (the support case of §4.4).
pub struct CreatePortingOrder(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for CreatePortingOrder {
    type Input = CreatePortingOrderInput;
    type Output = CreatePortingOrderOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 4] = [BAD_REQUEST, NOT_FOUND, CONFLICT, SERVICE_FAILURE];
        OperationSpec {
            name: "CreatePortingOrder",
            method: Method::POST,
            path: ORDERS,
            action: "chime:CreatePortingOrder",
            resource: "*",
            summary: "Requests a port-in or port-out of phone numbers.",
            docs: "PortIn: ProductType, Country (default US), PhoneNumberType, RequestedPortDate and RequestedPortTime; US numbers also BillingTelephoneNumber, AuthorizedName, ServiceAddress and CustomerName (CurrentCarrier, ServiceAccountNumber, ServicePin, BtnOption optional); international numbers SipMediaApplicationDialIn and EstimatedUsage. The numbers must not be served by this server already. PortOut: numbers of the caller's inventory; the answer carries the PIN (4-10 letters and digits, given or generated) the winning carrier presents with the account ID. The order starts SUBMITTED. Spec: chime-zh.md §4.4, chime-ko.md §4.3.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: CreatePortingOrderInput,
    ) -> ApiResult<CreatePortingOrderOutput> {
        answer(async move {
        let chime = &self.0;
        let mut numbers = Vec::new();
        for raw in &input.e164_phone_numbers {
            let n = e164("E164PhoneNumbers", raw)?;
            if numbers.contains(&n) {
                return Err(bad_request(format!("E164PhoneNumbers names {n} twice")));
            }
            numbers.push(n);
        }
        numbers.sort();
        if numbers.is_empty() {
            return Err(bad_request(
                "E164PhoneNumbers must name at least one number",
            ));
        }
        let now = now_millis();
        let (details, country, number_type, product, pin) = match input.direction.as_str() {
            "PortIn" => {
                if input.pin.is_some() {
                    return Err(bad_request("Pin is for PortOut orders"));
                }
                let (details, country, number_type, product) = port_in_details(&input, &numbers)?;
                for n in &numbers {
                    let served = chime.carrier.describe(n).await.map_err(carrier_failure)?;
                    if served.is_some() {
                        return Err(bad_request(format!(
                            "E164PhoneNumbers: {n} is already served by this server; order it instead"
                        )));
                    }
                }
                (
                    details,
                    country.code.to_string(),
                    number_type,
                    product,
                    None,
                )
            }
            "PortOut" => {
                let mut first: Option<PhoneNumberRecord> = None;
                for n in &numbers {
                    let record = chime
                        .store
                        .phone_number(&ctx.account_id, n)
                        .await?
                        .filter(|r| {
                            r.status == number_status::UNASSIGNED
                                || r.status == number_status::ASSIGNED
                        })
                        .ok_or_else(|| not_found(format!("{n} is not in your inventory")))?;
                    first.get_or_insert(record);
                }
                let first = first.expect("at least one number");
                let pin = match &input.pin {
                    Some(p)
                        if (4..=10).contains(&p.len())
                            && p.bytes().all(|b| b.is_ascii_alphanumeric()) =>
                    {
                        p.clone()
                    }
                    Some(_) => return Err(bad_request("Pin must be 4 to 10 letters and digits")),
                    None => new_pin(),
                };
                (
                    BTreeMap::new(),
                    first.country,
                    first.number_type,
                    first.product_type,
                    Some(pin),
                )
            }
            _ => return Err(bad_request("Direction must be PortIn or PortOut")),
        };
        let active = chime
            .store
            .list_porting_orders(&ctx.account_id, None, i64::MAX)
            .await?;
        for order in active
            .iter()
            .filter(|o| o.status != status::COMPLETED && o.status != status::CANCELLED)
        {
            if let Some(n) = numbers.iter().find(|n| order.numbers.contains(n)) {
                return Err(conflict(format!(
                    "{n} is in porting order {} already",
                    order.porting_order_id
                )));
            }
        }
        let record = PortingOrderRecord {
            porting_order_id: carillon_core::ids::new_uuid(),
            account_id: ctx.account_id.clone(),
            direction: input.direction.clone(),
            product_type: product,
            country,
            number_type,
            status: status::SUBMITTED.to_string(),
            details: serde_json::to_string(&details).expect("strings serialize"),
            pin_hash: pin.as_deref().map(hash_pin).transpose()?,
            status_message: None,
            foc_at: None,
            upload_expires_at: None,
            numbers,
            created_at: now,
            updated_at: now,
        };
        chime
            .store
            .create_porting_order(&record)
            .await?;
        Ok(CreatePortingOrderOutput {
            porting_order: chime.porting_shape(&record).await?,
            pin,
        })
    }).await
    }
}

/// GetPortingOrder: one of the caller's porting orders.
pub struct GetPortingOrder(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for GetPortingOrder {
    type Input = PortingOrderInput;
    type Output = PortingOrderOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 2] = [NOT_FOUND, SERVICE_FAILURE];
        OperationSpec {
            name: "GetPortingOrder",
            method: Method::GET,
            path: ORDER,
            action: "chime:GetPortingOrder",
            resource: "*",
            summary: "Returns a porting order with its status, documents and upload link.",
            docs: "The status column of the console's Orders tab (chime-zh.md §4.4), the required and uploaded documents, the open document-upload link and the FOC date.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: PortingOrderInput,
    ) -> ApiResult<PortingOrderOutput> {
        answer(async move {
            let order = self.0.porting_order(ctx, &input.porting_order_id).await?;
            Ok(PortingOrderOutput {
                porting_order: self.0.porting_shape(&order).await?,
            })
        })
        .await
    }
}

/// ListPortingOrders: the caller's porting orders by ID.
pub struct ListPortingOrders(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for ListPortingOrders {
    type Input = ListPortingOrdersInput;
    type Output = ListPortingOrdersOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 2] = [BAD_REQUEST, SERVICE_FAILURE];
        OperationSpec {
            name: "ListPortingOrders",
            method: Method::GET,
            path: ORDERS,
            action: "chime:ListPortingOrders",
            resource: "*",
            summary: "Lists the caller's porting orders.",
            docs: "By ID, MaxResults 1-99 (default 99), NextToken from the previous page. Spec: chime-zh.md §4.4.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: ListPortingOrdersInput,
    ) -> ApiResult<ListPortingOrdersOutput> {
        answer(async move {
            let chime = &self.0;
            let limit = crate::paging::page_size(input.max_results, 99, 99)?;
            let scope = format!("ListPortingOrders\0{}", ctx.account_id);
            let after = chime.resume_after(&scope, input.next_token.as_deref())?;
            let mut orders = chime
                .store
                .list_porting_orders(&ctx.account_id, after.as_deref(), limit + 1)
                .await?;
            let next_token = chime.next_page(&scope, &mut orders, limit, |o| &o.porting_order_id);
            let mut porting_orders = Vec::with_capacity(orders.len());
            for order in &orders {
                porting_orders.push(chime.porting_shape(order).await?);
            }
            Ok(ListPortingOrdersOutput {
                porting_orders,
                next_token,
            })
        })
        .await
    }
}

/// UpdatePortingOrderStatus: the support/carrier side moves an order along §4.4.
pub struct UpdatePortingOrderStatus(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for UpdatePortingOrderStatus {
    type Input = UpdatePortingOrderStatusInput;
    type Output = PortingOrderOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 4] = [BAD_REQUEST, NOT_FOUND, CONFLICT, SERVICE_FAILURE];
        OperationSpec {
            name: "UpdatePortingOrderStatus",
            method: Method::PUT,
            path: STATUS,
            action: "chime:UpdatePortingOrderStatus",
            resource: "*",
            summary: "Moves a porting order to its next status (the support and carrier side).",
            docs: "SUBMITTED -> PENDING_DOCUMENTS | EXCEPTION | CHANGE_REQUESTED | FOC; those three -> each other, SUBMITTED or FOC; FOC (FocDate required) -> COMPLETED | CHANGE_REQUESTED | EXCEPTION; any open status -> CANCEL_REQUESTED -> CANCELLED. PENDING_DOCUMENTS opens a 10-day document-upload link. COMPLETED: a port-in puts the numbers in the account's inventory (Unassigned); a port-out needs CarrierAccountId and CarrierPin matching the account and its PIN, then removes the numbers. Grant it to operators only. Spec: chime-zh.md §4.4, chime-ko.md §4.3-§4.4.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: UpdatePortingOrderStatusInput,
    ) -> ApiResult<PortingOrderOutput> {
        answer(async move {
            let chime = &self.0;
            let to = input.status.trim().replace(' ', "_");
            if !status::ALL.contains(&to.as_str()) {
                return Err(bad_request(format!(
                    "Status must be one of {}",
                    status::ALL.join(", ")
                )));
            }
            let mut order = chime.porting_order(ctx, &input.porting_order_id).await?;
            let from = order.status.clone();
            if !may_move(&from, &to) {
                return Err(conflict(format!(
                    "A porting order cannot move from {from} to {to}"
                )));
            }
            let now = now_millis();
            order.status = to.clone();
            order.status_message = input.message.clone();
            order.updated_at = now;
            if to == status::FOC {
                let foc = required("FocDate", &input.foc_date)?;
                let at = chrono::DateTime::parse_from_rfc3339(foc)
                    .map_err(|_| bad_request("FocDate must be an RFC 3339 date and time"))?;
                order.foc_at = Some(at.timestamp_millis());
            }
            if to == status::PENDING_DOCUMENTS {
                order.upload_expires_at = Some(now + UPLOAD_LINK_MS);
            }
            let saved = if to == status::COMPLETED {
                complete(chime, &mut order, &from, &input).await?
            } else {
                chime.store.update_porting_order(&order, &from).await?
            };
            saved_output(chime, &order, saved).await
        })
        .await
    }
}

/// The answer once `order` was written (`saved`).
///
/// Errors: `ConflictException` when it was not: the order changed at the same time.
async fn saved_output(
    chime: &Chime,
    order: &PortingOrderRecord,
    saved: bool,
) -> Result<PortingOrderOutput> {
    if !saved {
        return Err(conflict(
            "The porting order changed at the same time; try again",
        ));
    }
    Ok(PortingOrderOutput {
        porting_order: chime.porting_shape(order).await?,
    })
}

/// Completes `order` (status already set to `COMPLETED`) if it is still `from`.
async fn complete(
    chime: &Chime,
    order: &mut PortingOrderRecord,
    from: &str,
    input: &UpdatePortingOrderStatusInput,
) -> Result<bool> {
    if order.direction == "PortOut" {
        let account = required("CarrierAccountId", &input.carrier_account_id)?;
        let pin = required("CarrierPin", &input.carrier_pin)?;
        let pin_ok = order
            .pin_hash
            .as_deref()
            .is_some_and(|h| pin_matches(h, pin));
        if account != order.account_id || !pin_ok {
            return Err(bad_request(
                "CarrierAccountId and CarrierPin do not match the account and its port-out PIN; the port is rejected",
            ));
        }
        let saved = chime.store.complete_port_out(order, from).await?;
        if saved {
            chime
                .carrier
                .port_out(&order.account_id, &order.numbers)
                .await
                .map_err(carrier_failure)?;
        }
        return Ok(saved);
    }
    let now = order.updated_at;
    let infos: Vec<NumberInfo> = order
        .numbers
        .iter()
        .map(|n| NumberInfo {
            e164: n.clone(),
            country: order.country.clone(),
            number_type: order.number_type.clone(),
            capabilities: Capabilities {
                voice: true,
                sms: order.product_type == countries::BUSINESS_CALLING,
                mms: false,
            },
            city: None,
            state: None,
            account_id: Some(order.account_id.clone()),
            source: "PortIn".to_string(),
        })
        .collect();
    chime
        .carrier
        .port_in(&order.account_id, &infos)
        .await
        .map_err(carrier_failure)?;
    let inventory: Vec<PhoneNumberRecord> = infos
        .into_iter()
        .map(|n| PhoneNumberRecord {
            account_id: order.account_id.clone(),
            e164: n.e164,
            country: n.country,
            number_type: n.number_type,
            product_type: order.product_type.clone(),
            status: number_status::UNASSIGNED.to_string(),
            capabilities: n.capabilities,
            calling_name: None,
            calling_name_updated_at: None,
            user_id: None,
            chime_account_id: None,
            associated_at: None,
            order_id: order.porting_order_id.clone(),
            deletion_at: None,
            created_at: now,
            updated_at: now,
        })
        .collect();
    chime
        .store
        .complete_port_in(order, from, &inventory)
        .await
        .map_err(|e| match e {
            carillon_store::StoreError::Conflict(_) => {
                conflict("A ported number is already in the account's inventory")
            }
            other => Error::from(other),
        })
}

/// UploadPortingDocument: a document through the order's open 10-day upload link.
pub struct UploadPortingDocument(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for UploadPortingDocument {
    type Input = UploadPortingDocumentInput;
    type Output = PortingOrderOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 5] =
            [BAD_REQUEST, NOT_FOUND, CONFLICT, FORBIDDEN, SERVICE_FAILURE];
        OperationSpec {
            name: "UploadPortingDocument",
            method: Method::PUT,
            path: DOCUMENT,
            action: "chime:UploadPortingDocument",
            resource: "*",
            summary: "Uploads a document (LOA, invoice, ...) for a porting order.",
            docs: "Only while the order's document-upload link is open (issued when the order enters PENDING_DOCUMENTS, valid 10 days) and by a user of the order's account; Content is base64, at most 10 MiB; sealed at rest. A document of the same name is replaced. Spec: chime-zh.md §4.4 Required documents.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: UploadPortingDocumentInput,
    ) -> ApiResult<PortingOrderOutput> {
        answer(async move {
        let chime = &self.0;
        let order = chime.porting_order(ctx, &input.porting_order_id).await?;
        let now = now_millis();
        if order.upload_expires_at.is_none_or(|at| at <= now) {
            return Err(error(
                "ForbiddenException",
                "No document-upload link is open for this order (never issued, or its 10 days passed)",
            ));
        }
        if order.status == status::COMPLETED || order.status == status::CANCELLED {
            return Err(conflict(format!("The porting order is {}", order.status)));
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(input.content.trim())
            .map_err(|_| bad_request("Content must be base64"))?;
        if data.is_empty() || data.len() > MAX_DOCUMENT {
            return Err(bad_request("Content must be 1 byte to 10 MiB"));
        }
        let doc = PortingDocumentRecord {
            porting_order_id: order.porting_order_id.clone(),
            name: input.name.clone(),
            content_type: input.content_type.clone(),
            size: data.len() as i64,
            sha256: hex::encode(sha2::Sha256::digest(&data)),
            blob_key: format!(
                "chime/porting/{}/{}/{}",
                ctx.account_id, order.porting_order_id, input.name
            ),
            uploaded_at: now,
        };
        chime
            .store
            .put_porting_document(&ctx.account_id, &doc, &data)
            .await?;
        Ok(PortingOrderOutput {
            porting_order: chime.porting_shape(&order).await?,
        })
    }).await
    }
}

/// GetPortingDocument: an uploaded document with its content (support reads the LOA).
pub struct GetPortingDocument(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for GetPortingDocument {
    type Input = PortingDocumentInput;
    type Output = PortingDocumentOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 2] = [NOT_FOUND, SERVICE_FAILURE];
        OperationSpec {
            name: "GetPortingDocument",
            method: Method::GET,
            path: DOCUMENT,
            action: "chime:GetPortingDocument",
            resource: "*",
            summary: "Returns a document uploaded for a porting order, with its content.",
            docs: "Content is base64; Sha256 lets the reader check it. Spec: chime-zh.md §4.4 Required documents (support validates the LOA with the losing carrier).",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: PortingDocumentInput,
    ) -> ApiResult<PortingDocumentOutput> {
        answer(async move {
            let chime = &self.0;
            let order = chime.porting_order(ctx, &input.porting_order_id).await?;
            let (doc, data) = chime
                .store
                .porting_document(&order.porting_order_id, &input.name)
                .await?
                .ok_or_else(|| not_found(format!("Document {} was not found", input.name)))?;
            Ok(PortingDocumentOutput {
                document: document_shape(doc),
                content: base64::engine::general_purpose::STANDARD.encode(data),
            })
        })
        .await
    }
}

/// CancelPortingOrder: the customer asks to cancel (`CANCEL_REQUESTED`).
pub struct CancelPortingOrder(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for CancelPortingOrder {
    type Input = PortingOrderInput;
    type Output = PortingOrderOutput;

    fn spec(&self) -> OperationSpec {
        const ERRORS: [ErrorSpec; 3] = [NOT_FOUND, CONFLICT, SERVICE_FAILURE];
        OperationSpec {
            name: "CancelPortingOrder",
            method: Method::POST,
            path: CANCEL,
            action: "chime:CancelPortingOrder",
            resource: "*",
            summary: "Asks to cancel a porting order.",
            docs: "An open order becomes CANCEL_REQUESTED; support then moves it to CANCELLED. COMPLETED and CANCELLED orders cannot be cancelled. Spec: chime-zh.md §4.4.",
            errors: &ERRORS,
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: PortingOrderInput,
    ) -> ApiResult<PortingOrderOutput> {
        answer(async move {
            let chime = &self.0;
            let mut order = chime.porting_order(ctx, &input.porting_order_id).await?;
            let from = order.status.clone();
            if !may_move(&from, status::CANCEL_REQUESTED) {
                return Err(conflict(format!(
                    "A {from} porting order cannot be cancelled"
                )));
            }
            order.status = status::CANCEL_REQUESTED.to_string();
            order.status_message = Some("Cancellation requested by the customer".to_string());
            order.updated_at = now_millis();
            let saved = chime.store.update_porting_order(&order, &from).await?;
            saved_output(chime, &order, saved).await
        })
        .await
    }
}
