//! The chat store: sessions (expiry), rooms (tenant scope, member filter, paging, deletion
//! purging messages and memberships), memberships with their member details (users, bots,
//! webhooks), conversations (the 1:1 pair reused), contacts, and messages (newest first
//! with a cursor, retention's hidden rows skipped, edit, redaction). On SQLite, and on PostgreSQL when
//! `CARILLON_TEST_DATABASE_URL` is set.

use carillon_store::chime::bots::{WebhookCreation, WebhookRecord};
use carillon_store::chime::chat::{
    ChatMessageRecord, ChatRoomRecord, ChatSessionRecord, ConversationRecord, MessageCursor,
    RoomMembershipRecord,
};
use carillon_store::testing::{test_stores, TestStore};
use carillon_store::{ChimeAccountRecord, StoreError};

/// A tenant with one Chime account; returns `(tenant, chime account)`.
async fn new_tenant(t: &TestStore) -> (String, String) {
    let tenant = carillon_core::ids::new_account_id();
    t.insert_account(&tenant).await;
    let chime_account = carillon_core::ids::new_uuid();
    t.store
        .create_chime_account(&ChimeAccountRecord {
            chime_account_id: chime_account.clone(),
            account_id: tenant.clone(),
            name: "Chat".to_string(),
            account_type: "Team".to_string(),
            account_status: "Active".to_string(),
            default_license: "Pro".to_string(),
            disable_remote_control: false,
            enable_dial_out: true,
            created_at: 1,
            deleted_at: None,
        })
        .await
        .unwrap();
    (tenant, chime_account)
}

async fn user(t: &TestStore, tenant: &str, account: &str, id: &str, email: &str) {
    t.exec(
        "INSERT INTO chime_users (user_id, account_id, chime_account_id, primary_email, \
         display_name, license_type, registration_status, personal_pin, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'Pro', 'Registered', '0123456789', 1, 1)",
        &[id, tenant, account, email, &email.to_uppercase()],
    )
    .await;
}

fn room(tenant: &str, account: &str, id: &str) -> ChatRoomRecord {
    ChatRoomRecord {
        room_id: id.to_string(),
        account_id: tenant.to_string(),
        chime_account_id: account.to_string(),
        name: format!("room {id}"),
        created_by: None,
        created_at: 1,
        updated_at: 1,
        client_request_token: None,
    }
}

fn membership(tenant: &str, room: &str, member: &str, role: &str) -> RoomMembershipRecord {
    RoomMembershipRecord {
        room_id: room.to_string(),
        member_id: member.to_string(),
        account_id: tenant.to_string(),
        member_type: "User".to_string(),
        role: role.to_string(),
        invited_by: None,
        updated_at: 1,
        email: None,
        full_name: None,
        member_chime_account_id: None,
    }
}

fn message(kind: &str, container: &str, id: &str, at: i64) -> ChatMessageRecord {
    ChatMessageRecord {
        message_id: id.to_string(),
        container_type: kind.to_string(),
        container_id: container.to_string(),
        sender_id: "u1".to_string(),
        sender_type: "User".to_string(),
        sender_name: "U1".to_string(),
        content: Some(format!("text {id}")),
        mentions: vec!["u2".to_string()],
        redacted: false,
        created_at: at,
        edited_at: None,
    }
}

