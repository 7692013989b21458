//! What other crates' tests need to run a session in memory.

use std::io;

use crate::{Handshake, Io};

/// A handshake that encrypts nothing: the stream stays as it was, and the session treats it
/// as TLS from then on. Lets a test drive STARTTLS, and what only TLS allows (AUTH, LOGIN),
/// through `tokio::io::duplex` without certificates.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssumedTls;

impl<S: Io> Handshake<S> for AssumedTls {
    type Secure = S;

    async fn accept(&self, plain: S) -> io::Result<S> {
        Ok(plain)
    }
}
