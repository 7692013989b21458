//! Email flow rules applied in delivery (workmail.md §2.9): per recipient, the action of the
//! deciding rule of the recipient's organization (inbound) or the sender's (outbound).
//!
//! [`FlowApplier`] decides every recipient as delivery walks the envelope, remembers what
//! delivery must do besides appending copies (the folder a copy goes to, bounces to send,
//! the events to log) and does it once the delivery is committed ([`FlowApplier::finish`]).
//! Rules are read from the store per message (once per organization), so a rule created or
//! removed applies to the next message.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use carillon_store::{LocalMailbox, Store, StoreError};

use super::dsn::{send_bounce, Bounce, FailedRecipient};
use super::{domain_of, DeliveryError, Envelope, RecipientStatus, INBOX, JUNK_EMAIL};
use crate::auth::MailUser;
use crate::authentication::DmarcDisposition;
use crate::events::{self, EmailEvent, RuleAction};
use crate::flow::rules::{self, FlowAction, FlowDirection, FlowRule, HookTarget, RuleOutcome};
use crate::flow::transit;

/// Queue lifetime of what delivery queues outside an SMTP session (rule bounces of inbound
/// mail, messages delivered after a hook answered): the SMTP queue's default, 5 days
/// (RFC 5321 §4.5.4.1).
pub(crate) const QUEUE_LIFETIME: Duration = Duration::from_secs(5 * 24 * 3600);

/// Where delivery gets each recipient's action from.
enum Source<'a> {
    /// The organization's flow rules, matched against this sender (`Sender`, else `From`).
    Rules {
        sender: String,
        cache: HashMap<String, Vec<FlowRule>>,
    },
    /// Actions already decided (by the answer of the synchronous hook of rule `.0`), per
    /// recipient.
    Given(&'a str, &'a [(String, FlowAction)]),
}

/// The DMARC disposition recorded in a received message held for a synchronous hook: its
/// topmost `Authentication-Results` field (Carillon's own, prepended at receipt) saying
/// `dmarc=fail` under `policy.dmarc=quarantine` is `Quarantine` (so `Default` still files it
/// in Junk E-mail after the hook answered), anything else `Deliver` (a `reject` never got
/// this far). Spec: workmail.md §2.25.
pub(crate) fn recorded_dmarc(message: &[u8]) -> DmarcDisposition {
    let text = String::from_utf8_lossy(message);
    let mut lines = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .take_while(|l| !l.is_empty());
    let mut results = String::new();
    if let Some(first) = lines.by_ref().find(|l| {
        l.get(..23)
            .is_some_and(|n| n.eq_ignore_ascii_case("authentication-results:"))
    }) {
        results.push_str(&first[23..]);
        // Its continuation lines start with white space.
        for line in lines.take_while(|l| l.starts_with([' ', '\t'])) {
            results.push(' ');
            results.push_str(line);
        }
    }
    let results = results.to_ascii_lowercase();
    let tokens: Vec<&str> = results
        .split(|c: char| c == ';' || c.is_whitespace())
        .collect();
    if tokens.contains(&"dmarc=fail") && tokens.contains(&"policy.dmarc=quarantine") {
        DmarcDisposition::Quarantine
    } else {
        DmarcDisposition::Deliver
    }
}

/// The future of [`FlowApplier::finish`].
pub(crate) type Finishing<'f> =
    std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'f>>;

/// A recipient a rule (or hook answer) acted on, for `RULE_APPLIED`.
struct Applied {
    organization_id: String,
    rule_name: String,
    action: &'static str,
    recipient: String,
}

/// What an outbound recipient becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OutboundRoute {
    /// Sent as usual (local delivery or the recipient domain's MX).
    Normal,
    /// Queued for the organization's SMTP gateway.
    Gateway(String),
    /// Not sent now: `Dropped`, `RuleBounced` or `HeldForHook`.
    Stopped(RecipientStatus),
}

/// The flow-rule side of one delivery.
pub(crate) struct FlowApplier<'a> {
    direction: FlowDirection,
    source: Source<'a>,
    /// Mailbox (user ID) → the folder its copy must go to.
    folders: HashMap<String, &'static str>,
    /// (organization, recipient, text) of the recipients to bounce.
    bounced: Vec<(String, String, Option<String>)>,
    applied: Vec<Applied>,
    /// Recipients held for synchronous hooks, per organization and rule.
    deferred: Vec<HookCall>,
    /// Recipients asynchronous hooks are told about, per organization and rule.
    fired: Vec<HookCall>,
}

