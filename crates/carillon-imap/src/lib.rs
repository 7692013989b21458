//! IMAP4rev1 protocol edge over the WorkMail mailbox store (RFC 3501), with IDLE (RFC 2177),
//! UIDPLUS (RFC 4315), MOVE (RFC 6851), LITERAL+ (RFC 7888), ENABLE (RFC 5161), SPECIAL-USE
//! (RFC 6154), NAMESPACE (RFC 2342), ID (RFC 2971) and UNSELECT (RFC 3691).
//!
//! Commands are framed and parsed by `imap-codec` and answered with its encoder; storage is
//! the store's (`carillon_store` mailbox functions), authentication the directory's
//! (`carillon_mail::login`). No state is kept between connections here: UIDVALIDITY, UIDNEXT,
//! flags and `\Recent` live in the store, and a session notices other sessions' and other
//! nodes' changes by polling its folder's UIDNEXT and HIGHESTMODSEQ.
//!
//! Spec: issue 2 §7 (STARTTLS on the plain listener, implicit TLS on the other, no
//! authentication before TLS).

mod flags;
mod mime;
mod search;
mod session;

pub use session::serve_connection;

use std::sync::Arc;
use std::time::Duration;

use carillon_net::{Listener, OnShutdown, Tls};
use carillon_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Configuration of an IMAP listener.
#[derive(Clone)]
pub struct ImapConfig {
    /// Name announced in the greeting.
    pub hostname: String,
    /// Certificate and key for STARTTLS and implicit TLS.
    pub tls: Arc<rustls::ServerConfig>,
    /// `true` for IMAPS (TLS from the first byte, port 993 style); `false` for a plain
    /// listener that offers STARTTLS (port 143 style).
    pub implicit_tls: bool,
}

impl std::fmt::Debug for ImapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapConfig")
            .field("hostname", &self.hostname)
            .field("implicit_tls", &self.implicit_tls)
            .finish_non_exhaustive()
    }
}

/// How long open sessions get to finish their current command once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves IMAP on `listener` until `shutdown` is cancelled, then tells every session `BYE`
/// and returns once they ended (at most [`SHUTDOWN_GRACE`] later). Each connection runs in
/// its own task; a failing connection never stops the listener.
///
/// Errors: none once listening (accept errors are logged and retried); the `Result` is for
/// the caller's uniform handling of listeners.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: ImapConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let tls = Arc::new(Tls::new(config.tls.clone(), session::HANDSHAKE_TIMEOUT));
    let config = Arc::new(config);
    let spec = Listener {
        protocol: "imap",
        limit: None,
        on_shutdown: OnShutdown::Drain(SHUTDOWN_GRACE),
    };
    let stop = shutdown.clone();
    carillon_net::accept_loop(listener, spec, shutdown, |socket, peer| {
        session::serve_connection(
            socket,
            peer,
            store.clone(),
            config.clone(),
            tls.clone(),
            stop.clone(),
        )
    })
    .await
}
