//! Stage 5, **commit**: the copies, queue rows and journal records of one message appended in
//! one transaction, each carrying the message key of its blob wrapped for its mailbox or
//! organization ([`crate::crypto::wrap_message_keys`]). All or nothing: callers acknowledge
//! (SMTP `250`) only after this returns `Ok`, so an acknowledged message is on disk and an
//! unacknowledged one has no visible copy.

use carillon_store::{Store, StoreError};

use super::seal::{discard_blob, Sealed};
use crate::crypto;

/// Commits `sealed`; on failure its blobs, which nothing references then, are removed.
///
/// Errors: store and key failures.
pub(super) async fn commit(store: &Store, sealed: &Sealed) -> Result<(), StoreError> {
    let (mut copies, mut outbound) = (sealed.copies.clone(), sealed.outbound.clone());
    let wrapped = crypto::wrap_message_keys(store, &sealed.blobs, &mut copies, &mut outbound).await;
    if let Err(e) = match wrapped {
        Ok(()) => store.commit_delivery(&copies, &outbound).await,
        Err(e) => Err(e),
    } {
        for blob in &sealed.blobs {
            discard_blob(store, &blob.key).await;
        }
        return Err(e);
    }
    Ok(())
}
