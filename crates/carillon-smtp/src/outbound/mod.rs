//! The outbound queue worker: delivers queued foreign recipients to their domain's MX (or a
//! smarthost), retries transient failures with exponential backoff, and bounces permanent
//! failures and expired rows to the sender with a DSN. Every message is DKIM-signed here, at
//! each attempt, by its `From` domain's keys (`carillon_mail::dkim::sign_outbound`).
//!
//! Rows are leased through the store, so any number of nodes can run this worker on one
//! database; a row survives restarts until it is delivered or bounced.
//!
//! This module owns the queue runner: leasing due rows, one attempt per row, and the retry,
//! expiry and bounce decisions. Where to deliver is `mx` (MX resolution or the smarthost),
//! how is `client` (the SMTP transaction with one host) and `tls` (the opportunistic STARTTLS
//! client configuration). Rows an email flow rule routed to an SMTP gateway go there instead
//! (`gateway`: verified TLS 1.2+, basic AUTH, bounced when the gateway cannot be reached).

mod client;
mod gateway;
mod mx;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use carillon_jobs::{CancellationToken, Pass, Trigger};
use carillon_mail::delivery::{self, Bounce, FailedRecipient};
use carillon_mail::{dkim, events};
use carillon_store::{QueuedOutbound, Store, StoreError};
use futures::StreamExt;
use hickory_resolver::TokioAsyncResolver;
use tokio_rustls::TlsConnector;

use self::mx::{build_resolver, mx_targets, smarthost_targets};
use self::tls::{opportunistic_tls, verified_tls};

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
    /// PEM bundle of extra CA certificates SMTP gateways are trusted with, on top of the
    /// system roots (a gateway behind a private CA, or a test's).
    pub extra_ca_pem: Option<Vec<u8>>,
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

/// Runs the outbound queue until `shutdown` completes (see [`OutboundQueue`]).
pub async fn run_outbound_queue(
    store: Store,
    config: OutboundConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    carillon_jobs::run_until(OutboundQueue::new(store, config), shutdown).await;
}

/// The outbound queue runner of one node, a [`carillon_jobs::Job`]: leases up to 32 due
/// rows a round and attempts 8 at once, at once again after a full round and otherwise
/// every [`POLL_INTERVAL`]; renews this node's row leases every [`LEASE_RENEWAL`]. Stale
/// leases of `config.node_id` are released at start, so a restarted node resumes its rows
/// at once.
pub struct OutboundQueue(Worker);

impl OutboundQueue {
    /// The runner of `config` on `store`. Without a usable DNS resolver only a smarthost
    /// can be used; without a usable gateway CA bundle gateway mail is deferred (both
    /// logged).
    pub fn new(store: Store, config: OutboundConfig) -> Self {
        let resolver = match build_resolver(config.resolver_nameserver) {
            Ok(resolver) => Some(resolver),
            Err(e) => {
                tracing::error!(error = %e, "no DNS resolver: only a smarthost can be used");
                None
            }
        };
        let gateway_tls = match verified_tls(config.extra_ca_pem.as_deref()) {
            Ok(tls) => Some(tls),
            Err(e) => {
                tracing::error!(error = %e, "no SMTP gateway TLS client: gateway mail is deferred");
                None
            }
        };
        OutboundQueue(Worker {
            store,
            config,
            resolver,
            tls: opportunistic_tls(),
            gateway_tls,
        })
    }
}

