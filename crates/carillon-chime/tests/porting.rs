//! The porting-order Carillon operations, on SQLite and (when `CARILLON_TEST_DATABASE_URL`
//! is set) PostgreSQL: the request fields of a US and an international port-in, the eight
//! §4.4 statuses and their transitions, the 10-day document-upload link, a completed
//! port-in filling the inventory, the port-out PIN checked at completion, cancellation,
//! pagination and tenant isolation. Spec: chime-zh.md §4.3, §4.4; chime-ko.md §4.3.

mod phone_env;
mod support;

use carillon_adminapi::CarillonOperation;
use carillon_awsapi::generated::chime::*;
use carillon_chime::porting::{
    may_move, status, CancelPortingOrder, CreatePortingOrder, CreatePortingOrderOutput,
    GetPortingDocument, GetPortingOrder, ListPortingOrders, PortingDocumentOutput,
    PortingOrderOutput, UpdatePortingOrderStatus, UploadPortingDocument,
};
use carillon_core::{ApiError, RequestContext};
use serde_json::{json, Value};
use support::{code, Env};

async fn envs() -> Vec<Env> {
    phone_env::envs("+12065550100,US,Local,voice;sms,Seattle,WA\n").await
}

/// A US port-in request of `numbers` with every required field.
fn us_port_in(numbers: &[&str]) -> Value {
    json!({
        "Direction": "PortIn",
        "E164PhoneNumbers": numbers,
        "ProductType": "VoiceConnector",
        "RequestedPortDate": "2026-12-01",
        "RequestedPortTime": "09:30",
        "BillingTelephoneNumber": "+14255550100",
        "AuthorizedName": "Jane Doe",
        "CurrentCarrier": "Old Telco",
        "ServicePin": "9876",
        "ServiceAddress": "1 Main St, Seattle WA",
        "CustomerName": "Example Corp",
        "BtnOption": "CloseAccount"
    })
}

impl Env {
    async fn create(
        &self,
        ctx: &RequestContext,
        input: Value,
    ) -> Result<CreatePortingOrderOutput, ApiError> {
        CreatePortingOrder(self.chime.clone())
            .call(ctx, serde_json::from_value(input).unwrap())
            .await
    }

    async fn get_order(&self, ctx: &RequestContext, id: &str) -> Result<Value, ApiError> {
        GetPortingOrder(self.chime.clone())
            .call(
                ctx,
                serde_json::from_value(json!({ "PortingOrderId": id })).unwrap(),
            )
            .await
            .map(order_json)
    }

    async fn set_status(
        &self,
        ctx: &RequestContext,
        id: &str,
        extra: Value,
    ) -> Result<Value, ApiError> {
        let mut input = extra;
        input["PortingOrderId"] = json!(id);
        UpdatePortingOrderStatus(self.chime.clone())
            .call(ctx, serde_json::from_value(input).unwrap())
            .await
            .map(order_json)
    }

    /// UpdatePortingOrderStatus to `status` with no other member.
    async fn move_to(
        &self,
        ctx: &RequestContext,
        id: &str,
        status: &str,
    ) -> Result<Value, ApiError> {
        self.set_status(ctx, id, json!({ "Status": status })).await
    }

    async fn document(
        &self,
        ctx: &RequestContext,
        id: &str,
        name: &str,
    ) -> Result<PortingDocumentOutput, ApiError> {
        GetPortingDocument(self.chime.clone())
            .call(
                ctx,
                serde_json::from_value(json!({ "PortingOrderId": id, "Name": name })).unwrap(),
            )
            .await
    }

    async fn upload(&self, ctx: &RequestContext, id: &str, name: &str) -> Result<Value, ApiError> {
        UploadPortingDocument(self.chime.clone())
            .call(
                ctx,
                serde_json::from_value(json!({
                    "PortingOrderId": id,
                    "Name": name,
                    "ContentType": "application/pdf",
                    "Content": "JVBERi0xLjQKTE9B"
                }))
                .unwrap(),
            )
            .await
            .map(order_json)
    }

    async fn cancel(&self, ctx: &RequestContext, id: &str) -> Result<Value, ApiError> {
        CancelPortingOrder(self.chime.clone())
            .call(
                ctx,
                serde_json::from_value(json!({ "PortingOrderId": id })).unwrap(),
            )
            .await
            .map(order_json)
    }
}

fn order_json(output: PortingOrderOutput) -> Value {
    serde_json::to_value(output.porting_order).unwrap()
}

