//! The retention job: enforces each organization's mailbox retention policy and purges the
//! mailboxes of users disabled for more than 30 days. Spec: workmail.md §2.12, §1.4, §6.
//!
//! Every pass, for each `Active` organization with a policy and each folder configuration
//! whose action is not `NONE`, the message copies of that default folder, in every mailbox of
//! the organization, whose INTERNALDATE is older than the period are
//! - moved to `Deleted Items` (`DELETE`: users can still recover them), or
//! - expunged (`PERMANENTLY_DELETE`), their blobs deleted once nothing references them.
//!
//! `DELETE` on `Deleted Items` itself expunges: there is no further place to recover from.
//! Both go through the mailbox store's MOVE and EXPUNGE, so UIDs and MODSEQs advance as for
//! an IMAP client's own commands and open IMAP sessions announce the EXPUNGEs.
//!
//! The same pass deletes the whole mailbox (messages, folders, blobs) of every user disabled
//! (deregistered) more than 30 days ago. A job lease (`job_leases`) keeps the passes on one
//! node at a time; a node that does not hold the lease skips the pass.

use std::sync::Arc;
use std::time::Duration;

use carillon_jobs::{CancellationToken, Job, JobLease, Pass, Trigger};
use carillon_store::{
    FlagOp, RetentionPolicyRecord, Store, StoreError, DELETED_ITEMS, DRAFTS, INBOX, JUNK_EMAIL,
    SENT_ITEMS,
};

/// Model `FolderName` values and the default folder each stands for (see
/// `carillon_store::DEFAULT_FOLDERS`).
pub const FOLDER_NAMES: &[(&str, &str)] = &[
    ("INBOX", INBOX),
    ("DELETED_ITEMS", DELETED_ITEMS),
    ("SENT_ITEMS", SENT_ITEMS),
    ("DRAFTS", DRAFTS),
    ("JUNK_EMAIL", JUNK_EMAIL),
];

/// Model `RetentionAction` `NONE`: the folder is left alone.
pub const NONE: &str = "NONE";
/// Model `RetentionAction` `DELETE`: aged items move to `Deleted Items`. The third action,
/// `PERMANENTLY_DELETE`, expunges them.
pub const DELETE: &str = "DELETE";

/// Name of the job's lease in `job_leases`.
pub const LEASE_NAME: &str = "mailbox-retention";

/// How long after being disabled a user's mailbox is deleted, in milliseconds: 30 days
/// (workmail.md §1.4, §6).
pub const DISABLED_MAILBOX_LIFETIME_MS: i64 = 30 * DAY_MS;

/// Default interval between passes, in seconds (`--retention-interval-secs`).
pub const DEFAULT_INTERVAL_SECS: u64 = 3600;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Message copies moved or expunged per store transaction.
const BATCH: i64 = 500;
/// Shortest lease: a pass may take a while even when passes are frequent.
const MIN_LEASE: Duration = Duration::from_secs(60);

/// The job's notion of "now", epoch milliseconds; injectable so tests can age messages.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Message copies moved to `Deleted Items`.
    pub moved: u64,
    /// Message copies expunged.
    pub expunged: u64,
    /// Mailboxes of long-disabled users deleted.
    pub purged_mailboxes: u64,
}

/// The retention job of one node: a [`carillon_jobs::Job`] passing every `interval` on the
/// node holding the lease [`LEASE_NAME`].
#[derive(Clone)]
pub struct RetentionJob {
    store: Store,
    lease: JobLease,
    interval: Duration,
    clock: Clock,
}

