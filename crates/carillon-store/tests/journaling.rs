//! Journaling configurations (tenant-scoped), the journaling target delivery reads, and
//! `commit_delivery`: mailbox copies and queue rows in one transaction. On SQLite, and on
//! PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set.

use carillon_store::testing::{test_stores, unique_name, TestStore};
use carillon_store::{JournalingConfigurationRecord, NewMessage, NewOutbound, StoreError};

/// An Active organization with a test domain and one user with a mailbox; returns
/// (account, organization, user).
async fn organization(t: &TestStore) -> (String, String, String) {
    let account = carillon_core::ids::new_account_id();
    let org = carillon_core::ids::new_organization_id();
    let alias = unique_name("j");
    t.insert_account(&account).await;
    t.insert_organization(&account, &org, &alias, "Active")
        .await;
    t.insert_mail_domain(&org, &format!("{alias}.localhost"))
        .await;
    t.exec(
        "UPDATE mail_domains SET is_test_domain = 1 WHERE organization_id = $1",
        &[&org],
    )
    .await;
    let user = unique_name("u");
    t.insert_entity(&org, &user, "USER", "ENABLED", None, None)
        .await;
    t.store.create_mailbox(&org, &user).await.unwrap();
    (account, org, user)
}

fn config(org: &str, journaling: &str) -> JournalingConfigurationRecord {
    JournalingConfigurationRecord {
        organization_id: org.to_string(),
        journaling_address: journaling.to_string(),
        report_address: "admin@corp.test".to_string(),
        updated_at: 1_000,
    }
}

#[tokio::test]
async fn configurations_are_put_read_and_deleted_per_tenant() {
    for t in test_stores().await {
        let (account, org, _) = organization(&t).await;
        let (other, _, _) = organization(&t).await;
        let s = &t.store;
        assert_eq!(
            s.journaling_configuration(&account, &org).await.unwrap(),
            None
        );
        s.put_journaling_configuration(&account, &config(&org, "a@x.test"))
            .await
            .unwrap();
        s.put_journaling_configuration(&account, &config(&org, "b@x.test"))
            .await
            .unwrap();
        assert_eq!(
            s.journaling_configuration(&account, &org).await.unwrap(),
            Some(config(&org, "b@x.test")),
            "{}",
            t.label
        );
        // Another tenant neither reads, replaces nor deletes it.
        assert_eq!(
            s.journaling_configuration(&other, &org).await.unwrap(),
            None
        );
        s.put_journaling_configuration(&other, &config(&org, "evil@x.test"))
            .await
            .unwrap();
        assert!(!s
            .delete_journaling_configuration(&other, &org)
            .await
            .unwrap());
        assert_eq!(
            s.journaling_configuration(&account, &org).await.unwrap(),
            Some(config(&org, "b@x.test"))
        );
        let target = s.journaling_target(&org).await.unwrap().unwrap();
        assert_eq!(target.configuration, config(&org, "b@x.test"));
        assert!(target.test_domain.ends_with(".localhost"));
        assert!(s
            .delete_journaling_configuration(&account, &org)
            .await
            .unwrap());
        assert_eq!(s.journaling_target(&org).await.unwrap(), None);
    }
}

#[tokio::test]
async fn only_active_organizations_are_journaled() {
    for t in test_stores().await {
        let (account, org, _) = organization(&t).await;
        t.store
            .put_journaling_configuration(&account, &config(&org, "a@x.test"))
            .await
            .unwrap();
        t.exec(
            "UPDATE organizations SET state = 'Deleting' WHERE organization_id = $1",
            &[&org],
        )
        .await;
        assert_eq!(
            t.store.journaling_target(&org).await.unwrap(),
            None,
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn a_delivery_commits_copies_and_queue_rows_together_or_not_at_all() {
    for t in test_stores().await {
        let (_, org, user) = organization(&t).await;
        let copy = |folder: &str| NewMessage {
            user_id: user.clone(),
            folder: folder.to_string(),
            blob_key: "messages/k".to_string(),
            size_bytes: 10,
            internal_date: 0,
            flags: vec![],
            message_key: None,
        };
        let row = NewOutbound {
            organization_id: org.clone(),
            envelope_from: "admin@corp.test".to_string(),
            recipient: "vault@archive.test".to_string(),
            blob_key: "messages/j".to_string(),
            next_attempt_at: 0,
            expires_at: 1,
            gateway_id: None,
            message_key: None,
        };
        let failed = t
            .store
            .commit_delivery(
                &[copy("INBOX"), copy("No such folder")],
                std::slice::from_ref(&row),
            )
            .await;
        assert!(
            matches!(failed, Err(StoreError::NotFound(_))),
            "{}",
            t.label
        );
        assert!(t.store.list_outbound(&org).await.unwrap().is_empty());
        assert_eq!(t.store.mailbox_size(&user).await.unwrap(), Some(0));
        t.store
            .commit_delivery(&[copy("INBOX")], &[row])
            .await
            .unwrap();
        assert_eq!(t.store.list_outbound(&org).await.unwrap().len(), 1);
        assert_eq!(t.store.mailbox_size(&user).await.unwrap(), Some(10));
    }
}

#[tokio::test]
async fn group_addresses_and_primary_addresses_are_read_for_reports() {
    for t in test_stores().await {
        let (_, org, user) = organization(&t).await;
        let email = format!("{user}@corp.test");
        t.exec(
            "UPDATE entities SET email = $1 WHERE entity_id = $2",
            &[&email, &user],
        )
        .await;
        let group = unique_name("g");
        t.insert_entity(&org, &group, "GROUP", "ENABLED", None, None)
            .await;
        t.insert_address(&org, &group, &format!("{group}@corp.test"), true)
            .await;
        t.insert_address(&org, &user, &email, true).await;
        assert!(t
            .store
            .is_group_address(&format!("{}@CORP.test", group.to_uppercase()))
            .await
            .unwrap());
        assert!(!t.store.is_group_address(&email).await.unwrap());
        assert_eq!(
            t.store
                .primary_addresses(&[user.clone(), group.clone()])
                .await
                .unwrap(),
            [(user.clone(), email.clone())]
        );
    }
}
