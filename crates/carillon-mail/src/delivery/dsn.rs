//! Delivery status notifications (bounces): RFC 3464 `multipart/report` messages sent to the
//! envelope sender when delivery to some recipients failed for good.
//!
//! A DSN travels with the null reverse-path `<>`, and a message whose reverse-path is already
//! null never causes one (RFC 5321 §4.5.5), so bounces cannot loop.

use std::time::Duration;

use bytes::Bytes;
use carillon_store::{NewOutbound, Resolution, Store};
use chrono::{TimeZone, Utc};

use super::deliver_inbound;
use super::envelope::{DeliveryError, Envelope};

/// A recipient the message could not be delivered to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecipient {
    /// The recipient address.
    pub recipient: String,
    /// RFC 3463 enhanced status code, e.g. `5.1.1` or `4.4.7` (queue lifetime ended).
    pub status: String,
    /// The remote server's reply (`Diagnostic-Code: smtp; …`) or a local explanation.
    pub diagnostic: String,
    /// The server that answered (`Remote-MTA: dns; …`), when one did.
    pub remote_mta: Option<String>,
}

/// What to report in a bounce.
#[derive(Debug, Clone)]
pub struct Bounce<'a> {
    /// Host name of this server (`Reporting-MTA`, `From: MAILER-DAEMON@…`).
    pub reporting_mta: &'a str,
    /// Organization charged with a queued bounce (the sender's or the recipient's).
    pub organization_id: &'a str,
    /// The failed message's reverse-path: where the bounce goes. Empty: no bounce.
    pub envelope_from: &'a str,
    /// When the failed message was accepted, epoch milliseconds (`Arrival-Date`).
    pub arrival_date: i64,
    /// The recipients that failed.
    pub failures: &'a [FailedRecipient],
    /// The failed message; its header section is returned (`text/rfc822-headers`).
    pub original: &'a [u8],
    /// Queue lifetime of a bounce that must itself be queued (foreign sender).
    pub queue_lifetime: Duration,
}

/// What [`send_bounce`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceOutcome {
    /// The failed message had the null reverse-path: no bounce (never bounce a bounce).
    Suppressed,
    /// Delivered to the local sender's INBOX.
    Delivered,
    /// Queued for the foreign sender.
    Queued,
    /// The sender is a local address that takes no mail (unknown or full): dropped.
    Undeliverable,
}

