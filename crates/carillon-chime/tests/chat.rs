//! Chat for signed-in users, at the service level, on SQLite and (when
//! `CARILLON_TEST_DATABASE_URL` is set) PostgreSQL: sign-in and bearer sessions (wrong
//! password, suspension, expiry, sign-out), posting with its checks and @mentions, editing,
//! newest-first history with cursors, conversations (1:1 reuse, groups), rooms run by their
//! administrators, presence, conversation redaction, and the hub events every change
//! publishes. Spec: chime-zh.md §1.3, §1.10, §2.6, §3.3.

mod chat_env;
mod support;

use carillon_awsapi::generated::chime::*;
use carillon_chime::hub::{ChatEvent, Container, MembershipChange, MessageChange};
use carillon_chime::messages::{self, post, NewPost};
use carillon_chime::sessions::{authenticate, sign_in, sign_out};
use carillon_chime::{conversations, presence, rooms};
use carillon_core::time::now_millis;
use carillon_store::chime::chat::ChatSessionRecord;
use chat_env::{drain, TestUser, PASSWORD};
use support::{code, envs};

fn user_post(user: &TestUser, container: Container, content: &str) -> NewPost {
    NewPost {
        container,
        sender_id: user.user_id.clone(),
        sender_type: "User".to_string(),
        sender_name: user.session.shown_name(),
        content: content.to_string(),
    }
}

#[tokio::test]
async fn sign_in_gives_a_bearer_session_until_sign_out() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Chat").await;
        let mary = env
            .user(&ctx, &account, "mary@example.com", "Mary Major")
            .await;

        let signed = sign_in(&env.chime, "Mary@Example.com", PASSWORD)
            .await
            .unwrap();
        assert_eq!(signed.token.len(), 64);
        assert_eq!(signed.user.user_id, mary.user_id);
        let lifetime = signed.user.expires_at - now_millis();
        assert!(lifetime > 23 * 3_600_000 && lifetime <= 24 * 3_600_000);
        // Only the token's SHA-256 is stored.
        let stored: Vec<String> =
            sqlx::query_scalar("SELECT session_hash FROM chime_sessions WHERE user_id = $1")
                .bind(&mary.user_id)
                .fetch_all(env.test.pool())
                .await
                .unwrap();
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0], signed.token);

        let user = authenticate(&env.chime, &signed.token).await.unwrap();
        assert_eq!(user.user_id, mary.user_id);
        assert_eq!(user.chime_account_id.as_deref(), Some(account.as_str()));
        assert_eq!(user.email, "mary@example.com");

        assert_eq!(
            code(sign_in(&env.chime, "mary@example.com", "wrong password").await),
            "UnauthorizedClientException"
        );
        assert_eq!(
            code(sign_in(&env.chime, "nobody@example.com", PASSWORD).await),
            "UnauthorizedClientException"
        );
        assert_eq!(
            code(sign_in(&env.chime, "", PASSWORD).await),
            "BadRequestException"
        );
        assert_eq!(
            code(authenticate(&env.chime, "").await),
            "UnauthorizedClientException"
        );
        assert_eq!(
            code(authenticate(&env.chime, &"0".repeat(64)).await),
            "UnauthorizedClientException"
        );

        sign_out(&env.chime, &signed.token).await.unwrap();
        assert_eq!(
            code(authenticate(&env.chime, &signed.token).await),
            "UnauthorizedClientException"
        );
        assert_eq!(
            code(sign_out(&env.chime, &signed.token).await),
            "UnauthorizedClientException"
        );
    }
}

