//! Chime users, invitations, domain claims and delegate groups in the store: tenant-scoped
//! reads, the one-identity-per-address rule, single-use invitation acceptance, the one
//! verified claim per domain, domain removal's effect on users, and the directory-group
//! seam. On SQLite, and on PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set.

use carillon_store::chime::users::{
    ChimeDelegateGroupRecord, ChimeDomainRecord, ChimeInvitationRecord, ChimeUserFilter,
    ChimeUserRecord, RemovedMembership,
};
use carillon_store::testing::{create_account, test_stores, TestStore};
use carillon_store::{ChimeAccountRecord, StoreError};

async fn chime_account(t: &TestStore, tenant: &str) -> String {
    let id = carillon_core::ids::new_uuid();
    t.store
        .create_chime_account(&ChimeAccountRecord {
            chime_account_id: id.clone(),
            account_id: tenant.to_string(),
            name: "Team".to_string(),
            account_type: "Team".to_string(),
            account_status: "Active".to_string(),
            default_license: "Pro".to_string(),
            disable_remote_control: false,
            enable_dial_out: true,
            created_at: 0,
            deleted_at: None,
        })
        .await
        .unwrap();
    id
}

/// A tenant with a Chime account, and another tenant: (tenant, other tenant, account).
async fn two_tenants(t: &TestStore) -> (String, String, String) {
    let tenant = create_account(&t.store).await;
    let other = create_account(&t.store).await;
    let account = chime_account(t, &tenant).await;
    (tenant, other, account)
}

/// The stored user `user_id`, which must exist.
async fn user_by_id(t: &TestStore, user_id: &str) -> ChimeUserRecord {
    t.store.chime_user_by_id(user_id).await.unwrap().unwrap()
}

fn user(tenant: &str, account: &str, email: &str) -> ChimeUserRecord {
    ChimeUserRecord {
        user_id: carillon_core::ids::new_uuid(),
        account_id: Some(tenant.to_string()),
        chime_account_id: Some(account.to_string()),
        primary_email: email.to_string(),
        display_name: None,
        user_type: "PrivateUser".to_string(),
        license_type: Some("Pro".to_string()),
        registration_status: "Unregistered".to_string(),
        invitation_status: Some("Pending".to_string()),
        invited_at: Some(1),
        registered_at: None,
        trial_started_at: None,
        personal_pin: "0123456789".to_string(),
        password_hash: None,
        privacy: "Public".to_string(),
        alexa_enabled: false,
        alexa_room_arn: None,
        inbound_calling: true,
        outbound_calling: true,
        sms: true,
        primary_provisioned_number: Some("+12065550100".to_string()),
        created_at: 1,
        updated_at: 1,
    }
}

fn invitation(user: &ChimeUserRecord, hash: &str) -> ChimeInvitationRecord {
    ChimeInvitationRecord {
        invite_id: carillon_core::ids::new_uuid(),
        account_id: user.account_id.clone(),
        chime_account_id: user.chime_account_id.clone(),
        user_id: user.user_id.clone(),
        email: user.primary_email.clone(),
        token_hash: hash.to_string(),
        status: "Pending".to_string(),
        email_status: "NotSent".to_string(),
        created_at: 1,
        expires_at: i64::MAX,
        accepted_at: None,
    }
}

fn domain(tenant: &str, account: &str, name: &str) -> ChimeDomainRecord {
    ChimeDomainRecord {
        chime_account_id: account.to_string(),
        domain_name: name.to_string(),
        account_id: tenant.to_string(),
        status: "PendingVerification".to_string(),
        verification_name: format!("_carillon-chime.{name}"),
        verification_value: "v".to_string(),
        created_at: 1,
        verified_at: None,
        checked_at: None,
    }
}

