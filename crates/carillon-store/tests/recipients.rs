//! Recipient resolution for delivery: local domains, users, aliases, groups (nested, with a
//! cycle), disabled entities and inactive organizations. Runs on SQLite, and on PostgreSQL too
//! when `CARILLON_TEST_DATABASE_URL` is set (each run in a fresh schema).

use carillon_store::testing::{test_stores, unique_name, TestStore};
use carillon_store::{LocalMailbox, Resolution};

/// Directory fixture: an account, an organization (state given) and its domain.
async fn org(db: &TestStore, org_id: &str, domain: &str, state: &str) {
    let account = format!("acct-{org_id}");
    db.insert_account(&account).await;
    db.insert_organization(&account, org_id, org_id, state)
        .await;
    db.insert_mail_domain(org_id, domain).await;
}

/// An entity with a primary address; a USER in state ENABLED also gets a mailbox.
async fn entity(db: &TestStore, org_id: &str, id: &str, kind: &str, state: &str, address: &str) {
    db.insert_entity(org_id, id, kind, state, Some(address), None)
        .await;
    db.insert_address(org_id, id, address, true).await;
    if kind == "USER" && state == "ENABLED" {
        db.store.create_mailbox(org_id, id).await.unwrap();
    }
}

fn users(resolution: Resolution) -> Vec<String> {
    match resolution {
        Resolution::Mailboxes(m) => {
            let mut ids: Vec<String> = m.into_iter().map(|m| m.user_id).collect();
            ids.sort();
            ids
        }
        other => panic!("expected mailboxes, got {other:?}"),
    }
}

#[tokio::test]
async fn resolves_users_aliases_groups_and_refuses_disabled() {
    for db in test_stores().await {
        let (s, p) = (&db.store, &db);
        let o = unique_name("m-");
        let domain = format!("{o}.example");
        let a = |local: &str| format!("{local}@{domain}");
        org(p, &o, &domain, "Active").await;
        let id = |n: &str| format!("{o}-{n}");
        entity(p, &o, &id("alice"), "USER", "ENABLED", &a("alice")).await;
        entity(p, &o, &id("bob"), "USER", "ENABLED", &a("bob")).await;
        entity(p, &o, &id("carol"), "USER", "ENABLED", &a("carol")).await;
        entity(p, &o, &id("dave"), "USER", "DISABLED", &a("dave")).await;
        p.insert_address(&o, &id("alice"), &a("sales"), false).await;
        p.exec(
            "UPDATE entities SET mailbox_quota_mb = 10 WHERE entity_id = $1",
            &[&id("alice")],
        )
        .await;
        // team = {bob, inner}; inner = {carol, dave (disabled), team (cycle), alice}
        entity(p, &o, &id("team"), "GROUP", "ENABLED", &a("team")).await;
        entity(p, &o, &id("inner"), "GROUP", "ENABLED", &a("inner")).await;
        entity(p, &o, &id("off"), "GROUP", "DISABLED", &a("off")).await;
        p.insert_group_member(&o, &id("team"), &id("bob")).await;
        p.insert_group_member(&o, &id("team"), &id("inner")).await;
        p.insert_group_member(&o, &id("inner"), &id("carol")).await;
        p.insert_group_member(&o, &id("inner"), &id("dave")).await;
        p.insert_group_member(&o, &id("inner"), &id("team")).await;
        p.insert_group_member(&o, &id("inner"), &id("alice")).await;
        p.insert_group_member(&o, &id("inner"), &id("bob")).await;
        p.insert_group_member(&o, &id("off"), &id("bob")).await;

        assert!(s.is_local_domain(&domain.to_uppercase()).await.unwrap());
        assert!(!s.is_local_domain("elsewhere.example").await.unwrap());

        assert_eq!(
            s.resolve_recipient(&a("alice")).await.unwrap(),
            Resolution::Mailboxes(vec![LocalMailbox {
                organization_id: o.clone(),
                user_id: id("alice"),
                quota_bytes: 10 * 1024 * 1024,
            }])
        );
        // Alias, compared case-insensitively.
        assert_eq!(
            users(s.resolve_recipient(&a("SALES")).await.unwrap()),
            vec![id("alice")]
        );
        // Default quota when none is set.
        match s.resolve_recipient(&a("bob")).await.unwrap() {
            Resolution::Mailboxes(m) => assert_eq!(m[0].quota_bytes, 51_200 * 1024 * 1024),
            other => panic!("{other:?}"),
        }
        // Nested groups with a cycle: each enabled mailbox once, the disabled user left out.
        let mut expected = vec![id("alice"), id("bob"), id("carol")];
        expected.sort();
        assert_eq!(
            users(s.resolve_recipient(&a("team")).await.unwrap()),
            expected
        );
        assert_eq!(
            users(s.resolve_recipient(&a("inner")).await.unwrap()),
            expected
        );

        assert_eq!(
            s.resolve_recipient(&a("dave")).await.unwrap(),
            Resolution::NoSuchAddress
        );
        assert_eq!(
            s.resolve_recipient(&a("off")).await.unwrap(),
            Resolution::NoSuchAddress
        );
        assert_eq!(
            s.resolve_recipient(&a("nobody")).await.unwrap(),
            Resolution::NoSuchAddress
        );
        assert_eq!(
            s.resolve_recipient("alice@elsewhere.example")
                .await
                .unwrap(),
            Resolution::NoSuchDomain
        );
        assert_eq!(
            s.resolve_recipient("no-at-sign").await.unwrap(),
            Resolution::NoSuchDomain
        );
    }
}

#[tokio::test]
async fn users_of_an_inactive_organization_are_unknown() {
    for db in test_stores().await {
        let (s, p) = (&db.store, &db);
        let o = unique_name("m-");
        let domain = format!("{o}.example");
        org(p, &o, &domain, "Deleting").await;
        entity(
            p,
            &o,
            &format!("{o}-u"),
            "USER",
            "ENABLED",
            &format!("u@{domain}"),
        )
        .await;
        assert!(s.is_local_domain(&domain).await.unwrap());
        assert_eq!(
            s.resolve_recipient(&format!("u@{domain}")).await.unwrap(),
            Resolution::NoSuchAddress
        );
    }
}

#[tokio::test]
async fn an_enabled_user_without_a_mailbox_is_unknown() {
    for db in test_stores().await {
        let (s, p) = (&db.store, &db);
        let o = unique_name("m-");
        let domain = format!("{o}.example");
        org(p, &o, &domain, "Active").await;
        // A USER row in state ENABLED but no mailbox row (never registered).
        entity(
            p,
            &o,
            &format!("{o}-x"),
            "USER",
            "DISABLED",
            &format!("x@{domain}"),
        )
        .await;
        p.exec(
            "UPDATE entities SET state = 'ENABLED' WHERE entity_id = $1",
            &[&format!("{o}-x")],
        )
        .await;
        assert_eq!(
            s.resolve_recipient(&format!("x@{domain}")).await.unwrap(),
            Resolution::NoSuchAddress
        );
    }
}
