//! The submission listener driven by Python's `smtplib` (tests/scripts/submission.py):
//! STARTTLS and AUTH required before MAIL, sender ownership, local delivery, the queued
//! foreign recipient and the Sent Items copy.

mod common;

use common::{Harness, PASSWORD};

#[tokio::test]
async fn smtplib_submits_through_starttls_and_auth() {
    let h = Harness::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/submission.py");
    // The test environment's interpreter when scripts/test set one up; smtplib is stdlib.
    let python = std::env::var("CARILLON_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(h.submission.port().to_string())
        .arg(PASSWORD)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("PASS"),
        "{stdout}\n{stderr}"
    );

    // bob got it, with the authenticated TLS trace.
    let bob = h.messages("bob", "INBOX").await;
    assert_eq!(bob.len(), 1);
    let text = String::from_utf8(bob[0].0.clone()).unwrap();
    assert!(text.starts_with("Return-Path: <sales@example.test>\r\nReceived: from client.example.test ([127.0.0.1])\r\n\tby mx.carillon.test with ESMTPSA id "), "{text}");
    assert!(
        text.ends_with("\r\n\r\nNumbers attached.\r\n.hidden dot line\r\n"),
        "{text}"
    );

    // alice's Sent Items holds the same message, read.
    let sent = h.messages("alice", "Sent Items").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, bob[0].0);
    assert_eq!(sent[0].1, vec!["\\Seen".to_string()]);
    assert!(h.messages("alice", "INBOX").await.is_empty());
    assert!(
        h.messages("carol", "INBOX").await.is_empty(),
        "the refused sender sent nothing"
    );

    // The foreign recipient waits in the outbound queue.
    let queued = h.store.list_outbound(&h.org).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].recipient, "partner@remote.test");
    assert_eq!(queued[0].envelope_from, "sales@example.test");
    assert_eq!(
        carillon_mail::crypto::read_organization_blob(
            &h.store,
            &h.org,
            &queued[0].blob_key,
            queued[0].message_key.as_deref(),
        )
        .await
        .unwrap()
        .to_vec(),
        bob[0].0
    );
}
