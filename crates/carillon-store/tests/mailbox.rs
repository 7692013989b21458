//! Mailbox store: default folders, UID allocation (also under concurrent deliveries), flags,
//! expunge with blob clean-up, copy/move, folder management and size accounting. Runs on
//! SQLite, and on PostgreSQL too when `CARILLON_TEST_DATABASE_URL` is set (fresh schema).

use bytes::Bytes;
use carillon_store::testing::{test_stores, unique_name, TestStore};
use carillon_store::{FlagOp, NewMessage, StoreError, DEFAULT_FOLDERS};

/// Directory rows a mailbox hangs on: account, organization, one user entity. Returns the
/// (organization ID, user ID).
async fn user(db: &TestStore) -> (String, String) {
    let (account, org, user) = (unique_name("a"), unique_name("m-"), unique_name("u-"));
    db.insert_account(&account).await;
    db.insert_organization(&account, &org, &org, "Active").await;
    db.insert_entity(&org, &user, "USER", "ENABLED", None, None)
        .await;
    (org, user)
}

fn copy(user: &str, folder: &str, blob: &str, size: i64) -> NewMessage {
    NewMessage {
        user_id: user.to_string(),
        folder: folder.to_string(),
        blob_key: blob.to_string(),
        size_bytes: size,
        internal_date: 1_700_000_000_000,
        flags: Vec::new(),
        message_key: None,
    }
}

#[tokio::test]
async fn create_mailbox_makes_default_folders_once() {
    for db in test_stores().await {
        let s = &db.store;
        let (org, u) = user(&db).await;
        assert_eq!(s.mailbox_size(&u).await.unwrap(), None);
        s.create_mailbox(&org, &u).await.unwrap();
        let first = s.list_folders(&u).await.unwrap();
        s.create_mailbox(&org, &u).await.unwrap();
        let second = s.list_folders(&u).await.unwrap();
        assert_eq!(first, second, "second call changes nothing");
        assert_eq!(first.len(), DEFAULT_FOLDERS.len());
        for (name, special) in DEFAULT_FOLDERS {
            let f = first.iter().find(|f| f.name == *name).unwrap();
            assert_eq!(f.special_use.as_deref(), *special);
            assert_eq!(f.uid_next, 1);
            assert!(f.uid_validity > 0);
        }
        assert_eq!(s.mailbox_size(&u).await.unwrap(), Some(0));
        assert_eq!(
            s.folder(&u, "inbox").await.unwrap().unwrap().name,
            "INBOX",
            "INBOX is case-insensitive"
        );
    }
}

#[tokio::test]
async fn append_allocates_uids_and_accounts_size_atomically() {
    for db in test_stores().await {
        let s = &db.store;
        let (org, u) = user(&db).await;
        s.create_mailbox(&org, &u).await.unwrap();
        let appended = s
            .append_messages(&[
                copy(&u, "INBOX", "b1", 100),
                copy(&u, "Sent Items", "b1", 100),
                copy(&u, "inbox", "b2", 50),
            ])
            .await
            .unwrap();
        let uids: Vec<i64> = appended.iter().map(|a| a.uid).collect();
        assert_eq!(
            uids,
            vec![1, 1, 2],
            "results in input order, UIDs per folder"
        );
        assert_eq!(s.mailbox_size(&u).await.unwrap(), Some(250));
        let inbox = s.folder(&u, "INBOX").await.unwrap().unwrap();
        assert_eq!(inbox.uid_next, 3);
        assert_eq!(appended[0].folder_id, inbox.folder_id);

        // A missing folder fails the whole batch: nothing of it is visible.
        let err = s
            .append_messages(&[copy(&u, "INBOX", "b3", 10), copy(&u, "Nope", "b3", 10)])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
        assert_eq!(s.mailbox_size(&u).await.unwrap(), Some(250));
        let messages = s.list_messages(&u, &inbox.folder_id).await.unwrap();
        assert_eq!(
            messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(
            s.folder(&u, "INBOX").await.unwrap().unwrap().uid_next,
            3,
            "rolled back UIDs are not consumed"
        );
    }
}

#[tokio::test]
async fn concurrent_deliveries_never_share_a_uid() {
    for db in test_stores().await {
        let s = &db.store;
        let (org, u) = user(&db).await;
        s.create_mailbox(&org, &u).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = s.clone();
            let u = u.clone();
            tasks.push(tokio::spawn(async move {
                s.append_messages(&[copy(&u, "INBOX", &format!("c{i}"), 10)])
                    .await
                    .unwrap()[0]
                    .uid
            }));
        }
        let mut uids = Vec::new();
        for t in tasks {
            uids.push(t.await.unwrap());
        }
        uids.sort();
        assert_eq!(uids, (1..=16).collect::<Vec<i64>>());
        assert_eq!(s.mailbox_size(&u).await.unwrap(), Some(160));
    }
}

