//! The Chime room operations driven through `ChimeApi`, on SQLite and (when
//! `CARILLON_TEST_DATABASE_URL` is set) PostgreSQL: rooms (creation, idempotency, listing
//! with the MemberId filter and tamper-checked tokens, renaming, deletion purging messages
//! and memberships), memberships (users and bots, roles, batch errors, limits), redaction,
//! the hub events clients are told through, tenant isolation and bad input. Spec:
//! chime-zh.md §1.10, §1.16, §2.6; chime-ko.md §1.7, §2.1.8.

mod chat_env;
mod support;

use carillon_awsapi::generated::chime::*;
use carillon_chime::hub::{ChatEvent, Container, MembershipChange, MessageChange};
use carillon_chime::messages::{post, NewPost};
use carillon_core::{ApiError, RequestContext};
use carillon_store::chime::bots::WebhookRecord;
use chat_env::{drain, TestUser};
use support::{code, envs, Env};

async fn get_room(
    env: &Env,
    ctx: &RequestContext,
    account: &str,
    room: &str,
) -> Result<Room, ApiError> {
    env.chime
        .get_room(
            ctx,
            GetRoomRequest {
                account_id: account.to_string(),
                room_id: room.to_string(),
            },
        )
        .await
        .map(|r| r.room.unwrap())
}

async fn add(
    env: &Env,
    ctx: &RequestContext,
    account: &str,
    room: &str,
    member: &str,
    role: Option<&str>,
) -> Result<RoomMembership, ApiError> {
    env.chime
        .create_room_membership(
            ctx,
            CreateRoomMembershipRequest {
                account_id: account.to_string(),
                member_id: member.to_string(),
                role: role.map(str::to_string),
                room_id: room.to_string(),
            },
        )
        .await
        .map(|r| r.room_membership.unwrap())
}

async fn list_rooms(
    env: &Env,
    ctx: &RequestContext,
    request: ListRoomsRequest,
) -> Result<(Vec<String>, Option<String>), ApiError> {
    env.chime.list_rooms(ctx, request).await.map(|r| {
        let names = r
            .rooms
            .unwrap()
            .into_iter()
            .map(|r| r.name.unwrap())
            .collect();
        (names, r.next_token)
    })
}

/// One page of ListRoomMemberships.
async fn members_page(
    env: &Env,
    ctx: &RequestContext,
    account: &str,
    room: &str,
    max: Option<i32>,
    token: Option<String>,
) -> ListRoomMembershipsResponse {
    env.chime
        .list_room_memberships(
            ctx,
            ListRoomMembershipsRequest {
                account_id: account.to_string(),
                max_results: max,
                next_token: token,
                room_id: room.to_string(),
            },
        )
        .await
        .unwrap()
}

async fn members(
    env: &Env,
    ctx: &RequestContext,
    account: &str,
    room: &str,
) -> Vec<RoomMembership> {
    members_page(env, ctx, account, room, None, None)
        .await
        .room_memberships
        .unwrap()
}

async fn set_role(
    env: &Env,
    ctx: &RequestContext,
    account: &str,
    room: &str,
    member: &str,
    role: &str,
) -> Result<RoomMembership, ApiError> {
    env.chime
        .update_room_membership(
            ctx,
            UpdateRoomMembershipRequest {
                account_id: account.to_string(),
                member_id: member.to_string(),
                role: Some(role.to_string()),
                room_id: room.to_string(),
            },
        )
        .await
        .map(|r| r.room_membership.unwrap())
}

async fn remove(
    env: &Env,
    ctx: &RequestContext,
    account: &str,
    room: &str,
    member: &str,
) -> Result<(), ApiError> {
    env.chime
        .delete_room_membership(
            ctx,
            DeleteRoomMembershipRequest {
                account_id: account.to_string(),
                member_id: member.to_string(),
                room_id: room.to_string(),
            },
        )
        .await
        .map(|_| ())
}

async fn delete_room(
    env: &Env,
    ctx: &RequestContext,
    account: &str,
    room: &str,
) -> Result<(), ApiError> {
    env.chime
        .delete_room(
            ctx,
            DeleteRoomRequest {
                account_id: account.to_string(),
                room_id: room.to_string(),
            },
        )
        .await
        .map(|_| ())
}

async fn batch_add(
    env: &Env,
    ctx: &RequestContext,
    account: &str,
    room: &str,
    items: Vec<MembershipItem>,
) -> Result<BatchCreateRoomMembershipResponse, ApiError> {
    env.chime
        .batch_create_room_membership(
            ctx,
            BatchCreateRoomMembershipRequest {
                account_id: account.to_string(),
                membership_item_list: items,
                room_id: room.to_string(),
            },
        )
        .await
}

