//! The phone-number tables of migration 0020 through the store's functions, on SQLite and
//! (when `CARILLON_TEST_DATABASE_URL` is set) PostgreSQL: the pool (import outcomes,
//! holding, release, port-in conflicts), orders settling their status from their numbers,
//! the inventory guarded by status, one number per user with chime_users kept in step, the
//! deletion queue, settings, and tenant scoping. Spec: chime-zh.md §1.12, §4.

use carillon_store::chime::phone_numbers::{
    AssociateOutcome, Capabilities, ImportOutcome, NewOrder, OrderRecord, PhoneNumberFilter,
    PhoneNumberRecord, PhoneSettingsRecord, PoolNumber, PoolQuery,
};
use carillon_store::testing::{create_account, test_stores, TestStore};
use carillon_store::StoreError;

fn pool(e164: &str, city: &str) -> PoolNumber {
    PoolNumber {
        e164: e164.to_string(),
        country: "US".to_string(),
        number_type: "Local".to_string(),
        capabilities: Capabilities {
            voice: true,
            sms: true,
            mms: false,
        },
        city: Some(city.to_string()),
        state: Some("WA".to_string()),
        account_id: None,
        source: "Import".to_string(),
    }
}

fn inventory(account_id: &str, e164: &str, order_id: &str, status: &str) -> PhoneNumberRecord {
    PhoneNumberRecord {
        account_id: account_id.to_string(),
        e164: e164.to_string(),
        country: "US".to_string(),
        number_type: "Local".to_string(),
        product_type: "BusinessCalling".to_string(),
        status: status.to_string(),
        capabilities: Capabilities::default(),
        calling_name: None,
        calling_name_updated_at: None,
        user_id: None,
        chime_account_id: None,
        associated_at: None,
        order_id: order_id.to_string(),
        deletion_at: None,
        created_at: 1,
        updated_at: 1,
    }
}

fn new_order(account_id: &str, order_id: &str, numbers: &[&str]) -> NewOrder {
    NewOrder {
        order: OrderRecord {
            order_id: order_id.to_string(),
            account_id: account_id.to_string(),
            product_type: "BusinessCalling".to_string(),
            status: "Processing".to_string(),
            numbers: numbers
                .iter()
                .map(|n| (n.to_string(), "Processing".to_string()))
                .collect(),
            created_at: 1,
            updated_at: 1,
        },
        inventory: numbers
            .iter()
            .map(|n| inventory(account_id, n, order_id, "AcquireInProgress"))
            .collect(),
    }
}

