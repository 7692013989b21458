//! What the phone-number and porting tests add to [`crate::support`]: a pool holding the
//! numbers of a CSV import, and orders waited on until they settle.

#![allow(dead_code)]

use std::time::Duration;

use carillon_awsapi::generated::chime::*;
use carillon_core::{ApiError, RequestContext};
use carillon_store::testing::test_stores;

use crate::support::Env;

/// One environment per test store, its pool filled from `pool_csv` (every line imported).
pub async fn envs(pool_csv: &str) -> Vec<Env> {
    let mut out = Vec::new();
    for test in test_stores().await {
        let summary = carillon_chime::carrier::import_csv(&test.store, pool_csv)
            .await
            .unwrap();
        assert!(summary.refused.is_empty(), "{:?}", summary.refused);
        out.push(Env::new(test).await);
    }
    out
}

impl Env {
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