#[test]
fn the_state_machine_of_section_4_4() {
    use status::*;
    for to in ALL {
        assert!(!may_move(COMPLETED, to), "COMPLETED -> {to}");
        assert!(!may_move(CANCELLED, to), "CANCELLED -> {to}");
    }
    for from in [
        SUBMITTED,
        PENDING_DOCUMENTS,
        EXCEPTION,
        CHANGE_REQUESTED,
        FOC,
    ] {
        assert!(may_move(from, CANCEL_REQUESTED), "{from}");
        assert!(!may_move(from, CANCELLED), "{from}");
    }
    assert!(may_move(CANCEL_REQUESTED, CANCELLED));
    assert!(!may_move(CANCEL_REQUESTED, SUBMITTED));
    assert!(!may_move(SUBMITTED, COMPLETED));
    assert!(may_move(SUBMITTED, PENDING_DOCUMENTS));
    assert!(may_move(PENDING_DOCUMENTS, SUBMITTED));
    assert!(may_move(EXCEPTION, FOC));
    assert!(!may_move(PENDING_DOCUMENTS, PENDING_DOCUMENTS));
    assert!(may_move(FOC, COMPLETED));
    assert!(!may_move(FOC, SUBMITTED));
}

#[tokio::test]
async fn a_us_port_in_goes_from_submitted_to_the_inventory() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let mut missing = us_port_in(&["+14255550101"]);
        missing
            .as_object_mut()
            .unwrap()
            .remove("BillingTelephoneNumber");
        let err = env.create(&ctx, missing).await.unwrap_err();
        assert_eq!(err.code, "BadRequestException", "{}", env.test.label);
        assert!(
            err.message.contains("BillingTelephoneNumber"),
            "{}",
            err.message
        );

        let created = env
            .create(&ctx, us_port_in(&["+14255550101", "+14255550102"]))
            .await
            .unwrap();
        assert_eq!(created.pin, None);
        let order = serde_json::to_value(&created.porting_order).unwrap();
        let id = order["PortingOrderId"].as_str().unwrap().to_string();
        assert_eq!(order["Status"], "SUBMITTED");
        assert_eq!(order["AccountId"], ctx.account_id.as_str());
        assert_eq!(order["RequiredDocuments"], json!(["LetterOfAuthorization"]));
        assert_eq!(order["Details"]["AuthorizedName"], "Jane Doe");
        assert!(order["Details"].get("ServicePin").is_none());
        assert!(order["DocumentUploadLink"].is_null());

        // No link yet: uploads are refused.
        assert_eq!(
            code(env.upload(&ctx, &id, "loa.pdf").await),
            "ForbiddenException"
        );
        let pending = env
            .set_status(
                &ctx,
                &id,
                json!({"Status": "PENDING_DOCUMENTS", "Message": "Send the LOA"}),
            )
            .await
            .unwrap();
        assert_eq!(pending["StatusMessage"], "Send the LOA");
        let link = &pending["DocumentUploadLink"];
        assert!(link["Url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/porting-orders/{id}/documents")));
        let expires = chrono::DateTime::parse_from_rfc3339(link["ExpiresAt"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        let ten_days = 10 * 24 * 3600 * 1000;
        assert!((expires - carillon_core::time::now_millis() - ten_days).abs() < 60_000);
        let uploaded = env.upload(&ctx, &id, "loa.pdf").await.unwrap();
        let docs = uploaded["Documents"].as_array().unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["Name"], "loa.pdf");
        assert_eq!(docs[0]["Size"], 12);
        let read = env.document(&ctx, &id, "loa.pdf").await.unwrap();
        assert_eq!(read.content, "JVBERi0xLjQKTE9B");
        assert_eq!(read.document.sha256, docs[0]["Sha256"].as_str().unwrap());
        let missing = env.document(&ctx, &id, "invoice.pdf").await;
        assert_eq!(code(missing), "NotFoundException");
        // Another tenant can neither see nor upload.
        let other = env.tenant().await;
        assert_eq!(code(env.get_order(&other, &id).await), "NotFoundException");
        assert_eq!(
            code(env.upload(&other, &id, "x.pdf").await),
            "NotFoundException"
        );
        // After 10 days the link is closed.
        env.test
            .exec(
                "UPDATE chime_porting_orders SET upload_expires_at = upload_expires_at - CAST($2 AS BIGINT) \
                 WHERE porting_order_id = $1",
                &[&id, &ten_days.to_string()],
            )
            .await;
        assert_eq!(
            code(env.upload(&ctx, &id, "invoice.pdf").await),
            "ForbiddenException"
        );
        assert!(env.get_order(&ctx, &id).await.unwrap()["DocumentUploadLink"].is_null());

        // FOC needs its date; COMPLETED only from FOC.
        assert_eq!(
            code(env.move_to(&ctx, &id, "COMPLETED").await),
            "ConflictException"
        );
        assert_eq!(
            code(env.move_to(&ctx, &id, "FOC").await),
            "BadRequestException"
        );
        assert_eq!(
            code(env.move_to(&ctx, &id, "DONE").await),
            "BadRequestException"
        );
        let foc = env
            .set_status(
                &ctx,
                &id,
                json!({"Status": "FOC", "FocDate": "2026-12-01T09:30:00Z"}),
            )
            .await
            .unwrap();
        assert_eq!(foc["FocDate"], "2026-12-01T09:30:00.000Z");
        let done = env.move_to(&ctx, &id, "COMPLETED").await.unwrap();
        assert_eq!(done["Status"], "COMPLETED");
        let number = env.get(&ctx, "+14255550102").await.unwrap();
        assert_eq!(number.status.as_deref(), Some("Unassigned"));
        assert_eq!(number.product_type.as_deref(), Some("VoiceConnector"));
        assert_eq!(
            code(env.get(&other, "+14255550102").await),
            "NotFoundException"
        );
        assert_eq!(code(env.cancel(&ctx, &id).await), "ConflictException");
        assert_eq!(
            code(env.move_to(&ctx, &id, "SUBMITTED").await),
            "ConflictException"
        );
        // The ported numbers are now served here: porting them in again is refused.
        let again = env.create(&ctx, us_port_in(&["+14255550101"])).await;
        assert_eq!(code(again), "BadRequestException");
    }
}

