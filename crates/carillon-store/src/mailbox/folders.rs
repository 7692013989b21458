//! Folders (IMAP mailboxes, RFC 3501 §2.3): the default folders, canonical names, the
//! persistent counters (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, the `\Recent` mark), STATUS
//! counts, and CREATE, DELETE, RENAME and (UN)SUBSCRIBE with their superiors and inferiors.

use std::ops::Range;

use rand::Rng;
use sqlx::{Any, Transaction};

use super::add_mailbox_size;
use super::messages::{folder_messages, has_flag, parse_flags};
use crate::error::{StoreError, StoreResult};
use crate::Store;

/// The folder new mail is delivered to (RFC 3501 §5.1: always upper case).
pub const INBOX: &str = "INBOX";
/// The folder holding the copy of what a user sent.
pub const SENT_ITEMS: &str = "Sent Items";
/// The folder of unsent drafts.
pub const DRAFTS: &str = "Drafts";
/// The folder deleted items move to (and retention's `DELETE` action).
pub const DELETED_ITEMS: &str = "Deleted Items";
/// The folder of mail judged junk (DMARC quarantine, a flow rule's "Deliver to junk").
pub const JUNK_EMAIL: &str = "Junk E-mail";

/// Default folders as WorkMail has them, with their RFC 6154 special-use attribute.
/// Spec: issue 2 §7 (Inbox, Sent Items, Drafts, Deleted Items, Junk E-mail).
pub const DEFAULT_FOLDERS: &[(&str, Option<&str>)] = &[
    (INBOX, None),
    (SENT_ITEMS, Some("\\Sent")),
    (DRAFTS, Some("\\Drafts")),
    (DELETED_ITEMS, Some("\\Trash")),
    (JUNK_EMAIL, Some("\\Junk")),
];

/// Hierarchy delimiter of folder names (a child of `A` is `A/B`).
pub const FOLDER_DELIMITER: char = '/';

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

impl Store {
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

    /// Creates folder `name` with a fresh UIDVALIDITY, and its missing superiors (RFC 3501
    /// §6.3.3). Errors: `Conflict` when it exists; `Database` when the user has no mailbox.
    pub async fn create_folder(&self, user_id: &str, name: &str) -> StoreResult<Folder> {
        let name = canonical_folder_name(name);
        let now = carillon_core::time::now_millis();
        let mut tx = self.begin_write().await?;
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
        let mut tx = self.begin_write().await?;
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
        let mut tx = self.begin_write().await?;
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

pub(super) async fn insert_folder(
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
