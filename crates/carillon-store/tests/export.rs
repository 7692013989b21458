//! Mailbox export job records (workmail.md §2.22): admission limits checked atomically,
//! client-token idempotency, leases, progress, cancellation and listing, on SQLite and (when
//! configured) PostgreSQL.

use carillon_store::testing::{test_stores, TestStore};
use carillon_store::{ExportAdmission, NewExportJob, EXPORT_CANCELLED, EXPORT_RUNNING};

const HOUR: i64 = 3_600_000;

/// An account with an `Active` organization; returns (account, organization).
async fn tenant(db: &TestStore) -> (String, String) {
    let account = carillon_core::ids::new_account_id();
    let org = carillon_core::ids::new_organization_id();
    db.insert_account(&account).await;
    db.insert_organization(&account, &org, &org, "Active").await;
    (account, org)
}

fn job(account: &str, org: &str, entity: &str, token: &str, start: i64) -> NewExportJob {
    let job_id = carillon_core::ids::new_uuid();
    NewExportJob {
        s3_path: format!("prefix/{job_id}"),
        job_id,
        account_id: account.to_string(),
        organization_id: org.to_string(),
        entity_id: entity.to_string(),
        description: Some("d".to_string()),
        role_arn: "arn:aws:iam::111122223333:role/export".to_string(),
        kms_key_arn: "arn:aws:kms:us-east-1:111122223333:key/k".to_string(),
        s3_bucket_name: "bucket".to_string(),
        s3_prefix: "prefix".to_string(),
        client_token: token.to_string(),
        start_time: start,
    }
}

#[tokio::test]
async fn admission_enforces_both_limits_and_honours_client_tokens() {
    for db in test_stores().await {
        let store = &db.store;
        let (account, org) = tenant(&db).await;
        let now = 100 * HOUR;
        let first = job(&account, &org, "user-0", "t0", now);
        assert_eq!(
            store
                .start_export_job(&first, 2, now - 24 * HOUR)
                .await
                .unwrap(),
            ExportAdmission::Started,
            "{}",
            db.label
        );
        let again = job(&account, &org, "user-0", "t0", now + 1);
        assert_eq!(
            store
                .start_export_job(&again, 2, now - 24 * HOUR)
                .await
                .unwrap(),
            ExportAdmission::Existing(first.job_id.clone()),
            "{}: same client token, same job",
            db.label
        );
        let same_mailbox = job(&account, &org, "user-0", "t1", now + 2);
        assert_eq!(
            store
                .start_export_job(&same_mailbox, 2, now - 24 * HOUR)
                .await
                .unwrap(),
            ExportAdmission::MailboxRecentlyExported(first.job_id.clone()),
            "{}",
            db.label
        );
        let second = job(&account, &org, "user-1", "t2", now + 3);
        assert_eq!(
            store
                .start_export_job(&second, 2, now - 24 * HOUR)
                .await
                .unwrap(),
            ExportAdmission::Started
        );
        let third = job(&account, &org, "user-2", "t3", now + 4);
        assert_eq!(
            store
                .start_export_job(&third, 2, now - 24 * HOUR)
                .await
                .unwrap(),
            ExportAdmission::TooManyConcurrent(2),
            "{}",
            db.label
        );
        // A cancelled job frees a concurrency slot but still counts for its mailbox.
        store
            .cancel_export_job(&account, &org, &second.job_id, now + 5)
            .await
            .unwrap();
        assert_eq!(
            store
                .start_export_job(&third, 2, now - 24 * HOUR)
                .await
                .unwrap(),
            ExportAdmission::Started
        );
        let user1_again = job(&account, &org, "user-1", "t4", now + 6);
        assert!(matches!(
            store
                .start_export_job(&user1_again, 3, now - 24 * HOUR)
                .await
                .unwrap(),
            ExportAdmission::MailboxRecentlyExported(_)
        ));
        // Outside the window the mailbox may be exported again.
        let later = job(&account, &org, "user-0", "t5", now + 25 * HOUR);
        assert_eq!(
            store.start_export_job(&later, 3, now + HOUR).await.unwrap(),
            ExportAdmission::Started
        );
    }
}

#[tokio::test]
async fn a_failed_job_does_not_block_its_mailbox() {
    for db in test_stores().await {
        let store = &db.store;
        let (account, org) = tenant(&db).await;
        let first = job(&account, &org, "user-0", "t0", 1000);
        store.start_export_job(&first, 10, 0).await.unwrap();
        let leased = store.lease_export_job("n1", 1000, 60_000).await.unwrap();
        assert_eq!(leased.unwrap().job_id, first.job_id);
        assert!(store
            .finish_export_job(&first.job_id, "n1", Some("blob store down"), 2000)
            .await
            .unwrap());
        let failed = store
            .export_job(&account, &org, &first.job_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failed.state, "FAILED");
        assert_eq!(failed.error_info.as_deref(), Some("blob store down"));
        assert_eq!(failed.end_time, Some(2000));
        let retry = job(&account, &org, "user-0", "t1", 3000);
        assert_eq!(
            store.start_export_job(&retry, 10, 0).await.unwrap(),
            ExportAdmission::Started,
            "{}",
            db.label
        );
    }
}

