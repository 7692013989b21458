//! Chat sessions, rooms, memberships, conversations and messages. Spec: chime-zh.md §1.10.
//!
//! The store keeps rows; who may do what (room administrators, senders, the sign-in rules)
//! lives in carillon-chime. Rooms and their memberships carry the tenant (`account_id`) and
//! every room query filters on it; conversations may span tenants, so they are reached
//! through their members. Every reader of `chime_messages` skips rows retention has hidden
//! (`hidden_at IS NOT NULL`).

use crate::error::{StoreError, StoreResult};
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

type RoomRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<String>,
);

const ROOM_COLUMNS: &str = "room_id, account_id, chime_account_id, name, created_by, \
     created_at, updated_at, client_request_token";

fn room_record(row: RoomRow) -> ChatRoomRecord {
    let (room_id, account_id, chime_account_id, name, created_by, created_at, updated_at, token) =
        row;
    ChatRoomRecord {
        room_id,
        account_id,
        chime_account_id,
        name,
        created_by,
        created_at,
        updated_at,
        client_request_token: token,
    }
}

type MembershipRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

const MEMBERSHIP_SELECT: &str = "SELECT m.room_id, m.member_id, m.account_id, m.member_type, \
     m.role, m.invited_by, m.updated_at, COALESCE(u.primary_email, b.bot_email), \
     COALESCE(u.display_name, b.display_name, w.name), \
     COALESCE(u.chime_account_id, b.chime_account_id, w.chime_account_id) \
     FROM chime_room_memberships m \
     LEFT JOIN chime_users u ON m.member_type = 'User' AND u.user_id = m.member_id \
     LEFT JOIN chime_bots b ON m.member_type = 'Bot' AND b.user_id = m.member_id \
     LEFT JOIN chime_webhooks w ON m.member_type = 'Webhook' AND w.webhook_id = m.member_id";

fn membership_record(row: MembershipRow) -> RoomMembershipRecord {
    let (
        room_id,
        member_id,
        account_id,
        member_type,
        role,
        invited_by,
        updated_at,
        email,
        full_name,
        member_chime_account_id,
    ) = row;
    RoomMembershipRecord {
        room_id,
        member_id,
        account_id,
        member_type,
        role,
        invited_by,
        updated_at,
        email,
        full_name,
        member_chime_account_id,
    }
}

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

