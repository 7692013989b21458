//! Stage 2, **verdict**: the sender authentication verdict applied per recipient.
//!
//! The SMTP edge evaluates SPF, DKIM, ARC and DMARC ([`crate::sender_authentication`]) and hands
//! delivery the DMARC disposition; this stage applies it to the recipients whose
//! organization enforces DMARC (on unless turned off, workmail.md §2.25): `Reject` leaves
//! their mailboxes out (a recipient reaching only those is refused), `Quarantine` files their
//! copy in `Junk E-mail`. Organizations that do not enforce get the message as usual.
//! Submitted mail has no verdict (it is not evaluated).

use std::collections::HashMap;

use carillon_store::{Resolution, Store, StoreError};

use super::envelope::{INBOX, JUNK_EMAIL};
use super::recipients::Recipient;
use crate::sender_authentication::DmarcDisposition;

/// A recipient after the verdict: the input of the [decision](super::decide) stage.
#[derive(Debug)]
pub(super) enum Authenticated {
    /// Refused: every mailbox it reaches belongs to an organization enforcing a DMARC
    /// `p=reject` failure (SMTP 550 5.7.1).
    Rejected(String),
    /// Goes on, without the mailboxes a reject left out.
    Passed(Recipient),
}

/// The verdict of one message, as delivery applies it: the disposition (`None` for submitted
/// mail) and the mailboxes it quarantines, each organization's enforcement read once.
pub(super) struct Verdict {
    disposition: Option<DmarcDisposition>,
    enforcing: HashMap<String, bool>,
    junk: Vec<String>,
}

/// Applies `disposition` (`None`: submitted mail, not evaluated) to `recipients`.
///
/// Errors: the store cannot read an enforcement setting.
pub(super) async fn apply(
    store: &Store,
    disposition: Option<DmarcDisposition>,
    recipients: Vec<Recipient>,
) -> Result<(Verdict, Vec<Authenticated>), StoreError> {
    let mut verdict = Verdict {
        disposition,
        enforcing: HashMap::new(),
        junk: Vec::new(),
    };
    let mut authenticated = Vec::with_capacity(recipients.len());
    for mut recipient in recipients {
        authenticated.push(
            if verdict.refuses(store, &mut recipient.resolution).await? {
                Authenticated::Rejected(recipient.address)
            } else {
                Authenticated::Passed(recipient)
            },
        );
    }
    Ok((verdict, authenticated))
}

impl Verdict {
    /// Removes (reject) or marks for `Junk E-mail` (quarantine) the mailboxes of enforcing
    /// organizations in `resolution`. Returns `true` when the recipient reached mailboxes
    /// and all of them refused the message.
    async fn refuses(
        &mut self,
        store: &Store,
        resolution: &mut Resolution,
    ) -> Result<bool, StoreError> {
        let Resolution::Mailboxes(mailboxes) = resolution else {
            return Ok(false);
        };
        let disposition = self.disposition.unwrap_or(DmarcDisposition::Deliver);
        if disposition == DmarcDisposition::Deliver || mailboxes.is_empty() {
            return Ok(false);
        }
        let mut kept = Vec::with_capacity(mailboxes.len());
        for mailbox in mailboxes.drain(..) {
            let enforced = match self.enforcing.get(&mailbox.organization_id) {
                Some(enforced) => *enforced,
                None => {
                    let enforced = store
                        .inbound_dmarc_enforced(&mailbox.organization_id)
                        .await?;
                    self.enforcing
                        .insert(mailbox.organization_id.clone(), enforced);
                    enforced
                }
            };
            match (enforced, disposition) {
                (true, DmarcDisposition::Reject) => {}
                (true, _) => {
                    self.junk.push(mailbox.user_id.clone());
                    kept.push(mailbox);
                }
                (false, _) => kept.push(mailbox),
            }
        }
        *mailboxes = kept;
        Ok(mailboxes.is_empty())
    }

    /// The folder the copy for `user_id` goes to: `Junk E-mail` when quarantined, else INBOX.
    pub(super) fn folder(&self, user_id: &str) -> &'static str {
        if self.junk.iter().any(|u| u == user_id) {
            JUNK_EMAIL
        } else {
            INBOX
        }
    }
}

/// The DMARC disposition recorded in a received message held for a synchronous hook: its
/// topmost `Authentication-Results` field (Carillon's own, prepended at receipt) saying
/// `dmarc=fail` under `policy.dmarc=quarantine` is `Quarantine` (so `Default` still files it
/// in Junk E-mail after the hook answered), anything else `Deliver` (a `reject` never got
/// this far). Spec: workmail.md §2.25.
pub(super) fn recorded_dmarc(message: &[u8]) -> DmarcDisposition {
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
