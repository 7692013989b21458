//! The delivery pipeline: recipients resolved, message stored durably, copies appended.
//!
//! The operation layer under the SMTP edge (no protocol here). A message is stored once as an
//! immutable blob (`messages/<uuid>`, durable put), then every mailbox copy is appended in one
//! transaction; callers acknowledge (SMTP `250`) only after these functions return `Ok`, so an
//! acknowledged message is on disk and an unacknowledged one has no visible copy.
//!
//! Messages of organizations with journaling configured also produce their journal record
//! ([`journal`], workmail.md §2.24), committed in the same transaction as the copies.
//!
//! Limits: workmail.md §6 — 40 MB MIME / 29 MB unencoded per message, 500 recipients, the
//! mailbox quota (§1.7).

mod dsn;
mod flow;
pub mod journal;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use carillon_store::{LocalMailbox, NewMessage, NewOutbound, Resolution, Store, StoreError};

use crate::auth::MailUser;
use crate::authentication::{DmarcDisposition, DmarcFilter};
use crate::crypto;
use crate::events::{self, BouncedRecipient, EmailEvent, MessageHeaders};
use crate::flow::rules::{FlowAction, FlowDirection};
use crate::metrics;

pub use dsn::{build_dsn, send_bounce, Bounce, BounceOutcome, FailedRecipient};

/// Largest message accepted, as transmitted (MIME encoded): 40 MB (MiB). Spec: workmail.md §6.
pub const MAX_MESSAGE_MIME_BYTES: usize = 40 * 1024 * 1024;

/// Largest message content accepted once transfer encodings are undone: 29 MB (MiB).
/// Spec: workmail.md §6.
pub const MAX_MESSAGE_UNENCODED_BYTES: usize = 29 * 1024 * 1024;

/// Most recipients of one message. Spec: workmail.md §6.
pub const MAX_RECIPIENTS: usize = 500;

/// Folder new mail is delivered to.
pub const INBOX: &str = "INBOX";

/// Folder receiving inbound mail quarantined by DMARC (workmail.md §2.25).
pub const JUNK_EMAIL: &str = "Junk E-mail";

/// Folder holding the copy of what a user sent.
pub const SENT_ITEMS: &str = "Sent Items";

/// The SMTP envelope of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The MAIL FROM reverse-path without angle brackets; empty for the null path `<>`
    /// (delivery status notifications).
    pub mail_from: String,
    /// The RCPT TO forward-paths without angle brackets, as accepted.
    pub recipients: Vec<String>,
}

/// What became of one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientStatus {
    /// A copy was appended to the INBOX of every mailbox the address reaches that had room.
    Delivered,
    /// Queued for delivery to a foreign domain (submission only).
    Queued,
    /// Every mailbox the address reaches is over its quota (SMTP 552 5.2.2).
    OverQuota,
    /// A local address reaching nothing deliverable (SMTP 550 5.1.1).
    NoSuchAddress,
    /// A foreign domain in inbound mail: never relayed (SMTP 554 5.7.1).
    RelayDenied,
    /// Refused because the message failed DMARC under the sender domain's `p=reject` and the
    /// recipient's organization enforces DMARC (SMTP 550 5.7.1). Spec: workmail.md §2.25.
    DmarcRejected,
    /// Accepted, but an email flow rule drops it: not delivered (sent), no NDR.
    /// Spec: workmail.md §2.9.
    Dropped,
    /// Accepted, but an email flow rule bounces it: not delivered (sent); the sender gets a
    /// bounce. Spec: workmail.md §2.9.
    RuleBounced,
    /// Accepted and held for an email flow rule's synchronous hook, whose worker delivers it
    /// once the hook answered (or its fallback applied). Spec: workmail.md §2.10.
    HeldForHook,
}

/// Per-recipient result of a delivery, in envelope order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    /// The recipient address as given in the envelope.
    pub recipient: String,
    /// What became of it.
    pub status: RecipientStatus,
}

/// Result of [`deliver_inbound`] or [`submit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// Blob key of the stored message; `None` when no recipient took it (nothing stored).
    pub blob_key: Option<String>,
    /// One entry per envelope recipient.
    pub recipients: Vec<RecipientResult>,
}

