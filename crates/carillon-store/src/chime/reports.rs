//! Usage reports and report figures. Spec: chime-ko.md §2.0.1, §3.1; chime-zh.md §2.17.
//!
//! Tables (migration 0021): `chime_usage_reporting` (a tenant's reporting switch and
//! bucket), `chime_usage_reports` (the weeks written, so each is written once),
//! `chime_user_sign_ins` (a user's latest chat sign-in, kept when sessions end). The figures
//! are counted from the core tables (`chime_users`, `chime_messages`, `chime_sessions`).

use crate::error::StoreResult;
use crate::Store;

/// A tenant's usage reporting, on.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    sqlx::query(
        "INSERT INTO chime_usage_reporting (account_id, bucket, enabled_at) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id) DO UPDATE SET bucket = excluded.bucket, \
         enabled_at = excluded.enabled_at",
    )
    .bind(&record.account_id)
    .bind(&record.bucket)
    .bind(record.enabled_at)
    .execute(&store.pool)
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
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT account_id, bucket, enabled_at FROM chime_usage_reporting WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(&store.pool)
    .await?;
    Ok(
        row.map(|(account_id, bucket, enabled_at)| UsageReportingRecord {
            account_id,
            bucket,
            enabled_at,
        }),
    )
}

/// Every tenant's usage reporting that is on (the report job's), by tenant.
///
/// Errors: `Database`.
pub async fn all_reporting(store: &Store) -> StoreResult<Vec<UsageReportingRecord>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT account_id, bucket, enabled_at FROM chime_usage_reporting ORDER BY account_id",
    )
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(account_id, bucket, enabled_at)| UsageReportingRecord {
            account_id,
            bucket,
            enabled_at,
        })
        .collect())
}

/// Turns `account_id`'s usage reporting off; returns whether it was on. Reports written
/// stay in their bucket.
///
/// Errors: `Database`.
pub async fn delete_reporting(store: &Store, account_id: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM chime_usage_reporting WHERE account_id = $1")
        .bind(account_id)
        .execute(&store.pool)
        .await?;
    Ok(done.rows_affected() > 0)
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
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT written_at FROM chime_usage_reports \
         WHERE chime_account_id = $1 AND week_start = $2",
    )
    .bind(chime_account_id)
    .bind(week_start)
    .fetch_optional(&store.pool)
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
    sqlx::query(
        "INSERT INTO chime_usage_reports \
         (chime_account_id, week_start, account_id, bucket, object_key, written_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (chime_account_id, week_start) DO UPDATE SET \
         bucket = excluded.bucket, object_key = excluded.object_key, \
         written_at = excluded.written_at",
    )
    .bind(chime_account_id)
    .bind(week_start)
    .bind(account_id)
    .bind(bucket)
    .bind(object_key)
    .bind(now)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Records that user `user_id` signed in at `at` (epoch ms), for the report's `last_login`.
