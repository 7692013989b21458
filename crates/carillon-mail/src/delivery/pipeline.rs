//! The delivery pipeline, stage by stage: each function below is the whole trip of one
//! message, in order. A stage takes the previous stage's output and hands its own forward;
//! none calls back into an earlier one.
//!
//! 1. [`envelope::check_limits`] — size and recipient limits, before any store access;
//! 2. [`recipients::resolve`] — each recipient to the local mailboxes it reaches;
//! 3. [`verdict::apply`] — the sender authentication (DMARC) verdict (inbound only);
//! 4. [`decide`] — the per-recipient flow decision and the quota plan; recipients a
//!    synchronous hook decides for are held for it (durable before anything is committed);
//! 5. [`seal::store`] — the blob sealed and stored, the copies, queue rows and journal
//!    records built;
//! 6. [`commit::commit`] — all of them in one transaction (callers answer `250` after it);
//! 7. [`effects`] — after the commit: metrics, the event log, hooks told, rule bounces.
//!
//! A hook's answer re-enters at the decision stage ([`hook_answered`]): the answer is the
//! decision of its recipients, so no rule is evaluated and nothing is held again; the
//! recipients are resolved again since the hook may add some and mailboxes change while a
//! message waits.

use bytes::Bytes;
use carillon_store::Store;

use super::commit;
use super::decide::{self, Decider};
use super::effects::{self, Origin};
use super::envelope::{self, DeliveryError, DeliveryOutcome, Envelope};
use super::recipients;
use super::seal::{self, Submitter};
use super::verdict;
use crate::flow::rules::{FlowAction, FlowDirection};
use crate::login::MailUser;
use crate::sender_authentication::DmarcDisposition;

/// An inbound message (MX role) delivered under the DMARC `disposition`, each recipient
/// decided by `decider`.
///
/// Errors: the limits; `Store` (nothing is visible then).
pub(super) async fn inbound(
    store: &Store,
    envelope: &Envelope,
    message: Bytes,
    disposition: DmarcDisposition,
    decider: Decider<'_>,
) -> Result<DeliveryOutcome, DeliveryError> {
    envelope::check_limits(envelope, &message).await?;
    let recipients = recipients::resolve(store, &envelope.recipients).await?;
    let (verdict, recipients) = verdict::apply(store, Some(disposition), recipients).await?;
    let mut decision =
        decide::inbound(store, decider, &verdict, recipients, envelope, &message).await?;
    let origin = Origin::Mx(disposition);
    if decision.copies.is_empty() {
        effects::nothing_stored(store, envelope, &message, &decision, &origin).await;
        return Ok(decision.into_outcome(None));
    }
    let sealed = seal::store(store, envelope, &message, &mut decision, None).await?;
    commit::commit(store, &sealed).await?;
    effects::committed(store, envelope, &message, &decision, &sealed, &origin).await;
    Ok(decision.into_outcome(Some(sealed.blob_key)))
}

/// A message `user` submitted (sender already checked), each recipient decided by
/// `decider`; `submitter` says how long queue rows live and whether the sender's
/// `Sent Items` copy is filed (also when rules took every recipient).
///
/// Errors: the limits; `Store` (nothing is visible then).
pub(super) async fn submission(
    store: &Store,
    envelope: &Envelope,
    message: Bytes,
    submitter: Submitter<'_>,
    decider: Decider<'_>,
) -> Result<DeliveryOutcome, DeliveryError> {
    let user = submitter.user;
    envelope::check_limits(envelope, &message).await?;
    let recipients = recipients::resolve(store, &envelope.recipients).await?;
    let mut decision =
        decide::outbound(store, decider, user, recipients, envelope, &message).await?;
    let origin = Origin::Submission {
        user,
        queue_lifetime: submitter.queue_lifetime,
    };
    let taken_by_rules = submitter.sent_copy && decision.taken_by_rules();
    if decision.copies.is_empty() && decision.queued.is_empty() && !taken_by_rules {
        effects::nothing_stored(store, envelope, &message, &decision, &origin).await;
        return Ok(decision.into_outcome(None));
    }
    let sealed = seal::store(store, envelope, &message, &mut decision, Some(&submitter)).await?;
    commit::commit(store, &sealed).await?;
    effects::committed(store, envelope, &message, &decision, &sealed, &origin).await;
    Ok(decision.into_outcome(Some(sealed.blob_key)))
}

/// A message a synchronous hook answered for, delivered with the answer's `actions` (rule
/// `rule_name`): outbound mail of `submitter` as a submission without the `Sent Items` copy
/// (filed when it was submitted), anything else as inbound mail under the DMARC disposition
/// recorded in it ([`verdict::recorded_dmarc`]). Queue rows and bounces live 5 days.
///
/// Errors: as [`inbound`] and [`submission`].
pub(super) async fn hook_answered(
    store: &Store,
    direction: FlowDirection,
    envelope: &Envelope,
    message: Bytes,
    rule_name: &str,
    actions: &[(String, FlowAction)],
    submitter: Option<&MailUser>,
) -> Result<DeliveryOutcome, DeliveryError> {
    let decider = Decider::answered(direction, rule_name, actions);
    match (direction, submitter) {
        (FlowDirection::Outbound, Some(user)) => {
            let submitter = Submitter {
                user,
                queue_lifetime: effects::QUEUE_LIFETIME,
                sent_copy: false,
            };
            submission(store, envelope, message, submitter, decider).await
        }
        _ => {
            let disposition = verdict::recorded_dmarc(&message);
            inbound(store, envelope, message, disposition, decider).await
        }
    }
}
