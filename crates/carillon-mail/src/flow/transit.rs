//! Messages in transit through a flow-rule hook (the original's Run Lambda, workmail.md
//! §2.10): stored durably before the SMTP `250`, handed to the hook by a background worker,
//! and readable (and, for synchronous hooks, replaceable) through the message-flow API for
//! 24 hours.
//!
//! [`hold`] (in `held`, which delivery's decision stage calls) stores a message for its hook:
//!
//! - synchronous hooks: delivery of the recipients a synchronous hook decides for waits: the
//!   message and its envelope become a `PENDING` row; the worker ([`HookWorker`]) posts the
//!   event, retries failures with exponential backoff until the rule timeout (0 = no retry),
//!   then delivers the (possibly replaced) content with the answer's actions, or with the
//!   fallback action for every recipient when the hook kept failing: it re-enters the
//!   delivery pipeline at the decision stage ([`crate::delivery::deliver_with_actions`]).
//! - asynchronous hooks: the hook only hears of the message; delivery goes on at
//!   once (the caller delivers with `Default`). The worker posts the event (up to
//!   [`ASYNC_ATTEMPTS`] tries) and keeps the copy for GetRawMessageContent.
//!
//! Rows are leased (one node works each) and a worker that dies mid-way leaves its rows to
//! another node once the lease expires. A delivery interrupted after its mailbox copies were
//! committed but before the row was marked done is delivered again (at-least-once).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use carillon_jobs::{CancellationToken, Job, Pass, Trigger};
use carillon_store::{Store, StoreError, TransitMessageRecord};

pub use super::held::hold;
pub(crate) use super::held::write_transit_blob;
use super::held::{
    actions_from_json, actions_to_json, hook_from_json, in_organization, user_from_json, WAKE,
};
use super::hooks::{self, HookClient, HookError};
use super::rules::{FlowAction, FlowDirection, HookTarget};
use crate::crypto;
use crate::delivery::{DeliveryError, Envelope, MAX_RECIPIENTS};

/// How long an in-transit message stays readable through the message-flow API (§2.10).
pub const TRANSIT_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// Tries of an asynchronous hook before it is given up.
pub const ASYNC_ATTEMPTS: i64 = 3;
/// First retry delay of a failing hook; each further retry doubles it, up to [`MAX_BACKOFF`].
pub const RETRY_BASE: Duration = Duration::from_secs(5);
/// Longest delay between two tries of a failing hook.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// How long a worker holds a row it works on (renewed by finishing it).
const LEASE: Duration = Duration::from_secs(60);
/// Rows a worker works on at once.
const CONCURRENCY: usize = 8;
/// How often an idle worker looks for due rows (a row inserted in this process wakes it
/// at once).
const POLL_INTERVAL: Duration = Duration::from_secs(1);

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The plaintext of in-transit content of `organization_id` (`message_key`: its wrapped
/// message key; `None` for a plaintext blob).
///
/// Errors: `NotFound` when the blob is gone; key and blob failures.
pub(crate) async fn read_transit_blob(
    store: &Store,
    organization_id: &str,
    key: &str,
    message_key: Option<&str>,
) -> Result<Bytes, StoreError> {
    crypto::read_organization_blob(store, organization_id, key, message_key).await
}

/// `INBOUND` / `OUTBOUND` as stored.
fn direction_from_name(name: &str) -> FlowDirection {
    if name == "OUTBOUND" {
        FlowDirection::Outbound
    } else {
        FlowDirection::Inbound
    }
}

/// The §4.10 ARN context of a direction: `incoming` or `outgoing`.
pub fn arn_context(direction: &str) -> &'static str {
    if direction == "OUTBOUND" {
        "outgoing"
    } else {
        "incoming"
    }
}

/// The signing secret of `account_id`'s organization `organization_id`'s hooks, made on
/// first use (stored sealed, [`crate::crypto::seal_secret`]).
///
/// Errors: store failures (`NotFound` when the organization is another account's).
pub async fn hook_secret(
    store: &Store,
    account_id: &str,
    organization_id: &str,
) -> Result<String, StoreError> {
    let candidate =
        crate::crypto::seal_secret(store, organization_id, &hooks::new_secret()).await?;
    let stored = store
        .ensure_hook_secret(
            account_id,
            organization_id,
            &candidate,
            carillon_core::time::now_millis(),
        )
        .await?;
    crate::crypto::open_secret(store, organization_id, &stored).await
}

/// Delay before try `attempt + 1` of a failing hook: [`RETRY_BASE`] doubled per earlier
/// failure, at most [`MAX_BACKOFF`].
pub fn backoff(attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    RETRY_BASE
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(MAX_BACKOFF)
}