impl DeliveryOutcome {
    /// Whether the message is accepted: at least one recipient was delivered or queued, or
    /// an email flow rule took it (dropped, bounced or held for a hook).
    pub fn accepted(&self) -> bool {
        self.blob_key.is_some()
            || self.recipients.iter().any(|r| {
                matches!(
                    r.status,
                    RecipientStatus::Dropped
                        | RecipientStatus::RuleBounced
                        | RecipientStatus::HeldForHook
                )
            })
    }

    /// The recipients with the given status.
    pub fn with_status(&self, status: RecipientStatus) -> impl Iterator<Item = &str> {
        self.recipients
            .iter()
            .filter(move |r| r.status == status)
            .map(|r| r.recipient.as_str())
    }
}

/// Why a message was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Over 40 MB as transmitted or 29 MB unencoded (SMTP 552 5.3.4).
    #[error("message exceeds the maximum size (40 MB MIME, 29 MB unencoded)")]
    MessageTooLarge,
    /// Over 500 recipients (SMTP 452 4.5.3).
    #[error("too many recipients (at most {MAX_RECIPIENTS})")]
    TooManyRecipients,
    /// The envelope sender is not an address of the authenticated user (SMTP 553 5.7.1).
    #[error("sender address {0:?} is not owned by the authenticated user")]
    SenderNotOwned(String),
    /// The store failed: a temporary failure (SMTP 451 4.3.0); nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a recipient looks at RCPT time (before the message is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientCheck {
    /// Local, reaching these mailboxes (at least one with room for `declared_size`).
    Local(Vec<LocalMailbox>),
    /// A domain that is not local.
    Foreign,
    /// A local domain, but the address reaches no deliverable mailbox.
    NoSuchAddress,
    /// Every mailbox the address reaches is over quota.
    OverQuota,
}

/// Checks a recipient at RCPT time. `declared_size` is the MAIL FROM `SIZE=` value in bytes
/// (0 when not given): a mailbox has room when its size plus that stays within its quota.
///
/// Errors: store failures.
pub async fn check_recipient(
    store: &Store,
    address: &str,
    declared_size: usize,
) -> Result<RecipientCheck, StoreError> {
    let mailboxes = match store.resolve_recipient(address).await? {
        Resolution::NoSuchDomain => return Ok(RecipientCheck::Foreign),
        Resolution::NoSuchAddress => return Ok(RecipientCheck::NoSuchAddress),
        Resolution::Mailboxes(m) if m.is_empty() => return Ok(RecipientCheck::NoSuchAddress),
        Resolution::Mailboxes(m) => m,
    };
    let mut sizes = MailboxSizes::default();
    for mailbox in &mailboxes {
        if sizes.has_room(store, mailbox, declared_size).await? {
            return Ok(RecipientCheck::Local(mailboxes));
        }
    }
    Ok(RecipientCheck::OverQuota)
}

/// Checks the size limits of a message as transmitted. Spec: workmail.md §6.
///
/// Errors: `MessageTooLarge` over 40 MB, or when the decoded content of its parts adds up to
/// over 29 MB (only parsed when the raw size is over 29 MB: decoding never grows content).
pub fn check_message_size(message: &[u8]) -> Result<(), DeliveryError> {
    if message.len() > MAX_MESSAGE_MIME_BYTES {
        return Err(DeliveryError::MessageTooLarge);
    }
    if message.len() > MAX_MESSAGE_UNENCODED_BYTES {
        let unencoded: usize = mail_parser::MessageParser::default()
            .parse(message)
            .map(|parsed| parsed.parts.iter().map(|p| p.body.len()).sum())
            .unwrap_or(message.len());
        if unencoded > MAX_MESSAGE_UNENCODED_BYTES {
            return Err(DeliveryError::MessageTooLarge);
        }
    }
    Ok(())
}

