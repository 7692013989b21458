//! Change notification across the nodes sharing one database: PostgreSQL `NOTIFY` and
//! `LISTEN` (PRODUCT.md "Runtime shape", scale-out). On SQLite there is one node by
//! definition: [`Store::notify`] does nothing and [`Store::listen`] gives no listener.
//!
//! A channel is named by the caller (e.g. `chat`); the PostgreSQL channel is derived from it
//! and the store's schema (`carillon_<md5(schema/channel)>`), so deployments in separate
//! schemas of one database never hear each other, and any caller name fits PostgreSQL's
//! 63-byte channel names.
//!
//! `NOTIFY` payloads must be shorter than 8,000 bytes. A larger payload is written to
//! `notify_payloads` (migration 0022) in the transaction that notifies its ID, and the
//! listener reads it back; [`Store::delete_notify_payloads_before`] removes old rows (the
//! caller runs it every few minutes).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use crate::db::Backend;
use crate::error::StoreResult;
use crate::Store;

/// The largest payload (bytes, UTF-8) sent inside the notification itself: with its
/// one-byte marker, 7,999 bytes, the most PostgreSQL accepts.
pub const NOTIFY_INLINE_LIMIT: usize = 7_998;

/// Marks a payload carried inside the notification.
const INLINE: char = '=';
/// Marks the ID of a `notify_payloads` row holding the payload.
const BY_REFERENCE: char = '@';

/// The PostgreSQL channel of the caller's channel `$1`, in the session's schema.
const CHANNEL_SQL: &str = "'carillon_' || md5(current_schema() || '/' || $1)";

/// Waits between reconnection attempts of a listener: doubled from the first up to the last.
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// How a listener reaches PostgreSQL: the store's own connection options (the URL's
/// schema, application name and credentials), kept apart from the pool because a listener
/// holds one connection for itself. Its `Debug` names the server, never the credentials.
#[derive(Clone)]
pub(crate) struct NotifyTarget(PgConnectOptions);

impl NotifyTarget {
    /// The options of `database_url` (a `postgres:` URL).
    pub(crate) fn from_url(database_url: &str) -> StoreResult<NotifyTarget> {
        Ok(NotifyTarget(PgConnectOptions::from_str(database_url)?))
    }
}

impl std::fmt::Debug for NotifyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NotifyTarget({}:{}/{})",
            self.0.get_host(),
            self.0.get_port(),
            self.0.get_database().unwrap_or_default()
        )
    }
}

impl Store {
    /// Whether [`Store::notify`] reaches other nodes: true on PostgreSQL, false on SQLite
    /// (one node, nothing to reach).
    pub fn notifies_across_nodes(&self) -> bool {
        self.backend() == Backend::Postgres
    }

