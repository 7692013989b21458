//! Chat sessions, rooms, memberships, conversations and messages. Spec: chime-zh.md §1.10.
//!
//! The store keeps rows; who may do what (room administrators, senders, the sign-in rules)
//! lives in carillon-chime. Rooms and their memberships carry the tenant (`account_id`) and
//! every room query filters on it; conversations may span tenants, so they are reached
//! through their members. Every reader of `chime_messages` skips rows retention has hidden
//! (`hidden_at IS NOT NULL`).

use crate::error::{StoreError, StoreResult};
use crate::sql::{self, Arg};
use crate::Store;

/// A user as chat sees them: identity, account and what sign-in checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatUserRecord {
    /// The user ID (UUID).
    pub user_id: String,
    /// The tenant; `None` for an unmanaged identity.
    pub account_id: Option<String>,
    /// The Chime account; `None` for an unmanaged identity.
    pub chime_account_id: Option<String>,
    /// Lower-cased email address.
    pub primary_email: String,
    /// Display name, if any.
    pub display_name: Option<String>,
    /// Model `License`; `None` for an unmanaged identity.
    pub license_type: Option<String>,
    /// Model `RegistrationStatus`.
    pub registration_status: String,
    /// Argon2id PHC string; `None` until the user registers.
    pub password_hash: Option<String>,
    /// Presence privacy: `Public` or `Private`.
    pub privacy: String,
    /// Whether the user's Chime account exists and is not deleted.
    pub account_live: bool,
}

/// A chat session: the SHA-256 (hex) of its bearer token, never the token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChatSessionRecord {
    /// Hex SHA-256 of the bearer token.
    pub session_hash: String,
    /// The signed-in user.
    pub user_id: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds; the session is refused from then on.
    pub expires_at: i64,
}

/// A bot as a room member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatBotRecord {
    /// The bot ID.
    pub bot_id: String,
    /// Its room member ID.
    pub user_id: String,
    /// The tenant.
    pub account_id: String,
    /// Its Chime account.
    pub chime_account_id: String,
    /// Display name.
    pub display_name: String,
    /// `<name>-chimebot@<domain>`.
    pub bot_email: String,
    /// Whether `UpdateBot` disabled it.
    pub disabled: bool,
    /// Whether it has an outbound events endpoint.
    pub has_endpoint: bool,
}

/// A chat room.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChatRoomRecord {
    /// The room ID (UUID).
    pub room_id: String,
    /// The tenant.
    pub account_id: String,
    /// The Chime account it belongs to.
    pub chime_account_id: String,
    /// Room name.
    pub name: String,
    /// The user who created it; `None` for an administrator.
    pub created_by: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub updated_at: i64,
    /// CreateRoom's idempotency token, if the request gave one.
    pub client_request_token: Option<String>,
}

/// A room membership with what is known of its member.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RoomMembershipRecord {
    /// The room.
    pub room_id: String,
    /// User ID, bot user ID or webhook ID.
    pub member_id: String,
    /// The room's tenant.
    pub account_id: String,
    /// Model `MemberType`: `User`, `Bot` or `Webhook`.
    pub member_type: String,
    /// Model `RoomMembershipRole`: `Administrator` or `Member`.
    pub role: String,
    /// The user who added the member; `None` for an administrator.
    pub invited_by: Option<String>,
    /// Epoch milliseconds.
    pub updated_at: i64,
    /// The member's email (user or bot), read from its row; ignored on insert.
    pub email: Option<String>,
    /// The member's display name (user or bot) or webhook name, read from its row; ignored
    /// on insert.
    pub full_name: Option<String>,
    /// The member's Chime account (user, bot or webhook), read from its row; ignored on
    /// insert.
    pub member_chime_account_id: Option<String>,
}

/// A 1:1 or group conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    /// The conversation ID (UUID).
    pub conversation_id: String,
    /// Whether it is a group conversation.
    pub is_group: bool,
    /// The user who created it.
    pub created_by: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// For a 1:1 conversation, `"<smaller user ID>|<larger user ID>"`.
    pub pair_key: Option<String>,
}