/// The background worker of flow-rule hooks (spawned by `carillon serve`): leases due rows
/// (one node works each), invokes their hooks, delivers synchronous messages once decided,
/// and removes finished rows and their content 24 hours after they arrived.
///
/// A [`carillon_jobs::Job`] woken at once by a row inserted in this process and otherwise
/// polling every second. Its clones share the worker's 8 permits and its purge clock.
#[derive(Debug, Clone)]
pub struct HookWorker {
    store: Store,
    node: String,
    client: HookClient,
    /// Rows worked on at once: [`CONCURRENCY`].
    permits: Arc<tokio::sync::Semaphore>,
    /// When finished rows were last purged (epoch ms; 0 = not yet).
    last_purge: Arc<AtomicI64>,
}

/// A pass purges finished rows once a minute, then leases due rows while permits are free,
/// each worked in a task of its own (left running at shutdown: a row's steps are guarded by
/// its lease, and an unfinished one is worked again). The rows a previous run of this node
/// held are released at start.
#[async_trait::async_trait]
impl Job for HookWorker {
    fn name(&self) -> &'static str {
        "flow-hook-worker"
    }

    fn trigger(&self) -> Trigger {
        Trigger::EveryOrWoken(POLL_INTERVAL, &WAKE)
    }

    async fn start(&self) {
        let now = carillon_core::time::now_millis();
        if let Err(e) = self.store.release_transit_leases(&self.node, now).await {
            tracing::warn!(error = %e, "hook worker: releasing stale leases failed");
        }
    }

    async fn pass(&self, shutdown: &CancellationToken) -> Pass {
        let now = carillon_core::time::now_millis();
        if now - self.last_purge.load(Ordering::Relaxed) >= 60_000 {
            self.last_purge.store(now, Ordering::Relaxed);
            self.purge(now).await;
        }
        loop {
            let permit = tokio::select! {
                () = shutdown.cancelled() => return Pass::Idle,
                permit = self.permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return Pass::Idle,
                },
            };
            let leased = self
                .store
                .lease_transit_message(&self.node, carillon_core::time::now_millis(), millis(LEASE))
                .await;
            match leased {
                Ok(Some(row)) => {
                    let worker = self.clone();
                    tokio::spawn(async move {
                        worker.process(row).await;
                        drop(permit);
                    });
                }
                Ok(None) => return Pass::Idle,
                Err(e) => {
                    tracing::warn!(error = %e, "hook worker: leasing failed");
                    return Pass::Idle;
                }
            }
        }
    }
}

/// How a synchronous invocation ended.
enum Decision {
    /// Deliver with these per-recipient actions.
    Deliver(Vec<(String, FlowAction)>),
    /// Try again at this time (epoch ms).
    Retry(i64),
}

