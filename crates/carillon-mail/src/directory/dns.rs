//! The DNS records a mail domain needs and their verification by real DNS lookups.
//! Spec: workmail.md §1.3 (records and statuses), §4.11 (examples).
//!
//! The records point at Carillon's own mail host instead of SES: ownership TXT
//! `_amazonses.<domain>` carrying the domain's token, MX `10 <hostname>`, an SPF TXT allowing
//! the mail host (`a:<hostname>`, which needs no SPF record at the host itself), a DMARC TXT
//! at `_dmarc.<domain>`, and one DKIM TXT `<selector>._domainkey.<domain>` per signing key
//! (`v=DKIM1; k=ed25519|rsa; p=…`, see [`crate::dkim`]). Only ownership and DKIM carry a
//! status in the API (`GetMailDomain`); both are computed from lookups through the configured
//! resolver, with no cache so that a record published a moment ago is seen.

use std::net::SocketAddr;
use std::time::Duration;

use carillon_store::{DkimKeyRecord, MailDomainRecord, DKIM_ACTIVE, DKIM_RETIRING};
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::error::{ResolveError, ResolveErrorKind};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Name, TokioAsyncResolver};
use rand::Rng;
use tokio::task::JoinSet;

/// `OwnershipVerificationStatus` / `DkimVerificationStatus` values of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationStatus {
    /// The record has not been found (yet).
    Pending,
    /// The record is published with the expected value.
    Verified,
    /// The record has another value, or DNS could not be reached.
    Failed,
}

impl VerificationStatus {
    /// The model's enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationStatus::Pending => "PENDING",
            VerificationStatus::Verified => "VERIFIED",
            VerificationStatus::Failed => "FAILED",
        }
    }

    /// Parses a stored value; anything unknown reads as `Pending`.
    pub fn parse(s: &str) -> Self {
        match s {
            "VERIFIED" => VerificationStatus::Verified,
            "FAILED" => VerificationStatus::Failed,
            _ => VerificationStatus::Pending,
        }
    }
}

/// One DNS record the domain's owner must publish (`DnsRecord` of the model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedRecord {
    /// `TXT` or `MX`.
    pub record_type: &'static str,
    /// Fully qualified owner name with a trailing dot.
    pub hostname: String,
    /// Record data as a zone file would hold it (TXT without quotes).
    pub value: String,
}

/// Outcome of a verification pass over one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Status of the `_amazonses` TXT record.
    pub ownership: VerificationStatus,
    /// Status of the active keys' DKIM TXT records together.
    pub dkim: VerificationStatus,
    /// Status of each key's TXT record (every state), by selector.
    pub keys: Vec<(String, VerificationStatus)>,
}

/// What one lookup found.
enum Lookup {
    /// The values published at the name for the type asked.
    Found(Vec<String>),
    /// NXDOMAIN, or the name has no record of that type.
    Missing,
    /// Timeout, SERVFAIL, refused, network error.
    Unreachable,
}

/// Computes expected records and checks them through a DNS resolver.
#[derive(Clone)]
pub struct DnsVerifier {
    hostname: String,
    resolver: TokioAsyncResolver,
}

impl std::fmt::Debug for DnsVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DnsVerifier({})", self.hostname)
    }
}

/// A fresh ownership token: 32 random bytes, base64, like an SES verification token.
pub fn new_ownership_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::thread_rng().gen();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Two fresh DKIM selectors (the Ed25519 key's, then the RSA key's, see
/// [`crate::dkim::generate_keys`]) of 32 lowercase base-32 characters each.
pub fn new_dkim_selectors() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::thread_rng();
    (0..2)
        .map(|_| {
            (0..32)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect()
        })
        .collect()
}