#[tokio::test]
async fn leases_progress_cancel_and_restart_after_a_crash() {
    for db in test_stores().await {
        let store = &db.store;
        let (account, org) = tenant(&db).await;
        let a = job(&account, &org, "user-a", "ta", 1000);
        store.start_export_job(&a, 10, 0).await.unwrap();

        let leased = store
            .lease_export_job("node-1", 5000, 60_000)
            .await
            .unwrap()
            .expect("the pending job");
        assert_eq!(leased.state, EXPORT_RUNNING);
        assert!(
            store
                .lease_export_job("node-2", 6000, 60_000)
                .await
                .unwrap()
                .is_none(),
            "{}: a held job is not leased twice",
            db.label
        );
        assert!(store
            .set_export_progress(&a.job_id, "node-1", 40)
            .await
            .unwrap());
        assert!(!store
            .set_export_progress(&a.job_id, "node-2", 50)
            .await
            .unwrap());

        // node-1 dies: once its lease expires another node takes the job over from zero.
        let taken = store
            .lease_export_job("node-2", 5000 + 60_000, 60_000)
            .await
            .unwrap()
            .expect("the job of the dead node");
        assert_eq!(taken.job_id, a.job_id);
        assert_eq!(taken.estimated_progress, 0);
        assert!(!store
            .set_export_progress(&a.job_id, "node-1", 90)
            .await
            .unwrap());
        assert!(
            !store
                .finish_export_job(&a.job_id, "node-1", None, 70_000)
                .await
                .unwrap(),
            "{}: the old holder cannot report completion",
            db.label
        );

        // A restarted node releases what it held, so the job is due at once.
        assert_eq!(
            store.release_export_leases("node-2", 70_000).await.unwrap(),
            1
        );
        let resumed = store
            .lease_export_job("node-2", 70_000, 60_000)
            .await
            .unwrap()
            .expect("released job");
        assert_eq!(resumed.job_id, a.job_id);
        assert_eq!(
            store.renew_export_leases("node-2", 200_000).await.unwrap(),
            1
        );
        assert!(store
            .lease_export_job("node-3", 150_000, 60_000)
            .await
            .unwrap()
            .is_none());

        // Cancelling stops the runner: its next progress report and its completion fail.
        assert_eq!(
            store
                .cancel_export_job(&account, &org, &a.job_id, 80_000)
                .await
                .unwrap()
                .as_deref(),
            Some(EXPORT_CANCELLED)
        );
        assert!(!store
            .set_export_progress(&a.job_id, "node-2", 60)
            .await
            .unwrap());
        assert!(!store
            .finish_export_job(&a.job_id, "node-2", None, 90_000)
            .await
            .unwrap());
        let cancelled = store
            .export_job(&account, &org, &a.job_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cancelled.state, EXPORT_CANCELLED);
        assert_eq!(cancelled.end_time, Some(80_000));

        // A completed job stays completed when cancelled.
        let b = job(&account, &org, "user-b", "tb", 2000);
        store.start_export_job(&b, 10, 0).await.unwrap();
        store
            .lease_export_job("node-1", 100_000, 60_000)
            .await
            .unwrap()
            .unwrap();
        assert!(store
            .finish_export_job(&b.job_id, "node-1", None, 101_000)
            .await
            .unwrap());
        assert_eq!(
            store
                .cancel_export_job(&account, &org, &b.job_id, 102_000)
                .await
                .unwrap()
                .as_deref(),
            Some("COMPLETED")
        );
        let done = store
            .export_job(&account, &org, &b.job_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (done.estimated_progress, done.end_time),
            (100, Some(101_000))
        );
    }
}

#[tokio::test]
async fn listing_pages_in_start_order_within_the_tenant() {
    for db in test_stores().await {
        let store = &db.store;
        let (account, org) = tenant(&db).await;
        let (other_account, _) = tenant(&db).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            let j = job(&account, &org, &format!("u{i}"), &format!("t{i}"), 1000 + i);
            store.start_export_job(&j, 10, 0).await.unwrap();
            ids.push(j.job_id);
        }
        let page = store
            .list_export_jobs(&account, &org, 1001, None, 2)
            .await
            .unwrap();
        let got: Vec<_> = page.iter().map(|j| j.job_id.clone()).collect();
        assert_eq!(
            got,
            ids[1..3],
            "{}: jobs before `since` are left out",
            db.label
        );
        let last = page.last().unwrap();
        let rest = store
            .list_export_jobs(&account, &org, 0, Some((last.start_time, &last.job_id)), 10)
            .await
            .unwrap();
        let got: Vec<_> = rest.iter().map(|j| j.job_id.clone()).collect();
        assert_eq!(got, ids[3..]);
        assert!(store
            .list_export_jobs(&other_account, &org, 0, None, 10)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .export_job(&other_account, &org, &ids[0])
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            store
                .cancel_export_job(&other_account, &org, &ids[0], 5)
                .await
                .unwrap(),
            None
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_starts_never_pass_the_limit_together() {
    for db in test_stores().await {
        let (account, org) = tenant(&db).await;
        let mut tasks = Vec::new();
        for i in 0..16 {
            let store = db.store.clone();
            let j = job(
                &account,
                &org,
                &format!("user-{i}"),
                &format!("t{i}"),
                1000 + i,
            );
            tasks.push(tokio::spawn(async move {
                store.start_export_job(&j, 10, 0).await.unwrap()
            }));
        }
        let mut started = 0;
        for task in tasks {
            if task.await.unwrap() == ExportAdmission::Started {
                started += 1;
            }
        }
        assert_eq!(started, 10, "{}", db.label);
    }
}
