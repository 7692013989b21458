//! TCP plumbing shared by Carillon's protocol edges (SMTP and IMAP today): the connection
//! that is plain until STARTTLS and TLS after ([`Conn`]), the server TLS handshake behind it
//! ([`Handshake`], [`Tls`] for rustls), and the accept loop that spawns one task per
//! connection, enforces a listener's connection limit and stops on a
//! `tokio_util::sync::CancellationToken` ([`accept_loop`]). Sessions are written against
//! [`Conn`] over any [`Io`] stream, so tests drive them through `tokio::io::duplex` with
//! `testing::AssumedTls` (module `testing`, feature `test-fixtures`) instead of sockets and
//! certificates.
//! This crate must not touch SQL, mail or chat, nor any protocol's grammar: it moves bytes
//! and never reads them.

mod conn;
mod listener;
#[cfg(feature = "test-fixtures")]
pub mod testing;

pub use conn::{Conn, Handshake, Io, Tls};
pub use listener::{accept_loop, Limit, Listener, OnShutdown};
