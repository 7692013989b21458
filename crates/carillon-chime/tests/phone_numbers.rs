//! The phone-number operations driven through `ChimeApi`, on SQLite and (when
//! `CARILLON_TEST_DATABASE_URL` is set) PostgreSQL: the pool filled by the CSV import,
//! search filters and pagination, orders settling Successful / Partial / Failed, the
//! inventory and its filters, product-type and calling-name rules with the 7-day throttle,
//! user assignment (chime_users.primary_provisioned_number), the 7-day deletion queue and
//! the job releasing numbers to the pool, settings, supported countries, tenant isolation
//! and bad input. Spec: chime-zh.md §1.12, §2.13, §2.14, §4; chime-ja.md §4.2.

mod phone_env;
mod support;

use carillon_awsapi::generated::chime::*;
use carillon_core::{ApiError, RequestContext};
use support::{code, Env};

/// The operator's numbers of these tests.
const POOL: &str = "e164,country,type,capabilities,city,state
+12065550100,US,Local,voice;sms,Seattle,WA
+12065550101,US,Local,voice;sms,Seattle,WA
+12065550102,US,Local,voice,Seattle,WA
+15035550100,US,Local,voice;sms,Portland,OR
+18005550100,US,TollFree,voice
+442071230000,GB,Local,voice
+442071230001,GB,TollFree,voice
";

async fn envs() -> Vec<Env> {
    phone_env::envs(POOL).await
}

/// Calls of the operations under test, shaped for assertions.
impl Env {
    async fn search(
        &self,
        ctx: &RequestContext,
        request: SearchAvailablePhoneNumbersRequest,
    ) -> Result<(Vec<String>, Option<String>), ApiError> {
        self.chime
            .search_available_phone_numbers(ctx, request)
            .await
            .map(|r| (r.e164_phone_numbers.unwrap(), r.next_token))
    }

    async fn list(
        &self,
        ctx: &RequestContext,
        request: ListPhoneNumbersRequest,
    ) -> Result<(Vec<String>, Option<String>), ApiError> {
        self.chime.list_phone_numbers(ctx, request).await.map(|r| {
            let ids = r
                .phone_numbers
                .unwrap()
                .into_iter()
                .map(|n| n.phone_number_id.unwrap())
                .collect();
            (ids, r.next_token)
        })
    }

    async fn delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        self.chime
            .delete_phone_number(
                ctx,
                DeletePhoneNumberRequest {
                    phone_number_id: id.to_string(),
                },
            )
            .await
            .map(|_| ())
    }

    async fn restore(&self, ctx: &RequestContext, id: &str) -> Result<PhoneNumber, ApiError> {
        self.chime
            .restore_phone_number(
                ctx,
                RestorePhoneNumberRequest {
                    phone_number_id: id.to_string(),
                },
            )
            .await
            .map(|r| r.phone_number.unwrap())
    }

    async fn update(
        &self,
        ctx: &RequestContext,
        id: &str,
        product: Option<&str>,
        name: Option<&str>,
    ) -> Result<PhoneNumber, ApiError> {
        self.chime
            .update_phone_number(
                ctx,
                UpdatePhoneNumberRequest {
                    phone_number_id: id.to_string(),
                    product_type: product.map(str::to_string),
                    calling_name: name.map(str::to_string),
                },
            )
            .await
            .map(|r| r.phone_number.unwrap())
    }

    /// A Chime account of `ctx` and a registered user `email` in it, written through the
    /// store. Returns (Chime account ID, user ID).
    async fn user(&self, ctx: &RequestContext, email: &str) -> (String, String) {
        let chime_account = self.account(ctx, "Calls").await;
        let user_id = self.member(ctx, &chime_account, email).await;
        (chime_account, user_id)
    }

    /// Two BusinessCalling numbers (+12065550100, +12065550101) and the VoiceConnector
    /// number `voice`, and a user `ann@example.com` of a new Chime account assigned
    /// `assigned` (one of the two). Returns (Chime account ID, Ann's user ID).
    async fn ann_with_a_number(
        &self,
        ctx: &RequestContext,
        voice: &str,
        assigned: &str,
    ) -> (String, String) {
        self.provision(ctx, "BusinessCalling", &["+12065550100", "+12065550101"])
            .await;
        self.provision(ctx, "VoiceConnector", &[voice]).await;
        let (chime_account, ann) = self.user(ctx, "ann@example.com").await;
        self.associate(ctx, &chime_account, &ann, assigned)
            .await
            .unwrap();
        (chime_account, ann)
    }

    async fn primary_number(&self, user_id: &str) -> Option<String> {
        sqlx::query_scalar("SELECT primary_provisioned_number FROM chime_users WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(self.test.pool())
            .await
            .unwrap()
    }

    async fn associate(
        &self,
        ctx: &RequestContext,
        account: &str,
        user: &str,
        number: &str,
    ) -> Result<(), ApiError> {
        self.chime
            .associate_phone_number_with_user(
                ctx,
                AssociatePhoneNumberWithUserRequest {
                    account_id: account.to_string(),
                    user_id: user.to_string(),
                    e164_phone_number: number.to_string(),
                },
            )
            .await
            .map(|_| ())
    }
}

