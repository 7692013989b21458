//! Journaling: one journal record per message for each organization that journals it.
//!
//! Spec: workmail.md §2.24. Every message sent to a user of an organization with journaling
//! configured, and every message a user of it sends, produces exactly one journal record
//! (whatever the number of recipients or groups) addressed to the organization's journaling
//! address. The record is an Exchange *envelope journal report* (the Microsoft-compatible
//! format, [MS-XJRNL]): a new message from `amazonjournaling@<test domain>` (Carillon's
//! `<organization>.awsapps.com`), marked `X-MS-Journal-Report:`, whose first part lists
//! `Sender`, `Subject`, `Message-Id` and one line per recipient (`To`/`Cc`/`Bcc`, group
//! members as `To: member@x, Expanded: group@x`), and whose attachment is the original
//! message unaltered (`message/rfc822`).
//!
//! Records are committed in the same transaction as the delivery they journal. A record for
//! a Carillon mailbox is appended to its INBOX; for another address it is queued outbound
//! with the report address as envelope sender, so a refusal comes back as a DSN to the
//! report address. When the record cannot be placed at all (the journaling address is a
//! local address that takes no mail, or its mailbox is full), a notification goes to the
//! report address instead. Journal records and notifications are built here and never pass
//! through delivery again, so they are never journaled themselves.
//!
//! The `JOURNALING_INITIATED` email event (§4.1, field `journalingAddress`) is emitted as a
//! structured log line until the event log exists.

use std::collections::HashSet;

use bytes::Bytes;
use carillon_store::{
    JournalingTarget, LocalMailbox, NewMessage, NewOutbound, Resolution, Store, StoreError,
};

use super::envelope::{inbox_copy, Envelope};
use super::recipients::MailboxSizes;

/// Local part of the reserved sender of journal records; with the organization's test
/// domain it can be neither a mailbox address nor an alias (§2.24).
pub const JOURNAL_SENDER_LOCAL_PART: &str = "amazonjournaling";

/// The reserved sender of `test_domain`'s journal records.
pub fn journal_sender(test_domain: &str) -> String {
    format!("{JOURNAL_SENDER_LOCAL_PART}@{test_domain}")
}

/// Whether `address` (any case) is the reserved journal sender of the test domain
/// `test_domain`.
pub fn is_reserved_journal_sender(address: &str, test_domain: &str) -> bool {
    address.eq_ignore_ascii_case(&journal_sender(test_domain))
}

/// The journal records and failure reports of one delivery, to commit with it.
#[derive(Debug, Default)]
pub(super) struct JournalWork {
    /// INBOX copies for journaling or report mailboxes here.
    pub copies: Vec<NewMessage>,
    /// Queue rows for journaling or report addresses elsewhere.
    pub outbound: Vec<NewOutbound>,
    /// The blobs written for them, sealed (removed again if the delivery fails).
    pub blobs: Vec<crate::crypto::SealedBlob>,
    /// (organization ID, journaling address) of each journal record created, for the
    /// `JOURNALING_INITIATED` events once the delivery is committed (workmail.md §4.1).
    pub initiated: Vec<(String, String)>,
}

impl JournalWork {
    /// Stores `message` as a blob and plans its delivery to `address`: INBOX copies for a
    /// local address (mailboxes with room), a queue row from `envelope_from` for a foreign
    /// one. Returns why it could not be placed, if so (nothing is stored then).
    async fn place(
        &mut self,
        store: &Store,
        sizes: &mut MailboxSizes,
        organization_id: &str,
        envelope_from: &str,
        address: &str,
        message: Vec<u8>,
    ) -> Result<Option<&'static str>, StoreError> {
        const NO_MAIL: &str = "the address does not take mail (550 5.1.1)";
        // `None`: a foreign address, queued.
        let local = match store.resolve_recipient(address).await? {
            Resolution::NoSuchDomain => None,
            Resolution::NoSuchAddress => return Ok(Some(NO_MAIL)),
            Resolution::Mailboxes(m) if m.is_empty() => return Ok(Some(NO_MAIL)),
            Resolution::Mailboxes(m) => {
                let mut with_room = Vec::new();
                for mailbox in m {
                    if sizes.has_room(store, &mailbox, message.len()).await? {
                        with_room.push(mailbox);
                    }
                }
                if with_room.is_empty() {
                    return Ok(Some("the mailbox is full (552 5.2.2)"));
                }
                Some(with_room)
            }
        };
        let size = message.len();
        let sealed = crate::crypto::put_sealed(store, &message).await?;
        let blob_key = sealed.key.clone();
        self.blobs.push(sealed);
        let now = carillon_core::time::now_millis();
        match local {
            Some(mailboxes) => {
                for mailbox in mailboxes {
                    sizes.reserve(&mailbox.user_id, size);
                    self.copies
                        .push(inbox_copy(&mailbox.user_id, &blob_key, size, now));
                }
            }
            None => {
                let lifetime = i64::try_from(carillon_core::mail::QUEUE_LIFETIME.as_millis())
                    .unwrap_or(i64::MAX);
                self.outbound.push(NewOutbound {
                    organization_id: organization_id.to_string(),
                    envelope_from: envelope_from.to_string(),
                    recipient: address.to_string(),
                    blob_key,
                    next_attempt_at: now,
                    expires_at: now.saturating_add(lifetime),
                    gateway_id: None,
                    message_key: None,
                });
            }
        }
        Ok(None)
    }
}

