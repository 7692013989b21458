//! Chat content at rest, on SQLite and (when `CARILLON_TEST_DATABASE_URL` is set)
//! PostgreSQL: what is posted and edited is sealed in `chime_messages.content` (no trace of
//! the text in the table), while history, edits, redaction and the hub's events show the
//! plaintext; rows written before sealing still read; a sealed value moved to another message
//! does not open; each container's key is wrapped under its creating tenant's KMS key.

mod chat_env;
mod support;

use carillon_awsapi::generated::chime::*;
use carillon_chime::hub::{ChatEvent, Container, MessageChange};
use carillon_chime::messages::{self, post, NewPost};
use carillon_chime::{conversations, rooms};
use carillon_core::time::now_millis;
use chat_env::{drain, TestUser};
use support::{code, envs, Env};

/// Text no sealed value can contain by chance.
const MARKER: &str = "MARKER-plaintext-4d1f9c";

fn said(user: &TestUser, container: Container, content: &str) -> NewPost {
    NewPost {
        container,
        sender_id: user.user_id.clone(),
        sender_type: "User".to_string(),
        sender_name: user.session.shown_name(),
        content: content.to_string(),
    }
}

/// Every stored content of container `container_id`: `(message_id, content)`.
async fn raw_contents(env: &Env, container_id: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as("SELECT message_id, content FROM chime_messages WHERE container_id = $1")
        .bind(container_id)
        .fetch_all(env.test.pool())
        .await
        .unwrap()
}

/// Fails when any stored content of the container shows `MARKER`; returns how many are
/// sealed.
async fn assert_sealed(env: &Env, container_id: &str) -> usize {
    let rows = raw_contents(env, container_id).await;
    for (id, content) in &rows {
        assert!(
            !content.as_deref().unwrap_or("").contains(MARKER),
            "message {id} is plaintext at rest"
        );
    }
    rows.iter()
        .filter(|(_, c)| c.as_deref().is_some_and(|c| c.starts_with("sealed:v1:")))
        .count()
}

/// The tenant whose KMS key wraps the key of `container_id`, if it has a key.
async fn key_tenant(env: &Env, container_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT account_id FROM chime_container_keys WHERE container_id = $1")
        .bind(container_id)
        .fetch_optional(env.test.pool())
        .await
        .unwrap()
}

/// The contents of `user`'s first page of history of `container`, newest first.
async fn history(env: &Env, user: &TestUser, container: Container) -> Vec<Option<String>> {
    messages::history(&env.chime, &user.session, container, None, None)
        .await
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.content)
        .collect()
}