impl std::fmt::Debug for RetentionJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetentionJob")
            .field("lease", &self.lease)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl RetentionJob {
    /// The job on `store` for the node `holder` (its stable node ID), running a pass every
    /// `interval`. The lease lasts two intervals (at least a minute), so another node takes
    /// over within that time when this one stops. Uses the system clock.
    pub fn new(store: Store, holder: impl Into<String>, interval: Duration) -> RetentionJob {
        let lease_ttl = interval.saturating_mul(2).max(MIN_LEASE);
        RetentionJob {
            lease: JobLease::new(store.clone(), LEASE_NAME, holder, lease_ttl),
            store,
            interval,
            clock: Arc::new(carillon_core::time::now_millis),
        }
    }

    /// The same job with another clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> RetentionJob {
        self.clock = clock;
        self
    }

    /// One pass under the lease: takes (or renews) it, then [`RetentionJob::apply`]. Returns
    /// `None` when another node holds the lease.
    ///
    /// Errors: the lease or the list of policies or mailboxes cannot be read.
    pub async fn run_once(&self) -> Result<Option<RetentionReport>, StoreError> {
        if !self.lease.acquire().await? {
            return Ok(None);
        }
        self.apply().await.map(Some)
    }

    /// Applies every policy and purges expired mailboxes, the lease held. A mailbox that
    /// fails is logged and skipped; the others are still processed.
    ///
    /// Errors: the list of policies or mailboxes cannot be read.
    async fn apply(&self) -> Result<RetentionReport, StoreError> {
        let now = (self.clock)();
        let mut report = RetentionReport::default();
        for policy in self.store.active_retention_policies().await? {
            self.apply_policy(&policy, now, &mut report).await?;
        }
        let disabled_before = now - DISABLED_MAILBOX_LIFETIME_MS;
        for user_id in self
            .store
            .mailboxes_disabled_before(disabled_before)
            .await?
        {
            match self.store.purge_mailbox(&user_id, disabled_before).await {
                Ok(Some(purged)) => {
                    tracing::info!(
                        user_id,
                        messages = purged.messages,
                        blobs = purged.blobs,
                        "mailbox of a user disabled for more than 30 days deleted"
                    );
                    report.purged_mailboxes += 1;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(user_id, %error, "mailbox purge failed"),
            }
        }
        Ok(report)
    }

    async fn apply_policy(
        &self,
        policy: &RetentionPolicyRecord,
        now: i64,
        report: &mut RetentionReport,
    ) -> Result<(), StoreError> {
        let rules: Vec<(&str, &str, i64)> = policy
            .folders
            .iter()
            .filter(|f| f.action != NONE)
            .filter_map(|f| {
                let folder = FOLDER_NAMES.iter().find(|(m, _)| *m == f.folder)?.1;
                let cutoff = now - f.period_days? * DAY_MS;
                Some((folder, f.action.as_str(), cutoff))
            })
            .collect();
        if rules.is_empty() {
            return Ok(());
        }
        for user_id in self
            .store
            .organization_mailboxes(&policy.organization_id)
            .await?
        {
            for (folder, action, cutoff) in &rules {
                if let Err(error) = self
                    .apply_rule(&user_id, folder, action, *cutoff, report)
                    .await
                {
                    tracing::warn!(user_id, folder, %error, "retention rule failed");
                }
            }
        }
        Ok(())
    }

    async fn apply_rule(
        &self,
        user_id: &str,
        folder: &str,
        action: &str,
        cutoff: i64,
        report: &mut RetentionReport,
    ) -> Result<(), StoreError> {
        let Some(source) = self.store.folder(user_id, folder).await? else {
            return Ok(());
        };
        let move_to_trash = action == DELETE && folder != DELETED_ITEMS;
        loop {
            let uids = self
                .store
                .aged_message_uids(user_id, &source.folder_id, cutoff, BATCH)
                .await?;
            if uids.is_empty() {
                return Ok(());
            }
            let done = if move_to_trash {
                self.store
                    .move_messages(user_id, &source.folder_id, &uids, DELETED_ITEMS)
                    .await?
                    .uids
                    .len() as u64
            } else {
                self.store
                    .store_flags(
                        user_id,
                        &source.folder_id,
                        &uids,
                        FlagOp::Add,
                        &["\\Deleted".to_string()],
                    )
                    .await?;
                self.store
                    .expunge(user_id, &source.folder_id, Some(&uids))
                    .await?
                    .len() as u64
            };
            if move_to_trash {
                report.moved += done;
            } else {
                report.expunged += done;
            }
            // Nothing done means a concurrent session changed the batch; the next pass retries.
            if done == 0 || (uids.len() as i64) < BATCH {
                return Ok(());
            }
        }
    }
}

/// A pass every interval, the first at once; a pass stops half-way at shutdown (each move
/// or expunge batch is its own transaction, and the next pass finds what is left).
#[async_trait::async_trait]
impl Job for RetentionJob {
    fn name(&self) -> &'static str {
        LEASE_NAME
    }

    fn trigger(&self) -> Trigger {
        Trigger::Every(self.interval)
    }

    fn lease(&self) -> Option<&JobLease> {
        Some(&self.lease)
    }

    async fn pass(&self, shutdown: &CancellationToken) -> Pass {
        match shutdown.run_until_cancelled(self.apply()).await {
            Some(Ok(report)) if report != RetentionReport::default() => {
                tracing::info!(
                    moved = report.moved,
                    expunged = report.expunged,
                    purged_mailboxes = report.purged_mailboxes,
                    "retention pass"
                );
            }
            Some(Ok(_)) | None => {}
            Some(Err(error)) => tracing::warn!(%error, "retention pass failed"),
        }
        Pass::Idle
    }
}