/// The recipients of one organization a hook rule matched.
struct HookCall {
    organization_id: String,
    hook: HookTarget,
    recipients: Vec<String>,
}

impl<'a> FlowApplier<'a> {
    /// Decides by the organizations' rules of `direction`; `message` gives the `Sender` /
    /// `From` header (the envelope sender when it has neither).
    pub(crate) fn from_rules(direction: FlowDirection, message: &[u8], mail_from: &str) -> Self {
        Self::new(
            direction,
            Source::Rules {
                sender: rules::header_sender(message, mail_from),
                cache: HashMap::new(),
            },
        )
    }

    /// Applies `actions` decided by rule `rule_name`'s hook (recipient → action;
    /// recipients not listed get `Default`).
    pub(crate) fn from_actions(
        direction: FlowDirection,
        rule_name: &'a str,
        actions: &'a [(String, FlowAction)],
    ) -> Self {
        Self::new(direction, Source::Given(rule_name, actions))
    }

    fn new(direction: FlowDirection, source: Source<'a>) -> Self {
        FlowApplier {
            direction,
            source,
            folders: HashMap::new(),
            bounced: Vec::new(),
            applied: Vec::new(),
            deferred: Vec::new(),
            fired: Vec::new(),
        }
    }

    /// The final action for `recipient` under `organization_id`'s rules (or the given
    /// actions), and the deciding rule.
    ///
    /// `None`: a synchronous Run hook rule holds the recipient for its hook
    /// ([`FlowApplier::defer`]); an asynchronous one is `Default` (the hook is told in
    /// [`FlowApplier::finish`] and never changes delivery).
    async fn decide(
        &mut self,
        store: &Store,
        organization_id: &str,
        recipient: &str,
    ) -> Result<Option<FlowAction>, StoreError> {
        let direction = self.direction;
        let (rule_name, outcome) = match &mut self.source {
            Source::Given(rule_name, actions) => {
                let action = actions
                    .iter()
                    .find(|(r, _)| r.eq_ignore_ascii_case(recipient))
                    .map_or(FlowAction::Default, |(_, a)| a.clone());
                (Some(rule_name.to_string()), RuleOutcome::Action(action))
            }
            Source::Rules { sender, cache } => {
                if !cache.contains_key(organization_id) {
                    let loaded = rules::load_rules(store, organization_id, direction).await?;
                    cache.insert(organization_id.to_string(), loaded);
                }
                let decision = rules::evaluate(&cache[organization_id], sender, recipient);
                (decision.rule_name, decision.outcome)
            }
        };
        let action = match outcome {
            RuleOutcome::Action(action) => action,
            RuleOutcome::RunHook(hook) => {
                let synchronous = hook.synchronous;
                let calls = if synchronous {
                    &mut self.deferred
                } else {
                    &mut self.fired
                };
                match calls.iter_mut().find(|c| {
                    c.organization_id == organization_id && c.hook.rule_name == hook.rule_name
                }) {
                    Some(call) => call.recipients.push(recipient.to_string()),
                    None => calls.push(HookCall {
                        organization_id: organization_id.to_string(),
                        hook,
                        recipients: vec![recipient.to_string()],
                    }),
                }
                if synchronous {
                    return Ok(None);
                }
                // An asynchronous hook runs alongside: delivery goes on as Default.
                return Ok(Some(FlowAction::Default));
            }
        };
        let action = if action.allowed_for(direction) {
            action
        } else {
            FlowAction::Default
        };
        if let Some(rule_name) = rule_name {
            self.applied.push(Applied {
                organization_id: organization_id.to_string(),
                rule_name,
                action: action.name(),
                recipient: recipient.to_string(),
            });
        }
        Ok(Some(action))
    }

