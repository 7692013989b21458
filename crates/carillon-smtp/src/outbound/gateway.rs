//! Sending through an organization's SMTP gateway: outbound mail an email flow rule routed
//! with "Route to SMTP gateway" (the queue row carries the gateway). Spec: workmail.md §2.8.
//!
//! The gateway must offer TLS 1.2 or later with a certificate the trust roots verify
//! (the system roots plus the configured extra CA bundle): implicit TLS on port 465,
//! STARTTLS (required) on any other port. Authentication is basic only: AUTH PLAIN or
//! LOGIN with the gateway's user name and password. When the gateway cannot be reached
//! (connection, TLS or authentication failure) the message bounces to its sender at once;
//! the gateway's own 4xx replies are retried like any remote server's, 5xx bounce.

use std::time::Duration;

use carillon_store::{QueuedOutbound, SmtpGatewayRecord};
use mail_send::{Credentials, SmtpClient};
use smtp_proto::{EhloResponse, AUTH_LOGIN, AUTH_PLAIN, EXT_START_TLS};
use tokio::io::{AsyncRead, AsyncWrite};

use super::client::{classify, transaction};
use super::{transient, Failure, Worker};

/// Timeout of connecting and of each command.
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(60);

/// The port on which a gateway speaks TLS from the first byte (RFC 8314).
const IMPLICIT_TLS_PORT: i64 = 465;

/// A failure that bounces at once: the gateway cannot be used.
fn unreachable(status: &str, diagnostic: String, remote: &str) -> Failure {
    Failure::Permanent {
        status: status.to_string(),
        diagnostic,
        remote_mta: Some(remote.to_string()),
    }
}

impl Worker {
    /// Sends `row` through the gateway `gateway_id`. Returns the gateway that took it.
    pub(super) async fn via_gateway(
        &self,
        gateway_id: &str,
        row: &QueuedOutbound,
        message: &[u8],
    ) -> Result<String, Failure> {
        let mut gateway = match self.store.smtp_gateway_for_delivery(gateway_id).await {
            Ok(Some(gateway)) => gateway,
            Ok(None) => {
                return Err(Failure::Permanent {
                    status: "5.3.0".to_string(),
                    diagnostic: format!("the SMTP gateway {gateway_id} no longer exists"),
                    remote_mta: None,
                })
            }
            Err(e) => return Err(transient(format!("store: {e}"), None)),
        };
        // The password is stored sealed under the organization's key.
        gateway.password = carillon_mail::crypto::open_secret(
            &self.store,
            &gateway.organization_id,
            &gateway.password,
        )
        .await
        .map_err(|e| transient(format!("the gateway password: {e}"), None))?;
        let Some(tls) = &self.gateway_tls else {
            return Err(transient("the gateway TLS client is not available", None));
        };
        let remote = format!("{} port {}", gateway.address, gateway.port);
        let port = u16::try_from(gateway.port).unwrap_or(0);
        let addr = tokio::net::lookup_host((gateway.address.as_str(), port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| {
                unreachable(
                    "5.4.4",
                    format!("cannot resolve the SMTP gateway {}", gateway.address),
                    &remote,
                )
            })?;
        let connect_failed = |e: mail_send::Error| {
            unreachable(
                "5.4.1",
                format!("cannot connect to the SMTP gateway {remote}: {e}"),
                &remote,
            )
        };
        let client = SmtpClient::connect(addr, GATEWAY_TIMEOUT)
            .await
            .map_err(connect_failed)?;
        let name = gateway.address.as_str();
        let tls_failed = |e: mail_send::Error| {
            unreachable(
                "5.7.10",
                format!("no TLS 1.2+ with a trusted certificate at the SMTP gateway {remote}: {e}"),
                &remote,
            )
        };
        let mut client = if gateway.port == IMPLICIT_TLS_PORT {
            client.into_tls(tls, name).await.map_err(tls_failed)?
        } else {
            let mut client = client;
            greet(&mut client, &remote).await?;
            let ehlo = client
                .ehlo(&self.config.hostname)
                .await
                .map_err(|e| classify(e, Some(&remote)))?;
            if ehlo.capabilities & EXT_START_TLS == 0 {
                return Err(unreachable(
                    "5.7.10",
                    format!("the SMTP gateway {remote} does not offer STARTTLS"),
                    &remote,
                ));
            }
            client.start_tls(tls, name).await.map_err(tls_failed)?
        };
        if gateway.port == IMPLICIT_TLS_PORT {
            greet(&mut client, &remote).await?;
        }
        let ehlo = client
            .ehlo(&self.config.hostname)
            .await
            .map_err(|e| classify(e, Some(&remote)))?;
        let capabilities = ehlo.capabilities;
        authenticate(&mut client, &gateway, ehlo, &remote).await?;
        transaction(&mut client, capabilities, row, message, Some(&remote))
            .await
            .map(|()| format!("SMTP gateway {} ({remote})", gateway.name))
    }
}

/// Reads the greeting; anything but 2xx means the gateway cannot be used.
async fn greet<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    remote: &str,
) -> Result<(), Failure> {
    let greeting = tokio::time::timeout(GATEWAY_TIMEOUT, client.read())
        .await
        .map_err(|_| {
            unreachable(
                "5.4.1",
                format!("no greeting from the SMTP gateway {remote}"),
                remote,
            )
        })?
        .map_err(|e| unreachable("5.4.1", format!("SMTP gateway {remote}: {e}"), remote))?;
    if !(200..300).contains(&greeting.code) {
        return Err(unreachable(
            "5.4.1",
            format!(
                "the SMTP gateway {remote} refused the connection: {}",
                greeting.message
            ),
            remote,
        ));
    }
    Ok(())
}

/// AUTH PLAIN or LOGIN (basic authentication only) with the gateway's credentials.
async fn authenticate<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    gateway: &SmtpGatewayRecord,
    mut ehlo: EhloResponse<String>,
    remote: &str,
) -> Result<(), Failure> {
    ehlo.auth_mechanisms &= AUTH_PLAIN | AUTH_LOGIN;
    if ehlo.auth_mechanisms == 0 {
        return Err(unreachable(
            "5.7.8",
            format!("the SMTP gateway {remote} offers neither AUTH PLAIN nor AUTH LOGIN"),
            remote,
        ));
    }
    let credentials = Credentials::new(gateway.username.as_str(), gateway.password.as_str());
    client
        .authenticate(&credentials, &ehlo)
        .await
        .map_err(|e| {
            unreachable(
                "5.7.8",
                format!("the SMTP gateway {remote} refused the credentials: {e}"),
                remote,
            )
        })?;
    Ok(())
}