#[tokio::test]
async fn port_in_rules_follow_the_country_table() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let gb = |product: &str, number_type: &str, number: &str, usage: bool| {
            let mut v = json!({
                "Direction": "PortIn",
                "E164PhoneNumbers": [number],
                "ProductType": product,
                "Country": "GB",
                "PhoneNumberType": number_type,
                "RequestedPortDate": "2026-12-01",
                "RequestedPortTime": "10:00"
            });
            if usage {
                v["EstimatedUsage"] = json!("500 minutes a month");
            }
            v
        };
        for (input, words) in [
            (
                gb("BusinessCalling", "Local", "+442071230000", true),
                "SipMediaApplicationDialIn",
            ),
            (
                gb("SipMediaApplicationDialIn", "Local", "+442071230000", false),
                "EstimatedUsage",
            ),
            (
                gb("SipMediaApplicationDialIn", "Local", "+12065550199", true),
                "calling code",
            ),
            (
                json!({
                    "Direction": "PortIn",
                    "E164PhoneNumbers": ["+6491234567"],
                    "ProductType": "SipMediaApplicationDialIn",
                    "Country": "NZ",
                    "PhoneNumberType": "Local",
                    "RequestedPortDate": "2026-12-01",
                    "RequestedPortTime": "10:00",
                    "EstimatedUsage": "low"
                }),
                "not supported",
            ),
            // A number this server serves already is ordered, not ported.
            (us_port_in(&["+12065550100"]), "already served"),
            (us_port_in(&["+18005550100"]), "toll-free"),
            (
                {
                    let mut v = us_port_in(&["+14255550103"]);
                    v["RequestedPortDate"] = json!("next week");
                    v
                },
                "RequestedPortDate",
            ),
            (
                {
                    let mut v = us_port_in(&["+14255550103"]);
                    v["Pin"] = json!("ABCD");
                    v
                },
                "PortOut",
            ),
            (
                {
                    let mut v = us_port_in(&["+14255550103"]);
                    v["Direction"] = json!("Sideways");
                    v
                },
                "Direction",
            ),
        ] {
            let err = env.create(&ctx, input).await.unwrap_err();
            assert_eq!(
                err.code, "BadRequestException",
                "{}: {}",
                env.test.label, err.message
            );
            assert!(err.message.contains(words), "{words}: {}", err.message);
        }
        let created = env
            .create(
                &ctx,
                gb(
                    "SipMediaApplicationDialIn",
                    "TollFree",
                    "+448001230000",
                    true,
                ),
            )
            .await
            .unwrap();
        let order = serde_json::to_value(&created.porting_order).unwrap();
        assert_eq!(
            order["RequiredDocuments"],
            json!(["FinalInvoice", "LetterOfAuthorization"])
        );
        // The same number cannot be in two open orders.
        let twice = env
            .create(
                &ctx,
                gb(
                    "SipMediaApplicationDialIn",
                    "TollFree",
                    "+448001230000",
                    true,
                ),
            )
            .await;
        assert_eq!(code(twice), "ConflictException");
    }
}

