//! SMTP client delivery: one transaction (EHLO, opportunistic STARTTLS, MAIL, RCPT, DATA)
//! with one host, and the classification of its replies into transient and permanent
//! failures.

use std::net::SocketAddr;
use std::time::Duration;

use carillon_store::QueuedOutbound;
use mail_send::smtp::message::Parameters;
use mail_send::SmtpClient;
use smtp_proto::{EXT_8BIT_MIME, EXT_SMTP_UTF8, EXT_START_TLS};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{transient, Failure, Worker};

/// Timeout of each SMTP command and of connecting.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

impl Worker {
    /// One SMTP transaction with `addr`, upgraded with STARTTLS when offered; a failed TLS
    /// handshake is retried in clear text (opportunistic TLS, RFC 3207 §4.1).
    pub(super) async fn send_to(
        &self,
        host: &str,
        addr: SocketAddr,
        row: &QueuedOutbound,
        message: &[u8],
    ) -> Result<(), Failure> {
        let remote = Some(host);
        let (client, capabilities) = self.open(host, addr).await?;
        if capabilities & EXT_START_TLS != 0 {
            let name = host.trim_end_matches('.').to_string();
            match client.start_tls(&self.tls, &name).await {
                Ok(mut tls) => {
                    let capabilities = tls
                        .ehlo(&self.config.hostname)
                        .await
                        .map_err(|e| classify(e, remote))?
                        .capabilities;
                    return transaction(&mut tls, capabilities, row, message, remote).await;
                }
                Err(e) => {
                    tracing::info!(host, error = %e, "STARTTLS failed, retrying without TLS");
                }
            }
            let (mut client, capabilities) = self.open(host, addr).await?;
            return transaction(&mut client, capabilities, row, message, remote).await;
        }
        let mut client = client;
        transaction(&mut client, capabilities, row, message, remote).await
    }

    /// Connects, reads the greeting and says EHLO. Returns the client and its capabilities.
    async fn open(
        &self,
        host: &str,
        addr: SocketAddr,
    ) -> Result<(SmtpClient<tokio::net::TcpStream>, u32), Failure> {
        let remote = Some(host);
        let mut client = SmtpClient::connect(addr, SMTP_TIMEOUT)
            .await
            .map_err(|e| transient(format!("connect to {addr}: {e}"), remote))?;
        let greeting = tokio::time::timeout(SMTP_TIMEOUT, client.read())
            .await
            .map_err(|_| transient("timeout waiting for the greeting", remote))?
            .map_err(|e| transient(e.to_string(), remote))?;
        if !(200..300).contains(&greeting.code) {
            // A refusing greeting (554) means "try another host", not "the recipient is bad".
            return Err(transient(reply_text(&greeting), remote));
        }
        let ehlo = client
            .ehlo(&self.config.hostname)
            .await
            .map_err(|e| classify(e, remote))?;
        Ok((client, ehlo.capabilities))
    }
}

/// MAIL, RCPT and DATA for one queued recipient.
pub(super) async fn transaction<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    capabilities: u32,
    row: &QueuedOutbound,
    message: &[u8],
    remote: Option<&str>,
) -> Result<(), Failure> {
    let mut params = Parameters::new();
    if capabilities & EXT_8BIT_MIME != 0 && !message.is_ascii() {
        params.add(("BODY", "8BITMIME"));
    }
    if capabilities & EXT_SMTP_UTF8 != 0
        && !(row.envelope_from.is_ascii() && row.recipient.is_ascii())
    {
        params.add("SMTPUTF8");
    }
    client
        .mail_from(&row.envelope_from, &params)
        .await
        .map_err(|e| classify(e, remote))?;
    client
        .rcpt_to(&row.recipient, &Parameters::new())
        .await
        .map_err(|e| classify(e, remote))?;
    // mail-send appends CRLF . CRLF itself: drop the message's own final CRLF so the peer
    // receives exactly the stored bytes.
    let body = without_return_path(message);
    let body = body.strip_suffix(b"\r\n").unwrap_or(body);
    client.data(body).await.map_err(|e| classify(e, remote))?;
    // The message is accepted; a failed QUIT changes nothing.
    let _ = client.cmd(b"QUIT\r\n").await;
    Ok(())
}

/// The message without its leading `Return-Path` field: that field is added at final
/// delivery (RFC 5321 §4.4), so a relay must not pass it on.
fn without_return_path(message: &[u8]) -> &[u8] {
    if message.len() < 12 || !message[..12].eq_ignore_ascii_case(b"Return-Path:") {
        return message;
    }
    let mut end = 0;
    while let Some(i) = message[end..].iter().position(|&b| b == b'\n') {
        end += i + 1;
        // A folded continuation line starts with white space.
        if !matches!(message.get(end), Some(b' ' | b'\t')) {
            return &message[end..];
        }
    }
    message
}

/// 5xx replies are permanent failures; everything else is worth another try.
pub(super) fn classify(error: mail_send::Error, remote: Option<&str>) -> Failure {
    match error {
        mail_send::Error::UnexpectedReply(reply)
        | mail_send::Error::AuthenticationFailed(reply)
            if reply.code >= 500 =>
        {
            let [a, b, c] = reply.esc;
            let status = if a == 5 {
                format!("{a}.{b}.{c}")
            } else {
                "5.0.0".to_string()
            };
            Failure::Permanent {
                status,
                diagnostic: reply_text(&reply),
                remote_mta: remote.map(str::to_string),
            }
        }
        mail_send::Error::UnexpectedReply(reply) => transient(reply_text(&reply), remote),
        other => transient(other.to_string(), remote),
    }
}

fn reply_text(reply: &smtp_proto::Response<String>) -> String {
    let [a, b, c] = reply.esc;
    let message = reply.message.replace(['\r', '\n'], " ");
    if a == 0 {
        format!("{} {message}", reply.code)
    } else {
        format!("{} {a}.{b}.{c} {message}", reply.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_path_is_not_relayed() {
        assert_eq!(
            without_return_path(b"Return-Path: <a@b>\r\nReceived: x\r\n\r\nbody"),
            b"Received: x\r\n\r\nbody"
        );
        assert_eq!(
            without_return_path(b"return-path:\r\n <a@b>\r\nSubject: s\r\n"),
            b"Subject: s\r\n"
        );
        assert_eq!(without_return_path(b"Subject: s\r\n"), b"Subject: s\r\n");
    }

    #[test]
    fn five_hundreds_are_permanent() {
        let reply = |code, esc| smtp_proto::Response {
            code,
            esc,
            message: "no".to_string(),
        };
        let permanent = classify(
            mail_send::Error::UnexpectedReply(reply(550, [5, 1, 1])),
            Some("mx"),
        );
        assert_eq!(
            permanent,
            Failure::Permanent {
                status: "5.1.1".to_string(),
                diagnostic: "550 5.1.1 no".to_string(),
                remote_mta: Some("mx".to_string()),
            }
        );
        assert!(matches!(
            classify(
                mail_send::Error::UnexpectedReply(reply(451, [4, 3, 0])),
                None
            ),
            Failure::Transient { .. }
        ));
        assert!(matches!(
            classify(mail_send::Error::Timeout, None),
            Failure::Transient { .. }
        ));
    }
}