fn us(
    area: Option<&str>,
    city: Option<&str>,
    state: Option<&str>,
) -> SearchAvailablePhoneNumbersRequest {
    SearchAvailablePhoneNumbersRequest {
        area_code: area.map(str::to_string),
        city: city.map(str::to_string),
        state: state.map(str::to_string),
        ..Default::default()
    }
}

/// A search of `country`'s numbers of type `kind`.
fn abroad(country: &str, kind: Option<&str>) -> SearchAvailablePhoneNumbersRequest {
    SearchAvailablePhoneNumbersRequest {
        country: Some(country.to_string()),
        phone_number_type: kind.map(str::to_string),
        ..Default::default()
    }
}

/// A search of the toll-free numbers starting with `prefix`.
fn toll_free(prefix: &str) -> SearchAvailablePhoneNumbersRequest {
    SearchAvailablePhoneNumbersRequest {
        toll_free_prefix: Some(prefix.to_string()),
        ..Default::default()
    }
}

#[tokio::test]
async fn search_filters_and_pages_the_available_numbers() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let (found, next) = env.search(&ctx, us(Some("206"), None, None)).await.unwrap();
        assert_eq!(
            found,
            ["+12065550100", "+12065550101", "+12065550102"],
            "{}",
            env.test.label
        );
        assert_eq!(next, None);
        let (found, _) = env
            .search(&ctx, us(None, Some("portland"), Some("OR")))
            .await
            .unwrap();
        assert_eq!(found, ["+15035550100"]);
        assert_eq!(
            env.search(&ctx, toll_free("800")).await.unwrap().0,
            ["+18005550100"]
        );
        let gb = abroad("GB", Some("TollFree"));
        assert_eq!(env.search(&ctx, gb).await.unwrap().0, ["+442071230001"]);

        // Pages of two, the token bound to the filters.
        let mut page = us(None, None, Some("WA"));
        page.max_results = Some(2);
        let (first, token) = env.search(&ctx, page.clone()).await.unwrap();
        assert_eq!(first, ["+12065550100", "+12065550101"]);
        page.next_token = token.clone();
        let (second, end) = env.search(&ctx, page).await.unwrap();
        assert_eq!(second, ["+12065550102"]);
        assert_eq!(end, None);
        let mut other = us(Some("503"), None, None);
        other.next_token = token;
        assert_eq!(code(env.search(&ctx, other).await), "BadRequestException");

        // Bad input names the member.
        for (request, member) in [
            (us(None, None, None), "AreaCode"),
            (us(None, Some("Seattle"), None), "State"),
            (us(Some("20"), None, None), "AreaCode"),
            (
                SearchAvailablePhoneNumbersRequest {
                    area_code: Some("207".to_string()),
                    ..abroad("GB", Some("Local"))
                },
                "PhoneNumberType",
            ),
            (abroad("GB", None), "PhoneNumberType"),
            (abroad("FR", Some("Local")), "Country"),
            (toll_free("801"), "TollFreePrefix"),
        ] {
            let err = env.search(&ctx, request).await.unwrap_err();
            assert_eq!(err.code, "BadRequestException");
            assert!(err.message.contains(member), "{member}: {}", err.message);
        }
    }
}

