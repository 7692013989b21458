//! EHLO and HELO (RFC 5321 §4.1.1.1): the client names itself, the server its extensions.

use carillon_net::{Handshake, Io};

use super::replies;
use super::{Role, Session};

impl<S: Io, H: Handshake<S>> Session<S, H> {
    pub(super) fn hello(&mut self, host: String, extended: bool) {
        // Only what is safe inside the Received header's comment-free `from` clause.
        let host: String = host
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-._:[]".contains(*c))
            .take(255)
            .collect();
        let host = if host.is_empty() {
            "unknown".to_string()
        } else {
            host
        };
        self.transaction = None;
        self.esmtp = extended;
        let hostname = &self.shared.config.hostname;
        let first = format!("{hostname} Hello {host} [{}]", self.peer.ip());
        self.helo = Some(host);
        if !extended {
            self.reply(replies::hello(first));
            return;
        }
        let mut lines = vec![
            first,
            "PIPELINING".to_string(),
            format!("SIZE {}", self.shared.config.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        if !self.tls() {
            lines.push("STARTTLS".to_string());
        }
        if self.shared.role == Role::Submission && self.tls() && self.user.is_none() {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        lines.push("HELP".to_string());
        let last = lines.len() - 1;
        for (i, line) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            self.out
                .extend_from_slice(format!("250{sep}{line}\r\n").as_bytes());
        }
    }
}
