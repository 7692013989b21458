//! Retention store: policies (put replaces, tenant isolation, delete by ID), aged message
//! lookup, the purge of mailboxes disabled long enough, and job leases. Runs on SQLite, and
//! on PostgreSQL too when `CARILLON_TEST_DATABASE_URL` is set (fresh schema).

use std::time::Duration;

use bytes::Bytes;
use carillon_store::testing::{test_stores, unique_name, TestStore};
use carillon_store::{NewMessage, RetentionFolderRecord, RetentionPolicyRecord};

async fn organization(db: &TestStore) -> (String, String) {
    let (account, org) = (unique_name("a"), unique_name("m-"));
    db.insert_account(&account).await;
    db.insert_organization(&account, &org, &org, "Active").await;
    (account, org)
}

fn policy(org: &str, id: &str, folders: &[(&str, &str, Option<i64>)]) -> RetentionPolicyRecord {
    RetentionPolicyRecord {
        organization_id: org.to_string(),
        policy_id: id.to_string(),
        name: format!("name-{id}"),
        description: Some("keep it short".to_string()),
        folders: folders
            .iter()
            .map(|(folder, action, period_days)| RetentionFolderRecord {
                folder: folder.to_string(),
                action: action.to_string(),
                period_days: *period_days,
            })
            .collect(),
        updated_at: 1_700_000_000_000,
    }
}

fn copy(user: &str, folder: &str, blob: &str, internal_date: i64) -> NewMessage {
    NewMessage {
        user_id: user.to_string(),
        folder: folder.to_string(),
        blob_key: blob.to_string(),
        size_bytes: 10,
        internal_date,
        flags: Vec::new(),
        message_key: None,
    }
}

#[tokio::test]
async fn put_replaces_the_policy_and_get_is_tenant_scoped() {
    for db in test_stores().await {
        let s = &db.store;
        let (account, org) = organization(&db).await;
        let (other_account, _) = organization(&db).await;
        assert_eq!(s.retention_policy(&account, &org).await.unwrap(), None);

        let first = policy(
            &org,
            "p1",
            &[("INBOX", "DELETE", Some(30)), ("DRAFTS", "NONE", None)],
        );
        s.put_retention_policy(&account, &first).await.unwrap();
        let got = s.retention_policy(&account, &org).await.unwrap().unwrap();
        assert_eq!(got.folders.len(), 2, "{}", db.label);
        assert_eq!(got.folders[0].folder, "DRAFTS", "ordered by folder");
        assert_eq!(got.folders[1].period_days, Some(30));

        let second = policy(&org, "p2", &[("JUNK_EMAIL", "PERMANENTLY_DELETE", Some(7))]);
        s.put_retention_policy(&account, &second).await.unwrap();
        assert_eq!(
            s.retention_policy(&account, &org).await.unwrap(),
            Some(second.clone()),
            "{}: Put replaces the policy and all its folders",
            db.label
        );

        assert_eq!(
            s.retention_policy(&other_account, &org).await.unwrap(),
            None,
            "another account does not see it"
        );
        assert!(s
            .put_retention_policy(&other_account, &policy(&org, "evil", &[]))
            .await
            .is_err());
        assert_eq!(
            s.retention_policy(&account, &org)
                .await
                .unwrap()
                .unwrap()
                .policy_id,
            "p2",
            "another account cannot replace it"
        );
        assert!(!s
            .delete_retention_policy(&other_account, &org, "p2")
            .await
            .unwrap());
        assert_eq!(s.active_retention_policies().await.unwrap(), vec![second]);
    }
}

#[tokio::test]
async fn delete_removes_only_the_named_policy() {
    for db in test_stores().await {
        let s = &db.store;
        let (account, org) = organization(&db).await;
        s.put_retention_policy(
            &account,
            &policy(&org, "p1", &[("INBOX", "DELETE", Some(1))]),
        )
        .await
        .unwrap();
        assert!(!s
            .delete_retention_policy(&account, &org, "nope")
            .await
            .unwrap());
        assert!(s.retention_policy(&account, &org).await.unwrap().is_some());
        assert!(s
            .delete_retention_policy(&account, &org, "p1")
            .await
            .unwrap());
        assert_eq!(s.retention_policy(&account, &org).await.unwrap(), None);
        // A new policy starts without the old folder configurations.
        s.put_retention_policy(&account, &policy(&org, "p3", &[]))
            .await
            .unwrap();
        let got = s.retention_policy(&account, &org).await.unwrap().unwrap();
        assert!(got.folders.is_empty(), "{}", db.label);
    }
}

