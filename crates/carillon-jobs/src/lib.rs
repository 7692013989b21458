//! One shape for every background job of `carillon serve`, and the runner that drives it.
//!
//! A job is a [`Job`]: a name (the `job` tracing span every line it logs is in), a
//! [`Trigger`] (a pass at once and then every interval, possibly woken early; or one pass
//! following a stream for the job's whole life), optionally a [`JobLease`] (the `job_leases`
//! row a node must hold to run a pass, for work done by one node at a time), optionally a
//! heartbeat renewing the row leases the job holds while its passes run, and one
//! [`CancellationToken`] for shutdown. [`run`] drives one job; [`run_all`] drives the list
//! `carillon serve` builds from the service crates' jobs.
//!
//! # Passes and shutdown
//!
//! The runner never drops a pass half-way: each pass is given the shutdown token and decides.
//! A pass whose work may stop anywhere (every step its own transaction, redone by a later
//! pass) returns as soon as the token is cancelled (`shutdown.run_until_cancelled(…)`); one
//! that must finish a step it started (blobs deleted after their rows, a carrier release
//! recorded) checks the token between steps, or finishes. Once a pass returns on a cancelled
//! token the job ends; waits between passes end at once.
//!
//! # Why a crate of its own
//!
//! The jobs live in carillon-mail, carillon-smtp and carillon-chime, and their job leases in
//! carillon-store. The shape needs the store (for [`JobLease`]) and nothing above it, so it
//! sits right above the store, below every crate that has jobs. It is not a module of the
//! store because the store is the SQL layer: it owns no task, timer or shutdown policy.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use carillon_store::{Store, StoreResult};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::Instrument;

pub use tokio_util::sync::CancellationToken;

/// When a job's passes run. Every trigger runs the first pass at once.
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    /// The next pass starts this long after the previous one ended.
    Every(Duration),
    /// As [`Trigger::Every`], or earlier when the `Notify` is notified (work just queued by
    /// this process, e.g. an in-transit message inserted before an SMTP `250`).
    EveryOrWoken(Duration, &'static Notify),
    /// One pass follows a stream (hub events, a notification channel) until shutdown or the
    /// stream's end; the job ends with it.
    Stream,
}

/// What a pass says about the work left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Nothing more is due: the next pass waits for the trigger.
    Idle,
    /// More is due now (the pass took a full batch): the next pass starts at once.
    MoreDue,
}

/// A background job (see the crate documentation for its lifecycle).
#[async_trait::async_trait]
pub trait Job: Send + Sync + 'static {
    /// The job's name, the `name` field of its `job` tracing span (e.g. `outbound-queue`).
    fn name(&self) -> &'static str;

    /// When its passes run.
    fn trigger(&self) -> Trigger;

    /// The job lease a node must hold (taken or renewed before each pass) to run a pass;
    /// `None` when every node runs the passes (their steps are idempotent or row-leased).
    fn lease(&self) -> Option<&JobLease> {
        None
    }

    /// How often [`Job::renew`] runs while the job runs (the first time one period after
    /// [`Job::start`]); `None` when the job holds no row lease across passes.
    fn renew_every(&self) -> Option<Duration> {
        None
    }

    /// Extends the row leases this node holds (see [`Job::renew_every`]); logs its failures.
    async fn renew(&self) {}

    /// Runs once before the first pass: e.g. releases the row leases a previous run of this
    /// node held, so its rows are due again at once. Logs its failures.
    async fn start(&self) {}

    /// One pass; `shutdown` is cancelled when the server stops (see "Passes and shutdown").
    /// Logs its failures: a failed pass is retried at the next trigger.
    async fn pass(&self, shutdown: &CancellationToken) -> Pass;
}

/// A job lease: the `job_leases` row `name` that keeps a job's passes on one node at a time
/// (`Store::acquire_job_lease`). A node that does not hold it skips the pass; a holder that
/// stops is replaced once `ttl` has passed since its last pass began.
#[derive(Debug, Clone)]
pub struct JobLease {
    store: Store,
    name: &'static str,
    holder: String,
    ttl: Duration,
}

impl JobLease {
    /// The lease `name` on `store`, held by `holder` (the node's stable ID) for `ttl` from
    /// each acquisition.
    pub fn new(store: Store, name: &'static str, holder: impl Into<String>, ttl: Duration) -> Self {
        JobLease {
            store,
            name,
            holder: holder.into(),
            ttl,
        }
    }

