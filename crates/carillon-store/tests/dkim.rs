//! DKIM keys per mail domain and the inbound DMARC enforcement setting. On SQLite, and on
//! PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set.

use carillon_store::testing::{test_stores, unique_name};
use carillon_store::{DkimKeyRecord, DKIM_ACTIVE, DKIM_PENDING, DKIM_RETIRING};

fn key(domain: &str, selector: &str, algorithm: &str) -> DkimKeyRecord {
    DkimKeyRecord {
        domain_name: domain.to_string(),
        selector: selector.to_string(),
        algorithm: algorithm.to_string(),
        private_key: format!("secret-{selector}"),
        public_key: format!("public-{selector}"),
        created_at: 7,
        state: DKIM_ACTIVE.to_string(),
    }
}

#[tokio::test]
async fn dkim_keys_are_replaced_and_only_served_for_registered_domains() {
    for t in test_stores().await {
        let account = carillon_core::ids::new_account_id();
        let org = carillon_core::ids::new_organization_id();
        t.insert_account(&account).await;
        t.insert_organization(&account, &org, &unique_name("d"), "Active")
            .await;
        let domain = format!("{}.test", unique_name("dom"));
        let first = [key(&domain, "a1", "ed25519"), key(&domain, "a2", "rsa")];
        t.store.replace_dkim_keys(&domain, &first).await.unwrap();
        // Not registered: no key is served.
        assert!(t.store.dkim_keys(&domain).await.unwrap().is_empty());

        t.insert_mail_domain(&org, &domain).await;
        assert_eq!(t.store.dkim_keys(&domain).await.unwrap(), first.to_vec());

        let second = [key(&domain, "b1", "ed25519")];
        t.store.replace_dkim_keys(&domain, &second).await.unwrap();
        assert_eq!(t.store.dkim_keys(&domain).await.unwrap(), second.to_vec());
        assert!(!format!("{:?}", second[0]).contains("secret-b1"));
    }
}

#[tokio::test]
async fn inbound_dmarc_enforcement_is_on_by_default_and_can_be_turned_off() {
    for t in test_stores().await {
        let account = carillon_core::ids::new_account_id();
        let org = carillon_core::ids::new_organization_id();
        t.insert_account(&account).await;
        t.insert_organization(&account, &org, &unique_name("d"), "Active")
            .await;
        assert!(t.store.inbound_dmarc_enforced(&org).await.unwrap());
        t.store
            .put_inbound_dmarc_enforced(&account, &org, false, 1)
            .await
            .unwrap();
        assert!(!t.store.inbound_dmarc_enforced(&org).await.unwrap());
        // Another account cannot change it.
        let other = carillon_core::ids::new_account_id();
        t.insert_account(&other).await;
        t.store
            .put_inbound_dmarc_enforced(&other, &org, true, 2)
            .await
            .unwrap();
        assert!(!t.store.inbound_dmarc_enforced(&org).await.unwrap());
        t.store
            .put_inbound_dmarc_enforced(&account, &org, true, 3)
            .await
            .unwrap();
        assert!(t.store.inbound_dmarc_enforced(&org).await.unwrap());
    }
}

#[tokio::test]
async fn a_rotation_activates_the_new_keys_and_retires_the_old_until_removed() {
    for t in test_stores().await {
        let account = carillon_core::ids::new_account_id();
        let org = carillon_core::ids::new_organization_id();
        t.insert_account(&account).await;
        t.insert_organization(&account, &org, &unique_name("d"), "Active")
            .await;
        let domain = format!("{}.test", unique_name("dom"));
        t.insert_mail_domain(&org, &domain).await;
        let old = [key(&domain, "a1", "ed25519"), key(&domain, "a2", "rsa")];
        t.store.replace_dkim_keys(&domain, &old).await.unwrap();
        let new = [key(&domain, "b1", "ed25519"), key(&domain, "b2", "rsa")];
        assert!(t.store.add_pending_dkim_keys(&domain, &new).await.unwrap());
        // One rotation at a time.
        let again = [key(&domain, "c1", "ed25519")];
        assert!(!t
            .store
            .add_pending_dkim_keys(&domain, &again)
            .await
            .unwrap());
        let states = |keys: Vec<DkimKeyRecord>| {
            keys.into_iter()
                .map(|k| (k.selector, k.state))
                .collect::<Vec<_>>()
        };
        let pair = |s: &str, state: &str| (s.to_string(), state.to_string());
        assert_eq!(
            states(t.store.dkim_keys(&domain).await.unwrap()),
            [
                pair("a1", DKIM_ACTIVE),
                pair("a2", DKIM_ACTIVE),
                pair("b1", DKIM_PENDING),
                pair("b2", DKIM_PENDING)
            ],
            "{}",
            t.label
        );
        t.store.activate_pending_dkim_keys(&domain).await.unwrap();
        t.store.activate_pending_dkim_keys(&domain).await.unwrap();
        assert_eq!(
            states(t.store.dkim_keys(&domain).await.unwrap()),
            [
                pair("a1", DKIM_RETIRING),
                pair("a2", DKIM_RETIRING),
                pair("b1", DKIM_ACTIVE),
                pair("b2", DKIM_ACTIVE)
            ],
            "{}",
            t.label
        );
        // Only retiring keys are deleted.
        t.store
            .delete_retiring_dkim_key(&domain, "b1")
            .await
            .unwrap();
        t.store
            .delete_retiring_dkim_key(&domain, "a1")
            .await
            .unwrap();
        assert_eq!(
            states(t.store.dkim_keys(&domain).await.unwrap()),
            [
                pair("a2", DKIM_RETIRING),
                pair("b1", DKIM_ACTIVE),
                pair("b2", DKIM_ACTIVE)
            ],
            "{}",
            t.label
        );
    }
}
