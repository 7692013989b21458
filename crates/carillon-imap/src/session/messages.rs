//! Commands of the selected state on messages (RFC 3501 §6.4): CLOSE/UNSELECT (RFC 3691),
//! EXPUNGE and UID EXPUNGE (RFC 4315), SEARCH, STORE, COPY and MOVE (RFC 6851) with COPYUID,
//! and the resolution of sequence sets to the messages this session has announced.

use carillon_mail::login::MailUser;
use carillon_net::{Handshake, Io};
use carillon_store::{FlagOp, StoreError, StoredMessage};
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::uidplus::{UidElement, UidSet};
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Code, Data, Response};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;

use super::response::{code, Reply};
use super::{flag_fetch, mailbox_name, nz, Connection, Fail};
use crate::search;

impl<S: Io, H: Handshake<S>> Connection<S, H> {
    /// The plaintext of a message copy of the logged-in user's mailbox: its blob opened with
    /// the copy's message key (encryption at rest, `carillon_mail::crypto`).
    pub(super) async fn read_message(
        &self,
        user: &MailUser,
        message: &StoredMessage,
    ) -> Result<bytes::Bytes, StoreError> {
        carillon_mail::crypto::read_mailbox_copy(
            &self.store,
            &user.user_id,
            &message.blob_key,
            message.message_key.as_deref(),
        )
        .await
    }

    pub(super) async fn close(&mut self, user: &MailUser, expunge: bool) -> Result<Reply, Fail> {
        if let Some(selected) = self.state.deselect() {
            if expunge && !selected.read_only {
                // CLOSE expunges silently (RFC 3501 §6.4.2).
                self.store
                    .expunge(&user.user_id, &selected.folder_id, None)
                    .await?;
            }
        }
        Ok(Reply::ok(if expunge {
            "CLOSE completed"
        } else {
            "UNSELECT completed"
        }))
    }

    /// Message indexes (sequence number - 1) named by `set`, ascending.
    pub(super) fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, Reply> {
        let Some(selected) = self.state.selected() else {
            return Err(Reply::bad("No mailbox selected"));
        };
        let messages = &selected.messages;
        if uid {
            let max = messages.last().map_or(0, |m| m.uid as u32);
            return Ok((0..messages.len())
                .filter(|&i| search::in_set(set, messages[i].uid as u32, max))
                .collect());
        }
        let count = messages.len() as u32;
        let out_of_range = set.0.as_ref().iter().any(|s| {
            use imap_codec::imap_types::sequence::{SeqOrUid, Sequence};
            let beyond = |v: &SeqOrUid| matches!(v, SeqOrUid::Value(n) if n.get() > count);
            match s {
                Sequence::Single(v) => beyond(v),
                Sequence::Range(a, b) => beyond(a) || beyond(b),
            }
        });
        if count == 0 || out_of_range {
            return Err(Reply::bad("Invalid message sequence number"));
        }
        Ok((1..=count)
            .filter(|&n| search::in_set(set, n, count))
            .map(|n| n as usize - 1)
            .collect())
    }

    pub(super) async fn expunge(
        &mut self,
        user: &MailUser,
        set: Option<&SequenceSet>,
    ) -> Result<Reply, Fail> {
        let uids: Option<Vec<i64>> = match set {
            Some(set) => match self.resolve(set, true) {
                Ok(indexes) => Some(self.uids_of(&indexes)),
                Err(reply) => return Ok(reply),
            },
            None => None,
        };
        let Some(selected) = self.state.selected() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        if selected.read_only {
            return Ok(Reply::no(Some(code("READ-ONLY")), "Mailbox is read-only"));
        }
        let folder_id = selected.folder_id.clone();
        let expunged = self
            .store
            .expunge(&user.user_id, &folder_id, uids.as_deref())
            .await?;
        self.announce_expunged(&expunged);
        Ok(Reply::ok("EXPUNGE completed"))
    }

    fn uids_of(&self, indexes: &[usize]) -> Vec<i64> {
        self.state.selected().map_or_else(Vec::new, |s| {
            indexes.iter().map(|&i| s.messages[i].uid).collect()
        })
    }

