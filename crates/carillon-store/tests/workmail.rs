//! The WorkMail directory store: organizations and their domains, entities and addresses,
//! membership, tags, mail logins and organization deletion. Runs on SQLite, and on
//! PostgreSQL too when `CARILLON_TEST_DATABASE_URL` is set (each run in a fresh schema).

use carillon_store::testing::{create_account, test_stores, unique_name};
use carillon_store::{
    EntityFilter, EntityRecord, MailDomainRecord, OrganizationRecord, Store, StoreError,
};

fn org_record(account_id: &str, alias: &str) -> OrganizationRecord {
    OrganizationRecord {
        organization_id: carillon_core::ids::new_organization_id(),
        account_id: account_id.to_string(),
        alias: Some(alias.to_string()),
        deleted_alias: None,
        state: "Active".into(),
        directory_id: "d-0123456789".into(),
        directory_type: "WorkMailDirectory".into(),
        default_mail_domain: Some(format!("{alias}.localhost")),
        kms_key_arn: None,
        interoperability_enabled: false,
        created_at: 1,
        completed_at: Some(1),
        deleted_at: None,
        client_token: None,
    }
}

fn domain_record(organization_id: &str, name: &str) -> MailDomainRecord {
    MailDomainRecord {
        domain_name: name.to_string(),
        organization_id: organization_id.to_string(),
        is_test_domain: false,
        ownership_token: "token".into(),
        dkim_selectors: vec!["s1".into(), "s2".into(), "s3".into()],
        ownership_verification_status: "VERIFIED".into(),
        dkim_verification_status: "PENDING".into(),
        created_at: 1,
    }
}

fn entity(organization_id: &str, kind: &str, name: &str) -> EntityRecord {
    EntityRecord {
        entity_id: carillon_core::ids::new_uuid(),
        organization_id: organization_id.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        email: None,
        display_name: Some(name.to_uppercase()),
        first_name: None,
        last_name: None,
        state: "DISABLED".into(),
        role: Some("USER".into()),
        password_hash: Some("$argon2id$stub".into()),
        hidden_from_gal: false,
        mailbox_quota_mb: None,
        attributes: "{}".into(),
        created_at: 1,
        enabled_at: None,
        disabled_at: None,
        deleted_name: None,
    }
}

/// An account with one organization and its verified domain; returns (account, org, domain).
async fn org_with_domain(store: &Store) -> (String, OrganizationRecord, String) {
    let account_id = create_account(store).await;
    let alias = unique_name("o");
    let org = org_record(&account_id, &alias);
    let domain = format!("{alias}.example");
    store
        .insert_organization(&org, &[domain_record(&org.organization_id, &domain)])
        .await
        .unwrap();
    (account_id, org, domain)
}

