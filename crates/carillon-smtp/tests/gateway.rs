//! Queue rows an email flow rule routed to an SMTP gateway (workmail.md §2.8): a gateway that
//! cannot be used — it offers no STARTTLS, or it no longer exists — bounces the message to
//! its sender at once, and nothing is sent in clear text. (Delivery through a TLS + AUTH
//! gateway runs end to end in tests/e2e/flow_rules.py.)

mod common;

use std::time::Duration;

use bytes::Bytes;
use carillon_smtp::OutboundConfig;
use carillon_store::{NewOutbound, SmtpGatewayRecord};
use common::{address, fake_peer, wait_until, Harness};

const MESSAGE: &[u8] = b"From: alice@example.test\r\nSubject: routed\r\n\r\nfor the gateway\r\n";

fn config(node: &str) -> OutboundConfig {
    OutboundConfig {
        hostname: common::HOSTNAME.to_string(),
        // Never used: routed rows go to their gateway.
        smarthost: Some("127.0.0.1:9".to_string()),
        resolver_nameserver: None,
        queue_lifetime: Duration::from_secs(3600),
        retry_base: Duration::from_millis(50),
        node_id: node.to_string(),
        extra_ca_pem: None,
    }
}

async fn queue_routed(h: &Harness, blob: &str, gateway_id: &str) {
    h.store
        .blobs()
        .put(blob, Bytes::from_static(MESSAGE))
        .await
        .unwrap();
    let now = carillon_core::time::now_millis();
    h.store
        .enqueue_outbound(&[NewOutbound {
            organization_id: h.org.clone(),
            envelope_from: address("alice"),
            recipient: "buyer@partner.test".to_string(),
            blob_key: blob.to_string(),
            next_attempt_at: now,
            expires_at: now + 3_600_000,
            gateway_id: Some(gateway_id.to_string()),
            message_key: None,
        }])
        .await
        .unwrap();
}

async fn run_until_drained(h: &Harness, node: &str) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(carillon_smtp::run_outbound_queue(
        h.store.clone(),
        config(node),
        async move {
            let _ = rx.await;
        },
    ));
    wait_until("the queue drains", || async {
        h.store.list_outbound(&h.org).await.unwrap().is_empty()
    })
    .await;
    let _ = tx.send(());
}

#[tokio::test]
async fn a_gateway_without_starttls_bounces_at_once_and_gets_nothing() {
    let h = Harness::start().await;
    // The fake peer speaks SMTP but offers no STARTTLS.
    let (peer, received) = fake_peer().await;
    let gateway = SmtpGatewayRecord {
        gateway_id: "gw-plain".to_string(),
        organization_id: h.org.clone(),
        name: "plain".to_string(),
        address: peer.ip().to_string(),
        port: i64::from(peer.port()),
        username: "relay".to_string(),
        password: "Pa55-word!".to_string(),
        created_at: 1,
        updated_at: 1,
    };
    h.store
        .create_smtp_gateway("111122223333", &gateway)
        .await
        .unwrap();
    queue_routed(&h, "messages/routed-plain", "gw-plain").await;
    run_until_drained(&h, "node-plain").await;

    assert!(received.lock().unwrap().is_empty(), "nothing sent in clear");
    let inbox = h.messages("alice", "INBOX").await;
    assert_eq!(inbox.len(), 1, "one bounce, on the first attempt");
    let dsn = String::from_utf8(inbox[0].0.clone()).unwrap();
    assert!(
        dsn.contains(
            "Final-Recipient: rfc822; buyer@partner.test\r\nAction: failed\r\nStatus: 5.7.10\r\n"
        ),
        "{dsn}"
    );
    assert!(dsn.contains("does not offer STARTTLS"), "{dsn}");
}

#[tokio::test]
async fn a_row_whose_gateway_is_gone_bounces() {
    let h = Harness::start().await;
    queue_routed(&h, "messages/routed-gone", "gw-removed").await;
    run_until_drained(&h, "node-gone").await;
    let inbox = h.messages("alice", "INBOX").await;
    assert_eq!(inbox.len(), 1);
    let dsn = String::from_utf8(inbox[0].0.clone()).unwrap();
    assert!(dsn.contains("Status: 5.3.0\r\n"), "{dsn}");
    assert!(
        dsn.contains("the SMTP gateway gw-removed no longer exists"),
        "{dsn}"
    );
}
