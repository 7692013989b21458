//! DATA (RFC 5321 §4.1.1.4): the message read to its terminator, the trace headers, sender
//! authentication on the MX path, delivery or submission, and what follows acceptance
//! (audit record, bounces of recipients whose mailbox filled meanwhile).

use bytes::Bytes;
use carillon_mail::audit;
use carillon_mail::delivery::{
    self, Bounce, DeliveryError, DeliveryOutcome, Envelope, FailedRecipient, RecipientStatus,
};
use carillon_mail::login::MailUser;
use carillon_mail::sender_authentication::DmarcDisposition;
use carillon_net::{Handshake, Io};

use super::{replies, Role, Session, Transaction, DATA_TIMEOUT};
use crate::stream::read_data;
use crate::DEFAULT_QUEUE_LIFETIME;

impl<S: Io, H: Handshake<S>> Session<S, H> {
    pub(super) async fn data(&mut self) -> std::io::Result<()> {
        match &self.transaction {
            None => {
                self.error(replies::MAIL_FIRST);
                return Ok(());
            }
            Some(t) if t.recipients.is_empty() => {
                self.error(replies::NO_VALID_RECIPIENTS);
                return Ok(());
            }
            Some(_) => {}
        }
        self.reply(replies::START_MAIL_INPUT);
        self.flush().await?;
        let limit = self.shared.config.max_message_size;
        let id = carillon_core::ids::new_uuid().replace('-', "");
        let trace = match &self.transaction {
            Some(transaction) => self.trace_headers(transaction, &id),
            None => Vec::new(),
        };
        let trace_len = trace.len();
        let reading = read_data(&mut self.io, trace, limit);
        let body = match tokio::time::timeout(DATA_TIMEOUT, reading).await {
            Ok(body) => body?,
            Err(_) => {
                self.reply(replies::DATA_TIMEOUT);
                self.flush().await?;
                return Err(std::io::ErrorKind::TimedOut.into());
            }
        };
        let Some(transaction) = self.transaction.take() else {
            return Ok(());
        };
        if body.oversize {
            self.reply(replies::SIZE_EXCEEDED);
            return Ok(());
        }
        let envelope = Envelope {
            mail_from: transaction.mail_from,
            recipients: transaction.recipients,
        };
        let (dmarc, body) = self
            .authenticate_sender(&envelope, trace_len, body.bytes)
            .await;
        let message = Bytes::from(body);
        let store = &self.shared.store;
        let result = match (&self.user, self.shared.role) {
            (Some(user), Role::Submission) => {
                delivery::submit(
                    store,
                    user,
                    &envelope,
                    message.clone(),
                    DEFAULT_QUEUE_LIFETIME,
                )
                .await
            }
            _ => {
                delivery::deliver_inbound_authenticated(store, &envelope, message.clone(), dmarc)
                    .await
            }
        };
        match result {
            Ok(outcome) if outcome.accepted() => {
                tracing::info!(
                    id,
                    peer = %self.peer,
                    mail_from = %envelope.mail_from,
                    recipients = envelope.recipients.len(),
                    size = message.len(),
                    "message accepted"
                );
                self.reply(replies::queued(&id));
                if let (Some(user), Some(blob_key)) = (&self.user, &outcome.blob_key) {
                    self.audit_submission(user, blob_key).await;
                }
                self.bounce_over_quota(&envelope, &outcome, &message).await;
            }
            Ok(outcome) => {
                if outcome
                    .with_status(RecipientStatus::DmarcRejected)
                    .next()
                    .is_some()
                {
                    self.reply(replies::DMARC_REJECTED);
                } else if outcome
                    .with_status(RecipientStatus::OverQuota)
                    .next()
                    .is_some()
                {
                    self.reply(replies::MAILBOX_FULL);
                } else {
                    self.reply(replies::NO_DELIVERABLE_RECIPIENT);
                }
            }
            Err(DeliveryError::MessageTooLarge) => self.reply(replies::SIZE_EXCEEDED),
            Err(DeliveryError::TooManyRecipients) => self.reply(replies::TOO_MANY_RECIPIENTS),
            Err(DeliveryError::SenderNotOwned(_)) => self.reply(replies::SENDER_NOT_OWNED),
            Err(DeliveryError::Store(e)) => {
                tracing::error!(id, error = %e, "delivery failed");
                self.reply(replies::TEMPORARY_FAILURE);
            }
        }
        Ok(())
    }