/// A conversation member with their identity.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConversationMemberRecord {
    /// The conversation.
    pub conversation_id: String,
    /// The member.
    pub user_id: String,
    /// The member's Chime account when they joined (`None`: unmanaged).
    pub chime_account_id: Option<String>,
    /// Epoch milliseconds.
    pub joined_at: i64,
    /// The member's email, read from their row; ignored on insert.
    pub email: String,
    /// The member's display name, read from their row; ignored on insert.
    pub display_name: Option<String>,
    /// The member's tenant now, read from their row; ignored on insert.
    pub account_id: Option<String>,
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessageRecord {
    /// The message ID (UUID).
    pub message_id: String,
    /// `room` or `conversation`.
    pub container_type: String,
    /// The room or conversation ID.
    pub container_id: String,
    /// User ID, bot user ID or webhook ID.
    pub sender_id: String,
    /// `User`, `Bot` or `Webhook`.
    pub sender_type: String,
    /// The sender as shown.
    pub sender_name: String,
    /// Markdown; `None` once redacted.
    pub content: Option<String>,
    /// User IDs mentioned.
    pub mentions: Vec<String>,
    /// Whether an administrator redacted it.
    pub redacted: bool,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds of the last edit.
    pub edited_at: Option<i64>,
}

/// The data key of a room or conversation (`chime_container_keys`), wrapped by its tenant's
/// KMS key with the container ID as encryption context.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ContainerKeyRecord {
    /// The room or conversation ID.
    pub container_id: String,
    /// The tenant whose KMS key wraps it (fixed when it was made).
    pub account_id: String,
    /// The wrapping KMS key.
    pub kms_key_arn: String,
    /// Base64 of the provider's wrapping.
    pub wrapped_key: String,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// Where a newest-first page of messages resumes: strictly older than this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageCursor {
    /// The last returned message's creation time (epoch ms).
    pub created_at: i64,
    /// The last returned message's ID (orders messages of the same millisecond).
    pub message_id: String,
}

type UserRow = (
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    String,
    i64,
);

const USER_SELECT: &str = "SELECT u.user_id, u.account_id, u.chime_account_id, u.primary_email, \
     u.display_name, u.license_type, u.registration_status, u.password_hash, u.privacy, \
     CASE WHEN a.chime_account_id IS NOT NULL AND a.deleted_at IS NULL THEN 1 ELSE 0 END \
     FROM chime_users u LEFT JOIN chime_accounts a ON a.chime_account_id = u.chime_account_id";

fn user_record(row: UserRow) -> ChatUserRecord {
    let (
        user_id,
        account_id,
        chime_account_id,
        primary_email,
        display_name,
        license_type,
        registration_status,
        password_hash,
        privacy,
        live,
    ) = row;
    ChatUserRecord {
        user_id,
        account_id,
        chime_account_id,
        primary_email,
        display_name,
        license_type,
        registration_status,
        password_hash,
        privacy,
        account_live: live != 0,
    }
}

/// bot_id, user_id, account_id, chime_account_id, display_name, bot_email, disabled,
/// has an endpoint.
type BotRow = (String, String, String, String, String, String, i64, i64);

const ROOM_COLUMNS: &str = "room_id, account_id, chime_account_id, name, created_by, \
     created_at, updated_at, client_request_token";

const MEMBERSHIP_SELECT: &str = "SELECT m.room_id, m.member_id, m.account_id, m.member_type, \
     m.role, m.invited_by, m.updated_at, COALESCE(u.primary_email, b.bot_email) AS email, \
     COALESCE(u.display_name, b.display_name, w.name) AS full_name, \
     COALESCE(u.chime_account_id, b.chime_account_id, w.chime_account_id) \
     AS member_chime_account_id \
     FROM chime_room_memberships m \
     LEFT JOIN chime_users u ON m.member_type = 'User' AND u.user_id = m.member_id \
     LEFT JOIN chime_bots b ON m.member_type = 'Bot' AND b.user_id = m.member_id \
     LEFT JOIN chime_webhooks w ON m.member_type = 'Webhook' AND w.webhook_id = m.member_id";

type ConversationRow = (String, i64, String, i64, Option<String>);

const CONVERSATION_COLUMNS: &str = "conversation_id, is_group, created_by, created_at, pair_key";

