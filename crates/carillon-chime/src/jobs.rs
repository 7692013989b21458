//! The Chime system's background jobs, run by `carillon serve` until shutdown.
//!
//! Each is a [`carillon_jobs::Job`] of its module, and coordinates across nodes through the
//! store (a job lease, or steps guarded by the rows' status), so every node runs them all.

use carillon_jobs::Job;

use crate::Chime;

/// Every Chime background job of this node, for [`carillon_jobs::run_all`]: chat retention,
/// domain-claim verification, the released-users purge, bot events, usage reports, the
/// phone-number queue and the hub relay.
pub fn all(chime: &Chime) -> Vec<Box<dyn Job>> {
    vec![
        Box::new(crate::chat_retention_job::ChatRetentionJob::new(
            chime.clone(),
        )),
        Box::new(crate::domains::DomainVerification(chime.clone())),
        Box::new(crate::domains::ReleasedUsersPurge::new(chime.clone())),
        Box::new(crate::bot_events::BotEvents(chime.clone())),
        Box::new(crate::reports::UsageReports::new(chime.clone())),
        Box::new(crate::phone_numbers::PhoneNumberQueue(chime.clone())),
        Box::new(crate::hub::relay::HubRelay(chime.clone())),
    ]
}
