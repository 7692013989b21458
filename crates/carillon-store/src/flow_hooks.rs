//! Flow-rule hooks: the in-transit messages hooks decide for (and the message-flow API reads
//! and replaces), their worker leases, and each organization's hook signing secret.
//! Spec: workmail.md §2.10, §4.5.
//!
//! A row is written before the SMTP `250` of the message it holds (the caller stores the blob
//! first), so an acknowledged message waiting for its hook survives a restart. Leases work like
//! the outbound queue's (`queue.rs`): a conditional UPDATE claims a due row, and a row whose
//! holder died comes free when its lease expires. The hook protocol (retries, timeouts, the
//! 24-hour window) is the caller's business rule; this module only stores and claims.

use crate::error::StoreResult;
use crate::sql;
use crate::Store;

/// Synchronous row whose hook has not answered yet: its content may still be replaced.
pub const TRANSIT_PENDING: &str = "PENDING";
/// Synchronous row whose final actions are decided and whose delivery is under way.
pub const TRANSIT_DELIVERING: &str = "DELIVERING";
/// Asynchronous row whose hook has not been invoked yet.
pub const TRANSIT_ASYNC: &str = "ASYNC";
/// Row whose work is over (kept for the message-flow API's 24-hour window).
pub const TRANSIT_DONE: &str = "DONE";

/// An in-transit message to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransitMessage {
    /// The message-flow API key (UUID, lower case).
    pub message_id: String,
    /// The tenant owning the organization.
    pub account_id: String,
    /// The organization whose rule runs the hook (`m-…`).
    pub organization_id: String,
    /// `INBOUND` or `OUTBOUND`.
    pub direction: String,
    /// Whether delivery waits for the hook (state `PENDING`) or not (state `ASYNC`).
    pub synchronous: bool,
    /// Blob key of the message content.
    pub blob_key: String,
    /// The content's message key wrapped by the organization's transit key (base64); `None`
    /// for a plaintext blob.
    pub message_key: Option<String>,
    /// Envelope MAIL FROM (empty for `<>`).
    pub mail_from: String,
    /// The envelope recipients the hook decides for.
    pub recipients: Vec<String>,
    /// The sending user (outbound) as the caller serialized it; `None` inbound.
    pub submitter: Option<String>,
    /// The hook target as the caller serialized it.
    pub hook: String,
    /// 32 lower-case hex digits, the same across retries.
    pub invocation_id: String,
    /// First attempt, epoch milliseconds.
    pub next_attempt_at: i64,
    /// End of the rule timeout, epoch milliseconds.
    pub deadline_at: i64,
    /// Insertion time, epoch milliseconds (start of the 24-hour window).
    pub created_at: i64,
}

/// A stored in-transit message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitMessageRecord {
    /// See [`NewTransitMessage::message_id`].
    pub message_id: String,
    /// See [`NewTransitMessage::account_id`].
    pub account_id: String,
    /// See [`NewTransitMessage::organization_id`].
    pub organization_id: String,
    /// See [`NewTransitMessage::direction`].
    pub direction: String,
    /// See [`NewTransitMessage::synchronous`].
    pub synchronous: bool,
    /// Blob key of the current content (replaced by PutRawMessageContent).
    pub blob_key: String,
    /// The current content's wrapped message key (see [`NewTransitMessage::message_key`]).
    pub message_key: Option<String>,
    /// See [`NewTransitMessage::mail_from`].
    pub mail_from: String,
    /// See [`NewTransitMessage::recipients`].
    pub recipients: Vec<String>,
    /// See [`NewTransitMessage::submitter`].
    pub submitter: Option<String>,
    /// See [`NewTransitMessage::hook`].
    pub hook: String,
    /// One of the `TRANSIT_*` states.
    pub state: String,
    /// See [`NewTransitMessage::invocation_id`].
    pub invocation_id: String,
    /// Hook invocations made so far.
    pub attempts: i64,
    /// When the row is next due, epoch milliseconds.
    pub next_attempt_at: i64,
    /// See [`NewTransitMessage::deadline_at`].
    pub deadline_at: i64,
    /// See [`NewTransitMessage::created_at`].
    pub created_at: i64,
    /// The final actions as the caller serialized them once decided (`DELIVERING`).
    pub actions: Option<String>,
}

