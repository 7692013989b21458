//! Sender authentication on the MX path (workmail.md §2.25) through a stub DNS server:
//! `Authentication-Results` above the trace headers, `550 5.7.1` for a DMARC `p=reject`
//! forgery, and no evaluation on submission.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use common::{Client, Harness, DOMAIN};
use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

/// A UDP DNS server on 127.0.0.1 answering TXT queries from `records` (lower-case names
/// without trailing dot); anything else is NXDOMAIN.
async fn dns_stub(records: HashMap<String, String>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let records = Arc::new(records);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..len]) else {
                continue;
            };
            let mut reply = Message::new();
            reply
                .set_id(query.id())
                .set_message_type(MessageType::Response)
                .set_recursion_desired(query.recursion_desired())
                .set_recursion_available(true);
            let mut found = false;
            for q in query.queries() {
                reply.add_query(q.clone());
                let name = q
                    .name()
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                if let Some(value) = records.get(&name) {
                    found = true;
                    if q.query_type() == RecordType::TXT {
                        let data = RData::TXT(TXT::new(vec![value.clone()]));
                        reply.add_answer(Record::from_rdata(q.name().clone(), 60, data));
                    }
                }
            }
            if !found {
                reply.set_response_code(ResponseCode::NXDomain);
            }
            let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

async fn send(c: &mut Client, from_domain: &str, subject: &str) -> String {
    assert!(c
        .cmd(&format!("MAIL FROM:<ceo@{from_domain}>"))
        .await
        .starts_with("250"));
    assert!(c
        .cmd(&format!("RCPT TO:<alice@{DOMAIN}>"))
        .await
        .starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(
        format!(
            "From: <ceo@{from_domain}>\r\nTo: <alice@{DOMAIN}>\r\nSubject: {subject}\r\n\r\nWire the money.\r\n"
        )
        .as_bytes(),
    )
    .await;
    c.cmd(".").await
}

#[tokio::test]
async fn dmarc_verdicts_on_the_mx() {
    let records = HashMap::from([
        ("forged.test".into(), "v=spf1 ip4:192.0.2.1 -all".into()),
        ("_dmarc.forged.test".into(), "v=DMARC1; p=reject".into()),
        ("friendly.test".into(), "v=spf1 ip4:127.0.0.1 -all".into()),
        ("_dmarc.friendly.test".into(), "v=DMARC1; p=reject".into()),
    ]);
    let h = Harness::start_authenticating(dns_stub(records).await).await;
    let mut c = Client::connect(h.inbound).await;
    assert!(c.cmd("EHLO client.remote.test").await.starts_with("250"));

    let reply = send(&mut c, "forged.test", "forged").await;
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
    assert!(h.messages("alice", "INBOX").await.is_empty());

    let reply = send(&mut c, "friendly.test", "aligned").await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    let messages = h.messages("alice", "INBOX").await;
    assert_eq!(messages.len(), 1);
    let text = String::from_utf8(messages[0].0.clone()).unwrap();
    assert!(
        text.starts_with("Authentication-Results: mx.carillon.test;\r\n\tspf=pass"),
        "{text}"
    );
    let trace_end = text.find("Return-Path: <ceo@friendly.test>\r\n").unwrap();
    let header = &text[..trace_end];
    assert!(header.contains("dkim=none"), "{header}");
    assert!(
        header.contains("dmarc=pass header.from=friendly.test"),
        "{header}"
    );
    assert!(
        text.ends_with("From: <ceo@friendly.test>\r\nTo: <alice@example.test>\r\nSubject: aligned\r\n\r\nWire the money.\r\n"),
        "the message itself is unchanged: {text}"
    );
}
