//! The Chime system's background work, run by `carillon serve` until shutdown.
//!
//! Each job coordinates across nodes through the store (leases), so every node runs
//! [`run`]. A job is an `async fn(Chime, CancellationToken)` of its module, spawned here.

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Chime;

/// Runs every Chime background job until `shutdown` is cancelled, then waits for each to
/// finish its current step.
pub async fn run(chime: Chime, shutdown: CancellationToken) {
    let mut jobs: JoinSet<()> = JoinSet::new();
    jobs.spawn(crate::chat_retention_job::run(
        chime.clone(),
        shutdown.clone(),
    ));
    jobs.spawn(crate::domains::verification_job(
        chime.clone(),
        shutdown.clone(),
    ));
    jobs.spawn(crate::domains::purge_job(chime.clone(), shutdown.clone()));
    jobs.spawn(crate::bot_events::dispatch(chime.clone(), shutdown.clone()));
    jobs.spawn(crate::reports::run(chime.clone(), shutdown.clone()));
    jobs.spawn(crate::phone_numbers::job(chime.clone(), shutdown.clone()));
    jobs.spawn(crate::hub::relay::run(chime.clone(), shutdown.clone()));
    drop(chime);
    shutdown.cancelled().await;
    while jobs.join_next().await.is_some() {}
}
