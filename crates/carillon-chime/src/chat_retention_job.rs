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
use tokio_util::sync::CancellationToken;

use crate::retention::{apply_all, RetentionOutcome};
use crate::Chime;

/// Name of the job's lease in `job_leases`.
pub const LEASE_NAME: &str = "chime-chat-retention";

/// Shortest lease: a pass may take a while even when passes are frequent.
const MIN_LEASE: Duration = Duration::from_secs(60);

/// Runs a pass at once, then every `chime.config().retention_interval`, until `shutdown`.
/// A failed pass is logged and retried at the next interval.
pub async fn run(chime: Chime, shutdown: CancellationToken) {
    let interval = chime.config().retention_interval;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            result = run_once(&chime) => match result {
                Ok(Some(outcome)) if outcome != RetentionOutcome::default() => {
                    tracing::info!(
                        hidden = outcome.hidden,
                        restored = outcome.restored,
                        purged = outcome.purged,
                        "chat retention pass"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "chat retention pass failed"),
            },
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// One pass at the current time when this node holds (or takes) the lease; `None` when
/// another node holds it.
///
/// Errors: the lease, the settings or the containers cannot be read.
pub async fn run_once(
    chime: &Chime,
) -> Result<Option<RetentionOutcome>, carillon_store::StoreError> {
    let ttl = chime
        .config()
        .retention_interval
        .saturating_mul(2)
        .max(MIN_LEASE);
    if !chime
        .store()
        .acquire_job_lease(LEASE_NAME, &chime.config().node_id, ttl)
        .await?
    {
        return Ok(None);
    }
    apply_all(chime.store(), now_millis()).await.map(Some)
}
