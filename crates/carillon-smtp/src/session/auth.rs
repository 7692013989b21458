//! AUTH (RFC 4954) on the submission role after STARTTLS: PLAIN (RFC 4616) and LOGIN, with
//! the SASL exchange's continuation lines.

use base64::Engine;
use carillon_mail::audit;
use carillon_net::{Handshake, Io};
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};

use super::{replies, Role, Session, COMMAND_TIMEOUT, MAX_COMMAND_LINE};
use crate::stream::{read_line, skip_line, Line};

impl<S: Io, H: Handshake<S>> Session<S, H> {
    pub(super) async fn auth(&mut self, mechanism: u64, initial: String) -> std::io::Result<()> {
        if self.shared.role != Role::Submission {
            self.error(replies::AUTH_ON_SUBMISSION_ONLY);
            return Ok(());
        }
        if !self.tls() {
            self.error(replies::ENCRYPTION_REQUIRED);
            return Ok(());
        }
        if self.user.is_some() {
            self.error(replies::ALREADY_AUTHENTICATED);
            return Ok(());
        }
        if self.transaction.is_some() {
            self.error(replies::AUTH_IN_TRANSACTION);
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
                self.error(replies::UNRECOGNIZED_MECHANISM);
                return Ok(());
            }
        };
        let Some((login, password)) = credentials else {
            self.auth_failures += 1;
            self.error(replies::MALFORMED_SASL);
            return Ok(());
        };
        let client = audit::ClientInfo {
            protocol: "SMTP",
            source_ip: self.peer.ip(),
            user_agent: None,
        };
        match carillon_mail::login::authenticate(&self.shared.store, &login, &password, &client)
            .await
        {
            Ok(Some(user)) => {
                tracing::info!(peer = %self.peer, user = %user.email, "SMTP AUTH succeeded");
                self.user = Some(user);
                self.reply(replies::AUTHENTICATION_SUCCEEDED);
            }
            Ok(None) => {
                self.auth_failures += 1;
                tracing::info!(peer = %self.peer, "SMTP AUTH failed");
                self.reply(replies::INVALID_CREDENTIALS);
            }
            Err(e) => {
                tracing::error!(error = %e, "SMTP AUTH lookup failed");
                self.reply(replies::AUTHENTICATION_UNAVAILABLE);
            }
        }
        Ok(())
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
            self.reply(replies::challenge(challenge));
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
                    self.error(replies::SASL_LINE_TOO_LONG);
                    return Ok(None);
                }
            }
            String::from_utf8_lossy(&line).trim_end().to_string()
        };
        if encoded == "*" {
            self.error(replies::AUTHENTICATION_CANCELLED);
            return Ok(None);
        }
        if encoded == "=" {
            return Ok(Some(Vec::new()));
        }
        match base64::engine::general_purpose::STANDARD.decode(encoded.as_bytes()) {
            Ok(decoded) => Ok(Some(decoded)),
            Err(_) => {
                self.auth_failures += 1;
                self.error(replies::INVALID_BASE64);
                Ok(None)
            }
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
