//! The inbound (MX) listener driven over raw TCP: delivery to a user, an alias and a group,
//! unknown recipients, relay refusal, limits, malformed commands.

mod common;

use common::{address, Client, Harness, DOMAIN, HOSTNAME};

const MESSAGE: &str = "From: sender@remote.test\r\nTo: team@example.test\r\nSubject: hello\r\n\r\nline one\r\n..leading dot\r\n";

async fn ehlo(client: &mut Client) {
    let reply = client.cmd("EHLO client.remote.test").await;
    assert!(reply.starts_with(&format!("250-{HOSTNAME}")), "{reply}");
}

#[tokio::test]
async fn delivers_to_user_alias_and_group_with_trace_headers() {
    let h = Harness::start().await;
    let mut c = Client::connect(h.inbound).await;
    let reply = c.cmd("EHLO client.remote.test").await;
    for capability in [
        "PIPELINING",
        "SIZE 41943040",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
    ] {
        assert!(
            reply.contains(capability),
            "{capability} missing in {reply}"
        );
    }
    assert!(!reply.contains("AUTH"), "no AUTH on the MX: {reply}");
    assert!(c
        .cmd("MAIL FROM:<sender@remote.test>")
        .await
        .starts_with("250 2.1.0"));
    for rcpt in ["alice", "SALES", "team"] {
        let reply = c.cmd(&format!("RCPT TO:<{rcpt}@{DOMAIN}>")).await;
        assert!(reply.starts_with("250 2.1.5"), "{rcpt}: {reply}");
    }
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(MESSAGE.replace("..leading", "...leading").as_bytes())
        .await;
    let reply = c.cmd(".").await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    assert!(c.cmd("QUIT").await.starts_with("221"));

    // alice is reached twice (address and alias) but gets one copy; bob and carol via team.
    for user in ["alice", "bob", "carol"] {
        let messages = h.messages(user, "INBOX").await;
        assert_eq!(messages.len(), 1, "{user}");
        let text = String::from_utf8(messages[0].0.clone()).unwrap();
        let (trace, rest) = text.split_at(text.find("From: ").unwrap());
        assert_eq!(rest, MESSAGE, "dot-unstuffed, otherwise unchanged");
        assert!(trace.starts_with("Return-Path: <sender@remote.test>\r\nReceived: from client.remote.test ([127.0.0.1])\r\n\tby mx.carillon.test with ESMTP id "), "{trace}");
        assert!(
            !trace.contains("\tfor <"),
            "no `for` with several recipients: {trace}"
        );
        assert!(messages[0].1.is_empty(), "new mail has no flags");
    }
    let size = h
        .store
        .mailbox_size(&common::user_id("alice"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(size as usize, h.messages("alice", "INBOX").await[0].0.len());
}

#[tokio::test]
async fn unknown_recipients_and_relaying_are_refused() {
    let h = Harness::start().await;
    let mut c = Client::connect(h.inbound).await;
    ehlo(&mut c).await;
    assert!(c
        .cmd("MAIL FROM:<spammer@remote.test>")
        .await
        .starts_with("250"));
    let reply = c.cmd(&format!("RCPT TO:<nobody@{DOMAIN}>")).await;
    assert!(reply.starts_with("550 5.1.1"), "{reply}");
    let reply = c.cmd("RCPT TO:<victim@elsewhere.test>").await;
    assert!(reply.starts_with("554 5.7.1"), "{reply}");
    // Nothing accepted: DATA is refused, the session goes on.
    assert!(c.cmd("DATA").await.starts_with("554 5.5.1"));
    assert!(c.cmd("RCPT TO:<bob@example.test>").await.starts_with("250"));
    let reply = c.cmd("RCPT TO:<carol@example.test> NOTIFY=NEVER").await;
    assert!(reply.starts_with("250"), "{reply}");
    assert!(c.cmd("QUIT").await.starts_with("221"));
    assert!(h.messages("bob", "INBOX").await.is_empty());
}

#[tokio::test]
async fn submission_commands_are_refused_on_the_mx() {
    let h = Harness::start().await;
    let mut c = Client::connect(h.inbound).await;
    ehlo(&mut c).await;
    let reply = c.cmd("AUTH PLAIN AGFsaWNlAHg=").await;
    assert!(reply.starts_with("502 5.5.1"), "{reply}");
}

#[tokio::test]
async fn malformed_commands_get_500_or_501_and_the_session_goes_on() {
    let h = Harness::start().await;
    let mut c = Client::connect(h.inbound).await;
    assert!(c.cmd("FROBNICATE now").await.starts_with("500 5.5.1"));
    // MAIL before EHLO.
    assert!(c
        .cmd("MAIL FROM:<a@remote.test>")
        .await
        .starts_with("503 5.5.1"));
    ehlo(&mut c).await;
    let reply = c.cmd("MAIL FROM:no-brackets@remote.test").await;
    assert!(reply.starts_with("501 5."), "{reply}");
    let reply = c.cmd("MAIL FROM:<unterminated").await;
    assert!(reply.starts_with("501 5."), "{reply}");
    let reply = c.cmd("MAIL FROM:<a@remote.test> SIZE=abc").await;
    assert!(reply.starts_with("501 5.5.4"), "{reply}");
    assert!(c
        .cmd("RCPT TO:<alice@example.test>")
        .await
        .starts_with("503 5.5.1"));
    assert!(c.cmd("EHLO").await.starts_with("501"));
    let long = format!("NOOP {}", "x".repeat(10_000));
    assert!(c.cmd(&long).await.starts_with("500 5.5.2"));
    assert!(c.cmd("VRFY alice").await.starts_with("252"));
    assert!(c.cmd("EXPN team").await.starts_with("502"));
    assert!(c.cmd("HELP").await.starts_with("214"));
    assert!(c.cmd("NOOP").await.starts_with("250 2.0.0"));
    // After all that the session still delivers.
    assert!(c.cmd("MAIL FROM:<a@remote.test>").await.starts_with("250"));
    assert!(c
        .cmd("RCPT TO:<alice@example.test>")
        .await
        .starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    assert!(c
        .cmd("Subject: x\r\n\r\nbody\r\n.")
        .await
        .starts_with("250"));
    assert_eq!(h.messages("alice", "INBOX").await.len(), 1);
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let h = Harness::start().await;
    let mut c = Client::connect(h.inbound).await;
    ehlo(&mut c).await;
    c.send(b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n").await;
    assert!(c.reply().await.starts_with("250 2.1.0"));
    assert!(c.reply().await.starts_with("250 2.1.5"));
    assert!(c.reply().await.starts_with("550 5.1.1"));
    assert!(c.reply().await.starts_with("354"));
    c.send(b"Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n").await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    assert!(c.reply().await.starts_with("221"));
    let bob = h.messages("bob", "INBOX").await;
    assert_eq!(bob.len(), 1);
    assert!(String::from_utf8_lossy(&bob[0].0).contains("\tfor <bob@example.test>;"));
}

#[tokio::test]
async fn oversize_messages_are_refused_with_552() {
    let limit = 10_000;
    let h = Harness::start_with(limit).await;
    let mut c = Client::connect(h.inbound).await;
    let reply = c.cmd("EHLO client.remote.test").await;
    assert!(reply.contains("SIZE 10000"), "{reply}");
    let reply = c.cmd("MAIL FROM:<a@remote.test> SIZE=10001").await;
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    // Undeclared size: the data is read to its end, then refused; the session goes on.
    assert!(c.cmd("MAIL FROM:<a@remote.test>").await.starts_with("250"));
    assert!(c
        .cmd("RCPT TO:<alice@example.test>")
        .await
        .starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    let big = format!(
        "Subject: big\r\n\r\n{}",
        "0123456789abcdef\r\n".repeat(1000)
    );
    c.send(big.as_bytes()).await;
    let reply = c.cmd(".").await;
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    assert!(c.cmd("NOOP").await.starts_with("250"));
    assert!(h.messages("alice", "INBOX").await.is_empty());
    assert_eq!(
        h.store
            .mailbox_size(&common::user_id("alice"))
            .await
            .unwrap(),
        Some(0)
    );
}

#[tokio::test]
async fn more_than_500_recipients_get_452() {
    let h = Harness::start().await;
    // 501 distinct aliases of alice, each accepted on its own.
    for i in 0..501 {
        h.db.insert_address(
            &h.org,
            &common::user_id("alice"),
            &address(&format!("a{i}")),
            false,
        )
        .await;
    }
    let mut c = Client::connect(h.inbound).await;
    ehlo(&mut c).await;
    let mut batch = String::from("MAIL FROM:<a@remote.test>\r\n");
    for i in 0..501 {
        batch.push_str(&format!("RCPT TO:<a{i}@{DOMAIN}>\r\n"));
    }
    c.send(batch.as_bytes()).await;
    assert!(c.reply().await.starts_with("250"));
    for i in 0..500 {
        let reply = c.reply().await;
        assert!(reply.starts_with("250 2.1.5"), "recipient {i}: {reply}");
    }
    let reply = c.reply().await;
    assert!(reply.starts_with("452 4.5.3"), "{reply}");
    assert!(c.cmd("DATA").await.starts_with("354"));
    assert!(c
        .cmd("Subject: many\r\n\r\nx\r\n.")
        .await
        .starts_with("250"));
    // One mailbox behind all the aliases: one copy.
    assert_eq!(h.messages("alice", "INBOX").await.len(), 1);
}

#[tokio::test]
async fn a_full_mailbox_is_refused_with_552_5_2_2() {
    let h = Harness::start().await;
    h.db.exec(
        "UPDATE entities SET mailbox_quota_mb = 1 WHERE entity_id = $1",
        &[&common::user_id("carol")],
    )
    .await;
    let mut c = Client::connect(h.inbound).await;
    ehlo(&mut c).await;
    // A declared size over the quota is refused at RCPT time.
    assert!(c
        .cmd("MAIL FROM:<a@remote.test> SIZE=2000000")
        .await
        .starts_with("250"));
    let reply = c.cmd("RCPT TO:<carol@example.test>").await;
    assert!(reply.starts_with("552 5.2.2"), "{reply}");
    // The group still reaches bob, whose mailbox has room.
    assert!(c
        .cmd("RCPT TO:<team@example.test>")
        .await
        .starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    let line = format!("{}\r\n", "x".repeat(78));
    let big = format!("Subject: big\r\n\r\n{}", line.repeat(15_000));
    c.send(big.as_bytes()).await;
    assert!(c.cmd(".").await.starts_with("250"));
    assert_eq!(h.messages("bob", "INBOX").await.len(), 1);
    assert!(h.messages("carol", "INBOX").await.is_empty());
}

#[tokio::test]
async fn shutdown_stops_the_listeners() {
    let mut h = Harness::start().await;
    h.stop().await;
    assert!(tokio::net::TcpStream::connect(h.inbound).await.is_err());
}