#[tokio::test]
async fn users_are_scoped_unique_by_address_and_listed() {
    for t in test_stores().await {
        let (tenant, other, account) = two_tenants(&t).await;
        let a = user(&tenant, &account, "A@Example.com");
        t.store.insert_chime_user(&a).await.unwrap();
        let dup = t
            .store
            .insert_chime_user(&user(&tenant, &account, "a@example.COM"))
            .await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        let b = user(&tenant, &account, "b@example.com");
        t.store.insert_chime_user(&b).await.unwrap();

        let found = t
            .store
            .chime_user(&tenant, &account, &a.user_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.primary_email, "a@example.com");
        assert!(t
            .store
            .chime_user(&other, &account, &a.user_id)
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            t.store
                .chime_user_by_email("A@EXAMPLE.COM")
                .await
                .unwrap()
                .unwrap()
                .user_id,
            a.user_id
        );
        let all = t
            .store
            .list_chime_users(
                &tenant,
                &account,
                &ChimeUserFilter {
                    limit: 10,
                    ..ChimeUserFilter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
        let by_email = t
            .store
            .list_chime_users(
                &tenant,
                &account,
                &ChimeUserFilter {
                    email: Some("B@example.com".to_string()),
                    limit: 10,
                    ..ChimeUserFilter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(by_email.len(), 1);
        assert_eq!(by_email[0].user_id, b.user_id);
        let none = t
            .store
            .list_chime_users(
                &other,
                &account,
                &ChimeUserFilter {
                    limit: 10,
                    ..ChimeUserFilter::default()
                },
            )
            .await
            .unwrap();
        assert!(none.is_empty());
        assert_eq!(
            t.store.count_chime_users(&tenant, &account).await.unwrap(),
            2
        );
    }
}

#[tokio::test]
async fn an_invitation_is_accepted_once() {
    for t in test_stores().await {
        let tenant = create_account(&t.store).await;
        let account = chime_account(&t, &tenant).await;
        let mut u = user(&tenant, &account, "mary@example.com");
        let first = invitation(&u, "hash-1");
        t.store
            .create_chime_invitation(&first, &u, true)
            .await
            .unwrap();
        let second = invitation(&u, "hash-2");
        t.store
            .create_chime_invitation(&second, &u, false)
            .await
            .unwrap();
        assert!(
            t.store
                .chime_invitation_by_token("hash-1")
                .await
                .unwrap()
                .is_none(),
            "a new invitation replaces the pending one"
        );
        t.store
            .set_chime_invitation_outcome(&second.invite_id, "Pending", "Sent")
            .await
            .unwrap();
        let stored = t
            .store
            .chime_invitation_by_token("hash-2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.email_status, "Sent");

        u.registration_status = "Registered".to_string();
        u.password_hash = Some("$argon2id$...".to_string());
        assert!(t
            .store
            .accept_chime_invitation(&second.invite_id, 5, &u)
            .await
            .unwrap());
        assert!(!t
            .store
            .accept_chime_invitation(&second.invite_id, 6, &u)
            .await
            .unwrap());
        let accepted = t
            .store
            .chime_invitation_by_token("hash-2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(accepted.status, "Accepted");
        assert_eq!(accepted.accepted_at, Some(5));
        let registered = user_by_id(&t, &u.user_id).await;
        assert_eq!(registered.registration_status, "Registered");
    }
}

#[tokio::test]
async fn one_account_holds_a_domain_verified_and_removal_releases_users() {
    for t in test_stores().await {
        let (tenant, other, account) = two_tenants(&t).await;
        let rival = chime_account(&t, &other).await;
        let mine = domain(&tenant, &account, "corp.example");
        let theirs = domain(&other, &rival, "corp.example");
        t.store.insert_chime_domain(&mine).await.unwrap();
        t.store.insert_chime_domain(&theirs).await.unwrap();
        let again = t.store.insert_chime_domain(&mine).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))));
        assert_eq!(t.store.pending_chime_domains(10).await.unwrap().len(), 2);

        assert!(t
            .store
            .verify_chime_domain(&mine, 10, "EnterpriseLWA")
            .await
            .unwrap());
        let lost = t
            .store
            .verify_chime_domain(&theirs, 11, "EnterpriseLWA")
            .await;
        assert!(matches!(lost, Err(StoreError::Conflict(_))), "{lost:?}");
        let held = t
            .store
            .verified_chime_domain("corp.example")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(held.chime_account_id, account);
        let account_row = t
            .store
            .chime_account(&tenant, &account, 0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account_row.account_type, "EnterpriseLWA");

        let registered = {
            let mut u = user(&tenant, &account, "mary@corp.example");
            u.registration_status = "Registered".to_string();
            u
        };
        let suspended = {
            let mut u = user(&tenant, &account, "sam@corp.example");
            u.registration_status = "Suspended".to_string();
            u
        };
        let elsewhere = user(&tenant, &account, "olga@notcorp.example");
        for u in [&registered, &suspended, &elsewhere] {
            t.store.insert_chime_user(u).await.unwrap();
        }
        t.exec(
            "INSERT INTO chime_sessions (session_hash, user_id, created_at, expires_at) \
             VALUES ('s1', $1, 0, 1)",
            &[&registered.user_id],
        )
        .await;
        assert!(t
            .store
            .delete_chime_domain(&other, &account, "corp.example", "Released", 20)
            .await
            .unwrap()
            .is_none());
        t.exec(
            "INSERT INTO chime_rooms (room_id, account_id, chime_account_id, name, created_at, \
             updated_at) VALUES ('room-1', $1, $2, 'Launch', 0, 0)",
            &[&tenant, &account],
        )
        .await;
        for (member, role) in [
            (&registered.user_id, "Administrator"),
            (&elsewhere.user_id, "Member"),
        ] {
            t.exec(
                "INSERT INTO chime_room_memberships (room_id, member_id, account_id, member_type, \
                 role, updated_at) VALUES ('room-1', $1, $2, 'User', $3, 0)",
                &[member, &tenant, role],
            )
            .await;
        }
        let removal = t
            .store
            .delete_chime_domain(&tenant, &account, "corp.example", "Released", 20)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            removal.memberships,
            vec![RemovedMembership {
                room_id: "room-1".to_string(),
                member_id: registered.user_id.clone(),
                role: "Administrator".to_string(),
            }]
        );
        assert_eq!(t.store.count_room_memberships("room-1").await.unwrap(), 1);
        let mut released = removal.users;
        released.sort();
        let mut expected = vec![registered.user_id.clone(), suspended.user_id.clone()];
        expected.sort();
        assert_eq!(released, expected);
        let mary = user_by_id(&t, &registered.user_id).await;
        assert_eq!(mary.registration_status, "Released");
        assert_eq!(mary.license_type, None);
        assert_eq!(mary.primary_provisioned_number, None);
        let sam = user_by_id(&t, &suspended.user_id).await;
        assert_eq!(sam.registration_status, "Suspended");
        let olga = user_by_id(&t, &elsewhere.user_id).await;
        assert_eq!(olga.registration_status, "Unregistered");
        assert_eq!(olga.license_type.as_deref(), Some("Pro"));
        assert_eq!(
            t.store
                .delete_chime_sessions_of_user(&registered.user_id)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            t.store
                .count_chime_domains(&tenant, &account)
                .await
                .unwrap(),
            0
        );

        // 90 days after (here: at or before `before`), released users leave the account.
        let purge = |before: i64| {
            t.store
                .purge_released_chime_users("Released", before, 25, 10)
        };
        assert!(purge(19).await.unwrap().is_empty());
        assert_eq!(purge(20).await.unwrap(), vec![registered.user_id.clone()]);
        assert!(purge(20).await.unwrap().is_empty());
        let mary = user_by_id(&t, &registered.user_id).await;
        assert_eq!(mary.account_id, None);
        assert_eq!(mary.chime_account_id, None);
        assert_eq!(mary.registration_status, "Released");
        assert_eq!(mary.updated_at, 25);

        t.store
            .detach_chime_account_users(&tenant, &account, 30)
            .await
            .unwrap();
        assert_eq!(
            t.store.count_chime_users(&tenant, &account).await.unwrap(),
            0
        );
        let detached = user_by_id(&t, &suspended.user_id).await;
        assert_eq!(detached.account_id, None);
        assert_eq!(detached.registration_status, "Suspended");
    }
}

#[tokio::test]
async fn delegate_groups_and_directory_membership() {
    for t in test_stores().await {
        let (tenant, other, account) = two_tenants(&t).await;
        let groups = [
            ChimeDelegateGroupRecord {
                group_name: "pro".to_string(),
                license: "Pro".to_string(),
            },
            ChimeDelegateGroupRecord {
                group_name: "basic".to_string(),
                license: "Basic".to_string(),
            },
        ];
        t.store
            .put_chime_delegate_groups(&tenant, &account, &groups, 1)
            .await
            .unwrap();
        t.store
            .put_chime_delegate_groups(
                &tenant,
                &account,
                &[ChimeDelegateGroupRecord {
                    group_name: "pro".to_string(),
                    license: "Basic".to_string(),
                }],
                2,
            )
            .await
            .unwrap();
        let stored = t
            .store
            .chime_delegate_groups(&tenant, &account)
            .await
            .unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[1].group_name, "pro");
        assert_eq!(stored[1].license, "Basic");
        assert!(t
            .store
            .chime_delegate_groups(&other, &account)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            t.store
                .delete_chime_delegate_groups(
                    &tenant,
                    &account,
                    &["pro".to_string(), "x".to_string()]
                )
                .await
                .unwrap(),
            1
        );

        let org = carillon_core::ids::new_organization_id();
        t.insert_organization(&tenant, &org, &org, "Active").await;
        t.insert_entity(&org, "staff", "GROUP", "ENABLED", None, None)
            .await;
        t.insert_entity(&org, "old", "GROUP", "DELETED", None, None)
            .await;
        t.insert_entity(&org, "u1", "USER", "ENABLED", Some("u1@corp.example"), None)
            .await;
        t.insert_address(&org, "u1", "u1@corp.example", true).await;
        t.insert_group_member(&org, "staff", "u1").await;
        t.insert_group_member(&org, "old", "u1").await;
        assert_eq!(
            t.store
                .directory_groups_of_email(&tenant, "U1@corp.example")
                .await
                .unwrap(),
            ["staff"]
        );
        assert!(t
            .store
            .directory_groups_of_email(&other, "u1@corp.example")
            .await
            .unwrap()
            .is_empty());
    }
}
