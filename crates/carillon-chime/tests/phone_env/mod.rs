//! The environment the phone-number and porting tests share: a Chime service per test store
//! (SQLite, and PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set) whose pool holds the
//! numbers of a CSV import, tenants, and orders waited on until they settle.

#![allow(dead_code)]

use std::time::Duration;

use carillon_awsapi::generated::chime::*;
use carillon_chime::Chime;
use carillon_core::{ApiError, RequestContext};
use carillon_store::testing::{create_account, test_stores, TestStore};

/// A Chime service over one test store (kept alive alongside).
pub struct Env {
    pub chime: Chime,
    pub test: TestStore,
}

/// One environment per test store, its pool filled from `pool_csv` (every line imported).
pub async fn envs(pool_csv: &str) -> Vec<Env> {
    let mut out = Vec::new();
    for test in test_stores().await {
        let summary = carillon_chime::carrier::import_csv(&test.store, pool_csv)
            .await
            .unwrap();
        assert!(summary.refused.is_empty(), "{:?}", summary.refused);
        let chime = Chime::new(test.store.clone()).await.unwrap();
        out.push(Env { chime, test });
    }
    out
}

/// The error code of a result that must be an error.
pub fn code<T: std::fmt::Debug>(result: Result<T, ApiError>) -> String {
    result.expect_err("an error").code.into_owned()
}

impl Env {
    /// A new Carillon account (tenant) and a request context of its admin.
    pub async fn tenant(&self) -> RequestContext {
        let account_id = create_account(&self.test.store).await;
        RequestContext {
            principal_arn: format!("arn:aws:iam::{account_id}:user/admin"),
            account_id,
            access_key_id: "AKIATEST".to_string(),
            region: "us-east-1".to_string(),
            request_id: carillon_core::ids::new_uuid(),
            source_ip: "127.0.0.1".to_string(),
        }
    }

    /// CreatePhoneNumberOrder of `numbers` as `product`.
    pub async fn order(
        &self,
        ctx: &RequestContext,
        product: &str,
        numbers: &[&str],
    ) -> Result<PhoneNumberOrder, ApiError> {
        self.chime
            .create_phone_number_order(
                ctx,
                CreatePhoneNumberOrderRequest {
                    e164_phone_numbers: numbers.iter().map(|n| n.to_string()).collect(),
                    product_type: product.to_string(),
                },
            )
            .await
            .map(|r| r.phone_number_order.unwrap())
    }

    /// The order once it is no longer `Processing` (the carrier works in the background).
    pub async fn settled(&self, ctx: &RequestContext, order_id: &str) -> PhoneNumberOrder {
        for _ in 0..200 {
            let order = self
                .chime
                .get_phone_number_order(
                    ctx,
                    GetPhoneNumberOrderRequest {
                        phone_number_order_id: order_id.to_string(),
                    },
                )
                .await
                .unwrap()
                .phone_number_order
                .unwrap();
            if order.status.as_deref() != Some("Processing") {
                return order;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("order {order_id} still Processing");
    }

    /// Orders `numbers` as `product` and waits for the order to settle `Successful`.
    pub async fn provision(&self, ctx: &RequestContext, product: &str, numbers: &[&str]) {
        let order = self.order(ctx, product, numbers).await.unwrap();
        let settled = self
            .settled(ctx, order.phone_number_order_id.as_deref().unwrap())
            .await;
        assert_eq!(
            settled.status.as_deref(),
            Some("Successful"),
            "{}",
            self.test.label
        );
    }

    /// GetPhoneNumber.
    pub async fn get(&self, ctx: &RequestContext, id: &str) -> Result<PhoneNumber, ApiError> {
        self.chime
            .get_phone_number(
                ctx,
                GetPhoneNumberRequest {
                    phone_number_id: id.to_string(),
                },
            )
            .await
            .map(|r| r.phone_number.unwrap())
    }
}
