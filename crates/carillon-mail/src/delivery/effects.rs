//! Stage 6, **effects**: what follows a delivery, after the commit (or when nothing was
//! stored): the §4.3 metrics, the §4.1 email event log (received, delivered, journaled,
//! bounced, DMARC policy applied, `RULE_APPLIED`), asynchronous hooks told of the message,
//! and the bounces of the recipients a flow rule bounced. Failures are logged, never
//! returned: the message is already accepted.
//!
//! A rule bounce to a local sender is a new inbound message: it goes through the whole
//! pipeline again ([`super::dsn::send_bounce`]); it has the null reverse-path, so it never
//! bounces in turn.

use carillon_core::mail::domain_of;
use std::time::Duration;

use bytes::Bytes;
use carillon_store::{LocalMailbox, NewMessage, Store};

use super::decide::{Decision, FlowEffects};
use super::dsn::{send_bounce, Bounce, FailedRecipient};
use super::envelope::{Envelope, RecipientResult, RecipientStatus, JUNK_EMAIL};
use super::journal;
use super::recipients::organizations_of;
use super::seal::Sealed;
use crate::events::{self, BouncedRecipient, EmailEvent, MessageHeaders, RuleAction};
use crate::flow::held;
use crate::flow::rules::FlowDirection;
use crate::login::MailUser;
use crate::metrics;
use crate::sender_authentication::DmarcDisposition;

// What delivery queues outside an SMTP session (rule bounces of inbound mail, messages
// delivered after a hook answered) lives as long as the SMTP queue's default.
pub(super) use carillon_core::mail::QUEUE_LIFETIME;

/// Where a message came from, as its effects differ.
pub(super) enum Origin<'a> {
    /// Received by the MX (or a received message a hook answered for), delivered under
    /// this DMARC disposition.
    Mx(DmarcDisposition),
    /// Submitted by `user`; what it queues lives `queue_lifetime`.
    Submission {
        user: &'a MailUser,
        queue_lifetime: Duration,
    },
}

impl Origin<'_> {
    fn queue_lifetime(&self) -> Duration {
        match self {
            Origin::Mx(_) => QUEUE_LIFETIME,
            Origin::Submission { queue_lifetime, .. } => *queue_lifetime,
        }
    }

    fn submitter(&self) -> Option<&MailUser> {
        match self {
            Origin::Mx(_) => None,
            Origin::Submission { user, .. } => Some(user),
        }
    }
}

/// The effects of a message no recipient took (nothing stored; a fresh trace ID): inbound,
/// the bounce metrics and events of the refused recipients; then the flow rules' effects.
pub(super) async fn nothing_stored(
    store: &Store,
    envelope: &Envelope,
    message: &Bytes,
    decision: &Decision,
    origin: &Origin<'_>,
) {
    let trace_id = match origin {
        Origin::Mx(disposition) => {
            count_incoming_bounces(store, &decision.results).await;
            let log = EventLog::new(envelope, message, carillon_core::ids::new_uuid());
            log.incoming_bounces(store, &decision.results, *disposition)
                .await;
            log.trace_id
        }
        Origin::Submission { .. } => carillon_core::ids::new_uuid(),
    };
    flow_effects(
        &decision.flow,
        store,
        &envelope.mail_from,
        message,
        &trace_id,
        origin.queue_lifetime(),
        origin.submitter(),
    )
    .await;
}

/// The effects of a committed message (trace ID: its blob's): metrics, then the event log
/// (submitted, received and delivered, journaled, inbound bounces), then the flow rules'
/// effects.
pub(super) async fn committed(
    store: &Store,
    envelope: &Envelope,
    message: &Bytes,
    decision: &Decision,
    sealed: &Sealed,
    origin: &Origin<'_>,
) {
    let mailboxes: Vec<LocalMailbox> = decision.copies.iter().map(|c| c.mailbox.clone()).collect();
    count_received(&mailboxes);
    let log = EventLog::new(
        envelope,
        message,
        events::trace_id(&sealed.blob_key).to_string(),
    );
    match origin {
        Origin::Mx(disposition) => {
            count_incoming_bounces(store, &decision.results).await;
            log.received(
                store,
                &decision.resolved,
                &mailboxes,
                &sealed.copies,
                Some(*disposition),
            )
            .await;
            log.journaled(store, &sealed.journaled).await;
            log.incoming_bounces(store, &decision.results, *disposition)
                .await;
        }
        Origin::Submission { user, .. } => {
            log.submitted(store, &user.organization_id).await;
            log.received(store, &decision.resolved, &mailboxes, &sealed.copies, None)
                .await;
            log.journaled(store, &sealed.journaled).await;
        }
    }
    flow_effects(
        &decision.flow,
        store,
        &envelope.mail_from,
        message,
        &log.trace_id,
        origin.queue_lifetime(),
        origin.submitter(),
    )
    .await;
}

