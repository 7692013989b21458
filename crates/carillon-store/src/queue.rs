//! The outbound mail queue: one row per foreign recipient of a submitted message (or per
//! bounce), leased by one node at a time so several nodes can work the same queue.
//!
//! A row lives from acceptance (before SMTP `250`) until delivery succeeds or fails for good;
//! the raw message is a blob shared with the mailbox copies (never deleted from here).

use sqlx::{Any, Transaction};

use crate::error::StoreResult;
use crate::sql;
use crate::Store;

/// A recipient to queue for remote delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutbound {
    /// Organization of the sender (for bounces: of the mailbox that generated them).
    pub organization_id: String,
    /// Envelope MAIL FROM; empty for the null reverse-path `<>` of a DSN.
    pub envelope_from: String,
    /// One foreign recipient address.
    pub recipient: String,
    /// Blob key of the raw message (trace headers included).
    pub blob_key: String,
    /// First attempt, epoch milliseconds.
    pub next_attempt_at: i64,
    /// End of the queue lifetime, epoch milliseconds: past it the message bounces.
    pub expires_at: i64,
    /// The organization's SMTP gateway to send through (an outbound flow rule's
    /// "Route to SMTP gateway", workmail.md §2.8); `None`: the recipient domain's MX.
    pub gateway_id: Option<String>,
    /// The blob's message key wrapped by the organization's transit key (base64, encryption
    /// at rest, workmail.md §5.3); `None` for a plaintext blob.
    pub message_key: Option<String>,
}

/// A queued recipient as leased for a delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QueuedOutbound {
    /// Row ID (UUID).
    pub queue_id: String,
    /// See [`NewOutbound::organization_id`].
    pub organization_id: String,
    /// Envelope MAIL FROM; empty for `<>`.
    pub envelope_from: String,
    /// The foreign recipient.
    pub recipient: String,
    /// Blob key of the raw message.
    pub blob_key: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the row is due, epoch milliseconds.
    pub next_attempt_at: i64,
    /// End of the queue lifetime, epoch milliseconds.
    pub expires_at: i64,
    /// The last transient failure, if any (SMTP reply or connection error).
    pub last_error: Option<String>,
    /// When the row was queued, epoch milliseconds (the DSN's Arrival-Date).
    pub created_at: i64,
    /// See [`NewOutbound::gateway_id`].
    pub gateway_id: Option<String>,
    /// See [`NewOutbound::message_key`].
    pub message_key: Option<String>,
}

const COLUMNS: &str = "queue_id, organization_id, envelope_from, recipient, blob_key, attempts, \
                       next_attempt_at, expires_at, last_error, created_at, gateway_id, message_key";