#[tokio::test]
async fn suspended_unregistered_and_expired_users_are_refused() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Chat").await;
        env.user_with(&ctx, &account, "gone@example.com", "Gone", "Suspended")
            .await;
        env.user_with(&ctx, &account, "new@example.com", "New", "Unregistered")
            .await;
        assert_eq!(
            code(sign_in(&env.chime, "gone@example.com", PASSWORD).await),
            "ForbiddenException"
        );
        assert_eq!(
            code(sign_in(&env.chime, "new@example.com", PASSWORD).await),
            "ForbiddenException"
        );

        // A session stops working once the user is suspended, before any row is deleted.
        let mary = env.user(&ctx, &account, "mary@example.com", "Mary").await;
        let signed = sign_in(&env.chime, "mary@example.com", PASSWORD)
            .await
            .unwrap();
        sqlx::query("UPDATE chime_users SET registration_status = 'Suspended' WHERE user_id = $1")
            .bind(&mary.user_id)
            .execute(env.test.pool())
            .await
            .unwrap();
        assert_eq!(
            code(authenticate(&env.chime, &signed.token).await),
            "UnauthorizedClientException"
        );

        // An unmanaged identity keeps chat sign-in (conversations), but has no account to
        // make rooms in.
        let loner = env.unmanaged("loner@example.org").await;
        let signed = sign_in(&env.chime, "loner@example.org", PASSWORD)
            .await
            .unwrap();
        let session = authenticate(&env.chime, &signed.token).await.unwrap();
        assert_eq!(
            (
                session.user_id.as_str(),
                session.chime_account_id.as_deref()
            ),
            (loner.as_str(), None)
        );
        assert_eq!(
            code(rooms::create_for_user(&env.chime, &session, "Mine".to_string()).await),
            "ForbiddenException"
        );
        let paulo = env.user(&ctx, &account, "paulo@example.com", "Paulo").await;
        conversations::create(&env.chime, &session, std::slice::from_ref(&paulo.email))
            .await
            .unwrap();

        // An expired session is refused.
        let john = env.user(&ctx, &account, "john@example.com", "John").await;
        let token = "ab".repeat(32);
        let hash: String = {
            use sha2::{Digest, Sha256};
            hex::encode(Sha256::digest(token.as_bytes()))
        };
        env.test
            .store
            .create_chat_session(&ChatSessionRecord {
                session_hash: hash,
                user_id: john.user_id.clone(),
                created_at: now_millis() - 86_400_001,
                expires_at: now_millis() - 1,
            })
            .await
            .unwrap();
        assert_eq!(
            code(authenticate(&env.chime, &token).await),
            "UnauthorizedClientException"
        );
    }
}

