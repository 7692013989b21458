//! RCPT (RFC 5321 §4.1.1.3): each recipient checked by the delivery pipeline (local, foreign,
//! unknown, over quota) as it is named.

use carillon_mail::delivery::{self, Envelope, RecipientCheck, RecipientStatus};
use carillon_net::{Handshake, Io};
use smtp_proto::RcptTo;

use super::{replies, Role, Session};

impl<S: Io, H: Handshake<S>> Session<S, H> {
    pub(super) async fn rcpt(&mut self, to: RcptTo<String>) {
        let Some(transaction) = &self.transaction else {
            return self.error(replies::MAIL_FIRST);
        };
        if transaction.recipients.len() >= self.shared.config.max_recipients {
            return self.reply(replies::TOO_MANY_RECIPIENTS);
        }
        let address = to.address;
        if address.is_empty() || !address.contains('@') {
            return self.error(replies::BAD_RECIPIENT_SYNTAX);
        }
        if transaction
            .recipients
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&address))
        {
            return self.reply(replies::RECIPIENT_OK);
        }
        let declared = transaction.declared_size;
        let check = delivery::check_recipient(&self.shared.store, &address, declared).await;
        match check {
            Ok(RecipientCheck::Local(_)) => self.accept_recipient(address),
            Ok(RecipientCheck::Foreign) if self.shared.role == Role::Submission => {
                self.accept_recipient(address)
            }
            Ok(RecipientCheck::Foreign) => self.reply(replies::RELAY_DENIED),
            Ok(RecipientCheck::NoSuchAddress) => {
                self.record_refusal(&address, RecipientStatus::NoSuchAddress)
                    .await;
                self.reply(replies::USER_UNKNOWN)
            }
            Ok(RecipientCheck::OverQuota) => {
                self.record_refusal(&address, RecipientStatus::OverQuota)
                    .await;
                self.reply(replies::MAILBOX_FULL)
            }
            Err(e) => {
                tracing::error!(error = %e, "recipient lookup failed");
                self.reply(replies::LOOKUP_FAILED)
            }
        }
    }

    /// The MX role's refusals are WorkMail's incoming bounces (metric and event log).
    async fn record_refusal(&self, address: &str, status: RecipientStatus) {
        if self.shared.role != Role::Inbound {
            return;
        }
        let envelope = Envelope {
            mail_from: self
                .transaction
                .as_ref()
                .map(|t| t.mail_from.clone())
                .unwrap_or_default(),
            recipients: vec![address.to_string()],
        };
        delivery::record_refused_recipient(&self.shared.store, &envelope, address, status).await;
    }

    fn accept_recipient(&mut self, address: String) {
        if let Some(transaction) = &mut self.transaction {
            transaction.recipients.push(address);
        }
        self.reply(replies::RECIPIENT_OK);
    }
}
