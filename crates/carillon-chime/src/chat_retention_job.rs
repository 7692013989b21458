//! The chat retention job: every `ChimeConfig::retention_interval` (default daily) it applies
//! the retention rules of [`crate::retention`] to every room and conversation with a period
//! or with hidden messages: hides messages past their period, restores hidden messages no
//! longer past it, purges messages hidden more than 30 days ago. Spec: chime-zh.md §2.6.
//!
//! A job lease (`job_leases`, name [`LEASE_NAME`]) keeps the passes on one node at a time;
//! a node that does not hold it skips the pass. The lease lasts two intervals (at least a
//! minute), so another node takes over within that time when the holder stops.

use std::time::Duration;

use carillon_core::time::now_millis;
use carillon_jobs::{CancellationToken, Job, JobLease, Pass, Trigger};

use crate::retention::{apply_all, RetentionOutcome};
use crate::Chime;

/// Name of the job's lease in `job_leases`.
pub const LEASE_NAME: &str = "chime-chat-retention";

/// Shortest lease: a pass may take a while even when passes are frequent.
const MIN_LEASE: Duration = Duration::from_secs(60);

/// The chat retention job: a pass at once, then every `ChimeConfig::retention_interval`, on
/// the node holding the lease [`LEASE_NAME`]. A pass stops where it is at shutdown: the rules
/// depend only on the time, so the next pass (here or on another node) finishes the work; a
/// failed pass is logged and retried at the next interval.
#[derive(Clone)]
pub struct ChatRetentionJob {
    chime: Chime,
    lease: JobLease,
}

impl ChatRetentionJob {
    /// The job of the node `chime.config().node_id`.
    pub fn new(chime: Chime) -> Self {
        let lease = lease(&chime);
        ChatRetentionJob { chime, lease }
    }
}

#[async_trait::async_trait]
impl Job for ChatRetentionJob {
    fn name(&self) -> &'static str {
        LEASE_NAME
    }

    fn trigger(&self) -> Trigger {
        Trigger::Every(self.chime.config().retention_interval)
    }

    fn lease(&self) -> Option<&JobLease> {
        Some(&self.lease)
    }

    async fn pass(&self, shutdown: &CancellationToken) -> Pass {
        let pass = apply_all(self.chime.store(), now_millis());
        match shutdown.run_until_cancelled(pass).await {
            Some(Ok(outcome)) if outcome != RetentionOutcome::default() => {
                tracing::info!(
                    hidden = outcome.hidden,
                    restored = outcome.restored,
                    purged = outcome.purged,
                    "chat retention pass"
                );
            }
            Some(Ok(_)) | None => {}
            Some(Err(error)) => tracing::warn!(%error, "chat retention pass failed"),
        }
        Pass::Idle
    }
}

/// The job's lease, held by `chime.config().node_id` for two intervals (at least a minute).
fn lease(chime: &Chime) -> JobLease {
    let ttl = chime
        .config()
        .retention_interval
        .saturating_mul(2)
        .max(MIN_LEASE);
    JobLease::new(
        chime.store().clone(),
        LEASE_NAME,
        chime.config().node_id.clone(),
        ttl,
    )
}

/// One pass at the current time when this node holds (or takes) the lease; `None` when
/// another node holds it.
///
/// Errors: the lease, the settings or the containers cannot be read.
pub async fn run_once(
    chime: &Chime,
) -> Result<Option<RetentionOutcome>, carillon_store::StoreError> {
    if !lease(chime).acquire().await? {
        return Ok(None);
    }
    apply_all(chime.store(), now_millis()).await.map(Some)
}