/// A tenant, its account `Rooms` with a room `name`, and Mary Major a member of it:
/// `(ctx, account, room, mary)`.
async fn room_with_mary(env: &Env, name: &str) -> (RequestContext, String, String, TestUser) {
    let ctx = env.tenant().await;
    let account = env.account(&ctx, "Rooms").await;
    let room = env.create_room(&ctx, &account, name).await.room_id.unwrap();
    let mary = env
        .user(&ctx, &account, "mary@example.com", "Mary Major")
        .await;
    add(env, &ctx, &account, &room, &mary.user_id, None)
        .await
        .unwrap();
    (ctx, account, room, mary)
}

/// Mary's message `content` in `room`.
fn mary_says(room: &str, mary: &TestUser, content: &str) -> NewPost {
    NewPost {
        container: Container::Room(room.to_string()),
        sender_id: mary.user_id.clone(),
        sender_type: "User".to_string(),
        sender_name: "Mary Major".to_string(),
        content: content.to_string(),
    }
}

fn list_request(
    account: &str,
    member: Option<&str>,
    max: Option<i32>,
    token: Option<String>,
) -> ListRoomsRequest {
    ListRoomsRequest {
        account_id: account.to_string(),
        max_results: max,
        member_id: member.map(str::to_string),
        next_token: token,
    }
}

#[tokio::test]
async fn rooms_are_created_read_renamed_and_listed_page_by_page() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Rooms").await;
        let room = env.create_room(&ctx, &account, "Project X").await;
        assert_eq!(room.account_id.as_deref(), Some(account.as_str()));
        assert_eq!(room.name.as_deref(), Some("Project X"));
        assert_eq!(
            room.created_by.as_deref(),
            Some(ctx.principal_arn.as_str()),
            "an administrator's room names the caller"
        );
        assert!(room.created_timestamp.is_some() && room.updated_timestamp.is_some());
        let room_id = room.room_id.clone().unwrap();
        assert_eq!(
            get_room(&env, &ctx, &account, &room_id).await.unwrap(),
            room
        );

        let renamed = env
            .chime
            .update_room(
                &ctx,
                UpdateRoomRequest {
                    account_id: account.clone(),
                    name: Some("Project Y".to_string()),
                    room_id: room_id.clone(),
                },
            )
            .await
            .unwrap()
            .room
            .unwrap();
        assert_eq!(renamed.name.as_deref(), Some("Project Y"));
        assert_eq!(
            get_room(&env, &ctx, &account, &room_id)
                .await
                .unwrap()
                .name
                .as_deref(),
            Some("Project Y")
        );

        for i in 0..4 {
            env.create_room(&ctx, &account, &format!("room {i}")).await;
        }
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let (names, next) =
                list_rooms(&env, &ctx, list_request(&account, None, Some(2), token))
                    .await
                    .unwrap();
            assert!(names.len() <= 2);
            seen.extend(names);
            match next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        seen.sort();
        assert_eq!(seen, ["Project Y", "room 0", "room 1", "room 2", "room 3"]);

        // A token is bound to its filters and cannot be altered.
        let (_, next) = list_rooms(&env, &ctx, list_request(&account, None, Some(2), None))
            .await
            .unwrap();
        let next = next.unwrap();
        let mut altered = next.clone();
        altered.push('x');
        assert_eq!(
            code(
                list_rooms(
                    &env,
                    &ctx,
                    list_request(&account, None, Some(2), Some(altered))
                )
                .await
            ),
            "BadRequestException"
        );
        assert_eq!(
            code(
                list_rooms(
                    &env,
                    &ctx,
                    list_request(&account, Some("someone"), Some(2), Some(next))
                )
                .await
            ),
            "BadRequestException"
        );
    }
}

#[tokio::test]
async fn a_client_request_token_makes_create_room_idempotent() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Rooms").await;
        let request = || CreateRoomRequest {
            account_id: account.clone(),
            client_request_token: Some("retry-1".to_string()),
            name: "Once".to_string(),
        };
        let first = env
            .chime
            .create_room(&ctx, request())
            .await
            .unwrap()
            .room
            .unwrap();
        let again = env
            .chime
            .create_room(&ctx, request())
            .await
            .unwrap()
            .room
            .unwrap();
        assert_eq!(first.room_id, again.room_id);
        let (names, _) = list_rooms(&env, &ctx, list_request(&account, None, None, None))
            .await
            .unwrap();
        assert_eq!(names, ["Once"]);
        let bad = env
            .chime
            .create_room(
                &ctx,
                CreateRoomRequest {
                    client_request_token: Some("no spaces!".to_string()),
                    ..request()
                },
            )
            .await;
        assert_eq!(code(bad), "BadRequestException");
    }
}