#[tokio::test]
async fn orders_settle_successful_partial_or_failed_and_fill_the_inventory() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let order = env
            .order(&ctx, "BusinessCalling", &["+12065550100", "12065550101"])
            .await
            .unwrap();
        assert_eq!(order.status.as_deref(), Some("Processing"));
        assert_eq!(order.product_type.as_deref(), Some("BusinessCalling"));
        let id = order.phone_number_order_id.clone().unwrap();
        let settled = env.settled(&ctx, &id).await;
        assert_eq!(
            settled.status.as_deref(),
            Some("Successful"),
            "{}",
            env.test.label
        );
        let numbers = settled.ordered_phone_numbers.unwrap();
        assert_eq!(numbers.len(), 2);
        assert!(numbers
            .iter()
            .all(|n| n.status.as_deref() == Some("Acquired")));

        let number = env.get(&ctx, "+12065550100").await.unwrap();
        assert_eq!(number.status.as_deref(), Some("Unassigned"));
        assert_eq!(number.product_type.as_deref(), Some("BusinessCalling"));
        assert_eq!(number.country.as_deref(), Some("US"));
        assert_eq!(number.r#type.as_deref(), Some("Local"));
        assert_eq!(number.calling_name_status.as_deref(), Some("Unassigned"));
        let caps = number.capabilities.unwrap();
        assert_eq!(
            (caps.inbound_call, caps.outbound_sms, caps.inbound_mms),
            (Some(true), Some(true), Some(false))
        );
        // Ordered numbers are no longer available to anyone.
        let (left, _) = env.search(&ctx, us(Some("206"), None, None)).await.unwrap();
        assert_eq!(left, ["+12065550102"]);

        // One number the carrier does not have: Partial, that number AcquireFailed.
        let partial = env
            .order(&ctx, "VoiceConnector", &["+12065550102", "+12065559999"])
            .await
            .unwrap();
        let partial = env
            .settled(&ctx, partial.phone_number_order_id.as_deref().unwrap())
            .await;
        assert_eq!(partial.status.as_deref(), Some("Partial"));
        let statuses: Vec<_> = partial
            .ordered_phone_numbers
            .unwrap()
            .into_iter()
            .map(|n| (n.e164_phone_number.unwrap(), n.status.unwrap()))
            .collect();
        assert_eq!(
            statuses,
            [
                ("+12065550102".to_string(), "Acquired".to_string()),
                ("+12065559999".to_string(), "Failed".to_string())
            ]
        );

        // Another tenant ordering a number already taken: Failed, and it sees none of ours.
        let other = env.tenant().await;
        let failed = env
            .order(&other, "BusinessCalling", &["+12065550100"])
            .await
            .unwrap();
        let failed = env
            .settled(&other, failed.phone_number_order_id.as_deref().unwrap())
            .await;
        assert_eq!(failed.status.as_deref(), Some("Failed"));
        let number = env.get(&other, "+12065550100").await.unwrap();
        assert_eq!(number.status.as_deref(), Some("AcquireFailed"));
        assert_eq!(
            code(env.get(&other, "+12065550101").await),
            "NotFoundException"
        );
        let get_other = GetPhoneNumberOrderRequest {
            phone_number_order_id: id.clone(),
        };
        assert_eq!(
            code(env.chime.get_phone_number_order(&other, get_other).await),
            "NotFoundException"
        );
        let orders = env
            .chime
            .list_phone_number_orders(&other, ListPhoneNumberOrdersRequest::default())
            .await
            .unwrap()
            .phone_number_orders
            .unwrap();
        assert_eq!(orders.len(), 1);
        // A failed row holds nothing: deleting it removes it at once.
        env.delete(&other, "+12065550100").await.unwrap();
        assert_eq!(
            code(env.get(&other, "+12065550100").await),
            "NotFoundException"
        );

        // Listing orders pages by one.
        let first = env
            .chime
            .list_phone_number_orders(
                &ctx,
                ListPhoneNumberOrdersRequest {
                    max_results: Some(1),
                    next_token: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(first.phone_number_orders.unwrap().len(), 1);
        let second = env
            .chime
            .list_phone_number_orders(
                &ctx,
                ListPhoneNumberOrdersRequest {
                    max_results: Some(1),
                    next_token: first.next_token,
                },
            )
            .await
            .unwrap();
        assert_eq!(second.phone_number_orders.unwrap().len(), 1);
        assert_eq!(second.next_token, None);
    }
}

#[tokio::test]
async fn orders_refuse_bad_input_and_product_types_the_country_lacks() {
    for env in envs().await {
        let ctx = env.tenant().await;
        for (product, numbers, member) in [
            ("BusinessCalling", vec![], "E164PhoneNumbers"),
            ("BusinessCalling", vec!["555-0100"], "E164PhoneNumbers"),
            (
                "BusinessCalling",
                vec!["+12065550100", "+12065550100"],
                "twice",
            ),
            ("Meetings", vec!["+12065550100"], "ProductType"),
            // §4.1: international numbers only as SIP media application dial-in.
            (
                "BusinessCalling",
                vec!["+442071230000"],
                "SipMediaApplicationDialIn",
            ),
            (
                "VoiceConnector",
                vec!["+442071230000"],
                "SipMediaApplicationDialIn",
            ),
        ] {
            let err = env.order(&ctx, product, &numbers).await.unwrap_err();
            assert_eq!(err.code, "BadRequestException", "{}", env.test.label);
            assert!(err.message.contains(member), "{member}: {}", err.message);
        }
        env.provision(&ctx, "SipMediaApplicationDialIn", &["+442071230000"])
            .await;
        let again = env
            .order(&ctx, "SipMediaApplicationDialIn", &["+442071230000"])
            .await
            .unwrap_err();
        assert!(again.message.contains("already"), "{}", again.message);
    }
}

#[tokio::test]
async fn list_filters_by_status_product_type_and_association() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let (chime_account, user) = env
            .ann_with_a_number(&ctx, "+18005550100", "+12065550101")
            .await;

        let all = env
            .list(&ctx, ListPhoneNumbersRequest::default())
            .await
            .unwrap();
        assert_eq!(all.0, ["+12065550100", "+12065550101", "+18005550100"]);
        let by = |status: Option<&str>, product: Option<&str>, filter: Option<(&str, &str)>| {
            ListPhoneNumbersRequest {
                status: status.map(str::to_string),
                product_type: product.map(str::to_string),
                filter_name: filter.map(|f| f.0.to_string()),
                filter_value: filter.map(|f| f.1.to_string()),
                ..Default::default()
            }
        };
        let assigned = env
            .list(&ctx, by(Some("Assigned"), None, None))
            .await
            .unwrap();
        assert_eq!(assigned.0, ["+12065550101"], "{}", env.test.label);
        let vc = env
            .list(&ctx, by(None, Some("VoiceConnector"), None))
            .await
            .unwrap();
        assert_eq!(vc.0, ["+18005550100"]);
        let of_user = env
            .list(&ctx, by(None, None, Some(("UserId", &user))))
            .await
            .unwrap();
        assert_eq!(of_user.0, ["+12065550101"]);
        let of_account = env
            .list(&ctx, by(None, None, Some(("AccountId", &chime_account))))
            .await
            .unwrap();
        assert_eq!(of_account.0, ["+12065550101"]);
        let of_vc = env
            .list(
                &ctx,
                by(
                    None,
                    None,
                    Some(("VoiceConnectorId", "abcdef1ghij2klmno3pqr4")),
                ),
            )
            .await
            .unwrap();
        assert!(of_vc.0.is_empty());
        let number = env.get(&ctx, "+12065550101").await.unwrap();
        let associations: Vec<_> = number
            .associations
            .unwrap()
            .into_iter()
            .map(|a| (a.name.unwrap(), a.value.unwrap()))
            .collect();
        assert_eq!(
            associations,
            [
                ("AccountId".to_string(), chime_account.clone()),
                ("UserId".to_string(), user.clone())
            ]
        );

        // Pagination, and the token is bound to the filters.
        let mut paged = ListPhoneNumbersRequest {
            max_results: Some(2),
            ..Default::default()
        };
        let (first, token) = env.list(&ctx, paged.clone()).await.unwrap();
        assert_eq!(first.len(), 2);
        paged.next_token = token.clone();
        assert_eq!(env.list(&ctx, paged).await.unwrap().0, ["+18005550100"]);
        let mut other_filter = by(Some("Unassigned"), None, None);
        other_filter.next_token = token;
        assert_eq!(
            code(env.list(&ctx, other_filter).await),
            "BadRequestException"
        );

        for request in [
            by(Some("Lost"), None, None),
            by(None, Some("Pager"), None),
            ListPhoneNumbersRequest {
                filter_name: Some("UserId".to_string()),
                ..Default::default()
            },
            ListPhoneNumbersRequest {
                max_results: Some(100),
                ..Default::default()
            },
        ] {
            assert_eq!(code(env.list(&ctx, request).await), "BadRequestException");
        }
        // Another tenant: nothing, and our Chime account is not theirs.
        let other = env.tenant().await;
        assert!(env
            .list(&other, ListPhoneNumbersRequest::default())
            .await
            .unwrap()
            .0
            .is_empty());
        assert_eq!(
            code(
                env.list(&other, by(None, None, Some(("AccountId", &chime_account))))
                    .await
            ),
            "NotFoundException"
        );
    }
}