fn conversation_record(row: ConversationRow) -> ConversationRecord {
    let (conversation_id, is_group, created_by, created_at, pair_key) = row;
    ConversationRecord {
        conversation_id,
        is_group: is_group != 0,
        created_by,
        created_at,
        pair_key,
    }
}

type MessageRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    i64,
    Option<i64>,
);

const MESSAGE_COLUMNS: &str = "message_id, container_type, container_id, sender_id, \
     sender_type, sender_name, content, mentions, redacted, created_at, edited_at";

fn message_record(row: MessageRow) -> ChatMessageRecord {
    let (
        message_id,
        container_type,
        container_id,
        sender_id,
        sender_type,
        sender_name,
        content,
        mentions,
        redacted,
        created_at,
        edited_at,
    ) = row;
    ChatMessageRecord {
        message_id,
        container_type,
        container_id,
        sender_id,
        sender_type,
        sender_name,
        content,
        // The column is only ever written from a Vec<String>; a bad value reads as none.
        mentions: serde_json::from_str(&mentions).unwrap_or_default(),
        redacted: redacted != 0,
        created_at,
        edited_at,
    }
}

fn mentions_json(mentions: &[String]) -> String {
    serde_json::to_string(mentions).unwrap_or_else(|_| "[]".to_string())
}

impl Store {
    /// The user with `user_id`, with whether their Chime account is live.
    ///
    /// Errors: `Database`.
    pub async fn chat_user(&self, user_id: &str) -> StoreResult<Option<ChatUserRecord>> {
        self.chat_user_where("u.user_id = $1", user_id).await
    }

    /// The user whose primary email is `email` (compared lower-cased).
    ///
    /// Errors: `Database`.
    pub async fn chat_user_by_email(&self, email: &str) -> StoreResult<Option<ChatUserRecord>> {
        self.chat_user_where("u.primary_email = $1", &email.to_lowercase())
            .await
    }

    /// The user matching `condition` with `$1` bound to `value`.
    async fn chat_user_where(
        &self,
        condition: &str,
        value: &str,
    ) -> StoreResult<Option<ChatUserRecord>> {
        let sql = format!("{USER_SELECT} WHERE {condition}");
        let row: Option<UserRow> = sql::fetch_optional(&self.pool, &sql, &[value.into()]).await?;
        Ok(row.map(user_record))
    }

