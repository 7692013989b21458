//! Messages in transit through a flow-rule hook (the original's Run Lambda, workmail.md
//! §2.10): stored durably before the SMTP `250`, handed to the hook by a background worker,
//! and readable (and, for synchronous hooks, replaceable) through the message-flow API for
//! 24 hours.
//!
//! [`hold`] stores a message for its hook:
//!
//! - synchronous hooks: delivery of the recipients a synchronous hook decides for waits: the
//!   message and its envelope become a `PENDING` row; the worker ([`HookWorker`]) posts the
//!   event, retries failures with exponential backoff until the rule timeout (0 = no retry),
//!   then delivers the (possibly replaced) content with the answer's actions, or with the
//!   fallback action for every recipient when the hook kept failing.
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
use carillon_store::{NewTransitMessage, Store, StoreError, TransitMessageRecord};
use serde_json::{json, Value};

use super::hooks::{self, HookClient, HookError};
use super::rules::{FlowAction, FlowDirection, HookTarget};
use crate::auth::MailUser;
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

/// Wakes the worker of this process when a row was just inserted.
static WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The blob key of an in-transit message's original content.
fn transit_blob_key(message_id: &str) -> String {
    format!("transit/{message_id}")
}

/// Seals in-transit content of `organization_id` under a fresh message key and stores it at
/// `key` (durable when it returns). Returns the message key wrapped by the organization's
/// transit key, for the row. Spec: workmail.md §5.3.
///
/// Errors: store, blob and key failures.
pub(crate) async fn write_transit_blob(
    store: &Store,
    organization_id: &str,
    key: &str,
    content: &[u8],
) -> Result<String, StoreError> {
    let sealed = crypto::put_sealed_at(store, key.to_string(), content).await?;
    match sealed.wrap_for_organization(store, organization_id).await {
        Ok(wrapped) => Ok(wrapped),
        Err(e) => {
            if let Err(e) = store.blobs().delete(key).await {
                tracing::warn!(blob_key = key, error = %e, "could not remove an unused in-transit blob");
            }
            Err(e)
        }
    }
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

/// The lower-case domain of `address` (empty without `@`).
fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .to_ascii_lowercase()
}

/// Whether `address` is in one of `organization_id`'s mail domains.
async fn in_organization(
    store: &Store,
    organization_id: &str,
    address: &str,
) -> Result<bool, StoreError> {
    Ok(store
        .mail_domain_owner(&domain_of(address))
        .await?
        .as_deref()
        == Some(organization_id))
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

/// A final action as stored: `{"type": "BOUNCE", "bounceMessage": …}` and the like.
pub(crate) fn action_to_json(action: &FlowAction) -> Value {
    match action {
        FlowAction::Drop => json!({"type": "DROP"}),
        FlowAction::Bounce { message } => json!({"type": "BOUNCE", "bounceMessage": message}),
        FlowAction::MoveToJunk => json!({"type": "MOVE_TO_JUNK"}),
        FlowAction::Default => json!({"type": "DEFAULT"}),
        FlowAction::BypassSpamCheck => json!({"type": "BYPASS_SPAM_CHECK"}),
        FlowAction::RouteToGateway { gateway_id } => {
            json!({"type": "ROUTE_TO_GATEWAY", "gatewayId": gateway_id})
        }
    }
}

/// The inverse of [`action_to_json`]; anything unknown reads as `Default`.
pub(crate) fn action_from_json(value: &Value) -> FlowAction {
    let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_string);
    match value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "DROP" => FlowAction::Drop,
        "BOUNCE" => FlowAction::Bounce {
            message: text("bounceMessage"),
        },
        "MOVE_TO_JUNK" => FlowAction::MoveToJunk,
        "BYPASS_SPAM_CHECK" => FlowAction::BypassSpamCheck,
        "ROUTE_TO_GATEWAY" => FlowAction::RouteToGateway {
            gateway_id: text("gatewayId").unwrap_or_default(),
        },
        _ => FlowAction::Default,
    }
}

fn hook_to_json(hook: &HookTarget) -> String {
    json!({
        "ruleName": hook.rule_name,
        "endpoint": hook.endpoint,
        "synchronous": hook.synchronous,
        "fallback": action_to_json(&hook.fallback),
        "timeoutMinutes": hook.timeout_minutes,
    })
    .to_string()
}

fn hook_from_json(text: &str) -> HookTarget {
    let value: Value = serde_json::from_str(text).unwrap_or_default();
    HookTarget {
        rule_name: value["ruleName"].as_str().unwrap_or_default().to_string(),
        endpoint: value["endpoint"].as_str().unwrap_or_default().to_string(),
        synchronous: value["synchronous"].as_bool().unwrap_or_default(),
        fallback: action_from_json(&value["fallback"]),
        timeout_minutes: value["timeoutMinutes"]
            .as_u64()
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or_default(),
    }
}

fn user_to_json(user: &MailUser) -> String {
    json!({
        "accountId": user.account_id,
        "organizationId": user.organization_id,
        "userId": user.user_id,
        "email": user.email,
        "addresses": user.addresses,
    })
    .to_string()
}