/// Every available US number of the pool.
async fn available(test: &TestStore) -> Vec<String> {
    test.store
        .available_pool_numbers(&PoolQuery {
            country: "US".to_string(),
            limit: 10,
            ..PoolQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.e164)
        .collect()
}

#[tokio::test]
async fn the_pool_imports_idempotently_and_holds_numbers_for_one_tenant() {
    for test in test_stores().await {
        let store = &test.store;
        let a = create_account(store).await;
        let b = create_account(store).await;
        let first = pool("+12065550100", "Seattle");
        assert_eq!(
            store.import_pool_number(&first, 1).await.unwrap(),
            ImportOutcome::Inserted
        );
        assert_eq!(
            store.import_pool_number(&first, 2).await.unwrap(),
            ImportOutcome::Unchanged
        );
        let moved = pool("+12065550100", "Tacoma");
        assert_eq!(
            store.import_pool_number(&moved, 3).await.unwrap(),
            ImportOutcome::Updated
        );
        store
            .import_pool_number(&pool("+12065550101", "Seattle"), 3)
            .await
            .unwrap();
        let by_city = store
            .available_pool_numbers(&PoolQuery {
                country: "US".to_string(),
                city: Some("TACOMA".to_string()),
                e164_prefix: Some("+1206".to_string()),
                limit: 10,
                ..PoolQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(by_city.len(), 1, "{}", test.label);
        assert_eq!(by_city[0].city.as_deref(), Some("Tacoma"));

        assert!(store.hold_pool_number("+12065550100", &a, 4).await.unwrap());
        assert!(store.hold_pool_number("+12065550100", &a, 5).await.unwrap());
        assert!(!store.hold_pool_number("+12065550100", &b, 5).await.unwrap());
        assert!(!store.hold_pool_number("+19995550100", &a, 5).await.unwrap());
        assert_eq!(available(&test).await, ["+12065550101"]);
        assert_eq!(
            store.import_pool_number(&first, 6).await.unwrap(),
            ImportOutcome::Held
        );
        assert!(!store
            .release_pool_number("+12065550100", &b, 7)
            .await
            .unwrap());
        assert!(store
            .release_pool_number("+12065550100", &a, 7)
            .await
            .unwrap());
        assert_eq!(available(&test).await, ["+12065550100", "+12065550101"]);

        // Port-in: a number another tenant holds is a conflict, and nothing is written.
        store.hold_pool_number("+12065550101", &b, 8).await.unwrap();
        let ported = vec![
            pool("+14255550100", "Bellevue"),
            pool("+12065550101", "Seattle"),
        ];
        let err = store
            .port_in_pool_numbers(&a, &ported, 9)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(store.pool_number("+14255550100").await.unwrap(), None);
        store
            .port_in_pool_numbers(&a, &ported[..1], 9)
            .await
            .unwrap();
        let held = store.pool_number("+14255550100").await.unwrap().unwrap();
        assert_eq!(held.account_id.as_deref(), Some(a.as_str()));
        assert_eq!(held.source, "PortIn");
        store
            .remove_pool_numbers(&a, &["+14255550100".to_string()])
            .await
            .unwrap();
        assert_eq!(store.pool_number("+14255550100").await.unwrap(), None);
    }
}

#[tokio::test]
async fn orders_settle_from_their_numbers_and_inventory_is_tenant_scoped() {
    for test in test_stores().await {
        let store = &test.store;
        let a = create_account(store).await;
        let b = create_account(store).await;
        store
            .create_phone_number_order(&new_order(&a, "o1", &["+12065550100", "+12065550101"]))
            .await
            .unwrap();
        assert_eq!(store.count_phone_numbers(&a).await.unwrap(), 2);
        assert_eq!(
            store.processing_phone_number_orders().await.unwrap(),
            [(a.clone(), "o1".to_string())]
        );
        // Another tenant cannot settle our order.
        store
            .settle_ordered_number(&b, "o1", "+12065550100", true, 2)
            .await
            .unwrap();
        let order = store.phone_number_order(&a, "o1").await.unwrap().unwrap();
        assert_eq!(order.numbers[0].1, "Processing", "{}", test.label);
        store
            .settle_ordered_number(&a, "o1", "+12065550100", true, 2)
            .await
            .unwrap();
        assert_eq!(
            store
                .phone_number_order(&a, "o1")
                .await
                .unwrap()
                .unwrap()
                .status,
            "Processing"
        );
        store
            .settle_ordered_number(&a, "o1", "+12065550101", false, 3)
            .await
            .unwrap();
        // Settling twice changes nothing.
        store
            .settle_ordered_number(&a, "o1", "+12065550101", true, 4)
            .await
            .unwrap();
        let order = store.phone_number_order(&a, "o1").await.unwrap().unwrap();
        assert_eq!(order.status, "Partial");
        assert_eq!(
            order.numbers,
            [
                ("+12065550100".to_string(), "Acquired".to_string()),
                ("+12065550101".to_string(), "Failed".to_string())
            ]
        );
        assert!(store
            .processing_phone_number_orders()
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.phone_number_order(&b, "o1").await.unwrap(), None);
        assert_eq!(store.phone_number(&b, "+12065550100").await.unwrap(), None);
        let statuses: Vec<String> = store
            .list_phone_numbers(
                &a,
                &PhoneNumberFilter {
                    limit: 10,
                    ..PhoneNumberFilter::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.status)
            .collect();
        assert_eq!(statuses, ["Unassigned", "AcquireFailed"]);
        assert_eq!(store.count_phone_numbers(&a).await.unwrap(), 1);

        // A new order replaces a failed row but not a live one.
        store
            .create_phone_number_order(&new_order(&a, "o2", &["+12065550101"]))
            .await
            .unwrap();
        let err = store
            .create_phone_number_order(&new_order(&a, "o3", &["+12065550100"]))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(store.phone_number_order(&a, "o3").await.unwrap(), None);
        assert_eq!(
            store
                .list_phone_number_orders(&a, Some("o1"), 10)
                .await
                .unwrap()
                .len(),
            1
        );
        // A listing carries each order whole, numbers included, as a single read does.
        let mut one_by_one = Vec::new();
        for id in ["o1", "o2"] {
            one_by_one.push(store.phone_number_order(&a, id).await.unwrap().unwrap());
        }
        assert_eq!(
            store.list_phone_number_orders(&a, None, 10).await.unwrap(),
            one_by_one
        );

        // Writes are guarded by the expected status.
        let mut n = store
            .phone_number(&a, "+12065550100")
            .await
            .unwrap()
            .unwrap();
        n.status = "DeleteInProgress".to_string();
        n.deletion_at = Some(100);
        assert!(!store.update_phone_number(&n, "Assigned").await.unwrap());
        assert!(store.update_phone_number(&n, "Unassigned").await.unwrap());
        assert_eq!(store.count_phone_numbers(&a).await.unwrap(), 1);
        assert_eq!(
            store.due_phone_number_deletions(99).await.unwrap(),
            Vec::<(String, String)>::new()
        );
        assert_eq!(
            store.due_phone_number_deletions(100).await.unwrap(),
            [(a.clone(), "+12065550100".to_string())]
        );
        assert!(!store
            .remove_deleted_phone_number(&a, "+12065550100", 99)
            .await
            .unwrap());
        assert!(store
            .remove_deleted_phone_number(&a, "+12065550100", 100)
            .await
            .unwrap());
        assert_eq!(store.phone_number(&a, "+12065550100").await.unwrap(), None);
    }
}

#[tokio::test]
async fn one_number_per_user_kept_in_step_with_chime_users() {
    for test in test_stores().await {
        let store = &test.store;
        let a = create_account(store).await;
        test.exec(
            "INSERT INTO chime_accounts (chime_account_id, account_id, name, account_type, \
             account_status, default_license, created_at) \
             VALUES ('c1', $1, 'Calls', 'Team', 'Active', 'Pro', 0)",
            &[&a],
        )
        .await;
        for (user, email) in [("u1", "u1@example.com"), ("u2", "u2@example.com")] {
            test.exec(
                "INSERT INTO chime_users (user_id, account_id, chime_account_id, primary_email, \
                 registration_status, personal_pin, created_at, updated_at) \
                 VALUES ($1, $2, 'c1', $3, 'Registered', '0123456789', 0, 0)",
                &[user, &a, email],
            )
            .await;
        }
        store
            .create_phone_number_order(&new_order(&a, "o1", &["+12065550100", "+12065550101"]))
            .await
            .unwrap();
        assert_eq!(
            store
                .associate_phone_number(&a, "c1", "u1", "+12065550100", 5)
                .await
                .unwrap(),
            AssociateOutcome::NumberUnavailable,
            "{}",
            test.label
        );
        for n in ["+12065550100", "+12065550101"] {
            store
                .settle_ordered_number(&a, "o1", n, true, 2)
                .await
                .unwrap();
        }
        assert_eq!(
            store
                .associate_phone_number(&a, "c1", "nobody", "+12065550100", 5)
                .await
                .unwrap(),
            AssociateOutcome::NoUser
        );
        assert_eq!(
            store
                .associate_phone_number(&a, "c1", "u1", "+12065550100", 5)
                .await
                .unwrap(),
            AssociateOutcome::Associated
        );
        assert_eq!(
            store
                .associate_phone_number(&a, "c1", "u1", "+12065550101", 6)
                .await
                .unwrap(),
            AssociateOutcome::UserHasNumber
        );
        assert_eq!(
            store
                .associate_phone_number(&a, "c1", "u2", "+12065550100", 6)
                .await
                .unwrap(),
            AssociateOutcome::NumberUnavailable
        );
        let primary: Option<String> = sqlx::query_scalar(
            "SELECT primary_provisioned_number FROM chime_users WHERE user_id = 'u1'",
        )
        .fetch_one(test.pool())
        .await
        .unwrap();
        assert_eq!(primary.as_deref(), Some("+12065550100"));
        let of_user = store
            .list_phone_numbers(
                &a,
                &PhoneNumberFilter {
                    user_id: Some("u1".to_string()),
                    limit: 10,
                    ..PhoneNumberFilter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(of_user.len(), 1);
        assert_eq!(of_user[0].status, "Assigned");
        assert_eq!(of_user[0].chime_account_id.as_deref(), Some("c1"));

        assert_eq!(
            store
                .disassociate_phone_number(&a, "u1", 7)
                .await
                .unwrap()
                .as_deref(),
            Some("+12065550100")
        );
        assert_eq!(
            store.disassociate_phone_number(&a, "u1", 8).await.unwrap(),
            None
        );
        let primary: Option<String> = sqlx::query_scalar(
            "SELECT primary_provisioned_number FROM chime_users WHERE user_id = 'u1'",
        )
        .fetch_one(test.pool())
        .await
        .unwrap();
        assert_eq!(primary, None);
        assert!(store.chime_user_exists(&a, "c1", "u2").await.unwrap());
        let b = create_account(store).await;
        assert!(!store.chime_user_exists(&b, "c1", "u2").await.unwrap());
    }
}

#[tokio::test]
async fn settings_are_per_tenant() {
    for test in test_stores().await {
        let store = &test.store;
        let a = create_account(store).await;
        let b = create_account(store).await;
        assert_eq!(
            store.phone_settings(&a).await.unwrap(),
            PhoneSettingsRecord::default()
        );
        let settings = PhoneSettingsRecord {
            calling_name: Some("Example".to_string()),
            calling_name_updated_at: Some(5),
            business_calling_cdr_bucket: Some("cdrs".to_string()),
            voice_connector_cdr_bucket: None,
        };
        store.put_phone_settings(&a, &settings, 5).await.unwrap();
        store.put_phone_settings(&a, &settings, 6).await.unwrap();
        assert_eq!(
            store.phone_settings(&a).await.unwrap(),
            settings,
            "{}",
            test.label
        );
        assert_eq!(
            store.phone_settings(&b).await.unwrap(),
            PhoneSettingsRecord::default()
        );
    }
}
