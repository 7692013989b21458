//! The email event log (workmail.md §4.1) written by real deliveries: JSON lines in the file
//! of the configured log group, one `traceId` per message, nothing for an organization whose
//! monitoring is off.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use carillon_mail::delivery::{self, Envelope, RecipientStatus};
use carillon_mail::events;
use carillon_mail::login::MailUser;
use carillon_store::testing::TestStore;
use carillon_store::EmailMonitoringRecord;
use serde_json::Value;

const ACCOUNT: &str = "111122223333";

/// The process-wide sink, in a directory kept for the test binary's life.
fn data_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        events::install(&dir, "eu-west-1");
        dir
    })
}

/// An organization `org` with domain `<alias>.test`, users alice and bob with mailboxes,
/// and email monitoring into the default log group of `alias` when `monitored`.
async fn organization(f: &TestStore, org: &str, alias: &str, monitored: bool) {
    f.insert_organization(ACCOUNT, org, alias, "Active").await;
    f.insert_mail_domain(org, &format!("{alias}.test")).await;
    for name in ["alice", "bob"] {
        let user = format!("{alias}-{name}");
        let address = format!("{name}@{alias}.test");
        f.insert_entity(org, &user, "USER", "ENABLED", Some(&address), None)
            .await;
        f.insert_address(org, &user, &address, true).await;
        f.store.create_mailbox(org, &user).await.unwrap();
    }
    if monitored {
        let record = EmailMonitoringRecord {
            account_id: ACCOUNT.to_string(),
            log_group_arn: format!(
                "arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/workmail/emailevents/{alias}:*"
            ),
            role_arn: None,
        };
        f.store.put_email_monitoring(org, &record, 1).await.unwrap();
    }
}

fn lines(alias: &str) -> Vec<Value> {
    let path = data_dir().join(format!("logs/emailevents/{alias}.jsonl"));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON record per line"))
        .collect()
}

fn named<'a>(records: &'a [Value], name: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["eventName"] == name).collect()
}

#[tokio::test]
async fn inbound_and_submitted_mail_is_logged_with_one_trace_per_message() {
    data_dir();
    let f = TestStore::sqlite().await;
    f.insert_account(ACCOUNT).await;
    let org = "m-0123456789abcdef0123456789abcdef";
    organization(&f, org, "evlog", true).await;
    organization(&f, "m-fedcba9876543210fedcba9876543210", "quiet", false).await;

    let inbound = Envelope {
        mail_from: "ann@remote.test".to_string(),
        recipients: vec![
            "alice@evlog.test".to_string(),
            "bob@evlog.test".to_string(),
            "nobody@evlog.test".to_string(),
            "alice@quiet.test".to_string(),
        ],
    };
    let message = Bytes::from_static(
        b"Authentication-Results: mx.test; spf=pass smtp.mailfrom=remote.test; dkim=none; dmarc=pass\r\n\
From: Ann <ann@remote.test>\r\nSubject: Hello\r\nMessage-ID: <1@remote.test>\r\n\r\nbody\r\n",
    );
    let outcome = delivery::deliver_inbound(&f.store, &inbound, message)
        .await
        .unwrap();
    let inbound_trace = events::trace_id(outcome.blob_key.as_deref().unwrap()).to_string();

    let alice = MailUser {
        account_id: ACCOUNT.to_string(),
        organization_id: org.to_string(),
        user_id: "evlog-alice".to_string(),
        email: "alice@evlog.test".to_string(),
        addresses: vec!["alice@evlog.test".to_string()],
    };
    let submitted = Envelope {
        mail_from: "alice@evlog.test".to_string(),
        recipients: vec!["bob@evlog.test".to_string(), "p@remote.test".to_string()],
    };
    let reply = Bytes::from_static(
        b"From: alice@evlog.test\r\nSubject: Re: Hello\r\nMessage-ID: <2@evlog.test>\r\n\r\nx\r\n",
    );
    let outcome = delivery::submit(&f.store, &alice, &submitted, reply, Duration::from_secs(60))
        .await
        .unwrap();
    let submit_trace = events::trace_id(outcome.blob_key.as_deref().unwrap()).to_string();

    // A recipient the MX refuses at RCPT time, before any message exists.
    delivery::record_refused_recipient(
        &f.store,
        &inbound,
        "ghost@evlog.test",
        RecipientStatus::NoSuchAddress,
    )
    .await;

    let records = lines("evlog");
    let arn = format!("arn:aws:workmail:eu-west-1:{ACCOUNT}:organization/{org}");
    assert!(records.iter().all(|r| r["organizationArn"] == arn.as_str()));

    let received = named(&records, "ORGANIZATION_EMAIL_RECEIVED");
    assert_eq!(received.len(), 2, "{records:#?}");
    let first = received[0];
    assert_eq!(first["traceId"], inbound_trace.as_str());
    assert_eq!(
        first["recipients"],
        serde_json::json!(["alice@evlog.test", "bob@evlog.test"])
    );
    assert_eq!(first["from"], "ann@remote.test");
    assert_eq!(first["sender"], "ann@remote.test");
    assert_eq!(first["subject"], "Hello");
    assert_eq!(first["messageId"], "<1@remote.test>");
    assert_eq!(first["spfVerdict"], "PASS");
    assert_eq!(first["dkimVerdict"], "GRAY");
    assert_eq!(first["dmarcVerdict"], "PASS");
    assert!(first.get("dmarcPolicy").is_none());
    // Submitted mail carries no verdicts of Carillon's.
    assert_eq!(received[1]["traceId"], submit_trace.as_str());
    assert!(received[1].get("spfVerdict").is_none());

    let delivered = named(&records, "MAILBOX_EMAIL_DELIVERED");
    let inbound_copies: Vec<_> = delivered
        .iter()
        .filter(|r| r["traceId"] == inbound_trace.as_str())
        .map(|r| {
            (
                r["recipient"].as_str().unwrap(),
                r["folder"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        inbound_copies,
        [("alice@evlog.test", "INBOX"), ("bob@evlog.test", "INBOX")]
    );

    let bounced = named(&records, "INCOMING_EMAIL_BOUNCED");
    assert_eq!(bounced.len(), 2);
    assert_eq!(
        bounced[0]["bouncedRecipient"],
        serde_json::json!({
            "emailAddress": "nobody@evlog.test",
            "reason": "no such recipient",
            "status": "5.1.1",
        })
    );
    assert_eq!(bounced[0]["traceId"], inbound_trace.as_str());
    assert_eq!(
        bounced[1]["bouncedRecipient"]["emailAddress"],
        "ghost@evlog.test"
    );
    assert_ne!(bounced[1]["traceId"], inbound_trace.as_str());

    let out = named(&records, "OUTGOING_EMAIL_SUBMITTED");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["traceId"], submit_trace.as_str());
    assert_eq!(
        out[0]["recipients"],
        serde_json::json!(["bob@evlog.test", "p@remote.test"])
    );
    assert_eq!(out[0]["from"], "alice@evlog.test");
    assert_eq!(out[0]["subject"], "Re: Hello");
    assert_ne!(inbound_trace, submit_trace);

    // The unmonitored organization got its copy but no log.
    assert!(lines("quiet").is_empty());
    assert!(!data_dir().join("logs/emailevents/quiet.jsonl").exists());
}