#[tokio::test]
async fn flags_status_and_recent() {
    for db in test_stores().await {
        let s = &db.store;
        let (org, u) = user(&db).await;
        s.create_mailbox(&org, &u).await.unwrap();
        let mut seen = copy(&u, "INBOX", "f1", 10);
        seen.flags = vec!["\\Seen".into(), "\\seen".into(), "\\Recent".into()];
        s.append_messages(&[seen, copy(&u, "INBOX", "f2", 10)])
            .await
            .unwrap();
        let inbox = s.folder(&u, "INBOX").await.unwrap().unwrap();
        let status = s.folder_status(&u, "INBOX").await.unwrap().unwrap();
        assert_eq!((status.exists, status.recent, status.unseen), (2, 2, 1));
        let listed = s.list_messages(&u, &inbox.folder_id).await.unwrap();
        assert_eq!(listed[0].flags, vec!["\\Seen"], "deduplicated, no \\Recent");

        assert_eq!(s.claim_recent(&u, &inbox.folder_id).await.unwrap(), 1..3);
        assert_eq!(s.claim_recent(&u, &inbox.folder_id).await.unwrap(), 3..3);
        let status = s.folder_status(&u, "INBOX").await.unwrap().unwrap();
        assert_eq!(status.recent, 0);

        let before = s.folder(&u, "INBOX").await.unwrap().unwrap().highest_modseq;
        let changed = s
            .store_flags(
                &u,
                &inbox.folder_id,
                &[1, 2, 99],
                FlagOp::Add,
                &["\\Flagged".into(), "$Label1".into()],
            )
            .await
            .unwrap();
        assert_eq!(changed.len(), 2);
        assert_eq!(changed[0].flags, vec!["\\Seen", "\\Flagged", "$Label1"]);
        let after = s.folder(&u, "INBOX").await.unwrap().unwrap().highest_modseq;
        assert!(after > before);
        assert!(changed.iter().all(|m| m.modseq == after));

        let changed = s
            .store_flags(
                &u,
                &inbox.folder_id,
                &[1],
                FlagOp::Remove,
                &["\\seen".into()],
            )
            .await
            .unwrap();
        assert_eq!(changed[0].flags, vec!["\\Flagged", "$Label1"]);
        let changed = s
            .store_flags(
                &u,
                &inbox.folder_id,
                &[2],
                FlagOp::Replace,
                &["\\Answered".into()],
            )
            .await
            .unwrap();
        assert_eq!(changed[0].flags, vec!["\\Answered"]);
        let unchanged = s
            .store_flags(
                &u,
                &inbox.folder_id,
                &[2],
                FlagOp::Add,
                &["\\Answered".into()],
            )
            .await
            .unwrap();
        assert!(unchanged.is_empty());
        let status = s.folder_status(&u, "INBOX").await.unwrap().unwrap();
        assert_eq!(status.unseen, 2);

        // Another user's folder ID is not reachable.
        let (org2, other) = user(&db).await;
        s.create_mailbox(&org2, &other).await.unwrap();
        assert!(matches!(
            s.store_flags(
                &other,
                &inbox.folder_id,
                &[1],
                FlagOp::Add,
                &["\\Seen".into()]
            )
            .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(s
            .list_messages(&other, &inbox.folder_id)
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn expunge_removes_deleted_and_unreferenced_blobs() {
    for db in test_stores().await {
        let s = &db.store;
        let (org, u) = user(&db).await;
        s.create_mailbox(&org, &u).await.unwrap();
        for key in ["e1", "e2", "e3"] {
            s.blobs().put(key, Bytes::from_static(b"x")).await.unwrap();
        }
        s.append_messages(&[
            copy(&u, "INBOX", "e1", 100),
            copy(&u, "INBOX", "e2", 20),
            copy(&u, "Sent Items", "e2", 20),
            copy(&u, "INBOX", "e3", 3),
        ])
        .await
        .unwrap();
        let inbox = s.folder(&u, "INBOX").await.unwrap().unwrap().folder_id;
        // A queued outbound delivery of e3 still needs the blob after its copy is expunged.
        sqlx::query(
            "INSERT INTO outbound_queue (queue_id, organization_id, envelope_from, recipient, \
             blob_key, next_attempt_at, expires_at, created_at) \
             VALUES ($1, $2, 'a@example.com', 'b@example.net', 'e3', 0, 0, 0)",
        )
        .bind(unique_name("q"))
        .bind(&org)
        .execute(db.pool())
        .await
        .unwrap();
        s.store_flags(&u, &inbox, &[1, 2, 3], FlagOp::Add, &["\\Deleted".into()])
            .await
            .unwrap();
        // UID EXPUNGE restricted to UID 3 leaves 1 and 2 alone.
        assert_eq!(s.expunge(&u, &inbox, Some(&[3])).await.unwrap(), vec![3]);
        assert_eq!(s.mailbox_size(&u).await.unwrap(), Some(140));
        assert_eq!(s.expunge(&u, &inbox, None).await.unwrap(), vec![1, 2]);
        assert_eq!(s.mailbox_size(&u).await.unwrap(), Some(20));
        assert!(s.expunge(&u, &inbox, None).await.unwrap().is_empty());
        assert!(s.list_messages(&u, &inbox).await.unwrap().is_empty());
        assert!(matches!(
            s.blobs().get("e1").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(
            s.blobs().get("e3").await.is_ok(),
            "still queued for delivery"
        );
        sqlx::query("DELETE FROM outbound_queue WHERE blob_key = 'e3'")
            .execute(db.pool())
            .await
            .unwrap();
        assert!(s.delete_blob_if_unreferenced("e3").await.unwrap());
        assert!(matches!(
            s.blobs().get("e3").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(!s.delete_blob_if_unreferenced("e2").await.unwrap());
        assert!(
            s.blobs().get("e2").await.is_ok(),
            "still referenced from Sent Items"
        );
    }
}

#[tokio::test]
async fn copy_and_move_allocate_destination_uids() {
    for db in test_stores().await {
        let s = &db.store;
        let (org, u) = user(&db).await;
        s.create_mailbox(&org, &u).await.unwrap();
        let mut flagged = copy(&u, "INBOX", "m1", 10);
        flagged.flags = vec!["\\Flagged".into()];
        s.append_messages(&[
            flagged,
            copy(&u, "INBOX", "m2", 20),
            copy(&u, "INBOX", "m3", 30),
        ])
        .await
        .unwrap();
        let inbox = s.folder(&u, "INBOX").await.unwrap().unwrap().folder_id;
        let trash = s.folder(&u, "Deleted Items").await.unwrap().unwrap();

        let copied = s
            .copy_messages(&u, &inbox, &[1, 3], "Drafts")
            .await
            .unwrap();
        assert_eq!(copied.uids, vec![(1, 1), (3, 2)]);
        assert_eq!(s.mailbox_size(&u).await.unwrap(), Some(100));

        let moved = s
            .move_messages(&u, &inbox, &[1, 2], "Deleted Items")
            .await
            .unwrap();
        assert_eq!(moved.uid_validity, trash.uid_validity);
        assert_eq!(moved.uids, vec![(1, 1), (2, 2)]);
        assert_eq!(
            s.mailbox_size(&u).await.unwrap(),
            Some(100),
            "move keeps size"
        );
        let left: Vec<i64> = s
            .list_messages(&u, &inbox)
            .await
            .unwrap()
            .iter()
            .map(|m| m.uid)
            .collect();
        assert_eq!(left, vec![3]);
        let in_trash = s.list_messages(&u, &trash.folder_id).await.unwrap();
        assert_eq!(in_trash[0].flags, vec!["\\Flagged"]);
        assert_eq!(in_trash[1].blob_key, "m2");

        assert!(matches!(
            s.move_messages(&u, &inbox, &[3], "Missing").await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            s.list_messages(&u, &inbox).await.unwrap().len(),
            1,
            "failed move leaves the source alone"
        );
    }
}

#[tokio::test]
async fn folder_create_rename_delete_subscribe() {
    for db in test_stores().await {
        let s = &db.store;
        let (org, u) = user(&db).await;
        s.create_mailbox(&org, &u).await.unwrap();
        let created = s.create_folder(&u, "Projects/2026/Q1").await.unwrap();
        assert_eq!(created.uid_next, 1);
        assert!(s.folder(&u, "Projects/2026").await.unwrap().is_some());
        assert!(matches!(
            s.create_folder(&u, "Projects").await,
            Err(StoreError::Conflict(_))
        ));

        s.append_messages(&[copy(&u, "Projects/2026/Q1", "r1", 7)])
            .await
            .unwrap();
        s.rename_folder(&u, "Projects", "Archive/Work")
            .await
            .unwrap();
        let renamed = s.folder(&u, "Archive/Work/2026/Q1").await.unwrap().unwrap();
        assert_eq!(renamed.folder_id, created.folder_id);
        assert_eq!(renamed.uid_validity, created.uid_validity);
        assert!(s.folder(&u, "Archive").await.unwrap().is_some());
        assert!(s.folder(&u, "Projects/2026/Q1").await.unwrap().is_none());
        assert!(matches!(
            s.rename_folder(&u, "Archive", "Archive/Work/X").await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            s.rename_folder(&u, "Drafts", "Other").await,
            Err(StoreError::Conflict(_))
        ));

        s.set_subscribed(&u, "Archive", false).await.unwrap();
        assert!(!s.folder(&u, "Archive").await.unwrap().unwrap().subscribed);
        assert!(matches!(
            s.set_subscribed(&u, "Nope", true).await,
            Err(StoreError::NotFound(_))
        ));

        for (name, _) in DEFAULT_FOLDERS {
            assert!(matches!(
                s.delete_folder(&u, name).await,
                Err(StoreError::Conflict(_))
            ));
        }
        assert_eq!(s.mailbox_size(&u).await.unwrap(), Some(7));
        s.delete_folder(&u, "Archive/Work/2026/Q1").await.unwrap();
        assert_eq!(s.mailbox_size(&u).await.unwrap(), Some(0));
        assert!(matches!(
            s.delete_folder(&u, "Archive/Work/2026/Q1").await,
            Err(StoreError::NotFound(_))
        ));
        // Re-created under the same name: a new UIDVALIDITY epoch.
        let again = s.create_folder(&u, "Archive/Work/2026/Q1").await.unwrap();
        assert_ne!(again.folder_id, created.folder_id);
    }
}
