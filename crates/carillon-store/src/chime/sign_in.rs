//! The chat sign-in throttle's counters (table `chime_sign_in_failures`), shared by every
//! node over the same database. The rule (how many failures, how long a window) is
//! carillon-chime's `sessions` module's; the store counts atomically.

use crate::error::StoreResult;
use crate::sql;
use crate::Store;

/// The failure window of one email key as it is after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct SignInWindow {
    /// When the window opened (its first failure), epoch ms.
    pub window_start: i64,
    /// Attempts counted in the window, this one included.
    pub failures: i64,
}

impl Store {
    /// Counts a sign-in attempt of `email_key` at `now` (epoch ms) in one statement: a
    /// window opened at or before `expired_before` (or none) starts over at `now` with 1,
    /// else its count goes up by one. Rows of windows opened at or before `expired_before`
    /// are deleted first, so addresses nobody tries again do not pile up. Returns the
    /// window after the attempt.
    ///
    /// Errors: `Database`.
    pub async fn count_chime_sign_in_attempt(
        &self,
        email_key: &str,
        now: i64,
        expired_before: i64,
    ) -> StoreResult<SignInWindow> {
        sql::execute(
            &self.pool,
            "DELETE FROM chime_sign_in_failures WHERE window_start <= $1 AND email_key <> $2",
            &[expired_before.into(), email_key.into()],
        )
        .await?;
        sql::fetch_one(
            &self.pool,
            "INSERT INTO chime_sign_in_failures (email_key, window_start, failures) \
             VALUES ($1, $2, 1) ON CONFLICT (email_key) DO UPDATE SET \
             window_start = CASE WHEN chime_sign_in_failures.window_start <= $3 THEN $2 \
             ELSE chime_sign_in_failures.window_start END, \
             failures = CASE WHEN chime_sign_in_failures.window_start <= $3 THEN 1 \
             ELSE chime_sign_in_failures.failures + 1 END \
             RETURNING window_start, failures",
            &[email_key.into(), now.into(), expired_before.into()],
        )
        .await
    }

    /// Forgets the failures of `email_key` (a successful sign-in).
    ///
    /// Errors: `Database`.
    pub async fn clear_chime_sign_in_failures(&self, email_key: &str) -> StoreResult<()> {
        sql::execute(
            &self.pool,
            "DELETE FROM chime_sign_in_failures WHERE email_key = $1",
            &[email_key.into()],
        )
        .await?;
        Ok(())
    }
}
