//! Message copies in folders: APPEND with UID allocation, listing, flags (STORE), EXPUNGE,
//! and COPY/MOVE with COPYUID (RFC 3501 §6.4, RFC 4315, RFC 6851). Every writing transaction
//! starts by updating the folder row, which takes the lock and checks ownership.

use std::collections::{BTreeMap, HashSet};

use sqlx::{Any, Transaction};

use super::add_mailbox_size;
use super::folders::canonical_folder_name;
use crate::error::{StoreError, StoreResult};
use crate::Store;

/// One message copy to append with [`Store::append_messages`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Owner of the mailbox (WorkMail user entity ID).
    pub user_id: String,
    /// Folder name, e.g. `INBOX` (any case) or `Sent Items`.
    pub folder: String,
    /// Key of the raw message in the blob store; must already be stored durably.
    pub blob_key: String,
    /// Size of the raw message in bytes (RFC822.SIZE).
    pub size_bytes: i64,
    /// INTERNALDATE, epoch milliseconds.
    pub internal_date: i64,
    /// Initial flags (e.g. `\Seen` for a Sent Items copy); `\Recent` is not stored.
    pub flags: Vec<String>,
    /// The blob's message key wrapped by this mailbox's key (base64, encryption at rest,
    /// workmail.md §5.3); `None` for a plaintext blob.
    pub message_key: Option<String>,
}

/// Where [`Store::append_messages`] put one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedMessage {
    /// Owner of the mailbox.
    pub user_id: String,
    /// The folder the copy went to.
    pub folder_id: String,
    /// The UID allocated for the copy in that folder.
    pub uid: i64,
}

/// One message copy in a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// UID in its folder.
    pub uid: i64,
    /// Key of the raw message in the blob store.
    pub blob_key: String,
    /// RFC822.SIZE in bytes.
    pub size_bytes: i64,
    /// INTERNALDATE, epoch milliseconds.
    pub internal_date: i64,
    /// Flags other than `\Recent`, in stored order.
    pub flags: Vec<String>,
    /// MODSEQ of the last change to this copy.
    pub modseq: i64,
    /// The blob's message key wrapped by the mailbox key (base64); `None`: the blob is
    /// plaintext (stored before encryption at rest).
    pub message_key: Option<String>,
}

/// How [`Store::store_flags`] combines the given flags with the stored ones (RFC 3501 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

/// Result of a COPY or MOVE (RFC 4315 COPYUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResult {
    /// UIDVALIDITY of the destination folder.
    pub uid_validity: i64,
    /// (source UID, destination UID) for every message copied, in source UID order.
    pub uids: Vec<(i64, i64)>,
}

pub(super) fn parse_flags(stored: &str) -> Vec<String> {
    stored
        .split(' ')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

/// Joins `flags` for storage, dropping duplicates (case-insensitively) and `\Recent`.
fn join_flags<'a>(flags: impl IntoIterator<Item = &'a String>) -> String {
    let mut seen = HashSet::new();
    let mut out: Vec<&str> = Vec::new();
    for flag in flags {
        let key = flag.to_ascii_lowercase();
        if key == "\\recent" || flag.is_empty() || flag.contains(' ') {
            continue;
        }
        if seen.insert(key) {
            out.push(flag);
        }
    }
    out.join(" ")
}

pub(super) use carillon_core::mail::has_flag;

type MessageRow = (i64, String, i64, i64, String, i64, Option<String>);

fn message_from_row(row: MessageRow) -> StoredMessage {
    let (uid, blob_key, size_bytes, internal_date, flags, modseq, message_key) = row;
    StoredMessage {
        uid,
        blob_key,
        size_bytes,
        internal_date,
        flags: parse_flags(&flags),
        modseq,
        message_key,
    }
}

