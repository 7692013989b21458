//! Email monitoring configuration per organization (workmail.md §4.1). On SQLite, and on
//! PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set.

use carillon_store::testing::{test_stores, unique_name};
use carillon_store::EmailMonitoringRecord;

fn record(account: &str, group: &str, role: Option<&str>) -> EmailMonitoringRecord {
    EmailMonitoringRecord {
        account_id: account.to_string(),
        log_group_arn: format!("arn:aws:logs:us-east-1:{account}:log-group:{group}:*"),
        role_arn: role.map(str::to_string),
    }
}

#[tokio::test]
async fn monitoring_is_put_replaced_and_deleted_within_its_account() {
    for t in test_stores().await {
        let (account, other) = (
            carillon_core::ids::new_account_id(),
            carillon_core::ids::new_account_id(),
        );
        let org = carillon_core::ids::new_organization_id();
        t.insert_account(&account).await;
        t.insert_account(&other).await;
        t.insert_organization(&account, &org, &unique_name("mon"), "Active")
            .await;
        assert_eq!(t.store.email_monitoring(&org).await.unwrap(), None);

        let first = record(&account, "/aws/workmail/emailevents/a", None);
        t.store.put_email_monitoring(&org, &first, 1).await.unwrap();
        assert_eq!(t.store.email_monitoring(&org).await.unwrap(), Some(first));
        let second = record(&account, "/team/mail", Some("arn:aws:iam::1:role/r"));
        t.store
            .put_email_monitoring(&org, &second, 2)
            .await
            .unwrap();
        assert_eq!(
            t.store.email_monitoring(&org).await.unwrap(),
            Some(second.clone())
        );

        // Another account can neither replace nor delete it.
        let foreign = record(&other, "/x", None);
        t.store
            .put_email_monitoring(&org, &foreign, 3)
            .await
            .unwrap();
        t.store.delete_email_monitoring(&other, &org).await.unwrap();
        assert_eq!(t.store.email_monitoring(&org).await.unwrap(), Some(second));

        t.store
            .delete_email_monitoring(&account, &org)
            .await
            .unwrap();
        assert_eq!(t.store.email_monitoring(&org).await.unwrap(), None);
    }
}
