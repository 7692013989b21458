//! The chat sign-in throttle's counters in the store: a window opens at its first
//! attempt, counts up while open, starts over once expired, is cleared on demand, and
//! expired windows of other keys are pruned. On SQLite, and on PostgreSQL when
//! `CARILLON_TEST_DATABASE_URL` is set.

use carillon_store::chime::sign_in::SignInWindow;
use carillon_store::testing::test_stores;

#[tokio::test]
async fn attempts_count_per_key_within_their_window() {
    for t in test_stores().await {
        let count = |key: &'static str, now: i64| {
            let store = t.store.clone();
            async move {
                store
                    .count_chime_sign_in_attempt(key, now, now - 100)
                    .await
                    .unwrap()
            }
        };
        let window = |window_start, failures| SignInWindow {
            window_start,
            failures,
        };
        assert_eq!(count("a", 1_000).await, window(1_000, 1));
        assert_eq!(count("a", 1_050).await, window(1_000, 2));
        assert_eq!(count("b", 1_060).await, window(1_060, 1));
        assert_eq!(count("a", 1_099).await, window(1_000, 3));
        // 100 ms after its first attempt the window of "a" is over and starts again.
        assert_eq!(count("a", 1_100).await, window(1_100, 1));

        t.store.clear_chime_sign_in_failures("a").await.unwrap();
        assert_eq!(count("a", 1_110).await, window(1_110, 1));

        // An attempt of "a" prunes the expired window of "b".
        assert_eq!(count("a", 1_210).await, window(1_210, 1));
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chime_sign_in_failures")
            .fetch_one(t.pool())
            .await
            .unwrap();
        assert_eq!(rows, 1);
    }
}
