//! Identity records: accounts with their first principal (atomic), principals in existing
//! accounts, access-key lookup and status, policy attachments scoped by account, and the
//! audit trail's paging and tenant isolation. Runs on SQLite, and on PostgreSQL too when
//! `CARILLON_TEST_DATABASE_URL` is set (fresh schema per test).

use carillon_store::testing::{test_stores, unique_name};
use carillon_store::{
    AccountRecord, AuditCursor, AuditEventRecord, NewPrincipal, StoreError, ACCESS_KEY_ACTIVE,
    ACCESS_KEY_INACTIVE,
};

fn account(id: &str, name: &str) -> AccountRecord {
    AccountRecord {
        account_id: id.to_string(),
        name: name.to_string(),
        created_at: 1_700_000_000_000,
    }
}

fn principal(account_id: &str, name: &str, key_id: &str, policies: &[&str]) -> NewPrincipal {
    NewPrincipal {
        account_id: account_id.to_string(),
        arn: format!("arn:aws:iam::{account_id}:user/{name}"),
        name: name.to_string(),
        policy_names: policies.iter().map(|p| p.to_string()).collect(),
        access_key_id: key_id.to_string(),
        secret_access_key: format!("secret-of-{key_id}"),
        created_at: 1_700_000_000_001,
    }
}

#[tokio::test]
async fn accounts_principals_and_keys() {
    for db in test_stores().await {
        let s = &db.store;
        let admin = principal(
            "111111111111",
            "admin",
            "AKIAAAAAAAAAAAAAAAA1",
            &["AdministratorAccess"],
        );
        s.create_account_with_principal(&account("111111111111", "bootstrap"), &admin)
            .await
            .unwrap();
        assert_eq!(
            s.account_by_name("bootstrap").await.unwrap(),
            Some(account("111111111111", "bootstrap"))
        );
        assert_eq!(
            s.account("111111111111").await.unwrap().unwrap().name,
            "bootstrap"
        );
        assert_eq!(s.account("999999999999").await.unwrap(), None);

        let key = s.access_key("AKIAAAAAAAAAAAAAAAA1").await.unwrap().unwrap();
        assert_eq!(key.account_id, "111111111111");
        assert_eq!(key.principal_arn, "arn:aws:iam::111111111111:user/admin");
        assert_eq!(key.secret_access_key, "secret-of-AKIAAAAAAAAAAAAAAAA1");
        assert_eq!(key.status, ACCESS_KEY_ACTIVE);
        assert!(
            !format!("{key:?}").contains("secret-of"),
            "Debug must hide the secret"
        );
        assert!(!format!("{admin:?}").contains("secret-of"));
        assert_eq!(s.access_key("AKIANOSUCHKEY0000000").await.unwrap(), None);

        // Same name again: nothing of the second attempt is written.
        let dup = principal(
            "222222222222",
            "admin",
            "AKIAAAAAAAAAAAAAAAA2",
            &["AdministratorAccess"],
        );
        let err = s
            .create_account_with_principal(&account("222222222222", "bootstrap"), &dup)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(s.account("222222222222").await.unwrap(), None);
        assert_eq!(s.access_key("AKIAAAAAAAAAAAAAAAA2").await.unwrap(), None);

        // A second principal in the account, then one in an account that does not exist.
        let reader = principal(
            "111111111111",
            "reader",
            "AKIAAAAAAAAAAAAAAAA3",
            &["AmazonWorkMailReadOnlyAccess"],
        );
        s.create_principal(&reader).await.unwrap();
        let err = s.create_principal(&reader).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        let orphan = principal("333333333333", "x", "AKIAAAAAAAAAAAAAAAA4", &[]);
        assert!(matches!(
            s.create_principal(&orphan).await.unwrap_err(),
            StoreError::NotFound(_)
        ));

        s.set_access_key_status("111111111111", "AKIAAAAAAAAAAAAAAAA3", ACCESS_KEY_INACTIVE)
            .await
            .unwrap();
        assert_eq!(
            s.access_key("AKIAAAAAAAAAAAAAAAA3")
                .await
                .unwrap()
                .unwrap()
                .status,
            ACCESS_KEY_INACTIVE
        );
        // Another account cannot touch the key.
        assert!(matches!(
            s.set_access_key_status("222222222222", "AKIAAAAAAAAAAAAAAAA1", ACCESS_KEY_INACTIVE)
                .await
                .unwrap_err(),
            StoreError::NotFound(_)
        ));
    }
}

