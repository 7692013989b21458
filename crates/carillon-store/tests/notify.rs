//! Change notification across nodes: on PostgreSQL (when `CARILLON_TEST_DATABASE_URL` is
//! set) two stores opened on one schema are two nodes; payloads notified by one reach the
//! listeners of both, in order and intact on either side of the 8,000-byte NOTIFY limit
//! (larger ones through `notify_payloads`), never a listener of another channel or of
//! another schema, and a listener whose connection is ended reconnects. On SQLite both ends
//! are absent.

use std::time::Duration;

use carillon_store::testing::{test_stores, TestStore};
use carillon_store::{Listener, Store, NOTIFY_INLINE_LIMIT};

const WAIT: Duration = Duration::from_secs(5);

/// The PostgreSQL test store, or `None` (with a note) when no server is configured.
async fn postgres() -> Option<TestStore> {
    let found = test_stores()
        .await
        .into_iter()
        .find(|t| t.label == "postgres");
    if found.is_none() {
        eprintln!("skipped: CARILLON_TEST_DATABASE_URL is not set (notification needs PostgreSQL)");
    }
    found
}

/// A second store on `t`'s database and schema: another node.
async fn second_node(t: &TestStore) -> Store {
    let blobs = t.dir().join("blobs");
    let blob_url = url::Url::from_directory_path(&blobs).unwrap().to_string();
    Store::open(t.database_url(), &blob_url).await.unwrap()
}

async fn next(listener: &mut Listener) -> String {
    tokio::time::timeout(WAIT, listener.recv())
        .await
        .expect("a notification within 5 s")
        .unwrap()
}

async fn stored_payloads(t: &TestStore) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM notify_payloads")
        .fetch_one(t.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn sqlite_has_one_node_and_nothing_to_notify() {
    let t = TestStore::sqlite().await;
    assert!(!t.store.notifies_across_nodes());
    assert!(t.store.listen("chat").await.unwrap().is_none());
    t.store.notify("chat", &"x".repeat(20_000)).await.unwrap();
    assert_eq!(stored_payloads(&t).await, 0);
    assert_eq!(
        t.store
            .delete_notify_payloads_before(i64::MAX)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn payloads_reach_every_node_in_order_on_both_sides_of_the_limit() {
    let Some(t) = postgres().await else { return };
    let a = &t.store;
    let b = second_node(&t).await;
    assert!(a.notifies_across_nodes() && b.notifies_across_nodes());
    let mut on_a = a.listen("chat").await.unwrap().unwrap();
    let mut on_b = b.listen("chat").await.unwrap().unwrap();

    let at_limit = "x".repeat(NOTIFY_INLINE_LIMIT);
    let over_limit = "y".repeat(NOTIFY_INLINE_LIMIT + 1);
    // Multi-byte characters: the limit counts bytes.
    let large = format!("{{\"text\":\"{}\"}}", "é".repeat(50_000));
    let sent = ["small", &at_limit, &over_limit, &large, ""];
    a.notify("other", "another channel").await.unwrap();
    for payload in sent {
        a.notify("chat", payload).await.unwrap();
    }
    for payload in sent {
        assert_eq!(next(&mut on_b).await, payload);
        // The sender's own listener hears it too.
        assert_eq!(next(&mut on_a).await, payload);
    }
    // Only the two payloads over the limit went through the table.
    assert_eq!(stored_payloads(&t).await, 2);

    let now = carillon_core::time::now_millis();
    assert_eq!(
        a.delete_notify_payloads_before(now - 5 * 60_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(a.delete_notify_payloads_before(now + 1).await.unwrap(), 2);
    b.close().await;
}

#[tokio::test]
async fn a_large_payload_deleted_before_it_is_read_is_skipped() {
    let Some(t) = postgres().await else { return };
    let mut listener = t.store.listen("chat").await.unwrap().unwrap();
    t.store
        .notify("chat", &"z".repeat(NOTIFY_INLINE_LIMIT * 2))
        .await
        .unwrap();
    let later = carillon_core::time::now_millis() + 1;
    assert_eq!(
        t.store.delete_notify_payloads_before(later).await.unwrap(),
        1
    );
    t.store.notify("chat", "after").await.unwrap();
    assert_eq!(next(&mut listener).await, "after");
}

#[tokio::test]
async fn another_schema_is_another_deployment() {
    let Some(t) = postgres().await else { return };
    let Some(other) = postgres().await else {
        return;
    };
    let mut listener = t.store.listen("chat").await.unwrap().unwrap();
    other.store.notify("chat", "foreign").await.unwrap();
    t.store.notify("chat", "ours").await.unwrap();
    assert_eq!(next(&mut listener).await, "ours");
}

#[tokio::test]
async fn a_listener_whose_connection_is_ended_reconnects() {
    let Some(t) = postgres().await else { return };
    let mut listener = t.store.listen("chat").await.unwrap().unwrap();
    t.store.notify("chat", "before").await.unwrap();
    assert_eq!(next(&mut listener).await, "before");

    // The test store tags its connections with the schema as application name; the
    // listener's is the one whose last statement was its LISTEN.
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = current_schema() AND query LIKE 'LISTEN %'",
    )
    .fetch_all(t.pool())
    .await
    .unwrap();
    assert_eq!(ended, vec![true]);

    // What is notified while it reconnects is lost: keep notifying until one arrives.
    let store = t.store.clone();
    let sender = tokio::spawn(async move {
        for n in 0.. {
            store.notify("chat", &format!("after {n}")).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let heard = tokio::time::timeout(Duration::from_secs(15), listener.recv())
        .await
        .expect("the listener reconnected within 15 s")
        .unwrap();
    sender.abort();
    assert!(heard.starts_with("after "), "{heard}");
}