    /// Decides an inbound recipient reaching `mailboxes` (non-empty, one organization).
    /// `Some(status)` when it is not delivered now (`Dropped`, `RuleBounced`,
    /// `HeldForHook`); `None` when it
    /// is, its mailboxes' folder remembered for [`FlowApplier::folder`].
    pub(crate) async fn inbound(
        &mut self,
        store: &Store,
        recipient: &str,
        mailboxes: &[LocalMailbox],
    ) -> Result<Option<RecipientStatus>, StoreError> {
        let Some(organization_id) = mailboxes.first().map(|m| m.organization_id.clone()) else {
            return Ok(None);
        };
        let Some(action) = self.decide(store, &organization_id, recipient).await? else {
            return Ok(Some(RecipientStatus::HeldForHook));
        };
        let folder = match action {
            FlowAction::Drop => return Ok(Some(RecipientStatus::Dropped)),
            FlowAction::Bounce { message } => {
                self.bounced
                    .push((organization_id, recipient.to_string(), message));
                return Ok(Some(RecipientStatus::RuleBounced));
            }
            FlowAction::MoveToJunk => JUNK_EMAIL,
            FlowAction::BypassSpamCheck => INBOX,
            FlowAction::Default | FlowAction::RouteToGateway { .. } => return Ok(None),
        };
        for mailbox in mailboxes {
            self.folders
                .entry(mailbox.user_id.clone())
                .or_insert(folder);
        }
        Ok(None)
    }

    /// Decides an outbound recipient of a message sent by a user of `organization_id`.
    pub(crate) async fn outbound(
        &mut self,
        store: &Store,
        organization_id: &str,
        recipient: &str,
    ) -> Result<OutboundRoute, StoreError> {
        let Some(action) = self.decide(store, organization_id, recipient).await? else {
            return Ok(OutboundRoute::Stopped(RecipientStatus::HeldForHook));
        };
        Ok(match action {
            FlowAction::Drop => OutboundRoute::Stopped(RecipientStatus::Dropped),
            FlowAction::Bounce { message } => {
                self.bounced
                    .push((organization_id.to_string(), recipient.to_string(), message));
                OutboundRoute::Stopped(RecipientStatus::RuleBounced)
            }
            FlowAction::RouteToGateway { gateway_id } => OutboundRoute::Gateway(gateway_id),
            FlowAction::Default | FlowAction::MoveToJunk | FlowAction::BypassSpamCheck => {
                OutboundRoute::Normal
            }
        })
    }

    /// Before the delivery is committed: hands the recipients held for synchronous hooks to
    /// the hook worker ([`transit::hold`], durable when this returns), one in-transit
    /// message per organization and rule. `submitter`: the sending user (outbound).
    ///
    /// Errors: `Store` (answer a temporary failure: nothing is committed yet).
    pub(crate) async fn defer(
        &self,
        store: &Store,
        mail_from: &str,
        message: &Bytes,
        submitter: Option<&MailUser>,
    ) -> Result<(), DeliveryError> {
        for call in &self.deferred {
            let envelope = Envelope {
                mail_from: mail_from.to_string(),
                recipients: call.recipients.clone(),
            };
            transit::hold(
                store,
                &call.organization_id,
                self.direction,
                &envelope,
                message.clone(),
                &call.hook,
                submitter,
            )
            .await?;
        }
        Ok(())
    }