type ConversationMemberRow = (
    String,
    String,
    Option<String>,
    i64,
    String,
    Option<String>,
    Option<String>,
);

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
        let row: Option<UserRow> = sqlx::query_as(&format!("{USER_SELECT} WHERE u.user_id = $1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(user_record))
    }

    /// The user whose primary email is `email` (compared lower-cased).
    ///
    /// Errors: `Database`.
    pub async fn chat_user_by_email(&self, email: &str) -> StoreResult<Option<ChatUserRecord>> {
        let row: Option<UserRow> =
            sqlx::query_as(&format!("{USER_SELECT} WHERE u.primary_email = $1"))
                .bind(email.to_lowercase())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(user_record))
    }

    /// Stores a new chat session and drops the user's expired ones.
    ///
    /// Errors: `Database`.
    pub async fn create_chat_session(&self, session: &ChatSessionRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM chime_sessions WHERE user_id = $1 AND expires_at <= $2")
            .bind(&session.user_id)
            .bind(session.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO chime_sessions (session_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&session.session_hash)
        .bind(&session.user_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *tx)
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
        let row: Option<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT session_hash, user_id, created_at, expires_at FROM chime_sessions \
             WHERE session_hash = $1 AND expires_at > $2",
        )
        .bind(session_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(session_hash, user_id, created_at, expires_at)| ChatSessionRecord {
                session_hash,
                user_id,
                created_at,
                expires_at,
            },
        ))
    }

    /// Ends the session named by `session_hash`; returns whether it existed.
    ///
    /// Errors: `Database`.
    pub async fn delete_chat_session(&self, session_hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM chime_sessions WHERE session_hash = $1")
            .bind(session_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
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
        let row: Option<BotRow> = sqlx::query_as(
            "SELECT bot_id, user_id, account_id, chime_account_id, display_name, bot_email, \
                 disabled, CASE WHEN outbound_events_endpoint IS NULL THEN 0 ELSE 1 END \
                 FROM chime_bots WHERE chime_account_id = $1 \
                 AND (bot_id = $2 OR user_id = $2 OR LOWER(bot_email) = $3)",
        )
        .bind(chime_account_id)
        .bind(id)
        .bind(id.to_lowercase())
        .fetch_optional(&self.pool)
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
        sqlx::query(&format!(
            "INSERT INTO chime_rooms ({ROOM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&room.room_id)
        .bind(&room.account_id)
        .bind(&room.chime_account_id)
        .bind(&room.name)
        .bind(&room.created_by)
        .bind(room.created_at)
        .bind(room.updated_at)
        .bind(&room.client_request_token)
        .execute(&mut *tx)
        .await?;
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
        self.one_room("account_id = $1 AND room_id = $2", &[account_id, room_id])
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
            &[account_id, chime_account_id, client_request_token],
        )
        .await
    }

    /// The room `room_id` whatever its tenant (client calls, which check membership).
    ///
    /// Errors: `Database`.
    pub async fn chat_room_any(&self, room_id: &str) -> StoreResult<Option<ChatRoomRecord>> {
        self.one_room("room_id = $1", &[room_id]).await
    }

    /// The room matching `condition`, its placeholders bound to `args` in order.
    async fn one_room(
        &self,
        condition: &str,
        args: &[&str],
    ) -> StoreResult<Option<ChatRoomRecord>> {
        let sql = format!("SELECT {ROOM_COLUMNS} FROM chime_rooms WHERE {condition}");
        let mut query = sqlx::query_as::<_, RoomRow>(&sql);
        for arg in args {
            query = query.bind(arg.to_string());
        }
        Ok(query.fetch_optional(&self.pool).await?.map(room_record))
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
        let rows: Vec<RoomRow> = sqlx::query_as(&format!(
            "SELECT {ROOM_COLUMNS} FROM chime_rooms WHERE account_id = $1 \
             AND chime_account_id = $2 AND room_id > $3 \
             AND ($4 = '' OR room_id IN (SELECT m.room_id FROM chime_room_memberships m \
                  WHERE m.member_id = $4)) \
             ORDER BY room_id LIMIT $5"
        ))
        .bind(account_id)
        .bind(chime_account_id)
        .bind(after)
        .bind(member_id.unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(room_record).collect())
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
        let rows: Vec<RoomRow> = sqlx::query_as(
            "SELECT r.room_id, r.account_id, r.chime_account_id, r.name, r.created_by, \
             r.created_at, r.updated_at, r.client_request_token FROM chime_room_memberships m \
             JOIN chime_rooms r ON r.room_id = m.room_id \
             WHERE m.member_id = $1 AND m.room_id > $2 ORDER BY m.room_id LIMIT $3",
        )
        .bind(member_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(room_record).collect())
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
        let done = sqlx::query(
            "UPDATE chime_rooms SET name = $3, updated_at = $4 \
             WHERE account_id = $1 AND room_id = $2",
        )
        .bind(account_id)
        .bind(room_id)
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
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
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT room_id FROM chime_rooms WHERE account_id = $1 AND room_id = $2",
        )
        .bind(account_id)
        .bind(room_id)
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Ok(None);
        }
        let members: Vec<(String,)> = sqlx::query_as(
            "SELECT member_id FROM chime_room_memberships WHERE room_id = $1 ORDER BY member_id",
        )
        .bind(room_id)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM chime_messages WHERE container_type = 'room' AND container_id = $1",
        )
        .bind(room_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM chime_room_memberships WHERE room_id = $1")
            .bind(room_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM chime_rooms WHERE room_id = $1")
            .bind(room_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(members.into_iter().map(|(m,)| m).collect()))
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
        let row: Option<MembershipRow> = sqlx::query_as(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.room_id = $1 AND m.member_id = $2"
        ))
        .bind(room_id)
        .bind(member_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(membership_record))
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
        let rows: Vec<MembershipRow> = sqlx::query_as(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.room_id = $1 AND m.member_id > $2 \
             ORDER BY m.member_id LIMIT $3"
        ))
        .bind(room_id)
        .bind(after)
        .bind(limit.unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(membership_record).collect())
    }

    /// How many members `room_id` has.
    ///
    /// Errors: `Database`.
    pub async fn count_room_memberships(&self, room_id: &str) -> StoreResult<i64> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM chime_room_memberships WHERE room_id = $1")
                .bind(room_id)
                .fetch_one(&self.pool)
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
        let done = sqlx::query(
            "UPDATE chime_room_memberships SET role = $3, updated_at = $4 \
             WHERE room_id = $1 AND member_id = $2",
        )
        .bind(room_id)
        .bind(member_id)
        .bind(role)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes `member_id` from `room_id`; returns whether it was a member.
    ///
    /// Errors: `Database`.
    pub async fn delete_room_membership(
        &self,
        room_id: &str,
        member_id: &str,
    ) -> StoreResult<bool> {
        let done =
            sqlx::query("DELETE FROM chime_room_memberships WHERE room_id = $1 AND member_id = $2")
                .bind(room_id)
                .bind(member_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
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
            sqlx::query(&format!(
                "INSERT INTO chime_conversations ({CONVERSATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            ))
            .bind(&conversation.conversation_id)
            .bind(i64::from(conversation.is_group))
            .bind(&conversation.created_by)
            .bind(conversation.created_at)
            .bind(&conversation.pair_key)
            .execute(&mut *tx)
            .await?;
            for (user_id, chime_account_id) in members {
                sqlx::query(
                    "INSERT INTO chime_conversation_members \
                     (conversation_id, user_id, chime_account_id, joined_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&conversation.conversation_id)
                .bind(user_id)
                .bind(chime_account_id)
                .bind(conversation.created_at)
                .execute(&mut *tx)
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
        let row: Option<ConversationRow> = sqlx::query_as(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM chime_conversations WHERE pair_key = $1"
        ))
        .bind(pair)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(conversation_record))
    }

    /// The conversation `conversation_id`.
    ///
    /// Errors: `Database`.
    pub async fn conversation(
        &self,
        conversation_id: &str,
    ) -> StoreResult<Option<ConversationRecord>> {
        let row: Option<ConversationRow> = sqlx::query_as(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM chime_conversations WHERE conversation_id = $1"
        ))
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?;
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
        let rows: Vec<ConversationRow> = sqlx::query_as(
            "SELECT c.conversation_id, c.is_group, c.created_by, c.created_at, c.pair_key \
             FROM chime_conversation_members m \
             JOIN chime_conversations c ON c.conversation_id = m.conversation_id \
             WHERE m.user_id = $1 AND m.conversation_id > $2 \
             ORDER BY m.conversation_id LIMIT $3",
        )
        .bind(user_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
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
        let rows: Vec<ConversationMemberRow> = sqlx::query_as(
            "SELECT m.conversation_id, m.user_id, m.chime_account_id, m.joined_at, \
             u.primary_email, u.display_name, u.account_id FROM chime_conversation_members m \
             JOIN chime_users u ON u.user_id = m.user_id \
             WHERE m.conversation_id = $1 ORDER BY m.user_id",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(conversation_id, user_id, chime_account_id, joined_at, email, name, account)| {
                    ConversationMemberRecord {
                        conversation_id,
                        user_id,
                        chime_account_id,
                        joined_at,
                        email,
                        display_name: name,
                        account_id: account,
                    }
                },
            )
            .collect())
    }

    /// Every user who shares a room or a conversation with `user_id` (presence audience),
    /// `user_id` excluded, by ID.
    ///
    /// Errors: `Database`.
    pub async fn chat_contacts(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT o.member_id FROM chime_room_memberships m \
             JOIN chime_room_memberships o ON o.room_id = m.room_id \
             WHERE m.member_id = $1 AND o.member_type = 'User' AND o.member_id <> $1 \
             UNION \
             SELECT o.user_id FROM chime_conversation_members m \
             JOIN chime_conversation_members o ON o.conversation_id = m.conversation_id \
             WHERE m.user_id = $1 AND o.user_id <> $1 \
             ORDER BY 1",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Stores a new message.
    ///
    /// Errors: `Database`.
    pub async fn insert_chat_message(&self, message: &ChatMessageRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO chime_messages ({MESSAGE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&message.message_id)
        .bind(&message.container_type)
        .bind(&message.container_id)
        .bind(&message.sender_id)
        .bind(&message.sender_type)
        .bind(&message.sender_name)
        .bind(&message.content)
        .bind(mentions_json(&message.mentions))
        .bind(i64::from(message.redacted))
        .bind(message.created_at)
        .bind(message.edited_at)
        .execute(&self.pool)
        .await?;
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
        let row: Option<MessageRow> = sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM chime_messages \
             WHERE container_id = $1 AND message_id = $2 AND hidden_at IS NULL"
        ))
        .bind(container_id)
        .bind(message_id)
        .fetch_optional(&self.pool)
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
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT created_at FROM chime_messages WHERE container_id = $1 AND message_id = $2",
        )
        .bind(container_id)
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(at)
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
        let rows: Vec<MessageRow> = sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM chime_messages \
             WHERE container_id = $1 AND hidden_at IS NULL \
             AND (created_at < $2 OR (created_at = $2 AND message_id < $3)) \
             ORDER BY created_at DESC, message_id DESC LIMIT $4"
        ))
        .bind(container_id)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
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
        let done = sqlx::query(
            "UPDATE chime_messages SET content = $3, mentions = $4, edited_at = $5 \
             WHERE container_id = $1 AND message_id = $2 AND redacted = 0 AND hidden_at IS NULL",
        )
        .bind(container_id)
        .bind(message_id)
        .bind(content)
        .bind(mentions_json(mentions))
        .bind(edited_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
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
        let done = sqlx::query(
            "UPDATE chime_messages SET content = NULL, mentions = '[]', redacted = 1 \
             WHERE container_id = $1 AND message_id = $2",
        )
        .bind(container_id)
        .bind(message_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let row: MessageRow = sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM chime_messages WHERE message_id = $1"
        ))
        .bind(message_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(message_record(row)))
    }
}

async fn insert_membership(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    membership: &RoomMembershipRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO chime_room_memberships \
         (room_id, member_id, account_id, member_type, role, invited_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&membership.room_id)
    .bind(&membership.member_id)
    .bind(&membership.account_id)
    .bind(&membership.member_type)
    .bind(&membership.role)
    .bind(&membership.invited_by)
    .bind(membership.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
