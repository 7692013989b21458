//! One SMTP session (RFC 5321) on the inbound (MX) or the submission (RFC 6409) listener.
//!
//! Commands are parsed with `smtp-proto`; replies carry RFC 3463 enhanced status codes.
//! Replies are buffered and flushed when no pipelined command is waiting (RFC 2920). Memory
//! per session is bounded: command lines by [`MAX_COMMAND_LINE`], message data by the
//! configured maximum size.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use carillon_mail::audit;
use carillon_mail::auth::MailUser;
use carillon_mail::authentication::DmarcDisposition;
use carillon_mail::delivery::{
    self, Bounce, DeliveryError, DeliveryOutcome, Envelope, FailedRecipient, RecipientCheck,
    RecipientStatus,
};
use carillon_net::{Conn, Handshake, Io};
use carillon_store::Store;
use smtp_proto::{
    Error as ParseError, MailFrom, RcptTo, Request, Response, AUTH_LOGIN, AUTH_PLAIN,
    MAIL_BODY_BINARYMIME,
};
use tokio::io::{AsyncBufRead, AsyncWriteExt, BufReader};

use crate::stream::{read_data, read_line, skip_line, Line};
use crate::{SmtpConfig, DEFAULT_QUEUE_LIFETIME};

/// Longest command line accepted, CRLF included (RFC 5321 §4.5.3.1.4 allows 512; extensions
/// such as SMTPUTF8 addresses and AUTH initial responses need more).
pub(crate) const MAX_COMMAND_LINE: usize = 4096;

/// Idle time allowed while waiting for a command (RFC 5321 §4.5.3.2.7: 5 minutes).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// Time allowed to receive the whole DATA content (RFC 5321 §4.5.3.2: 3 min per block,
/// 10 min for the terminator; one overall bound keeps slow-drip clients from holding on).
const DATA_TIMEOUT: Duration = Duration::from_secs(600);

/// Time allowed for a TLS handshake after STARTTLS, and for writing replies.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Protocol errors (bad commands, failed AUTH) after which the session is closed.
const MAX_ERRORS: u32 = 20;

/// Failed AUTH attempts after which the session is closed.
const MAX_AUTH_FAILURES: u32 = 3;

/// Which listener a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// MX: mail for local domains from anyone, never relayed.
    Inbound,
    /// Submission: STARTTLS and AUTH before MAIL; local and foreign recipients.
    Submission,
}

/// What a session is given by its listener.
pub(crate) struct Shared<H> {
    pub store: Store,
    pub config: SmtpConfig,
    /// The STARTTLS handshake.
    pub tls: Arc<H>,
    pub role: Role,
}

struct Transaction {
    mail_from: String,
    declared_size: usize,
    recipients: Vec<String>,
}

enum Flow {
    Continue,
    Close,
}

pub(crate) struct Session<S, H: Handshake<S>> {
    shared: Shared<H>,
    peer: SocketAddr,
    io: BufReader<Conn<S, H>>,
    out: Vec<u8>,
    helo: Option<String>,
    esmtp: bool,
    user: Option<MailUser>,
    transaction: Option<Transaction>,
    errors: u32,
    auth_failures: u32,
}

impl<S: Io, H: Handshake<S>> Session<S, H> {
    /// A session on a plain connection from `peer`.
    pub(crate) fn new(shared: Shared<H>, stream: S, peer: SocketAddr) -> Session<S, H> {
        let conn = Conn::new(stream, shared.tls.clone());
        Session {
            shared,
            peer,
            io: BufReader::new(conn),
            out: Vec::with_capacity(1024),
            helo: None,
            esmtp: false,
            user: None,
            transaction: None,
            errors: 0,
            auth_failures: 0,
        }
    }

    /// Runs the session to its end (QUIT, disconnect, timeout, too many errors).
    pub(crate) async fn run(mut self) -> std::io::Result<()> {
        let greeting = format!("{} ESMTP Carillon", self.shared.config.hostname);
        self.reply(220, None, &greeting);
        loop {
            if self.io.buffer().is_empty() {
                self.flush().await?;
            }
            let mut line = Vec::with_capacity(128);
            let status = match tokio::time::timeout(
                COMMAND_TIMEOUT,
                read_line(&mut self.io, &mut line, MAX_COMMAND_LINE),
            )
            .await
            {
                Ok(status) => status?,
                Err(_) => {
                    self.reply(421, Some([4, 4, 2]), "Idle timeout, closing connection");
                    return self.flush().await;
                }
            };
            let flow = match status {
                Line::Eof => return Ok(()),
                Line::Partial => {
                    if !skip_line(&mut self.io).await? {
                        return Ok(());
                    }
                    self.error(500, [5, 5, 2], "Line too long");
                    Flow::Continue
                }
                Line::Complete => self.command(&line).await?,
            };
            if matches!(flow, Flow::Close) {
                return self.flush().await;
            }
            if self.errors >= MAX_ERRORS || self.auth_failures >= MAX_AUTH_FAILURES {
                self.reply(421, Some([4, 7, 0]), "Too many errors, closing connection");
                return self.flush().await;
            }
        }
    }