    /// The folder of `user_id`'s copy: a rule's (Deliver to junk, Never deliver to junk)
    /// over `otherwise` (the INBOX, or Junk E-mail under a DMARC quarantine).
    pub(crate) fn folder(&self, user_id: &str, otherwise: &'static str) -> &'static str {
        self.folders.get(user_id).copied().unwrap_or(otherwise)
    }

    /// After the delivery is committed: tells the asynchronous hooks
    /// ([`transit::hold`]), sends the bounces of the `RuleBounced` recipients to
    /// `envelope_from` (one DSN per organization; never for a null reverse-path) and logs
    /// `RULE_APPLIED` per rule and action (workmail.md §4.1) under `trace_id`. Failures are
    /// logged: the message is already accepted.
    ///
    /// Boxed: a local sender's bounce is delivered inbound, which finishes its own rules in
    /// turn (a bounce has the null reverse-path, so it never bounces again).
    pub(crate) fn finish<'f>(
        &'f self,
        store: &'f Store,
        envelope_from: &'f str,
        message: &'f Bytes,
        trace_id: &'f str,
        queue_lifetime: Duration,
        submitter: Option<&'f MailUser>,
    ) -> Finishing<'f> {
        Box::pin(async move {
            for call in &self.fired {
                let envelope = Envelope {
                    mail_from: envelope_from.to_string(),
                    recipients: call.recipients.clone(),
                };
                if let Err(e) = transit::hold(
                    store,
                    &call.organization_id,
                    self.direction,
                    &envelope,
                    message.clone(),
                    &call.hook,
                    submitter,
                )
                .await
                {
                    tracing::warn!(rule = %call.hook.rule_name, error = %e,
                        "could not tell an asynchronous hook about a message");
                }
            }
            let mut organizations: Vec<&str> = Vec::new();
            for (organization, _, _) in &self.bounced {
                if !organizations.contains(&organization.as_str()) {
                    organizations.push(organization);
                }
            }
            for organization in organizations {
                let failures: Vec<FailedRecipient> = self
                    .bounced
                    .iter()
                    .filter(|(o, _, _)| o == organization)
                    .map(|(_, recipient, text)| FailedRecipient {
                        recipient: recipient.clone(),
                        status: "5.7.1".to_string(),
                        diagnostic: text.clone().unwrap_or_else(|| self.bounce_text()),
                        remote_mta: None,
                    })
                    .collect();
                // The reporting host: the domain of the organization's side of the message.
                let reporting = match self.direction {
                    FlowDirection::Inbound => domain_of(&failures[0].recipient),
                    FlowDirection::Outbound => domain_of(envelope_from),
                };
                let bounce = Bounce {
                    reporting_mta: &reporting,
                    organization_id: organization,
                    envelope_from,
                    arrival_date: carillon_core::time::now_millis(),
                    failures: &failures,
                    original: message,
                    queue_lifetime,
                };
                if let Err(e) = send_bounce(store, &bounce).await {
                    tracing::warn!(error = %e, "could not send the bounce of an email flow rule");
                }
            }
            self.log(store, trace_id).await;
        })
    }

    fn bounce_text(&self) -> String {
        match self.direction {
            FlowDirection::Inbound => {
                "Message rejected by the recipient organization's email flow rules".to_string()
            }
            FlowDirection::Outbound => {
                "Message blocked by your organization's administrator (email flow rule)".to_string()
            }
        }
    }

    /// `RULE_APPLIED` per (organization, rule): its actions with their recipients.
    async fn log(&self, store: &Store, trace_id: &str) {
        let mut done: Vec<(&str, &str)> = Vec::new();
        for entry in &self.applied {
            let key = (entry.organization_id.as_str(), entry.rule_name.as_str());
            if done.contains(&key) {
                continue;
            }
            done.push(key);
            let mut actions: Vec<RuleAction> = Vec::new();
            for same in self.applied.iter().filter(|a| {
                a.organization_id == entry.organization_id && a.rule_name == entry.rule_name
            }) {
                match actions.iter_mut().find(|a| a.action == same.action) {
                    Some(action) => action.recipients.push(same.recipient.clone()),
                    None => actions.push(RuleAction {
                        action: same.action.to_string(),
                        recipients: vec![same.recipient.clone()],
                    }),
                }
            }
            let event = EmailEvent::RuleApplied {
                rule_name: entry.rule_name.clone(),
                rule_type: self.direction.rule_type().to_string(),
                rule_actions: actions,
            };
            events::emit(store, &entry.organization_id, trace_id, event).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_dmarc_quarantine_is_read_from_the_topmost_results() {
        let quarantined = b"Authentication-Results: mx;\r\n\tspf=fail smtp.mailfrom=a@shady.test;\r\n\tdkim=none;\r\n\tdmarc=fail header.from=shady.test policy.dmarc=quarantine\r\nFrom: a@shady.test\r\n\r\nbody\r\n";
        assert_eq!(recorded_dmarc(quarantined), DmarcDisposition::Quarantine);
        let passed = b"Authentication-Results: mx; dmarc=pass header.from=ok.test policy.dmarc=quarantine\r\n\r\nx";
        assert_eq!(recorded_dmarc(passed), DmarcDisposition::Deliver);
        // Only the topmost field counts: one further down may be forged.
        let forged = b"Authentication-Results: mx; dmarc=none\r\nAuthentication-Results: mx; dmarc=fail policy.dmarc=quarantine\r\n\r\nx";
        assert_eq!(recorded_dmarc(forged), DmarcDisposition::Deliver);
        assert_eq!(
            recorded_dmarc(b"Subject: none\r\n\r\nx"),
            DmarcDisposition::Deliver
        );
    }
}