/// Plans the journal record of `message` for each of `organizations` that has journaling
/// configured: one record per organization, whatever the recipients. `sender_organization`
/// is the submitting user's organization (its record lists every envelope recipient); the
/// others list the recipients that reach them. A record that cannot be placed becomes a
/// failure report to the organization's report address (dropped with a warning when that
/// address cannot take it either). Blobs are stored here; the caller commits the rest.
///
/// Errors: store failures (the blobs already written are removed again).
pub(super) async fn prepare(
    store: &Store,
    envelope: &Envelope,
    message: &Bytes,
    resolved: &[Resolved],
    organizations: &[String],
    sender_organization: Option<&str>,
    sizes: &mut MailboxSizes,
) -> Result<JournalWork, StoreError> {
    let mut work = JournalWork::default();
    let result = prepare_into(
        &mut work,
        store,
        envelope,
        message,
        resolved,
        organizations,
        sender_organization,
        sizes,
    )
    .await;
    match result {
        Ok(()) => Ok(work),
        Err(e) => {
            for blob in &work.blobs {
                let blob_key = &blob.key;
                if let Err(e) = store.blobs().delete(blob_key).await {
                    tracing::warn!(blob_key, error = %e, "could not remove an unused journal blob");
                }
            }
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn prepare_into(
    work: &mut JournalWork,
    store: &Store,
    envelope: &Envelope,
    message: &Bytes,
    resolved: &[Resolved],
    organizations: &[String],
    sender_organization: Option<&str>,
    sizes: &mut MailboxSizes,
) -> Result<(), StoreError> {
    let mut headers = None;
    for organization_id in organizations {
        let Some(target) = store.journaling_target(organization_id).await? else {
            continue;
        };
        let headers = headers.get_or_insert_with(|| Headers::parse(message));
        let all_recipients = sender_organization == Some(organization_id.as_str());
        let summary = summarize(
            store,
            envelope,
            headers,
            resolved,
            organization_id,
            all_recipients,
        )
        .await?;
        let config = &target.configuration;
        let record = build_journal_record(&target, &summary, message);
        // The report address is the record's envelope sender: a remote refusal comes back
        // to it as a DSN from the outbound queue.
        let refused = work
            .place(
                store,
                sizes,
                organization_id,
                &config.report_address,
                &config.journaling_address,
                record,
            )
            .await?;
        match refused {
            None => {
                tracing::info!(
                    event_name = "JOURNALING_INITIATED",
                    organization_id = %organization_id,
                    journaling_address = %config.journaling_address,
                    "journal record created"
                );
                work.initiated
                    .push((organization_id.clone(), config.journaling_address.clone()));
            }
            Some(reason) => {
                let report = build_failure_report(&target, &summary, reason, message);
                // Null reverse-path: a failing report never causes another message.
                let unreported = work
                    .place(
                        store,
                        sizes,
                        organization_id,
                        "",
                        &config.report_address,
                        report,
                    )
                    .await?;
                tracing::warn!(
                    organization_id = %organization_id,
                    journaling_address = %config.journaling_address,
                    report_address = %config.report_address,
                    reason,
                    reported = unreported.is_none(),
                    "message could not be journaled"
                );
            }
        }
    }
    Ok(())
}

/// How the message addressed a recipient (the journal report's recipient type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressedBy {
    /// In the `To` header.
    To,
    /// In the `Cc` header.
    Cc,
    /// In neither: a blind copy.
    Bcc,
}

impl AddressedBy {
    fn label(self) -> &'static str {
        match self {
            AddressedBy::To => "To",
            AddressedBy::Cc => "Cc",
            AddressedBy::Bcc => "Bcc",
        }
    }
}

/// One envelope recipient as the journal report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournaledRecipient {
    /// The envelope recipient address.
    pub address: String,
    /// `To`, `Cc` or `Bcc`.
    pub addressed_by: AddressedBy,
    /// For a group address: its members' primary addresses, sorted (`Expanded:` lines).
    pub expanded: Vec<String>,
}