/// What [`Store::replace_transit_content`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentReplacement {
    /// The content now is the new blob; the previous blob key is returned for removal.
    Replaced(String),
    /// The message exists in the window but is asynchronous or its hook already answered.
    Frozen,
    /// No such message of the account inside the window.
    NotFound,
}

#[derive(sqlx::FromRow)]
struct TransitRow {
    message_id: String,
    account_id: String,
    organization_id: String,
    direction: String,
    synchronous: i64,
    blob_key: String,
    message_key: Option<String>,
    mail_from: String,
    recipients: String,
    submitter: Option<String>,
    hook: String,
    state: String,
    invocation_id: String,
    attempts: i64,
    next_attempt_at: i64,
    deadline_at: i64,
    created_at: i64,
    actions: Option<String>,
}

impl From<TransitRow> for TransitMessageRecord {
    fn from(row: TransitRow) -> Self {
        TransitMessageRecord {
            message_id: row.message_id,
            account_id: row.account_id,
            organization_id: row.organization_id,
            direction: row.direction,
            synchronous: row.synchronous != 0,
            blob_key: row.blob_key,
            message_key: row.message_key,
            mail_from: row.mail_from,
            recipients: serde_json::from_str(&row.recipients).unwrap_or_default(),
            submitter: row.submitter,
            hook: row.hook,
            state: row.state,
            invocation_id: row.invocation_id,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            deadline_at: row.deadline_at,
            created_at: row.created_at,
            actions: row.actions,
        }
    }
}

const COLUMNS: &str = "message_id, account_id, organization_id, direction, synchronous, \
                       blob_key, message_key, mail_from, recipients, submitter, hook, state, invocation_id, \
                       attempts, next_attempt_at, deadline_at, created_at, actions";

