//! In-transit messages of flow-rule hooks (insert, tenant-scoped read inside the window,
//! leases, retries, content replacement and freezing, purge), hook signing secrets and S3
//! bucket ownership. On SQLite, and on PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set.

use bytes::Bytes;
use carillon_store::testing::{test_stores, unique_name, TestStore};
use carillon_store::{ContentReplacement, NewTransitMessage, TRANSIT_ASYNC, TRANSIT_PENDING};

/// An account with an Active organization; returns (account, organization).
async fn organization(t: &TestStore) -> (String, String) {
    let account = carillon_core::ids::new_account_id();
    let org = carillon_core::ids::new_organization_id();
    t.insert_account(&account).await;
    t.insert_organization(&account, &org, &unique_name("h"), "Active")
        .await;
    (account, org)
}

fn transit(account: &str, org: &str, synchronous: bool, created_at: i64) -> NewTransitMessage {
    let message_id = carillon_core::ids::new_uuid();
    NewTransitMessage {
        blob_key: format!("transit/{message_id}"),
        message_key: None,
        message_id,
        account_id: account.to_string(),
        organization_id: org.to_string(),
        direction: "INBOUND".to_string(),
        synchronous,
        mail_from: "from@example.com".to_string(),
        recipients: vec!["a@corp.test".to_string(), "b@corp.test".to_string()],
        submitter: None,
        hook: r#"{"endpoint":"https://hook.test/"}"#.to_string(),
        invocation_id: "0123456789abcdef0123456789abcdef".to_string(),
        next_attempt_at: created_at,
        deadline_at: created_at + 60_000,
        created_at,
    }
}

#[tokio::test]
async fn transit_messages_are_read_per_tenant_inside_the_window() {
    for t in test_stores().await {
        let (account, org) = organization(&t).await;
        let (other, _) = organization(&t).await;
        let s = &t.store;
        assert_eq!(
            s.organization_account(&org).await.unwrap().as_deref(),
            Some(account.as_str())
        );
        let message = transit(&account, &org, true, 10_000);
        s.insert_transit_message(&message).await.unwrap();
        let read = s
            .transit_message(&account, &message.message_id, 5_000)
            .await
            .unwrap()
            .expect("own message");
        assert_eq!(read.recipients, message.recipients, "{}", t.label);
        assert_eq!(read.state, TRANSIT_PENDING, "{}", t.label);
        assert!(read.synchronous, "{}", t.label);
        assert_eq!(read.invocation_id, message.invocation_id, "{}", t.label);
        assert_eq!(
            s.transit_message(&other, &message.message_id, 5_000)
                .await
                .unwrap(),
            None,
            "another account's message is invisible ({})",
            t.label
        );
        assert_eq!(
            s.transit_message(&account, &message.message_id, 10_001)
                .await
                .unwrap(),
            None,
            "outside the window ({})",
            t.label
        );
        assert!(
            s.insert_transit_message(&message).await.is_err(),
            "a message ID is used once ({})",
            t.label
        );
    }
}

