//! Stage 1, **recipients**: every envelope recipient resolved to the local mailboxes it
//! reaches (aliases, recursive groups, each mailbox once), a foreign domain, or nothing.
//!
//! Also the RCPT-time check the SMTP edge makes before the message is known
//! ([`check_recipient`]) and the mailbox sizes both it and the later stages measure quota with
//! (workmail.md §1.7).

use std::collections::HashMap;

use carillon_store::{LocalMailbox, Resolution, Store, StoreError};

/// One envelope recipient and what it resolved to: the input of the
/// [verdict](super::verdict) and [decision](super::decide) stages.
#[derive(Debug)]
pub(super) struct Recipient {
    /// The address as given in the envelope.
    pub address: String,
    /// The local mailboxes it reaches, or why none.
    pub resolution: Resolution,
}

/// Resolves each of `addresses`, in envelope order.
///
/// Errors: store failures (nothing is written by this stage).
pub(super) async fn resolve(
    store: &Store,
    addresses: &[String],
) -> Result<Vec<Recipient>, StoreError> {
    let mut recipients = Vec::with_capacity(addresses.len());
    for address in addresses {
        recipients.push(Recipient {
            address: address.clone(),
            resolution: store.resolve_recipient(address).await?,
        });
    }
    Ok(recipients)
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

/// Mailbox sizes read once per delivery.
#[derive(Default)]
pub(super) struct MailboxSizes(HashMap<String, i64>);

impl MailboxSizes {
    /// Whether `mailbox` has room for `size` more bytes (sizes read once, then tracked).
    pub(super) async fn has_room(
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
    pub(super) fn reserve(&mut self, user_id: &str, size: usize) {
        if let Some(current) = self.0.get_mut(user_id) {
            *current = current.saturating_add(size as i64);
        }
    }
}

/// The distinct organizations a delivery concerns: the sender's first (submission), then
/// those of the mailboxes reached, in order.
pub(super) fn organizations_of(mailboxes: &[LocalMailbox], sender: Option<&str>) -> Vec<String> {
    let mut organizations: Vec<String> = sender.map(str::to_string).into_iter().collect();
    for mailbox in mailboxes {
        if !organizations.contains(&mailbox.organization_id) {
            organizations.push(mailbox.organization_id.clone());
        }
    }
    organizations
}