impl Store {
    /// Appends message copies in one transaction (all or nothing): each copy gets its
    /// folder's next UID, a new MODSEQ, and adds its size to the mailbox size. The blobs must
    /// already be stored durably. Results are in the order of `copies`.
    ///
    /// Errors: `NotFound` naming the folder when a user has no such folder (nothing is
    /// appended then).
    pub async fn append_messages(
        &self,
        copies: &[NewMessage],
    ) -> StoreResult<Vec<AppendedMessage>> {
        let mut tx = self.begin_write().await?;
        let appended = append_in(&mut tx, copies).await?;
        tx.commit().await?;
        Ok(appended)
    }

    /// Every message copy of the folder, by ascending UID; empty when the folder is not the
    /// user's.
    pub async fn list_messages(
        &self,
        user_id: &str,
        folder_id: &str,
    ) -> StoreResult<Vec<StoredMessage>> {
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT m.uid, m.blob_key, m.size_bytes, m.internal_date, m.flags, m.modseq, \
             m.message_key \
             FROM messages m JOIN folders f ON f.folder_id = m.folder_id \
             WHERE f.user_id = $1 AND m.folder_id = $2 ORDER BY m.uid",
        )
        .bind(user_id)
        .bind(folder_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(message_from_row).collect())
    }

    /// Changes the flags of the messages `uids` of the folder (RFC 3501 §6.4.6 STORE) and
    /// gives every changed copy a new MODSEQ. Returns the changed copies with their new
    /// flags, by ascending UID; UIDs not in the folder are ignored. `\Recent` cannot be set.
    ///
    /// Errors: `NotFound` when the folder is not the user's.
    pub async fn store_flags(
        &self,
        user_id: &str,
        folder_id: &str,
        uids: &[i64],
        op: FlagOp,
        flags: &[String],
    ) -> StoreResult<Vec<StoredMessage>> {
        let mut tx = self.begin_write().await?;
        let modseq = bump_folder_modseq(&mut tx, user_id, folder_id, 1).await?;
        let wanted: HashSet<i64> = uids.iter().copied().collect();
        let mut changed = Vec::new();
        for mut message in folder_messages(&mut tx, folder_id).await? {
            if !wanted.contains(&message.uid) {
                continue;
            }
            let updated: Vec<String> = match op {
                FlagOp::Replace => flags.to_vec(),
                FlagOp::Add => message.flags.iter().chain(flags).cloned().collect(),
                FlagOp::Remove => message
                    .flags
                    .iter()
                    .filter(|f| !has_flag(flags, f))
                    .cloned()
                    .collect(),
            };
            let joined = join_flags(&updated);
            if joined == join_flags(&message.flags) {
                continue;
            }
            sqlx::query(
                "UPDATE messages SET flags = $1, modseq = $2 WHERE folder_id = $3 AND uid = $4",
            )
            .bind(&joined)
            .bind(modseq)
            .bind(folder_id)
            .bind(message.uid)
            .execute(&mut *tx)
            .await?;
            message.flags = parse_flags(&joined);
            message.modseq = modseq;
            changed.push(message);
        }
        if changed.is_empty() {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(changed)
    }

    /// Permanently removes the folder's messages flagged `\Deleted` — only those among `uids`
    /// when given (RFC 4315 UID EXPUNGE) — and returns their UIDs ascending (RFC 3501
    /// §6.4.3). The mailbox size shrinks by their sizes; a blob no longer referenced by any
    /// message or queued delivery is deleted.
    ///
    /// Errors: `NotFound` when the folder is not the user's.
    pub async fn expunge(
        &self,
        user_id: &str,
        folder_id: &str,
        uids: Option<&[i64]>,
    ) -> StoreResult<Vec<i64>> {
        let wanted: Option<HashSet<i64>> = uids.map(|u| u.iter().copied().collect());
        let mut tx = self.begin_write().await?;
        bump_folder_modseq(&mut tx, user_id, folder_id, 1).await?;
        let doomed: Vec<StoredMessage> = folder_messages(&mut tx, folder_id)
            .await?
            .into_iter()
            .filter(|m| has_flag(&m.flags, "\\Deleted"))
            .filter(|m| wanted.as_ref().is_none_or(|w| w.contains(&m.uid)))
            .collect();
        if doomed.is_empty() {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        for message in &doomed {
            sqlx::query("DELETE FROM messages WHERE folder_id = $1 AND uid = $2")
                .bind(folder_id)
                .bind(message.uid)
                .execute(&mut *tx)
                .await?;
        }
        let freed: i64 = doomed.iter().map(|m| m.size_bytes).sum();
        add_mailbox_size(&mut tx, user_id, -freed).await?;
        tx.commit().await?;
        self.delete_unreferenced_blobs(doomed.iter().map(|m| m.blob_key.as_str()))
            .await;
        Ok(doomed.into_iter().map(|m| m.uid).collect())
    }

    /// Copies the messages `uids` of a folder to the folder named `destination` (RFC 3501
    /// §6.4.7), keeping flags and INTERNALDATE and sharing the blobs; the mailbox grows by
    /// their sizes. UIDs not in the folder are ignored.
    ///
    /// Errors: `NotFound` when either folder is absent (IMAP answers `[TRYCREATE]`).
    pub async fn copy_messages(
        &self,
        user_id: &str,
        folder_id: &str,
        uids: &[i64],
        destination: &str,
    ) -> StoreResult<CopyResult> {
        self.transfer(user_id, folder_id, uids, destination, false)
            .await
    }

    /// Moves the messages `uids` of a folder to the folder named `destination` atomically
    /// (RFC 6851): copies as [`Store::copy_messages`] does, and removes the originals in the
    /// same transaction; the mailbox size is unchanged.
    ///
    /// Errors: as [`Store::copy_messages`].
    pub async fn move_messages(
        &self,
        user_id: &str,
        folder_id: &str,
        uids: &[i64],
        destination: &str,
    ) -> StoreResult<CopyResult> {
        self.transfer(user_id, folder_id, uids, destination, true)
            .await
    }

    async fn transfer(
        &self,
        user_id: &str,
        folder_id: &str,
        uids: &[i64],
        destination: &str,
        remove: bool,
    ) -> StoreResult<CopyResult> {
        let destination = canonical_folder_name(destination);
        let wanted: HashSet<i64> = uids.iter().copied().collect();
        let mut tx = self.begin_write().await?;
        // Locks the source first: an EXPUNGE running at once cannot delete the blobs of
        // copies being made here.
        bump_folder_modseq(&mut tx, user_id, folder_id, i64::from(remove)).await?;
        let sources: Vec<StoredMessage> = folder_messages(&mut tx, folder_id)
            .await?
            .into_iter()
            .filter(|m| wanted.contains(&m.uid))
            .collect();
        let count = sources.len() as i64;
        let allocated: Option<(String, i64, i64, i64)> = sqlx::query_as(
            "UPDATE folders SET uid_next = uid_next + $1, highest_modseq = highest_modseq + 1 \
             WHERE user_id = $2 AND name = $3 \
             RETURNING folder_id, uid_validity, uid_next, highest_modseq",
        )
        .bind(count)
        .bind(user_id)
        .bind(&destination)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((target_id, uid_validity, uid_next, modseq)) = allocated else {
            return Err(StoreError::NotFound(format!("folder {destination:?}")));
        };
        if sources.is_empty() {
            tx.rollback().await?;
            return Ok(CopyResult {
                uid_validity,
                uids: Vec::new(),
            });
        }
        let first_uid = uid_next - count;
        let mut pairs = Vec::with_capacity(sources.len());
        for (offset, message) in (0..).zip(&sources) {
            let uid = first_uid + offset;
            sqlx::query(
                "INSERT INTO messages (folder_id, uid, blob_key, size_bytes, internal_date, flags, \
                 modseq, message_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&target_id)
            .bind(uid)
            .bind(&message.blob_key)
            .bind(message.size_bytes)
            .bind(message.internal_date)
            .bind(join_flags(&message.flags))
            .bind(modseq)
            .bind(&message.message_key)
            .execute(&mut *tx)
            .await?;
            if remove {
                sqlx::query("DELETE FROM messages WHERE folder_id = $1 AND uid = $2")
                    .bind(folder_id)
                    .bind(message.uid)
                    .execute(&mut *tx)
                    .await?;
            }
            pairs.push((message.uid, uid));
        }
        if !remove {
            add_mailbox_size(&mut tx, user_id, sources.iter().map(|m| m.size_bytes).sum()).await?;
        }
        tx.commit().await?;
        Ok(CopyResult {
            uid_validity,
            uids: pairs,
        })
    }
}

/// Bumps the folder's HIGHESTMODSEQ by `by` (0 only locks the row) and returns the new value.
/// Doubles as the first, lock-taking write of a transaction and as the ownership check.
async fn bump_folder_modseq(
    tx: &mut Transaction<'static, Any>,
    user_id: &str,
    folder_id: &str,
    by: i64,
) -> StoreResult<i64> {
    let modseq: Option<i64> = sqlx::query_scalar(
        "UPDATE folders SET highest_modseq = highest_modseq + $1 \
         WHERE folder_id = $2 AND user_id = $3 RETURNING highest_modseq",
    )
    .bind(by)
    .bind(folder_id)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;
    modseq.ok_or_else(|| StoreError::NotFound(format!("folder {folder_id}")))
}

pub(super) async fn folder_messages(
    tx: &mut Transaction<'static, Any>,
    folder_id: &str,
) -> StoreResult<Vec<StoredMessage>> {
    let rows: Vec<MessageRow> = sqlx::query_as(
        "SELECT uid, blob_key, size_bytes, internal_date, flags, modseq, message_key \
         FROM messages \
         WHERE folder_id = $1 ORDER BY uid",
    )
    .bind(folder_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(message_from_row).collect())
}

/// [`Store::append_messages`] inside `tx`, so a delivery can commit its copies together with
/// other rows (its outbound queue rows and journal records).
pub(crate) async fn append_in(
    tx: &mut Transaction<'static, Any>,
    copies: &[NewMessage],
) -> StoreResult<Vec<AppendedMessage>> {
    // Lock folders in a fixed order (then mailboxes, below) so concurrent deliveries and
    // expunges on PostgreSQL cannot deadlock on each other.
    let mut order: Vec<usize> = (0..copies.len()).collect();
    order.sort_by(|&a, &b| {
        (&copies[a].user_id, &copies[a].folder).cmp(&(&copies[b].user_id, &copies[b].folder))
    });
    let mut results: Vec<Option<AppendedMessage>> = vec![None; copies.len()];
    // Mailbox rows are locked after every folder row, as EXPUNGE and DELETE lock them.
    let mut growth: BTreeMap<&str, i64> = BTreeMap::new();
    for index in order {
        let copy = &copies[index];
        let name = canonical_folder_name(&copy.folder);
        let allocated: Option<(String, i64, i64)> = sqlx::query_as(
            "UPDATE folders SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1 \
             WHERE user_id = $1 AND name = $2 RETURNING folder_id, uid_next, highest_modseq",
        )
        .bind(&copy.user_id)
        .bind(&name)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((folder_id, uid_next, modseq)) = allocated else {
            return Err(StoreError::NotFound(format!(
                "folder {name:?} of user {}",
                copy.user_id
            )));
        };
        let uid = uid_next - 1;
        sqlx::query(
            "INSERT INTO messages (folder_id, uid, blob_key, size_bytes, internal_date, flags, \
             modseq, message_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&folder_id)
        .bind(uid)
        .bind(&copy.blob_key)
        .bind(copy.size_bytes)
        .bind(copy.internal_date)
        .bind(join_flags(&copy.flags))
        .bind(modseq)
        .bind(&copy.message_key)
        .execute(&mut **tx)
        .await?;
        *growth.entry(copy.user_id.as_str()).or_insert(0) += copy.size_bytes;
        results[index] = Some(AppendedMessage {
            user_id: copy.user_id.clone(),
            folder_id,
            uid,
        });
    }
    for (user_id, bytes) in growth {
        add_mailbox_size(tx, user_id, bytes).await?;
    }
    Ok(results.into_iter().flatten().collect())
}