/// The future of [`flow_effects`].
type Finishing<'f> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'f>>;

/// The flow rules' effects, after the delivery is committed (or nothing was stored): tells the asynchronous hooks
/// ([`held::hold`]), sends the bounces of the `RuleBounced` recipients to
/// `envelope_from` (one DSN per organization; never for a null reverse-path) and logs
/// `RULE_APPLIED` per rule and action (workmail.md §4.1) under `trace_id`. Failures are
/// logged: the message is already accepted.
///
/// Boxed: a local sender's bounce is delivered inbound, which finishes its own rules in
/// turn (a bounce has the null reverse-path, so it never bounces again).
fn flow_effects<'f>(
    flow: &'f FlowEffects,
    store: &'f Store,
    envelope_from: &'f str,
    message: &'f Bytes,
    trace_id: &'f str,
    queue_lifetime: Duration,
    submitter: Option<&'f MailUser>,
) -> Finishing<'f> {
    Box::pin(async move {
        for call in &flow.fired {
            let envelope = Envelope {
                mail_from: envelope_from.to_string(),
                recipients: call.recipients.clone(),
            };
            if let Err(e) = held::hold(
                store,
                &call.organization_id,
                flow.direction,
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
        for (organization, _, _) in &flow.bounced {
            if !organizations.contains(&organization.as_str()) {
                organizations.push(organization);
            }
        }
        for organization in organizations {
            let failures: Vec<FailedRecipient> = flow
                .bounced
                .iter()
                .filter(|(o, _, _)| o == organization)
                .map(|(_, recipient, text)| FailedRecipient {
                    recipient: recipient.clone(),
                    status: "5.7.1".to_string(),
                    diagnostic: text.clone().unwrap_or_else(|| bounce_text(flow.direction)),
                    remote_mta: None,
                })
                .collect();
            // The reporting host: the domain of the organization's side of the message.
            let reporting = match flow.direction {
                FlowDirection::Inbound => domain_of(&failures[0].recipient).to_ascii_lowercase(),
                FlowDirection::Outbound => domain_of(envelope_from).to_ascii_lowercase(),
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
        log_rules(flow, store, trace_id).await;
    })
}

fn bounce_text(direction: FlowDirection) -> String {
    match direction {
        FlowDirection::Inbound => {
            "Message rejected by the recipient organization's email flow rules".to_string()
        }
        FlowDirection::Outbound => {
            "Message blocked by your organization's administrator (email flow rule)".to_string()
        }
    }
}

/// `RULE_APPLIED` per (organization, rule): its actions with their recipients.
async fn log_rules(flow: &FlowEffects, store: &Store, trace_id: &str) {
    let mut done: Vec<(&str, &str)> = Vec::new();
    for entry in &flow.applied {
        let key = (entry.organization_id.as_str(), entry.rule_name.as_str());
        if done.contains(&key) {
            continue;
        }
        done.push(key);
        let mut actions: Vec<RuleAction> = Vec::new();
        for same in flow.applied.iter().filter(|a| {
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
            rule_type: flow.direction.rule_type().to_string(),
            rule_actions: actions,
        };
        events::emit(store, &entry.organization_id, trace_id, event).await;
    }
}

/// The email event log of one message (workmail.md §4.1): its envelope, header facts and
/// trace ID (the blob's UUID; a fresh one when nothing was stored).
struct EventLog<'a> {
    envelope: &'a Envelope,
    headers: MessageHeaders,
    trace_id: String,
}

impl<'a> EventLog<'a> {
    fn new(envelope: &'a Envelope, message: &[u8], trace_id: String) -> Self {
        EventLog {
            envelope,
            headers: MessageHeaders::parse(message),
            trace_id,
        }
    }

    async fn emit(&self, store: &Store, organization_id: &str, event: EmailEvent) {
        events::emit(store, organization_id, &self.trace_id, event).await;
    }

    /// `OUTGOING_EMAIL_SUBMITTED` for the sender's organization.
    async fn submitted(&self, store: &Store, organization_id: &str) {
        let event = EmailEvent::OutgoingEmailSubmitted {
            recipients: self.envelope.recipients.clone(),
            sender: self.envelope.mail_from.clone(),
            from: self.headers.from.clone(),
            subject: self.headers.subject.clone(),
        };
        self.emit(store, organization_id, event).await;
    }

    /// `ORGANIZATION_EMAIL_RECEIVED` once per organization reached (its recipients only) and
    /// `MAILBOX_EMAIL_DELIVERED` per mailbox copy (`copies` in `mailboxes` order first).
    /// `dmarc` is the inbound disposition (verdicts are read from the `Authentication-Results`
    /// field only then: submitted mail has none of Carillon's).
    async fn received(
        &self,
        store: &Store,
        resolved: &[journal::Resolved],
        mailboxes: &[LocalMailbox],
        copies: &[NewMessage],
        dmarc: Option<DmarcDisposition>,
    ) {
        let verdict = |method| dmarc.and_then(|_| self.headers.verdict(method));
        let dmarc_verdict = verdict("dmarc");
        let dmarc_policy = dmarc_verdict.as_deref().filter(|v| *v == "FAIL").map(|_| {
            match dmarc {
                Some(DmarcDisposition::Reject) => "reject",
                Some(DmarcDisposition::Quarantine) => "quarantine",
                _ => "none",
            }
            .to_string()
        });
        for organization in organizations_of(mailboxes, None) {
            // The envelope recipients reaching a mailbox of this organization.
            let reached: Vec<&journal::Resolved> = resolved
                .iter()
                .filter(|r| {
                    r.mailboxes
                        .iter()
                        .flatten()
                        .any(|m| m.organization_id == organization)
                })
                .collect();
            let event = EmailEvent::OrganizationEmailReceived {
                recipients: reached.iter().map(|r| r.address.clone()).collect(),
                sender: self.envelope.mail_from.clone(),
                from: self.headers.from.clone(),
                subject: self.headers.subject.clone(),
                message_id: self.headers.message_id.clone(),
                spf_verdict: verdict("spf"),
                dkim_verdict: verdict("dkim"),
                dmarc_verdict: dmarc_verdict.clone(),
                dmarc_policy: dmarc_policy.clone(),
                message_timestamp: copies.first().map_or(0, |c| c.internal_date),
            };
            self.emit(store, &organization, event).await;
            let quarantined: Vec<String> = reached
                .iter()
                .filter(|r| {
                    r.mailboxes.iter().flatten().any(|m| {
                        copies
                            .iter()
                            .any(|c| c.user_id == m.user_id && c.folder == JUNK_EMAIL)
                    })
                })
                .map(|r| r.address.clone())
                .collect();
            if dmarc == Some(DmarcDisposition::Quarantine) && !quarantined.is_empty() {
                self.dmarc_applied(store, &organization, quarantined, "quarantine")
                    .await;
            }
        }
        for (mailbox, copy) in mailboxes.iter().zip(copies) {
            let Some(recipient) = resolved.iter().find(|r| {
                r.mailboxes
                    .iter()
                    .flatten()
                    .any(|m| m.user_id == mailbox.user_id)
            }) else {
                continue;
            };
            let event = EmailEvent::MailboxEmailDelivered {
                recipient: recipient.address.clone(),
                folder: copy.folder.clone(),
            };
            self.emit(store, &mailbox.organization_id, event).await;
        }
    }

    /// `JOURNALING_INITIATED` per journal record created.
    async fn journaled(&self, store: &Store, initiated: &[(String, String)]) {
        for (organization, address) in initiated {
            let event = EmailEvent::JournalingInitiated {
                journaling_address: address.clone(),
            };
            self.emit(store, organization, event).await;
        }
    }

    /// `DMARC_POLICY_APPLIED` for `recipients` of `organization`.
    async fn dmarc_applied(
        &self,
        store: &Store,
        organization: &str,
        recipients: Vec<String>,
        policy: &str,
    ) {
        let event = EmailEvent::DmarcPolicyApplied {
            from: self.headers.from.clone(),
            recipients,
            policy: policy.to_string(),
        };
        self.emit(store, organization, event).await;
    }

    /// `INCOMING_EMAIL_BOUNCED` per inbound recipient refused at a local domain, and
    /// `DMARC_POLICY_APPLIED` (`reject`) for the recipients DMARC refused, per organization.
    async fn incoming_bounces(
        &self,
        store: &Store,
        results: &[RecipientResult],
        dmarc: DmarcDisposition,
    ) {
        let mut rejected: Vec<(String, Vec<String>)> = Vec::new();
        for result in results {
            let Some((status, reason)) = bounce_reason(result.status) else {
                continue;
            };
            let Ok(Some(organization)) = store
                .mail_domain_owner(&domain_of(&result.recipient).to_ascii_lowercase())
                .await
            else {
                continue;
            };
            if result.status == RecipientStatus::DmarcRejected && dmarc == DmarcDisposition::Reject
            {
                match rejected.iter_mut().find(|(o, _)| *o == organization) {
                    Some((_, recipients)) => recipients.push(result.recipient.clone()),
                    None => rejected.push((organization.clone(), vec![result.recipient.clone()])),
                }
            }
            let event = EmailEvent::IncomingEmailBounced {
                bounced_recipient: BouncedRecipient {
                    email_address: result.recipient.clone(),
                    reason: reason.to_string(),
                    status: status.to_string(),
                },
            };
            self.emit(store, &organization, event).await;
        }
        for (organization, recipients) in rejected {
            self.dmarc_applied(store, &organization, recipients, "reject")
                .await;
        }
    }
}

/// The enhanced status code and reason of an inbound recipient refused at a local domain;
/// `None` for recipients not bounced.
fn bounce_reason(status: RecipientStatus) -> Option<(&'static str, &'static str)> {
    match status {
        RecipientStatus::NoSuchAddress => Some(("5.1.1", "no such recipient")),
        RecipientStatus::OverQuota => Some(("5.2.2", "mailbox full")),
        RecipientStatus::DmarcRejected => {
            Some(("5.7.1", "rejected by the sender domain's DMARC policy"))
        }
        _ => None,
    }
}

/// Records an inbound recipient the MX refused at RCPT time (`NoSuchAddress`, `OverQuota`):
/// the `IncomingEmailBounced` metric and the `INCOMING_EMAIL_BOUNCED` event (its own trace
/// ID: no message was received) of the organization owning the recipient's domain. Other
/// statuses are ignored. Spec: workmail.md §4.1, §4.3.
pub async fn record_refused_recipient(
    store: &Store,
    envelope: &Envelope,
    recipient: &str,
    status: RecipientStatus,
) {
    let results = [RecipientResult {
        recipient: recipient.to_string(),
        status,
    }];
    count_incoming_bounces(store, &results).await;
    EventLog::new(envelope, &[], carillon_core::ids::new_uuid())
        .incoming_bounces(store, &results, DmarcDisposition::Deliver)
        .await;
}

/// Counts a committed delivery: `OrganizationEmailReceived` once per organization whose
/// mailboxes got the message, `MailboxEmailDelivered` once per mailbox. Spec: workmail.md §4.3.
fn count_received(mailboxes: &[LocalMailbox]) {
    for organization in organizations_of(mailboxes, None) {
        metrics::count(metrics::ORGANIZATION_EMAIL_RECEIVED, &organization, 1);
    }
    for mailbox in mailboxes {
        metrics::count(
            metrics::MAILBOX_EMAIL_DELIVERED,
            &mailbox.organization_id,
            1,
        );
    }
}

/// Counts `IncomingEmailBounced` once per inbound recipient refused at a local domain
/// (unknown address, full mailboxes, DMARC reject), under the organization owning the
/// recipient's domain. Foreign domains (relay denied) belong to no organization. A failed
/// owner lookup only loses the count. Spec: workmail.md §4.3.
async fn count_incoming_bounces(store: &Store, results: &[RecipientResult]) {
    for result in results {
        if !matches!(
            result.status,
            RecipientStatus::NoSuchAddress
                | RecipientStatus::OverQuota
                | RecipientStatus::DmarcRejected
        ) {
            continue;
        }
        match store
            .mail_domain_owner(&domain_of(&result.recipient).to_ascii_lowercase())
            .await
        {
            Ok(Some(organization)) => {
                metrics::count(metrics::INCOMING_EMAIL_BOUNCED, &organization, 1)
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "IncomingEmailBounced: domain owner lookup failed")
            }
        }
    }
}

//END
