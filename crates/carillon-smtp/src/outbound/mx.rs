//! Where a queued recipient is delivered: the DNS resolver (system or configured name
//! server), the MX hosts of the recipient's domain with their addresses (RFC 5321 §5.1,
//! implicit MX, null MX of RFC 7505), or the configured smarthost.

use std::net::SocketAddr;

use hickory_resolver::config::{NameServerConfig, Protocol, ResolverConfig, ResolverOpts};
use hickory_resolver::error::ResolveErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::TokioAsyncResolver;

use super::{transient, Failure};

/// The SMTP port of an MX host (RFC 5321 §4.5.4).
const SMTP_PORT: u16 = 25;

pub(super) fn build_resolver(
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

pub(super) async fn smarthost_targets(
    smarthost: &str,
) -> Result<Vec<(String, Vec<SocketAddr>)>, Failure> {
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
pub(super) async fn mx_targets(
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
}