///
/// Errors: `Database`.
pub async fn record_sign_in(store: &Store, user_id: &str, at: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO chime_user_sign_ins (user_id, last_sign_in_at) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET last_sign_in_at = excluded.last_sign_in_at \
         WHERE chime_user_sign_ins.last_sign_in_at < excluded.last_sign_in_at",
    )
    .bind(user_id)
    .bind(at)
    .execute(&store.pool)
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
    let rows: Vec<UsageRowTuple> = sqlx::query_as(
        "SELECT u.user_id, u.display_name, u.primary_email, u.registration_status, u.created_at, \
         (SELECT MAX(s.last_sign_in_at) FROM chime_user_sign_ins s WHERE s.user_id = u.user_id), \
         (SELECT MAX(x.created_at) FROM chime_sessions x WHERE x.user_id = u.user_id), \
         (SELECT COUNT(*) FROM chime_messages m WHERE m.sender_id = u.user_id \
          AND m.sender_type = 'User' AND m.created_at >= $3 AND m.created_at < $4) \
         FROM chime_users u WHERE u.account_id = $1 AND u.chime_account_id = $2 \
         ORDER BY u.primary_email",
    )
    .bind(account_id)
    .bind(chime_account_id)
    .bind(from)
    .bind(to)
    .fetch_all(&store.pool)
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
    let registered_users: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM chime_users WHERE account_id = $1 AND chime_account_id = $2 \
         AND registration_status <> 'Unregistered' AND registered_at IS NOT NULL \
         AND registered_at < $3",
    )
    .bind(account_id)
    .bind(chime_account_id)
    .bind(to)
    .fetch_one(&store.pool)
    .await?;
    let (active_users, chat_messages_sent): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(DISTINCT m.sender_id), COUNT(*) FROM chime_messages m \
         JOIN chime_users u ON u.user_id = m.sender_id \
         WHERE u.account_id = $1 AND u.chime_account_id = $2 AND m.sender_type = 'User' \
         AND m.created_at >= $3 AND m.created_at < $4",
    )
    .bind(account_id)
    .bind(chime_account_id)
    .bind(from)
    .bind(to)
    .fetch_one(&store.pool)
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM chime_rooms WHERE room_id = $1")
            .bind(room_id)
            .fetch_optional(&store.pool)
            .await?;
    let Some(name) = name else {
        return Ok(None);
    };
    type Row = (String, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT m.member_id, m.member_type, m.role, \
         COALESCE(u.display_name, b.display_name, w.name), COALESCE(u.primary_email, b.bot_email) \
         FROM chime_room_memberships m \
         LEFT JOIN chime_users u ON m.member_type = 'User' AND u.user_id = m.member_id \
         LEFT JOIN chime_bots b ON m.member_type = 'Bot' AND b.user_id = m.member_id \
         LEFT JOIN chime_webhooks w ON m.member_type = 'Webhook' AND w.webhook_id = m.member_id \
         WHERE m.room_id = $1 ORDER BY m.member_id",
    )
    .bind(room_id)
    .fetch_all(&store.pool)
    .await?;
    let members = rows
        .into_iter()
        .map(
            |(member_id, member_type, role, name, email)| RoomMemberRow {
                member_id,
                member_type,
                role,
                name,
                email,
            },
        )
        .collect();
    Ok(Some((name, members)))
}

/// A personal contact with what the contacts export shows.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    Ok(
        sqlx::query_scalar("SELECT user_id FROM chime_users WHERE primary_email = $1")
            .bind(email.trim().to_lowercase())
            .fetch_optional(&store.pool)
            .await?,
    )
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
    let exists: Option<i64> = sqlx::query_scalar(
        "SELECT added_at FROM chime_contacts WHERE user_id = $1 AND contact_user_id = $2",
    )
    .bind(user_id)
    .bind(contact_user_id)
    .fetch_optional(&mut *tx)
    .await?;
    if exists.is_some() {
        return Ok(ContactAdded::AlreadyThere);
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chime_contacts WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
    if count >= max {
        return Ok(ContactAdded::Full);
    }
    sqlx::query(
        "INSERT INTO chime_contacts (user_id, contact_user_id, added_at) VALUES ($1, $2, $3)",
    )
    .bind(user_id)
    .bind(contact_user_id)
    .bind(now)
    .execute(&mut *tx)
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
    let done =
        sqlx::query("DELETE FROM chime_contacts WHERE user_id = $1 AND contact_user_id = $2")
            .bind(user_id)
            .bind(contact_user_id)
            .execute(&store.pool)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// `user_id`'s personal contacts, by email.
///
/// Errors: `Database`.
pub async fn contacts(store: &Store, user_id: &str) -> StoreResult<Vec<ContactRow>> {
    type Row = (String, Option<String>, String, Option<String>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT u.user_id, u.display_name, u.primary_email, u.primary_provisioned_number, c.added_at \
         FROM chime_contacts c JOIN chime_users u ON u.user_id = c.contact_user_id \
         WHERE c.user_id = $1 ORDER BY u.primary_email",
    )
    .bind(user_id)
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(user_id, display_name, email, phone_number, added_at)| ContactRow {
                user_id,
                display_name,
                email,
                phone_number,
                added_at,
            },
        )
        .collect())
}