#[tokio::test]
async fn organizations_are_tenant_scoped_and_aliases_unique() {
    for db in test_stores().await {
        let store = &db.store;
        let (account_id, org, domain) = org_with_domain(store).await;
        let other = create_account(store).await;
        assert_eq!(
            store
                .get_organization(&account_id, &org.organization_id)
                .await
                .unwrap(),
            Some(org.clone())
        );
        assert_eq!(
            store
                .get_organization(&other, &org.organization_id)
                .await
                .unwrap(),
            None
        );
        // Same alias: refused, and the domains of the refused organization are not written.
        let clash = org_record(&other, org.alias.as_deref().unwrap());
        let fresh_domain = format!("{}.example", unique_name("f"));
        let refused = store
            .insert_organization(
                &clash,
                &[domain_record(&clash.organization_id, &fresh_domain)],
            )
            .await;
        assert!(matches!(refused, Err(StoreError::Conflict(_))));
        assert_eq!(store.mail_domain_owner(&fresh_domain).await.unwrap(), None);
        assert_eq!(
            store.mail_domain_owner(&domain).await.unwrap(),
            Some(org.organization_id.clone())
        );
        assert_eq!(
            store.count_live_organizations(&account_id).await.unwrap(),
            1
        );
        assert_eq!(store.count_live_organizations(&other).await.unwrap(), 0);
        let listed = store
            .list_organizations(&account_id, None, 10)
            .await
            .unwrap();
        assert_eq!(listed, vec![org.clone()]);
        assert!(store
            .list_organizations(&account_id, Some(&org.organization_id), 10)
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn entities_are_found_by_id_name_or_any_address() {
    for db in test_stores().await {
        let store = &db.store;
        let (_, org, domain) = org_with_domain(store).await;
        let oid = &org.organization_id;
        let user = entity(oid, "USER", "alice");
        store.insert_entity(&user).await.unwrap();
        assert!(matches!(
            store.insert_entity(&entity(oid, "USER", "alice")).await,
            Err(StoreError::Conflict(_))
        ));
        let email = format!("alice@{domain}");
        store
            .register_entity(oid, &user.entity_id, &email, 5)
            .await
            .unwrap();
        store
            .insert_alias(oid, &user.entity_id, &format!("sales@{domain}"))
            .await
            .unwrap();
        for identifier in [
            user.entity_id.clone(),
            "alice".to_string(),
            email.to_uppercase(),
            format!("Sales@{domain}"),
        ] {
            let found = store
                .find_entity(oid, &identifier, &[])
                .await
                .unwrap()
                .unwrap();
            assert_eq!(found.entity_id, user.entity_id, "{identifier}");
            assert_eq!(found.state, "ENABLED");
            assert_eq!(found.email.as_deref(), Some(email.as_str()));
        }
        assert_eq!(
            store.find_entity(oid, "alice", &["GROUP"]).await.unwrap(),
            None
        );
        assert!(matches!(
            store.insert_alias(oid, &user.entity_id, &email).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.count_aliases(&user.entity_id).await.unwrap(), 1);
        assert_eq!(store.count_addresses_on_domain(&domain).await.unwrap(), 2);
        assert!(!store.delete_unused_mail_domain(oid, &domain).await.unwrap());

        // Swap: an alias becomes primary, the old primary an alias.
        store
            .set_primary_address(oid, &user.entity_id, &format!("sales@{domain}"))
            .await
            .unwrap();
        assert_eq!(
            store.list_aliases(&user.entity_id, None, 10).await.unwrap(),
            vec![email.clone()]
        );
        assert!(!store
            .delete_alias(oid, &user.entity_id, &format!("sales@{domain}"))
            .await
            .unwrap());

        // Deregistering frees every address; deleting frees the name.
        store
            .deregister_entity(oid, &user.entity_id, 6)
            .await
            .unwrap();
        assert_eq!(store.address_owner(&email).await.unwrap(), None);
        assert_eq!(store.count_addresses_on_domain(&domain).await.unwrap(), 0);
        store
            .mark_entity_deleted(oid, &user.entity_id, 7)
            .await
            .unwrap();
        assert!(!store.entity_name_taken(oid, "alice").await.unwrap());
        let deleted = store
            .find_entity(oid, &user.entity_id, &["USER"])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(deleted.state, "DELETED");
        assert_eq!(deleted.deleted_name.as_deref(), Some("alice"));
        assert_eq!(deleted.password_hash, None);
        assert!(store.delete_unused_mail_domain(oid, &domain).await.unwrap());
    }
}

#[tokio::test]
async fn listing_filters_are_literal_case_sensitive_prefixes() {
    for db in test_stores().await {
        let store = &db.store;
        let (_, org, _) = org_with_domain(store).await;
        let oid = &org.organization_id;
        for name in ["a%b", "aXb", "A_c", "abc"] {
            store
                .insert_entity(&entity(oid, "USER", name))
                .await
                .unwrap();
        }
        store
            .insert_entity(&entity(oid, "GROUP", "a-group"))
            .await
            .unwrap();
        let names = |prefix: &str| {
            let filter = EntityFilter {
                kind: "USER".into(),
                name_prefix: Some(prefix.to_string()),
                ..Default::default()
            };
            async move {
                store
                    .list_entities(oid, &filter, None, 10)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| e.name)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(names("a%").await, vec!["a%b"]);
        assert_eq!(names("A").await, vec!["A_c"]);
        assert_eq!(names("a").await, vec!["a%b", "aXb", "abc"]);
        let page = store
            .list_entities(
                oid,
                &EntityFilter {
                    kind: "USER".into(),
                    ..Default::default()
                },
                Some("aXb"),
                10,
            )
            .await
            .unwrap();
        assert_eq!(
            page.into_iter().map(|e| e.name).collect::<Vec<_>>(),
            vec!["abc"]
        );
    }
}

#[tokio::test]
async fn tags_over_the_limit_write_nothing() {
    for db in test_stores().await {
        let store = &db.store;
        let (account_id, org, _) = org_with_domain(store).await;
        let arn = format!(
            "arn:aws:workmail:us-east-1:{account_id}:organization/{}",
            org.organization_id
        );
        let tags = |n: usize, tag: &str| -> Vec<(String, String)> {
            (0..n)
                .map(|i| (format!("{tag}{i}"), "v".to_string()))
                .collect()
        };
        assert_eq!(
            store
                .put_tags(&account_id, &arn, &tags(3, "a"), 4)
                .await
                .unwrap(),
            3
        );
        assert!(matches!(
            store.put_tags(&account_id, &arn, &tags(2, "b"), 4).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.list_tags(&account_id, &arn).await.unwrap().len(), 3);
        store
            .delete_tags(&account_id, &arn, &["a0".to_string()])
            .await
            .unwrap();
        assert_eq!(
            store.list_tags(&account_id, &arn).await.unwrap(),
            vec![("a1".into(), "v".into()), ("a2".into(), "v".into())]
        );
        assert!(store
            .list_tags(&create_account(store).await, &arn)
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn mail_logins_and_organization_deletion() {
    for db in test_stores().await {
        let store = &db.store;
        let (account_id, org, domain) = org_with_domain(store).await;
        let oid = &org.organization_id;
        let user = entity(oid, "USER", "alice");
        store.insert_entity(&user).await.unwrap();
        let group = entity(oid, "GROUP", "team");
        store.insert_entity(&group).await.unwrap();
        store
            .add_group_member(oid, &group.entity_id, &user.entity_id)
            .await
            .unwrap();
        store.create_mailbox(oid, &user.entity_id).await.unwrap();
        let email = format!("alice@{domain}");
        store
            .register_entity(oid, &user.entity_id, &email, 5)
            .await
            .unwrap();
        store
            .insert_alias(oid, &user.entity_id, &format!("al@{domain}"))
            .await
            .unwrap();
        let login = store
            .find_mail_login(&format!("AL@{domain}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(login.user_id, user.entity_id);
        assert_eq!(login.account_id, account_id);
        assert_eq!(login.organization_state, "Active");
        assert_eq!(login.user_state, "ENABLED");
        assert!(login.has_mailbox);
        assert_eq!(login.email.as_deref(), Some(email.as_str()));
        assert_eq!(login.addresses, vec![format!("al@{domain}"), email.clone()]);
        assert_eq!(
            store.group_edges(oid).await.unwrap(),
            vec![(group.entity_id.clone(), user.entity_id.clone())]
        );

        let arn = format!("arn:aws:workmail:us-east-1:{account_id}:organization/{oid}");
        store
            .put_tags(&account_id, &arn, &[("k".into(), "v".into())], 50)
            .await
            .unwrap();
        assert!(matches!(
            store
                .delete_organization(&create_account(store).await, oid, &arn, 9)
                .await,
            Err(StoreError::NotFound(_))
        ));
        store
            .delete_organization(&account_id, oid, &arn, 9)
            .await
            .unwrap();
        let deleted = store
            .get_organization(&account_id, oid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(deleted.state, "Deleted");
        assert_eq!(deleted.alias, None);
        assert_eq!(deleted.deleted_alias, org.alias);
        assert_eq!(deleted.deleted_at, Some(9));
        assert!(store.find_mail_login(&email).await.unwrap().is_none());
        assert_eq!(store.mailbox_size(&user.entity_id).await.unwrap(), None);
        assert_eq!(store.mail_domain_owner(&domain).await.unwrap(), None);
        assert!(store.list_tags(&account_id, &arn).await.unwrap().is_empty());
        assert_eq!(
            store.count_live_organizations(&account_id).await.unwrap(),
            0
        );
        // The alias is free for a new organization.
        let again = org_record(&account_id, org.alias.as_deref().unwrap());
        store.insert_organization(&again, &[]).await.unwrap();
    }
}