/// `name` lower-cased without a trailing dot, for comparisons.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsVerifier {
    /// A verifier for records pointing at `mail_hostname` (Carillon's `--hostname`), resolving
    /// through `nameserver` (UDP, TCP on truncation) or, when `None`, the system resolver
    /// configuration (`/etc/resolv.conf`).
    ///
    /// Errors: the system configuration cannot be read.
    pub fn new(mail_hostname: &str, nameserver: Option<SocketAddr>) -> Result<Self, ResolveError> {
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
        // Verification must see what DNS says now: no answer (or absence) is cached.
        opts.cache_size = 0;
        opts.use_hosts_file = false;
        opts.timeout = Duration::from_secs(3);
        opts.attempts = 2;
        // EDNS(0): DKIM key records (RSA-2048) make answers longer than plain DNS's 512 bytes.
        opts.edns0 = true;
        Ok(DnsVerifier {
            hostname: normalize(mail_hostname),
            resolver: TokioAsyncResolver::tokio(config, opts),
        })
    }

    /// Carillon's mail host name (MX target), lower-case.
    pub fn mail_hostname(&self) -> &str {
        &self.hostname
    }

    /// The records the owner of `domain` publishes, in the console's order: ownership,
    /// WorkMail configuration (MX), improved security (SPF, DMARC), improved delivery (DKIM:
    /// one TXT per key of `dkim`).
    pub fn expected_records(
        &self,
        domain: &MailDomainRecord,
        dkim: &[DkimKeyRecord],
    ) -> Vec<ExpectedRecord> {
        let d = &domain.domain_name;
        let host = &self.hostname;
        let mut records = vec![
            ExpectedRecord {
                record_type: "TXT",
                hostname: format!("_amazonses.{d}."),
                value: domain.ownership_token.clone(),
            },
            ExpectedRecord {
                record_type: "MX",
                hostname: format!("{d}."),
                value: format!("10 {host}."),
            },
            ExpectedRecord {
                record_type: "TXT",
                hostname: format!("{d}."),
                value: format!("v=spf1 a:{host} ~all"),
            },
            ExpectedRecord {
                record_type: "TXT",
                hostname: format!("_dmarc.{d}."),
                value: "v=DMARC1; p=quarantine; pct=100; fo=1".to_string(),
            },
        ];
        // A retiring key's record may go: it is not listed any more.
        let published = dkim.iter().filter(|k| k.state != DKIM_RETIRING);
        records.extend(published.map(|key| ExpectedRecord {
            record_type: "TXT",
            hostname: format!("{}._domainkey.{d}.", key.selector),
            value: crate::dkim::txt_record_value(key),
        }));
        records
    }

    /// Looks the domain's ownership TXT and the DKIM TXT of every key in `dkim` up
    /// (concurrently) and derives both statuses (DKIM, over the active keys, is `PENDING`
    /// while the domain has none) and each key's. A status that was `VERIFIED` stays so when DNS is merely unreachable (a
    /// transient outage does not un-verify a domain); a wrong or removed record changes it.
    pub async fn verify(&self, domain: &MailDomainRecord, dkim: &[DkimKeyRecord]) -> Verification {
        let mut queries = vec![(
            format!("_amazonses.{}.", domain.domain_name),
            RecordType::TXT,
        )];
        queries.extend(dkim.iter().map(|key| {
            (
                format!("{}._domainkey.{}.", key.selector, domain.domain_name),
                RecordType::TXT,
            )
        }));
        let mut lookups = JoinSet::new();
        for (index, (name, record_type)) in queries.into_iter().enumerate() {
            let resolver = self.resolver.clone();
            lookups.spawn(async move { (index, lookup(&resolver, &name, record_type).await) });
        }
        let mut found: Vec<Option<Lookup>> = Vec::new();
        found.resize_with(dkim.len() + 1, || None);
        while let Some(joined) = lookups.join_next().await {
            if let Ok((index, result)) = joined {
                found[index] = Some(result);
            }
        }
        let mut found = found.into_iter().map(|l| l.unwrap_or(Lookup::Unreachable));

        let previous = VerificationStatus::parse(&domain.ownership_verification_status);
        let ownership = match found.next().unwrap_or(Lookup::Unreachable) {
            Lookup::Found(values) if values.contains(&domain.ownership_token) => {
                VerificationStatus::Verified
            }
            Lookup::Found(_) => VerificationStatus::Failed,
            Lookup::Missing => VerificationStatus::Pending,
            Lookup::Unreachable => sticky(previous),
        };
        let previous = VerificationStatus::parse(&domain.dkim_verification_status);
        let mut status_of_keys = if dkim.iter().any(|k| k.state == DKIM_ACTIVE) {
            VerificationStatus::Verified
        } else {
            VerificationStatus::Pending
        };
        let mut keys = Vec::with_capacity(dkim.len());
        for (key, result) in dkim.iter().zip(found) {
            let status = match result {
                Lookup::Found(values)
                    if values
                        .iter()
                        .any(|v| crate::dkim::txt_record_matches(v, key)) =>
                {
                    VerificationStatus::Verified
                }
                Lookup::Found(_) => VerificationStatus::Failed,
                Lookup::Missing => VerificationStatus::Pending,
                Lookup::Unreachable => sticky(previous),
            };
            if key.state == DKIM_ACTIVE {
                status_of_keys = worst(status_of_keys, status);
            }
            keys.push((key.selector.clone(), status));
        }
        Verification {
            ownership,
            dkim: status_of_keys,
            keys,
        }
    }
}