#[tokio::test]
async fn room_members_chat_with_mentions_edits_and_history() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Chat").await;
        let mary = env
            .user(&ctx, &account, "mary.major@example.com", "Mary Major")
            .await;
        let john = env
            .user(&ctx, &account, "john@example.com", "John Doe")
            .await;
        let paulo = env
            .user(&ctx, &account, "paulo@example.com", "Paulo Santos")
            .await;
        let outsider = env.user(&ctx, &account, "out@example.com", "Out").await;

        // Mary creates a room and is its administrator; she adds John by email, Paulo by ID.
        let room = rooms::create_for_user(&env.chime, &mary.session, "Launch".to_string())
            .await
            .unwrap();
        assert_eq!(room.created_by.as_deref(), Some(mary.user_id.as_str()));
        let mut events = env.events();
        rooms::add_member_by_user(
            &env.chime,
            &mary.session,
            &room.room_id,
            "John@Example.com",
            None,
        )
        .await
        .unwrap();
        rooms::add_member_by_user(
            &env.chime,
            &mary.session,
            &room.room_id,
            &paulo.user_id,
            None,
        )
        .await
        .unwrap();
        assert_eq!(
            code(
                rooms::add_member_by_user(
                    &env.chime,
                    &john.session,
                    &room.room_id,
                    &outsider.user_id,
                    None
                )
                .await
            ),
            "ForbiddenException"
        );
        assert_eq!(
            code(rooms::room_for_user(&env.chime, &outsider.session, &room.room_id).await),
            "NotFoundException"
        );
        let told = drain(&mut events);
        assert!(told.iter().any(|e| matches!(e, ChatEvent::Membership { member_id, change: MembershipChange::Added, actor, .. }
            if *member_id == john.user_id && actor.as_deref() == Some(mary.user_id.as_str()))));

        // Posting: members only, 1 to 4,096 bytes.
        let in_room = || Container::Room(room.room_id.clone());
        assert_eq!(
            code(post(&env.chime, user_post(&outsider, in_room(), "let me in")).await),
            "ForbiddenException"
        );
        assert_eq!(
            code(post(&env.chime, user_post(&john, in_room(), "  ")).await),
            "BadRequestException"
        );
        let long = "é".repeat(2049);
        assert_eq!(
            code(post(&env.chime, user_post(&john, in_room(), &long)).await),
            "BadRequestException"
        );
        assert!(
            post(&env.chime, user_post(&john, in_room(), &"x".repeat(4096)))
                .await
                .is_ok()
        );
        assert_eq!(
            code(
                post(
                    &env.chime,
                    NewPost {
                        sender_type: "Robot".to_string(),
                        ..user_post(&john, in_room(), "hi")
                    }
                )
                .await
            ),
            "BadRequestException"
        );
        assert_eq!(
            code(
                post(
                    &env.chime,
                    user_post(&john, Container::Room("missing".to_string()), "hi")
                )
                .await
            ),
            "NotFoundException"
        );

        // Mentions: @alias (email local part or display name), @All, @Present.
        let hello = post(
            &env.chime,
            user_post(&john, in_room(), "@mary.major and @PauloSantos, look"),
        )
        .await
        .unwrap();
        let mut mentioned = hello.mentions.clone();
        mentioned.sort();
        let mut expected = vec![mary.user_id.clone(), paulo.user_id.clone()];
        expected.sort();
        assert_eq!(mentioned, expected);
        let all = post(&env.chime, user_post(&john, in_room(), "@All standup"))
            .await
            .unwrap();
        assert_eq!(all.mentions.len(), 2, "everyone but the sender");
        assert!(!all.mentions.contains(&john.user_id));
        presence::connected(&env.chime, &paulo.user_id)
            .await
            .unwrap();
        let here = post(&env.chime, user_post(&john, in_room(), "@Present anyone?"))
            .await
            .unwrap();
        assert_eq!(here.mentions, vec![paulo.user_id.clone()]);
        presence::disconnected(&env.chime, &paulo.user_id)
            .await
            .unwrap();
        let none = post(&env.chime, user_post(&john, in_room(), "@Present anyone?"))
            .await
            .unwrap();
        assert!(none.mentions.is_empty());

        let told = drain(&mut events);
        assert!(told.iter().any(|e| matches!(e, ChatEvent::Message { change: MessageChange::Created, message, audience, .. }
            if message.message_id == hello.message_id && audience.contains(&mary.user_id) && !audience.contains(&outsider.user_id))));

        // Editing: one's own only, mentions resolved again.
        let edited = messages::edit(
            &env.chime,
            &john.session,
            in_room(),
            &hello.message_id,
            "@john sorry, @mary.major".to_string(),
        )
        .await
        .unwrap();
        assert_eq!(edited.content.as_deref(), Some("@john sorry, @mary.major"));
        assert!(edited.edited_at.is_some());
        assert_eq!(
            edited.mentions,
            vec![john.user_id.clone(), mary.user_id.clone()]
        );
        assert_eq!(
            code(
                messages::edit(
                    &env.chime,
                    &mary.session,
                    in_room(),
                    &hello.message_id,
                    "mine now".to_string()
                )
                .await
            ),
            "ForbiddenException"
        );
        assert_eq!(
            code(
                messages::edit(
                    &env.chime,
                    &john.session,
                    in_room(),
                    "missing",
                    "x".to_string()
                )
                .await
            ),
            "NotFoundException"
        );
        let told = drain(&mut events);
        assert!(told.iter().any(
            |e| matches!(e, ChatEvent::Message { change: MessageChange::Edited, message, .. }
            if message.message_id == hello.message_id)
        ));

        // History: newest first, page by page; non-members see nothing.
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = messages::history(
                &env.chime,
                &mary.session,
                in_room(),
                Some(2),
                token.as_deref(),
            )
            .await
            .unwrap();
            assert!(page.messages.len() <= 2);
            seen.extend(page.messages);
            match page.next_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
        assert!(seen
            .windows(2)
            .all(|w| (w[0].created_at, &w[0].message_id) >= (w[1].created_at, &w[1].message_id)));
        assert_eq!(
            seen.last().unwrap().content.as_deref(),
            Some("x".repeat(4096).as_str())
        );
        let first = messages::history(&env.chime, &mary.session, in_room(), Some(2), None)
            .await
            .unwrap();
        assert_eq!(
            code(
                messages::history(
                    &env.chime,
                    &john.session,
                    in_room(),
                    Some(2),
                    first.next_token.as_deref()
                )
                .await
            ),
            "BadRequestException",
            "a cursor is bound to its user"
        );
        assert_eq!(
            code(messages::history(&env.chime, &outsider.session, in_room(), None, None).await),
            "NotFoundException"
        );
        assert_eq!(
            code(messages::history(&env.chime, &mary.session, in_room(), Some(101), None).await),
            "BadRequestException"
        );

        // Roles, removal and leaving by users.
        assert_eq!(
            code(
                rooms::set_role_by_user(
                    &env.chime,
                    &john.session,
                    &room.room_id,
                    &paulo.user_id,
                    "Administrator"
                )
                .await
            ),
            "ForbiddenException"
        );
        rooms::set_role_by_user(
            &env.chime,
            &mary.session,
            &room.room_id,
            &john.user_id,
            "Administrator",
        )
        .await
        .unwrap();
        rooms::remove_member_by_user(&env.chime, &john.session, &room.room_id, &paulo.user_id)
            .await
            .unwrap();
        assert_eq!(
            code(post(&env.chime, user_post(&paulo, in_room(), "still here?")).await),
            "ForbiddenException"
        );
        rooms::remove_member_by_user(&env.chime, &mary.session, &room.room_id, &mary.user_id)
            .await
            .unwrap();
        let (mine, _) = rooms::rooms_of_user(&env.chime, &mary.session, None, None)
            .await
            .unwrap();
        assert!(mine.is_empty());
        let (johns, _) = rooms::rooms_of_user(&env.chime, &john.session, None, None)
            .await
            .unwrap();
        assert_eq!(johns.len(), 1);
    }
}