#[tokio::test]
async fn updates_change_product_type_or_calling_name_with_the_7_day_throttle() {
    for env in envs().await {
        let ctx = env.tenant().await;
        env.provision(&ctx, "BusinessCalling", &["+12065550100", "+12065550101"])
            .await;
        let updated = env
            .update(&ctx, "+12065550100", None, Some("Front Desk"))
            .await
            .unwrap();
        assert_eq!(updated.calling_name.as_deref(), Some("Front Desk"));
        assert_eq!(
            updated.calling_name_status.as_deref(),
            Some("UpdateInProgress")
        );
        let err = env
            .update(&ctx, "+12065550100", None, Some("Reception"))
            .await
            .unwrap_err();
        assert_eq!(err.code, "ConflictException", "{}", env.test.label);
        assert!(err.message.contains("7 days"), "{}", err.message);

        // After 72 hours the update has applied; after 7 days the name may change again.
        env.test
            .exec(
                "UPDATE chime_phone_numbers SET calling_name_updated_at = \
                 calling_name_updated_at - 259200001 WHERE e164 = $1",
                &["+12065550100"],
            )
            .await;
        let applied = env.get(&ctx, "+12065550100").await.unwrap();
        assert_eq!(
            applied.calling_name_status.as_deref(),
            Some("UpdateSucceeded")
        );
        assert_eq!(
            code(
                env.update(&ctx, "+12065550100", None, Some("Reception"))
                    .await
            ),
            "ConflictException"
        );
        env.test
            .exec(
                "UPDATE chime_phone_numbers SET calling_name_updated_at = \
                 calling_name_updated_at - 345600000 WHERE e164 = $1",
                &["+12065550100"],
            )
            .await;
        env.update(&ctx, "+12065550100", None, Some("Reception"))
            .await
            .unwrap();

        let moved = env
            .update(&ctx, "+12065550101", Some("VoiceConnector"), None)
            .await
            .unwrap();
        assert_eq!(moved.product_type.as_deref(), Some("VoiceConnector"));
        for (product, name) in [
            (None, None),
            (Some("VoiceConnector"), Some("Both")),
            (None, Some("Sixteen chars xx")),
            (None, Some("No-dashes")),
            (Some("Fax"), None),
        ] {
            assert_eq!(
                code(env.update(&ctx, "+12065550101", product, name).await),
                "BadRequestException",
                "{product:?} {name:?}"
            );
        }
        assert_eq!(
            code(env.update(&ctx, "+19995550100", None, Some("Nobody")).await),
            "NotFoundException"
        );

        // The batch reports each failing item and applies the rest.
        let batch = env
            .chime
            .batch_update_phone_number(
                &ctx,
                BatchUpdatePhoneNumberRequest {
                    update_phone_number_request_items: vec![
                        UpdatePhoneNumberRequestItem {
                            phone_number_id: "+12065550101".to_string(),
                            product_type: Some("BusinessCalling".to_string()),
                            calling_name: None,
                        },
                        UpdatePhoneNumberRequestItem {
                            phone_number_id: "+12065550100".to_string(),
                            product_type: None,
                            calling_name: Some("Again".to_string()),
                        },
                        UpdatePhoneNumberRequestItem {
                            phone_number_id: "+19995550100".to_string(),
                            product_type: Some("BusinessCalling".to_string()),
                            calling_name: None,
                        },
                    ],
                },
            )
            .await
            .unwrap();
        let errors: Vec<_> = batch
            .phone_number_errors
            .unwrap()
            .into_iter()
            .map(|e| (e.phone_number_id.unwrap(), e.error_code.unwrap()))
            .collect();
        assert_eq!(
            errors,
            [
                ("+12065550100".to_string(), "Conflict".to_string()),
                ("+19995550100".to_string(), "NotFound".to_string())
            ]
        );
        let back = env.get(&ctx, "+12065550101").await.unwrap();
        assert_eq!(back.product_type.as_deref(), Some("BusinessCalling"));
        let empty = BatchUpdatePhoneNumberRequest::default();
        assert_eq!(
            code(env.chime.batch_update_phone_number(&ctx, empty).await),
            "BadRequestException"
        );
    }
}

