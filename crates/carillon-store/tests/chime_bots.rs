//! Chime bots and incoming webhooks in the store: the per-account bot limit and unique
//! email, tenant scoping, listing, updates, bots of a room, verified domains; webhooks with
//! their room membership, the per-room limit, URL lookup and regeneration, deletion, the
//! shared 1 request/s slot and the cascade on room deletion. On SQLite, and on PostgreSQL
//! when `CARILLON_TEST_DATABASE_URL` is set.

use carillon_store::chime::bots::{BotCreation, BotRecord, WebhookCreation, WebhookRecord};
use carillon_store::testing::{test_stores, TestStore};

/// A tenant with a Chime account `chime_id` and a room `room_id`.
async fn tenant(t: &TestStore, chime_id: &str, room_id: &str) -> String {
    let tenant = carillon_core::ids::new_account_id();
    t.insert_account(&tenant).await;
    t.exec(
        "INSERT INTO chime_accounts (chime_account_id, account_id, name, account_type, \
         account_status, default_license, disable_remote_control, enable_dial_out, created_at) \
         VALUES ($1, $2, 'Acme', 'EnterpriseLWA', 'Active', 'Pro', 0, 1, 0)",
        &[chime_id, &tenant],
    )
    .await;
    t.exec(
        "INSERT INTO chime_rooms (room_id, account_id, chime_account_id, name, created_at, \
         updated_at) VALUES ($1, $2, $3, 'Ops', 0, 0)",
        &[room_id, &tenant, chime_id],
    )
    .await;
    tenant
}

fn bot(tenant: &str, chime_id: &str, id: &str, email: &str) -> BotRecord {
    BotRecord {
        bot_id: id.to_string(),
        user_id: format!("user-{id}"),
        account_id: tenant.to_string(),
        chime_account_id: chime_id.to_string(),
        display_name: id.to_string(),
        bot_email: email.to_string(),
        disabled: false,
        security_token: "kms:v1:sealed".to_string(),
        outbound_events_endpoint: None,
        created_at: 1,
        updated_at: 1,
    }
}

fn webhook(tenant: &str, chime_id: &str, room: &str, id: &str) -> WebhookRecord {
    WebhookRecord {
        webhook_id: id.to_string(),
        account_id: tenant.to_string(),
        chime_account_id: chime_id.to_string(),
        room_id: room.to_string(),
        name: format!("hook {id}"),
        url_id: format!("url-{id}"),
        token_hash: format!("hash-{id}"),
        created_at: 1,
        updated_at: 1,
    }
}