/// What the report body says about the original message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalSummary {
    /// Envelope sender, or the `From` address of a message with the null reverse-path.
    pub sender: String,
    /// Subject as decoded (may be non-ASCII).
    pub subject: String,
    /// The raw `Subject` header value, for the report's own `Subject` header.
    pub subject_raw: String,
    /// `Message-Id` with angle brackets, empty when the message has none.
    pub message_id: String,
    /// The recipients, in envelope order.
    pub recipients: Vec<JournaledRecipient>,
}

/// The header section of `message` parsed: subject, Message-ID, `To`/`Cc` addresses.
pub(super) struct Headers {
    subject: String,
    subject_raw: String,
    message_id: String,
    from: Option<String>,
    to: HashSet<String>,
    cc: HashSet<String>,
}

impl Headers {
    /// Parses the header section of `message` (the body is not read).
    pub(super) fn parse(message: &[u8]) -> Headers {
        let end = find(message, b"\r\n\r\n")
            .map(|i| i + 4)
            .or_else(|| find(message, b"\n\n").map(|i| i + 2))
            .unwrap_or(message.len());
        let parsed = mail_parser::MessageParser::default().parse(&message[..end]);
        let addresses = |list: Option<&mail_parser::Address<'_>>| -> HashSet<String> {
            list.map(|a| {
                a.iter()
                    .filter_map(|addr| addr.address())
                    .map(str::to_lowercase)
                    .collect()
            })
            .unwrap_or_default()
        };
        match parsed {
            Some(m) => Headers {
                subject: m.subject().unwrap_or_default().to_string(),
                subject_raw: m
                    .header_raw("Subject")
                    .map(|s| one_line(s.trim()))
                    .unwrap_or_default(),
                message_id: m
                    .message_id()
                    .map(|id| format!("<{id}>"))
                    .unwrap_or_default(),
                from: m
                    .from()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .map(str::to_lowercase),
                to: addresses(m.to()),
                cc: addresses(m.cc()),
            },
            None => Headers {
                subject: String::new(),
                subject_raw: String::new(),
                message_id: String::new(),
                from: None,
                to: HashSet::new(),
                cc: HashSet::new(),
            },
        }
    }

    fn addressed_by(&self, address: &str) -> AddressedBy {
        let address = address.to_lowercase();
        if self.to.contains(&address) {
            AddressedBy::To
        } else if self.cc.contains(&address) {
            AddressedBy::Cc
        } else {
            AddressedBy::Bcc
        }
    }
}

/// An envelope recipient with what it resolved to (`None`: a foreign address).
pub(super) struct Resolved {
    pub address: String,
    pub mailboxes: Option<Vec<LocalMailbox>>,
}

/// The journal report summary of `envelope` for `organization_id`: every envelope recipient
/// when `all_recipients` (the organization's user sent the message), otherwise those that
/// reach a mailbox of the organization; group addresses of the organization expanded.
///
/// Errors: store failures.
pub(super) async fn summarize(
    store: &Store,
    envelope: &Envelope,
    headers: &Headers,
    resolved: &[Resolved],
    organization_id: &str,
    all_recipients: bool,
) -> Result<JournalSummary, StoreError> {
    let mut recipients = Vec::new();
    for recipient in resolved {
        let in_org: Vec<String> = recipient
            .mailboxes
            .iter()
            .flatten()
            .filter(|m| m.organization_id == organization_id)
            .map(|m| m.user_id.clone())
            .collect();
        if in_org.is_empty() && !all_recipients {
            continue;
        }
        let expanded = if !in_org.is_empty() && store.is_group_address(&recipient.address).await? {
            let mut members: Vec<String> = store
                .primary_addresses(&in_org)
                .await?
                .into_iter()
                .map(|(_, address)| address)
                .collect();
            // Address order: the same report for the same message, whatever the storage.
            members.sort();
            members
        } else {
            Vec::new()
        };
        recipients.push(JournaledRecipient {
            address: recipient.address.clone(),
            addressed_by: headers.addressed_by(&recipient.address),
            expanded,
        });
    }
    let sender = if envelope.mail_from.is_empty() {
        headers.from.clone().unwrap_or_default()
    } else {
        envelope.mail_from.clone()
    };
    Ok(JournalSummary {
        sender,
        subject: headers.subject.clone(),
        subject_raw: headers.subject_raw.clone(),
        message_id: headers.message_id.clone(),
        recipients,
    })
}