#[tokio::test]
async fn business_calling_numbers_are_assigned_one_per_user() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let (account, ann) = env
            .ann_with_a_number(&ctx, "+12065550102", "+12065550100")
            .await;
        assert_eq!(
            env.primary_number(&ann).await.as_deref(),
            Some("+12065550100")
        );
        let number = env.get(&ctx, "+12065550100").await.unwrap();
        assert_eq!(
            number.status.as_deref(),
            Some("Assigned"),
            "{}",
            env.test.label
        );
        // Again with the same number: nothing changes.
        env.associate(&ctx, &account, &ann, "+12065550100")
            .await
            .unwrap();

        let err = env
            .associate(&ctx, &account, &ann, "+12065550101")
            .await
            .unwrap_err();
        assert_eq!(err.code, "BadRequestException");
        assert!(err.message.contains("already has"), "{}", err.message);
        let (bob_account, bob) = env.user(&ctx, "bob@example.com").await;
        let taken = env
            .associate(&ctx, &bob_account, &bob, "+12065550100")
            .await;
        assert_eq!(code(taken), "BadRequestException");
        let vc = env
            .associate(&ctx, &bob_account, &bob, "+12065550102")
            .await;
        assert_eq!(code(vc), "BadRequestException");
        for (acct, user, number) in [
            (account.as_str(), "no-such-user", "+12065550101"),
            (
                "00000000-0000-0000-0000-000000000000",
                ann.as_str(),
                "+12065550101",
            ),
            (account.as_str(), ann.as_str(), "+19995550100"),
            // Bob is not in Ann's Chime account.
            (account.as_str(), bob.as_str(), "+12065550101"),
        ] {
            assert_eq!(
                code(env.associate(&ctx, acct, user, number).await),
                "NotFoundException"
            );
        }
        // An assigned number cannot be deleted; the batch says why per number.
        let err = env.delete(&ctx, "+12065550100").await.unwrap_err();
        assert_eq!(err.code, "BadRequestException");
        let batch = env
            .chime
            .batch_delete_phone_number(
                &ctx,
                BatchDeletePhoneNumberRequest {
                    phone_number_ids: vec!["+12065550100".to_string(), "+12065550102".to_string()],
                },
            )
            .await
            .unwrap();
        let errors = batch.phone_number_errors.unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].error_code.as_deref(),
            Some("PhoneNumberAssociationsExist")
        );
        assert_eq!(
            env.get(&ctx, "+12065550102")
                .await
                .unwrap()
                .status
                .as_deref(),
            Some("DeleteInProgress")
        );
        // Another tenant cannot touch the user or the number.
        let other = env.tenant().await;
        let request = DisassociatePhoneNumberFromUserRequest {
            account_id: account.clone(),
            user_id: ann.clone(),
        };
        assert_eq!(
            code(
                env.chime
                    .disassociate_phone_number_from_user(&other, request)
                    .await
            ),
            "NotFoundException"
        );

        let request = DisassociatePhoneNumberFromUserRequest {
            account_id: account.clone(),
            user_id: ann.clone(),
        };
        env.chime
            .disassociate_phone_number_from_user(&ctx, request.clone())
            .await
            .unwrap();
        assert_eq!(env.primary_number(&ann).await, None);
        let number = env.get(&ctx, "+12065550100").await.unwrap();
        assert_eq!(number.status.as_deref(), Some("Unassigned"));
        assert_eq!(number.associations, Some(vec![]));
        env.chime
            .disassociate_phone_number_from_user(&ctx, request)
            .await
            .unwrap();
        env.associate(&ctx, &bob_account, &bob, "+12065550100")
            .await
            .unwrap();
        assert_eq!(
            env.primary_number(&bob).await.as_deref(),
            Some("+12065550100")
        );
        // Bob leaves the account (a Team removal keeps his identity without the number):
        // the number is back in the inventory.
        env.test
            .exec(
                "UPDATE chime_users SET account_id = NULL, chime_account_id = NULL, \
                 primary_provisioned_number = NULL WHERE user_id = $1",
                &[&bob],
            )
            .await;
        let number = env.get(&ctx, "+12065550100").await.unwrap();
        assert_eq!(number.status.as_deref(), Some("Unassigned"));
        assert_eq!(number.associations, Some(vec![]));
        env.delete(&ctx, "+12065550100").await.unwrap();
    }
}

