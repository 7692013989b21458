//! SMTP protocol edge: inbound (MX) and submission listeners, outbound delivery queue.
//!
//! Owns the SMTP wire protocol (RFC 5321 with PIPELINING, 8BITMIME, SMTPUTF8, SIZE,
//! ENHANCEDSTATUSCODES, STARTTLS, AUTH PLAIN/LOGIN on submission) and the outbound queue
//! worker (MX lookup or smarthost, opportunistic STARTTLS, retries with backoff, DSN bounces).
//! Recipient rules, limits and durable storage are the delivery pipeline's
//! (`carillon_mail::delivery`); this crate must not touch SQL or mailbox internals.
//!
//! Trace headers: every message accepted gets, before its own header section,
//!
//! ```text
//! Return-Path: <mail-from>
//! Received: from <helo> ([<client ip>])
//!         by <hostname> with <ESMTP|ESMTPS|ESMTPSA|SMTP> id <id>
//!         [for <rcpt>]; <RFC 5322 date>
//! ```
//!
//! Mail received on the MX path (not authenticated submission) also gets, above those,
//!
//! ```text
//! Authentication-Results: <hostname>;
//!         spf=<result> ... smtp.mailfrom=<mail-from>;
//!         dkim=<result> header.d=<domain> header.s=<selector> ...;   (one per signature)
//!         [arc=<result> ...;]
//!         dmarc=<pass|fail|none|temperror> header.from=<domain> policy.dmarc=<policy>
//! ```
//!
//! (RFC 8601; workmail.md §2.25). Nothing else is changed in the message: tests compare
//! messages modulo exactly these three trace header fields. Outbound mail is DKIM-signed by
//! the queue worker as it leaves; the `DKIM-Signature` fields are not stored.

mod outbound;
mod session;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use carillon_mail::sender_authentication::SenderAuthenticator;
use carillon_net::{Handshake, Io, Limit, Listener, OnShutdown, Tls};
use carillon_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use outbound::{run_outbound_queue, OutboundConfig, OutboundQueue};

pub use session::Role;

use session::{Session, Shared};

/// Default maximum message size as transmitted: 40 MB (MiB). Spec: workmail.md §6.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = carillon_mail::delivery::MAX_MESSAGE_MIME_BYTES;

/// Default maximum number of recipients per message: 500. Spec: workmail.md §6.
pub const DEFAULT_MAX_RECIPIENTS: usize = carillon_mail::delivery::MAX_RECIPIENTS;

/// Lifetime given to outbound queue rows at submission: 5 days (RFC 5321 §4.5.4.1 suggests
/// at least 4–5 days). The queue worker's configured lifetime can only shorten it.
pub const DEFAULT_QUEUE_LIFETIME: Duration = carillon_core::mail::QUEUE_LIFETIME;

/// Concurrent sessions per listener; further connections get `421 4.3.2` and are closed.
const MAX_SESSIONS: usize = 1024;

/// Configuration of an SMTP listener.
#[derive(Clone)]
pub struct SmtpConfig {
    /// Host name announced in the greeting, EHLO and `Received` headers.
    pub hostname: String,
    /// TLS server configuration used by STARTTLS.
    pub tls: Arc<rustls::ServerConfig>,
    /// Largest message accepted in bytes, as transmitted (announced with `SIZE`); at most
    /// [`DEFAULT_MAX_MESSAGE_SIZE`] is useful, the delivery pipeline refuses more anyway.
    pub max_message_size: usize,
    /// Most recipients per message (`452 4.5.3` past it).
    pub max_recipients: usize,
    /// Evaluates SPF, DKIM, ARC and DMARC of mail arriving on the MX path and adds the
    /// `Authentication-Results` trace header (workmail.md §2.25); `None` skips it.
    pub sender_authentication: Option<Arc<SenderAuthenticator>>,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("hostname", &self.hostname)
            .field("max_message_size", &self.max_message_size)
            .field("max_recipients", &self.max_recipients)
            .field("sender_authentication", &self.sender_authentication)
            .finish_non_exhaustive()
    }
}

/// Serves the inbound (MX) role on `listener` until `shutdown` is cancelled (open sessions
/// run on to their end): mail for every local domain from any client, unknown local
/// recipients `550 5.1.1`, foreign domains `554 5.7.1` (never an open relay), no AUTH.
/// Spec: issue 2 §6, workmail.md §6.
///
/// Errors: none once listening (accept errors are logged and retried); the `Result` is for
/// the caller's uniform handling of listeners.
pub async fn serve_inbound(
    listener: TcpListener,
    store: Store,
    config: SmtpConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve(listener, store, config, Role::Inbound, shutdown).await
}

/// Serves the submission role (RFC 6409, port 587 style) on `listener` until `shutdown` is
/// cancelled: STARTTLS, then AUTH PLAIN or LOGIN, are required before MAIL; the envelope
/// sender must be one of the user's addresses (`553 5.7.1` otherwise); local recipients are
/// delivered, foreign ones queued, and a copy goes to the sender's `Sent Items`.
///
/// Errors: as [`serve_inbound`].
pub async fn serve_submission(
    listener: TcpListener,
    store: Store,
    config: SmtpConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve(listener, store, config, Role::Submission, shutdown).await
}

async fn serve(
    listener: TcpListener,
    store: Store,
    config: SmtpConfig,
    role: Role,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let tls = Arc::new(Tls::new(config.tls.clone(), session::IO_TIMEOUT));
    let spec = Listener {
        protocol: "smtp",
        limit: Some(Limit {
            max: MAX_SESSIONS,
            refusal: session::replies::TOO_MANY_CONNECTIONS,
        }),
        // A session ends with its conversation: shutdown closes the listener only.
        on_shutdown: OnShutdown::Detach,
    };
    carillon_net::accept_loop(listener, spec, shutdown, |stream, peer| {
        serve_connection(
            stream,
            peer,
            store.clone(),
            config.clone(),
            role,
            tls.clone(),
        )
    })
    .await
}

/// Runs one SMTP session in `role` on `stream`, a connection accepted from `peer`, until
/// QUIT, disconnect, timeout or too many errors; STARTTLS upgrades it through `tls`. Each
/// listener runs this per connection; tests run it over `tokio::io::duplex` with
/// `carillon_net::testing::AssumedTls`.
///
/// Errors: the connection failed or timed out, or its TLS handshake failed.
pub async fn serve_connection<S: Io, H: Handshake<S>>(
    stream: S,
    peer: SocketAddr,
    store: Store,
    config: SmtpConfig,
    role: Role,
    tls: Arc<H>,
) -> std::io::Result<()> {
    let shared = Shared {
        store,
        config,
        tls,
        role,
    };
    Session::new(shared, stream, peer).run().await
}
