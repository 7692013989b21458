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

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use rand::Rng;
use sqlx::{Any, Transaction};

use crate::error::{StoreError, StoreResult};
use crate::Store;

/// Default folders as WorkMail has them, with their RFC 6154 special-use attribute.
/// Spec: issue 2 §7 (Inbox, Sent Items, Drafts, Deleted Items, Junk E-mail).
pub const DEFAULT_FOLDERS: &[(&str, Option<&str>)] = &[
    ("INBOX", None),
    ("Sent Items", Some("\\Sent")),
    ("Drafts", Some("\\Drafts")),
    ("Deleted Items", Some("\\Trash")),
    ("Junk E-mail", Some("\\Junk")),
];

/// Hierarchy delimiter of folder names (a child of `A` is `A/B`).
pub const FOLDER_DELIMITER: char = '/';

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

/// A folder (IMAP mailbox) and its persistent counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// Opaque stable ID (survives RENAME).
    pub folder_id: String,
    /// Full name, levels separated by [`FOLDER_DELIMITER`]; `INBOX` is always upper case.
    pub name: String,
    /// RFC 6154 attribute such as `\Sent`, for default folders.
    pub special_use: Option<String>,
    /// Whether the folder is in the LSUB list.
    pub subscribed: bool,
    /// UIDVALIDITY (RFC 3501 §2.3.1.1): 1..=2^31-1, fixed for the folder's life.
    pub uid_validity: i64,
    /// UIDNEXT: the UID the next appended message gets.
    pub uid_next: i64,
    /// Bumped by every change in the folder (append, flag change, expunge).
    pub highest_modseq: i64,
    /// Messages from this UID up are `\Recent`: not yet seen by a read-write session.
    pub first_recent_uid: i64,
}

/// Counters of a folder for SELECT, EXAMINE and STATUS (RFC 3501 §6.3.1, §6.3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderStatus {
    /// The folder itself.
    pub folder: Folder,
    /// Number of messages (EXISTS / MESSAGES).
    pub exists: i64,
    /// Number of messages not yet claimed as `\Recent` by a session (RECENT of STATUS).
    pub recent: i64,
    /// Number of messages without `\Seen` (UNSEEN of STATUS).
    pub unseen: i64,
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

/// Canonical stored form of a folder name: `INBOX` in any case is `INBOX` (RFC 3501 §5.1).
pub fn canonical_folder_name(name: &str) -> String {
    match name.split_once(FOLDER_DELIMITER) {
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => {
            format!("INBOX{FOLDER_DELIMITER}{rest}")
        }
        _ if name.eq_ignore_ascii_case("INBOX") => "INBOX".to_string(),
        _ => name.to_string(),
    }
}

fn is_default_folder(name: &str) -> bool {
    DEFAULT_FOLDERS.iter().any(|(n, _)| *n == name)
}

fn fresh_uid_validity() -> i64 {
    // Random rather than clock-based so that a folder deleted and re-created within the same
    // second still gets a different UIDVALIDITY; 31 bits keep it a positive nz-number.
    rand::thread_rng().gen_range(1..=i64::from(i32::MAX))
}