#[tokio::test]
async fn deleted_numbers_wait_7_days_in_the_queue_then_return_to_the_pool() {
    for env in envs().await {
        let ctx = env.tenant().await;
        env.provision(&ctx, "BusinessCalling", &["+12065550100", "+12065550101"])
            .await;
        env.delete(&ctx, "12065550100").await.unwrap();
        let queued = env.get(&ctx, "+12065550100").await.unwrap();
        assert_eq!(
            queued.status.as_deref(),
            Some("DeleteInProgress"),
            "{}",
            env.test.label
        );
        assert!(queued.deletion_timestamp.is_some());
        assert_eq!(
            code(env.delete(&ctx, "+12065550100").await),
            "BadRequestException"
        );
        let restored = env.restore(&ctx, "+12065550100").await.unwrap();
        assert_eq!(restored.status.as_deref(), Some("Unassigned"));
        assert_eq!(restored.deletion_timestamp, None);
        assert_eq!(
            code(env.restore(&ctx, "+12065550100").await),
            "BadRequestException"
        );

        env.delete(&ctx, "+12065550100").await.unwrap();
        env.delete(&ctx, "+12065550101").await.unwrap();
        // The job leaves numbers inside their 7 days alone.
        assert_eq!(
            carillon_chime::phone_numbers::run_once(&env.chime)
                .await
                .unwrap(),
            0
        );
        env.test
            .exec(
                "UPDATE chime_phone_numbers SET deletion_at = deletion_at - 604800000 \
                 WHERE e164 = $1",
                &["+12065550100"],
            )
            .await;
        assert_eq!(
            code(env.restore(&ctx, "+12065550100").await),
            "NotFoundException"
        );
        assert_eq!(
            carillon_chime::phone_numbers::run_once(&env.chime)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            code(env.get(&ctx, "+12065550100").await),
            "NotFoundException"
        );
        let (available, _) = env.search(&ctx, us(Some("206"), None, None)).await.unwrap();
        assert_eq!(available, ["+12065550100", "+12065550102"]);
        // The other number is still restorable.
        env.restore(&ctx, "+12065550101").await.unwrap();
        // Another tenant can order the released number.
        let other = env.tenant().await;
        env.provision(&other, "BusinessCalling", &["+12065550100"])
            .await;
        assert_eq!(
            code(env.restore(&other, "+12065550101").await),
            "NotFoundException"
        );
    }
}

