//! The chat sign-in throttle, on SQLite and (when `CARILLON_TEST_DATABASE_URL` is set)
//! PostgreSQL: 10 failed sign-ins of one email within 15 minutes refuse further attempts
//! (`ThrottledClientException`, HTTP 429 at the client edge) even with the right password,
//! a success resets the count, an unknown email is throttled the same way, other emails are
//! not affected, and the window's end lifts the refusal. Spec: chime-zh.md §1.10.

mod chat_env;
mod support;

use carillon_chime::sessions::{sign_in, MAX_FAILED_SIGN_INS, SIGN_IN_WINDOW_MS, THROTTLED};
use chat_env::PASSWORD;
use support::{code, envs};

const WRONG: &str = "wrong password";

/// `times` sign-ins of `email` with a wrong password, each refused as unauthorized.
async fn fail(env: &support::Env, email: &str, times: i64) {
    for _ in 0..times {
        assert_eq!(
            code(sign_in(&env.chime, email, WRONG).await),
            "UnauthorizedClientException"
        );
    }
}

#[tokio::test]
async fn failed_sign_ins_throttle_the_email_for_the_rest_of_the_window() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Corp").await;
        env.user(&ctx, &account, "mary@example.com", "Mary").await;
        env.user(&ctx, &account, "bob@example.com", "Bob").await;

        // A success clears the count: without it the attempt after it would be refused.
        fail(&env, "mary@example.com", MAX_FAILED_SIGN_INS - 1).await;
        sign_in(&env.chime, "Mary@Example.com", PASSWORD)
            .await
            .unwrap();
        fail(&env, "mary@example.com", MAX_FAILED_SIGN_INS).await;
        let refused = sign_in(&env.chime, " MARY@example.com", PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(refused.code, THROTTLED);
        assert!(!refused.message.contains(PASSWORD));

        // Another email is not affected.
        sign_in(&env.chime, "bob@example.com", PASSWORD)
            .await
            .unwrap();

        // An address nobody has is throttled the same way (no user enumeration).
        fail(&env, "nobody@example.com", MAX_FAILED_SIGN_INS).await;
        assert_eq!(
            code(sign_in(&env.chime, "nobody@example.com", WRONG).await),
            THROTTLED
        );

        // The window's end lifts the refusal.
        env.test
            .exec(
                "UPDATE chime_sign_in_failures \
                 SET window_start = window_start - CAST($1 AS BIGINT)",
                &[&SIGN_IN_WINDOW_MS.to_string()],
            )
            .await;
        sign_in(&env.chime, "mary@example.com", PASSWORD)
            .await
            .unwrap();
        assert_eq!(
            code(sign_in(&env.chime, "nobody@example.com", WRONG).await),
            "UnauthorizedClientException"
        );
    }
}