async fn check_limits(envelope: &Envelope, message: &Bytes) -> Result<(), DeliveryError> {
    if envelope.recipients.len() > MAX_RECIPIENTS {
        return Err(DeliveryError::TooManyRecipients);
    }
    if message.len() <= MAX_MESSAGE_UNENCODED_BYTES {
        return check_message_size(message);
    }
    // Parsing tens of megabytes is CPU work: keep it off the async workers.
    let message = message.clone();
    tokio::task::spawn_blocking(move || check_message_size(&message))
        .await
        .map_err(|e| DeliveryError::Store(StoreError::Io(std::io::Error::other(e))))?
}

/// Delivers an inbound message (MX role) to the local mailboxes its recipients reach.
///
/// `message` is the raw message with the trace headers (`Return-Path`, `Received`) already
/// prepended. The blob is stored once, then one INBOX copy per distinct mailbox with room is
/// appended in one transaction. Recipients of foreign domains get `RelayDenied`, unknown ones
/// `NoSuchAddress`, full mailboxes `OverQuota`; when no recipient takes the message nothing is
/// stored and `blob_key` is `None`.
///
/// Errors: the limits of [`check_message_size`] and [`MAX_RECIPIENTS`]; `Store` (nothing is
/// visible then: a blob already written is removed again).
pub async fn deliver_inbound(
    store: &Store,
    envelope: &Envelope,
    message: Bytes,
) -> Result<DeliveryOutcome, DeliveryError> {
    deliver_inbound_authenticated(store, envelope, message, DmarcDisposition::Deliver).await
}

/// [`deliver_inbound`] applying the DMARC disposition of the sender authentication
/// ([`crate::authentication`]) for recipients whose organization enforces DMARC (on unless
/// turned off, workmail.md §2.25): `Reject` leaves their mailboxes out (a recipient reaching
/// only those is `DmarcRejected`), `Quarantine` files their copy in `Junk E-mail` instead of
/// the INBOX. Organizations that do not enforce get the message as usual.
///
/// Errors: as [`deliver_inbound`].
pub async fn deliver_inbound_authenticated(
    store: &Store,
    envelope: &Envelope,
    message: Bytes,
    dmarc: DmarcDisposition,
) -> Result<DeliveryOutcome, DeliveryError> {
    let flows =
        flow::FlowApplier::from_rules(FlowDirection::Inbound, &message, &envelope.mail_from);
    inbound(store, envelope, message, dmarc, flows).await
}

/// Applies the inbound flow rules of the recipients' organizations, or actions a
/// synchronous hook decided (`actions`, with the hook's `rule_name`), while delivering as
/// [`deliver_inbound`] does: a dropped recipient gets no copy and no NDR, a bounced one no
/// copy and a bounce to the envelope sender, Deliver to junk files the copy in
/// `Junk E-mail`, Never deliver to junk in the INBOX even under a DMARC quarantine, and
/// `Default` leaves the DMARC disposition to decide. Outbound: as [`submit`], with
/// `submitter` the sending user — except the `Sent Items` copy, made when the message was
/// submitted — and `Route to SMTP gateway` queuing the recipient for that gateway; queue
/// rows and bounces live 5 days.
/// Inbound messages keep the DMARC quarantine recorded in their topmost
/// `Authentication-Results` field (a reject never reached a hook).
/// Spec: workmail.md §2.9, §2.10.
///
/// Errors: as [`deliver_inbound`] and [`submit`]; an outbound delivery without
/// `submitter` is delivered as inbound mail of the recipients' organizations.
pub async fn deliver_with_actions(
    store: &Store,
    direction: FlowDirection,
    envelope: &Envelope,
    message: Bytes,
    rule_name: &str,
    actions: &[(String, FlowAction)],
    submitter: Option<&MailUser>,
) -> Result<DeliveryOutcome, DeliveryError> {
    let flows = flow::FlowApplier::from_actions(direction, rule_name, actions);
    let queue_lifetime = flow::QUEUE_LIFETIME;
    match (direction, submitter) {
        (FlowDirection::Outbound, Some(user)) => {
            submission(store, user, envelope, message, queue_lifetime, flows, false).await
        }
        _ => {
            let dmarc = flow::recorded_dmarc(&message);
            inbound(store, envelope, message, dmarc, flows).await
        }
    }
}