#[tokio::test]
async fn aged_message_uids_selects_by_internal_date_in_the_users_folder() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, org) = organization(&db).await;
        let user = unique_name("u-");
        db.insert_entity(&org, &user, "USER", "ENABLED", None, None)
            .await;
        s.create_mailbox(&org, &user).await.unwrap();
        s.append_messages(&[
            copy(&user, "INBOX", "b1", 1_000),
            copy(&user, "INBOX", "b2", 5_000),
            copy(&user, "INBOX", "b3", 2_000),
        ])
        .await
        .unwrap();
        let inbox = s.folder(&user, "INBOX").await.unwrap().unwrap();
        assert_eq!(
            s.aged_message_uids(&user, &inbox.folder_id, 3_000, 100)
                .await
                .unwrap(),
            vec![1, 3],
            "{}",
            db.label
        );
        assert_eq!(
            s.aged_message_uids(&user, &inbox.folder_id, 3_000, 1)
                .await
                .unwrap(),
            vec![1],
            "limit"
        );
        assert!(s
            .aged_message_uids("someone-else", &inbox.folder_id, 3_000, 100)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(s.organization_mailboxes(&org).await.unwrap(), vec![user]);
    }
}

#[tokio::test]
async fn purge_deletes_a_long_disabled_mailbox_and_unshared_blobs() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, org) = organization(&db).await;
        let (gone, kept) = (unique_name("u-"), unique_name("u-"));
        db.insert_entity(&org, &gone, "USER", "DISABLED", None, None)
            .await;
        db.insert_entity(&org, &kept, "USER", "ENABLED", None, None)
            .await;
        for user in [&gone, &kept] {
            s.create_mailbox(&org, user).await.unwrap();
        }
        let (own, shared) = (unique_name("blob-"), unique_name("blob-"));
        for key in [&own, &shared] {
            s.blobs().put(key, Bytes::from_static(b"x")).await.unwrap();
        }
        s.append_messages(&[
            copy(&gone, "INBOX", &own, 0),
            copy(&gone, "Sent Items", &shared, 0),
            copy(&kept, "INBOX", &shared, 0),
        ])
        .await
        .unwrap();
        db.exec(
            "UPDATE entities SET disabled_at = CAST($2 AS BIGINT) WHERE entity_id = $1",
            &[&gone, "1000"],
        )
        .await;

        assert!(s.mailboxes_disabled_before(1000).await.unwrap().is_empty());
        assert_eq!(s.purge_mailbox(&gone, 1000).await.unwrap(), None);
        assert!(
            s.mailbox_size(&gone).await.unwrap().is_some(),
            "not yet due"
        );

        assert_eq!(
            s.mailboxes_disabled_before(1001).await.unwrap(),
            vec![gone.clone()]
        );
        let purged = s.purge_mailbox(&gone, 1001).await.unwrap().unwrap();
        assert_eq!(purged.messages, 2, "{}", db.label);
        assert_eq!(purged.folders, 5);
        assert_eq!(purged.blobs, 1, "the shared blob stays");
        assert_eq!(s.mailbox_size(&gone).await.unwrap(), None);
        assert!(s.list_folders(&gone).await.unwrap().is_empty());
        assert!(s.blobs().get(&own).await.is_err());
        assert!(s.blobs().get(&shared).await.is_ok());
        assert!(s
            .mailboxes_disabled_before(i64::MAX)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(s.purge_mailbox(&gone, i64::MAX).await.unwrap(), None);
        assert_eq!(s.purge_mailbox(&kept, i64::MAX).await.unwrap(), None);
        assert_eq!(s.mailbox_size(&kept).await.unwrap(), Some(10));
    }
}

#[tokio::test]
async fn job_lease_is_exclusive_until_it_expires() {
    for db in test_stores().await {
        let s = &db.store;
        let job = unique_name("job-");
        let hour = Duration::from_secs(3600);
        assert!(s.acquire_job_lease(&job, "node-a", hour).await.unwrap());
        assert!(!s.acquire_job_lease(&job, "node-b", hour).await.unwrap());
        assert!(
            s.acquire_job_lease(&job, "node-a", Duration::ZERO)
                .await
                .unwrap(),
            "{}: the holder renews",
            db.label
        );
        // The renewal above expires at once, so another node may take over.
        assert!(s.acquire_job_lease(&job, "node-b", hour).await.unwrap());
        assert!(!s.acquire_job_lease(&job, "node-a", hour).await.unwrap());
        assert!(s
            .acquire_job_lease(&unique_name("job-"), "node-a", hour)
            .await
            .unwrap());
    }
}