fn parse_flags(stored: &str) -> Vec<String> {
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

fn has_flag(flags: &[String], flag: &str) -> bool {
    flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
}

type FolderRow = (String, String, Option<String>, i64, i64, i64, i64, i64);

fn folder_from_row(row: FolderRow) -> Folder {
    let (
        folder_id,
        name,
        special_use,
        subscribed,
        uid_validity,
        uid_next,
        highest_modseq,
        first_recent_uid,
    ) = row;
    Folder {
        folder_id,
        name,
        special_use,
        subscribed: subscribed != 0,
        uid_validity,
        uid_next,
        highest_modseq,
        first_recent_uid,
    }
}

const FOLDER_COLUMNS: &str = "folder_id, name, special_use, subscribed, uid_validity, uid_next, \
     highest_modseq, first_recent_uid";

type MessageRow = (i64, String, i64, i64, String, i64);

fn message_from_row(row: MessageRow) -> StoredMessage {
    let (uid, blob_key, size_bytes, internal_date, flags, modseq) = row;
    StoredMessage {
        uid,
        blob_key,
        size_bytes,
        internal_date,
        flags: parse_flags(&flags),
        modseq,
    }
}

impl Store {
    /// Creates the user's mailbox and the [`DEFAULT_FOLDERS`], each with a fresh persisted
    /// UIDVALIDITY. Idempotent: an existing mailbox or folder is left as it is.
    ///
    /// Errors: `Database` (e.g. `user_id` is not a directory entity).
    pub async fn create_mailbox(&self, organization_id: &str, user_id: &str) -> StoreResult<()> {
        let now = carillon_core::time::now_millis();
        let mut tx = self.pool.begin().await?;
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
        // Lock folders in a fixed order (then mailboxes, below) so concurrent deliveries and
        // expunges on PostgreSQL cannot deadlock on each other.
        let mut order: Vec<usize> = (0..copies.len()).collect();
        order.sort_by(|&a, &b| {
            (&copies[a].user_id, &copies[a].folder).cmp(&(&copies[b].user_id, &copies[b].folder))
        });
        let mut results: Vec<Option<AppendedMessage>> = vec![None; copies.len()];
        // Mailbox rows are locked after every folder row, as EXPUNGE and DELETE lock them.
        let mut growth: BTreeMap<&str, i64> = BTreeMap::new();
        let mut tx = self.pool.begin().await?;
        for index in order {
            let copy = &copies[index];
            let name = canonical_folder_name(&copy.folder);
            let allocated: Option<(String, i64, i64)> = sqlx::query_as(
                "UPDATE folders SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1 \
                 WHERE user_id = $1 AND name = $2 RETURNING folder_id, uid_next, highest_modseq",
            )
            .bind(&copy.user_id)
            .bind(&name)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((folder_id, uid_next, modseq)) = allocated else {
                return Err(StoreError::NotFound(format!(
                    "folder {name:?} of user {}",
                    copy.user_id
                )));
            };
            let uid = uid_next - 1;
            sqlx::query(
                "INSERT INTO messages (folder_id, uid, blob_key, size_bytes, internal_date, flags, modseq) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&folder_id)
            .bind(uid)
            .bind(&copy.blob_key)
            .bind(copy.size_bytes)
            .bind(copy.internal_date)
            .bind(join_flags(&copy.flags))
            .bind(modseq)
            .execute(&mut *tx)
            .await?;
            *growth.entry(copy.user_id.as_str()).or_insert(0) += copy.size_bytes;
            results[index] = Some(AppendedMessage {
                user_id: copy.user_id.clone(),
                folder_id,
                uid,
            });
        }
        for (user_id, bytes) in growth {
            add_mailbox_size(&mut tx, user_id, bytes).await?;
        }
        tx.commit().await?;
        Ok(results.into_iter().flatten().collect())
    }

    /// The user's folders, ordered by name (LIST, LSUB).
    pub async fn list_folders(&self, user_id: &str) -> StoreResult<Vec<Folder>> {
        let rows: Vec<FolderRow> = sqlx::query_as(&format!(
            "SELECT {FOLDER_COLUMNS} FROM folders WHERE user_id = $1 ORDER BY name"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(folder_from_row).collect())
    }

    /// The folder `name` of the user (INBOX case-insensitively), `None` when absent.
    pub async fn folder(&self, user_id: &str, name: &str) -> StoreResult<Option<Folder>> {
        let row: Option<FolderRow> = sqlx::query_as(&format!(
            "SELECT {FOLDER_COLUMNS} FROM folders WHERE user_id = $1 AND name = $2"
        ))
        .bind(user_id)
        .bind(canonical_folder_name(name))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(folder_from_row))
    }

    /// The folder with ID `folder_id` if it belongs to the user: its current counters, cheap
    /// enough to poll (IDLE watches `uid_next` and `highest_modseq`).
    pub async fn folder_by_id(
        &self,
        user_id: &str,
        folder_id: &str,
    ) -> StoreResult<Option<Folder>> {
        let row: Option<FolderRow> = sqlx::query_as(&format!(
            "SELECT {FOLDER_COLUMNS} FROM folders WHERE user_id = $1 AND folder_id = $2"
        ))
        .bind(user_id)
        .bind(folder_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(folder_from_row))
    }

    /// Counters of folder `name` for STATUS (RFC 3501 §6.3.10), `None` when absent.
    pub async fn folder_status(
        &self,
        user_id: &str,
        name: &str,
    ) -> StoreResult<Option<FolderStatus>> {
        let Some(folder) = self.folder(user_id, name).await? else {
            return Ok(None);
        };
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT uid, flags FROM messages WHERE folder_id = $1")
                .bind(&folder.folder_id)
                .fetch_all(&self.pool)
                .await?;
        let exists = rows.len() as i64;
        let recent = rows
            .iter()
            .filter(|(uid, _)| *uid >= folder.first_recent_uid)
            .count() as i64;
        let unseen = rows
            .iter()
            .filter(|(_, flags)| !has_flag(&parse_flags(flags), "\\Seen"))
            .count() as i64;
        Ok(Some(FolderStatus {
            folder,
            exists,
            recent,
            unseen,
        }))
    }

    /// Claims the `\Recent` messages of a folder for one read-write session (RFC 3501
    /// §2.3.2): returns the UID range that is recent for the caller — empty when there is none
    /// or another session claimed it first — and moves the folder's mark to UIDNEXT.
    ///
    /// Errors: `NotFound` when the folder is not the user's.
    pub async fn claim_recent(&self, user_id: &str, folder_id: &str) -> StoreResult<Range<i64>> {
        let folder = self
            .folder_by_id(user_id, folder_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("folder {folder_id}")))?;
        if folder.first_recent_uid >= folder.uid_next {
            return Ok(folder.uid_next..folder.uid_next);
        }
        // Compare-and-set: of two sessions selecting at once, exactly one gets the range.
        let claimed = sqlx::query(
            "UPDATE folders SET first_recent_uid = $1 WHERE folder_id = $2 AND first_recent_uid = $3",
        )
        .bind(folder.uid_next)
        .bind(folder_id)
        .bind(folder.first_recent_uid)
        .execute(&self.pool)
        .await?;
        Ok(if claimed.rows_affected() == 1 {
            folder.first_recent_uid..folder.uid_next
        } else {
            folder.uid_next..folder.uid_next
        })
    }

    /// Every message copy of the folder, by ascending UID; empty when the folder is not the
    /// user's.
    pub async fn list_messages(
        &self,
        user_id: &str,
        folder_id: &str,
    ) -> StoreResult<Vec<StoredMessage>> {
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT m.uid, m.blob_key, m.size_bytes, m.internal_date, m.flags, m.modseq \
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
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
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
                "INSERT INTO messages (folder_id, uid, blob_key, size_bytes, internal_date, flags, modseq) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&target_id)
            .bind(uid)
            .bind(&message.blob_key)
            .bind(message.size_bytes)
            .bind(message.internal_date)
            .bind(join_flags(&message.flags))
            .bind(modseq)
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

    /// Creates folder `name` with a fresh UIDVALIDITY, and its missing superiors (RFC 3501
    /// §6.3.3). Errors: `Conflict` when it exists; `Database` when the user has no mailbox.
    pub async fn create_folder(&self, user_id: &str, name: &str) -> StoreResult<Folder> {
        let name = canonical_folder_name(name);
        let now = carillon_core::time::now_millis();
        let mut tx = self.pool.begin().await?;
        if !insert_folder(&mut tx, user_id, &name, None, now).await? {
            return Err(StoreError::Conflict(format!("folder {name:?} exists")));
        }
        insert_superiors(&mut tx, user_id, &name, now).await?;
        tx.commit().await?;
        self.folder(user_id, &name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("folder {name:?}")))
    }

    /// Deletes folder `name` and its messages (RFC 3501 §6.3.4); its inferiors stay. The
    /// mailbox size shrinks and unreferenced blobs are deleted.
    ///
    /// Errors: `Conflict` for a default folder; `NotFound` when absent.
    pub async fn delete_folder(&self, user_id: &str, name: &str) -> StoreResult<()> {
        let name = canonical_folder_name(name);
        if is_default_folder(&name) {
            return Err(StoreError::Conflict(format!(
                "default folder {name:?} cannot be deleted"
            )));
        }
        let mut tx = self.pool.begin().await?;
        let folder_id: Option<String> = sqlx::query_scalar(
            "UPDATE folders SET highest_modseq = highest_modseq + 1 \
             WHERE user_id = $1 AND name = $2 RETURNING folder_id",
        )
        .bind(user_id)
        .bind(&name)
        .fetch_optional(&mut *tx)
        .await?;
        let folder_id =
            folder_id.ok_or_else(|| StoreError::NotFound(format!("folder {name:?}")))?;
        let messages = folder_messages(&mut tx, &folder_id).await?;
        sqlx::query("DELETE FROM messages WHERE folder_id = $1")
            .bind(&folder_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM folders WHERE folder_id = $1")
            .bind(&folder_id)
            .execute(&mut *tx)
            .await?;
        add_mailbox_size(
            &mut tx,
            user_id,
            -messages.iter().map(|m| m.size_bytes).sum::<i64>(),
        )
        .await?;
        tx.commit().await?;
        self.delete_unreferenced_blobs(messages.iter().map(|m| m.blob_key.as_str()))
            .await;
        Ok(())
    }

    /// Renames folder `from` to `to`, with its inferiors, keeping UIDs and UIDVALIDITY
    /// (RFC 3501 §6.3.5); missing superiors of `to` are created.
    ///
    /// Errors: `Conflict` for a default folder, a folder into its own inferior, or when `to`
    /// exists; `NotFound` when `from` is absent.
    pub async fn rename_folder(&self, user_id: &str, from: &str, to: &str) -> StoreResult<()> {
        let from = canonical_folder_name(from);
        let to = canonical_folder_name(to);
        if is_default_folder(&from) {
            return Err(StoreError::Conflict(format!(
                "default folder {from:?} cannot be renamed"
            )));
        }
        let prefix = format!("{from}{FOLDER_DELIMITER}");
        if to.starts_with(&prefix) {
            return Err(StoreError::Conflict(format!(
                "folder {from:?} cannot move into its own inferior"
            )));
        }
        let now = carillon_core::time::now_millis();
        let mut tx = self.pool.begin().await?;
        let renamed = sqlx::query("UPDATE folders SET name = $1 WHERE user_id = $2 AND name = $3")
            .bind(&to)
            .bind(user_id)
            .bind(&from)
            .execute(&mut *tx)
            .await?;
        if renamed.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("folder {from:?}")));
        }
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM folders WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
        for inferior in names.iter().filter(|n| n.starts_with(&prefix)) {
            sqlx::query("UPDATE folders SET name = $1 WHERE user_id = $2 AND name = $3")
                .bind(format!(
                    "{to}{FOLDER_DELIMITER}{}",
                    &inferior[prefix.len()..]
                ))
                .bind(user_id)
                .bind(inferior)
                .execute(&mut *tx)
                .await?;
        }
        insert_superiors(&mut tx, user_id, &to, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds folder `name` to (or removes it from) the subscription list (RFC 3501 §6.3.6,
    /// §6.3.7). Errors: `NotFound` when absent.
    pub async fn set_subscribed(
        &self,
        user_id: &str,
        name: &str,
        subscribed: bool,
    ) -> StoreResult<()> {
        let name = canonical_folder_name(name);
        let updated =
            sqlx::query("UPDATE folders SET subscribed = $1 WHERE user_id = $2 AND name = $3")
                .bind(i64::from(subscribed))
                .bind(user_id)
                .bind(&name)
                .execute(&self.pool)
                .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("folder {name:?}")));
        }
        Ok(())
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

async fn folder_messages(
    tx: &mut Transaction<'static, Any>,
    folder_id: &str,
) -> StoreResult<Vec<StoredMessage>> {
    let rows: Vec<MessageRow> = sqlx::query_as(
        "SELECT uid, blob_key, size_bytes, internal_date, flags, modseq FROM messages \
         WHERE folder_id = $1 ORDER BY uid",
    )
    .bind(folder_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(message_from_row).collect())
}

/// Creates the missing superiors of `name` (`A` and `A/B` for `A/B/C`).
async fn insert_superiors(
    tx: &mut Transaction<'static, Any>,
    user_id: &str,
    name: &str,
    now: i64,
) -> StoreResult<()> {
    for (index, _) in name.match_indices(FOLDER_DELIMITER) {
        if index > 0 {
            insert_folder(tx, user_id, &name[..index], None, now).await?;
        }
    }
    Ok(())
}

async fn insert_folder(
    tx: &mut Transaction<'static, Any>,
    user_id: &str,
    name: &str,
    special_use: Option<&str>,
    now: i64,
) -> StoreResult<bool> {
    let inserted = sqlx::query(
        "INSERT INTO folders (folder_id, user_id, name, special_use, uid_validity, uid_next, \
         highest_modseq, first_recent_uid, subscribed, created_at) \
         VALUES ($1, $2, $3, $4, $5, 1, 1, 1, 1, $6) ON CONFLICT (user_id, name) DO NOTHING",
    )
    .bind(carillon_core::ids::new_uuid())
    .bind(user_id)
    .bind(name)
    .bind(special_use)
    .bind(fresh_uid_validity())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
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