async fn inbound(
    store: &Store,
    envelope: &Envelope,
    message: Bytes,
    dmarc: DmarcDisposition,
    mut flows: flow::FlowApplier<'_>,
) -> Result<DeliveryOutcome, DeliveryError> {
    check_limits(envelope, &message).await?;
    let disposition = dmarc;
    let mut dmarc = DmarcFilter::new(disposition);
    let mut plan = Plan::default();
    let mut results = Vec::with_capacity(envelope.recipients.len());
    let mut resolved = Vec::with_capacity(envelope.recipients.len());
    for recipient in &envelope.recipients {
        let mut resolution = store.resolve_recipient(recipient).await?;
        if dmarc.apply(store, &mut resolution).await? {
            resolved.push(journal::Resolved {
                address: recipient.clone(),
                mailboxes: None,
            });
            results.push(RecipientResult {
                recipient: recipient.clone(),
                status: RecipientStatus::DmarcRejected,
            });
            continue;
        }
        if let Resolution::Mailboxes(m) = &resolution {
            if let Some(status) = flows.inbound(store, recipient, m).await? {
                resolved.push(journal::Resolved {
                    address: recipient.clone(),
                    mailboxes: None,
                });
                results.push(RecipientResult {
                    recipient: recipient.clone(),
                    status,
                });
                continue;
            }
        }
        let status = match &resolution {
            Resolution::NoSuchDomain => RecipientStatus::RelayDenied,
            Resolution::NoSuchAddress => RecipientStatus::NoSuchAddress,
            Resolution::Mailboxes(m) if m.is_empty() => RecipientStatus::NoSuchAddress,
            Resolution::Mailboxes(m) => plan.add_mailboxes(store, m.clone(), message.len()).await?,
        };
        resolved.push(journal::Resolved {
            address: recipient.clone(),
            mailboxes: match resolution {
                Resolution::Mailboxes(m) => Some(m),
                _ => None,
            },
        });
        results.push(RecipientResult {
            recipient: recipient.clone(),
            status,
        });
    }
    flows
        .defer(store, &envelope.mail_from, &message, None)
        .await?;
    if plan.mailboxes.is_empty() {
        count_incoming_bounces(store, &results).await;
        let log = EventLog::new(envelope, &message, carillon_core::ids::new_uuid());
        log.incoming_bounces(store, &results, disposition).await;
        flows
            .finish(
                store,
                &envelope.mail_from,
                &message,
                &log.trace_id,
                flow::QUEUE_LIFETIME,
                None,
            )
            .await;
        return Ok(DeliveryOutcome {
            blob_key: None,
            recipients: results,
        });
    }
    let sealed = store_blob(store, &message).await?;
    let blob_key = sealed.key.clone();
    let now = carillon_core::time::now_millis();
    let mut copies: Vec<NewMessage> = plan
        .mailboxes
        .iter()
        .map(|m| {
            let mut copy = inbox_copy(&m.user_id, &blob_key, message.len(), now);
            copy.folder = flows
                .folder(&m.user_id, dmarc.folder(&m.user_id))
                .to_string();
            copy
        })
        .collect();
    let organizations = organizations_of(&plan.mailboxes, None);
    let journals = journal_or_discard(
        store,
        &blob_key,
        journal::prepare(
            store,
            envelope,
            &message,
            &resolved,
            &organizations,
            None,
            &mut plan.sizes,
        ),
    )
    .await?;
    copies.extend(journals.copies);
    let mut blobs = journals.blobs;
    blobs.push(sealed);
    commit(store, &blobs, &copies, &journals.outbound).await?;
    count_received(&plan.mailboxes);
    count_incoming_bounces(store, &results).await;
    let log = EventLog::new(envelope, &message, events::trace_id(&blob_key).to_string());
    log.received(
        store,
        &resolved,
        &plan.mailboxes,
        &copies,
        Some(disposition),
    )
    .await;
    log.journaled(store, &journals.initiated).await;
    log.incoming_bounces(store, &results, disposition).await;
    flows
        .finish(
            store,
            &envelope.mail_from,
            &message,
            &log.trace_id,
            flow::QUEUE_LIFETIME,
            None,
        )
        .await;
    Ok(DeliveryOutcome {
        blob_key: Some(blob_key),
        recipients: results,
    })
}

