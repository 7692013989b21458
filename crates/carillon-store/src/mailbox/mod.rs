//! Mailbox contents: a WorkMail *mailbox* (one user's whole store), its *folders* (IMAP
//! mailboxes, RFC 3501 §2.3) and the message copies in them.
//!
//! Message bodies are immutable blobs in the [`BlobStore`](crate::BlobStore), shared by every
//! copy (recipients of one delivery, IMAP COPY); rows here carry the per-copy state: UID,
//! flags, MODSEQ, INTERNALDATE. UIDs come from the folder row's `uid_next`, incremented inside
//! the writing transaction (`UPDATE … RETURNING`), so concurrent deliveries on any number of
//! nodes never hand out one UID twice (SQLite serialises writers; PostgreSQL row-locks the
//! folder). Every writing transaction starts with that `UPDATE` so SQLite takes its write lock
//! first and never fails to upgrade a read lock.
//!
//! `\Recent` (RFC 3501 §2.3.2) is kept per folder as `first_recent_uid`: the first session
//! that selects the folder read-write claims the messages from there up and moves the mark.
//!
//! This module owns the mailbox as a whole: its creation with the default folders, its size
//! (the sum of its copies, kept in the same transactions that add or remove copies) and the
//! deletion of blobs no copy or queued delivery references any more. `folders` owns the
//! folders (names, counters, `\Recent`, CREATE/DELETE/RENAME/SUBSCRIBE) and `messages` the
//! message copies (APPEND, flags, EXPUNGE, COPY/MOVE).

mod folders;
mod messages;

use std::collections::HashSet;

use sqlx::{Any, Transaction};

pub use self::folders::{
    canonical_folder_name, Folder, FolderStatus, DEFAULT_FOLDERS, DELETED_ITEMS, DRAFTS,
    FOLDER_DELIMITER, INBOX, JUNK_EMAIL, SENT_ITEMS,
};
pub(crate) use self::messages::append_in;
pub use self::messages::{AppendedMessage, CopyResult, FlagOp, NewMessage, StoredMessage};

use self::folders::insert_folder;
use crate::error::StoreResult;
use crate::Store;

impl Store {
    /// Creates the user's mailbox and the [`DEFAULT_FOLDERS`], each with a fresh persisted
    /// UIDVALIDITY. Idempotent: an existing mailbox or folder is left as it is.
    ///
    /// Errors: `Database` (e.g. `user_id` is not a directory entity).
    pub async fn create_mailbox(&self, organization_id: &str, user_id: &str) -> StoreResult<()> {
        let now = carillon_core::time::now_millis();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO mailboxes (user_id, organization_id, size_bytes, created_at) \
             VALUES ($1, $2, 0, $3) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(organization_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (name, special_use) in DEFAULT_FOLDERS {
            insert_folder(&mut tx, user_id, name, *special_use, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Mailbox size in bytes (sum of the sizes of its message copies), `None` when the user
    /// has no mailbox. Spec: workmail.md GetMailboxDetails `MailboxSize`.
    pub async fn mailbox_size(&self, user_id: &str) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT size_bytes FROM mailboxes WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Deletes blob `key` when no message copy and no queued delivery references it any more;
    /// returns whether it was deleted. For whoever drops the last reference outside this
    /// module (e.g. the outbound queue after delivery).
    pub async fn delete_blob_if_unreferenced(&self, key: &str) -> StoreResult<bool> {
        let copies: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE blob_key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        let queued: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbound_queue WHERE blob_key = $1")
                .bind(key)
                .fetch_one(&self.pool)
                .await?;
        if copies + queued > 0 {
            return Ok(false);
        }
        self.blobs().delete(key).await?;
        Ok(true)
    }

    /// Best effort after a committed removal: a blob left behind only costs space, so a
    /// failure is logged rather than failing the (already durable) IMAP operation.
    async fn delete_unreferenced_blobs<'a>(&self, keys: impl Iterator<Item = &'a str>) {
        let keys: HashSet<&str> = keys.collect();
        for key in keys {
            if let Err(error) = self.delete_blob_if_unreferenced(key).await {
                tracing::warn!(blob_key = key, %error, "could not delete unreferenced blob");
            }
        }
    }
}

async fn add_mailbox_size(
    tx: &mut Transaction<'static, Any>,
    user_id: &str,
    delta: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE mailboxes SET size_bytes = size_bytes + $1 WHERE user_id = $2")
        .bind(delta)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