#[tokio::test]
async fn bad_input_and_other_tenants_get_the_model_errors() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Rooms").await;
        let room = env
            .create_room(&ctx, &account, "Mine")
            .await
            .room_id
            .unwrap();
        for name in ["", "   ", &"x".repeat(257)] {
            let result = env
                .chime
                .create_room(
                    &ctx,
                    CreateRoomRequest {
                        account_id: account.clone(),
                        client_request_token: None,
                        name: name.to_string(),
                    },
                )
                .await;
            let err = result.expect_err("a bad name");
            assert_eq!(err.code, "BadRequestException");
            assert!(err.message.contains("Name"), "{}", err.message);
        }
        for max in [0, 100] {
            assert_eq!(
                code(list_rooms(&env, &ctx, list_request(&account, None, Some(max), None)).await),
                "BadRequestException"
            );
        }
        assert_eq!(
            code(get_room(&env, &ctx, &account, "no-such-room").await),
            "NotFoundException"
        );
        assert_eq!(
            code(get_room(&env, &ctx, "no-such-account", &room).await),
            "NotFoundException"
        );
        assert_eq!(
            code(get_room(&env, &ctx, " ", &room).await),
            "BadRequestException"
        );

        // Another tenant, and another account of the same tenant, see nothing.
        let other = env.tenant().await;
        let other_account = env.account(&other, "Theirs").await;
        assert_eq!(
            code(get_room(&env, &other, &account, &room).await),
            "NotFoundException"
        );
        assert_eq!(
            code(get_room(&env, &other, &other_account, &room).await),
            "NotFoundException"
        );
        let second = env.account(&ctx, "Second").await;
        assert_eq!(
            code(get_room(&env, &ctx, &second, &room).await),
            "NotFoundException"
        );
        let deleted = delete_room(&env, &other, &other_account, &room).await;
        assert_eq!(code(deleted), "NotFoundException");
        assert!(get_room(&env, &ctx, &account, &room).await.is_ok());
        let (names, _) = list_rooms(&env, &other, list_request(&other_account, None, None, None))
            .await
            .unwrap();
        assert!(names.is_empty());
    }
}

