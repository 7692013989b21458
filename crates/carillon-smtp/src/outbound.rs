//! The outbound queue worker: delivers queued foreign recipients to their domain's MX (or a
//! smarthost), retries transient failures with exponential backoff, and bounces permanent
//! failures and expired rows to the sender with a DSN.
//!
//! Rows are leased through the store, so any number of nodes can run this worker on one
//! database; a row survives restarts until it is delivered or bounced.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use carillon_mail::delivery::{self, Bounce, FailedRecipient};
use carillon_store::{QueuedOutbound, Store, StoreError};
use futures::StreamExt;
use hickory_resolver::config::{NameServerConfig, Protocol, ResolverConfig, ResolverOpts};
use hickory_resolver::error::ResolveErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::TokioAsyncResolver;
use mail_send::smtp::message::Parameters;
use mail_send::SmtpClient;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use smtp_proto::{EXT_8BIT_MIME, EXT_SMTP_UTF8, EXT_START_TLS};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

/// Configuration of the outbound queue worker.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Host name said in EHLO and used as the DSN `Reporting-MTA`.
    pub hostname: String,
    /// `host:port` every message is relayed to instead of the recipient domain's MX.
    pub smarthost: Option<String>,
    /// DNS server for MX/A/AAAA lookups; `None` uses the system's configuration.
    pub resolver_nameserver: Option<SocketAddr>,
    /// How long a message may stay queued before it bounces (DSN status 4.4.7).
    pub queue_lifetime: Duration,
    /// First retry delay; each further retry doubles it (capped at [`MAX_RETRY_DELAY`]).
    pub retry_base: Duration,
    /// This node's name in queue leases (unique per running node).
    pub node_id: String,
}

/// Longest delay between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(4 * 3600);

/// How often an idle worker looks for due rows.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Rows leased per round, and attempts run at once.
const BATCH: i64 = 32;
const CONCURRENCY: usize = 8;

/// Upper bound of one delivery attempt (all MX hosts).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Queue leases last this long and are renewed every [`LEASE_RENEWAL`] while the worker
/// runs: rows held by a node that died come free within a minute.
const LEASE: Duration = Duration::from_secs(60);
const LEASE_RENEWAL: Duration = Duration::from_secs(15);

/// Timeout of each SMTP command and of connecting.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

/// The SMTP port of an MX host (RFC 5321 §4.5.4).
const SMTP_PORT: u16 = 25;

/// Runs the outbound queue until `shutdown` completes. Stale leases of `config.node_id` are
/// released first, so a restarted node resumes its rows at once.
pub async fn run_outbound_queue(
    store: Store,
    config: OutboundConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let resolver = match build_resolver(config.resolver_nameserver) {
        Ok(resolver) => Some(resolver),
        Err(e) => {
            tracing::error!(error = %e, "no DNS resolver: only a smarthost can be used");
            None
        }
    };
    if let Err(e) = store.release_outbound_leases(&config.node_id).await {
        tracing::warn!(error = %e, "could not release stale outbound leases");
    }
    let heartbeat = Heartbeat(tokio::spawn(renew_leases(
        store.clone(),
        config.node_id.clone(),
    )));
    let worker = Worker {
        store,
        config,
        resolver,
        tls: opportunistic_tls(),
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let leased = tokio::select! {
            _ = &mut shutdown => break,
            leased = worker.round() => leased,
        };
        if leased < BATCH {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }
    drop(heartbeat);
}

/// Stops the lease renewal when the worker ends, however it ends.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn renew_leases(store: Store, node: String) {
    loop {
        tokio::time::sleep(LEASE_RENEWAL).await;
        let until = carillon_core::time::now_millis() + LEASE.as_millis() as i64;
        if let Err(e) = store.renew_outbound_leases(&node, until).await {
            tracing::warn!(error = %e, "could not renew outbound leases");
        }
    }
}

fn build_resolver(
    nameserver: Option<SocketAddr>,
) -> Result<TokioAsyncResolver, hickory_resolver::error::ResolveError> {
    match nameserver {
        Some(addr) => {
            let mut config = ResolverConfig::new();
            config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
            config.add_name_server(NameServerConfig::new(addr, Protocol::Tcp));
            Ok(TokioAsyncResolver::tokio(config, ResolverOpts::default()))
        }
        None => TokioAsyncResolver::tokio_from_system_conf(),
    }
}