impl Store {
    /// Queues recipients for remote delivery, all in one transaction (durable when it returns).
    /// Returns the new rows' IDs in input order.
    pub async fn enqueue_outbound(&self, items: &[NewOutbound]) -> StoreResult<Vec<String>> {
        let mut tx = self.begin_write().await?;
        let ids = insert_outbound(&mut tx, items).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Leases up to `limit` rows due at `now` (epoch ms) that no other node holds (free, or
    /// whose lease expired) to `node` until `now + lease_ms`. Each row is claimed by a
    /// conditional UPDATE, so two nodes never hold the same row.
    pub async fn lease_outbound(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<QueuedOutbound>> {
        let candidates: Vec<String> = sql::fetch_all_scalar(
            &self.pool,
            "SELECT queue_id FROM outbound_queue \
             WHERE next_attempt_at <= $1 AND (lease_holder IS NULL OR lease_expires_at <= $1) \
             ORDER BY next_attempt_at, queue_id LIMIT $2",
            &[now.into(), limit.into()],
        )
        .await?;
        let mut leased = Vec::with_capacity(candidates.len());
        for queue_id in candidates {
            let row: Option<QueuedOutbound> = sql::fetch_optional(
                &self.pool,
                &format!(
                    "UPDATE outbound_queue SET lease_holder = $1, lease_expires_at = $2 \
                 WHERE queue_id = $3 AND next_attempt_at <= $4 \
                   AND (lease_holder IS NULL OR lease_expires_at <= $4) \
                 RETURNING {COLUMNS}"
                ),
                &[
                    node.into(),
                    (now + lease_ms).into(),
                    (&queue_id).into(),
                    now.into(),
                ],
            )
            .await?;
            leased.extend(row);
        }
        Ok(leased)
    }

    /// Drops every lease `node` holds (called when a node starts: its previous run's leases
    /// are stale, so the rows are due again at once rather than when the leases expire).
    pub async fn release_outbound_leases(&self, node: &str) -> StoreResult<u64> {
        sql::execute(
            &self.pool,
            "UPDATE outbound_queue SET lease_holder = NULL, lease_expires_at = NULL \
             WHERE lease_holder = $1",
            &[node.into()],
        )
        .await
    }

    /// Extends every lease `node` holds to `until` (epoch ms): the heartbeat of a running
    /// node, so leases can be short and a dead node's rows come free soon.
    pub async fn renew_outbound_leases(&self, node: &str, until: i64) -> StoreResult<u64> {
        sql::execute(
            &self.pool,
            "UPDATE outbound_queue SET lease_expires_at = $1 WHERE lease_holder = $2",
            &[until.into(), node.into()],
        )
        .await
    }

    /// Removes a row `node` holds once delivery succeeded or failed for good. Returns false
    /// when the row is gone or another node holds it (its lease was lost).
    pub async fn finish_outbound(&self, queue_id: &str, node: &str) -> StoreResult<bool> {
        let done = sql::execute(
            &self.pool,
            "DELETE FROM outbound_queue WHERE queue_id = $1 AND lease_holder = $2",
            &[queue_id.into(), node.into()],
        )
        .await?;
        Ok(done == 1)
    }

    /// Records a transient failure of a row `node` holds: one more attempt, the error, the
    /// next attempt at `next_attempt_at` (epoch ms), lease released. Returns false when the
    /// lease was lost.
    pub async fn retry_outbound(
        &self,
        queue_id: &str,
        node: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> StoreResult<bool> {
        let done = sql::execute(
            &self.pool,
            "UPDATE outbound_queue SET attempts = attempts + 1, next_attempt_at = $1, \
             last_error = $2, lease_holder = NULL, lease_expires_at = NULL \
             WHERE queue_id = $3 AND lease_holder = $4",
            &[
                next_attempt_at.into(),
                error.into(),
                queue_id.into(),
                node.into(),
            ],
        )
        .await?;
        Ok(done == 1)
    }

    /// The queued rows of an organization, oldest first (inspection and tests).
    pub async fn list_outbound(&self, organization_id: &str) -> StoreResult<Vec<QueuedOutbound>> {
        sql::fetch_all(
            &self.pool,
            &format!(
                "SELECT {COLUMNS} FROM outbound_queue WHERE organization_id = $1 \
             ORDER BY created_at, queue_id"
            ),
            &[organization_id.into()],
        )
        .await
    }
}

/// Inserts queue rows inside `tx` (so a delivery can commit them with its mailbox copies);
/// returns their IDs in input order.
pub(crate) async fn insert_outbound(
    tx: &mut Transaction<'static, Any>,
    items: &[NewOutbound],
) -> StoreResult<Vec<String>> {
    let now = carillon_core::time::now_millis();
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = carillon_core::ids::new_uuid();
        sql::execute(
            &mut **tx,
            "INSERT INTO outbound_queue (queue_id, organization_id, envelope_from, recipient, \
             blob_key, attempts, next_attempt_at, expires_at, created_at, gateway_id, \
             message_key) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10)",
            &[
                (&id).into(),
                (&item.organization_id).into(),
                (&item.envelope_from).into(),
                (&item.recipient).into(),
                (&item.blob_key).into(),
                item.next_attempt_at.into(),
                item.expires_at.into(),
                now.into(),
                (&item.gateway_id).into(),
                (&item.message_key).into(),
            ],
        )
        .await?;
        ids.push(id);
    }
    Ok(ids)
}