#[tokio::test]
async fn conversations_reuse_the_pair_and_redaction_reaches_their_members() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Chat").await;
        let mary = env.user(&ctx, &account, "mary@example.com", "Mary").await;
        let john = env.user(&ctx, &account, "john@example.com", "John").await;
        let paulo = env.user(&ctx, &account, "paulo@example.com", "Paulo").await;
        // Conversations may include users of another account (and tenant).
        let other = env.tenant().await;
        let other_account = env.account(&other, "Partner").await;
        let partner = env
            .user(&other, &other_account, "partner@partner.test", "Partner")
            .await;

        let (one, created) =
            conversations::create(&env.chime, &mary.session, std::slice::from_ref(&john.email))
                .await
                .unwrap();
        assert!(created && !one.conversation.is_group);
        let (again, created) = conversations::create(
            &env.chime,
            &john.session,
            std::slice::from_ref(&mary.user_id),
        )
        .await
        .unwrap();
        assert!(!created, "the pair reuses its conversation");
        assert_eq!(
            again.conversation.conversation_id,
            one.conversation.conversation_id
        );
        let (group, created) = conversations::create(
            &env.chime,
            &mary.session,
            &[
                john.user_id.clone(),
                paulo.email.clone(),
                partner.email.clone(),
            ],
        )
        .await
        .unwrap();
        assert!(created && group.conversation.is_group);
        assert_eq!(group.members.len(), 4);
        assert_eq!(
            code(
                conversations::create(&env.chime, &mary.session, std::slice::from_ref(&mary.email))
                    .await
            ),
            "BadRequestException"
        );
        assert_eq!(
            code(
                conversations::create(
                    &env.chime,
                    &mary.session,
                    &["ghost@example.com".to_string()]
                )
                .await
            ),
            "NotFoundException"
        );
        let (listed, next) = conversations::list(&env.chime, &mary.session, Some(1), None)
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        let (rest, _) = conversations::list(&env.chime, &mary.session, Some(1), next.as_deref())
            .await
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert_ne!(
            listed[0].conversation.conversation_id,
            rest[0].conversation.conversation_id
        );
        assert_eq!(
            code(
                conversations::get(
                    &env.chime,
                    &paulo.session,
                    &one.conversation.conversation_id
                )
                .await
            ),
            "NotFoundException"
        );

        let chat = Container::Conversation(group.conversation.conversation_id.clone());
        let secret = post(
            &env.chime,
            user_post(&partner, chat.clone(), "the code is 1234 @mary"),
        )
        .await
        .unwrap();
        assert_eq!(secret.mentions, vec![mary.user_id.clone()]);
        assert_eq!(
            code(
                post(
                    &env.chime,
                    user_post(
                        &paulo,
                        Container::Conversation(one.conversation.conversation_id.clone()),
                        "hi"
                    )
                )
                .await
            ),
            "ForbiddenException"
        );

        // An administrator redacts it; every member is told; history keeps its place.
        let mut events = env.events();
        let redact = |ctx_account: &str, conversation: &str, message: &str| {
            RedactConversationMessageRequest {
                account_id: ctx_account.to_string(),
                conversation_id: conversation.to_string(),
                message_id: message.to_string(),
            }
        };
        let conversation_id = group.conversation.conversation_id.clone();
        // A tenant with no member in the conversation cannot touch it.
        let stranger = env.tenant().await;
        let stranger_account = env.account(&stranger, "Stranger").await;
        assert_eq!(
            code(
                env.chime
                    .redact_conversation_message(
                        &stranger,
                        redact(&stranger_account, &conversation_id, &secret.message_id)
                    )
                    .await
            ),
            "NotFoundException"
        );
        env.chime
            .redact_conversation_message(
                &ctx,
                redact(&account, &conversation_id, &secret.message_id),
            )
            .await
            .unwrap();
        let told = drain(&mut events);
        assert!(told.iter().any(|e| matches!(e, ChatEvent::Message { change: MessageChange::Redacted, message, audience, .. }
            if message.message_id == secret.message_id && message.content.is_none()
                && audience.contains(&partner.user_id) && audience.contains(&paulo.user_id))));
        let page = messages::history(&env.chime, &john.session, chat.clone(), None, None)
            .await
            .unwrap();
        assert_eq!(page.messages.len(), 1);
        assert_eq!(page.messages[0].content, None);
        assert_eq!(
            code(
                messages::edit(
                    &env.chime,
                    &partner.session,
                    chat,
                    &secret.message_id,
                    "again".to_string()
                )
                .await
            ),
            "ConflictException"
        );
        assert_eq!(
            code(
                env.chime
                    .redact_conversation_message(
                        &ctx,
                        redact(&account, &conversation_id, "missing")
                    )
                    .await
            ),
            "NotFoundException"
        );
    }
}