#[tokio::test]
async fn leases_retries_and_delivery_of_a_synchronous_message() {
    for t in test_stores().await {
        let (account, org) = organization(&t).await;
        let s = &t.store;
        let message = transit(&account, &org, true, 1_000);
        s.insert_transit_message(&message).await.unwrap();
        let id = &message.message_id;

        let leased = s.lease_transit_message("n1", 1_000, 30_000).await.unwrap();
        assert_eq!(
            leased.map(|m| m.message_id).as_ref(),
            Some(id),
            "{}",
            t.label
        );
        assert_eq!(
            s.lease_transit_message("n2", 1_500, 30_000).await.unwrap(),
            None,
            "a held row is not leased twice ({})",
            t.label
        );
        assert!(!s.retry_transit_message(id, "n2", 5_000).await.unwrap());
        assert!(s.retry_transit_message(id, "n1", 5_000).await.unwrap());
        assert_eq!(
            s.lease_transit_message("n2", 4_999, 30_000).await.unwrap(),
            None,
            "not due before the next attempt ({})",
            t.label
        );
        let again = s
            .lease_transit_message("n2", 5_000, 30_000)
            .await
            .unwrap()
            .expect("due again");
        assert_eq!(again.attempts, 1, "{}", t.label);

        // The hook replaces the content while it runs; then the worker freezes it.
        let replaced = s
            .replace_transit_content(&account, id, 0, "transit/new", Some("wrapped"))
            .await
            .unwrap();
        assert_eq!(
            replaced,
            ContentReplacement::Replaced(message.blob_key.clone()),
            "{}",
            t.label
        );
        assert_eq!(
            s.begin_transit_delivery(id, "n1", "[]").await.unwrap(),
            None,
            "only the holder delivers ({})",
            t.label
        );
        assert_eq!(
            s.begin_transit_delivery(id, "n2", "[\"x\"]").await.unwrap(),
            Some(("transit/new".to_string(), Some("wrapped".to_string()))),
            "{}",
            t.label
        );
        assert_eq!(
            s.replace_transit_content(&account, id, 0, "transit/late", None)
                .await
                .unwrap(),
            ContentReplacement::Frozen,
            "{}",
            t.label
        );
        // A holder that died mid-delivery: the row comes free when its lease expires.
        assert_eq!(
            s.lease_transit_message("n3", 34_999, 30_000).await.unwrap(),
            None
        );
        let resumed = s
            .lease_transit_message("n3", 35_000, 30_000)
            .await
            .unwrap()
            .expect("expired delivery lease");
        assert_eq!(resumed.blob_key, "transit/new", "{}", t.label);
        assert_eq!(
            resumed.message_key.as_deref(),
            Some("wrapped"),
            "{}",
            t.label
        );
        assert_eq!(resumed.actions.as_deref(), Some(r#"["x"]"#), "{}", t.label);
        assert_eq!(
            s.release_transit_leases("n3", 35_001).await.unwrap(),
            1,
            "a restarted node frees its rows ({})",
            t.label
        );
        s.lease_transit_message("n3", 35_001, 30_000)
            .await
            .unwrap()
            .expect("released");
        assert!(s.finish_transit_message(id, "n3", 36_000).await.unwrap());
        assert_eq!(
            s.lease_transit_message("n3", 100_000, 30_000)
                .await
                .unwrap(),
            None,
            "a finished row is never due ({})",
            t.label
        );
        assert!(s.transit_message(&account, id, 0).await.unwrap().is_some());
        assert_eq!(
            s.purge_transit_messages(1_000, 10).await.unwrap(),
            Vec::<String>::new(),
            "{}",
            t.label
        );
        assert_eq!(
            s.purge_transit_messages(1_001, 10).await.unwrap(),
            vec!["transit/new".to_string()],
            "{}",
            t.label
        );
        assert_eq!(s.transit_message(&account, id, 0).await.unwrap(), None);
    }
}

#[tokio::test]
async fn asynchronous_messages_are_leased_but_never_replaced() {
    for t in test_stores().await {
        let (account, org) = organization(&t).await;
        let (other, _) = organization(&t).await;
        let s = &t.store;
        let message = transit(&account, &org, false, 1_000);
        s.insert_transit_message(&message).await.unwrap();
        let id = &message.message_id;
        assert_eq!(
            s.replace_transit_content(&account, id, 0, "transit/x", None)
                .await
                .unwrap(),
            ContentReplacement::Frozen,
            "{}",
            t.label
        );
        assert_eq!(
            s.replace_transit_content(&other, id, 0, "transit/x", None)
                .await
                .unwrap(),
            ContentReplacement::NotFound,
            "{}",
            t.label
        );
        let leased = s
            .lease_transit_message("n1", 1_000, 30_000)
            .await
            .unwrap()
            .expect("due");
        assert_eq!(leased.state, TRANSIT_ASYNC, "{}", t.label);
        assert!(s.finish_transit_message(id, "n1", 2_000).await.unwrap());
    }
}

#[tokio::test]
async fn hook_secrets_are_created_once_and_rotated_per_tenant() {
    for t in test_stores().await {
        let (account, org) = organization(&t).await;
        let (other, _) = organization(&t).await;
        let s = &t.store;
        assert_eq!(
            s.ensure_hook_secret(&account, &org, "first", 1)
                .await
                .unwrap(),
            "first"
        );
        assert_eq!(
            s.ensure_hook_secret(&account, &org, "second", 2)
                .await
                .unwrap(),
            "first",
            "an existing secret stays ({})",
            t.label
        );
        assert!(
            s.ensure_hook_secret(&other, &org, "theirs", 3)
                .await
                .is_err(),
            "another account never reads it ({})",
            t.label
        );
        s.set_hook_secret(&other, &org, "theirs", 4).await.unwrap();
        s.set_hook_secret(&account, &org, "rotated", 5)
            .await
            .unwrap();
        assert_eq!(
            s.ensure_hook_secret(&account, &org, "x", 6).await.unwrap(),
            "rotated",
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn s3_buckets_belong_to_their_first_account() {
    for t in test_stores().await {
        let (account, _) = organization(&t).await;
        let (other, _) = organization(&t).await;
        let s = &t.store;
        let bucket = unique_name("b");
        assert_eq!(s.s3_bucket_owner(&bucket).await.unwrap(), None);
        assert_eq!(
            s.claim_s3_bucket(&bucket, &account, 1).await.unwrap(),
            account
        );
        assert_eq!(
            s.claim_s3_bucket(&bucket, &other, 2).await.unwrap(),
            account,
            "{}",
            t.label
        );
        s.put_s3_object(&bucket, "dir/key", Bytes::from_static(b"data"))
            .await
            .unwrap();
        assert_eq!(
            s.s3_object(&bucket, "dir/key").await.unwrap().as_deref(),
            Some(&b"data"[..])
        );
        s.delete_s3_object(&bucket, "dir/key").await.unwrap();
        assert_eq!(s.s3_object(&bucket, "dir/key").await.unwrap(), None);
    }
}