#[tokio::test]
async fn settings_countries_and_global_settings() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let empty = env
            .chime
            .get_phone_number_settings(&ctx, Default::default())
            .await
            .unwrap();
        assert_eq!(empty.calling_name, None);
        let set = UpdatePhoneNumberSettingsRequest {
            calling_name: "Example Corp".to_string(),
        };
        env.chime
            .update_phone_number_settings(&ctx, set.clone())
            .await
            .unwrap();
        let got = env
            .chime
            .get_phone_number_settings(&ctx, Default::default())
            .await
            .unwrap();
        assert_eq!(
            got.calling_name.as_deref(),
            Some("Example Corp"),
            "{}",
            env.test.label
        );
        assert!(got.calling_name_updated_timestamp.is_some());
        assert_eq!(
            code(
                env.chime
                    .update_phone_number_settings(&ctx, set.clone())
                    .await
            ),
            "BadRequestException"
        );
        let too_long = UpdatePhoneNumberSettingsRequest {
            calling_name: "A name of sixteen".to_string(),
        };
        assert_eq!(
            code(env.chime.update_phone_number_settings(&ctx, too_long).await),
            "BadRequestException"
        );
        // Settings are per tenant.
        let other = env.tenant().await;
        env.chime
            .update_phone_number_settings(&other, set)
            .await
            .unwrap();

        let countries = |product: &str| {
            let chime = env.chime.clone();
            let ctx = ctx.clone();
            let product = product.to_string();
            async move {
                chime
                    .list_supported_phone_number_countries(
                        &ctx,
                        ListSupportedPhoneNumberCountriesRequest {
                            product_type: product,
                        },
                    )
                    .await
                    .map(|r| {
                        r.phone_number_countries
                            .unwrap()
                            .into_iter()
                            .map(|c| {
                                (
                                    c.country_code.unwrap(),
                                    c.supported_phone_number_types.unwrap(),
                                )
                            })
                            .collect::<Vec<_>>()
                    })
            }
        };
        let bc = countries("BusinessCalling").await.unwrap();
        assert_eq!(
            bc.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            ["PR", "US"]
        );
        let sma = countries("SipMediaApplicationDialIn").await.unwrap();
        assert_eq!(sma.len(), 15);
        assert!(sma.contains(&("KR".to_string(), vec!["TollFree".to_string()])));
        assert!(sma.contains(&("NG".to_string(), vec!["Local".to_string()])));
        assert_eq!(code(countries("Fax").await), "BadRequestException");

        let global = env
            .chime
            .get_global_settings(&ctx, Default::default())
            .await
            .unwrap();
        assert_eq!(global.business_calling.unwrap().cdr_bucket, None);
        env.chime
            .update_global_settings(
                &ctx,
                UpdateGlobalSettingsRequest {
                    business_calling: Some(BusinessCallingSettings {
                        cdr_bucket: Some("example-cdrs".to_string()),
                    }),
                    voice_connector: None,
                },
            )
            .await
            .unwrap();
        let global = env
            .chime
            .get_global_settings(&ctx, Default::default())
            .await
            .unwrap();
        assert_eq!(
            global.business_calling.unwrap().cdr_bucket.as_deref(),
            Some("example-cdrs")
        );
        assert_eq!(global.voice_connector.unwrap().cdr_bucket, None);
        // The calling-name settings survive a global-settings update.
        let name = env
            .chime
            .get_phone_number_settings(&ctx, Default::default())
            .await
            .unwrap();
        assert_eq!(name.calling_name.as_deref(), Some("Example Corp"));
        // Another tenant cannot take our bucket, nor write a bad name.
        for bucket in ["example-cdrs", "Bad_Bucket"] {
            let err = env
                .chime
                .update_global_settings(
                    &other,
                    UpdateGlobalSettingsRequest {
                        business_calling: None,
                        voice_connector: Some(VoiceConnectorSettings {
                            cdr_bucket: Some(bucket.to_string()),
                        }),
                    },
                )
                .await
                .unwrap_err();
            assert_eq!(err.code, "BadRequestException");
            assert!(
                err.message.contains("VoiceConnector.CdrBucket"),
                "{}",
                err.message
            );
        }
        // Turning logging off.
        env.chime
            .update_global_settings(
                &ctx,
                UpdateGlobalSettingsRequest {
                    business_calling: Some(BusinessCallingSettings { cdr_bucket: None }),
                    voice_connector: None,
                },
            )
            .await
            .unwrap();
        let global = env
            .chime
            .get_global_settings(&ctx, Default::default())
            .await
            .unwrap();
        assert_eq!(global.business_calling.unwrap().cdr_bucket, None);
    }
}

