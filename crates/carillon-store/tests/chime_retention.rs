//! The store side of Chime chat retention and usage reports (migration 0021), on SQLite and
//! (when `CARILLON_TEST_DATABASE_URL` is set) PostgreSQL: settings kept per tenant, the facts
//! the retention rules read, hiding, restoring and purging messages, the reporting switch,
//! the weeks written, sign-ins and the usage rows and figures.

use carillon_store::chime::reports;
use carillon_store::chime::retention::{self, RetentionSettingsRecord};
use carillon_store::testing::{create_account, test_stores, TestStore};
use carillon_store::ChimeAccountRecord;

async fn chime_account(test: &TestStore, account_id: &str, account_type: &str) -> String {
    let id = carillon_core::ids::new_uuid();
    test.store
        .create_chime_account(&ChimeAccountRecord {
            chime_account_id: id.clone(),
            account_id: account_id.to_string(),
            name: "Acme".to_string(),
            account_type: account_type.to_string(),
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

async fn user(test: &TestStore, account_id: &str, chime_account_id: &str) -> String {
    let user_id = carillon_core::ids::new_uuid();
    test.exec(
        "INSERT INTO chime_users (user_id, account_id, chime_account_id, primary_email, \
         registration_status, personal_pin, created_at, updated_at, registered_at) \
         VALUES ($1, $2, $3, $4, 'Registered', '0123456789', 5, 5, 5)",
        &[
            &user_id,
            account_id,
            chime_account_id,
            &format!("{user_id}@example.com"),
        ],
    )
    .await;
    user_id
}

async fn message(
    test: &TestStore,
    container_type: &str,
    container_id: &str,
    sender: &str,
    at: i64,
) -> String {
    let id = carillon_core::ids::new_uuid();
    test.exec(
        "INSERT INTO chime_messages (message_id, container_type, container_id, sender_id, \
         sender_type, sender_name, content, created_at) \
         VALUES ($1, $2, $3, $4, 'User', 'x', 'hi', CAST($5 AS BIGINT))",
        &[&id, container_type, container_id, sender, &at.to_string()],
    )
    .await;
    id
}

async fn visible(test: &TestStore, container_id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT message_id FROM chime_messages WHERE container_id = $1 AND hidden_at IS NULL \
         ORDER BY created_at",
    )
    .bind(container_id)
    .fetch_all(test.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn settings_are_kept_per_tenant() {
    for test in test_stores().await {
        let store = &test.store;
        let tenant = create_account(store).await;
        let other = create_account(store).await;
        let id = chime_account(&test, &tenant, "EnterpriseLWA").await;
        let mut settings = RetentionSettingsRecord {
            chime_account_id: id.clone(),
            account_id: tenant.clone(),
            room_retention_days: Some(30),
            conversation_retention_days: None,
            updated_at: 10,
        };
        retention::put_settings(store, &settings).await.unwrap();
        assert_eq!(
            retention::settings(store, &tenant, &id).await.unwrap(),
            Some(settings.clone()),
            "{}",
            test.label
        );
        assert_eq!(retention::settings(store, &other, &id).await.unwrap(), None);
        // Another tenant's write does not touch the row.
        retention::put_settings(
            store,
            &RetentionSettingsRecord {
                account_id: other.clone(),
                room_retention_days: None,
                ..settings.clone()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            retention::settings(store, &tenant, &id).await.unwrap(),
            Some(settings.clone())
        );
        assert!(retention::settings_in_force(store)
            .await
            .unwrap()
            .contains(&settings));
        settings.room_retention_days = None;
        settings.updated_at = 20;
        retention::put_settings(store, &settings).await.unwrap();
        assert!(!retention::settings_in_force(store)
            .await
            .unwrap()
            .iter()
            .any(|s| s.chime_account_id == id));
        assert_eq!(
            retention::account_type(store, &id)
                .await
                .unwrap()
                .as_deref(),
            Some("EnterpriseLWA")
        );
        assert_eq!(
            retention::account_type(store, "missing").await.unwrap(),
            None
        );
    }
}

#[tokio::test]
async fn messages_are_hidden_restored_and_purged() {
    for test in test_stores().await {
        let store = &test.store;
        let tenant = create_account(store).await;
        let enterprise = chime_account(&test, &tenant, "EnterpriseLWA").await;
        let team = chime_account(&test, &tenant, "Team").await;
        let a = user(&test, &tenant, &enterprise).await;
        let b = user(&test, &tenant, &team).await;
        let room = carillon_core::ids::new_uuid();
        test.exec(
            "INSERT INTO chime_rooms (room_id, account_id, chime_account_id, name, created_at, \
             updated_at) VALUES ($1, $2, $3, 'r', 0, 0)",
            &[&room, &tenant, &enterprise],
        )
        .await;
        let conversation = carillon_core::ids::new_uuid();
        test.exec(
            "INSERT INTO chime_conversations (conversation_id, is_group, created_by, created_at) \
             VALUES ($1, 0, $2, 0)",
            &[&conversation, &a],
        )
        .await;
        for member in [&a, &b] {
            test.exec(
                "INSERT INTO chime_conversation_members (conversation_id, user_id, joined_at) \
                 VALUES ($1, $2, 0)",
                &[&conversation, member],
            )
            .await;
        }
        assert_eq!(
            retention::rooms_of(store, &enterprise).await.unwrap(),
            vec![room.clone()]
        );
        assert_eq!(
            retention::room_account(store, &room).await.unwrap(),
            Some(enterprise.clone())
        );
        assert_eq!(
            retention::conversations_of(store, &team).await.unwrap(),
            vec![conversation.clone()]
        );
        let mut accounts = retention::conversation_member_accounts(store, &conversation)
            .await
            .unwrap();
        accounts.sort();
        let mut expected = vec![Some(enterprise.clone()), Some(team.clone())];
        expected.sort();
        assert_eq!(accounts, expected, "{}", test.label);

        let old = message(&test, retention::ROOM, &room, &a, 100).await;
        let new = message(&test, retention::ROOM, &room, &a, 200).await;
        let other = message(&test, retention::CONVERSATION, &conversation, &b, 100).await;
        assert_eq!(retention::hide(store, &room, 150, 1_000).await.unwrap(), 1);
        assert_eq!(retention::hide(store, &room, 150, 2_000).await.unwrap(), 0);
        assert_eq!(visible(&test, &room).await, vec![new.clone()]);
        assert_eq!(visible(&test, &conversation).await, vec![other]);
        assert_eq!(
            retention::containers_with_hidden_messages(store)
                .await
                .unwrap(),
            vec![(retention::ROOM.to_string(), room.clone())]
        );
        // Restoring from a later creation time leaves older messages hidden.
        assert_eq!(
            retention::restore(store, &room, Some(101)).await.unwrap(),
            0
        );
        assert_eq!(
            retention::restore(store, &room, Some(100)).await.unwrap(),
            1
        );
        assert_eq!(visible(&test, &room).await, vec![old.clone(), new.clone()]);
        retention::hide(store, &room, 1_000, 1_000).await.unwrap();
        assert_eq!(retention::restore(store, &room, None).await.unwrap(), 2);
        // Purging takes only what was hidden at or before the bound.
        retention::hide(store, &room, 150, 1_000).await.unwrap();
        assert_eq!(retention::purge_hidden(store, &room, 999).await.unwrap(), 0);
        assert_eq!(
            retention::purge_hidden(store, &room, 1_000).await.unwrap(),
            1
        );
        assert_eq!(retention::restore(store, &room, None).await.unwrap(), 0);
        assert_eq!(visible(&test, &room).await, vec![new]);
    }
}

#[tokio::test]
async fn reporting_reports_sign_ins_rows_and_figures() {
    for test in test_stores().await {
        let store = &test.store;
        let tenant = create_account(store).await;
        let account = chime_account(&test, &tenant, "Team").await;
        assert_eq!(reports::reporting(store, &tenant).await.unwrap(), None);
        let record = reports::UsageReportingRecord {
            account_id: tenant.clone(),
            bucket: "reports".to_string(),
            enabled_at: 7,
        };
        reports::put_reporting(store, &record).await.unwrap();
        assert_eq!(
            reports::reporting(store, &tenant).await.unwrap(),
            Some(record.clone())
        );
        assert!(reports::all_reporting(store)
            .await
            .unwrap()
            .contains(&record));
        assert!(reports::delete_reporting(store, &tenant).await.unwrap());
        assert!(!reports::delete_reporting(store, &tenant).await.unwrap());

        assert!(!reports::report_written(store, &account, 100).await.unwrap());
        reports::record_report(store, &tenant, &account, 100, ("reports", "k1"), 1)
            .await
            .unwrap();
        reports::record_report(store, &tenant, &account, 100, ("reports", "k2"), 2)
            .await
            .unwrap();
        assert!(reports::report_written(store, &account, 100).await.unwrap());

        let a = user(&test, &tenant, &account).await;
        let b = user(&test, &tenant, &account).await;
        reports::record_sign_in(store, &a, 50).await.unwrap();
        reports::record_sign_in(store, &a, 40).await.unwrap();
        test.exec(
            "INSERT INTO chime_sessions (session_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, 60, 90)",
            &[&carillon_core::ids::new_uuid(), &b],
        )
        .await;
        message(&test, retention::ROOM, "room", &a, 10).await;
        message(&test, retention::ROOM, "room", &a, 19).await;
        message(&test, retention::ROOM, "room", &a, 20).await;
        let rows = reports::usage_rows(store, &tenant, &account, 10, 20)
            .await
            .unwrap();
        assert_eq!(rows.len(), 2, "{}", test.label);
        let row_a = rows.iter().find(|r| r.user_id == a).unwrap();
        assert_eq!((row_a.last_login, row_a.chat_sent), (Some(50), 2));
        let row_b = rows.iter().find(|r| r.user_id == b).unwrap();
        assert_eq!((row_b.last_login, row_b.chat_sent), (Some(60), 0));
        // Another tenant reads no rows of this account.
        let other = create_account(store).await;
        assert!(reports::usage_rows(store, &other, &account, 0, 100)
            .await
            .unwrap()
            .is_empty());

        let figures = reports::figures(store, &tenant, &account, 10, 21)
            .await
            .unwrap();
        assert_eq!(
            figures,
            reports::UsageFigures {
                registered_users: 2,
                active_users: 1,
                chat_messages_sent: 3
            }
        );
        let before_registration = reports::figures(store, &tenant, &account, 0, 5)
            .await
            .unwrap();
        assert_eq!(before_registration.registered_users, 0);
    }
}