#[tokio::test]
async fn memberships_add_users_and_bots_with_roles_and_clients_are_told() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Rooms").await;
        let room = env
            .create_room(&ctx, &account, "Team")
            .await
            .room_id
            .unwrap();
        let mary = env
            .user(&ctx, &account, "mary@example.com", "Mary Major")
            .await;
        let john = env
            .user(&ctx, &account, "john@example.com", "John Doe")
            .await;
        let mut events = env.events();

        let added = add(&env, &ctx, &account, &room, &mary.user_id, None)
            .await
            .unwrap();
        assert_eq!(added.role.as_deref(), Some("Member"));
        assert_eq!(added.room_id.as_deref(), Some(room.as_str()));
        let member = added.member.unwrap();
        assert_eq!(member.member_id.as_deref(), Some(mary.user_id.as_str()));
        assert_eq!(member.member_type.as_deref(), Some("User"));
        assert_eq!(member.email.as_deref(), Some("mary@example.com"));
        assert_eq!(member.full_name.as_deref(), Some("Mary Major"));
        assert_eq!(member.account_id.as_deref(), Some(account.as_str()));
        let told = drain(&mut events);
        assert!(
            told.iter().any(|e| matches!(e, ChatEvent::Membership { member_id, change: MembershipChange::Added, audience, .. }
                if *member_id == mary.user_id && audience.contains(&mary.user_id))),
            "{told:?}"
        );

        assert_eq!(
            code(add(&env, &ctx, &account, &room, &mary.user_id, None).await),
            "ConflictException"
        );
        assert_eq!(
            code(add(&env, &ctx, &account, &room, "nobody", None).await),
            "NotFoundException"
        );
        assert_eq!(
            code(add(&env, &ctx, &account, &room, &john.user_id, Some("Owner")).await),
            "BadRequestException"
        );
        // A user of another Chime account is not a member candidate.
        let elsewhere = env.account(&ctx, "Elsewhere").await;
        let outsider = env
            .user(&ctx, &elsewhere, "out@example.com", "Out Sider")
            .await;
        assert_eq!(
            code(add(&env, &ctx, &account, &room, &outsider.user_id, None).await),
            "NotFoundException"
        );

        // Bots: enabled with an endpoint only, never Administrator.
        let (bot_id, bot_user) = env
            .bot(
                &ctx,
                &account,
                "helper",
                Some("https://bot.example.com/events"),
                false,
            )
            .await;
        let (no_endpoint, _) = env.bot(&ctx, &account, "silent", None, false).await;
        let (disabled, _) = env
            .bot(
                &ctx,
                &account,
                "retired",
                Some("https://bot.example.com/events"),
                true,
            )
            .await;
        assert_eq!(
            code(add(&env, &ctx, &account, &room, &no_endpoint, None).await),
            "BadRequestException"
        );
        assert_eq!(
            code(add(&env, &ctx, &account, &room, &disabled, None).await),
            "ForbiddenException"
        );
        assert_eq!(
            code(add(&env, &ctx, &account, &room, &bot_id, Some("Administrator")).await),
            "BadRequestException"
        );
        let bot = add(&env, &ctx, &account, &room, &bot_id, None)
            .await
            .unwrap();
        let bot_member = bot.member.unwrap();
        assert_eq!(bot_member.member_id.as_deref(), Some(bot_user.as_str()));
        assert_eq!(bot_member.member_type.as_deref(), Some("Bot"));
        assert_eq!(
            bot_member.email.as_deref(),
            Some("helper-chimebot@example.com")
        );

        // Batch: per-member errors, the rest added.
        let batch = batch_add(
            &env,
            &ctx,
            &account,
            &room,
            vec![
                MembershipItem {
                    member_id: Some(john.user_id.clone()),
                    role: Some("Administrator".to_string()),
                },
                MembershipItem {
                    member_id: Some(mary.user_id.clone()),
                    role: None,
                },
                MembershipItem {
                    member_id: Some("ghost".to_string()),
                    role: None,
                },
            ],
        )
        .await
        .unwrap();
        let mut errors: Vec<(String, String)> = batch
            .errors
            .unwrap()
            .into_iter()
            .map(|e| (e.member_id.unwrap(), e.error_code.unwrap()))
            .collect();
        errors.sort();
        let mut expected = vec![
            ("ghost".to_string(), "NotFound".to_string()),
            (mary.user_id.clone(), "Conflict".to_string()),
        ];
        expected.sort();
        assert_eq!(errors, expected);
        let empty = batch_add(&env, &ctx, &account, &room, vec![]).await;
        assert_eq!(code(empty), "BadRequestException");

        let listed = members(&env, &ctx, &account, &room).await;
        let mut roles: Vec<(String, String)> = listed
            .iter()
            .map(|m| {
                (
                    m.member.clone().unwrap().member_id.unwrap(),
                    m.role.clone().unwrap(),
                )
            })
            .collect();
        roles.sort();
        let mut expected = vec![
            (mary.user_id.clone(), "Member".to_string()),
            (john.user_id.clone(), "Administrator".to_string()),
            (bot_user.clone(), "Member".to_string()),
        ];
        expected.sort();
        assert_eq!(roles, expected);

        // Pages of memberships.
        let first = members_page(&env, &ctx, &account, &room, Some(2), None).await;
        assert_eq!(first.room_memberships.unwrap().len(), 2);
        let second = members_page(&env, &ctx, &account, &room, Some(2), first.next_token).await;
        assert_eq!(second.room_memberships.unwrap().len(), 1);
        assert_eq!(second.next_token, None);

        // ListRooms' MemberId filter, by user ID or bot ID.
        env.create_room(&ctx, &account, "Other").await;
        for id in [mary.user_id.as_str(), bot_id.as_str()] {
            let (names, _) = list_rooms(&env, &ctx, list_request(&account, Some(id), None, None))
                .await
                .unwrap();
            assert_eq!(names, ["Team"]);
        }

        // Roles change and removal.
        drain(&mut events);
        let promoted = set_role(&env, &ctx, &account, &room, &mary.user_id, "Administrator")
            .await
            .unwrap();
        assert_eq!(promoted.role.as_deref(), Some("Administrator"));
        let bot_admin = set_role(&env, &ctx, &account, &room, &bot_user, "Administrator").await;
        assert_eq!(code(bot_admin), "BadRequestException");
        remove(&env, &ctx, &account, &room, &john.user_id)
            .await
            .unwrap();
        let again = remove(&env, &ctx, &account, &room, &john.user_id).await;
        assert_eq!(code(again), "NotFoundException");
        let told = drain(&mut events);
        assert!(told.iter().any(|e| matches!(e, ChatEvent::Membership { member_id, change: MembershipChange::RoleChanged, role, .. }
            if *member_id == mary.user_id && role == "Administrator")));
        assert!(told.iter().any(|e| matches!(e, ChatEvent::Membership { member_id, change: MembershipChange::Removed, audience, .. }
            if *member_id == john.user_id && audience.contains(&john.user_id) && audience.contains(&mary.user_id))));
        assert_eq!(members(&env, &ctx, &account, &room).await.len(), 2);

        // An incoming webhook is listed by name and leaves only with DeleteWebhook.
        let hook = WebhookRecord {
            webhook_id: "w1".to_string(),
            account_id: ctx.account_id.clone(),
            chime_account_id: account.clone(),
            room_id: room.clone(),
            name: "Alerts".to_string(),
            url_id: carillon_core::ids::new_uuid(),
            token_hash: "hash".to_string(),
            created_at: 1,
            updated_at: 1,
        };
        env.test
            .store
            .create_chime_webhook(&hook, 10)
            .await
            .unwrap();
        let listed = members(&env, &ctx, &account, &room).await;
        let webhook = listed
            .iter()
            .filter_map(|m| m.member.clone())
            .find(|m| m.member_id.as_deref() == Some("w1"))
            .unwrap();
        assert_eq!(webhook.member_type.as_deref(), Some("Webhook"));
        assert_eq!(webhook.full_name.as_deref(), Some("Alerts"));
        let removed = remove(&env, &ctx, &account, &room, "w1").await;
        assert_eq!(code(removed), "BadRequestException");
    }
}

