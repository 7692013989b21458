//! The outbound queue worker against a fake remote peer reached as the smarthost: delivery,
//! permanent failures bounced with a DSN into the sender's INBOX, expiry, no bounce of a
//! bounce, and resumption of rows held by a node that died.

mod common;

use std::time::Duration;

use bytes::Bytes;
use carillon_mail::delivery::{self, Envelope};
use carillon_mail::login::MailUser;
use carillon_smtp::OutboundConfig;
use carillon_store::NewOutbound;
use common::{address, fake_peer, user_id, wait_until, Harness};

const MESSAGE: &[u8] = b"From: alice@example.test\r\nSubject: out\r\n\r\nhello remote\r\n.dot\r\n";

fn alice(h: &Harness) -> MailUser {
    MailUser {
        account_id: "111122223333".to_string(),
        organization_id: h.org.clone(),
        user_id: user_id("alice"),
        email: address("alice"),
        addresses: vec![address("alice"), address("sales")],
    }
}

fn config(smarthost: String, node: &str, queue_lifetime: Duration) -> OutboundConfig {
    OutboundConfig {
        hostname: common::HOSTNAME.to_string(),
        smarthost: Some(smarthost),
        resolver_nameserver: None,
        queue_lifetime,
        retry_base: Duration::from_millis(50),
        node_id: node.to_string(),
        extra_ca_pem: None,
    }
}

fn start_worker(h: &Harness, config: OutboundConfig) -> tokio::sync::oneshot::Sender<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(carillon_smtp::run_outbound_queue(
        h.store.clone(),
        config,
        async move {
            let _ = rx.await;
        },
    ));
    tx
}

async fn queue_is_empty(h: &Harness) -> bool {
    h.store.list_outbound(&h.org).await.unwrap().is_empty()
}

#[tokio::test]
async fn delivers_to_the_smarthost_and_bounces_permanent_failures() {
    let h = Harness::start().await;
    let (peer, received) = fake_peer().await;
    let envelope = Envelope {
        mail_from: address("alice"),
        recipients: vec![
            "ok@remote.test".to_string(),
            "nobody@remote.test".to_string(),
        ],
    };
    let outcome = delivery::submit(
        &h.store,
        &alice(&h),
        &envelope,
        Bytes::from([b"Return-Path: <alice@example.test>\r\n".as_slice(), MESSAGE].concat()),
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    assert_eq!(
        outcome
            .with_status(delivery::RecipientStatus::Queued)
            .count(),
        2
    );
    // A bounce that fails in turn must not bounce again.
    let now = carillon_core::time::now_millis();
    h.store
        .blobs()
        .put("messages/a-bounce", Bytes::from_static(MESSAGE))
        .await
        .unwrap();
    h.store
        .enqueue_outbound(&[NewOutbound {
            organization_id: h.org.clone(),
            envelope_from: String::new(),
            recipient: "nobody@remote.test".to_string(),
            blob_key: "messages/a-bounce".to_string(),
            next_attempt_at: now,
            expires_at: now + 3_600_000,
            gateway_id: None,
            message_key: None,
        }])
        .await
        .unwrap();

    let stop = start_worker(
        &h,
        config(peer.to_string(), "node-1", Duration::from_secs(3600)),
    );
    wait_until("the queue drains", || queue_is_empty(&h)).await;
    let _ = stop.send(());

    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0, "alice@example.test");
    assert_eq!(received[0].1, vec!["ok@remote.test".to_string()]);
    assert_eq!(
        received[0].2, MESSAGE,
        "the peer gets the stored bytes unchanged"
    );

    // Exactly one DSN, for the submitted message, in alice's INBOX.
    let inbox = h.messages("alice", "INBOX").await;
    assert_eq!(inbox.len(), 1);
    let dsn = String::from_utf8(inbox[0].0.clone()).unwrap();
    assert!(dsn.starts_with("Return-Path: <>\r\n"), "{dsn}");
    assert!(dsn.contains("Content-Type: multipart/report; report-type=delivery-status;"));
    assert!(
        dsn.contains(
            "Final-Recipient: rfc822; nobody@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        ),
        "{dsn}"
    );
    assert!(
        dsn.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user here"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Subject: out\r\n"),
        "the original headers are returned"
    );
    assert!(!dsn.contains("hello remote"), "the body is not returned");
    // The bounce's blob had no other reference and is gone.
    assert!(h.store.blobs().get("messages/a-bounce").await.is_err());
}

#[tokio::test]
async fn an_expired_message_bounces_with_4_4_7() {
    let h = Harness::start().await;
    // A port nothing listens on: every attempt fails transiently.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let envelope = Envelope {
        mail_from: address("sales"),
        recipients: vec!["late@remote.test".to_string()],
    };
    delivery::submit(
        &h.store,
        &alice(&h),
        &envelope,
        Bytes::from_static(MESSAGE),
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    // The worker's lifetime (zero) overrides the row's: the first failure is final.
    let stop = start_worker(&h, config(closed.to_string(), "node-1", Duration::ZERO));
    wait_until("the queue drains", || queue_is_empty(&h)).await;
    let _ = stop.send(());
    let inbox = h.messages("alice", "INBOX").await;
    assert_eq!(inbox.len(), 1, "the DSN goes to the alias's mailbox");
    let dsn = String::from_utf8(inbox[0].0.clone()).unwrap();
    assert!(
        dsn.contains(
            "Final-Recipient: rfc822; late@remote.test\r\nAction: failed\r\nStatus: 4.4.7\r\n"
        ),
        "{dsn}"
    );
    assert!(dsn.contains("delivery time expired"), "{dsn}");
}

#[tokio::test]
async fn transient_failures_are_retried_until_the_peer_answers() {
    let h = Harness::start().await;
    let envelope = Envelope {
        mail_from: address("alice"),
        recipients: vec!["later@remote.test".to_string()],
    };
    delivery::submit(
        &h.store,
        &alice(&h),
        &envelope,
        Bytes::from_static(MESSAGE),
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    // First the smarthost is down.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let stop = start_worker(
        &h,
        config(closed.to_string(), "node-1", Duration::from_secs(3600)),
    );
    wait_until("a failed attempt is recorded", || async {
        let rows = h.store.list_outbound(&h.org).await.unwrap();
        rows.len() == 1 && rows[0].attempts >= 1 && rows[0].last_error.is_some()
    })
    .await;
    let _ = stop.send(());
    // node-2 takes the row (as if an hour had passed, so whatever node-1 held has expired)
    // and dies holding it: its lease is released when it starts again.
    let later = carillon_core::time::now_millis() + 3_600_000;
    let leased = h
        .store
        .lease_outbound("node-2", later, 3_600_000, 10)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    let (peer, received) = fake_peer().await;
    let stop = start_worker(
        &h,
        config(peer.to_string(), "node-2", Duration::from_secs(3600)),
    );
    wait_until("the queue drains", || queue_is_empty(&h)).await;
    let _ = stop.send(());
    assert_eq!(received.lock().unwrap().len(), 1);
    assert!(h.messages("alice", "INBOX").await.is_empty(), "no bounce");
}