#[tokio::test]
async fn a_port_out_needs_the_account_id_and_pin() {
    for env in envs().await {
        let ctx = env.tenant().await;
        env.provision(&ctx, "BusinessCalling", &["+12065550100"])
            .await;
        let out = |numbers: &[&str], pin: Option<&str>| {
            let mut v = json!({"Direction": "PortOut", "E164PhoneNumbers": numbers});
            if let Some(p) = pin {
                v["Pin"] = json!(p);
            }
            v
        };
        assert_eq!(
            code(env.create(&ctx, out(&["+14255550100"], None)).await),
            "NotFoundException",
            "{}",
            env.test.label
        );
        assert_eq!(
            code(env.create(&ctx, out(&["+12065550100"], Some("12"))).await),
            "BadRequestException"
        );
        let generated = env
            .create(&ctx, out(&["+12065550100"], None))
            .await
            .unwrap();
        let pin = generated.pin.clone().unwrap();
        assert_eq!(pin.len(), 8);
        let generated_id = generated.porting_order.porting_order_id.clone();
        env.cancel(&ctx, &generated_id).await.unwrap();
        env.move_to(&ctx, &generated_id, "CANCELLED").await.unwrap();

        let created = env
            .create(&ctx, out(&["+12065550100"], Some("ABCD123")))
            .await
            .unwrap();
        assert_eq!(created.pin.as_deref(), Some("ABCD123"));
        assert_eq!(created.porting_order.product_type, "BusinessCalling");
        let id = created.porting_order.porting_order_id.clone();
        env.set_status(
            &ctx,
            &id,
            json!({"Status": "FOC", "FocDate": "2026-12-01T00:00:00Z"}),
        )
        .await
        .unwrap();
        for presented in [
            json!({"Status": "COMPLETED"}),
            json!({"Status": "COMPLETED", "CarrierAccountId": ctx.account_id, "CarrierPin": "WRONG1"}),
            json!({"Status": "COMPLETED", "CarrierAccountId": "111122223333", "CarrierPin": "ABCD123"}),
        ] {
            assert_eq!(
                code(env.set_status(&ctx, &id, presented).await),
                "BadRequestException"
            );
        }
        assert_eq!(env.get_order(&ctx, &id).await.unwrap()["Status"], "FOC");
        env.set_status(
            &ctx,
            &id,
            json!({"Status": "COMPLETED", "CarrierAccountId": ctx.account_id, "CarrierPin": "ABCD123"}),
        )
        .await
        .unwrap();
        // The number left: not in the inventory, not in the pool.
        assert_eq!(
            code(env.get(&ctx, "+12065550100").await),
            "NotFoundException"
        );
        let search = env
            .chime
            .search_available_phone_numbers(
                &ctx,
                SearchAvailablePhoneNumbersRequest {
                    area_code: Some("206".to_string()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(search.e164_phone_numbers, Some(vec![]));
    }
}

#[tokio::test]
async fn orders_cancel_and_list_per_tenant() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let mut ids = Vec::new();
        for n in ["+14255550111", "+14255550112", "+14255550113"] {
            let created = env.create(&ctx, us_port_in(&[n])).await.unwrap();
            ids.push(created.porting_order.porting_order_id);
        }
        // The order of +14255550111.
        let first_order = ids[0].clone();
        let cancelled = env.cancel(&ctx, &first_order).await.unwrap();
        assert_eq!(
            cancelled["Status"], "CANCEL_REQUESTED",
            "{}",
            env.test.label
        );
        assert_eq!(
            code(env.cancel(&ctx, &first_order).await),
            "ConflictException"
        );
        let done = env.move_to(&ctx, &first_order, "CANCELLED").await.unwrap();
        assert_eq!(done["Status"], "CANCELLED");
        // A cancelled order frees its numbers for a new one.
        env.create(&ctx, us_port_in(&["+14255550111"]))
            .await
            .unwrap();

        let list = ListPortingOrders(env.chime.clone());
        let first = list
            .call(
                &ctx,
                serde_json::from_value(json!({"MaxResults": 2})).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(first.porting_orders.len(), 2);
        let token = first.next_token.clone().unwrap();
        let second = list
            .call(
                &ctx,
                serde_json::from_value(json!({"MaxResults": 2, "NextToken": token})).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(second.porting_orders.len(), 2);
        assert_eq!(second.next_token, None);
        // A listed order is whole, numbers included, as GetPortingOrder reads it.
        for listed in first.porting_orders.iter().chain(&second.porting_orders) {
            let got = env.get_order(&ctx, &listed.porting_order_id).await.unwrap();
            assert_eq!(serde_json::to_value(listed).unwrap(), got);
        }
        let other = env.tenant().await;
        let theirs = list
            .call(&other, serde_json::from_value(json!({})).unwrap())
            .await
            .unwrap();
        assert!(theirs.porting_orders.is_empty());
        let stolen = list
            .call(
                &other,
                serde_json::from_value(json!({"NextToken": first.next_token})).unwrap(),
            )
            .await;
        assert_eq!(code(stolen), "BadRequestException");
        assert_eq!(code(env.cancel(&other, &ids[1]).await), "NotFoundException");
    }
}
