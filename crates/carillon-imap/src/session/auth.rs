//! Authentication (RFC 3501 §6.2.2, §6.2.3): LOGIN and AUTHENTICATE PLAIN (RFC 4616) against
//! the directory (`carillon_mail::login`). TLS is required first; the dispatcher checks that.

use carillon_net::{Handshake, Io};
use imap_codec::imap_types::response::Code;
use std::sync::Arc;

use super::response::{code, Reply};
use super::{Connection, Fail, State};

impl<S: Io, H: Handshake<S>> Connection<S, H> {
    pub(super) async fn plain(&mut self, response: &[u8]) -> Result<Reply, Fail> {
        // RFC 4616: [authzid] NUL authcid NUL passwd; acting as another user is not offered.
        let mut fields = response.split(|&b| b == 0);
        let parsed = match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(authz), Some(authc), Some(password), None)
                if authz.is_empty() || authz == authc =>
            {
                Some((
                    String::from_utf8_lossy(authc).into_owned(),
                    String::from_utf8_lossy(password).into_owned(),
                ))
            }
            _ => None,
        };
        match parsed {
            Some((login, password)) => self.login(&login, &password).await,
            None => Ok(Reply::bad("Malformed PLAIN response")),
        }
    }

    pub(super) async fn login(&mut self, login: &str, password: &str) -> Result<Reply, Fail> {
        let client = self.client_info();
        match carillon_mail::login::authenticate(&self.store, login, password, &client).await? {
            Some(user) => {
                tracing::info!(peer = %self.peer, user_id = %user.user_id, "imap login");
                self.state = State::Authenticated {
                    user: Arc::new(user),
                };
                Ok(Reply::ok_with(
                    Code::Capability(self.capabilities()),
                    "Logged in",
                ))
            }
            None => {
                tracing::info!(peer = %self.peer, login, "imap login refused");
                Ok(Reply::no(
                    Some(code("AUTHENTICATIONFAILED")),
                    "Invalid credentials",
                ))
            }
        }
    }
}