    /// The lease's name in `job_leases`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Takes the lease, or renews it when this holder has it; returns whether it is held.
    ///
    /// Errors: `Database`.
    pub async fn acquire(&self) -> StoreResult<bool> {
        self.store
            .acquire_job_lease(self.name, &self.holder, self.ttl)
            .await
    }
}

/// A job task that panicked; [`run_all`] stops the other jobs when one panics.
#[derive(Debug, thiserror::Error)]
#[error("background job {name} panicked")]
pub struct JobPanicked {
    /// The job's [`Job::name`].
    pub name: &'static str,
}

/// Runs `job` until `shutdown` is cancelled (or, for a [`Trigger::Stream`] job, its stream
/// ends), in its `job` span.
pub async fn run(job: impl Job, shutdown: CancellationToken) {
    run_shared(Arc::new(job), shutdown).await;
}

/// [`run`] until the future `shutdown` completes: for callers that stop a job with something
/// other than a token (a oneshot, a `Notify`).
pub async fn run_until(job: impl Job, shutdown: impl Future<Output = ()>) {
    let token = CancellationToken::new();
    let running = run(job, token.clone());
    tokio::pin!(running);
    tokio::select! {
        () = &mut running => return,
        () = shutdown => token.cancel(),
    }
    running.await;
}

/// Runs every job of `jobs`, each in a task of its own, until `shutdown` is cancelled, then
/// waits for each to end its pass. A job that ends earlier (nothing to do on this node, as
/// the hub relay on SQLite) leaves the others running.
///
/// Errors: a job panicked; the other jobs were stopped as at shutdown.
pub async fn run_all(
    jobs: Vec<Box<dyn Job>>,
    shutdown: CancellationToken,
) -> Result<(), JobPanicked> {
    let stop = shutdown.child_token();
    let mut tasks = JoinSet::new();
    let mut names = HashMap::new();
    for job in jobs {
        let name = job.name();
        let task = tasks.spawn(run_shared(Arc::from(job), stop.clone()));
        names.insert(task.id(), name);
    }
    let mut failure = None;
    let mut note = |joined: Result<_, tokio::task::JoinError>| {
        if let Err(error) = joined {
            if error.is_panic() && failure.is_none() {
                failure = Some(JobPanicked {
                    name: names.get(&error.id()).copied().unwrap_or("unknown"),
                });
                stop.cancel();
            }
        }
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(joined) = tasks.join_next_with_id() => note(joined.map(|_| ())),
        }
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        note(joined.map(|_| ()));
    }
    failure.map_or(Ok(()), Err)
}

async fn run_shared(job: Arc<dyn Job>, shutdown: CancellationToken) {
    let span = tracing::info_span!("job", name = job.name());
    drive(job, shutdown).instrument(span).await;
}