#[tokio::test]
async fn policy_attachments_are_scoped_by_account() {
    for db in test_stores().await {
        let s = &db.store;
        let p = principal(
            "444444444444",
            "ops",
            "AKIAAAAAAAAAAAAAAAB1",
            &["AmazonWorkMailReadOnlyAccess", "AmazonChimeReadOnly"],
        );
        s.create_account_with_principal(&account("444444444444", "ops"), &p)
            .await
            .unwrap();
        s.create_account_with_principal(
            &account("555555555555", "other"),
            &principal(
                "555555555555",
                "admin",
                "AKIAAAAAAAAAAAAAAAB2",
                &["AdministratorAccess"],
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            s.principal_policy_names("444444444444", &p.arn)
                .await
                .unwrap(),
            ["AmazonChimeReadOnly", "AmazonWorkMailReadOnlyAccess"]
        );
        assert!(s
            .principal_policy_names("555555555555", &p.arn)
            .await
            .unwrap()
            .is_empty());
    }
}

fn event(account_id: &str, time: i64, id: &str) -> AuditEventRecord {
    AuditEventRecord {
        event_id: id.to_string(),
        account_id: account_id.to_string(),
        event_time: time,
        event_source: "workmail.amazonaws.com".to_string(),
        event_name: "ListUsers".to_string(),
        record: format!(r#"{{"eventID":"{id}"}}"#),
    }
}

#[tokio::test]
async fn audit_events_page_in_order_per_account() {
    for db in test_stores().await {
        let s = &db.store;
        let suffix = unique_name("");
        let ids: Vec<String> = (0..5).map(|i| format!("e{i}-{suffix}")).collect();
        // Inserted out of order; two share a timestamp.
        for (time, id) in [
            (3000, &ids[3]),
            (1000, &ids[0]),
            (2000, &ids[2]),
            (2000, &ids[1]),
            (4000, &ids[4]),
        ] {
            s.insert_audit_event(&event("666666666666", time, id))
                .await
                .unwrap();
        }
        s.insert_audit_event(&event("777777777777", 1500, &format!("x-{suffix}")))
            .await
            .unwrap();
        assert!(matches!(
            s.insert_audit_event(&event("666666666666", 1, &ids[0]))
                .await
                .unwrap_err(),
            StoreError::Conflict(_)
        ));

        let first = s.list_audit_events("666666666666", None, 2).await.unwrap();
        assert_eq!(
            first
                .iter()
                .map(|e| e.event_id.as_str())
                .collect::<Vec<_>>(),
            [ids[0].as_str(), ids[1].as_str()]
        );
        assert_eq!(first[0], event("666666666666", 1000, &ids[0]));
        let last = first.last().unwrap();
        let cursor = AuditCursor {
            event_time: last.event_time,
            event_id: last.event_id.clone(),
        };
        let rest = s
            .list_audit_events("666666666666", Some(&cursor), 10)
            .await
            .unwrap();
        assert_eq!(
            rest.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
            [ids[2].as_str(), ids[3].as_str(), ids[4].as_str()]
        );
        let other = s.list_audit_events("777777777777", None, 10).await.unwrap();
        assert_eq!(other.len(), 1);
        assert!(s
            .list_audit_events("888888888888", None, 10)
            .await
            .unwrap()
            .is_empty());
    }
}