#[tokio::test]
async fn sessions_expire_and_end() {
    for t in test_stores().await {
        let s = &t.store;
        let (tenant, account) = new_tenant(&t).await;
        user(&t, &tenant, &account, "u1", "u1@example.com").await;
        let session = |hash: &str, expires_at: i64| ChatSessionRecord {
            session_hash: hash.to_string(),
            user_id: "u1".to_string(),
            created_at: 1_000,
            expires_at,
        };
        s.create_chat_session(&session("old", 500)).await.unwrap();
        s.create_chat_session(&session("live", 5_000))
            .await
            .unwrap();
        assert_eq!(
            s.chat_session("live", 4_999).await.unwrap(),
            Some(session("live", 5_000))
        );
        assert_eq!(s.chat_session("live", 5_000).await.unwrap(), None);
        // Creating a session dropped the user's expired one.
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM chime_sessions WHERE session_hash = 'old'")
                .fetch_one(t.pool())
                .await
                .unwrap();
        assert_eq!(left, 0);
        assert!(s.delete_chat_session("live").await.unwrap());
        assert!(!s.delete_chat_session("live").await.unwrap());

        let found = s
            .chat_user_by_email("U1@Example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.user_id, "u1");
        assert!(found.account_live);
        assert_eq!(found.chime_account_id.as_deref(), Some(account.as_str()));
    }
}

#[tokio::test]
async fn rooms_and_memberships_are_scoped_listed_and_purged() {
    for t in test_stores().await {
        let s = &t.store;
        let (tenant, account) = new_tenant(&t).await;
        let (other, other_account) = new_tenant(&t).await;
        user(&t, &tenant, &account, "u1", "u1@example.com").await;
        user(&t, &tenant, &account, "u2", "u2@example.com").await;
        for id in ["r1", "r2", "r3"] {
            s.create_chat_room(&room(&tenant, &account, id), None)
                .await
                .unwrap();
        }
        let mut theirs = room(&other, &other_account, "r4");
        theirs.created_by = Some("u1".to_string());
        s.create_chat_room(
            &theirs,
            Some(&membership(&other, "r4", "u1", "Administrator")),
        )
        .await
        .unwrap();
        assert!(s.chat_room(&other, "r1").await.unwrap().is_none());
        assert!(s.chat_room_any("r1").await.unwrap().is_some());

        s.create_room_membership(&membership(&tenant, "r2", "u1", "Member"))
            .await
            .unwrap();
        s.create_room_membership(&membership(&tenant, "r2", "u2", "Administrator"))
            .await
            .unwrap();
        let duplicate = s
            .create_room_membership(&membership(&tenant, "r2", "u1", "Member"))
            .await;
        assert!(matches!(duplicate, Err(StoreError::Conflict(_))));

        let ids =
            |rooms: Vec<ChatRoomRecord>| rooms.into_iter().map(|r| r.room_id).collect::<Vec<_>>();
        assert_eq!(
            ids(s
                .list_chat_rooms(&tenant, &account, None, "", 10)
                .await
                .unwrap()),
            ["r1", "r2", "r3"]
        );
        assert_eq!(
            ids(s
                .list_chat_rooms(&tenant, &account, None, "r1", 1)
                .await
                .unwrap()),
            ["r2"]
        );
        assert_eq!(
            ids(s
                .list_chat_rooms(&tenant, &account, Some("u1"), "", 10)
                .await
                .unwrap()),
            ["r2"]
        );
        assert!(s
            .list_chat_rooms(&other, &account, None, "", 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            ids(s.chat_rooms_of_member("u1", "", 10).await.unwrap()),
            ["r2", "r4"]
        );

        let members = s.list_room_memberships("r2", "", None).await.unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].email.as_deref(), Some("u1@example.com"));
        assert_eq!(members[0].full_name.as_deref(), Some("U1@EXAMPLE.COM"));
        assert_eq!(
            members[0].member_chime_account_id.as_deref(),
            Some(account.as_str())
        );
        assert_eq!(
            s.list_room_memberships("r2", "u1", Some(5))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(s.count_room_memberships("r2").await.unwrap(), 2);
        assert!(s
            .update_room_membership_role("r2", "u1", "Administrator", 9)
            .await
            .unwrap());
        assert_eq!(
            s.room_membership("r2", "u1").await.unwrap().unwrap().role,
            "Administrator"
        );
        assert!(s.delete_room_membership("r2", "u2").await.unwrap());
        assert!(!s.delete_room_membership("r2", "u2").await.unwrap());
        // An incoming webhook is a member shown by its name.
        let made = s
            .create_chime_webhook(
                &WebhookRecord {
                    webhook_id: "w1".to_string(),
                    account_id: tenant.clone(),
                    chime_account_id: account.clone(),
                    room_id: "r3".to_string(),
                    name: "Alerts".to_string(),
                    url_id: "url-w1".to_string(),
                    token_hash: "hash".to_string(),
                    created_at: 1,
                    updated_at: 1,
                },
                10,
            )
            .await
            .unwrap();
        assert_eq!(made, WebhookCreation::Created);
        let hook = s.room_membership("r3", "w1").await.unwrap().unwrap();
        assert_eq!(hook.member_type, "Webhook");
        assert_eq!(hook.full_name.as_deref(), Some("Alerts"));
        assert_eq!(hook.email, None);
        assert!(s
            .rename_chat_room(&tenant, "r2", "renamed", 9)
            .await
            .unwrap());
        assert!(!s.rename_chat_room(&other, "r2", "stolen", 9).await.unwrap());

        s.insert_chat_message(&message("room", "r2", "m1", 10))
            .await
            .unwrap();
        s.insert_chat_message(&message("room", "r3", "m2", 10))
            .await
            .unwrap();
        assert_eq!(s.delete_chat_room(&other, "r2").await.unwrap(), None);
        assert_eq!(
            s.delete_chat_room(&tenant, "r2").await.unwrap(),
            Some(vec!["u1".to_string()])
        );
        assert!(s.chat_room(&tenant, "r2").await.unwrap().is_none());
        assert!(s.chat_message("r2", "m1").await.unwrap().is_none());
        assert!(s.chat_message("r3", "m2").await.unwrap().is_some());
        assert_eq!(s.count_room_memberships("r2").await.unwrap(), 0);

        let mut tokened = room(&tenant, &account, "r5");
        tokened.client_request_token = Some("tok".to_string());
        s.create_chat_room(&tokened, None).await.unwrap();
        let mut twin = room(&tenant, &account, "r6");
        twin.client_request_token = Some("tok".to_string());
        assert!(matches!(
            s.create_chat_room(&twin, None).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            s.chat_room_by_request_token(&tenant, &account, "tok")
                .await
                .unwrap()
                .unwrap()
                .room_id,
            "r5"
        );
    }
}

#[tokio::test]
async fn conversations_reuse_their_pair_and_messages_page_newest_first() {
    for t in test_stores().await {
        let s = &t.store;
        let (tenant, account) = new_tenant(&t).await;
        for id in ["u1", "u2", "u3"] {
            user(&t, &tenant, &account, id, &format!("{id}@example.com")).await;
        }
        let pair = |id: &str| ConversationRecord {
            conversation_id: id.to_string(),
            is_group: false,
            created_by: "u1".to_string(),
            created_at: 1,
            pair_key: Some("u1|u2".to_string()),
        };
        let members = vec![
            ("u1".to_string(), Some(account.clone())),
            ("u2".to_string(), Some(account.clone())),
        ];
        let (first, created) = s.create_conversation(&pair("c1"), &members).await.unwrap();
        assert!(created);
        let (again, created) = s.create_conversation(&pair("c2"), &members).await.unwrap();
        assert!(!created);
        assert_eq!(again.conversation_id, first.conversation_id);
        assert!(s.conversation("c2").await.unwrap().is_none());
        let group = ConversationRecord {
            conversation_id: "g1".to_string(),
            is_group: true,
            created_by: "u3".to_string(),
            created_at: 2,
            pair_key: None,
        };
        let mut group_members = members.clone();
        group_members.push(("u3".to_string(), None));
        s.create_conversation(&group, &group_members).await.unwrap();
        let listed: Vec<String> = s
            .conversations_of_user("u1", "", 10)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.conversation_id)
            .collect();
        assert_eq!(listed, ["c1", "g1"]);
        let in_group = s.conversation_members("g1").await.unwrap();
        assert_eq!(in_group.len(), 3);
        assert_eq!(in_group[2].chime_account_id, None);
        assert_eq!(in_group[0].email, "u1@example.com");
        assert_eq!(s.chat_contacts("u3").await.unwrap(), ["u1", "u2"]);

        for (id, at) in [("m1", 10), ("m2", 20), ("m3", 20), ("m4", 30)] {
            s.insert_chat_message(&message("conversation", "c1", id, at))
                .await
                .unwrap();
        }
        // Retention hid m4: no reader sees it.
        sqlx::query("UPDATE chime_messages SET hidden_at = 1 WHERE message_id = 'm4'")
            .execute(t.pool())
            .await
            .unwrap();
        let page = s.list_chat_messages("c1", None, 2).await.unwrap();
        let ids: Vec<&str> = page.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids, ["m3", "m2"]);
        assert_eq!(page[0].mentions, ["u2"]);
        let cursor = MessageCursor {
            created_at: 20,
            message_id: "m2".to_string(),
        };
        let rest = s.list_chat_messages("c1", Some(&cursor), 10).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].message_id, "m1");
        assert!(s.chat_message("c1", "m4").await.unwrap().is_none());
        assert!(!s.edit_chat_message("c1", "m4", "x", &[], 40).await.unwrap());

        assert!(s
            .edit_chat_message("c1", "m1", "edited", &[], 40)
            .await
            .unwrap());
        let edited = s.chat_message("c1", "m1").await.unwrap().unwrap();
        assert_eq!(
            (edited.content.as_deref(), edited.edited_at),
            (Some("edited"), Some(40))
        );
        let redacted = s.redact_chat_message("c1", "m1").await.unwrap().unwrap();
        assert_eq!(redacted.content, None);
        assert!(redacted.redacted && redacted.mentions.is_empty());
        assert!(!s
            .edit_chat_message("c1", "m1", "back", &[], 50)
            .await
            .unwrap());
        assert_eq!(s.redact_chat_message("c1", "missing").await.unwrap(), None);
    }
}
