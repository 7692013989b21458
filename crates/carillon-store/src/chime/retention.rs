//! Chat retention settings and the hidden/restored/purged message states. Spec: chime-zh.md
//! §1.9, §2.6.
//!
//! The store keeps the settings (table `chime_retention_settings`, migration 0021) and gives
//! the facts the retention rules need (a room's account, a conversation's members' accounts,
//! the containers touched by an account's settings); which period governs which container is
//! decided in carillon-chime. A message past its period gets `chime_messages.hidden_at`
//! (readers filter `hidden_at IS NULL`); it is restored by clearing it, or purged (deleted)
//! for good.

use crate::error::StoreResult;
use crate::sql::{self, Arg};
use crate::Store;

/// `chime_messages.container_type` of a room's messages.
pub const ROOM: &str = "room";
/// `chime_messages.container_type` of a conversation's messages.
pub const CONVERSATION: &str = "conversation";

/// An Enterprise account's retention settings as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RetentionSettingsRecord {
    /// The Chime account.
    pub chime_account_id: String,
    /// Its Carillon account (tenant).
    pub account_id: String,
    /// Room retention in days (1–5,475); `None`: off.
    pub room_retention_days: Option<i64>,
    /// Conversation retention in days (1–5,475); `None`: off.
    pub conversation_retention_days: Option<i64>,
    /// When the settings were last put, epoch milliseconds.
    pub updated_at: i64,
}

const SETTINGS_COLUMNS: &str = "chime_account_id, account_id, room_retention_days, \
     conversation_retention_days, updated_at";

/// The settings matching `condition` (with its ordering), its placeholders bound to `args`.
async fn settings_where(
    store: &Store,
    condition: &str,
    args: &[Arg<'_>],
) -> StoreResult<Vec<RetentionSettingsRecord>> {
    let sql = format!("SELECT {SETTINGS_COLUMNS} FROM chime_retention_settings WHERE {condition}");
    sql::fetch_all(&store.pool, &sql, args).await
}

/// Writes `settings` (replacing the account's previous ones).
///
/// Errors: `Database`.
pub async fn put_settings(store: &Store, settings: &RetentionSettingsRecord) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO chime_retention_settings ({SETTINGS_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (chime_account_id) DO UPDATE SET \
         room_retention_days = excluded.room_retention_days, \
         conversation_retention_days = excluded.conversation_retention_days, \
         updated_at = excluded.updated_at \
         WHERE chime_retention_settings.account_id = excluded.account_id"
    );
    let args = [
        (&settings.chime_account_id).into(),
        (&settings.account_id).into(),
        settings.room_retention_days.into(),
        settings.conversation_retention_days.into(),
        settings.updated_at.into(),
    ];
    sql::execute(&store.pool, &sql, &args).await?;
    Ok(())
}

/// `account_id`'s retention settings of Chime account `chime_account_id`, `None` when never
/// put.
///
/// Errors: `Database`.
pub async fn settings(
    store: &Store,
    account_id: &str,
    chime_account_id: &str,
) -> StoreResult<Option<RetentionSettingsRecord>> {
    let found = settings_where(
        store,
        "account_id = $1 AND chime_account_id = $2",
        &[account_id.into(), chime_account_id.into()],
    )
    .await?;
    Ok(found.into_iter().next())
}

/// Every account's settings with at least one period on (the retention job's, across
/// tenants), by Chime account ID.
///
/// Errors: `Database`.
pub async fn settings_in_force(store: &Store) -> StoreResult<Vec<RetentionSettingsRecord>> {
    settings_where(
        store,
        "room_retention_days IS NOT NULL OR conversation_retention_days IS NOT NULL \
         ORDER BY chime_account_id",
        &[],
    )
    .await
}

/// The `AccountType` of Chime account `chime_account_id` whatever its tenant (the retention
/// job's view of a room creator's or a conversation member's account), `None` when it does
/// not exist (any more).
///
/// Errors: `Database`.
pub async fn account_type(store: &Store, chime_account_id: &str) -> StoreResult<Option<String>> {
    text_of(
        store,
        "SELECT account_type FROM chime_accounts WHERE chime_account_id = $1",
        chime_account_id,
    )
    .await
}

/// The rooms of Chime account `chime_account_id`.
///
/// Errors: `Database`.
pub async fn rooms_of(store: &Store, chime_account_id: &str) -> StoreResult<Vec<String>> {
    sql::fetch_texts(
        &store.pool,
        "SELECT room_id FROM chime_rooms WHERE chime_account_id = $1 ORDER BY room_id",
        &[chime_account_id.into()],
    )
    .await
}

/// The Chime account room `room_id` belongs to (its creator's), `None` when the room is gone.
///
/// Errors: `Database`.
pub async fn room_account(store: &Store, room_id: &str) -> StoreResult<Option<String>> {
    text_of(
        store,
        "SELECT chime_account_id FROM chime_rooms WHERE room_id = $1",
        room_id,
    )
    .await
}

/// The text `sql` selects with `$1` bound to `id`, `None` when no row.
async fn text_of(store: &Store, sql: &str, id: &str) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = sql::fetch_optional(&store.pool, sql, &[id.into()]).await?;
    Ok(row.map(|(text,)| text))
}