#[tokio::test]
async fn the_import_is_idempotent_and_refuses_bad_lines_with_their_numbers() {
    for env in envs().await {
        let again = carillon_chime::carrier::import_csv(&env.test.store, POOL)
            .await
            .unwrap();
        assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 7));
        let text = "+12065550100,US,Local,voice;sms;mms,Seattle,WA
+1206555,US,Local,voice
+12065550200,FR,Local,voice
+12065550201,US,Mobile,voice
+12065550202,US,Local,fax
+18005550200,US,Local,voice
+12065550203,US,TollFree,voice
+442071230005,US,Local,voice
+12065550204,US,Local,
+12065550205,US,Local,voice
+12065550205,US,Local,voice
12065550206,US,Local,voice
";
        let summary = carillon_chime::carrier::import_csv(&env.test.store, text)
            .await
            .unwrap();
        assert_eq!(
            (summary.inserted, summary.updated),
            (1, 1),
            "{}",
            env.test.label
        );
        let lines: Vec<usize> = summary.refused.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8, 9, 11, 12]);
        // A number a tenant holds keeps its description.
        let ctx = env.tenant().await;
        env.provision(&ctx, "BusinessCalling", &["+15035550100"])
            .await;
        let held = carillon_chime::carrier::import_csv(
            &env.test.store,
            "+15035550100,US,Local,voice,Portland,OR\n",
        )
        .await
        .unwrap();
        assert_eq!(held.refused.len(), 1);
        assert!(held.refused[0].reason.contains("inventory"));
    }
}

#[tokio::test]
async fn an_account_holds_at_most_1000_numbers() {
    for env in envs().await {
        let ctx = env.tenant().await;
        // 999 numbers already in the inventory (written straight to the table).
        env.test
            .exec(
                "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 999) \
                 INSERT INTO chime_phone_numbers (account_id, e164, country, number_type, \
                 product_type, status, voice, sms, mms, order_id, created_at, updated_at) \
                 SELECT $1, '+1999' || CAST(1000000 + n AS TEXT), 'US', 'Local', \
                 'VoiceConnector', 'Unassigned', 1, 0, 0, 'seed', 0, 0 FROM seq",
                &[&ctx.account_id],
            )
            .await;
        let err = env
            .order(&ctx, "BusinessCalling", &["+12065550100", "+12065550101"])
            .await
            .unwrap_err();
        assert_eq!(
            err.code, "ResourceLimitExceededException",
            "{}",
            env.test.label
        );
        env.provision(&ctx, "BusinessCalling", &["+12065550100"])
            .await;
        // The deletion queue does not count; restoring into a full inventory does.
        env.delete(&ctx, "+12065550100").await.unwrap();
        env.provision(&ctx, "BusinessCalling", &["+12065550101"])
            .await;
        assert_eq!(
            code(env.restore(&ctx, "+12065550100").await),
            "ResourceLimitExceededException"
        );
    }
}