fn user_from_json(text: &str) -> Option<MailUser> {
    let value: Value = serde_json::from_str(text).ok()?;
    let field = |name: &str| value[name].as_str().map(str::to_string);
    Some(MailUser {
        account_id: field("accountId")?,
        organization_id: field("organizationId")?,
        user_id: field("userId")?,
        email: field("email")?,
        addresses: serde_json::from_value(value["addresses"].clone()).unwrap_or_default(),
    })
}

fn actions_to_json(actions: &[(String, FlowAction)]) -> String {
    Value::Array(
        actions
            .iter()
            .map(|(recipient, action)| json!({"recipient": recipient, "action": action_to_json(action)}))
            .collect(),
    )
    .to_string()
}

fn actions_from_json(text: &str) -> Vec<(String, FlowAction)> {
    let value: Value = serde_json::from_str(text).unwrap_or_default();
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|entry| {
                    let recipient = entry["recipient"].as_str()?.to_string();
                    Some((recipient, action_from_json(&entry["action"])))
                })
                .collect()
        })
        .unwrap_or_default()
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

/// Holds a message for `hook` (the rule of `organization_id`; `submitter` is the sending user
/// of outbound mail) and returns the message-flow API's `messageId`. Spec: workmail.md §2.10,
/// §4.5.
///
/// - A synchronous hook decides for the recipients of `envelope`: their delivery waits. The
///   content and envelope are durable when this returns, so the caller may answer SMTP `250`;
///   the [`HookWorker`] runs the hook and delivers.
/// - An asynchronous hook only hears of the message, which the caller delivers at once (with
///   `Default`): the copy is kept for GetRawMessageContent (24 hours) and the worker posts the
///   event in the background.
///
/// Errors: `DeliveryError::Store` (nothing was kept). For a synchronous hook the caller answers
/// a temporary failure; for an asynchronous one it logs it and delivers anyway.
pub async fn hold(
    store: &Store,
    organization_id: &str,
    direction: FlowDirection,
    envelope: &Envelope,
    message: Bytes,
    hook: &HookTarget,
    submitter: Option<&MailUser>,
) -> Result<String, DeliveryError> {
    let account_id = match submitter {
        Some(user) => user.account_id.clone(),
        None => store
            .organization_account(organization_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(organization_id.to_string()))?,
    };
    let mut recipients = Vec::with_capacity(envelope.recipients.len());
    for recipient in &envelope.recipients {
        // Inbound hooks hear of the organization's recipients only (§4.5).
        if direction == FlowDirection::Outbound
            || in_organization(store, organization_id, recipient).await?
        {
            recipients.push(recipient.clone());
        }
    }
    let message_id = carillon_core::ids::new_uuid().to_ascii_lowercase();
    let blob_key = transit_blob_key(&message_id);
    let message_key = write_transit_blob(store, organization_id, &blob_key, &message).await?;
    let now = carillon_core::time::now_millis();
    let row = NewTransitMessage {
        message_id: message_id.clone(),
        account_id,
        organization_id: organization_id.to_string(),
        direction: hooks::direction_name(direction).to_string(),
        synchronous: hook.synchronous,
        blob_key: blob_key.clone(),
        message_key: Some(message_key),
        mail_from: envelope.mail_from.clone(),
        recipients,
        submitter: submitter.map(user_to_json),
        hook: hook_to_json(hook),
        invocation_id: carillon_core::ids::new_uuid()
            .replace('-', "")
            .to_ascii_lowercase(),
        next_attempt_at: now,
        deadline_at: now.saturating_add(i64::from(hook.timeout_minutes) * 60_000),
        created_at: now,
    };
    if let Err(e) = store.insert_transit_message(&row).await {
        if let Err(e) = store.blobs().delete(&blob_key).await {
            tracing::warn!(blob_key, error = %e, "could not remove an unused in-transit blob");
        }
        return Err(e.into());
    }
    WAKE.notify_one();
    Ok(message_id)
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
    fn stored_hooks_actions_and_users_read_back_unchanged() {
        let hook = HookTarget {
            rule_name: "rewrite".to_string(),
            endpoint: "https://hook.example/x".to_string(),
            synchronous: true,
            fallback: FlowAction::Bounce {
                message: Some("No.".to_string()),
            },
            timeout_minutes: 240,
        };
        assert_eq!(hook_from_json(&hook_to_json(&hook)), hook);
        let actions = vec![
            ("a@corp.test".to_string(), FlowAction::Drop),
            (
                "b@corp.test".to_string(),
                FlowAction::Bounce { message: None },
            ),
            ("c@corp.test".to_string(), FlowAction::MoveToJunk),
            ("d@corp.test".to_string(), FlowAction::Default),
            ("e@corp.test".to_string(), FlowAction::BypassSpamCheck),
            (
                "f@remote.test".to_string(),
                FlowAction::RouteToGateway {
                    gateway_id: "gw-1".to_string(),
                },
            ),
        ];
        assert_eq!(actions_from_json(&actions_to_json(&actions)), actions);
        let user = MailUser {
            account_id: "111122223333".to_string(),
            organization_id: "m-0123".to_string(),
            user_id: "u-1".to_string(),
            email: "a@corp.test".to_string(),
            addresses: vec!["a@corp.test".to_string(), "b@corp.test".to_string()],
        };
        assert_eq!(user_from_json(&user_to_json(&user)), Some(user));
    }

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