    /// Stores a new chat session and drops the user's expired ones.
    ///
    /// Errors: `Database`.
    pub async fn create_chat_session(&self, session: &ChatSessionRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sql::execute(
            &mut *tx,
            "DELETE FROM chime_sessions WHERE user_id = $1 AND expires_at <= $2",
            &[(&session.user_id).into(), session.created_at.into()],
        )
        .await?;
        sql::execute(
            &mut *tx,
            "INSERT INTO chime_sessions (session_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
            &[
                (&session.session_hash).into(),
                (&session.user_id).into(),
                session.created_at.into(),
                session.expires_at.into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session named by `session_hash` if it has not expired at `now` (epoch ms).
    ///
    /// Errors: `Database`.
    pub async fn chat_session(
        &self,
        session_hash: &str,
        now: i64,
    ) -> StoreResult<Option<ChatSessionRecord>> {
        sql::fetch_optional(
            &self.pool,
            "SELECT session_hash, user_id, created_at, expires_at FROM chime_sessions \
             WHERE session_hash = $1 AND expires_at > $2",
            &[session_hash.into(), now.into()],
        )
        .await
    }

    /// Ends the session named by `session_hash`; returns whether it existed.
    ///
    /// Errors: `Database`.
    pub async fn delete_chat_session(&self, session_hash: &str) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "DELETE FROM chime_sessions WHERE session_hash = $1",
            &[session_hash.into()],
        )
        .await
    }

    /// The bot of `chime_account_id` whose bot ID, user ID or email (case-insensitive) is
    /// `id`.
    ///
    /// Errors: `Database`.
    pub async fn chat_bot(
        &self,
        chime_account_id: &str,
        id: &str,
    ) -> StoreResult<Option<ChatBotRecord>> {
        let row: Option<BotRow> = sql::fetch_optional(
            &self.pool,
            "SELECT bot_id, user_id, account_id, chime_account_id, display_name, bot_email, \
                 disabled, CASE WHEN outbound_events_endpoint IS NULL THEN 0 ELSE 1 END \
                 FROM chime_bots WHERE chime_account_id = $1 \
                 AND (bot_id = $2 OR user_id = $2 OR LOWER(bot_email) = $3)",
            &[
                chime_account_id.into(),
                id.into(),
                id.to_lowercase().as_str().into(),
            ],
        )
        .await?;
        Ok(row.map(
            |(bot_id, user_id, account_id, chime_account_id, display_name, bot_email, d, e)| {
                ChatBotRecord {
                    bot_id,
                    user_id,
                    account_id,
                    chime_account_id,
                    display_name,
                    bot_email,
                    disabled: d != 0,
                    has_endpoint: e != 0,
                }
            },
        ))
    }

    /// Creates `room`, with `creator` as its first membership when a user creates it.
    ///
    /// Errors: `Database` (including an unknown tenant or Chime account).
    pub async fn create_chat_room(
        &self,
        room: &ChatRoomRecord,
        creator: Option<&RoomMembershipRecord>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO chime_rooms ({ROOM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        let args = [
            (&room.room_id).into(),
            (&room.account_id).into(),
            (&room.chime_account_id).into(),
            (&room.name).into(),
            (&room.created_by).into(),
            room.created_at.into(),
            room.updated_at.into(),
            (&room.client_request_token).into(),
        ];
        sql::execute(&mut *tx, &sql, &args).await?;
        if let Some(membership) = creator {
            insert_membership(&mut tx, membership).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `account_id`'s room `room_id`.
    ///
    /// Errors: `Database`.
    pub async fn chat_room(
        &self,
        account_id: &str,
        room_id: &str,
    ) -> StoreResult<Option<ChatRoomRecord>> {
        self.one_room(
            "account_id = $1 AND room_id = $2",
            &[account_id.into(), room_id.into()],
        )
        .await
    }

    /// The room of `chime_account_id` (of tenant `account_id`) created with
    /// `client_request_token`.
    ///
    /// Errors: `Database`.
    pub async fn chat_room_by_request_token(
        &self,
        account_id: &str,
        chime_account_id: &str,
        client_request_token: &str,
    ) -> StoreResult<Option<ChatRoomRecord>> {
        self.one_room(
            "account_id = $1 AND chime_account_id = $2 AND client_request_token = $3",
            &[
                account_id.into(),
                chime_account_id.into(),
                client_request_token.into(),
            ],
        )
        .await
    }

    /// The room `room_id` whatever its tenant (client calls, which check membership).
    ///
    /// Errors: `Database`.
    pub async fn chat_room_any(&self, room_id: &str) -> StoreResult<Option<ChatRoomRecord>> {
        self.one_room("room_id = $1", &[room_id.into()]).await
    }

    /// The room matching `condition`, its placeholders bound to `args` in order.
    async fn one_room(
        &self,
        condition: &str,
        args: &[Arg<'_>],
    ) -> StoreResult<Option<ChatRoomRecord>> {
        let sql = format!("SELECT {ROOM_COLUMNS} FROM chime_rooms WHERE {condition}");
        sql::fetch_optional(&self.pool, &sql, args).await
    }

    /// Rooms of `chime_account_id` (of tenant `account_id`) by ID after `after`, at most
    /// `limit`; only those `member_id` belongs to when given.
    ///
    /// Errors: `Database`.
    pub async fn list_chat_rooms(
        &self,
        account_id: &str,
        chime_account_id: &str,
        member_id: Option<&str>,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<ChatRoomRecord>> {
        let sql = format!(
            "SELECT {ROOM_COLUMNS} FROM chime_rooms WHERE account_id = $1 \
             AND chime_account_id = $2 AND room_id > $3 \
             AND ($4 = '' OR room_id IN (SELECT m.room_id FROM chime_room_memberships m \
                  WHERE m.member_id = $4)) \
             ORDER BY room_id LIMIT $5"
        );
        let args = [
            account_id.into(),
            chime_account_id.into(),
            after.into(),
            member_id.unwrap_or_default().into(),
            limit.into(),
        ];
        sql::fetch_all(&self.pool, &sql, &args).await
    }

    /// The rooms `member_id` belongs to, in any tenant, by ID after `after`, at most `limit`.
    ///
    /// Errors: `Database`.
    pub async fn chat_rooms_of_member(
        &self,
        member_id: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<ChatRoomRecord>> {
        sql::fetch_all(
            &self.pool,
            "SELECT r.room_id, r.account_id, r.chime_account_id, r.name, r.created_by, \
             r.created_at, r.updated_at, r.client_request_token FROM chime_room_memberships m \
             JOIN chime_rooms r ON r.room_id = m.room_id \
             WHERE m.member_id = $1 AND m.room_id > $2 ORDER BY m.room_id LIMIT $3",
            &[member_id.into(), after.into(), limit.into()],
        )
        .await
    }

    /// Renames `account_id`'s room; returns whether it existed.
    ///
    /// Errors: `Database`.
    pub async fn rename_chat_room(
        &self,
        account_id: &str,
        room_id: &str,
        name: &str,
        now: i64,
    ) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "UPDATE chime_rooms SET name = $3, updated_at = $4 \
             WHERE account_id = $1 AND room_id = $2",
            &[account_id.into(), room_id.into(), name.into(), now.into()],
        )
        .await
    }

    /// Deletes `account_id`'s room with all its messages (hidden ones too) and memberships,
    /// for good, in one transaction; returns the member IDs it had, or `None` when there was
    /// no such room.
    ///
    /// Errors: `Database`.
    pub async fn delete_chat_room(
        &self,
        account_id: &str,
        room_id: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let mut tx = self.begin_write().await?;
        let found: Option<(String,)> = sql::fetch_optional(
            &mut *tx,
            "SELECT room_id FROM chime_rooms WHERE account_id = $1 AND room_id = $2",
            &[account_id.into(), room_id.into()],
        )
        .await?;
        if found.is_none() {
            return Ok(None);
        }
        let room = [room_id.into()];
        let members = sql::fetch_texts(
            &mut *tx,
            "SELECT member_id FROM chime_room_memberships WHERE room_id = $1 ORDER BY member_id",
            &room,
        )
        .await?;
        for statement in [
            "DELETE FROM chime_messages WHERE container_type = 'room' AND container_id = $1",
            "DELETE FROM chime_container_keys WHERE container_id = $1",
            "DELETE FROM chime_room_memberships WHERE room_id = $1",
            "DELETE FROM chime_rooms WHERE room_id = $1",
        ] {
            sql::execute(&mut *tx, statement, &room).await?;
        }
        tx.commit().await?;
        Ok(Some(members))
    }

    /// Adds `membership` to its room.
    ///
    /// Errors: `Conflict` when the member already belongs to the room; `Database`.
    pub async fn create_room_membership(
        &self,
        membership: &RoomMembershipRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_membership(&mut tx, membership).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The membership of `member_id` in `room_id`.
    ///
    /// Errors: `Database`.
    pub async fn room_membership(
        &self,
        room_id: &str,
        member_id: &str,
    ) -> StoreResult<Option<RoomMembershipRecord>> {
        let sql = format!("{MEMBERSHIP_SELECT} WHERE m.room_id = $1 AND m.member_id = $2");
        sql::fetch_optional(&self.pool, &sql, &[room_id.into(), member_id.into()]).await
    }

    /// Memberships of `room_id` by member ID after `after`, at most `limit` (`None`: all).
    ///
    /// Errors: `Database`.
    pub async fn list_room_memberships(
        &self,
        room_id: &str,
        after: &str,
        limit: Option<i64>,
    ) -> StoreResult<Vec<RoomMembershipRecord>> {
        let sql = format!(
            "{MEMBERSHIP_SELECT} WHERE m.room_id = $1 AND m.member_id > $2 \
             ORDER BY m.member_id LIMIT $3"
        );
        let args = [
            room_id.into(),
            after.into(),
            limit.unwrap_or(i64::MAX).into(),
        ];
        sql::fetch_all(&self.pool, &sql, &args).await
    }

    /// How many members `room_id` has.
    ///
    /// Errors: `Database`.
    pub async fn count_room_memberships(&self, room_id: &str) -> StoreResult<i64> {
        let (count,): (i64,) = sql::fetch_one(
            &self.pool,
            "SELECT COUNT(*) FROM chime_room_memberships WHERE room_id = $1",
            &[room_id.into()],
        )
        .await?;
        Ok(count)
    }

    /// Sets the role of `member_id` in `room_id`; returns whether the membership existed.
    ///
    /// Errors: `Database`.
    pub async fn update_room_membership_role(
        &self,
        room_id: &str,
        member_id: &str,
        role: &str,
        now: i64,
    ) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "UPDATE chime_room_memberships SET role = $3, updated_at = $4 \
             WHERE room_id = $1 AND member_id = $2",
            &[room_id.into(), member_id.into(), role.into(), now.into()],
        )
        .await
    }

    /// Removes `member_id` from `room_id`; returns whether it was a member.
    ///
    /// Errors: `Database`.
    pub async fn delete_room_membership(
        &self,
        room_id: &str,
        member_id: &str,
    ) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "DELETE FROM chime_room_memberships WHERE room_id = $1 AND member_id = $2",
            &[room_id.into(), member_id.into()],
        )
        .await
    }

    /// Creates `conversation` with `members` (user IDs with their Chime account), or, for a
    /// 1:1 conversation whose pair already has one, returns that one unchanged. Returns the
    /// conversation and whether it was created.
    ///
    /// Errors: `Database` (including an unknown user).
    pub async fn create_conversation(
        &self,
        conversation: &ConversationRecord,
        members: &[(String, Option<String>)],
    ) -> StoreResult<(ConversationRecord, bool)> {
        if let Some(existing) = self.conversation_by_pair(conversation).await? {
            return Ok((existing, false));
        }
        let result = async {
            let mut tx = self.begin_write().await?;
            let sql = format!(
                "INSERT INTO chime_conversations ({CONVERSATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            );
            let args = [
                (&conversation.conversation_id).into(),
                conversation.is_group.into(),
                (&conversation.created_by).into(),
                conversation.created_at.into(),
                (&conversation.pair_key).into(),
            ];
            sql::execute(&mut *tx, &sql, &args).await?;
            for (user_id, chime_account_id) in members {
                sql::execute(
                    &mut *tx,
                    "INSERT INTO chime_conversation_members \
                     (conversation_id, user_id, chime_account_id, joined_at) VALUES ($1, $2, $3, $4)",
                    &[
                        (&conversation.conversation_id).into(),
                        user_id.into(),
                        chime_account_id.into(),
                        conversation.created_at.into(),
                    ],
                )
                .await?;
            }
            tx.commit().await?;
            Ok::<(), StoreError>(())
        }
        .await;
        match result {
            Ok(()) => Ok((conversation.clone(), true)),
            // The pair created it at the same moment (PostgreSQL): use theirs.
            Err(StoreError::Conflict(_)) if conversation.pair_key.is_some() => {
                match self.conversation_by_pair(conversation).await? {
                    Some(existing) => Ok((existing, false)),
                    None => Err(StoreError::Conflict("conversation pair".to_string())),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn conversation_by_pair(
        &self,
        conversation: &ConversationRecord,
    ) -> StoreResult<Option<ConversationRecord>> {
        let Some(pair) = &conversation.pair_key else {
            return Ok(None);
        };
        self.conversation_where("pair_key", pair).await
    }

    /// The conversation `conversation_id`.
    ///
    /// Errors: `Database`.
    pub async fn conversation(
        &self,
        conversation_id: &str,
    ) -> StoreResult<Option<ConversationRecord>> {
        self.conversation_where("conversation_id", conversation_id)
            .await
    }

    /// The conversation whose `column` (`conversation_id` or `pair_key`) is `value`.
    async fn conversation_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> StoreResult<Option<ConversationRecord>> {
        let sql =
            format!("SELECT {CONVERSATION_COLUMNS} FROM chime_conversations WHERE {column} = $1");
        let row: Option<ConversationRow> =
            sql::fetch_optional(&self.pool, &sql, &[value.into()]).await?;
        Ok(row.map(conversation_record))
    }

    /// The conversations `user_id` belongs to, by ID after `after`, at most `limit`.
    ///
    /// Errors: `Database`.
    pub async fn conversations_of_user(
        &self,
        user_id: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<ConversationRecord>> {
        let rows: Vec<ConversationRow> = sql::fetch_all(
            &self.pool,
            "SELECT c.conversation_id, c.is_group, c.created_by, c.created_at, c.pair_key \
             FROM chime_conversation_members m \
             JOIN chime_conversations c ON c.conversation_id = m.conversation_id \
             WHERE m.user_id = $1 AND m.conversation_id > $2 \
             ORDER BY m.conversation_id LIMIT $3",
            &[user_id.into(), after.into(), limit.into()],
        )
        .await?;
        Ok(rows.into_iter().map(conversation_record).collect())
    }

    /// The members of `conversation_id` by user ID, with their identity.
    ///
    /// Errors: `Database`.
    pub async fn conversation_members(
        &self,
        conversation_id: &str,
    ) -> StoreResult<Vec<ConversationMemberRecord>> {
        sql::fetch_all(
            &self.pool,
            "SELECT m.conversation_id, m.user_id, m.chime_account_id, m.joined_at, \
             u.primary_email AS email, u.display_name, u.account_id \
             FROM chime_conversation_members m JOIN chime_users u ON u.user_id = m.user_id \
             WHERE m.conversation_id = $1 ORDER BY m.user_id",
            &[conversation_id.into()],
        )
        .await
    }

    /// Every user who shares a room or a conversation with `user_id` (presence audience),
    /// `user_id` excluded, by ID.
    ///
    /// Errors: `Database`.
    pub async fn chat_contacts(&self, user_id: &str) -> StoreResult<Vec<String>> {
        sql::fetch_texts(
            &self.pool,
            "SELECT o.member_id FROM chime_room_memberships m \
             JOIN chime_room_memberships o ON o.room_id = m.room_id \
             WHERE m.member_id = $1 AND o.member_type = 'User' AND o.member_id <> $1 \
             UNION \
             SELECT o.user_id FROM chime_conversation_members m \
             JOIN chime_conversation_members o ON o.conversation_id = m.conversation_id \
             WHERE m.user_id = $1 AND o.user_id <> $1 \
             ORDER BY 1",
            &[user_id.into()],
        )
        .await
    }

    /// Stores a new message.
    ///
    /// Errors: `Database`.
    pub async fn insert_chat_message(&self, message: &ChatMessageRecord) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO chime_messages ({MESSAGE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        let mentions = mentions_json(&message.mentions);
        let args = [
            (&message.message_id).into(),
            (&message.container_type).into(),
            (&message.container_id).into(),
            (&message.sender_id).into(),
            (&message.sender_type).into(),
            (&message.sender_name).into(),
            (&message.content).into(),
            (&mentions).into(),
            message.redacted.into(),
            message.created_at.into(),
            message.edited_at.into(),
        ];
        sql::execute(&self.pool, &sql, &args).await?;
        Ok(())
    }

    /// The visible (not hidden by retention) message `message_id` of `container_id`.
    ///
    /// Errors: `Database`.
    pub async fn chat_message(
        &self,
        container_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<ChatMessageRecord>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chime_messages \
             WHERE container_id = $1 AND message_id = $2 AND hidden_at IS NULL"
        );
        let row: Option<MessageRow> =
            sql::fetch_optional(&self.pool, &sql, &[container_id.into(), message_id.into()])
                .await?;
        Ok(row.map(message_record))
    }

    /// When message `message_id` of `container_id` was posted (epoch ms), hidden or not:
    /// where a history page resumes.
    ///
    /// Errors: `Database`.
    pub async fn chat_message_created_at(
        &self,
        container_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> = sql::fetch_optional(
            &self.pool,
            "SELECT created_at FROM chime_messages WHERE container_id = $1 AND message_id = $2",
            &[container_id.into(), message_id.into()],
        )
        .await?;
        Ok(row.map(|(at,)| at))
    }

    /// The visible messages of `container_id`, newest first, strictly older than `before`
    /// when given, at most `limit`.
    ///
    /// Errors: `Database`.
    pub async fn list_chat_messages(
        &self,
        container_id: &str,
        before: Option<&MessageCursor>,
        limit: i64,
    ) -> StoreResult<Vec<ChatMessageRecord>> {
        let (at, id) = match before {
            Some(cursor) => (cursor.created_at, cursor.message_id.clone()),
            None => (i64::MAX, String::new()),
        };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chime_messages \
             WHERE container_id = $1 AND hidden_at IS NULL \
             AND (created_at < $2 OR (created_at = $2 AND message_id < $3)) \
             ORDER BY created_at DESC, message_id DESC LIMIT $4"
        );
        let args = [
            container_id.into(),
            at.into(),
            id.as_str().into(),
            limit.into(),
        ];
        let rows: Vec<MessageRow> = sql::fetch_all(&self.pool, &sql, &args).await?;
        Ok(rows.into_iter().map(message_record).collect())
    }

    /// Replaces the content and mentions of a visible, unredacted message; returns whether
    /// it was changed.
    ///
    /// Errors: `Database`.
    pub async fn edit_chat_message(
        &self,
        container_id: &str,
        message_id: &str,
        content: &str,
        mentions: &[String],
        edited_at: i64,
    ) -> StoreResult<bool> {
        let mentions = mentions_json(mentions);
        sql::changed(
            &self.pool,
            "UPDATE chime_messages SET content = $3, mentions = $4, edited_at = $5 \
             WHERE container_id = $1 AND message_id = $2 AND redacted = 0 AND hidden_at IS NULL",
            &[
                container_id.into(),
                message_id.into(),
                content.into(),
                (&mentions).into(),
                edited_at.into(),
            ],
        )
        .await
    }

    /// Removes the content of message `message_id` of `container_id` for good (content
    /// NULL, no mentions, redacted), hidden or not; returns the message after the change,
    /// or `None` when there is no such message.
    ///
    /// Errors: `Database`.
    pub async fn redact_chat_message(
        &self,
        container_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<ChatMessageRecord>> {
        let mut tx = self.begin_write().await?;
        let redacted = sql::changed(
            &mut *tx,
            "UPDATE chime_messages SET content = NULL, mentions = '[]', redacted = 1 \
             WHERE container_id = $1 AND message_id = $2",
            &[container_id.into(), message_id.into()],
        )
        .await?;
        if !redacted {
            return Ok(None);
        }
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM chime_messages WHERE message_id = $1");
        let row: MessageRow = sql::fetch_one(&mut *tx, &sql, &[message_id.into()]).await?;
        tx.commit().await?;
        Ok(Some(message_record(row)))
    }

    /// The wrapped data key of container `container_id`, if it has one yet.
    ///
    /// Errors: `Database`.
    pub async fn chime_container_key(
        &self,
        container_id: &str,
    ) -> StoreResult<Option<ContainerKeyRecord>> {
        sql::fetch_optional(
            &self.pool,
            "SELECT container_id, account_id, kms_key_arn, wrapped_key, created_at \
             FROM chime_container_keys WHERE container_id = $1",
            &[container_id.into()],
        )
        .await
    }

    /// Stores `key` unless its container already has one; returns the container's key,
    /// whoever stored it first (callers racing to make the first key all get the same one).
    ///
    /// Errors: `Database`.
    pub async fn insert_chime_container_key(
        &self,
        key: &ContainerKeyRecord,
    ) -> StoreResult<ContainerKeyRecord> {
        sql::execute(
            &self.pool,
            "INSERT INTO chime_container_keys \
             (container_id, account_id, kms_key_arn, wrapped_key, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (container_id) DO NOTHING",
            &[
                (&key.container_id).into(),
                (&key.account_id).into(),
                (&key.kms_key_arn).into(),
                (&key.wrapped_key).into(),
                key.created_at.into(),
            ],
        )
        .await?;
        Ok(self
            .chime_container_key(&key.container_id)
            .await?
            .unwrap_or_else(|| key.clone()))
    }
}

async fn insert_membership(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    membership: &RoomMembershipRecord,
) -> StoreResult<()> {
    sql::execute(
        &mut **tx,
        "INSERT INTO chime_room_memberships \
         (room_id, member_id, account_id, member_type, role, invited_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            (&membership.room_id).into(),
            (&membership.member_id).into(),
            (&membership.account_id).into(),
            (&membership.member_type).into(),
            (&membership.role).into(),
            (&membership.invited_by).into(),
            membership.updated_at.into(),
        ],
    )
    .await?;
    Ok(())
}
