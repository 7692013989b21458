//! Inbound sender authentication on the MX path: SPF (RFC 7208), DKIM (RFC 6376), ARC
//! (RFC 8617, where present) and DMARC (RFC 7489) evaluated with `mail-auth`, summarized in an
//! `Authentication-Results` header (RFC 8601), and the DMARC disposition that delivery's
//! verdict stage applies when the recipient's organization enforces DMARC. Spec:
//! workmail.md §2.25.
//!
//! Mail from authenticated submission is not evaluated.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::error::ResolveError;
use hickory_resolver::TokioAsyncResolver;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, AuthenticationResults, DmarcResult, MessageAuthenticator};

/// What the sender domain's DMARC policy asks for a message that failed DMARC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmarcDisposition {
    /// DMARC passed, or the domain publishes no policy or `p=none`: deliver normally.
    Deliver,
    /// DMARC failed under `p=quarantine`: enforcing organizations file the copy in
    /// `Junk E-mail`.
    Quarantine,
    /// DMARC failed under `p=reject`: enforcing organizations refuse it (`550 5.7.1`).
    Reject,
}

/// The outcome of evaluating one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The `Authentication-Results: <hostname>; spf=…; dkim=…; dmarc=…` header field,
    /// CRLF-terminated, to prepend to the message.
    pub header: String,
    /// What delivery does for organizations that enforce DMARC.
    pub disposition: DmarcDisposition,
}

/// Evaluates SPF, DKIM, ARC and DMARC through a DNS resolver.
pub struct SenderAuthenticator {
    hostname: String,
    authenticator: MessageAuthenticator,
}

impl std::fmt::Debug for SenderAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SenderAuthenticator({})", self.hostname)
    }
}