    /// Evaluates SPF, DKIM, ARC and DMARC for mail received on the MX path (not for
    /// authenticated submission, nor when the listener has no authenticator) and prepends the
    /// `Authentication-Results` trace header to `message` (whose first `trace_len` bytes are
    /// Carillon's `Return-Path`/`Received`). Returns the DMARC disposition delivery applies.
    /// Spec: workmail.md §2.25.
    async fn authenticate_sender(
        &self,
        envelope: &Envelope,
        trace_len: usize,
        message: Vec<u8>,
    ) -> (DmarcDisposition, Vec<u8>) {
        let Some(authenticator) = &self.shared.config.sender_authentication else {
            return (DmarcDisposition::Deliver, message);
        };
        if self.user.is_some() {
            return (DmarcDisposition::Deliver, message);
        }
        let received = message.get(trace_len..).unwrap_or_default();
        let helo = self.helo.as_deref().unwrap_or("unknown");
        let verdict = authenticator
            .evaluate(self.peer.ip(), helo, &envelope.mail_from, received)
            .await;
        let mut authenticated = verdict.header.into_bytes();
        authenticated.extend_from_slice(&message);
        (verdict.disposition, authenticated)
    }

    /// The documented trace headers prepended to every received message:
    ///
    /// ```text
    /// Return-Path: <mail-from>
    /// Received: from <helo> ([<client ip>])
    ///         by <hostname> with <ESMTP|ESMTPS|ESMTPSA|SMTP> id <id>
    ///         for <rcpt>; <RFC 5322 date>
    /// ```
    ///
    /// (`for` only with a single recipient; the protocol names are RFC 3848's.)
    fn trace_headers(&self, transaction: &Transaction, id: &str) -> Vec<u8> {
        let mut protocol = String::from(if self.esmtp { "ESMTP" } else { "SMTP" });
        if self.esmtp && self.tls() {
            protocol.push('S');
        }
        if self.esmtp && self.user.is_some() {
            protocol.push('A');
        }
        let helo = self.helo.as_deref().unwrap_or("unknown");
        let for_clause = match transaction.recipients.as_slice() {
            [only] => format!("\r\n\tfor <{only}>"),
            _ => String::new(),
        };
        format!(
            "Return-Path: <{}>\r\nReceived: from {helo} ([{}])\r\n\tby {} with {protocol} id {id}{for_clause};\r\n\t{}\r\n",
            transaction.mail_from,
            self.peer.ip(),
            self.shared.config.hostname,
            chrono::Utc::now().to_rfc2822(),
        )
        .into_bytes()
    }

    /// Recipients that were accepted at RCPT time but whose mailboxes filled up before the
    /// data arrived get a DSN (the message was accepted for the others).
    async fn bounce_over_quota(
        &self,
        envelope: &Envelope,
        outcome: &DeliveryOutcome,
        message: &[u8],
    ) {
        let failures: Vec<FailedRecipient> = outcome
            .with_status(RecipientStatus::OverQuota)
            .map(|recipient| FailedRecipient {
                recipient: recipient.to_string(),
                status: "5.2.2".to_string(),
                diagnostic: "mailbox full".to_string(),
                remote_mta: None,
            })
            .collect();
        if failures.is_empty() {
            return;
        }
        let organization_id = match &self.user {
            Some(user) => user.organization_id.clone(),
            None => self.organization_of(&failures[0].recipient).await,
        };
        let bounce = Bounce {
            reporting_mta: &self.shared.config.hostname,
            organization_id: &organization_id,
            envelope_from: &envelope.mail_from,
            arrival_date: carillon_core::time::now_millis(),
            failures: &failures,
            original: message,
            queue_lifetime: DEFAULT_QUEUE_LIFETIME,
        };
        if let Err(e) = delivery::send_bounce(&self.shared.store, &bounce).await {
            tracing::error!(error = %e, "could not send a bounce for over-quota recipients");
        }
    }

    /// The organization a local recipient belongs to (charged with a queued bounce).
    async fn organization_of(&self, recipient: &str) -> String {
        match self.shared.store.resolve_recipient(recipient).await {
            Ok(carillon_store::Resolution::Mailboxes(m)) if !m.is_empty() => {
                m[0].organization_id.clone()
            }
            _ => String::new(),
        }
    }

    /// The `submit_email_for_sending` mailbox-access record of a message `user` submitted,
    /// stored as `blob_key` (its item ID is the message's trace ID). Spec: workmail.md §4.2.
    async fn audit_submission(&self, user: &MailUser, blob_key: &str) {
        let client = audit::ClientInfo {
            protocol: "SMTP",
            source_ip: self.peer.ip(),
            user_agent: None,
        };
        let item = audit::MailboxItem {
            object_type: audit::ObjectType::Message,
            item_id: carillon_mail::events::trace_id(blob_key).to_string(),
            folder_path: delivery::SENT_ITEMS.to_string(),
            folder_id: String::new(),
        };
        let records = audit::mailbox_records(
            &client,
            &user.user_id,
            &user.user_id,
            audit::MailboxAction::SubmitEmailForSending,
            &[item],
            true,
        );
        audit::emit(&self.shared.store, &user.organization_id, records).await;
    }
}