/// A round stops at shutdown wherever it is: its rows stay leased to this node, which
/// releases them when it starts again (another node takes them once the lease expires).
#[async_trait::async_trait]
impl carillon_jobs::Job for OutboundQueue {
    fn name(&self) -> &'static str {
        "outbound-queue"
    }

    fn trigger(&self) -> Trigger {
        Trigger::Every(POLL_INTERVAL)
    }

    fn renew_every(&self) -> Option<Duration> {
        Some(LEASE_RENEWAL)
    }

    async fn renew(&self) {
        let until = carillon_core::time::now_millis() + LEASE.as_millis() as i64;
        let node = &self.0.config.node_id;
        if let Err(e) = self.0.store.renew_outbound_leases(node, until).await {
            tracing::warn!(error = %e, "could not renew outbound leases");
        }
    }

    async fn start(&self) {
        let node = &self.0.config.node_id;
        if let Err(e) = self.0.store.release_outbound_leases(node).await {
            tracing::warn!(error = %e, "could not release stale outbound leases");
        }
    }

    async fn pass(&self, shutdown: &CancellationToken) -> Pass {
        match shutdown.run_until_cancelled(self.0.round()).await {
            Some(leased) if leased >= BATCH => Pass::MoreDue,
            _ => Pass::Idle,
        }
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
    /// Verified TLS 1.2+ for SMTP gateways; `None` when the CA bundle was unusable.
    gateway_tls: Option<TlsConnector>,
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
        // Sealed at rest under the organization's transit key (carillon_mail::crypto).
        let message = match carillon_mail::crypto::read_organization_blob(
            &self.store,
            &row.organization_id,
            &row.blob_key,
            row.message_key.as_deref(),
        )
        .await
        {
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
        // Signed as it leaves (the stored blob, which local copies share, stays byte-exact);
        // a signing failure sends it unsigned rather than holding the mail back.
        let signed = dkim::sign_outbound(&self.store, &message)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(queue_id = %row.queue_id, error = %e, "DKIM signing failed");
                message.to_vec()
            });
        let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt(&row, &signed)).await;
        match attempt.unwrap_or_else(|_| Err(transient("delivery attempt timed out", None))) {
            Ok(remote) => {
                tracing::info!(
                    queue_id = %row.queue_id,
                    recipient = %row.recipient,
                    remote = %remote,
                    "outbound message delivered"
                );
                carillon_mail::metrics::count(
                    carillon_mail::metrics::OUTGOING_EMAIL_SENT,
                    &row.organization_id,
                    1,
                );
                let headers = events::MessageHeaders::parse(&message);
                let event = events::EmailEvent::OutgoingEmailSent {
                    recipient: row.recipient.clone(),
                    sender: row.envelope_from.clone(),
                    from: headers.from,
                    message_id: headers.message_id,
                };
                let trace_id = events::trace_id(&row.blob_key);
                events::emit(&self.store, &row.organization_id, trace_id, event).await;
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
        carillon_mail::metrics::count(
            carillon_mail::metrics::OUTGOING_EMAIL_BOUNCED,
            &row.organization_id,
            1,
        );
        let event = events::EmailEvent::OutgoingEmailBounced {
            bounced_recipient: events::BouncedRecipient {
                email_address: row.recipient.clone(),
                reason: failure.diagnostic.clone(),
                status: failure.status.clone(),
            },
            destination: row.recipient.clone(),
            reason: failure.diagnostic.clone(),
        };
        let trace_id = events::trace_id(&row.blob_key);
        events::emit(&self.store, &row.organization_id, trace_id, event).await;
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
        if let Some(gateway_id) = &row.gateway_id {
            return self.via_gateway(gateway_id, row, message).await;
        }
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
}

/// Delay before the attempt following `attempts` failed ones: `base · 2^attempts`, capped.
fn retry_delay(base: Duration, attempts: i64) -> Duration {
    let factor = 1u32 << attempts.clamp(0, 20);
    base.saturating_mul(factor).min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_a_cap() {
        let base = Duration::from_secs(60);
        assert_eq!(retry_delay(base, 0), Duration::from_secs(60));
        assert_eq!(retry_delay(base, 1), Duration::from_secs(120));
        assert_eq!(retry_delay(base, 3), Duration::from_secs(480));
        assert_eq!(retry_delay(base, 50), MAX_RETRY_DELAY);
    }
}