impl HookWorker {
    /// A worker for node `node` (its stable identity) posting through `client`.
    pub fn new(store: Store, node: String, client: HookClient) -> Self {
        HookWorker {
            store,
            node,
            client,
            permits: Arc::new(tokio::sync::Semaphore::new(CONCURRENCY)),
            last_purge: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Runs the worker (see its [`Job`] passes) until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        carillon_jobs::run_until(self, shutdown).await;
    }

    /// Removes finished rows older than the 24-hour window, and their content.
    async fn purge(&self, now: i64) {
        let before = now.saturating_sub(millis(TRANSIT_WINDOW));
        match self.store.purge_transit_messages(before, 500).await {
            Ok(keys) => {
                for key in keys {
                    if let Err(e) = self.store.blobs().delete(&key).await {
                        tracing::warn!(blob_key = key, error = %e, "hook worker: content not removed");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "hook worker: purge failed"),
        }
    }

    /// Works one leased row; failures leave it to its lease's expiry or its next attempt.
    async fn process(&self, row: TransitMessageRecord) {
        let result = if row.synchronous {
            self.process_sync(&row).await
        } else {
            self.process_async(&row).await
        };
        if let Err(e) = result {
            tracing::warn!(message_id = row.message_id, error = %e, "hook worker: row left for a later attempt");
        }
    }

    /// Builds the event of `row` and posts it; returns the answer's body.
    async fn invoke(
        &self,
        row: &TransitMessageRecord,
        hook: &HookTarget,
    ) -> Result<Result<Bytes, HookError>, StoreError> {
        let secret = hook_secret(&self.store, &row.account_id, &row.organization_id).await?;
        let message = read_transit_blob(
            &self.store,
            &row.organization_id,
            &row.blob_key,
            row.message_key.as_deref(),
        )
        .await?;
        let event = hooks::build_event(&hooks::EventInput {
            direction: direction_from_name(&row.direction),
            mail_from: &row.mail_from,
            recipients: &row.recipients,
            message: &message,
            message_id: &row.message_id,
            invocation_id: &row.invocation_id,
        });
        Ok(self.client.invoke(&hook.endpoint, &secret, &event).await)
    }

    async fn process_async(&self, row: &TransitMessageRecord) -> Result<(), StoreError> {
        let hook = hook_from_json(&row.hook);
        if let Err(e) = self.invoke(row, &hook).await? {
            let attempts = row.attempts + 1;
            tracing::warn!(message_id = row.message_id, rule = hook.rule_name, attempts, error = %e, "asynchronous hook failed");
            if attempts < ASYNC_ATTEMPTS {
                let next =
                    carillon_core::time::now_millis().saturating_add(millis(backoff(row.attempts)));
                self.store
                    .retry_transit_message(&row.message_id, &self.node, next)
                    .await?;
                return Ok(());
            }
        }
        self.store
            .finish_transit_message(
                &row.message_id,
                &self.node,
                carillon_core::time::now_millis(),
            )
            .await?;
        Ok(())
    }

    async fn process_sync(&self, row: &TransitMessageRecord) -> Result<(), StoreError> {
        let hook = hook_from_json(&row.hook);
        let direction = direction_from_name(&row.direction);
        let (actions, (blob_key, message_key)) = match (row.state.as_str(), &row.actions) {
            // A delivery interrupted by a crash resumes with the decision it had.
            (carillon_store::TRANSIT_DELIVERING, Some(actions)) => (
                actions_from_json(actions),
                (row.blob_key.clone(), row.message_key.clone()),
            ),
            _ => {
                let actions = match self.decide(row, &hook, direction).await? {
                    Decision::Deliver(actions) => actions,
                    Decision::Retry(next) => {
                        self.store
                            .retry_transit_message(&row.message_id, &self.node, next)
                            .await?;
                        return Ok(());
                    }
                };
                let Some(content) = self
                    .store
                    .begin_transit_delivery(&row.message_id, &self.node, &actions_to_json(&actions))
                    .await?
                else {
                    return Ok(());
                };
                (actions, content)
            }
        };
        let message = read_transit_blob(
            &self.store,
            &row.organization_id,
            &blob_key,
            message_key.as_deref(),
        )
        .await?;
        let submitter = row.submitter.as_deref().and_then(user_from_json);
        let envelope = Envelope {
            mail_from: row.mail_from.clone(),
            recipients: actions.iter().map(|(r, _)| r.clone()).collect(),
        };
        let delivered = crate::delivery::deliver_with_actions(
            &self.store,
            direction,
            &envelope,
            message,
            &hook.rule_name,
            &actions,
            submitter.as_ref(),
        )
        .await;
        match delivered {
            Ok(_) => {}
            Err(DeliveryError::Store(e)) => return Err(e),
            // A message the delivery refuses as a whole (size, recipients) cannot succeed later.
            Err(e) => {
                tracing::warn!(message_id = row.message_id, error = %e, "hook worker: delivery refused the message")
            }
        }
        self.store
            .finish_transit_message(
                &row.message_id,
                &self.node,
                carillon_core::time::now_millis(),
            )
            .await?;
        Ok(())
    }

    /// Invokes the hook of a `PENDING` row and decides: the answer's actions (added
    /// recipients kept when allowed), a retry while the rule timeout lasts, or the fallback
    /// action for every recipient.
    async fn decide(
        &self,
        row: &TransitMessageRecord,
        hook: &HookTarget,
        direction: FlowDirection,
    ) -> Result<Decision, StoreError> {
        let answer = self
            .invoke(row, hook)
            .await?
            .and_then(|body| hooks::parse_response(&body, direction));
        let response = match answer {
            Ok(response) => response,
            Err(e) => {
                let now = carillon_core::time::now_millis();
                let next = now.saturating_add(millis(backoff(row.attempts)));
                tracing::warn!(message_id = row.message_id, rule = hook.rule_name, attempts = row.attempts + 1, error = %e, "synchronous hook failed");
                if hook.timeout_minutes > 0 && next < row.deadline_at {
                    return Ok(Decision::Retry(next));
                }
                return Ok(Decision::Deliver(
                    row.recipients
                        .iter()
                        .map(|r| (r.clone(), hook.fallback.clone()))
                        .collect(),
                ));
            }
        };
        let (mut actions, added) =
            hooks::apply_response(&response, &row.recipients, &hook.fallback);
        for (address, action) in added {
            if actions.len() >= MAX_RECIPIENTS {
                tracing::warn!(
                    message_id = row.message_id,
                    "hook added recipients beyond the 500-recipient limit"
                );
                break;
            }
            // Inbound hooks may add only the organization's own recipients (§2.10), as BCC:
            // the envelope gets them, the headers stay as they are.
            if direction == FlowDirection::Inbound
                && !in_organization(&self.store, &row.organization_id, &address).await?
            {
                tracing::warn!(
                    message_id = row.message_id,
                    address,
                    "hook added a recipient outside the organization; ignored"
                );
                continue;
            }
            actions.push((address, action));
        }
        Ok(Decision::Deliver(actions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(0), Duration::from_secs(5));
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(3), Duration::from_secs(40));
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(1_000), MAX_BACKOFF);
    }

    #[test]
    fn arn_context_names_the_direction() {
        assert_eq!(arn_context("INBOUND"), "incoming");
        assert_eq!(arn_context("OUTBOUND"), "outgoing");
    }
}
