//! Usage reports and report figures. Spec: chime-ko.md §2.0.1, §3.1; chime-zh.md §2.17.
//!
//! Tables (migration 0021): `chime_usage_reporting` (a tenant's reporting switch and
//! bucket), `chime_usage_reports` (the weeks written, so each is written once),
//! `chime_user_sign_ins` (a user's latest chat sign-in, kept when sessions end). The figures
//! are counted from the core tables (`chime_users`, `chime_messages`, `chime_sessions`).

use crate::error::StoreResult;
use crate::sql::{self, Arg};
use crate::Store;

/// A tenant's usage reporting, on.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageReportingRecord {
    /// The Carillon account (tenant).
    pub account_id: String,
    /// The bucket of Carillon's S3 endpoint the reports go to.
    pub bucket: String,
    /// When reporting was turned on, epoch milliseconds.
    pub enabled_at: i64,
}

/// One user's line of a weekly report, as counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// The user ID.
    pub user_id: String,
    /// Display name, if set.
    pub display_name: Option<String>,
    /// Primary email.
    pub email: String,
    /// `Unregistered` | `Registered` | `Suspended`.
    pub registration_status: String,
    /// When the user was created, epoch milliseconds.
    pub created_at: i64,
    /// The latest chat sign-in (recorded or of a live session), epoch ms.
    pub last_login: Option<i64>,
    /// Messages the user sent in the window (rooms, 1:1 and group conversations).
    pub chat_sent: i64,
}

/// The dashboard figures of a Chime account over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageFigures {
    /// Users registered (or since suspended) by the window's end.
    pub registered_users: i64,
    /// Users who sent at least one message in the window.
    pub active_users: i64,
    /// Messages the account's users sent in the window.
    pub chat_messages_sent: i64,
}

/// Turns `record.account_id`'s usage reporting on with `record.bucket` (replacing the
/// previous bucket and start).
///
/// Errors: `Database`.
pub async fn put_reporting(store: &Store, record: &UsageReportingRecord) -> StoreResult<()> {
    sql::execute(
        &store.pool,
        "INSERT INTO chime_usage_reporting (account_id, bucket, enabled_at) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id) DO UPDATE SET bucket = excluded.bucket, \
         enabled_at = excluded.enabled_at",
        &[
            (&record.account_id).into(),
            (&record.bucket).into(),
            record.enabled_at.into(),
        ],
    )
    .await?;
    Ok(())
}

/// `account_id`'s usage reporting, `None` when off.
///
/// Errors: `Database`.
pub async fn reporting(
    store: &Store,
    account_id: &str,
) -> StoreResult<Option<UsageReportingRecord>> {
    let found = reporting_where(store, "account_id = $1", &[account_id.into()]).await?;
    Ok(found.into_iter().next())
}

