//! The delivery pipeline without a protocol: one blob per message, copies per distinct
//! mailbox, quota per recipient, size and recipient limits (workmail.md §6), submission
//! (queue + Sent Items), and no visible trace of a failed delivery.

use std::time::Duration;

use bytes::Bytes;
use carillon_mail::delivery::{
    self, check_message_size, DeliveryError, Envelope, RecipientStatus, MAX_MESSAGE_MIME_BYTES,
    MAX_MESSAGE_UNENCODED_BYTES,
};
use carillon_mail::login::MailUser;
use carillon_store::testing::TestStore;

const DOMAIN: &str = "example.test";
const ORG: &str = "m-deliverytest";

/// The directory of [`fixture`] in a SQLite store.
type Fixture = TestStore;

fn addr(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

async fn entity(f: &Fixture, id: &str, kind: &str, address: &str) {
    f.insert_entity(ORG, id, kind, "ENABLED", Some(address), None)
        .await;
    alias(f, id, address).await;
}

async fn alias(f: &Fixture, id: &str, address: &str) {
    f.insert_address(ORG, id, address, false).await;
}

/// Users alice (alias sales), bob, carol with mailboxes; group team = {bob, carol}.
async fn fixture() -> Fixture {
    let f = TestStore::sqlite().await;
    f.insert_account("111122223333").await;
    f.insert_organization("111122223333", ORG, "test", "Active")
        .await;
    f.insert_mail_domain(ORG, DOMAIN).await;
    for name in ["alice", "bob", "carol"] {
        entity(&f, name, "USER", &addr(name)).await;
        f.store.create_mailbox(ORG, name).await.unwrap();
    }
    alias(&f, "alice", &addr("sales")).await;
    entity(&f, "team", "GROUP", &addr("team")).await;
    for member in ["bob", "carol"] {
        f.insert_group_member(ORG, "team", member).await;
    }
    f
}

fn envelope(from: &str, to: &[&str]) -> Envelope {
    Envelope {
        mail_from: from.to_string(),
        recipients: to.iter().map(|s| s.to_string()).collect(),
    }
}

async fn inbox(f: &Fixture, user: &str, folder: &str) -> Vec<carillon_store::StoredMessage> {
    let folder = f.store.folder(user, folder).await.unwrap().unwrap();
    f.store
        .list_messages(user, &folder.folder_id)
        .await
        .unwrap()
}

fn stored_blobs(f: &Fixture) -> usize {
    let dir = f.dir().join("blobs/messages");
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn one_blob_and_one_copy_per_distinct_mailbox() {
    let f = fixture().await;
    let message = Bytes::from_static(b"Subject: hi\r\n\r\nhello\r\n");
    let to = [addr("alice"), addr("sales"), addr("team"), addr("bob")];
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let outcome =
        delivery::deliver_inbound(&f.store, &envelope("x@remote.test", &to), message.clone())
            .await
            .unwrap();
    assert!(outcome.accepted());
    assert!(outcome
        .recipients
        .iter()
        .all(|r| r.status == RecipientStatus::Delivered));
    let key = outcome.blob_key.unwrap();
    for user in ["alice", "bob", "carol"] {
        let copies = inbox(&f, user, "INBOX").await;
        assert_eq!(copies.len(), 1, "{user}");
        assert_eq!(copies[0].blob_key, key);
        assert_eq!(copies[0].size_bytes, message.len() as i64);
        assert_eq!(
            f.store.mailbox_size(user).await.unwrap(),
            Some(message.len() as i64)
        );
    }
    assert_eq!(stored_blobs(&f), 1);
    // Sealed at rest (workmail.md §5.3); each copy opens with its own wrapped key.
    let sealed = f.store.blobs().get(&key).await.unwrap();
    assert!(!sealed.windows(message.len()).any(|w| w == message.as_ref()));
    for user in ["alice", "bob", "carol"] {
        let copy = &inbox(&f, user, "INBOX").await[0];
        let plain = carillon_mail::crypto::read_mailbox_copy(
            &f.store,
            user,
            &key,
            copy.message_key.as_deref(),
        )
        .await
        .unwrap();
        assert_eq!(plain, message, "{user}");
    }
}

#[tokio::test]
async fn unknown_and_foreign_recipients_take_nothing() {
    let f = fixture().await;
    let outcome = delivery::deliver_inbound(
        &f.store,
        &envelope("x@remote.test", &[&addr("nobody"), "y@remote.test"]),
        Bytes::from_static(b"Subject: hi\r\n\r\nx\r\n"),
    )
    .await
    .unwrap();
    assert!(!outcome.accepted());
    assert_eq!(outcome.recipients[0].status, RecipientStatus::NoSuchAddress);
    assert_eq!(outcome.recipients[1].status, RecipientStatus::RelayDenied);
    assert_eq!(stored_blobs(&f), 0);
}

#[tokio::test]
async fn quota_is_decided_per_recipient() {
    let f = fixture().await;
    f.exec(
        "UPDATE entities SET mailbox_quota_mb = 1 WHERE entity_id = 'carol'",
        &[],
    )
    .await;
    let message = Bytes::from(vec![b'x'; 600 * 1024]);
    let first = delivery::deliver_inbound(
        &f.store,
        &envelope("x@remote.test", &[&addr("carol")]),
        message.clone(),
    )
    .await
    .unwrap();
    assert!(first.accepted());
    // carol is now over quota for another 600 KiB: the group still reaches bob.
    let second = delivery::deliver_inbound(
        &f.store,
        &envelope("x@remote.test", &[&addr("team"), &addr("carol")]),
        message.clone(),
    )
    .await
    .unwrap();
    assert!(second.accepted());
    assert_eq!(second.recipients[0].status, RecipientStatus::Delivered);
    assert_eq!(second.recipients[1].status, RecipientStatus::OverQuota);
    assert_eq!(inbox(&f, "carol", "INBOX").await.len(), 1);
    assert_eq!(inbox(&f, "bob", "INBOX").await.len(), 1);
    match delivery::check_recipient(&f.store, &addr("carol"), 600 * 1024)
        .await
        .unwrap()
    {
        delivery::RecipientCheck::OverQuota => {}
        other => panic!("{other:?}"),
    }
    match delivery::check_recipient(&f.store, &addr("carol"), 0)
        .await
        .unwrap()
    {
        delivery::RecipientCheck::Local(m) => assert_eq!(m[0].user_id, "carol"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn limits_of_the_guide_are_enforced() {
    let f = fixture().await;
    let many: Vec<String> = (0..501).map(|i| format!("r{i}@remote.test")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let result = delivery::deliver_inbound(
        &f.store,
        &envelope("x@remote.test", &many),
        Bytes::from_static(b"Subject: hi\r\n\r\nx\r\n"),
    )
    .await;
    assert!(matches!(result, Err(DeliveryError::TooManyRecipients)));

    let over_mime = vec![b'a'; MAX_MESSAGE_MIME_BYTES + 1];
    assert!(matches!(
        check_message_size(&over_mime),
        Err(DeliveryError::MessageTooLarge)
    ));
    // 30 MB of plain text: over the 29 MB unencoded limit although under 40 MB.
    let mut plain = b"Subject: big\r\n\r\n".to_vec();
    plain.extend(
        std::iter::repeat_n(
            b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n"
                .as_slice(),
            30 * 1024 * 1024 / 74,
        )
        .flatten(),
    );
    assert!(plain.len() > MAX_MESSAGE_UNENCODED_BYTES);
    assert!(matches!(
        check_message_size(&plain),
        Err(DeliveryError::MessageTooLarge)
    ));
    // 35 MB of base64 decodes to about 26 MB: accepted.
    let mut encoded = b"Subject: att\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
    encoded.extend(std::iter::repeat_n(line.as_slice(), 35 * 1024 * 1024 / line.len()).flatten());
    assert!(encoded.len() > MAX_MESSAGE_UNENCODED_BYTES && encoded.len() < MAX_MESSAGE_MIME_BYTES);
    assert!(check_message_size(&encoded).is_ok());
}

#[tokio::test]
async fn submission_queues_foreign_recipients_and_keeps_a_sent_copy() {
    let f = fixture().await;
    let alice = MailUser {
        account_id: "111122223333".to_string(),
        organization_id: ORG.to_string(),
        user_id: "alice".to_string(),
        email: addr("alice"),
        addresses: vec![addr("alice"), addr("sales")],
    };
    let message = Bytes::from_static(b"Subject: out\r\n\r\nx\r\n");
    let stolen = delivery::submit(
        &f.store,
        &alice,
        &envelope(&addr("bob"), &[&addr("carol")]),
        message.clone(),
        Duration::from_secs(60),
    )
    .await;
    assert!(matches!(stolen, Err(DeliveryError::SenderNotOwned(_))));

    let outcome = delivery::submit(
        &f.store,
        &alice,
        &envelope("SALES@example.test", &[&addr("bob"), "p@remote.test"]),
        message.clone(),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(outcome.recipients[0].status, RecipientStatus::Delivered);
    assert_eq!(outcome.recipients[1].status, RecipientStatus::Queued);
    assert_eq!(inbox(&f, "bob", "INBOX").await.len(), 1);
    let sent = inbox(&f, "alice", "Sent Items").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].flags, vec!["\\Seen".to_string()]);
    let queued = f.store.list_outbound(ORG).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].recipient, "p@remote.test");
    assert_eq!(queued[0].envelope_from, "SALES@example.test");
    assert_eq!(queued[0].blob_key, sent[0].blob_key);
    assert!(queued[0].expires_at - queued[0].created_at <= 60_000);
}

#[tokio::test]
async fn a_failed_append_leaves_no_message_and_no_blob() {
    let f = fixture().await;
    // dave has a mailbox row but no folders: the append fails inside its transaction.
    entity(&f, "dave", "USER", &addr("dave")).await;
    f.exec(
        "INSERT INTO mailboxes (user_id, organization_id, size_bytes, created_at) VALUES ('dave', $1, 0, 0)",
        &[ORG],
    )
    .await;
    let result = delivery::deliver_inbound(
        &f.store,
        &envelope("x@remote.test", &[&addr("bob"), &addr("dave")]),
        Bytes::from_static(b"Subject: hi\r\n\r\nx\r\n"),
    )
    .await;
    assert!(matches!(result, Err(DeliveryError::Store(_))));
    assert!(inbox(&f, "bob", "INBOX").await.is_empty(), "all or nothing");
    assert_eq!(f.store.mailbox_size("bob").await.unwrap(), Some(0));
    assert_eq!(stored_blobs(&f), 0);
}
