//! The delivery pipeline: recipients resolved, the sender's verdict and the flow rules
//! applied, the message stored durably, copies appended, then the effects.
//!
//! The operation layer under the SMTP edge (no protocol here). A message passes once through
//! named stages, each a module with its input and output types (`pipeline` writes the
//! order down): `envelope` (limits, before any store access) → `recipients` (resolved) →
//! `verdict` (the DMARC disposition, inbound only) → `decide` (per-recipient flow decision
//! and quota plan; recipients held for a synchronous hook handed to it durably) → `seal`
//! (the blob stored once, `messages/<uuid>`, durable put, sealed under its own key; the
//! copies, queue rows and [`journal`] records built) → `commit` (all of them in one
//! transaction) → `effects` (metrics, event log, hooks told, rule bounces). Callers
//! acknowledge (SMTP `250`) only after these functions return `Ok`, so an acknowledged
//! message is on disk and an unacknowledged one has no visible copy; the effects come after.
//!
//! The flow-rule hook worker ([`crate::flow::transit::HookWorker`]) re-enters at the decision
//! stage with the hook's answer ([`deliver_with_actions`]). Dependencies go one way: the
//! stages use `flow::rules` (evaluation) and `flow::held` (holding a message), never the
//! worker. The one way back is a new message: a bounce to a local sender is delivered from
//! the start ([`send_bounce`]).
//!
//! Limits: workmail.md §6 — 40 MB MIME / 29 MB unencoded per message, 500 recipients, the
//! mailbox quota (§1.7).

mod commit;
mod decide;
mod dsn;
mod effects;
mod envelope;
pub mod journal;
mod pipeline;
mod recipients;
mod seal;
mod verdict;

use std::time::Duration;

use bytes::Bytes;
use carillon_store::Store;

use crate::flow::rules::{FlowAction, FlowDirection};
use crate::login::MailUser;
use crate::sender_authentication::DmarcDisposition;
use decide::Decider;
use seal::Submitter;

pub use dsn::{build_dsn, send_bounce, Bounce, BounceOutcome, FailedRecipient};
pub use effects::record_refused_recipient;
pub use envelope::{
    check_message_size, DeliveryError, DeliveryOutcome, Envelope, RecipientResult, RecipientStatus,
    INBOX, JUNK_EMAIL, MAX_MESSAGE_MIME_BYTES, MAX_MESSAGE_UNENCODED_BYTES, MAX_RECIPIENTS,
    SENT_ITEMS,
};
pub use recipients::{check_recipient, RecipientCheck};

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
/// ([`crate::sender_authentication`]) for recipients whose organization enforces DMARC (on unless
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
    let decider = Decider::rules(FlowDirection::Inbound, &message, &envelope.mail_from);
    pipeline::inbound(store, envelope, message, dmarc, decider).await
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
    pipeline::hook_answered(
        store, direction, envelope, message, rule_name, actions, submitter,
    )
    .await
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
    let decider = Decider::rules(FlowDirection::Outbound, &message, &envelope.mail_from);
    let submitter = Submitter {
        user,
        queue_lifetime,
        sent_copy: true,
    };
    pipeline::submission(store, envelope, message, submitter, decider).await
}

/// Whether `address` (any case) is the primary address or an alias of `user`.
pub fn sender_is_owned(user: &MailUser, address: &str) -> bool {
    let address = address.to_lowercase();
    !address.is_empty() && (user.email == address || user.addresses.contains(&address))
}