    pub(super) async fn search(
        &mut self,
        user: &MailUser,
        criteria: &[SearchKey<'_>],
        uid: bool,
    ) -> Result<Reply, Fail> {
        let Some(selected) = self.state.selected() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        let messages = selected.messages.clone();
        let recent = selected.recent.clone();
        let needs_content = criteria.iter().any(search::needs_content);
        let max_seq = messages.len() as u32;
        let max_uid = messages.last().map_or(0, |m| m.uid as u32);
        let mut found = Vec::new();
        for (index, message) in messages.iter().enumerate() {
            let raw = if needs_content {
                match self.read_message(user, message).await {
                    Ok(raw) => Some(raw),
                    // Expunged by another session, not yet announced here: matches nothing.
                    Err(StoreError::NotFound(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            } else {
                None
            };
            let candidate = search::Candidate {
                seq: index as u32 + 1,
                message,
                recent: recent.contains(&message.uid),
                raw: raw.as_deref(),
                max_seq,
                max_uid,
            };
            match search::matches(criteria, &candidate) {
                Ok(true) => found.push(nz(if uid { message.uid } else { index as i64 + 1 })),
                Ok(false) => {}
                Err(search::Unsupported) => {
                    return Ok(Reply::bad("Unsupported search criterion"));
                }
            }
        }
        self.push(&Response::Data(Data::Search(found)));
        Ok(Reply::ok("SEARCH completed"))
    }

    pub(super) async fn store_flags(
        &mut self,
        user: &MailUser,
        set: &SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: &[Flag<'_>],
        uid: bool,
    ) -> Result<Reply, Fail> {
        let indexes = match self.resolve(set, uid) {
            Ok(indexes) => indexes,
            Err(reply) => return Ok(reply),
        };
        let Some(selected) = self.state.selected() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        if selected.read_only {
            return Ok(Reply::no(Some(code("READ-ONLY")), "Mailbox is read-only"));
        }
        let folder_id = selected.folder_id.clone();
        let uids = self.uids_of(&indexes);
        let op = match kind {
            StoreType::Replace => FlagOp::Replace,
            StoreType::Add => FlagOp::Add,
            StoreType::Remove => FlagOp::Remove,
        };
        let flags: Vec<String> = flags.iter().map(ToString::to_string).collect();
        let changed = self
            .store
            .store_flags(&user.user_id, &folder_id, &uids, op, &flags)
            .await?;
        self.apply_flags(changed);
        if response == StoreResponse::Answer {
            let Some(selected) = self.state.selected() else {
                return Ok(Reply::bad("No mailbox selected"));
            };
            let updates: Vec<(usize, i64, Vec<String>, bool)> = indexes
                .iter()
                .map(|&i| {
                    let m = &selected.messages[i];
                    (i, m.uid, m.flags.clone(), selected.recent.contains(&m.uid))
                })
                .collect();
            for (index, message_uid, flags, recent) in updates {
                let mut items = vec![MessageDataItem::Flags(flag_fetch(&flags, recent))];
                if uid {
                    items.insert(0, MessageDataItem::Uid(nz(message_uid)));
                }
                self.push(&Response::Data(Data::Fetch {
                    seq: nz(index as i64 + 1),
                    items: Vec1::try_from(items).expect("not empty"),
                }));
            }
        }
        Ok(Reply::ok("STORE completed"))
    }

    pub(super) async fn transfer(
        &mut self,
        user: &MailUser,
        set: &SequenceSet,
        mailbox: &Mailbox<'_>,
        uid: bool,
        remove: bool,
    ) -> Result<Reply, Fail> {
        let indexes = match self.resolve(set, uid) {
            Ok(indexes) => indexes,
            Err(reply) => return Ok(reply),
        };
        let Some(selected) = self.state.selected() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        if remove && selected.read_only {
            return Ok(Reply::no(Some(code("READ-ONLY")), "Mailbox is read-only"));
        }
        let folder_id = selected.folder_id.clone();
        let uids = self.uids_of(&indexes);
        let destination = mailbox_name(mailbox);
        let user_id = &user.user_id;
        let result = if remove {
            self.store
                .move_messages(user_id, &folder_id, &uids, &destination)
                .await
        } else {
            self.store
                .copy_messages(user_id, &folder_id, &uids, &destination)
                .await
        };
        let result = match result {
            Ok(result) => result,
            Err(StoreError::NotFound(_)) => {
                return Ok(Reply::no(Some(Code::TryCreate), "No such mailbox"));
            }
            Err(e) => return Err(e.into()),
        };
        let copy_uid = copy_uid_code(&result);
        let done = if remove {
            "MOVE completed"
        } else {
            "COPY completed"
        };
        if !remove {
            return Ok(match copy_uid {
                Some(code) => Reply::ok_with(code, done),
                None => Reply::ok(done),
            });
        }
        // RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
        if let Some(code) = copy_uid {
            self.push_untagged(code, "Moved");
        }
        let moved: Vec<i64> = result.uids.iter().map(|(source, _)| *source).collect();
        self.announce_expunged(&moved);
        Ok(Reply::ok(done))
    }
}

fn copy_uid_code(result: &carillon_store::CopyResult) -> Option<Code<'static>> {
    let source = uid_set(result.uids.iter().map(|(s, _)| *s))?;
    let destination = uid_set(result.uids.iter().map(|(_, d)| *d))?;
    Some(Code::CopyUid {
        uid_validity: nz(result.uid_validity),
        source,
        destination,
    })
}

/// UIDs (ascending) as a UID set with consecutive runs as ranges.
fn uid_set(uids: impl Iterator<Item = i64>) -> Option<UidSet> {
    let mut elements: Vec<UidElement> = Vec::new();
    let mut run: Option<(i64, i64)> = None;
    let close = |run: (i64, i64)| {
        if run.0 == run.1 {
            UidElement::Single(nz(run.0))
        } else {
            UidElement::Range(nz(run.0), nz(run.1))
        }
    };
    for uid in uids {
        run = match run {
            Some((start, end)) if uid == end + 1 => Some((start, uid)),
            Some(done) => {
                elements.push(close(done));
                Some((uid, uid))
            }
            None => Some((uid, uid)),
        };
    }
    if let Some(done) = run {
        elements.push(close(done));
    }
    Vec1::try_from(elements).ok().map(UidSet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_compress_runs() {
        let set = uid_set([1, 2, 3, 5, 7, 8].into_iter()).unwrap();
        assert_eq!(
            set.0.into_inner(),
            vec![
                UidElement::Range(nz(1), nz(3)),
                UidElement::Single(nz(5)),
                UidElement::Range(nz(7), nz(8)),
            ]
        );
        assert!(uid_set(std::iter::empty()).is_none());
    }
}
