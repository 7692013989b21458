//! One SMTP session (RFC 5321) on the inbound (MX) or the submission (RFC 6409) listener.
//!
//! Commands are parsed with `smtp-proto`; replies carry RFC 3463 enhanced status codes.
//! Replies are buffered and flushed when no pipelined command is waiting (RFC 2920). Memory
//! per session is bounded: command lines by [`MAX_COMMAND_LINE`], message data by the
//! configured maximum size.
//!
//! This module owns the session core: its state, the command loop and dispatch, STARTTLS
//! (RFC 3207), the simple commands (RSET, NOOP, VRFY, HELP, QUIT) and the writing of
//! replies. Each command with rules of its own has a module: `ehlo` (EHLO/HELO), `mail`,
//! `rcpt`, `data` (DATA, trace headers, sender authentication, what follows acceptance) and
//! `auth` (AUTH PLAIN/LOGIN); `replies` holds every reply the session sends.

mod auth;
mod data;
mod ehlo;
mod mail;
mod rcpt;
pub(crate) mod replies;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use carillon_mail::login::MailUser;
use carillon_net::{Conn, Handshake, Io};
use carillon_store::Store;
use smtp_proto::{Error as ParseError, Request};
use tokio::io::{AsyncBufRead, AsyncWriteExt, BufReader};

use self::replies::Reply;
use crate::stream::{read_line, skip_line, Line};
use crate::SmtpConfig;

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
        self.reply(replies::greeting(&self.shared.config.hostname));
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
                    self.reply(replies::IDLE_TIMEOUT);
                    return self.flush().await;
                }
            };
            let flow = match status {
                Line::Eof => return Ok(()),
                Line::Partial => {
                    if !skip_line(&mut self.io).await? {
                        return Ok(());
                    }
                    self.error(replies::LINE_TOO_LONG);
                    Flow::Continue
                }
                Line::Complete => self.command(&line).await?,
            };
            if matches!(flow, Flow::Close) {
                return self.flush().await;
            }
            if self.errors >= MAX_ERRORS || self.auth_failures >= MAX_AUTH_FAILURES {
                self.reply(replies::TOO_MANY_ERRORS);
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
                self.reply(replies::OK);
            }
            Request::Noop { .. } => self.reply(replies::OK),
            Request::Vrfy { .. } => self.reply(replies::CANNOT_VRFY),
            Request::Help { .. } => self.reply(replies::HELP),
            Request::Quit => {
                self.reply(replies::BYE);
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
            | Request::Burl { .. } => self.error(replies::NOT_IMPLEMENTED),
        }
        Ok(Flow::Continue)
    }

    fn parse_error(&mut self, error: ParseError) {
        match error {
            ParseError::UnknownCommand => self.error(replies::UNRECOGNIZED_COMMAND),
            ParseError::InvalidSenderAddress => self.error(replies::BAD_SENDER_SYNTAX),
            ParseError::InvalidRecipientAddress => self.error(replies::BAD_RECIPIENT_SYNTAX),
            ParseError::SyntaxError { syntax } => self.error(replies::syntax(syntax)),
            ParseError::InvalidParameter { param } => self.error(replies::invalid_parameter(param)),
            ParseError::UnsupportedParameter { param } => {
                self.error(replies::unsupported_parameter(&param))
            }
            ParseError::NeedsMoreData { .. }
            | ParseError::ResponseTooLong
            | ParseError::InvalidResponse { .. } => self.error(replies::SYNTAX_ERROR),
        }
    }

    /// Whether the connection is encrypted (after STARTTLS).
    pub(super) fn tls(&self) -> bool {
        self.io.get_ref().is_tls()
    }

    async fn starttls(&mut self) -> std::io::Result<Flow> {
        if self.tls() {
            self.error(replies::TLS_ALREADY_ACTIVE);
            return Ok(Flow::Continue);
        }
        self.reply(replies::READY_TO_START_TLS);
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

    pub(super) fn reply(&mut self, reply: Reply) {
        reply.write(&mut self.out);
    }

    /// Sends `reply` for a client error: [`MAX_ERRORS`] of them end the session.
    pub(super) fn error(&mut self, reply: Reply) {
        self.errors += 1;
        self.reply(reply);
    }

    pub(super) async fn flush(&mut self) -> std::io::Result<()> {
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