/// Status after an unreachable lookup: a verified record stays verified, anything else fails
/// ("cannot be reached", workmail.md §1.3).
fn sticky(previous: VerificationStatus) -> VerificationStatus {
    if previous == VerificationStatus::Verified {
        VerificationStatus::Verified
    } else {
        VerificationStatus::Failed
    }
}

/// The combined status of several records: failed if any failed, else pending if any is.
fn worst(a: VerificationStatus, b: VerificationStatus) -> VerificationStatus {
    use VerificationStatus::*;
    match (a, b) {
        (Failed, _) | (_, Failed) => Failed,
        (Pending, _) | (_, Pending) => Pending,
        _ => Verified,
    }
}

/// Values at `name` for `record_type`: TXT character-strings joined.
async fn lookup(resolver: &TokioAsyncResolver, name: &str, record_type: RecordType) -> Lookup {
    let Ok(name) = Name::from_ascii(name) else {
        return Lookup::Missing;
    };
    match resolver.lookup(name, record_type).await {
        Ok(answer) => Lookup::Found(
            answer
                .record_iter()
                .filter_map(|record| match record.data()? {
                    RData::TXT(txt) => Some(
                        txt.txt_data()
                            .iter()
                            .map(|part| String::from_utf8_lossy(part).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect(),
        ),
        Err(e) => match e.kind() {
            ResolveErrorKind::NoRecordsFound { response_code, .. }
                if matches!(
                    *response_code,
                    ResponseCode::NXDomain | ResponseCode::NoError
                ) =>
            {
                Lookup::Missing
            }
            _ => Lookup::Unreachable,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> MailDomainRecord {
        MailDomainRecord {
            domain_name: "example.com".into(),
            organization_id: "m-00000000000000000000000000000000".into(),
            is_test_domain: false,
            ownership_token: "tok=".into(),
            dkim_selectors: vec!["s1".into(), "s2".into()],
            ownership_verification_status: "PENDING".into(),
            dkim_verification_status: "PENDING".into(),
            created_at: 0,
        }
    }

    #[tokio::test]
    async fn expected_records_point_at_the_mail_host() {
        let verifier =
            DnsVerifier::new("Mail.Carillon.Test.", Some("127.0.0.1:53".parse().unwrap())).unwrap();
        let key = DkimKeyRecord {
            domain_name: "example.com".into(),
            selector: "s2".into(),
            algorithm: "ed25519".into(),
            private_key: String::new(),
            public_key: "cHVibGlj".into(),
            created_at: 0,
            state: carillon_store::DKIM_ACTIVE.into(),
        };
        let records = verifier.expected_records(&domain(), &[key]);
        let find = |t: &str, h: &str| {
            records
                .iter()
                .find(|r| r.record_type == t && r.hostname == h)
                .map(|r| r.value.clone())
        };
        assert_eq!(
            find("TXT", "_amazonses.example.com.").as_deref(),
            Some("tok=")
        );
        assert_eq!(
            find("MX", "example.com.").as_deref(),
            Some("10 mail.carillon.test.")
        );
        assert_eq!(
            find("TXT", "example.com.").as_deref(),
            Some("v=spf1 a:mail.carillon.test ~all")
        );
        assert!(find("TXT", "_dmarc.example.com.")
            .unwrap()
            .starts_with("v=DMARC1;"));
        assert_eq!(
            find("TXT", "s2._domainkey.example.com.").as_deref(),
            Some("v=DKIM1; k=ed25519; p=cHVibGlj")
        );
        assert_eq!(records.len(), 5);
    }

    #[test]
    fn fresh_tokens_and_selectors_have_their_shapes() {
        let token = new_ownership_token();
        assert_eq!(token.len(), 44);
        assert_ne!(token, new_ownership_token());
        let selectors = new_dkim_selectors();
        assert_eq!(selectors.len(), 2);
        assert!(selectors.iter().all(|s| s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())));
    }
}
