//! Encryption at rest in the store (workmail.md §5.3): wrapped data keys kept once per owner,
//! the organization's key-encryption key fixed once set, wrapped message keys carried by
//! message copies (through COPY and MOVE) and queue rows, and mailbox keys removed with the
//! purged mailbox. Runs on SQLite, and on PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set.

use carillon_store::testing::{test_stores, unique_name, TestStore};
use carillon_store::{EncryptionKeyRecord, NewMessage, NewOutbound, KEY_KIND_MAILBOX};

async fn mailbox(db: &TestStore) -> (String, String, String) {
    let (account, org, user) = (unique_name("a"), unique_name("m-"), unique_name("u-"));
    db.insert_account(&account).await;
    db.insert_organization(&account, &org, &org, "Active").await;
    db.insert_entity(&org, &user, "USER", "ENABLED", None, None)
        .await;
    db.store.create_mailbox(&org, &user).await.unwrap();
    (account, org, user)
}

fn key(owner: &str, org: &str, account: &str, wrapped: &str) -> EncryptionKeyRecord {
    EncryptionKeyRecord {
        owner_id: owner.to_string(),
        kind: KEY_KIND_MAILBOX.to_string(),
        organization_id: org.to_string(),
        account_id: account.to_string(),
        kms_key_arn: "arn:aws:kms:us-east-1:111122223333:key/k".to_string(),
        wrapped_key: wrapped.to_string(),
        created_at: 1,
    }
}

#[tokio::test]
async fn the_first_wrapped_key_stored_wins() {
    for db in test_stores().await {
        let s = &db.store;
        let (account, org, user) = mailbox(&db).await;
        assert_eq!(s.encryption_key(&user).await.unwrap(), None);
        let first = s
            .insert_encryption_key(&key(&user, &org, &account, "first"))
            .await
            .unwrap();
        assert_eq!(first.wrapped_key, "first", "{}", db.label);
        let second = s
            .insert_encryption_key(&key(&user, &org, &account, "second"))
            .await
            .unwrap();
        assert_eq!(second.wrapped_key, "first", "{}", db.label);
        assert_eq!(
            s.mailbox_organization(&user).await.unwrap(),
            Some(org.clone())
        );
        assert_eq!(s.mailbox_organization("nobody").await.unwrap(), None);
    }
}

#[tokio::test]
async fn the_organization_key_is_fixed_once_set() {
    for db in test_stores().await {
        let s = &db.store;
        let (account, org, _) = mailbox(&db).await;
        assert_eq!(
            s.organization_key_facts(&org).await.unwrap(),
            Some((account.clone(), None))
        );
        assert_eq!(
            s.settle_organization_kms_key(&org, "arn-1").await.unwrap(),
            "arn-1"
        );
        assert_eq!(
            s.settle_organization_kms_key(&org, "arn-2").await.unwrap(),
            "arn-1"
        );
        assert_eq!(
            s.organization_key_facts(&org).await.unwrap(),
            Some((account, Some("arn-1".to_string())))
        );
        assert_eq!(s.organization_key_facts("m-none").await.unwrap(), None);
    }
}

#[tokio::test]
async fn wrapped_message_keys_follow_copies_and_queue_rows() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, org, user) = mailbox(&db).await;
        let copy = |blob: &str, wrapped: Option<&str>| NewMessage {
            user_id: user.clone(),
            folder: "INBOX".to_string(),
            blob_key: blob.to_string(),
            size_bytes: 5,
            internal_date: 0,
            flags: Vec::new(),
            message_key: wrapped.map(str::to_string),
        };
        s.append_messages(&[
            copy("messages/sealed", Some("w1")),
            copy("messages/old", None),
        ])
        .await
        .unwrap();
        let inbox = s.folder(&user, "INBOX").await.unwrap().unwrap();
        let listed = s.list_messages(&user, &inbox.folder_id).await.unwrap();
        let keys: Vec<Option<&str>> = listed.iter().map(|m| m.message_key.as_deref()).collect();
        assert_eq!(keys, vec![Some("w1"), None], "{}", db.label);
        s.copy_messages(&user, &inbox.folder_id, &[1], "Drafts")
            .await
            .unwrap();
        s.move_messages(&user, &inbox.folder_id, &[2], "Drafts")
            .await
            .unwrap();
        let archive = s.folder(&user, "Drafts").await.unwrap().unwrap();
        let moved = s.list_messages(&user, &archive.folder_id).await.unwrap();
        let keys: Vec<Option<&str>> = moved.iter().map(|m| m.message_key.as_deref()).collect();
        assert_eq!(keys, vec![Some("w1"), None], "{}", db.label);

        s.enqueue_outbound(&[NewOutbound {
            organization_id: org.clone(),
            envelope_from: "a@x.test".to_string(),
            recipient: "b@y.test".to_string(),
            blob_key: "messages/sealed".to_string(),
            next_attempt_at: 0,
            expires_at: i64::MAX,
            gateway_id: None,
            message_key: Some("t1".to_string()),
        }])
        .await
        .unwrap();
        let leased = s.lease_outbound("node", 1, 1000, 10).await.unwrap();
        assert_eq!(leased[0].message_key.as_deref(), Some("t1"), "{}", db.label);
    }
}

#[tokio::test]
async fn purging_a_mailbox_removes_its_key() {
    for db in test_stores().await {
        let s = &db.store;
        let (account, org, user) = mailbox(&db).await;
        s.insert_encryption_key(&key(&user, &org, &account, "w"))
            .await
            .unwrap();
        db.exec(
            "UPDATE entities SET state = 'DISABLED', disabled_at = 1 WHERE entity_id = $1",
            &[&user],
        )
        .await;
        assert!(s.purge_mailbox(&user, 2).await.unwrap().is_some());
        assert_eq!(s.encryption_key(&user).await.unwrap(), None, "{}", db.label);
    }
}
