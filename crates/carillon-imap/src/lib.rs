//! IMAP4rev1 protocol edge over the WorkMail mailbox store (RFC 3501), with IDLE (RFC 2177),
//! UIDPLUS (RFC 4315), MOVE (RFC 6851), LITERAL+ (RFC 7888), ENABLE (RFC 5161), SPECIAL-USE
//! (RFC 6154), NAMESPACE (RFC 2342), ID (RFC 2971) and UNSELECT (RFC 3691).
//!
//! Commands are framed and parsed by `imap-codec` and answered with its encoder; storage is
//! the store's (`carillon_store` mailbox functions), authentication the directory's
//! (`carillon_mail::auth`). No state is kept between connections here: UIDVALIDITY, UIDNEXT,
//! flags and `\Recent` live in the store, and a session notices other sessions' and other
//! nodes' changes by polling its folder's UIDNEXT and HIGHESTMODSEQ.
//!
//! Spec: issue 2 §7 (STARTTLS on the plain listener, implicit TLS on the other, no
//! authentication before TLS).

mod mime;
mod search;
mod session;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use carillon_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

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

/// Serves IMAP on `listener` until `shutdown` resolves, then tells every session `BYE` and
/// returns. Each connection runs in its own task; a failing connection never stops the
/// listener.
///
/// Errors: only when accepting connections fails persistently (the listener is unusable).
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: ImapConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = Arc::new(config);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        // Transient (e.g. out of descriptors): back off instead of spinning.
                        tracing::warn!(%error, "imap accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let store = store.clone();
                let config = config.clone();
                let stop = stop_rx.clone();
                sessions.spawn(async move {
                    if let Err(error) = session::run(socket, peer, store, config, stop).await {
                        tracing::debug!(%peer, %error, "imap connection ended with an error");
                    }
                });
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        sessions.abort_all();
    }
    Ok(())
}