/// The conversations with at least one member who is a user of Chime account
/// `chime_account_id`.
///
/// Errors: `Database`.
pub async fn conversations_of(store: &Store, chime_account_id: &str) -> StoreResult<Vec<String>> {
    sql::fetch_texts(
        &store.pool,
        "SELECT DISTINCT m.conversation_id FROM chime_conversation_members m \
         JOIN chime_users u ON u.user_id = m.user_id \
         WHERE u.chime_account_id = $1 ORDER BY m.conversation_id",
        &[chime_account_id.into()],
    )
    .await
}

/// The current Chime account of each member of conversation `conversation_id` (`None` for
/// a member in no account: an unmanaged identity).
///
/// Errors: `Database`.
pub async fn conversation_member_accounts(
    store: &Store,
    conversation_id: &str,
) -> StoreResult<Vec<Option<String>>> {
    let rows: Vec<(Option<String>,)> = sql::fetch_all(
        &store.pool,
        "SELECT u.chime_account_id FROM chime_conversation_members m \
         JOIN chime_users u ON u.user_id = m.user_id \
         WHERE m.conversation_id = $1 ORDER BY m.user_id",
        &[conversation_id.into()],
    )
    .await?;
    Ok(rows.into_iter().map(|(account,)| account).collect())
}

/// The containers (`(container_type, container_id)`) holding hidden messages.
///
/// Errors: `Database`.
pub async fn containers_with_hidden_messages(store: &Store) -> StoreResult<Vec<(String, String)>> {
    sql::fetch_all(
        &store.pool,
        "SELECT DISTINCT container_type, container_id FROM chime_messages \
         WHERE hidden_at IS NOT NULL ORDER BY container_id",
        &[],
    )
    .await
}

/// Deletes for good the messages of `container_id` hidden at or before `hidden_before`
/// (epoch ms); returns how many.
///
/// Errors: `Database`.
pub async fn purge_hidden(
    store: &Store,
    container_id: &str,
    hidden_before: i64,
) -> StoreResult<u64> {
    sql::execute(
        &store.pool,
        "DELETE FROM chime_messages WHERE container_id = $1 \
         AND hidden_at IS NOT NULL AND hidden_at <= $2",
        &[container_id.into(), hidden_before.into()],
    )
    .await
}

/// Makes visible again the hidden messages of `container_id` created at or after
/// `created_since` (epoch ms; `None`: every hidden message); returns how many.
///
/// Errors: `Database`.
pub async fn restore(
    store: &Store,
    container_id: &str,
    created_since: Option<i64>,
) -> StoreResult<u64> {
    sql::execute(
        &store.pool,
        "UPDATE chime_messages SET hidden_at = NULL WHERE container_id = $1 \
         AND hidden_at IS NOT NULL AND created_at >= $2",
        &[
            container_id.into(),
            created_since.unwrap_or(i64::MIN).into(),
        ],
    )
    .await
}

/// Hides (as of `now`, epoch ms) the visible messages of `container_id` created before
/// `created_before`; returns how many.
///
/// Errors: `Database`.
pub async fn hide(
    store: &Store,
    container_id: &str,
    created_before: i64,
    now: i64,
) -> StoreResult<u64> {
    sql::execute(
        &store.pool,
        "UPDATE chime_messages SET hidden_at = $3 WHERE container_id = $1 \
         AND hidden_at IS NULL AND created_at < $2",
        &[container_id.into(), created_before.into(), now.into()],
    )
    .await
}
