//! Stage 4, **seal**: the message stored once as an immutable blob, sealed under its own
//! message key (encryption at rest, [`crate::crypto`]; durable when it returns), and the rows
//! that will reference it built: one copy per planned mailbox, the sender's `Sent Items`
//! copy, a queue row per queued recipient, and the journal records of the organizations
//! that journal the message ([`super::journal`], workmail.md §2.24, their blobs stored here
//! too). Nothing is visible until [`super::commit`].

use std::time::Duration;

use bytes::Bytes;
use carillon_store::{NewMessage, NewOutbound, Store, StoreError};

use super::decide::Decision;
use super::envelope::{inbox_copy, Envelope, SENT_ITEMS};
use super::journal;
use super::recipients::organizations_of;
use crate::crypto::{self, SealedBlob};
use crate::login::MailUser;

/// The submitting side of a message (submission only).
pub(super) struct Submitter<'a> {
    /// The sending user, whose organization queues the foreign recipients.
    pub user: &'a MailUser,
    /// How long queue rows live.
    pub queue_lifetime: Duration,
    /// Whether to file the sender's `Sent Items` copy (not when a hook's answer delivers a
    /// message whose copy was filed when it was submitted).
    pub sent_copy: bool,
}

/// The output of the seal stage: what [`super::commit`] commits in one transaction.
pub(super) struct Sealed {
    /// Blob key of the message.
    pub blob_key: String,
    /// The blobs written (the message's and the journal records'), each with its message key.
    pub blobs: Vec<SealedBlob>,
    /// Mailbox copies, the planned ones first (in plan order), then the `Sent Items` copy,
    /// then journal records to local journaling addresses.
    pub copies: Vec<NewMessage>,
    /// Queue rows: queued recipients, then journal records to foreign addresses.
    pub outbound: Vec<NewOutbound>,
    /// (organization ID, journaling address) of each journal record created.
    pub journaled: Vec<(String, String)>,
}

/// Stores `message` and builds the rows `decision` plans; `submitter` for submitted mail.
///
/// Errors: store failures (the blobs already written are removed again: nothing references
/// them).
pub(super) async fn store(
    store: &Store,
    envelope: &Envelope,
    message: &Bytes,
    decision: &mut Decision,
    submitter: Option<&Submitter<'_>>,
) -> Result<Sealed, StoreError> {
    let sealed = crypto::put_sealed(store, message).await?;
    let blob_key = sealed.key.clone();
    let now = carillon_core::time::now_millis();
    let mut outbound: Vec<NewOutbound> = match submitter {
        Some(submitter) => {
            let lifetime_ms =
                i64::try_from(submitter.queue_lifetime.as_millis()).unwrap_or(i64::MAX);
            decision
                .queued
                .iter()
                .map(|(recipient, gateway_id)| NewOutbound {
                    organization_id: submitter.user.organization_id.clone(),
                    envelope_from: envelope.mail_from.clone(),
                    recipient: recipient.clone(),
                    blob_key: blob_key.clone(),
                    next_attempt_at: now,
                    expires_at: now.saturating_add(lifetime_ms),
                    gateway_id: gateway_id.clone(),
                    message_key: None,
                })
                .collect()
        }
        None => Vec::new(),
    };
    let mut copies: Vec<NewMessage> = decision
        .copies
        .iter()
        .map(|c| {
            let mut copy = inbox_copy(&c.mailbox.user_id, &blob_key, message.len(), now);
            copy.folder = c.folder.to_string();
            copy
        })
        .collect();
    let sender_organization = submitter.map(|s| s.user.organization_id.as_str());
    if let Some(submitter) = submitter.filter(|s| s.sent_copy) {
        copies.push(NewMessage {
            user_id: submitter.user.user_id.clone(),
            folder: SENT_ITEMS.to_string(),
            blob_key: blob_key.clone(),
            size_bytes: message.len() as i64,
            internal_date: now,
            flags: vec!["\\Seen".to_string()],
            message_key: None,
        });
    }
    let mailboxes: Vec<_> = decision.copies.iter().map(|c| c.mailbox.clone()).collect();
    let organizations = organizations_of(&mailboxes, sender_organization);
    let journals = match journal::prepare(
        store,
        envelope,
        message,
        &decision.resolved,
        &organizations,
        sender_organization,
        &mut decision.sizes,
    )
    .await
    {
        Ok(work) => work,
        Err(e) => {
            discard_blob(store, &blob_key).await;
            return Err(e);
        }
    };
    copies.extend(journals.copies);
    outbound.extend(journals.outbound);
    let mut blobs = journals.blobs;
    blobs.push(sealed);
    Ok(Sealed {
        blob_key,
        blobs,
        copies,
        outbound,
        journaled: journals.initiated,
    })
}

/// Removes the blob of a delivery that failed before anything referenced it.
pub(super) async fn discard_blob(store: &Store, blob_key: &str) {
    if let Err(e) = store.blobs().delete(blob_key).await {
        tracing::warn!(blob_key, error = %e, "could not remove the blob of a failed delivery");
    }
}
