//! What every delivery stage passes on: the SMTP envelope, the whole-message limits, the
//! folders copies are filed in, and the per-recipient outcome the SMTP edge answers from.
//!
//! A leaf: it depends on no other delivery stage, so every stage can name these types.
//! Limits: workmail.md §6 — 40 MB MIME / 29 MB unencoded per message, 500 recipients.

use bytes::Bytes;
use carillon_store::{NewMessage, StoreError};

/// Largest message accepted, as transmitted (MIME encoded): 40 MB (MiB). Spec: workmail.md §6.
pub const MAX_MESSAGE_MIME_BYTES: usize = 40 * 1024 * 1024;

/// Largest message content accepted once transfer encodings are undone: 29 MB (MiB).
/// Spec: workmail.md §6.
pub const MAX_MESSAGE_UNENCODED_BYTES: usize = 29 * 1024 * 1024;

/// Most recipients of one message. Spec: workmail.md §6.
pub const MAX_RECIPIENTS: usize = 500;

/// The folders delivery writes to, defined beside the store's default folders: new mail,
/// mail quarantined by DMARC (workmail.md §2.25) or a flow rule, and the sender's copy.
pub use carillon_store::{INBOX, JUNK_EMAIL, SENT_ITEMS};

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

/// Result of [`deliver_inbound`](super::deliver_inbound) or [`submit`](super::submit).
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

/// The first thing every delivery checks, before any store access: at most
/// [`MAX_RECIPIENTS`] recipients and [`check_message_size`].
///
/// Errors: `TooManyRecipients`, `MessageTooLarge`.
pub(super) async fn check_limits(
    envelope: &Envelope,
    message: &Bytes,
) -> Result<(), DeliveryError> {
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

/// An INBOX copy of blob `blob_key` (`size` bytes) for `user_id`, received at `now` (epoch
/// ms), its message key wrapped at the commit.
pub(super) fn inbox_copy(user_id: &str, blob_key: &str, size: usize, now: i64) -> NewMessage {
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
