//! SMTP sessions driven in memory (`tokio::io::duplex`, no socket, no TLS): the paths the
//! end-to-end scripts take most, checked without a listener in between.

mod common;

use carillon_smtp::Role;
use common::{address, Harness, PASSWORD};

#[tokio::test]
async fn in_memory_inbound_session_delivers_to_a_local_mailbox() {
    let mut h = Harness::start().await;
    let (mut c, session) = h.in_memory(Role::Inbound).await;
    let ehlo = c.cmd("EHLO client.remote.test").await;
    assert!(ehlo.starts_with("250-"), "{ehlo}");
    assert!(
        ehlo.contains("PIPELINING") && ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    assert!(c
        .cmd("MAIL FROM:<sender@remote.test>")
        .await
        .starts_with("250 2.1.0"));
    let rcpt = c.cmd(&format!("RCPT TO:<{}>", address("bob"))).await;
    assert!(rcpt.starts_with("250 2.1.5"), "{rcpt}");
    assert!(c.cmd("DATA").await.starts_with("354 "));
    c.send(b"Subject: in memory\r\n\r\nHello Bob.\r\n..leading dot\r\n")
        .await;
    let accepted = c.cmd(".").await;
    assert!(
        accepted.starts_with("250 2.0.0 OK: queued as "),
        "{accepted}"
    );
    assert!(c.cmd("QUIT").await.starts_with("221 "));
    session.await.unwrap().unwrap();

    let inbox = h.messages("bob", "INBOX").await;
    assert_eq!(inbox.len(), 1);
    let stored = String::from_utf8(inbox[0].0.clone()).unwrap();
    assert!(
        stored.starts_with(
            "Return-Path: <sender@remote.test>\r\nReceived: from client.remote.test ([192.0.2.25])"
        ),
        "{stored}"
    );
    assert!(
        stored.ends_with("Subject: in memory\r\n\r\nHello Bob.\r\n.leading dot\r\n"),
        "{stored}"
    );
    h.stop().await;
}

#[tokio::test]
async fn in_memory_submission_session_refuses_mail_before_auth() {
    let mut h = Harness::start().await;
    let (mut c, session) = h.in_memory(Role::Submission).await;
    assert!(!c.cmd("EHLO laptop").await.contains("AUTH"));
    let before_tls = c.cmd(&format!("MAIL FROM:<{}>", address("alice"))).await;
    assert!(before_tls.starts_with("530 5.7.0"), "{before_tls}");
    assert!(c.cmd("STARTTLS").await.starts_with("220 "));
    let ehlo = c.cmd("EHLO laptop").await;
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    let before_auth = c.cmd(&format!("MAIL FROM:<{}>", address("alice"))).await;
    assert_eq!(before_auth, "530 5.7.0 Authentication required");

    let credentials = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("\0{}\0{PASSWORD}", address("alice")),
    );
    let auth = c.cmd(&format!("AUTH PLAIN {credentials}")).await;
    assert!(auth.starts_with("235 "), "{auth}");
    let mail = c.cmd(&format!("MAIL FROM:<{}>", address("alice"))).await;
    assert!(mail.starts_with("250 2.1.0"), "{mail}");
    assert!(c.cmd("QUIT").await.starts_with("221 "));
    session.await.unwrap().unwrap();
    h.stop().await;
}