/// Builds the RFC 3464 report: a human-readable part, the `message/delivery-status` part and
/// the original header section. Lines end with CRLF.
pub fn build_dsn(bounce: &Bounce<'_>) -> Vec<u8> {
    let now = Utc::now();
    let boundary = format!("dsn-{}", carillon_core::ids::new_uuid());
    let arrival = Utc
        .timestamp_millis_opt(bounce.arrival_date)
        .single()
        .unwrap_or(now);
    let host = bounce.reporting_mta;
    let mut text = String::new();
    text.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{host}>\r\n"
    ));
    text.push_str(&format!("To: <{}>\r\n", bounce.envelope_from));
    text.push_str("Subject: Undelivered Mail Returned to Sender\r\n");
    text.push_str(&format!("Date: {}\r\n", now.to_rfc2822()));
    text.push_str(&format!(
        "Message-ID: <{}@{host}>\r\n",
        carillon_core::ids::new_uuid()
    ));
    text.push_str("Auto-Submitted: auto-replied\r\n");
    text.push_str("MIME-Version: 1.0\r\n");
    text.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    text.push_str("This is a MIME-encapsulated message.\r\n\r\n");
    text.push_str(&format!("--{boundary}\r\n"));
    text.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
    text.push_str(&format!(
        "This is the mail system at host {host}.\r\n\r\n\
         Your message could not be delivered to one or more recipients.\r\n\r\n"
    ));
    for failure in bounce.failures {
        text.push_str(&format!(
            "<{}>: {}\r\n",
            failure.recipient,
            one_line(&failure.diagnostic)
        ));
    }
    text.push_str(&format!("\r\n--{boundary}\r\n"));
    text.push_str("Content-Type: message/delivery-status\r\n\r\n");
    text.push_str(&format!("Reporting-MTA: dns; {host}\r\n"));
    text.push_str(&format!("Arrival-Date: {}\r\n", arrival.to_rfc2822()));
    for failure in bounce.failures {
        text.push_str("\r\n");
        text.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\n",
            failure.recipient
        ));
        text.push_str("Action: failed\r\n");
        text.push_str(&format!("Status: {}\r\n", failure.status));
        if let Some(mta) = &failure.remote_mta {
            text.push_str(&format!("Remote-MTA: dns; {mta}\r\n"));
        }
        let kind = if failure.remote_mta.is_some() {
            "smtp"
        } else {
            "x-local"
        };
        text.push_str(&format!(
            "Diagnostic-Code: {kind}; {}\r\n",
            one_line(&failure.diagnostic)
        ));
    }
    text.push_str(&format!("\r\n--{boundary}\r\n"));
    text.push_str("Content-Type: text/rfc822-headers\r\n\r\n");
    let mut out = text.into_bytes();
    out.extend_from_slice(header_section(bounce.original));
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// Sends a bounce for `bounce.failures` to `bounce.envelope_from`: into the INBOX when the
/// sender is local, queued with the null reverse-path when foreign, nothing when the failed
/// message was itself a bounce.
///
/// Errors: store failures.
pub async fn send_bounce(
    store: &Store,
    bounce: &Bounce<'_>,
) -> Result<BounceOutcome, DeliveryError> {
    if bounce.envelope_from.is_empty() || bounce.failures.is_empty() {
        return Ok(BounceOutcome::Suppressed);
    }
    let report = build_dsn(bounce);
    match store.resolve_recipient(bounce.envelope_from).await? {
        Resolution::NoSuchDomain => {
            let sealed = crate::crypto::put_sealed(store, &report).await?;
            let message_key = sealed
                .wrap_for_organization(store, bounce.organization_id)
                .await?;
            let now = carillon_core::time::now_millis();
            let lifetime = i64::try_from(bounce.queue_lifetime.as_millis()).unwrap_or(i64::MAX);
            store
                .enqueue_outbound(&[NewOutbound {
                    organization_id: bounce.organization_id.to_string(),
                    envelope_from: String::new(),
                    recipient: bounce.envelope_from.to_string(),
                    blob_key: sealed.key.clone(),
                    next_attempt_at: now,
                    expires_at: now.saturating_add(lifetime),
                    gateway_id: None,
                    message_key: Some(message_key),
                }])
                .await?;
            Ok(BounceOutcome::Queued)
        }
        _ => {
            let mut message = b"Return-Path: <>\r\n".to_vec();
            message.extend_from_slice(&report);
            let envelope = Envelope {
                mail_from: String::new(),
                recipients: vec![bounce.envelope_from.to_string()],
            };
            let outcome = deliver_inbound(store, &envelope, Bytes::from(message)).await?;
            Ok(if outcome.accepted() {
                BounceOutcome::Delivered
            } else {
                BounceOutcome::Undeliverable
            })
        }
    }
}

/// The header section of a raw message (up to the first empty line), CRLF-terminated.
fn header_section(message: &[u8]) -> &[u8] {
    let crlf = find(message, b"\r\n\r\n").map(|i| i + 2);
    let lf = find(message, b"\n\n").map(|i| i + 1);
    let end = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => message.len(),
    };
    &message[..end]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A diagnostic on one line (a multi-line SMTP reply joined), safe inside a header field.
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

    #[test]
    fn report_has_the_rfc3464_parts() {
        let failures = [FailedRecipient {
            recipient: "bob@remote.test".to_string(),
            status: "5.1.1".to_string(),
            diagnostic: "550 5.1.1 no such user\r\n".to_string(),
            remote_mta: Some("mx.remote.test".to_string()),
        }];
        let bounce = Bounce {
            reporting_mta: "mail.local.test",
            organization_id: "m-1",
            envelope_from: "alice@local.test",
            arrival_date: 0,
            failures: &failures,
            original: b"Subject: hi\r\nFrom: alice@local.test\r\n\r\nbody line\r\n",
            queue_lifetime: Duration::from_secs(60),
        };
        let dsn = String::from_utf8(build_dsn(&bounce)).unwrap();
        assert!(dsn.contains("Content-Type: multipart/report; report-type=delivery-status;"));
        assert!(dsn.contains(
            "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.local.test\r\n"
        ));
        assert!(dsn.contains("Final-Recipient: rfc822; bob@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.remote.test\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n"));
        assert!(dsn.contains("Content-Type: text/rfc822-headers\r\n\r\nSubject: hi\r\nFrom: alice@local.test\r\n\r\n--dsn-"));
        assert!(!dsn.contains("body line"));
        assert!(dsn.ends_with("--\r\n"));
    }

    #[test]
    fn header_section_stops_at_the_first_empty_line() {
        assert_eq!(
            header_section(b"A: 1\r\nB: 2\r\n\r\nx\r\n\r\n"),
            b"A: 1\r\nB: 2\r\n"
        );
        assert_eq!(header_section(b"A: 1\nB: 2\n\nx"), b"A: 1\nB: 2\n");
        assert_eq!(header_section(b"A: 1"), b"A: 1");
    }
}