/// Aborts the heartbeat task when the job ends, however it ends.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn drive(job: Arc<dyn Job>, shutdown: CancellationToken) {
    job.start().await;
    let _heartbeat = job.renew_every().map(|every| {
        let job = job.clone();
        let renewals = async move {
            loop {
                tokio::time::sleep(every).await;
                job.renew().await;
            }
        };
        Heartbeat(tokio::spawn(renewals.in_current_span()))
    });
    loop {
        let pass = match job.lease() {
            None => job.pass(&shutdown).await,
            Some(lease) => match shutdown.run_until_cancelled(lease.acquire()).await {
                None => break,
                Some(Ok(true)) => job.pass(&shutdown).await,
                Some(Ok(false)) => Pass::Idle,
                Some(Err(error)) => {
                    tracing::warn!(lease = lease.name(), %error, "job lease not taken: pass skipped");
                    Pass::Idle
                }
            },
        };
        if shutdown.is_cancelled() {
            break;
        }
        match (job.trigger(), pass) {
            (Trigger::Stream, _) => break,
            (_, Pass::MoreDue) => {}
            (Trigger::Every(interval), Pass::Idle) => {
                if shutdown
                    .run_until_cancelled(tokio::time::sleep(interval))
                    .await
                    .is_none()
                {
                    break;
                }
            }
            (Trigger::EveryOrWoken(interval, wake), Pass::Idle) => tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(interval) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts its passes; says `MoreDue` for the first `more_due` of them.
    struct Counting {
        trigger: Trigger,
        lease: Option<JobLease>,
        passes: Arc<AtomicUsize>,
        more_due: usize,
    }

    #[async_trait::async_trait]
    impl Job for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn trigger(&self) -> Trigger {
            self.trigger
        }
        fn lease(&self) -> Option<&JobLease> {
            self.lease.as_ref()
        }
        async fn pass(&self, _shutdown: &CancellationToken) -> Pass {
            let n = self.passes.fetch_add(1, Ordering::SeqCst);
            if n < self.more_due {
                Pass::MoreDue
            } else {
                Pass::Idle
            }
        }
    }

    fn counting(
        trigger: Trigger,
        lease: Option<JobLease>,
        more_due: usize,
    ) -> (Counting, Arc<AtomicUsize>) {
        let passes = Arc::new(AtomicUsize::new(0));
        let job = Counting {
            trigger,
            lease,
            passes: passes.clone(),
            more_due,
        };
        (job, passes)
    }

    /// Waits (at most 5 s) until `passes` reaches `n`.
    async fn wait_for(passes: &AtomicUsize, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while passes.load(Ordering::SeqCst) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} passes within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn passes_run_at_once_then_every_interval_until_shutdown() {
        let (job, passes) = counting(Trigger::Every(Duration::from_secs(1)), None, 0);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(job, shutdown.clone()));
        wait_for(&passes, 1).await;
        assert_eq!(passes.load(Ordering::SeqCst), 1, "one pass, then a wait");
        wait_for(&passes, 2).await;
        shutdown.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_pass_with_more_due_is_followed_at_once_and_a_wake_cuts_the_wait() {
        static WAKE: Notify = Notify::const_new();
        let trigger = Trigger::EveryOrWoken(Duration::from_secs(3600), &WAKE);
        let (job, passes) = counting(trigger, None, 2);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(job, shutdown.clone()));
        wait_for(&passes, 3).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            passes.load(Ordering::SeqCst),
            3,
            "two busy passes, then a wait"
        );
        WAKE.notify_one();
        wait_for(&passes, 4).await;
        shutdown.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn only_the_lease_holder_runs_passes() {
        for t in carillon_store::testing::test_stores().await {
            let ttl = Duration::from_secs(60);
            let lease =
                |holder: &str| Some(JobLease::new(t.store.clone(), "test-job", holder, ttl));
            let (a, a_passes) = counting(Trigger::Every(Duration::from_secs(3600)), lease("a"), 0);
            let (b, b_passes) = counting(Trigger::Every(Duration::from_secs(3600)), lease("b"), 0);
            let shutdown = CancellationToken::new();
            run_until(a, async {
                tokio::time::sleep(Duration::from_millis(200)).await
            })
            .await;
            let b = tokio::spawn(run(b, shutdown.clone()));
            tokio::time::sleep(Duration::from_millis(200)).await;
            shutdown.cancel();
            b.await.unwrap();
            assert_eq!(a_passes.load(Ordering::SeqCst), 1, "{}", t.label);
            assert_eq!(
                b_passes.load(Ordering::SeqCst),
                0,
                "{}: a holds the lease",
                t.label
            );
        }
    }

    struct Panicking;

    #[async_trait::async_trait]
    impl Job for Panicking {
        fn name(&self) -> &'static str {
            "panicking"
        }
        fn trigger(&self) -> Trigger {
            Trigger::Stream
        }
        async fn pass(&self, _shutdown: &CancellationToken) -> Pass {
            panic!("a job bug");
        }
    }

    #[tokio::test]
    async fn run_all_outlives_jobs_that_end_and_names_one_that_panics() {
        let (stream, _) = counting(Trigger::Stream, None, 0);
        let shutdown = CancellationToken::new();
        let all = tokio::spawn(run_all(vec![Box::new(stream)], shutdown.clone()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !all.is_finished(),
            "runs until shutdown though its only job ended"
        );
        shutdown.cancel();
        assert!(all.await.unwrap().is_ok());

        let (steady, _) = counting(Trigger::Every(Duration::from_secs(3600)), None, 0);
        let jobs: Vec<Box<dyn Job>> = vec![Box::new(steady), Box::new(Panicking)];
        let failure = run_all(jobs, CancellationToken::new()).await.unwrap_err();
        assert_eq!(failure.name, "panicking");
    }
}