#[tokio::test]
async fn deleting_a_room_purges_its_messages_and_memberships_at_once() {
    for env in envs().await {
        let (ctx, account, room, mary) = room_with_mary(&env, "Doomed").await;
        for text in ["one", "two"] {
            post(&env.chime, mary_says(&room, &mary, text))
                .await
                .unwrap();
        }
        let mut events = env.events();
        delete_room(&env, &ctx, &account, &room).await.unwrap();
        let count = |table: &'static str, column: &'static str| {
            let pool = env.test.pool().clone();
            let room = room.clone();
            async move {
                let n: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE {column} = $1"
                ))
                .bind(room)
                .fetch_one(&pool)
                .await
                .unwrap();
                n
            }
        };
        assert_eq!(count("chime_messages", "container_id").await, 0);
        assert_eq!(count("chime_room_memberships", "room_id").await, 0);
        assert_eq!(
            code(get_room(&env, &ctx, &account, &room).await),
            "NotFoundException"
        );
        let told = drain(&mut events);
        assert!(told.iter().any(
            |e| matches!(e, ChatEvent::RoomDeleted { room_id, audience, .. }
            if *room_id == room && audience.contains(&mary.user_id))
        ));
        let again = delete_room(&env, &ctx, &account, &room).await;
        assert_eq!(code(again), "NotFoundException");
    }
}

#[tokio::test]
async fn redacting_a_room_message_removes_its_content_for_good() {
    for env in envs().await {
        let (ctx, account, room, mary) = room_with_mary(&env, "Chat").await;
        let message = post(
            &env.chime,
            mary_says(&room, &mary, "my password is hunter2"),
        )
        .await
        .unwrap();
        let mut events = env.events();
        let redact = |account: String, room: String, message: String| RedactRoomMessageRequest {
            account_id: account,
            message_id: message,
            room_id: room,
        };
        env.chime
            .redact_room_message(
                &ctx,
                redact(account.clone(), room.clone(), message.message_id.clone()),
            )
            .await
            .unwrap();
        let (content, redacted): (Option<String>, i64) =
            sqlx::query_as("SELECT content, redacted FROM chime_messages WHERE message_id = $1")
                .bind(&message.message_id)
                .fetch_one(env.test.pool())
                .await
                .unwrap();
        assert_eq!((content, redacted), (None, 1));
        let told = drain(&mut events);
        assert!(told.iter().any(|e| matches!(e, ChatEvent::Message { change: MessageChange::Redacted, message: m, audience, .. }
            if m.message_id == message.message_id && m.content.is_none() && audience.contains(&mary.user_id))));

        assert_eq!(
            code(
                env.chime
                    .redact_room_message(
                        &ctx,
                        redact(account.clone(), room.clone(), "nope".to_string())
                    )
                    .await
            ),
            "NotFoundException"
        );
        assert_eq!(
            code(
                env.chime
                    .redact_room_message(
                        &ctx,
                        redact(account.clone(), room.clone(), " ".to_string())
                    )
                    .await
            ),
            "BadRequestException"
        );
        let other = env.tenant().await;
        let other_account = env.account(&other, "Theirs").await;
        assert_eq!(
            code(
                env.chime
                    .redact_room_message(
                        &other,
                        redact(other_account, room.clone(), message.message_id.clone())
                    )
                    .await
            ),
            "NotFoundException"
        );
    }
}
