//! The client connection under a session: plain until STARTTLS (RFC 3207, RFC 3501 §6.2.1),
//! TLS after, or TLS from the first byte on an implicit-TLS listener (RFC 8314).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A byte stream a session can run on: a `TcpStream` in service, a `tokio::io::DuplexStream`
/// in tests.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// The server side of a TLS handshake on a plain stream `S`.
pub trait Handshake<S>: Send + Sync + 'static {
    /// The encrypted stream the handshake yields.
    type Secure: Io;

    /// Runs the handshake on `plain`.
    ///
    /// Errors: the handshake failed or did not finish in time (`TimedOut`).
    fn accept(&self, plain: S) -> impl Future<Output = io::Result<Self::Secure>> + Send;
}

/// The rustls handshake with the listener's certificate, bounded in time so a client that
/// stalls mid-handshake does not hold its connection forever.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    timeout: Duration,
}

impl Tls {
    /// A handshake with `config` (certificate chain and key) that must finish within `timeout`.
    pub fn new(config: Arc<rustls::ServerConfig>, timeout: Duration) -> Tls {
        Tls {
            acceptor: TlsAcceptor::from(config),
            timeout,
        }
    }
}

impl<S: Io> Handshake<S> for Tls {
    type Secure = TlsStream<S>;

    async fn accept(&self, plain: S) -> io::Result<TlsStream<S>> {
        tokio::time::timeout(self.timeout, self.acceptor.accept(plain))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
    }
}

/// A client connection over `S`, plain until [`Conn::start_tls`] and encrypted by `H` after.
pub struct Conn<S, H: Handshake<S>> {
    state: State<S, H::Secure>,
    handshake: Arc<H>,
}

enum State<S, T> {
    Plain(S),
    Tls(Box<T>),
    /// Only while the handshake runs, and after it failed: reads end, writes fail.
    Closed,
}

impl<S: Io, H: Handshake<S>> Conn<S, H> {
    /// A plain connection that `handshake` can upgrade.
    pub fn new(plain: S, handshake: Arc<H>) -> Conn<S, H> {
        Conn {
            state: State::Plain(plain),
            handshake,
        }
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self.state, State::Tls(_))
    }

    /// Switches to TLS in place (STARTTLS, or the start of an implicit-TLS connection). The
    /// caller discards whatever it had buffered from the plain stream: nothing sent before
    /// the handshake may count as sent after it (RFC 3207 §4.2, RFC 3501 §6.2.1).
    ///
    /// Errors: the connection is not plain (`InvalidInput`), or the handshake failed; the
    /// connection is closed then.
    pub async fn start_tls(&mut self) -> io::Result<()> {
        let State::Plain(plain) = std::mem::replace(&mut self.state, State::Closed) else {
            return Err(io::ErrorKind::InvalidInput.into());
        };
        let secure = self.handshake.accept(plain).await?;
        self.state = State::Tls(Box::new(secure));
        Ok(())
    }
}

impl<S: Io, H: Handshake<S>> AsyncRead for Conn<S, H> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_read(cx, buf),
            State::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            State::Closed => Poll::Ready(Ok(())),
        }
    }
}

impl<S: Io, H: Handshake<S>> AsyncWrite for Conn<S, H> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_write(cx, buf),
            State::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            State::Closed => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_flush(cx),
            State::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            State::Closed => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_shutdown(cx),
            State::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            State::Closed => Poll::Ready(Ok(())),
        }
    }
}
