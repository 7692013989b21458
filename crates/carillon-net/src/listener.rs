//! The accept loop of a TCP listener: one task per connection, an optional limit on
//! concurrent connections, and shutdown on a `CancellationToken`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long the loop waits after a failed accept (typically out of file descriptors) so it
/// does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How a listener behaves: its name in logs, its connection limit, and what becomes of its
/// open connections at shutdown.
#[derive(Debug, Clone, Copy)]
pub struct Listener {
    /// The protocol served, as logs name it (`smtp`, `imap`).
    pub protocol: &'static str,
    /// At most this many connections at once; `None` for no limit.
    pub limit: Option<Limit>,
    /// What open connections get once shutdown starts.
    pub on_shutdown: OnShutdown,
}

/// A bound on a listener's concurrent connections.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Connections served at once.
    pub max: usize,
    /// Written to each connection past the limit before it is closed (the protocol's
    /// "try again later", e.g. SMTP's `421 4.3.2`).
    pub refusal: &'static [u8],
}

/// What becomes of open connections when the listener stops.
#[derive(Debug, Clone, Copy)]
pub enum OnShutdown {
    /// They run on to their own end; the loop returns at once.
    Detach,
    /// They are expected to watch the same token and end (IMAP says `BYE`); the loop waits
    /// for them this long, then aborts those still running.
    Drain(Duration),
}

/// Accepts connections on `listener` until `shutdown` is cancelled, running
/// `session(stream, peer)` for each in its own task. A session's error is logged at debug
/// level and never stops the listener; failed accepts are logged and retried.
///
/// Errors: none once listening; the `Result` is for the caller's uniform handling of
/// listeners.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    spec: Listener,
    shutdown: CancellationToken,
    mut session: F,
) -> io::Result<()>
where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let protocol = spec.protocol;
    let limit = spec
        .limit
        .map(|limit| (Arc::new(Semaphore::new(limit.max)), limit.refusal));
    let mut sessions = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let (mut stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(protocol, %error, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let permit = match &limit {
            Some((permits, refusal)) => match permits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    let refusal = *refusal;
                    tokio::spawn(async move {
                        let _ = stream.write_all(refusal).await;
                    });
                    continue;
                }
            },
            None => None,
        };
        let running = session(stream, peer);
        sessions.spawn(async move {
            if let Err(error) = running.await {
                tracing::debug!(protocol, %peer, %error, "session ended with an error");
            }
            drop(permit);
        });
    }
    match spec.on_shutdown {
        OnShutdown::Detach => sessions.detach_all(),
        OnShutdown::Drain(grace) => {
            let drained = tokio::time::timeout(grace, async {
                while sessions.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                sessions.abort_all();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn connections_past_the_limit_get_the_refusal_and_detached_sessions_outlive_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let spec = Listener {
            protocol: "test",
            limit: Some(Limit {
                max: 1,
                refusal: b"busy\r\n",
            }),
            on_shutdown: OnShutdown::Detach,
        };
        let shutdown = CancellationToken::new();
        let (release, released) = tokio::sync::watch::channel(false);
        let serving = tokio::spawn(accept_loop(
            listener,
            spec,
            shutdown.clone(),
            move |mut stream, _| {
                let mut released = released.clone();
                async move {
                    let _ = released.wait_for(|done| *done).await;
                    stream.write_all(b"served\r\n").await
                }
            },
        ));
        let mut first = TcpStream::connect(addr).await.unwrap();
        // The first connection is accepted before the second is refused.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut second = TcpStream::connect(addr).await.unwrap();
        let mut refused = Vec::new();
        second.read_to_end(&mut refused).await.unwrap();
        assert_eq!(refused, b"busy\r\n");

        shutdown.cancel();
        serving.await.unwrap().unwrap();
        release.send(true).unwrap();
        let mut served = Vec::new();
        first.read_to_end(&mut served).await.unwrap();
        assert_eq!(served, b"served\r\n");
    }

    #[tokio::test]
    async fn draining_aborts_sessions_still_running_after_the_grace_period() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let spec = Listener {
            protocol: "test",
            limit: None,
            on_shutdown: OnShutdown::Drain(Duration::from_millis(100)),
        };
        let shutdown = CancellationToken::new();
        let serving = tokio::spawn(accept_loop(
            listener,
            spec,
            shutdown.clone(),
            |_stream, _| std::future::pending::<io::Result<()>>(),
        ));
        let mut client = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        shutdown.cancel();
        serving.await.unwrap().unwrap();
        // The aborted session dropped its stream: the client reads the end.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }
}