/// Submits a message from an authenticated user (submission role).
///
/// The envelope sender must be one of `user`'s addresses (primary or alias). Local recipients
/// are delivered as by [`deliver_inbound`]; foreign ones are queued durably for the outbound
/// queue (lifetime `queue_lifetime`); a copy flagged `\Seen` goes to the sender's
/// `Sent Items`. All of it is durable when this returns `Ok`. Nothing is stored when no
/// recipient takes the message.
///
/// Errors: `SenderNotOwned`, the size and recipient limits, `Store`.
pub async fn submit(
    store: &Store,
    user: &MailUser,
    envelope: &Envelope,
    message: Bytes,
    queue_lifetime: Duration,
) -> Result<DeliveryOutcome, DeliveryError> {
    if !sender_is_owned(user, &envelope.mail_from) {
        return Err(DeliveryError::SenderNotOwned(envelope.mail_from.clone()));
    }
    let flows =
        flow::FlowApplier::from_rules(FlowDirection::Outbound, &message, &envelope.mail_from);
    submission(store, user, envelope, message, queue_lifetime, flows, true).await
}

/// [`submit`] after the sender check, applying the sender organization's outbound flow
/// rules (or a hook's actions) per recipient; `sent_copy`: whether to file the sender's
/// `Sent Items` copy (also when rules dropped or bounced every recipient).
async fn submission(
    store: &Store,
    user: &MailUser,
    envelope: &Envelope,
    message: Bytes,
    queue_lifetime: Duration,
    mut flows: flow::FlowApplier<'_>,
    sent_copy: bool,
) -> Result<DeliveryOutcome, DeliveryError> {
    check_limits(envelope, &message).await?;
    let mut plan = Plan::default();
    // Recipients to queue, with the SMTP gateway a rule routes them through.
    let mut foreign: Vec<(String, Option<String>)> = Vec::new();
    let mut results = Vec::with_capacity(envelope.recipients.len());
    let mut resolved = Vec::with_capacity(envelope.recipients.len());
    for recipient in &envelope.recipients {
        let held = match flows
            .outbound(store, &user.organization_id, recipient)
            .await?
        {
            flow::OutboundRoute::Normal => None,
            flow::OutboundRoute::Gateway(gateway) => {
                foreign.push((recipient.clone(), Some(gateway)));
                Some(RecipientStatus::Queued)
            }
            flow::OutboundRoute::Stopped(status) => Some(status),
        };
        if let Some(status) = held {
            resolved.push(journal::Resolved {
                address: recipient.clone(),
                mailboxes: None,
            });
            results.push(RecipientResult {
                recipient: recipient.clone(),
                status,
            });
            continue;
        }
        let resolution = store.resolve_recipient(recipient).await?;
        let status = match &resolution {
            Resolution::NoSuchDomain => {
                foreign.push((recipient.clone(), None));
                RecipientStatus::Queued
            }
            Resolution::NoSuchAddress => RecipientStatus::NoSuchAddress,
            Resolution::Mailboxes(m) if m.is_empty() => RecipientStatus::NoSuchAddress,
            Resolution::Mailboxes(m) => plan.add_mailboxes(store, m.clone(), message.len()).await?,
        };
        resolved.push(journal::Resolved {
            address: recipient.clone(),
            mailboxes: match resolution {
                Resolution::Mailboxes(m) => Some(m),
                _ => None,
            },
        });
        results.push(RecipientResult {
            recipient: recipient.clone(),
            status,
        });
    }
    flows
        .defer(store, &envelope.mail_from, &message, Some(user))
        .await?;
    let taken_by_rules = results.iter().any(|r| {
        matches!(
            r.status,
            RecipientStatus::Dropped | RecipientStatus::RuleBounced | RecipientStatus::HeldForHook
        )
    });
    if plan.mailboxes.is_empty() && foreign.is_empty() && !(sent_copy && taken_by_rules) {
        let trace_id = carillon_core::ids::new_uuid();
        flows
            .finish(
                store,
                &envelope.mail_from,
                &message,
                &trace_id,
                queue_lifetime,
                Some(user),
            )
            .await;
        return Ok(DeliveryOutcome {
            blob_key: None,
            recipients: results,
        });
    }
    let sealed = store_blob(store, &message).await?;
    let blob_key = sealed.key.clone();
    let now = carillon_core::time::now_millis();
    let lifetime_ms = i64::try_from(queue_lifetime.as_millis()).unwrap_or(i64::MAX);
    let mut rows: Vec<NewOutbound> = foreign
        .into_iter()
        .map(|(recipient, gateway_id)| NewOutbound {
            organization_id: user.organization_id.clone(),
            envelope_from: envelope.mail_from.clone(),
            recipient,
            blob_key: blob_key.clone(),
            next_attempt_at: now,
            expires_at: now.saturating_add(lifetime_ms),
            gateway_id,
            message_key: None,
        })
        .collect();
    let mut copies: Vec<NewMessage> = plan
        .mailboxes
        .iter()
        .map(|m| inbox_copy(&m.user_id, &blob_key, message.len(), now))
        .collect();
    copies.extend(sent_copy.then(|| NewMessage {
        user_id: user.user_id.clone(),
        folder: SENT_ITEMS.to_string(),
        blob_key: blob_key.clone(),
        size_bytes: message.len() as i64,
        internal_date: now,
        flags: vec!["\\Seen".to_string()],
        message_key: None,
    }));
    let organizations = organizations_of(&plan.mailboxes, Some(&user.organization_id));
    let journals = journal_or_discard(
        store,
        &blob_key,
        journal::prepare(
            store,
            envelope,
            &message,
            &resolved,
            &organizations,
            Some(&user.organization_id),
            &mut plan.sizes,
        ),
    )
    .await?;
    copies.extend(journals.copies);
    rows.extend(journals.outbound);
    let mut blobs = journals.blobs;
    blobs.push(sealed);
    // Queue rows, mailbox copies and journal records in one transaction: all or nothing.
    commit(store, &blobs, &copies, &rows).await?;
    count_received(&plan.mailboxes);
    let log = EventLog::new(envelope, &message, events::trace_id(&blob_key).to_string());
    log.submitted(store, &user.organization_id).await;
    log.received(store, &resolved, &plan.mailboxes, &copies, None)
        .await;
    log.journaled(store, &journals.initiated).await;
    flows
        .finish(
            store,
            &envelope.mail_from,
            &message,
            &log.trace_id,
            queue_lifetime,
            Some(user),
        )
        .await;
    Ok(DeliveryOutcome {
        blob_key: Some(blob_key),
        recipients: results,
    })
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
            let Ok(Some(organization)) =
                store.mail_domain_owner(&domain_of(&result.recipient)).await
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

/// The lower-case domain of `address` (empty without `@`).
fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .to_ascii_lowercase()
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
        match store.mail_domain_owner(&domain_of(&result.recipient)).await {
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

/// The distinct organizations a delivery concerns: the sender's first (submission), then
/// those of the mailboxes reached, in order.
fn organizations_of(mailboxes: &[LocalMailbox], sender: Option<&str>) -> Vec<String> {
    let mut organizations: Vec<String> = sender.map(str::to_string).into_iter().collect();
    for mailbox in mailboxes {
        if !organizations.contains(&mailbox.organization_id) {
            organizations.push(mailbox.organization_id.clone());
        }
    }
    organizations
}

/// Awaits the journal preparation; on failure the message blob is removed again (nothing
/// references it yet).
async fn journal_or_discard(
    store: &Store,
    blob_key: &str,
    prepare: impl std::future::Future<Output = Result<journal::JournalWork, StoreError>>,
) -> Result<journal::JournalWork, StoreError> {
    match prepare.await {
        Ok(work) => Ok(work),
        Err(e) => {
            discard_blob(store, blob_key).await;
            Err(e)
        }
    }
}

/// Whether `address` (any case) is the primary address or an alias of `user`.
pub fn sender_is_owned(user: &MailUser, address: &str) -> bool {
    let address = address.to_lowercase();
    !address.is_empty() && (user.email == address || user.addresses.contains(&address))
}

/// The distinct mailboxes a delivery goes to, and the sizes seen so far.
#[derive(Default)]
struct Plan {
    mailboxes: Vec<LocalMailbox>,
    sizes: MailboxSizes,
}

impl Plan {
    /// Adds the mailboxes with room for `size` more bytes; the recipient is delivered when
    /// at least one of them has room.
    async fn add_mailboxes(
        &mut self,
        store: &Store,
        mailboxes: Vec<LocalMailbox>,
        size: usize,
    ) -> Result<RecipientStatus, StoreError> {
        let mut any = false;
        for mailbox in mailboxes {
            if self.mailboxes.iter().any(|m| m.user_id == mailbox.user_id) {
                any = true;
            } else if self.sizes.has_room(store, &mailbox, size).await? {
                any = true;
                self.mailboxes.push(mailbox);
            }
        }
        Ok(if any {
            RecipientStatus::Delivered
        } else {
            RecipientStatus::OverQuota
        })
    }
}

/// Mailbox sizes read once per delivery.
#[derive(Default)]
pub(crate) struct MailboxSizes(HashMap<String, i64>);

impl MailboxSizes {
    /// Whether `mailbox` has room for `size` more bytes (sizes read once, then tracked).
    pub(crate) async fn has_room(
        &mut self,
        store: &Store,
        mailbox: &LocalMailbox,
        size: usize,
    ) -> Result<bool, StoreError> {
        let current = match self.0.get(&mailbox.user_id) {
            Some(size) => *size,
            None => {
                let size = store.mailbox_size(&mailbox.user_id).await?.unwrap_or(0);
                self.0.insert(mailbox.user_id.clone(), size);
                size
            }
        };
        Ok(current.saturating_add(size as i64) <= mailbox.quota_bytes)
    }

    /// Counts `size` more bytes in `user_id`'s mailbox (a copy planned for it).
    pub(crate) fn reserve(&mut self, user_id: &str, size: usize) {
        if let Some(current) = self.0.get_mut(user_id) {
            *current = current.saturating_add(size as i64);
        }
    }
}

fn inbox_copy(user_id: &str, blob_key: &str, size: usize, now: i64) -> NewMessage {
    NewMessage {
        user_id: user_id.to_string(),
        folder: INBOX.to_string(),
        blob_key: blob_key.to_string(),
        size_bytes: size as i64,
        internal_date: now,
        flags: Vec::new(),
        message_key: None,
    }
}

/// Stores the raw message once under a fresh key, sealed under its own message key
/// (encryption at rest, [`crate::crypto`]); durable when it returns.
async fn store_blob(store: &Store, message: &Bytes) -> Result<crypto::SealedBlob, StoreError> {
    crypto::put_sealed(store, message).await
}

/// Commits the copies and queue rows in one transaction, each carrying the message key of
/// its blob (one of `blobs`) wrapped for its mailbox or organization; on failure the blobs,
/// which nothing references then, are removed.
async fn commit(
    store: &Store,
    blobs: &[crypto::SealedBlob],
    copies: &[NewMessage],
    outbound: &[NewOutbound],
) -> Result<(), StoreError> {
    let (mut copies, mut outbound) = (copies.to_vec(), outbound.to_vec());
    let wrapped = crypto::wrap_message_keys(store, blobs, &mut copies, &mut outbound).await;
    if let Err(e) = match wrapped {
        Ok(()) => store.commit_delivery(&copies, &outbound).await,
        Err(e) => Err(e),
    } {
        for blob in blobs {
            discard_blob(store, &blob.key).await;
        }
        return Err(e);
    }
    Ok(())
}

async fn discard_blob(store: &Store, blob_key: &str) {
    if let Err(e) = store.blobs().delete(blob_key).await {
        tracing::warn!(blob_key, error = %e, "could not remove the blob of a failed delivery");
    }
}