#[tokio::test]
async fn room_messages_are_sealed_at_rest_and_read_in_plaintext() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "AtRest").await;
        let mary = env.user(&ctx, &account, "mary@example.com", "Mary").await;
        let john = env.user(&ctx, &account, "john@example.com", "John").await;
        let room = rooms::create_for_user(&env.chime, &mary.session, "Vault".to_string())
            .await
            .unwrap();
        rooms::add_member_by_user(&env.chime, &mary.session, &room.room_id, &john.email, None)
            .await
            .unwrap();
        let in_room = || Container::Room(room.room_id.clone());
        // A row from before sealing, written straight to the table ("hello").
        let old = env
            .insert_message("room", &room.room_id, &john.user_id, now_millis() - 60_000)
            .await;
        let mut events = env.events();

        let text = format!("launch code {MARKER}");
        let posted = post(&env.chime, said(&john, in_room(), &text))
            .await
            .unwrap();
        assert_eq!(posted.content.as_deref(), Some(text.as_str()));
        let second = post(&env.chime, said(&mary, in_room(), &format!("{MARKER} ack")))
            .await
            .unwrap();
        assert_eq!(assert_sealed(&env, &room.room_id).await, 2);
        assert_eq!(
            key_tenant(&env, &room.room_id).await,
            Some(ctx.account_id.clone())
        );
        assert_eq!(
            history(&env, &mary, in_room()).await,
            vec![
                Some(format!("{MARKER} ack")),
                Some(text.clone()),
                Some("hello".to_string()),
            ]
        );

        // Edits are sealed too, under a new message key.
        let before_edit = raw_contents(&env, &room.room_id).await;
        let edited = format!("{MARKER} edited");
        messages::edit(
            &env.chime,
            &john.session,
            in_room(),
            &posted.message_id,
            edited.clone(),
        )
        .await
        .unwrap();
        assert_eq!(assert_sealed(&env, &room.room_id).await, 2);
        assert_ne!(raw_contents(&env, &room.room_id).await, before_edit);
        assert_eq!(
            history(&env, &john, in_room()).await[1].as_deref(),
            Some(edited.as_str())
        );

        // The hub carried the plaintext of the post and of the edit.
        let told = drain(&mut events);
        for (change, content) in [
            (MessageChange::Created, &text),
            (MessageChange::Edited, &edited),
        ] {
            assert!(told.iter().any(
                |e| matches!(e, ChatEvent::Message { change: c, message, .. }
                if *c == change && message.content.as_deref() == Some(content.as_str()))
            ));
        }

        // A sealed value copied onto another message's row does not open there.
        let rows = raw_contents(&env, &room.room_id).await;
        let stored = |id: &str| {
            rows.iter()
                .find(|(message_id, _)| message_id == id)
                .and_then(|(_, content)| content.clone())
                .unwrap()
        };
        let (sealed_first, sealed_second) =
            (stored(&posted.message_id), stored(&second.message_id));
        let set_content = "UPDATE chime_messages SET content = $2 WHERE message_id = $1";
        env.test
            .exec(set_content, &[&posted.message_id, &sealed_second])
            .await;
        assert_eq!(
            code(messages::history(&env.chime, &mary.session, in_room(), None, None).await),
            "ServiceFailureException"
        );
        env.test
            .exec(set_content, &[&posted.message_id, &sealed_first])
            .await;

        // Redaction removes the content (NULL), sealed or not, and is told without content.
        for message_id in [&posted.message_id, &old] {
            env.chime
                .redact_room_message(
                    &ctx,
                    RedactRoomMessageRequest {
                        account_id: account.clone(),
                        room_id: room.room_id.clone(),
                        message_id: message_id.clone(),
                    },
                )
                .await
                .unwrap();
        }
        let rows = raw_contents(&env, &room.room_id).await;
        for (id, content) in &rows {
            assert_eq!(content.is_none(), *id != second.message_id, "message {id}");
        }
        assert_eq!(
            history(&env, &mary, in_room()).await,
            vec![Some(format!("{MARKER} ack")), None, None]
        );
        assert!(drain(&mut events)
            .iter()
            .any(|e| matches!(e, ChatEvent::Message {
            change: MessageChange::Redacted, message, ..
        } if message.message_id == posted.message_id && message.content.is_none())));

        // Deleting the room deletes its key with its messages.
        env.chime
            .delete_room(
                &ctx,
                DeleteRoomRequest {
                    account_id: account.clone(),
                    room_id: room.room_id.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(key_tenant(&env, &room.room_id).await, None);
    }
}

#[tokio::test]
async fn conversations_are_sealed_under_the_creating_tenant() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Home").await;
        let mary = env.user(&ctx, &account, "mary@example.com", "Mary").await;
        let john = env.user(&ctx, &account, "john@example.com", "John").await;
        let other = env.tenant().await;
        let other_account = env.account(&other, "Partner").await;
        let partner = env
            .user(&other, &other_account, "partner@partner.test", "Partner")
            .await;

        // Across tenants: the creator's tenant's key; both sides read the plaintext.
        let (across, _) = conversations::create(
            &env.chime,
            &mary.session,
            std::slice::from_ref(&partner.email),
        )
        .await
        .unwrap();
        let across_id = across.conversation.conversation_id.clone();
        let in_across = || Container::Conversation(across_id.clone());
        post(&env.chime, said(&partner, in_across(), MARKER))
            .await
            .unwrap();
        assert_eq!(assert_sealed(&env, &across_id).await, 1);
        assert_eq!(
            key_tenant(&env, &across_id).await,
            Some(ctx.account_id.clone())
        );
        for reader in [&mary, &partner] {
            assert_eq!(
                history(&env, reader, in_across()).await,
                vec![Some(MARKER.to_string())]
            );
        }

        // A creator who has left every account by the first message: the key of no tenant.
        let (pair, _) =
            conversations::create(&env.chime, &john.session, std::slice::from_ref(&mary.email))
                .await
                .unwrap();
        let pair_id = pair.conversation.conversation_id.clone();
        env.test
            .exec(
                "UPDATE chime_users SET account_id = NULL, chime_account_id = NULL \
                 WHERE user_id = $1",
                &[&john.user_id],
            )
            .await;
        post(
            &env.chime,
            said(&mary, Container::Conversation(pair_id.clone()), MARKER),
        )
        .await
        .unwrap();
        assert_eq!(assert_sealed(&env, &pair_id).await, 1);
        assert_eq!(
            key_tenant(&env, &pair_id).await.as_deref(),
            Some("000000000000")
        );
        assert_eq!(
            history(&env, &mary, Container::Conversation(pair_id.clone())).await,
            vec![Some(MARKER.to_string())]
        );
    }
}