/// The usage reporting rows matching `condition`, by tenant.
async fn reporting_where(
    store: &Store,
    condition: &str,
    args: &[Arg<'_>],
) -> StoreResult<Vec<UsageReportingRecord>> {
    let sql = format!(
        "SELECT account_id, bucket, enabled_at FROM chime_usage_reporting WHERE {condition} \
         ORDER BY account_id"
    );
    sql::fetch_all(&store.pool, &sql, args).await
}

/// Every tenant's usage reporting that is on (the report job's), by tenant.
///
/// Errors: `Database`.
pub async fn all_reporting(store: &Store) -> StoreResult<Vec<UsageReportingRecord>> {
    reporting_where(store, "1 = 1", &[]).await
}

/// Turns `account_id`'s usage reporting off; returns whether it was on. Reports written
/// stay in their bucket.
///
/// Errors: `Database`.
pub async fn delete_reporting(store: &Store, account_id: &str) -> StoreResult<bool> {
    sql::changed(
        &store.pool,
        "DELETE FROM chime_usage_reporting WHERE account_id = $1",
        &[account_id.into()],
    )
    .await
}

/// Whether the report of Chime account `chime_account_id` for the week starting at
/// `week_start` (epoch ms) was written.
///
/// Errors: `Database`.
pub async fn report_written(
    store: &Store,
    chime_account_id: &str,
    week_start: i64,
) -> StoreResult<bool> {
    let found: Option<(i64,)> = sql::fetch_optional(
        &store.pool,
        "SELECT written_at FROM chime_usage_reports \
         WHERE chime_account_id = $1 AND week_start = $2",
        &[chime_account_id.into(), week_start.into()],
    )
    .await?;
    Ok(found.is_some())
}

/// Records that the report of `chime_account_id` (of tenant `account_id`) for the week
/// starting at `week_start` was written to `bucket`/`object_key` at `now` (epoch ms).
///
/// Errors: `Database`.
pub async fn record_report(
    store: &Store,
    account_id: &str,
    chime_account_id: &str,
    week_start: i64,
    (bucket, object_key): (&str, &str),
    now: i64,
) -> StoreResult<()> {
    sql::execute(
        &store.pool,
        "INSERT INTO chime_usage_reports \
         (chime_account_id, week_start, account_id, bucket, object_key, written_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (chime_account_id, week_start) DO UPDATE SET \
         bucket = excluded.bucket, object_key = excluded.object_key, \
         written_at = excluded.written_at",
        &[
            chime_account_id.into(),
            week_start.into(),
            account_id.into(),
            bucket.into(),
            object_key.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Records that user `user_id` signed in at `at` (epoch ms), for the report's `last_login`.
///
/// Errors: `Database`.
pub async fn record_sign_in(store: &Store, user_id: &str, at: i64) -> StoreResult<()> {
    sql::execute(
        &store.pool,
        "INSERT INTO chime_user_sign_ins (user_id, last_sign_in_at) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET last_sign_in_at = excluded.last_sign_in_at \
         WHERE chime_user_sign_ins.last_sign_in_at < excluded.last_sign_in_at",
        &[user_id.into(), at.into()],
    )
    .await?;
    Ok(())
}

type UsageRowTuple = (
    String,
    Option<String>,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
);

/// One row per user of Chime account `chime_account_id` (of tenant `account_id`), by email,
/// with the messages each sent in `[from, to)` (epoch ms).
///
/// Errors: `Database`.
pub async fn usage_rows(
    store: &Store,
    account_id: &str,
    chime_account_id: &str,
    from: i64,
    to: i64,
) -> StoreResult<Vec<UsageRow>> {
    let rows: Vec<UsageRowTuple> = sql::fetch_all(
        &store.pool,
        "SELECT u.user_id, u.display_name, u.primary_email, u.registration_status, u.created_at, \
         (SELECT MAX(s.last_sign_in_at) FROM chime_user_sign_ins s WHERE s.user_id = u.user_id), \
         (SELECT MAX(x.created_at) FROM chime_sessions x WHERE x.user_id = u.user_id), \
         (SELECT COUNT(*) FROM chime_messages m WHERE m.sender_id = u.user_id \
          AND m.sender_type = 'User' AND m.created_at >= $3 AND m.created_at < $4) \
         FROM chime_users u WHERE u.account_id = $1 AND u.chime_account_id = $2 \
         ORDER BY u.primary_email",
        &[
            account_id.into(),
            chime_account_id.into(),
            from.into(),
            to.into(),
        ],
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                user_id,
                display_name,
                email,
                registration_status,
                created_at,
                signed,
                session,
                chat_sent,
            )| {
                UsageRow {
                    user_id,
                    display_name,
                    email,
                    registration_status,
                    created_at,
                    last_login: signed.max(session),
                    chat_sent,
                }
            },
        )
        .collect())
}

/// The figures of Chime account `chime_account_id` (of tenant `account_id`) over `[from,
/// to)` (epoch ms): users registered before `to` and not unregistered, users who sent a
/// message in the window, and the messages they sent.
///
/// Errors: `Database`.
pub async fn figures(
    store: &Store,
    account_id: &str,
    chime_account_id: &str,
    from: i64,
    to: i64,
) -> StoreResult<UsageFigures> {
    let (registered_users,): (i64,) = sql::fetch_one(
        &store.pool,
        "SELECT COUNT(*) FROM chime_users WHERE account_id = $1 AND chime_account_id = $2 \
         AND registration_status <> 'Unregistered' AND registered_at IS NOT NULL \
         AND registered_at < $3",
        &[account_id.into(), chime_account_id.into(), to.into()],
    )
    .await?;
    let (active_users, chat_messages_sent): (i64, i64) = sql::fetch_one(
        &store.pool,
        "SELECT COUNT(DISTINCT m.sender_id), COUNT(*) FROM chime_messages m \
         JOIN chime_users u ON u.user_id = m.sender_id \
         WHERE u.account_id = $1 AND u.chime_account_id = $2 AND m.sender_type = 'User' \
         AND m.created_at >= $3 AND m.created_at < $4",
        &[
            account_id.into(),
            chime_account_id.into(),
            from.into(),
            to.into(),
        ],
    )
    .await?;
    Ok(UsageFigures {
        registered_users,
        active_users,
        chat_messages_sent,
    })
}

/// Stores a report as object `key` of `bucket` (a bucket of `account_id`) of Carillon's S3
/// endpoint, sealed as that endpoint seals every object (SSE-KMS-like: a fresh data key
/// wrapped by the account's default key, the object ARN as encryption context), so
/// `GetObject` reads it. Durable when it returns.
///
/// Errors: key provider, blob store and `Config` (no keyring) failures.
pub async fn put_report_object(
    store: &Store,
    account_id: &str,
    bucket: &str,
    key: &str,
    data: &[u8],
) -> StoreResult<()> {
    let keyring = store.keyring()?;
    let default = keyring
        .provider()
        .default_key(account_id, keyring.region())
        .await?;
    let context = carillon_kms::EncryptionContext::s3(&format!("arn:aws:s3:::{bucket}/{key}"));
    let sealed =
        carillon_kms::object::seal_object(keyring.provider(), &default.arn, &context, data).await?;
    store
        .put_s3_object(bucket, key, bytes::Bytes::from(sealed))
        .await
}

/// A member of a room as the member-list export shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RoomMemberRow {
    /// The member ID (user, bot user or webhook).
    pub member_id: String,
    /// `User` | `Bot` | `Webhook`.
    pub member_type: String,
    /// `Administrator` | `Member`.
    pub role: String,
    /// The display name of the user or bot, or the webhook's name.
    pub name: Option<String>,
    /// The user's primary email or the bot's email (`None` for a webhook).
    pub email: Option<String>,
}

/// The name of room `room_id` and its members (users, bots, webhooks) by member ID; `None`
/// when the room does not exist.
///
/// Errors: `Database`.
pub async fn room_members(
    store: &Store,
    room_id: &str,
) -> StoreResult<Option<(String, Vec<RoomMemberRow>)>> {
    let room = [room_id.into()];
    let name: Option<(String,)> = sql::fetch_optional(
        &store.pool,
        "SELECT name FROM chime_rooms WHERE room_id = $1",
        &room,
    )
    .await?;
    let Some((name,)) = name else {
        return Ok(None);
    };
    let members = sql::fetch_all(
        &store.pool,
        "SELECT m.member_id, m.member_type, m.role, \
         COALESCE(u.display_name, b.display_name, w.name) AS name, \
         COALESCE(u.primary_email, b.bot_email) AS email \
         FROM chime_room_memberships m \
         LEFT JOIN chime_users u ON m.member_type = 'User' AND u.user_id = m.member_id \
         LEFT JOIN chime_bots b ON m.member_type = 'Bot' AND b.user_id = m.member_id \
         LEFT JOIN chime_webhooks w ON m.member_type = 'Webhook' AND w.webhook_id = m.member_id \
         WHERE m.room_id = $1 ORDER BY m.member_id",
        &room,
    )
    .await?;
    Ok(Some((name, members)))
}

/// A personal contact with what the contacts export shows.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ContactRow {
    /// The contact's user ID.
    pub user_id: String,
    /// Display name, if set.
    pub display_name: Option<String>,
    /// Primary email.
    pub email: String,
    /// The Business Calling number assigned to the contact, if any.
    pub phone_number: Option<String>,
    /// When the contact was added, epoch ms.
    pub added_at: i64,
}