impl SenderAuthenticator {
    /// An authenticator writing results as `hostname` (Carillon's `--hostname`) and resolving
    /// through `nameserver` (the binary's `--dns-resolver`; UDP, TCP on truncation) or, when
    /// `None`, the system resolver configuration. Answers are not cached here (the
    /// recursive resolver caches), so a record changed a moment ago is seen.
    ///
    /// Errors: the system configuration cannot be read.
    pub fn new(hostname: &str, nameserver: Option<SocketAddr>) -> Result<Self, ResolveError> {
        let (config, mut opts) = match nameserver {
            Some(addr) => (
                ResolverConfig::from_parts(
                    None,
                    vec![],
                    NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true),
                ),
                ResolverOpts::default(),
            ),
            None => hickory_resolver::system_conf::read_system_conf()?,
        };
        opts.cache_size = 0;
        opts.use_hosts_file = false;
        opts.timeout = Duration::from_secs(3);
        opts.attempts = 2;
        // EDNS(0): DKIM key records (RSA-2048) make answers longer than plain DNS's 512 bytes.
        opts.edns0 = true;
        Ok(SenderAuthenticator {
            hostname: hostname.trim_end_matches('.').to_ascii_lowercase(),
            authenticator: MessageAuthenticator(TokioAsyncResolver::tokio(config, opts)),
        })
    }

    /// Evaluates `message` (as received, before Carillon's trace headers) sent from
    /// `client_ip`, which said `helo`, with envelope sender `mail_from` (empty for a null
    /// reverse-path: SPF then checks the HELO identity, RFC 7208 §2.4).
    ///
    /// A message that does not parse gets `dkim=none` and `dmarc=none` and is delivered.
    pub async fn evaluate(
        &self,
        client_ip: IpAddr,
        helo: &str,
        mail_from: &str,
        message: &[u8],
    ) -> Verdict {
        let auth = &self.authenticator;
        let helo_result = auth
            .verify_spf(SpfParameters::verify_ehlo(client_ip, helo, &self.hostname))
            .await;
        let sender = if mail_from.is_empty() {
            format!("postmaster@{helo}")
        } else {
            mail_from.to_string()
        };
        let sender_domain = sender.rsplit_once('@').map_or(helo, |(_, d)| d).to_string();
        let spf = if mail_from.is_empty() {
            helo_result.clone()
        } else {
            auth.verify_spf(SpfParameters::verify_mail_from(
                client_ip,
                helo,
                &self.hostname,
                &sender,
            ))
            .await
        };
        let mut results = AuthenticationResults::new(&self.hostname);
        results = if mail_from.is_empty() {
            results.with_spf_ehlo_result(&spf, client_ip, helo)
        } else {
            results.with_spf_mailfrom_result(&spf, client_ip, &sender, helo)
        };
        let Some(parsed) = AuthenticatedMessage::parse(message) else {
            return Verdict {
                header: format!(
                    "{}; dkim=none; dmarc=none\r\n",
                    results.to_header().trim_end_matches("\r\n")
                ),
                disposition: DmarcDisposition::Deliver,
            };
        };
        let dkim = auth.verify_dkim(&parsed).await;
        let header_from = parsed.from().to_string();
        results = results.with_dkim_results(&dkim, &header_from);
        if !parsed.as_headers.is_empty() || !parsed.ams_headers.is_empty() {
            let arc = auth.verify_arc(&parsed).await;
            results = results.with_arc_result(&arc, client_ip);
        }
        let dmarc = auth
            .verify_dmarc(
                DmarcParameters::new(&parsed, &dkim, &sender_domain, &spf)
                    .with_domain_suffix_fn(organizational_domain),
            )
            .await;
        // mail-auth 0.6 leaves both results at `None` when neither SPF nor DKIM passed, even
        // under a published policy; RFC 7489 §6.6.2 calls that a DMARC failure.
        let passed = [dmarc.dkim_result(), dmarc.spf_result()]
            .iter()
            .any(|r| matches!(r, DmarcResult::Pass));
        let temporary = [dmarc.dkim_result(), dmarc.spf_result()]
            .iter()
            .any(|r| matches!(r, DmarcResult::TempError(_)));
        let (result, failed) = match (dmarc.dmarc_record().is_some(), passed, temporary) {
            (_, true, _) => ("pass", false),
            (_, false, true) => ("temperror", false),
            (true, false, false) => ("fail", true),
            (false, false, false) => ("none", false),
        };
        let disposition = match (failed, dmarc.policy()) {
            (true, Policy::Reject) => DmarcDisposition::Reject,
            (true, Policy::Quarantine) => DmarcDisposition::Quarantine,
            _ => DmarcDisposition::Deliver,
        };
        let mut header = results.to_header().trim_end_matches("\r\n").to_string();
        if dkim.is_empty() {
            // RFC 8601 §2.7.1: an unsigned message is `dkim=none` (mail-auth writes nothing).
            header.push_str(";\r\n\tdkim=none");
        }
        if !dmarc.domain().is_empty() {
            header.push_str(&format!(
                ";\r\n\tdmarc={result} header.from={} policy.dmarc={}",
                dmarc.domain(),
                dmarc.policy()
            ));
        } else {
            header.push_str(";\r\n\tdmarc=none");
        }
        header.push_str("\r\n");
        Verdict {
            header,
            disposition,
        }
    }
}

/// The organizational domain of `domain` (RFC 7489 §3.2): its registrable domain under the
/// Public Suffix List (`mail.example.co.uk` → `example.co.uk`), or the domain itself when it is
/// a public suffix or has no registrable part.
fn organizational_domain(domain: &str) -> &str {
    psl::domain_str(domain).unwrap_or(domain)
}

#[cfg(test)]
mod tests {
    use super::organizational_domain;

    #[test]
    fn organizational_domains_follow_the_public_suffix_list() {
        assert_eq!(organizational_domain("mail.example.com"), "example.com");
        assert_eq!(organizational_domain("example.com"), "example.com");
        // Two labels are not enough under a multi-label suffix: relaxed alignment must not
        // treat every *.co.uk sender as one organization.
        assert_eq!(organizational_domain("a.example.co.uk"), "example.co.uk");
        assert_eq!(organizational_domain("b.evil.co.uk"), "evil.co.uk");
        assert_eq!(organizational_domain("co.uk"), "co.uk");
        assert_eq!(organizational_domain("signer.test"), "signer.test");
        assert_eq!(organizational_domain("localhost"), "localhost");
    }
}