#[tokio::test]
async fn bots_are_limited_unique_and_scoped_to_their_tenant() {
    for t in test_stores().await {
        let s = &t.store;
        let tenant = tenant(&t, "c1", "r1").await;
        let other = tenant_other(&t).await;

        for n in 0..3 {
            let created = s
                .create_chime_bot(
                    &bot(&tenant, "c1", &format!("b{n}"), &format!("b{n}@x.com")),
                    3,
                )
                .await
                .unwrap();
            assert_eq!(created, BotCreation::Created, "{}", t.label);
        }
        let full = s
            .create_chime_bot(&bot(&tenant, "c1", "b3", "b3@x.com"), 3)
            .await
            .unwrap();
        assert_eq!(full, BotCreation::LimitReached);
        let taken = s
            .create_chime_bot(&bot(&tenant, "c1", "b3", "B0@X.com"), 10)
            .await
            .unwrap();
        assert_eq!(taken, BotCreation::EmailTaken);
        let foreign = s
            .create_chime_bot(&bot(&other, "c1", "b9", "b9@x.com"), 10)
            .await
            .unwrap();
        assert_eq!(foreign, BotCreation::AccountGone);

        // Reads are scoped to the tenant.
        assert!(s.chime_bot(&tenant, "c1", "b1").await.unwrap().is_some());
        assert!(s.chime_bot(&other, "c1", "b1").await.unwrap().is_none());
        assert!(s
            .chime_bot_by_user(&other, "user-b1")
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            s.chime_bot_by_id(&tenant, "b1")
                .await
                .unwrap()
                .unwrap()
                .user_id,
            "user-b1"
        );

        // Listing by ID, resuming after the previous page.
        let page = s.list_chime_bots(&tenant, "c1", None, 2).await.unwrap();
        let ids: Vec<_> = page.iter().map(|b| b.bot_id.as_str()).collect();
        assert_eq!(ids, ["b0", "b1"]);
        let rest = s
            .list_chime_bots(&tenant, "c1", Some("b1"), 2)
            .await
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert!(s
            .list_chime_bots(&other, "c1", None, 9)
            .await
            .unwrap()
            .is_empty());

        // Updates keep to the tenant.
        let mut b1 = s.chime_bot(&tenant, "c1", "b1").await.unwrap().unwrap();
        b1.disabled = true;
        b1.outbound_events_endpoint = Some("https://bot.example.com".to_string());
        b1.updated_at = 5;
        assert!(s.update_chime_bot(&b1).await.unwrap());
        assert_eq!(s.chime_bot(&tenant, "c1", "b1").await.unwrap().unwrap(), b1);
        let mut stolen = b1.clone();
        stolen.account_id = other.clone();
        assert!(!s.update_chime_bot(&stolen).await.unwrap());

        // The bots of a room are its Bot members.
        t.exec(
            "INSERT INTO chime_room_memberships (room_id, member_id, account_id, member_type, \
             role, updated_at) VALUES ('r1', 'user-b2', $1, 'Bot', 'Member', 0)",
            &[&tenant],
        )
        .await;
        let in_room = s.chime_bots_in_room(&tenant, "r1").await.unwrap();
        assert_eq!(in_room.len(), 1);
        assert_eq!(in_room[0].bot_id, "b2");
        assert!(s.chime_bots_in_room(&other, "r1").await.unwrap().is_empty());
        assert_eq!(
            s.chime_room_member(&tenant, "r1", "user-b2").await.unwrap(),
            Some(("Bot".to_string(), "Member".to_string()))
        );

        // Verified domains only.
        for (domain, status) in [
            ("a.example.com", "Verified"),
            ("b.example.com", "PendingVerification"),
        ] {
            t.exec(
                "INSERT INTO chime_domains (chime_account_id, domain_name, account_id, status, \
                 verification_name, verification_value, created_at) \
                 VALUES ('c1', $1, $2, $3, 'n', 'v', 0)",
                &[domain, &tenant, status],
            )
            .await;
        }
        assert!(s
            .chime_domain_verified(&tenant, "c1", "a.example.com")
            .await
            .unwrap());
        assert!(!s
            .chime_domain_verified(&tenant, "c1", "b.example.com")
            .await
            .unwrap());
        assert!(!s
            .chime_domain_verified(&other, "c1", "a.example.com")
            .await
            .unwrap());
    }
}

/// A second tenant with nothing in it.
async fn tenant_other(t: &TestStore) -> String {
    let other = carillon_core::ids::new_account_id();
    t.insert_account(&other).await;
    other
}