/// What adding a contact did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactAdded {
    /// Added.
    Added,
    /// It was a contact already (nothing changed).
    AlreadyThere,
    /// The user has `max` contacts already.
    Full,
}

/// The user ID of the Chime user whose primary email is `email` (case-insensitive).
///
/// Errors: `Database`.
pub async fn user_id_by_email(store: &Store, email: &str) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = sql::fetch_optional(
        &store.pool,
        "SELECT user_id FROM chime_users WHERE primary_email = $1",
        &[email.trim().to_lowercase().as_str().into()],
    )
    .await?;
    Ok(row.map(|(user_id,)| user_id))
}

/// Adds `contact_user_id` to `user_id`'s personal contacts at `now` (epoch ms) unless the
/// user has `max` already.
///
/// Errors: `Database`.
pub async fn add_contact(
    store: &Store,
    user_id: &str,
    contact_user_id: &str,
    now: i64,
    max: i64,
) -> StoreResult<ContactAdded> {
    let mut tx = store.begin_write().await?;
    let args = [user_id.into(), contact_user_id.into(), now.into()];
    let exists: Option<(i64,)> = sql::fetch_optional(
        &mut *tx,
        "SELECT added_at FROM chime_contacts WHERE user_id = $1 AND contact_user_id = $2",
        &args[..2],
    )
    .await?;
    if exists.is_some() {
        return Ok(ContactAdded::AlreadyThere);
    }
    let (count,): (i64,) = sql::fetch_one(
        &mut *tx,
        "SELECT COUNT(*) FROM chime_contacts WHERE user_id = $1",
        &args[..1],
    )
    .await?;
    if count >= max {
        return Ok(ContactAdded::Full);
    }
    sql::execute(
        &mut *tx,
        "INSERT INTO chime_contacts (user_id, contact_user_id, added_at) VALUES ($1, $2, $3)",
        &args,
    )
    .await?;
    tx.commit().await?;
    Ok(ContactAdded::Added)
}

/// Removes `contact_user_id` from `user_id`'s personal contacts; returns whether it was one.
///
/// Errors: `Database`.
pub async fn remove_contact(
    store: &Store,
    user_id: &str,
    contact_user_id: &str,
) -> StoreResult<bool> {
    sql::changed(
        &store.pool,
        "DELETE FROM chime_contacts WHERE user_id = $1 AND contact_user_id = $2",
        &[user_id.into(), contact_user_id.into()],
    )
    .await
}

/// `user_id`'s personal contacts, by email.
///
/// Errors: `Database`.
pub async fn contacts(store: &Store, user_id: &str) -> StoreResult<Vec<ContactRow>> {
    sql::fetch_all(
        &store.pool,
        "SELECT u.user_id, u.display_name, u.primary_email AS email, \
         u.primary_provisioned_number AS phone_number, c.added_at \
         FROM chime_contacts c JOIN chime_users u ON u.user_id = c.contact_user_id \
         WHERE c.user_id = $1 ORDER BY u.primary_email",
        &[user_id.into()],
    )
    .await
}
