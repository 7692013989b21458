//! In-transit messages held for a flow-rule hook (the original's Run Lambda, workmail.md
//! §2.10): how delivery's decision stage stores one before the SMTP `250` ([`hold`]), and
//! the stored formats (hook target, submitter, actions) the hook worker
//! ([`super::transit::HookWorker`]) and the message-flow API read back.
//!
//! Below delivery: it depends on the flow rules' types and the envelope only, never on the
//! delivery pipeline, so delivery can hold a message and the hook worker can deliver one
//! without a dependency cycle.

use bytes::Bytes;
use carillon_core::mail::domain_of;
use carillon_store::{NewTransitMessage, Store, StoreError};
use serde_json::{json, Value};

use super::hooks;
use super::rules::{FlowAction, FlowDirection, HookTarget};
use crate::crypto;
use crate::delivery::Envelope;
use crate::login::MailUser;

/// Wakes the worker of this process when a row was just inserted.
pub(super) static WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();

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

/// Whether `address` is in one of `organization_id`'s mail domains.
pub(super) async fn in_organization(
    store: &Store,
    organization_id: &str,
    address: &str,
) -> Result<bool, StoreError> {
    Ok(store
        .mail_domain_owner(&domain_of(address).to_ascii_lowercase())
        .await?
        .as_deref()
        == Some(organization_id))
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

pub(super) fn hook_from_json(text: &str) -> HookTarget {
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

pub(super) fn user_from_json(text: &str) -> Option<MailUser> {
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

pub(super) fn actions_to_json(actions: &[(String, FlowAction)]) -> String {
    Value::Array(
        actions
            .iter()
            .map(|(recipient, action)| json!({"recipient": recipient, "action": action_to_json(action)}))
            .collect(),
    )
    .to_string()
}

pub(super) fn actions_from_json(text: &str) -> Vec<(String, FlowAction)> {
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
/// Errors: store failures (nothing was kept). For a synchronous hook the caller answers
/// a temporary failure; for an asynchronous one it logs it and delivers anyway.
pub async fn hold(
    store: &Store,
    organization_id: &str,
    direction: FlowDirection,
    envelope: &Envelope,
    message: Bytes,
    hook: &HookTarget,
    submitter: Option<&MailUser>,
) -> Result<String, StoreError> {
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
        return Err(e);
    }
    WAKE.notify_one();
    Ok(message_id)
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
}