/// Outcome of a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Try again later (4xx, connection or DNS trouble).
    Transient {
        diagnostic: String,
        remote_mta: Option<String>,
    },
    /// Give up and bounce (5xx, no such domain, null MX).
    Permanent {
        status: String,
        diagnostic: String,
        remote_mta: Option<String>,
    },
}

fn failed(
    row: &QueuedOutbound,
    status: &str,
    diagnostic: &str,
    remote_mta: Option<String>,
) -> FailedRecipient {
    FailedRecipient {
        recipient: row.recipient.clone(),
        status: status.to_string(),
        diagnostic: diagnostic.to_string(),
        remote_mta,
    }
}

fn transient(diagnostic: impl Into<String>, remote_mta: Option<&str>) -> Failure {
    Failure::Transient {
        diagnostic: diagnostic.into(),
        remote_mta: remote_mta.map(str::to_string),
    }
}

struct Worker {
    store: Store,
    config: OutboundConfig,
    resolver: Option<TokioAsyncResolver>,
    tls: TlsConnector,
}

impl Worker {
    /// Leases the due rows and attempts each; returns how many were leased.
    async fn round(&self) -> i64 {
        let now = carillon_core::time::now_millis();
        let lease_ms = LEASE.as_millis() as i64;
        let rows = match self
            .store
            .lease_outbound(&self.config.node_id, now, lease_ms, BATCH)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "outbound queue lease failed");
                return 0;
            }
        };
        let leased = rows.len() as i64;
        futures::stream::iter(rows)
            .for_each_concurrent(CONCURRENCY, |row| self.process(row))
            .await;
        leased
    }

    async fn process(&self, row: QueuedOutbound) {
        let message = match self.store.blobs().get(&row.blob_key).await {
            Ok(message) => message,
            Err(StoreError::NotFound(_)) => {
                let failure = failed(&row, "5.3.0", "the queued message content is gone", None);
                return self.give_up(&row, &[], failure).await;
            }
            Err(e) => {
                return self
                    .reschedule(&row, &[], format!("blob store: {e}"), None)
                    .await;
            }
        };
        let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt(&row, &message)).await;
        match attempt.unwrap_or_else(|_| Err(transient("delivery attempt timed out", None))) {
            Ok(remote) => {
                tracing::info!(
                    queue_id = %row.queue_id,
                    recipient = %row.recipient,
                    remote = %remote,
                    "outbound message delivered"
                );
                self.finish(&row).await;
            }
            Err(Failure::Permanent {
                status,
                diagnostic,
                remote_mta,
            }) => {
                let failure = failed(&row, &status, &diagnostic, remote_mta);
                self.give_up(&row, &message, failure).await
            }
            Err(Failure::Transient {
                diagnostic,
                remote_mta,
            }) => {
                self.reschedule(&row, &message, diagnostic, remote_mta)
                    .await
            }
        }
    }

    async fn finish(&self, row: &QueuedOutbound) {
        match self
            .store
            .finish_outbound(&row.queue_id, &self.config.node_id)
            .await
        {
            Ok(true) => {
                // The blob may have been the queue's alone (a bounce, or a sender who already
                // deleted the Sent Items copy).
                if let Err(e) = self.store.delete_blob_if_unreferenced(&row.blob_key).await {
                    tracing::warn!(blob_key = %row.blob_key, error = %e, "blob cleanup failed");
                }
            }
            Ok(false) => tracing::warn!(queue_id = %row.queue_id, "outbound lease was lost"),
            Err(e) => {
                tracing::error!(queue_id = %row.queue_id, error = %e, "outbound finish failed")
            }
        }
    }

    /// A transient failure: retry after the backoff, or bounce once the lifetime is over
    /// (status 4.4.7, RFC 3463).
    async fn reschedule(
        &self,
        row: &QueuedOutbound,
        message: &[u8],
        diagnostic: String,
        remote_mta: Option<String>,
    ) {
        let now = carillon_core::time::now_millis();
        let lifetime = i64::try_from(self.config.queue_lifetime.as_millis()).unwrap_or(i64::MAX);
        let expiry = row.expires_at.min(row.created_at.saturating_add(lifetime));
        if now >= expiry {
            let diagnostic = format!("delivery time expired; last error: {diagnostic}");
            let failure = failed(row, "4.4.7", &diagnostic, remote_mta);
            return self.give_up(row, message, failure).await;
        }
        let delay = retry_delay(self.config.retry_base, row.attempts);
        let next = now.saturating_add(delay.as_millis() as i64).min(expiry);
        tracing::info!(
            queue_id = %row.queue_id,
            recipient = %row.recipient,
            attempts = row.attempts + 1,
            error = %diagnostic,
            "outbound delivery deferred"
        );
        self.retry(row, next, &diagnostic).await;
    }

    async fn retry(&self, row: &QueuedOutbound, next: i64, error: &str) {
        if let Err(e) = self
            .store
            .retry_outbound(&row.queue_id, &self.config.node_id, next, error)
            .await
        {
            tracing::error!(queue_id = %row.queue_id, error = %e, "outbound reschedule failed");
        }
    }

    /// A permanent failure: bounce to the sender (nothing when the row is itself a bounce),
    /// then drop the row. When the bounce cannot be stored the row is kept for another round.
    async fn give_up(&self, row: &QueuedOutbound, message: &[u8], failure: FailedRecipient) {
        tracing::warn!(
            queue_id = %row.queue_id,
            recipient = %row.recipient,
            status = %failure.status,
            error = %failure.diagnostic,
            "outbound delivery failed"
        );
        let failures = [failure];
        let bounce = Bounce {
            reporting_mta: &self.config.hostname,
            organization_id: &row.organization_id,
            envelope_from: &row.envelope_from,
            arrival_date: row.created_at,
            failures: &failures,
            original: message,
            queue_lifetime: self.config.queue_lifetime,
        };
        match delivery::send_bounce(&self.store, &bounce).await {
            Ok(outcome) => {
                tracing::info!(queue_id = %row.queue_id, ?outcome, "bounce handled");
                self.finish(row).await;
            }
            Err(e) => {
                tracing::error!(queue_id = %row.queue_id, error = %e, "bounce failed");
                let delay = retry_delay(self.config.retry_base, row.attempts);
                let next =
                    carillon_core::time::now_millis().saturating_add(delay.as_millis() as i64);
                self.retry(row, next, &format!("bounce failed: {e}")).await;
            }
        }
    }

    /// One delivery attempt over every target in order. Returns the host that took it.
    async fn attempt(&self, row: &QueuedOutbound, message: &[u8]) -> Result<String, Failure> {
        let targets = match &self.config.smarthost {
            Some(smarthost) => smarthost_targets(smarthost).await?,
            None => {
                let Some(resolver) = &self.resolver else {
                    return Err(transient("no DNS resolver available", None));
                };
                let domain = row
                    .recipient
                    .rsplit_once('@')
                    .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
                    .unwrap_or_default();
                mx_targets(resolver, &domain).await?
            }
        };
        let mut last = transient("no address to deliver to", None);
        for (host, addrs) in targets {
            for addr in addrs {
                match self.send_to(&host, addr, row, message).await {
                    Ok(()) => return Ok(format!("{host} [{addr}]")),
                    Err(failure @ Failure::Permanent { .. }) => return Err(failure),
                    Err(failure) => last = failure,
                }
            }
        }
        Err(last)
    }

    /// One SMTP transaction with `addr`, upgraded with STARTTLS when offered; a failed TLS
    /// handshake is retried in clear text (opportunistic TLS, RFC 3207 §4.1).
    async fn send_to(
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
async fn transaction<T: AsyncRead + AsyncWrite + Unpin>(
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
fn classify(error: mail_send::Error, remote: Option<&str>) -> Failure {
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

/// Delay before the attempt following `attempts` failed ones: `base · 2^attempts`, capped.
fn retry_delay(base: Duration, attempts: i64) -> Duration {
    let factor = 1u32 << attempts.clamp(0, 20);
    base.saturating_mul(factor).min(MAX_RETRY_DELAY)
}

async fn smarthost_targets(smarthost: &str) -> Result<Vec<(String, Vec<SocketAddr>)>, Failure> {
    let host = smarthost
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']))
        .unwrap_or(smarthost)
        .to_string();
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(smarthost)
        .await
        .map_err(|e| transient(format!("smarthost {smarthost}: {e}"), None))?
        .collect();
    Ok(vec![(host, addrs)])
}

/// The hosts to try for `domain`, best MX first, with their addresses (RFC 5321 §5.1): the
/// MX records by preference; without MX records the domain itself (implicit MX); a null MX
/// (RFC 7505) or a domain that does not exist fails permanently.
async fn mx_targets(
    resolver: &TokioAsyncResolver,
    domain: &str,
) -> Result<Vec<(String, Vec<SocketAddr>)>, Failure> {
    if domain.is_empty() {
        return Err(Failure::Permanent {
            status: "5.1.2".to_string(),
            diagnostic: "recipient address has no domain".to_string(),
            remote_mta: None,
        });
    }
    let fqdn = format!("{domain}.");
    let hosts: Vec<(u16, String)> = match resolver.mx_lookup(fqdn.as_str()).await {
        Ok(lookup) => lookup
            .iter()
            .map(|mx| {
                (
                    mx.preference(),
                    mx.exchange().to_utf8().trim_end_matches('.').to_string(),
                )
            })
            .collect(),
        Err(e) if matches!(e.kind(), ResolveErrorKind::NoRecordsFound { .. }) => Vec::new(),
        Err(e) => return Err(transient(format!("MX lookup for {domain}: {e}"), None)),
    };
    let hosts = order_mx(domain, hosts)?;
    let mut targets = Vec::new();
    for host in hosts {
        match resolver.lookup_ip(format!("{host}.").as_str()).await {
            Ok(ips) => {
                let addrs = ips
                    .iter()
                    .map(|ip| SocketAddr::new(ip, SMTP_PORT))
                    .collect();
                targets.push((host, addrs));
            }
            Err(e) => {
                let missing = matches!(
                    e.kind(),
                    ResolveErrorKind::NoRecordsFound { response_code, .. }
                        if *response_code == ResponseCode::NXDomain
                );
                if missing && host == domain {
                    return Err(Failure::Permanent {
                        status: "5.1.2".to_string(),
                        diagnostic: format!("domain {domain} not found"),
                        remote_mta: None,
                    });
                }
                tracing::info!(host, error = %e, "MX host has no address");
            }
        }
    }
    if targets.is_empty() {
        return Err(transient(
            format!("no reachable MX host for {domain}"),
            None,
        ));
    }
    Ok(targets)
}

/// Orders MX records by preference; no records gives the implicit MX (the domain itself);
/// a single record with the root as exchange is a null MX (RFC 7505): permanent failure.
fn order_mx(domain: &str, mut records: Vec<(u16, String)>) -> Result<Vec<String>, Failure> {
    if records.is_empty() {
        return Ok(vec![domain.to_string()]);
    }
    if records.len() == 1 && records[0].1.is_empty() {
        return Err(Failure::Permanent {
            status: "5.1.10".to_string(),
            diagnostic: format!("domain {domain} accepts no mail (null MX)"),
            remote_mta: None,
        });
    }
    records.retain(|(_, host)| !host.is_empty());
    records.sort_by_key(|(preference, _)| *preference);
    Ok(records.into_iter().map(|(_, host)| host).collect())
}

/// A TLS client for opportunistic STARTTLS: encryption without authentication (RFC 7435),
/// since MX certificates are often self-signed or do not match; signatures are still checked.
fn opportunistic_tls() -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map(|builder| {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        })
        .expect("ring supports the default protocol versions");
    TlsConnector::from(Arc::new(config))
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mx_records_are_ordered_and_null_mx_fails() {
        let records = vec![(20, "b.example".to_string()), (10, "a.example".to_string())];
        assert_eq!(
            order_mx("example", records).unwrap(),
            vec!["a.example", "b.example"]
        );
        assert_eq!(order_mx("example", Vec::new()).unwrap(), vec!["example"]);
        match order_mx("example", vec![(0, String::new())]) {
            Err(Failure::Permanent { status, .. }) => assert_eq!(status, "5.1.10"),
            other => panic!("{other:?}"),
        }
    }

    /// A minimal authoritative DNS server over UDP for the zone used below: answers MX and A
    /// questions, NXDOMAIN for names it does not know.
    async fn dns_stub() -> SocketAddr {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let query = &buf[..n];
                let (name, end) = read_name(query, 12);
                let qtype = u16::from_be_bytes([query[end], query[end + 1]]);
                let (known, answers) = zone(&name, qtype);
                let mut reply = query[..2].to_vec();
                reply.extend_from_slice(&[0x84, if known { 0x00 } else { 0x03 }]);
                reply.extend_from_slice(&[0, 1, 0, answers.len() as u8, 0, 0, 0, 0]);
                reply.extend_from_slice(&query[12..end + 4]);
                for (rtype, rdata) in answers {
                    reply.extend_from_slice(&[0xc0, 12]);
                    reply.extend_from_slice(&rtype.to_be_bytes());
                    reply.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
                    reply.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                    reply.extend_from_slice(&rdata);
                }
                let _ = socket.send_to(&reply, peer).await;
            }
        });
        addr
    }

    fn read_name(packet: &[u8], mut at: usize) -> (String, usize) {
        let mut labels = Vec::new();
        while packet[at] != 0 {
            let len = packet[at] as usize;
            labels.push(String::from_utf8_lossy(&packet[at + 1..at + 1 + len]).to_lowercase());
            at += 1 + len;
        }
        (labels.join("."), at + 1)
    }

    fn encode_name(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in name.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    /// (name known, answers as (type, rdata)) for a question.
    fn zone(name: &str, qtype: u16) -> (bool, Vec<(u16, Vec<u8>)>) {
        const A: u16 = 1;
        const MX: u16 = 15;
        let mx = |preference: u16, host: &str| {
            let mut rdata = preference.to_be_bytes().to_vec();
            rdata.extend(encode_name(host));
            (MX, rdata)
        };
        match (name, qtype) {
            ("remote.test", MX) => (
                true,
                vec![mx(20, "mx2.remote.test"), mx(10, "mx1.remote.test")],
            ),
            ("mx1.remote.test", A) => (true, vec![(A, vec![127, 0, 0, 1])]),
            ("plain.test", A) => (true, vec![(A, vec![127, 0, 0, 2])]),
            ("nullmx.test", MX) => (true, vec![mx(0, "")]),
            ("remote.test" | "mx1.remote.test" | "plain.test" | "nullmx.test", _) => {
                (true, Vec::new())
            }
            _ => (false, Vec::new()),
        }
    }

    #[tokio::test]
    async fn mx_lookup_through_the_configured_resolver() {
        let resolver = build_resolver(Some(dns_stub().await)).unwrap();
        let port25 = |ip: [u8; 4]| SocketAddr::from((ip, SMTP_PORT));
        // Best preference first; an MX host without an address is skipped.
        assert_eq!(
            mx_targets(&resolver, "remote.test").await.unwrap(),
            vec![("mx1.remote.test".to_string(), vec![port25([127, 0, 0, 1])])]
        );
        // No MX records: the domain itself (implicit MX, RFC 5321 §5.1).
        assert_eq!(
            mx_targets(&resolver, "plain.test").await.unwrap(),
            vec![("plain.test".to_string(), vec![port25([127, 0, 0, 2])])]
        );
        for (domain, status) in [("gone.test", "5.1.2"), ("nullmx.test", "5.1.10")] {
            match mx_targets(&resolver, domain).await {
                Err(Failure::Permanent { status: s, .. }) => assert_eq!(s, status, "{domain}"),
                other => panic!("{domain}: {other:?}"),
            }
        }
    }

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
    fn retries_back_off_exponentially_up_to_a_cap() {
        let base = Duration::from_secs(60);
        assert_eq!(retry_delay(base, 0), Duration::from_secs(60));
        assert_eq!(retry_delay(base, 1), Duration::from_secs(120));
        assert_eq!(retry_delay(base, 3), Duration::from_secs(480));
        assert_eq!(retry_delay(base, 50), MAX_RETRY_DELAY);
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