impl Store {
    /// Inserts an in-transit message (`PENDING` when synchronous, `ASYNC` otherwise); durable
    /// when it returns.
    ///
    /// Errors: `Conflict` for a message ID already used; `Database`.
    pub async fn insert_transit_message(&self, message: &NewTransitMessage) -> StoreResult<()> {
        let state = if message.synchronous {
            TRANSIT_PENDING
        } else {
            TRANSIT_ASYNC
        };
        let recipients =
            serde_json::to_string(&message.recipients).expect("a list of strings serializes");
        sql::execute(
            &self.pool,
            "INSERT INTO flow_transit_messages (message_id, account_id, organization_id, \
             direction, synchronous, blob_key, message_key, mail_from, recipients, submitter, \
             hook, state, invocation_id, attempts, next_attempt_at, deadline_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $15, $16)",
            &[
                (&message.message_id).into(),
                (&message.account_id).into(),
                (&message.organization_id).into(),
                (&message.direction).into(),
                i64::from(message.synchronous).into(),
                (&message.blob_key).into(),
                (&message.message_key).into(),
                (&message.mail_from).into(),
                (&recipients).into(),
                (&message.submitter).into(),
                (&message.hook).into(),
                state.into(),
                (&message.invocation_id).into(),
                message.next_attempt_at.into(),
                message.deadline_at.into(),
                message.created_at.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// The in-transit message `message_id` of `account_id` created at or after
    /// `window_start` (epoch ms); another account's message is `None`.
    ///
    /// Errors: `Database`.
    pub async fn transit_message(
        &self,
        account_id: &str,
        message_id: &str,
        window_start: i64,
    ) -> StoreResult<Option<TransitMessageRecord>> {
        let row: Option<TransitRow> = sql::fetch_optional(
            &self.pool,
            &format!(
                "SELECT {COLUMNS} FROM flow_transit_messages \
             WHERE message_id = $1 AND account_id = $2 AND created_at >= $3"
            ),
            &[message_id.into(), account_id.into(), window_start.into()],
        )
        .await?;
        Ok(row.map(Into::into))
    }

    /// Leases the oldest row due at `now` (epoch ms) to `node` until `now + lease_ms`: a
    /// `PENDING` or `ASYNC` row whose next attempt is due and that no live lease holds, or a
    /// `DELIVERING` row whose holder's lease expired (it died mid-delivery). A conditional
    /// UPDATE claims it, so two nodes never hold the same row.
    ///
    /// Errors: `Database`.
    pub async fn lease_transit_message(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
    ) -> StoreResult<Option<TransitMessageRecord>> {
        const DUE: &str = "((state IN ('PENDING', 'ASYNC') AND next_attempt_at <= $1 \
                             AND (lease_expires_at IS NULL OR lease_expires_at <= $1)) \
                            OR (state = 'DELIVERING' AND lease_expires_at <= $1))";
        let candidates: Vec<String> = sql::fetch_all_scalar(
            &self.pool,
            &format!(
                "SELECT message_id FROM flow_transit_messages WHERE {DUE} \
             ORDER BY next_attempt_at, message_id LIMIT 8"
            ),
            &[now.into()],
        )
        .await?;
        for message_id in candidates {
            let row: Option<TransitRow> = sql::fetch_optional(
                &self.pool,
                &format!(
                    "UPDATE flow_transit_messages SET lease_holder = $2, lease_expires_at = $3 \
                 WHERE message_id = $4 AND {DUE} RETURNING {COLUMNS}"
                ),
                &[
                    now.into(),
                    node.into(),
                    now.saturating_add(lease_ms).into(),
                    (&message_id).into(),
                ],
            )
            .await?;
            if let Some(row) = row {
                return Ok(Some(row.into()));
            }
        }
        Ok(None)
    }

    /// Records a failed hook invocation of a row `node` holds: attempts + 1, due again at
    /// `next_attempt_at` (epoch ms), lease dropped. Returns false when `node` no longer holds
    /// it.
    ///
    /// Errors: `Database`.
    pub async fn retry_transit_message(
        &self,
        message_id: &str,
        node: &str,
        next_attempt_at: i64,
    ) -> StoreResult<bool> {
        let done = sql::execute(
            &self.pool,
            "UPDATE flow_transit_messages SET attempts = attempts + 1, next_attempt_at = $1, \
             lease_holder = NULL, lease_expires_at = NULL \
             WHERE message_id = $2 AND lease_holder = $3 AND state IN ('PENDING', 'ASYNC')",
            &[next_attempt_at.into(), message_id.into(), node.into()],
        )
        .await?;
        Ok(done == 1)
    }

    /// Freezes the content of a `PENDING` row `node` holds once its final `actions` (as the
    /// caller serialized them) are decided: state `DELIVERING`, attempts + 1. Returns the
    /// blob key of the content to deliver (the latest PutRawMessageContent's), `None` when
    /// `node` no longer holds the row or it is not `PENDING`.
    ///
    /// Errors: `Database`.
    pub async fn begin_transit_delivery(
        &self,
        message_id: &str,
        node: &str,
        actions: &str,
    ) -> StoreResult<Option<(String, Option<String>)>> {
        sql::fetch_optional(
            &self.pool,
            "UPDATE flow_transit_messages SET state = 'DELIVERING', attempts = attempts + 1, \
             actions = $1 WHERE message_id = $2 AND lease_holder = $3 AND state = 'PENDING' \
             RETURNING blob_key, message_key",
            &[actions.into(), message_id.into(), node.into()],
        )
        .await
    }

    /// Ends the work on a row `node` holds: state `DONE` at `now` (epoch ms), lease dropped.
    /// Returns false when `node` no longer holds it.
    ///
    /// Errors: `Database`.
    pub async fn finish_transit_message(
        &self,
        message_id: &str,
        node: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sql::execute(
            &self.pool,
            "UPDATE flow_transit_messages SET state = 'DONE', finished_at = $1, \
             lease_holder = NULL, lease_expires_at = NULL \
             WHERE message_id = $2 AND lease_holder = $3",
            &[now.into(), message_id.into(), node.into()],
        )
        .await?;
        Ok(done == 1)
    }

    /// Makes the content of `account_id`'s synchronous message `message_id`, created at or
    /// after `window_start` (epoch ms) and still `PENDING`, the blob `blob_key` (with its
    /// wrapped `message_key`, `None` for plaintext).
    ///
    /// Errors: `Database`.
    pub async fn replace_transit_content(
        &self,
        account_id: &str,
        message_id: &str,
        window_start: i64,
        blob_key: &str,
        message_key: Option<&str>,
    ) -> StoreResult<ContentReplacement> {
        let mut tx = self.begin_write().await?;
        let current: Option<(String, String, i64)> = sql::fetch_optional(
            &mut *tx,
            "SELECT blob_key, state, synchronous FROM flow_transit_messages \
             WHERE message_id = $1 AND account_id = $2 AND created_at >= $3",
            &[message_id.into(), account_id.into(), window_start.into()],
        )
        .await?;
        let Some((previous, state, synchronous)) = current else {
            return Ok(ContentReplacement::NotFound);
        };
        if synchronous == 0 || state != TRANSIT_PENDING {
            return Ok(ContentReplacement::Frozen);
        }
        let done = sql::execute(
            &mut *tx,
            "UPDATE flow_transit_messages SET blob_key = $1, message_key = $2 \
             WHERE message_id = $3 AND state = 'PENDING'",
            &[blob_key.into(), message_key.into(), message_id.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(if done == 1 {
            ContentReplacement::Replaced(previous)
        } else {
            ContentReplacement::Frozen
        })
    }

    /// Removes up to `limit` `DONE` rows created before `before` (epoch ms), returning their
    /// blob keys for the caller to delete.
    ///
    /// Errors: `Database`.
    pub async fn purge_transit_messages(
        &self,
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        let rows: Vec<(String, String)> = sql::fetch_all(
            &self.pool,
            "SELECT message_id, blob_key FROM flow_transit_messages \
             WHERE state = 'DONE' AND created_at < $1 ORDER BY created_at LIMIT $2",
            &[before.into(), limit.into()],
        )
        .await?;
        let mut blobs = Vec::with_capacity(rows.len());
        for (message_id, blob_key) in rows {
            sql::execute(
                &self.pool,
                "DELETE FROM flow_transit_messages WHERE message_id = $1 AND state = 'DONE'",
                &[(&message_id).into()],
            )
            .await?;
            blobs.push(blob_key);
        }
        Ok(blobs)
    }

    /// Makes every row `node` holds due again at `now` (epoch ms): called when a node
    /// starts, since its previous run's leases are stale. Returns how many were released.
    ///
    /// Errors: `Database`.
    pub async fn release_transit_leases(&self, node: &str, now: i64) -> StoreResult<u64> {
        sql::execute(
            &self.pool,
            "UPDATE flow_transit_messages SET lease_expires_at = $1 \
             WHERE lease_holder = $2 AND state <> 'DONE'",
            &[now.into(), node.into()],
        )
        .await
    }

    /// The account owning organization `organization_id`, `None` when there is none.
    ///
    /// Errors: `Database`.
    pub async fn organization_account(&self, organization_id: &str) -> StoreResult<Option<String>> {
        sql::fetch_optional_scalar(
            &self.pool,
            "SELECT account_id FROM organizations WHERE organization_id = $1",
            &[organization_id.into()],
        )
        .await
    }

    /// The hook signing secret of `account_id`'s organization `organization_id`, set to
    /// `candidate` (at `now`, epoch ms) when it has none yet.
    ///
    /// Errors: `NotFound` when another account's organization holds the secret; `Database`.
    pub async fn ensure_hook_secret(
        &self,
        account_id: &str,
        organization_id: &str,
        candidate: &str,
        now: i64,
    ) -> StoreResult<String> {
        sql::execute(
            &self.pool,
            "INSERT INTO flow_hook_secrets (organization_id, account_id, secret, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id) DO NOTHING",
            &[
                organization_id.into(),
                account_id.into(),
                candidate.into(),
                now.into(),
            ],
        )
        .await?;
        let secret: Option<String> = sql::fetch_optional_scalar(
            &self.pool,
            "SELECT secret FROM flow_hook_secrets WHERE organization_id = $1 AND account_id = $2",
            &[organization_id.into(), account_id.into()],
        )
        .await?;
        secret.ok_or_else(|| crate::StoreError::NotFound(organization_id.to_string()))
    }

    /// Replaces the hook signing secret of `account_id`'s organization `organization_id`
    /// with `secret` (at `now`, epoch ms).
    ///
    /// Errors: `Database`.
    pub async fn set_hook_secret(
        &self,
        account_id: &str,
        organization_id: &str,
        secret: &str,
        now: i64,
    ) -> StoreResult<()> {
        sql::execute(
            &self.pool,
            "INSERT INTO flow_hook_secrets (organization_id, account_id, secret, updated_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (organization_id) DO UPDATE SET secret = excluded.secret, \
             updated_at = excluded.updated_at \
             WHERE flow_hook_secrets.account_id = excluded.account_id",
            &[
                organization_id.into(),
                account_id.into(),
                secret.into(),
                now.into(),
            ],
        )
        .await?;
        Ok(())
    }
}
