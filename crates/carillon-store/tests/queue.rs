//! The outbound queue: durable rows, leases held by one node at a time, retries, release on
//! restart. Runs on SQLite, and on PostgreSQL too when `CARILLON_TEST_DATABASE_URL` is set
//! (each run in a fresh schema).

use carillon_store::testing::{test_stores, unique_name};
use carillon_store::NewOutbound;

fn row(org: &str, recipient: &str, next_attempt_at: i64) -> NewOutbound {
    NewOutbound {
        organization_id: org.to_string(),
        envelope_from: "alice@example.com".to_string(),
        recipient: recipient.to_string(),
        blob_key: "messages/x".to_string(),
        next_attempt_at,
        expires_at: next_attempt_at + 1_000_000,
        gateway_id: None,
        message_key: None,
    }
}

#[tokio::test]
async fn leases_are_exclusive_and_expire() {
    for db in test_stores().await {
        let s = &db.store;
        let org = unique_name("m-");
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
    }
}

#[tokio::test]
async fn a_renewed_lease_keeps_other_nodes_out() {
    for db in test_stores().await {
        let s = &db.store;
        let org = unique_name("m-");
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
    }
}

#[tokio::test]
async fn a_restarted_node_releases_its_stale_leases() {
    for db in test_stores().await {
        let s = &db.store;
        let org = unique_name("m-");
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
    }
}
