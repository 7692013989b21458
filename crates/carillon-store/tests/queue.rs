//! The outbound queue: durable rows, leases held by one node at a time, retries, release on
//! restart. Runs on SQLite, and on PostgreSQL too when `CARILLON_TEST_DATABASE_URL` is set
//! (each run in a fresh schema).

use carillon_store::{NewOutbound, Store};
use sqlx::AnyPool;

/// A store on SQLite, or on PostgreSQL in a fresh schema.
struct TestDb {
    store: Store,
    _dir: std::sync::Arc<tempfile::TempDir>,
    /// PostgreSQL only: the server URL and the schema made for this run.
    schema: Option<(String, String)>,
}

impl TestDb {
    /// Drops the PostgreSQL schema of a run that passed (a failed one is kept to look at).
    async fn cleanup(self) {
        self.store.close().await;
        if let Some((base, schema)) = self.schema {
            let admin = AnyPool::connect(&base).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

async fn databases() -> Vec<TestDb> {
    sqlx::any::install_default_drivers();
    let mut urls = Vec::new();
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    urls.push((
        format!("sqlite://{}?mode=rwc", dir.path().join("meta.db").display()),
        None,
    ));
    if let Ok(base) = std::env::var("CARILLON_TEST_DATABASE_URL") {
        let schema = format!("t_{}", uuid_like());
        let admin = AnyPool::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        urls.push((
            format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            Some((base.clone(), schema)),
        ));
    }
    let mut out = Vec::new();
    for (i, (url, schema)) in urls.into_iter().enumerate() {
        let blob_dir = dir.path().join(format!("blobs{i}"));
        let blob_url = url::Url::from_directory_path(&blob_dir)
            .unwrap()
            .to_string();
        std::fs::create_dir_all(&blob_dir).unwrap();
        let store = Store::open(&url, &blob_url).await.unwrap();
        out.push(TestDb {
            store,
            _dir: dir.clone(),
            schema,
        });
    }
    out
}

/// A name unique across processes and across the tests of this one.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:x}{:x}{n}", std::process::id())
}

fn row(org: &str, recipient: &str, next_attempt_at: i64) -> NewOutbound {
    NewOutbound {
        organization_id: org.to_string(),
        envelope_from: "alice@example.com".to_string(),
        recipient: recipient.to_string(),
        blob_key: "messages/x".to_string(),
        next_attempt_at,
        expires_at: next_attempt_at + 1_000_000,
    }
}

#[tokio::test]
async fn leases_are_exclusive_and_expire() {
    for db in databases().await {
        let s = &db.store;
        let org = format!("m-{}", uuid_like());
        let ids = s
            .enqueue_outbound(&[row(&org, "a@x.test", 1_000), row(&org, "b@x.test", 5_000)])
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);

        // Only the due row is leased; a second node gets nothing while the lease holds.
        let leased = s.lease_outbound("node-a", 2_000, 60_000, 10).await.unwrap();
        assert_eq!(leased.len(), 1);
        assert_eq!(leased[0].recipient, "a@x.test");
        assert_eq!(leased[0].queue_id, ids[0]);
        assert!(s
            .lease_outbound("node-b", 2_000, 60_000, 10)
            .await
            .unwrap()
            .is_empty());

        // After the lease expires another node takes it over; the first lost it.
        let taken = s
            .lease_outbound("node-b", 70_000, 60_000, 10)
            .await
            .unwrap();
        let mut recipients: Vec<_> = taken.iter().map(|r| r.recipient.as_str()).collect();
        recipients.sort();
        assert_eq!(recipients, vec!["a@x.test", "b@x.test"]);
        assert!(!s.finish_outbound(&ids[0], "node-a").await.unwrap());
        assert!(!s
            .retry_outbound(&ids[0], "node-a", 0, "lost")
            .await
            .unwrap());

        // A transient failure reschedules and releases; success removes the row.
        assert!(s
            .retry_outbound(&ids[0], "node-b", 200_000, "451 4.3.0 try later")
            .await
            .unwrap());
        assert!(s.finish_outbound(&ids[1], "node-b").await.unwrap());
        let left = s.list_outbound(&org).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].attempts, 1);
        assert_eq!(left[0].next_attempt_at, 200_000);
        assert_eq!(left[0].last_error.as_deref(), Some("451 4.3.0 try later"));
        assert!(s
            .lease_outbound("node-a", 199_999, 60_000, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            s.lease_outbound("node-a", 200_000, 60_000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_renewed_lease_keeps_other_nodes_out() {
    for db in databases().await {
        let s = &db.store;
        let org = format!("m-{}", uuid_like());
        s.enqueue_outbound(&[row(&org, "a@x.test", 1_000)])
            .await
            .unwrap();
        assert_eq!(
            s.lease_outbound("node-a", 1_000, 60_000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(s.renew_outbound_leases("node-a", 200_000).await.unwrap(), 1);
        assert!(s
            .lease_outbound("node-b", 100_000, 60_000, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            s.lease_outbound("node-b", 200_000, 60_000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        // node-a lost it: renewing no longer touches the row.
        assert_eq!(s.renew_outbound_leases("node-a", 900_000).await.unwrap(), 0);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_restarted_node_releases_its_stale_leases() {
    for db in databases().await {
        let s = &db.store;
        let org = format!("m-{}", uuid_like());
        s.enqueue_outbound(&[row(&org, "a@x.test", 1_000)])
            .await
            .unwrap();
        let node = format!("node-{org}");
        assert_eq!(
            s.lease_outbound(&node, 1_000, 600_000, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        // The node dies; on start it drops what it held, so the row is due again at once.
        assert_eq!(s.release_outbound_leases(&node).await.unwrap(), 1);
        let again = s.lease_outbound(&node, 2_000, 600_000, 10).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempts, 0);
        db.cleanup().await;
    }
}