    async fn command(&mut self, line: &[u8]) -> std::io::Result<Flow> {
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request.into_owned(),
            Err(e) => {
                self.parse_error(e);
                return Ok(Flow::Continue);
            }
        };
        match request {
            Request::Ehlo { host } => self.hello(host, true),
            Request::Helo { host } => self.hello(host, false),
            Request::Mail { from } => self.mail(from),
            Request::Rcpt { to } => self.rcpt(to).await,
            Request::Data => self.data().await?,
            Request::Rset => {
                self.transaction = None;
                self.reply(250, Some([2, 0, 0]), "OK");
            }
            Request::Noop { .. } => self.reply(250, Some([2, 0, 0]), "OK"),
            Request::Vrfy { .. } => self.reply(
                252,
                Some([2, 5, 2]),
                "Cannot VRFY user, but will accept message and attempt delivery",
            ),
            Request::Help { .. } => self.reply(
                214,
                Some([2, 0, 0]),
                "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
            ),
            Request::Quit => {
                self.reply(221, Some([2, 0, 0]), "Bye");
                return Ok(Flow::Close);
            }
            Request::StartTls => return self.starttls().await,
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response).await?,
            Request::Expn { .. }
            | Request::Lhlo { .. }
            | Request::Bdat { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.error(502, [5, 5, 1], "Command not implemented"),
        }
        Ok(Flow::Continue)
    }

    fn parse_error(&mut self, error: ParseError) {
        match error {
            ParseError::UnknownCommand => self.error(500, [5, 5, 1], "Unrecognized command"),
            ParseError::InvalidSenderAddress => {
                self.error(501, [5, 1, 7], "Bad sender address syntax")
            }
            ParseError::InvalidRecipientAddress => {
                self.error(501, [5, 1, 3], "Bad recipient address syntax")
            }
            ParseError::SyntaxError { syntax } => {
                self.error(501, [5, 5, 2], &format!("Syntax: {syntax}"))
            }
            ParseError::InvalidParameter { param } => {
                self.error(501, [5, 5, 4], &format!("Invalid parameter {param}"))
            }
            ParseError::UnsupportedParameter { param } => {
                let param: String = param.chars().filter(|c| !c.is_control()).take(64).collect();
                self.error(555, [5, 5, 4], &format!("Unsupported parameter {param}"))
            }
            ParseError::NeedsMoreData { .. }
            | ParseError::ResponseTooLong
            | ParseError::InvalidResponse { .. } => self.error(500, [5, 5, 2], "Syntax error"),
        }
    }

    fn hello(&mut self, host: String, extended: bool) {
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
            self.reply(250, None, &first);
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

    fn mail(&mut self, from: MailFrom<String>) {
        if self.helo.is_none() {
            return self.error(503, [5, 5, 1], "Send EHLO or HELO first");
        }
        if self.transaction.is_some() {
            return self.error(503, [5, 5, 1], "Nested MAIL command");
        }
        if self.shared.role == Role::Submission {
            if !self.tls() {
                return self.error(530, [5, 7, 0], "Must issue a STARTTLS command first");
            }
            if self.user.is_none() {
                return self.error(530, [5, 7, 0], "Authentication required");
            }
        }
        if from.size > self.shared.config.max_message_size {
            return self.reply(
                552,
                Some([5, 3, 4]),
                "Message size exceeds fixed maximum message size",
            );
        }
        if from.flags & MAIL_BODY_BINARYMIME != 0 {
            return self.error(555, [5, 5, 4], "BODY=BINARYMIME is not supported");
        }
        if let Some(user) = &self.user {
            if !delivery::sender_is_owned(user, &from.address) {
                return self.reply(
                    553,
                    Some([5, 7, 1]),
                    "Sender address is not one of your addresses",
                );
            }
        }
        self.transaction = Some(Transaction {
            mail_from: from.address,
            declared_size: from.size,
            recipients: Vec::new(),
        });
        self.reply(250, Some([2, 1, 0]), "OK");
    }

    async fn rcpt(&mut self, to: RcptTo<String>) {
        let Some(transaction) = &self.transaction else {
            return self.error(503, [5, 5, 1], "Send MAIL first");
        };
        if transaction.recipients.len() >= self.shared.config.max_recipients {
            return self.reply(452, Some([4, 5, 3]), "Too many recipients");
        }
        let address = to.address;
        if address.is_empty() || !address.contains('@') {
            return self.error(501, [5, 1, 3], "Bad recipient address syntax");
        }
        if transaction
            .recipients
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&address))
        {
            return self.reply(250, Some([2, 1, 5]), "OK");
        }
        let declared = transaction.declared_size;
        let check = delivery::check_recipient(&self.shared.store, &address, declared).await;
        match check {
            Ok(RecipientCheck::Local(_)) => self.accept_recipient(address),
            Ok(RecipientCheck::Foreign) if self.shared.role == Role::Submission => {
                self.accept_recipient(address)
            }
            Ok(RecipientCheck::Foreign) => self.reply(554, Some([5, 7, 1]), "Relay access denied"),
            Ok(RecipientCheck::NoSuchAddress) => {
                self.record_refusal(&address, RecipientStatus::NoSuchAddress)
                    .await;
                self.reply(
                    550,
                    Some([5, 1, 1]),
                    "Recipient address rejected: user unknown",
                )
            }
            Ok(RecipientCheck::OverQuota) => {
                self.record_refusal(&address, RecipientStatus::OverQuota)
                    .await;
                self.reply(552, Some([5, 2, 2]), "Mailbox full")
            }
            Err(e) => {
                tracing::error!(error = %e, "recipient lookup failed");
                self.reply(451, Some([4, 3, 0]), "Temporary lookup failure")
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
        self.reply(250, Some([2, 1, 5]), "OK");
    }

    async fn data(&mut self) -> std::io::Result<()> {
        match &self.transaction {
            None => {
                self.error(503, [5, 5, 1], "Send MAIL first");
                return Ok(());
            }
            Some(t) if t.recipients.is_empty() => {
                self.error(554, [5, 5, 1], "No valid recipients");
                return Ok(());
            }
            Some(_) => {}
        }
        self.out
            .extend_from_slice(b"354 Start mail input; end with <CRLF>.<CRLF>\r\n");
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
                self.reply(421, Some([4, 4, 2]), "Timeout reading message data");
                self.flush().await?;
                return Err(std::io::ErrorKind::TimedOut.into());
            }
        };
        let Some(transaction) = self.transaction.take() else {
            return Ok(());
        };
        if body.oversize {
            self.reply(
                552,
                Some([5, 3, 4]),
                "Message size exceeds fixed maximum message size",
            );
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
                self.reply(250, Some([2, 0, 0]), &format!("OK: queued as {id}"));
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
                    self.reply(
                        550,
                        Some([5, 7, 1]),
                        "Message rejected by the sender domain's DMARC policy",
                    );
                } else if outcome
                    .with_status(RecipientStatus::OverQuota)
                    .next()
                    .is_some()
                {
                    self.reply(552, Some([5, 2, 2]), "Mailbox full");
                } else {
                    self.reply(550, Some([5, 1, 1]), "No deliverable recipient");
                }
            }
            Err(DeliveryError::MessageTooLarge) => self.reply(
                552,
                Some([5, 3, 4]),
                "Message size exceeds fixed maximum message size",
            ),
            Err(DeliveryError::TooManyRecipients) => {
                self.reply(452, Some([4, 5, 3]), "Too many recipients")
            }
            Err(DeliveryError::SenderNotOwned(_)) => self.reply(
                553,
                Some([5, 7, 1]),
                "Sender address is not one of your addresses",
            ),
            Err(DeliveryError::Store(e)) => {
                tracing::error!(id, error = %e, "delivery failed");
                self.reply(451, Some([4, 3, 0]), "Temporary failure, try again later");
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

    /// Whether the connection is encrypted (after STARTTLS).
    fn tls(&self) -> bool {
        self.io.get_ref().is_tls()
    }

    async fn starttls(&mut self) -> std::io::Result<Flow> {
        if self.tls() {
            self.error(503, [5, 5, 1], "TLS already active");
            return Ok(Flow::Continue);
        }
        self.reply(220, Some([2, 0, 0]), "Ready to start TLS");
        self.flush().await?;
        // Anything pipelined after STARTTLS is discarded (RFC 3207 §4.2).
        let buffered = self.io.buffer().len();
        std::pin::Pin::new(&mut self.io).consume(buffered);
        if let Err(e) = self.io.get_mut().start_tls().await {
            tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
            return Err(e);
        }
        self.helo = None;
        self.esmtp = false;
        self.transaction = None;
        Ok(Flow::Continue)
    }

    async fn auth(&mut self, mechanism: u64, initial: String) -> std::io::Result<()> {
        if self.shared.role != Role::Submission {
            self.error(
                502,
                [5, 5, 1],
                "AUTH is only offered on the submission port",
            );
            return Ok(());
        }
        if !self.tls() {
            self.error(
                538,
                [5, 7, 11],
                "Encryption required for requested authentication mechanism",
            );
            return Ok(());
        }
        if self.user.is_some() {
            self.error(503, [5, 5, 1], "Already authenticated");
            return Ok(());
        }
        if self.transaction.is_some() {
            self.error(503, [5, 5, 1], "AUTH not allowed during a mail transaction");
            return Ok(());
        }
        let credentials = match mechanism {
            AUTH_PLAIN => {
                let response = match self.sasl_response(&initial, "").await? {
                    Some(r) => r,
                    None => return Ok(()),
                };
                let parts: Vec<&[u8]> = response.split(|&b| b == 0).collect();
                match parts.as_slice() {
                    [authzid, authcid, password] if authzid.is_empty() || authzid == authcid => {
                        Some((lossy(authcid), lossy(password)))
                    }
                    _ => None,
                }
            }
            AUTH_LOGIN => {
                let Some(login) = self.sasl_response(&initial, "VXNlcm5hbWU6").await? else {
                    return Ok(());
                };
                let Some(password) = self.sasl_response("", "UGFzc3dvcmQ6").await? else {
                    return Ok(());
                };
                Some((lossy(&login), lossy(&password)))
            }
            _ => {
                self.error(504, [5, 5, 4], "Unrecognized authentication type");
                return Ok(());
            }
        };
        let Some((login, password)) = credentials else {
            self.auth_failures += 1;
            self.error(501, [5, 5, 2], "Malformed SASL response");
            return Ok(());
        };
        let client = audit::ClientInfo {
            protocol: "SMTP",
            source_ip: self.peer.ip(),
            user_agent: None,
        };
        match carillon_mail::auth::authenticate(&self.shared.store, &login, &password, &client)
            .await
        {
            Ok(Some(user)) => {
                tracing::info!(peer = %self.peer, user = %user.email, "SMTP AUTH succeeded");
                self.user = Some(user);
                self.reply(235, Some([2, 7, 0]), "Authentication successful");
            }
            Ok(None) => {
                self.auth_failures += 1;
                tracing::info!(peer = %self.peer, "SMTP AUTH failed");
                self.reply(535, Some([5, 7, 8]), "Authentication credentials invalid");
            }
            Err(e) => {
                tracing::error!(error = %e, "SMTP AUTH lookup failed");
                self.reply(454, Some([4, 7, 0]), "Temporary authentication failure");
            }
        }
        Ok(())
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

    /// One SASL response: `initial` when the client sent it with AUTH, else read after a
    /// `334 <challenge>`. `Ok(None)` when the exchange ended (cancelled, malformed: the
    /// reply is already queued).
    async fn sasl_response(
        &mut self,
        initial: &str,
        challenge: &str,
    ) -> std::io::Result<Option<Vec<u8>>> {
        let encoded = if !initial.is_empty() {
            initial.to_string()
        } else {
            self.out
                .extend_from_slice(format!("334 {challenge}\r\n").as_bytes());
            self.flush().await?;
            let mut line = Vec::with_capacity(128);
            let status = tokio::time::timeout(
                COMMAND_TIMEOUT,
                read_line(&mut self.io, &mut line, MAX_COMMAND_LINE),
            )
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            match status {
                Line::Complete => {}
                Line::Eof => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Line::Partial => {
                    skip_line(&mut self.io).await?;
                    self.error(500, [5, 5, 6], "Authentication exchange line too long");
                    return Ok(None);
                }
            }
            String::from_utf8_lossy(&line).trim_end().to_string()
        };
        if encoded == "*" {
            self.error(501, [5, 0, 0], "Authentication cancelled");
            return Ok(None);
        }
        if encoded == "=" {
            return Ok(Some(Vec::new()));
        }
        match base64::engine::general_purpose::STANDARD.decode(encoded.as_bytes()) {
            Ok(decoded) => Ok(Some(decoded)),
            Err(_) => {
                self.auth_failures += 1;
                self.error(501, [5, 5, 2], "Invalid base64 in SASL response");
                Ok(None)
            }
        }
    }

    fn reply(&mut self, code: u16, esc: Option<[u8; 3]>, message: &str) {
        match esc {
            Some([a, b, c]) => {
                // Writing into a Vec cannot fail.
                let _ = Response::new(code, a, b, c, message).write(&mut self.out);
            }
            None => self
                .out
                .extend_from_slice(format!("{code} {message}\r\n").as_bytes()),
        }
    }

    fn error(&mut self, code: u16, esc: [u8; 3], message: &str) {
        self.errors += 1;
        self.reply(code, Some(esc), message);
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let io = self.io.get_mut();
        tokio::time::timeout(IO_TIMEOUT, async {
            io.write_all(&out).await?;
            io.flush().await
        })
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        self.out = out;
        self.out.clear();
        Ok(())
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