#[tokio::test]
async fn webhooks_are_room_members_with_a_limit_and_a_shared_rate_slot() {
    for t in test_stores().await {
        let s = &t.store;
        let tenant = tenant(&t, "c1", "r1").await;
        let other = tenant_other(&t).await;

        for n in 0..2 {
            let created = s
                .create_chime_webhook(&webhook(&tenant, "c1", "r1", &format!("w{n}")), 2)
                .await
                .unwrap();
            assert_eq!(created, WebhookCreation::Created, "{}", t.label);
        }
        assert_eq!(
            s.create_chime_webhook(&webhook(&tenant, "c1", "r1", "w2"), 2)
                .await
                .unwrap(),
            WebhookCreation::LimitReached
        );
        assert_eq!(
            s.create_chime_webhook(&webhook(&other, "c1", "r1", "w9"), 10)
                .await
                .unwrap(),
            WebhookCreation::RoomGone
        );
        assert_eq!(
            s.chime_room_member(&tenant, "r1", "w0").await.unwrap(),
            Some(("Webhook".to_string(), "Member".to_string()))
        );
        t.exec(
            "INSERT INTO chime_room_memberships (room_id, member_id, account_id, member_type, \
             role, updated_at) VALUES ('r1', 'u1', $1, 'User', 'Member', 0)",
            &[&tenant],
        )
        .await;
        assert_eq!(s.chime_room_user_count(&tenant, "r1").await.unwrap(), 1);

        // Listing and lookups.
        let listed = s
            .list_chime_webhooks(&tenant, "c1", "r1", None, 10)
            .await
            .unwrap();
        assert_eq!(listed.len(), 2);
        assert!(s
            .list_chime_webhooks(&other, "c1", "r1", None, 10)
            .await
            .unwrap()
            .is_empty());
        let w0 = s.chime_webhook_by_url("url-w0").await.unwrap().unwrap();
        assert_eq!(w0.webhook_id, "w0");
        assert!(s
            .chime_webhook(&other, "c1", "r1", "w0")
            .await
            .unwrap()
            .is_none());

        // Regeneration replaces the URL.
        let mut fresh = w0.clone();
        fresh.url_id = "url-w0-new".to_string();
        fresh.token_hash = "new-hash".to_string();
        fresh.updated_at = 9;
        assert!(s.regenerate_chime_webhook_url(&fresh).await.unwrap());
        assert!(s.chime_webhook_by_url("url-w0").await.unwrap().is_none());
        assert_eq!(
            s.chime_webhook_by_url("url-w0-new").await.unwrap().unwrap(),
            fresh
        );

        // One accepted post per interval, per webhook.
        assert!(s.take_chime_webhook_slot("w0", 10_000, 1000).await.unwrap());
        assert!(!s.take_chime_webhook_slot("w0", 10_500, 1000).await.unwrap());
        assert!(s.take_chime_webhook_slot("w1", 10_500, 1000).await.unwrap());
        assert!(s.take_chime_webhook_slot("w0", 11_000, 1000).await.unwrap());

        // Deletion removes the membership; another tenant cannot delete.
        assert!(!s
            .delete_chime_webhook(&other, "c1", "r1", "w0")
            .await
            .unwrap());
        assert!(s
            .delete_chime_webhook(&tenant, "c1", "r1", "w0")
            .await
            .unwrap());
        assert!(s
            .chime_room_member(&tenant, "r1", "w0")
            .await
            .unwrap()
            .is_none());
        assert!(!s
            .delete_chime_webhook(&tenant, "c1", "r1", "w0")
            .await
            .unwrap());

        // Deleting the room deletes its webhooks.
        t.exec(
            "DELETE FROM chime_room_memberships WHERE room_id = 'r1'",
            &[],
        )
        .await;
        t.exec("DELETE FROM chime_rooms WHERE room_id = 'r1'", &[])
            .await;
        assert!(s.chime_webhook_by_url("url-w1").await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creations_never_pass_the_limits() {
    for t in test_stores().await {
        let tenant = tenant(&t, "c1", "r1").await;
        let mut bots = Vec::new();
        let mut hooks = Vec::new();
        for n in 0..6 {
            let store = t.store.clone();
            let record = bot(&tenant, "c1", &format!("b{n}"), &format!("b{n}@x.com"));
            bots.push(tokio::spawn(async move {
                store.create_chime_bot(&record, 3).await.unwrap()
            }));
            let store = t.store.clone();
            let record = webhook(&tenant, "c1", "r1", &format!("w{n}"));
            hooks.push(tokio::spawn(async move {
                store.create_chime_webhook(&record, 2).await.unwrap()
            }));
        }
        let mut created = 0;
        for task in bots {
            if task.await.unwrap() == BotCreation::Created {
                created += 1;
            }
        }
        assert_eq!(created, 3, "{}", t.label);
        let mut created = 0;
        for task in hooks {
            if task.await.unwrap() == WebhookCreation::Created {
                created += 1;
            }
        }
        assert_eq!(created, 2, "{}", t.label);
    }
}