/// The journal report body ([MS-XJRNL] §2.1.3.2): `Sender`, `Subject`, `Message-Id`, then
/// one line per recipient; a group's members each on their own line with `Expanded:`.
pub fn report_body(summary: &JournalSummary) -> String {
    let mut body = format!(
        "Sender: {}\r\nSubject: {}\r\nMessage-Id: {}\r\n",
        summary.sender,
        one_line(&summary.subject),
        summary.message_id
    );
    for recipient in &summary.recipients {
        let kind = recipient.addressed_by.label();
        if recipient.expanded.is_empty() {
            body.push_str(&format!("{kind}: {}\r\n", recipient.address));
        } else {
            for member in &recipient.expanded {
                body.push_str(&format!(
                    "{kind}: {member}, Expanded: {}\r\n",
                    recipient.address
                ));
            }
        }
    }
    body
}

/// The journal record for `target`: a `multipart/mixed` message from the reserved sender to
/// the journaling address, `X-MS-Journal-Report:` set, the report body, then `original` as a
/// `message/rfc822` attachment. Lines end with CRLF.
pub fn build_journal_record(
    target: &JournalingTarget,
    summary: &JournalSummary,
    original: &[u8],
) -> Vec<u8> {
    let from = journal_sender(&target.test_domain);
    let boundary = format!("journal-{}", carillon_core::ids::new_uuid());
    let mut head = String::new();
    head.push_str(&format!("From: <{from}>\r\n"));
    head.push_str(&format!(
        "To: <{}>\r\n",
        target.configuration.journaling_address
    ));
    head.push_str(&format!("Subject: {}\r\n", summary.subject_raw));
    head.push_str(&format!("Date: {}\r\n", chrono::Utc::now().to_rfc2822()));
    head.push_str(&format!(
        "Message-ID: <{}@{}>\r\n",
        carillon_core::ids::new_uuid(),
        target.test_domain
    ));
    head.push_str("X-MS-Journal-Report: \r\n");
    head.push_str("Auto-Submitted: auto-generated\r\n");
    head.push_str("MIME-Version: 1.0\r\n");
    head.push_str(&format!(
        "Content-Type: multipart/mixed;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    head.push_str(&format!("--{boundary}\r\n"));
    head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    head.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
    head.push_str(&report_body(summary));
    head.push_str(&format!("\r\n--{boundary}\r\n"));
    head.push_str("Content-Type: message/rfc822\r\n");
    head.push_str("Content-Disposition: attachment\r\n\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(original);
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// The notification sent to the report address when a message could not be journaled:
/// why, the journal report body, and the original header section (`text/rfc822-headers`).
pub fn build_failure_report(
    target: &JournalingTarget,
    summary: &JournalSummary,
    reason: &str,
    original: &[u8],
) -> Vec<u8> {
    let from = journal_sender(&target.test_domain);
    let boundary = format!("journal-report-{}", carillon_core::ids::new_uuid());
    let mut text = String::new();
    text.push_str(&format!("From: <{from}>\r\n"));
    text.push_str(&format!(
        "To: <{}>\r\n",
        target.configuration.report_address
    ));
    text.push_str("Subject: Message could not be journaled\r\n");
    text.push_str(&format!("Date: {}\r\n", chrono::Utc::now().to_rfc2822()));
    text.push_str(&format!(
        "Message-ID: <{}@{}>\r\n",
        carillon_core::ids::new_uuid(),
        target.test_domain
    ));
    text.push_str("Auto-Submitted: auto-generated\r\n");
    text.push_str("MIME-Version: 1.0\r\n");
    text.push_str(&format!(
        "Content-Type: multipart/mixed;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    text.push_str(&format!("--{boundary}\r\n"));
    text.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    text.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
    text.push_str(&format!(
        "A message of organization {} could not be journaled to {}: {}\r\n\r\n",
        target.configuration.organization_id,
        target.configuration.journaling_address,
        one_line(reason)
    ));
    text.push_str(&report_body(summary));
    text.push_str(&format!("\r\n--{boundary}\r\n"));
    text.push_str("Content-Type: text/rfc822-headers\r\n\r\n");
    let mut out = text.into_bytes();
    let end = find(original, b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| find(original, b"\n\n").map(|i| i + 1))
        .unwrap_or(original.len());
    out.extend_from_slice(&original[..end]);
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `text` on one line (folded headers unfolded), safe in a header field or report line.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use carillon_store::JournalingConfigurationRecord;

    fn target() -> JournalingTarget {
        JournalingTarget {
            configuration: JournalingConfigurationRecord {
                organization_id: "m-1".to_string(),
                journaling_address: "journal@archive.test".to_string(),
                report_address: "admin@corp.test".to_string(),
                updated_at: 0,
            },
            test_domain: "corp.localhost".to_string(),
        }
    }

    fn summary() -> JournalSummary {
        JournalSummary {
            sender: "alice@corp.test".to_string(),
            subject: "Quarterly ümlaut".to_string(),
            subject_raw: "=?utf-8?q?Quarterly_=C3=BCmlaut?=".to_string(),
            message_id: "<1@corp.test>".to_string(),
            recipients: vec![
                JournaledRecipient {
                    address: "bob@corp.test".to_string(),
                    addressed_by: AddressedBy::To,
                    expanded: vec![],
                },
                JournaledRecipient {
                    address: "team@corp.test".to_string(),
                    addressed_by: AddressedBy::Cc,
                    expanded: vec!["carol@corp.test".to_string(), "dan@corp.test".to_string()],
                },
                JournaledRecipient {
                    address: "eve@remote.test".to_string(),
                    addressed_by: AddressedBy::Bcc,
                    expanded: vec![],
                },
            ],
        }
    }

    #[test]
    fn report_body_follows_the_envelope_journal_layout() {
        assert_eq!(
            report_body(&summary()),
            "Sender: alice@corp.test\r\nSubject: Quarterly ümlaut\r\nMessage-Id: <1@corp.test>\r\n\
             To: bob@corp.test\r\n\
             Cc: carol@corp.test, Expanded: team@corp.test\r\n\
             Cc: dan@corp.test, Expanded: team@corp.test\r\n\
             Bcc: eve@remote.test\r\n"
        );
    }

    #[test]
    fn record_wraps_the_original_unaltered() {
        let original = b"From: alice@corp.test\r\nSubject: hi\r\n\r\nbody\r\n";
        let record =
            String::from_utf8(build_journal_record(&target(), &summary(), original)).unwrap();
        assert!(record.starts_with("From: <amazonjournaling@corp.localhost>\r\nTo: <journal@archive.test>\r\nSubject: =?utf-8?q?Quarterly_=C3=BCmlaut?=\r\n"));
        assert!(record.contains("\r\nX-MS-Journal-Report: \r\n"));
        assert!(record.contains("Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\nFrom: alice@corp.test\r\nSubject: hi\r\n\r\nbody\r\n--journal-"));
        let parsed = mail_parser::MessageParser::default()
            .parse(record.as_bytes())
            .unwrap();
        assert_eq!(parsed.attachments().count(), 1);
        assert!(parsed
            .body_text(0)
            .unwrap()
            .contains("Bcc: eve@remote.test"));
    }

    #[test]
    fn failure_report_carries_only_the_original_headers() {
        let original = b"From: alice@corp.test\r\nSubject: hi\r\n\r\nsecret body\r\n";
        let report = String::from_utf8(build_failure_report(
            &target(),
            &summary(),
            "550 no such user",
            original,
        ))
        .unwrap();
        assert!(report.contains("To: <admin@corp.test>\r\n"));
        assert!(report.contains("could not be journaled to journal@archive.test: 550 no such user"));
        assert!(report.contains("Content-Type: text/rfc822-headers\r\n\r\nFrom: alice@corp.test\r\nSubject: hi\r\n\r\n--journal-report-"));
        assert!(!report.contains("secret body"));
    }

    #[test]
    fn headers_classify_recipients() {
        let headers = Headers::parse(
            b"From: Alice <Alice@corp.test>\r\nTo: Bob <BOB@corp.test>\r\nCc: team@corp.test\r\nSubject: =?utf-8?q?=C3=BC?=\r\nMessage-ID: <x@y>\r\n\r\nbody",
        );
        assert_eq!(headers.addressed_by("bob@corp.test"), AddressedBy::To);
        assert_eq!(headers.addressed_by("team@corp.test"), AddressedBy::Cc);
        assert_eq!(headers.addressed_by("eve@corp.test"), AddressedBy::Bcc);
        assert_eq!(headers.subject, "ü");
        assert_eq!(headers.subject_raw, "=?utf-8?q?=C3=BC?=");
        assert_eq!(headers.message_id, "<x@y>");
        assert_eq!(headers.from.as_deref(), Some("alice@corp.test"));
        assert!(is_reserved_journal_sender(
            "AmazonJournaling@Corp.localhost",
            "corp.localhost"
        ));
        assert!(!is_reserved_journal_sender(
            "amazonjournaling@corp.test",
            "corp.localhost"
        ));
    }
}