#[tokio::test]
async fn presence_is_announced_to_contacts_on_first_connect_and_last_disconnect() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Chat").await;
        let mary = env.user(&ctx, &account, "mary@example.com", "Mary").await;
        let john = env.user(&ctx, &account, "john@example.com", "John").await;
        let loner = env.user(&ctx, &account, "loner@example.com", "Loner").await;
        conversations::create(
            &env.chime,
            &mary.session,
            std::slice::from_ref(&john.user_id),
        )
        .await
        .unwrap();
        let mut events = env.events();
        presence::connected(&env.chime, &mary.user_id)
            .await
            .unwrap();
        presence::connected(&env.chime, &mary.user_id)
            .await
            .unwrap();
        presence::disconnected(&env.chime, &mary.user_id)
            .await
            .unwrap();
        let told = drain(&mut events);
        let statuses: Vec<(String, Vec<String>)> = told
            .iter()
            .filter_map(|e| match e {
                ChatEvent::Presence {
                    user_id,
                    status,
                    audience,
                } if *user_id == mary.user_id => Some((status.clone(), audience.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            statuses,
            vec![("Online".to_string(), vec![john.user_id.clone()])]
        );
        assert_eq!(
            presence::online_contacts(&env.chime, &john.user_id)
                .await
                .unwrap(),
            vec![mary.user_id.clone()]
        );
        assert!(presence::online_contacts(&env.chime, &loner.user_id)
            .await
            .unwrap()
            .is_empty());
        presence::disconnected(&env.chime, &mary.user_id)
            .await
            .unwrap();
        let told = drain(&mut events);
        assert!(told
            .iter()
            .any(|e| matches!(e, ChatEvent::Presence { user_id, status, .. }
            if *user_id == mary.user_id && status == "Offline")));
        assert!(!env.chime.hub().is_present(&mary.user_id));
    }
}