    /// Sends `payload` to every listener of `channel` on every node, this one included
    /// (a node that must not hear itself tags its payloads). Delivered once the statement
    /// commits, in commit order; listeners connected at that moment only (nothing is kept
    /// for a listener that connects later). A payload of more than [`NOTIFY_INLINE_LIMIT`]
    /// bytes is stored in `notify_payloads` and only its ID is notified. Does nothing on
    /// SQLite.
    ///
    /// Errors: `Database` when the statement fails.
    pub async fn notify(&self, channel: &str, payload: &str) -> StoreResult<()> {
        if !self.notifies_across_nodes() {
            return Ok(());
        }
        let notify = format!("SELECT CAST(pg_notify({CHANNEL_SQL}, $2) AS TEXT)");
        if payload.len() <= NOTIFY_INLINE_LIMIT {
            sqlx::query(&notify)
                .bind(channel)
                .bind(format!("{INLINE}{payload}"))
                .execute(&self.pool)
                .await?;
            return Ok(());
        }
        // The row and the notification commit together: a listener always finds the row.
        let id = carillon_core::ids::new_uuid();
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO notify_payloads (id, created_at, payload) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(carillon_core::time::now_millis())
            .bind(payload)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&notify)
            .bind(channel)
            .bind(format!("{BY_REFERENCE}{id}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A listener of `channel` on a connection of its own, listening when this returns;
    /// `None` on SQLite.
    ///
    /// Errors: `Database` when PostgreSQL cannot be reached (the caller retries).
    pub async fn listen(&self, channel: &str) -> StoreResult<Option<Listener>> {
        let Some(target) = self.notify_target().cloned() else {
            return Ok(None);
        };
        let pg_channel: String = sqlx::query_scalar(&format!("SELECT {CHANNEL_SQL}"))
            .bind(channel)
            .fetch_one(&self.pool)
            .await?;
        let inner = connect(&target, &pg_channel).await?;
        Ok(Some(Listener {
            store: self.clone(),
            target,
            pg_channel,
            inner: Some(inner),
        }))
    }

    /// Deletes the stored payloads of large notifications made before `before` (epoch
    /// milliseconds); returns how many. Listeners read a row within moments of its
    /// notification, so rows a few minutes old are no longer needed.
    ///
    /// Errors: `Database` when the statement fails.
    pub async fn delete_notify_payloads_before(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM notify_payloads WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// A `LISTEN`ing connection of one channel (from [`Store::listen`]).
///
/// It reconnects by itself after a dropped connection, retrying with a growing wait (up to
/// 30 s) while PostgreSQL cannot be reached; what was notified meanwhile is lost (a warning
/// is logged).
pub struct Listener {
    store: Store,
    target: NotifyTarget,
    pg_channel: String,
    /// `None` between a failed connection and the next attempt.
    inner: Option<PgListener>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("target", &self.target)
            .field("pg_channel", &self.pg_channel)
            .field("connected", &self.inner.is_some())
            .finish()
    }
}

impl Listener {
    /// The next payload notified on the channel, as [`Store::notify`] was given it (a
    /// large one read back from `notify_payloads`), waiting as long as it takes. A large
    /// payload whose row was already deleted is skipped with a warning.
    ///
    /// Cancelling the call (dropping the future) may lose a notification that was being
    /// received; a listener that stops for good is simply dropped.
    ///
    /// Errors: `Database` when a large payload's row cannot be read (that payload is lost;
    /// the listener goes on with the next call).
    pub async fn recv(&mut self) -> StoreResult<String> {
        loop {
            let Some(inner) = self.inner.as_mut() else {
                self.reconnect().await;
                continue;
            };
            match inner.try_recv().await {
                Ok(Some(notification)) => {
                    if let Some(payload) = self.resolve(notification.payload()).await? {
                        return Ok(payload);
                    }
                }
                // sqlx reconnected at once (or the next try fails and we reconnect).
                Ok(None) => tracing::warn!(
                    channel = %self.pg_channel,
                    "notification listener lost its connection; notifications sent meanwhile are lost"
                ),
                Err(error) => {
                    tracing::warn!(
                        channel = %self.pg_channel,
                        %error,
                        "notification listener failed; reconnecting (notifications sent meanwhile are lost)"
                    );
                    self.inner = None;
                }
            }
        }
    }

    /// Connects and listens again, retrying until it succeeds.
    async fn reconnect(&mut self) {
        let mut wait = RECONNECT_FIRST;
        loop {
            match connect(&self.target, &self.pg_channel).await {
                Ok(inner) => {
                    tracing::info!(channel = %self.pg_channel, "notification listener reconnected");
                    self.inner = Some(inner);
                    return;
                }
                Err(error) => {
                    tracing::warn!(
                        channel = %self.pg_channel,
                        %error,
                        retry_in_ms = wait.as_millis() as u64,
                        "notification listener cannot reconnect"
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RECONNECT_MAX);
                }
            }
        }
    }

    /// The caller's payload of a raw notification: inline, or read from its row (`None`
    /// when the row is gone or the notification is not one of ours).
    async fn resolve(&self, raw: &str) -> StoreResult<Option<String>> {
        if let Some(payload) = raw.strip_prefix(INLINE) {
            return Ok(Some(payload.to_string()));
        }
        let Some(id) = raw.strip_prefix(BY_REFERENCE) else {
            tracing::warn!(channel = %self.pg_channel, "notification of unknown form ignored");
            return Ok(None);
        };
        let payload: Option<String> =
            sqlx::query_scalar("SELECT payload FROM notify_payloads WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.store.pool)
                .await?;
        if payload.is_none() {
            tracing::warn!(channel = %self.pg_channel, id, "large notification's payload already deleted; lost");
        }
        Ok(payload)
    }
}

/// A listener on a one-connection pool of its own, listening on `pg_channel`.
async fn connect(target: &NotifyTarget, pg_channel: &str) -> StoreResult<PgListener> {
    // The pool only serves reconnection: one connection, never retired for age or idleness.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(target.0.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(pg_channel).await?;
    Ok(listener)
}
