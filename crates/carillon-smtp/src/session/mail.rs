//! MAIL (RFC 5321 §4.1.1.2): opens a transaction, with the submission role's TLS, AUTH and
//! owned-sender requirements (RFC 6409) and the declared size (RFC 1870).

use carillon_mail::delivery;
use carillon_net::{Handshake, Io};
use smtp_proto::{MailFrom, MAIL_BODY_BINARYMIME};

use super::{replies, Role, Session, Transaction};

impl<S: Io, H: Handshake<S>> Session<S, H> {
    pub(super) fn mail(&mut self, from: MailFrom<String>) {
        if self.helo.is_none() {
            return self.error(replies::HELLO_FIRST);
        }
        if self.transaction.is_some() {
            return self.error(replies::NESTED_MAIL);
        }
        if self.shared.role == Role::Submission {
            if !self.tls() {
                return self.error(replies::STARTTLS_FIRST);
            }
            if self.user.is_none() {
                return self.error(replies::AUTHENTICATION_REQUIRED);
            }
        }
        if from.size > self.shared.config.max_message_size {
            return self.reply(replies::SIZE_EXCEEDED);
        }
        if from.flags & MAIL_BODY_BINARYMIME != 0 {
            return self.error(replies::BINARYMIME_UNSUPPORTED);
        }
        if let Some(user) = &self.user {
            if !delivery::sender_is_owned(user, &from.address) {
                return self.reply(replies::SENDER_NOT_OWNED);
            }
        }
        self.transaction = Some(Transaction {
            mail_from: from.address,
            declared_size: from.size,
            recipients: Vec::new(),
        });
        self.reply(replies::SENDER_OK);
    }
}
