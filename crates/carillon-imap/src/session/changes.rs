//! IDLE (RFC 2177) and change announcements: keeps the session's view of the selected folder
//! in step with the store, announcing new messages (EXISTS, RECENT), flag changes (FETCH
//! FLAGS) and expunges (only when RFC 3501 §7.4.1 allows).

use std::collections::{HashMap, HashSet};

use carillon_net::{Handshake, Io};
use carillon_store::{StoreError, StoredMessage};
use imap_codec::imap_types::core::{Tag, Vec1};
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{CommandContinuationRequest, Data, Response};

use super::{flag_fetch, nz, Connection, Fail, Flow, Pending, State};

impl<S: Io, H: Handshake<S>> Connection<S, H> {
    /// Starts IDLE: the client is told to go ahead and the connection waits for `DONE`,
    /// polling for changes meanwhile.
    pub(super) async fn idle(&mut self, tag: Tag<'static>) -> Result<Flow, Fail> {
        let more = CommandContinuationRequest::basic(None, "idling").expect("static");
        self.push(&Response::CommandContinuationRequest(more));
        self.pending = Pending::Idle(tag);
        // Changes made before IDLE started are announced at once.
        self.sync(true).await?;
        Ok(Flow::Continue)
    }

    /// Sends `* n EXPUNGE` for each UID still known, highest sequence number first so no
    /// number shifts under the client, and forgets the messages.
    pub(super) fn announce_expunged(&mut self, uids: &[i64]) {
        let Some(selected) = self.state.selected_mut() else {
            return;
        };
        let mut indexes: Vec<usize> = uids.iter().filter_map(|&u| selected.index_of(u)).collect();
        indexes.sort_unstable_by(|a, b| b.cmp(a));
        indexes.dedup();
        for &index in &indexes {
            let message = selected.messages.remove(index);
            selected.recent.remove(&message.uid);
        }
        for index in indexes {
            self.push(&Response::Data(Data::Expunge(nz(index as i64 + 1))));
        }
    }

    /// Announces what changed in the selected folder since this session last looked: new
    /// messages (EXISTS, RECENT), flag changes (FETCH FLAGS), and — when allowed — expunges.
    /// Cheap when nothing changed: one read of the folder's counters.
    pub(super) async fn sync(&mut self, allow_expunge: bool) -> Result<(), StoreError> {
        let State::Selected { user, folder } = &self.state else {
            return Ok(());
        };
        let (user, selected) = (user.clone(), folder);
        let user_id = &user.user_id;
        let folder_id = selected.folder_id.clone();
        let Some(folder) = self.store.folder_by_id(user_id, &folder_id).await? else {
            // Deleted by another session: nothing is selected any more (RFC 3501 leaves the
            // behaviour to the server; later commands get "No mailbox selected").
            self.state.deselect();
            return Ok(());
        };
        if folder.uid_next == selected.uid_next && folder.highest_modseq == selected.modseq {
            return Ok(());
        }
        let current = self.store.list_messages(user_id, &folder_id).await?;
        let present: HashSet<i64> = current.iter().map(|m| m.uid).collect();
        let gone: Vec<i64> = selected
            .messages
            .iter()
            .map(|m| m.uid)
            .filter(|uid| !present.contains(uid))
            .collect();
        let read_only = selected.read_only;
        let last_known = selected.messages.last().map_or(0, |m| m.uid);
        let claimed = if current.iter().any(|m| m.uid > last_known) {
            Some(if read_only {
                folder.first_recent_uid..folder.uid_next
            } else {
                self.store.claim_recent(user_id, &folder_id).await?
            })
        } else {
            None
        };
        if allow_expunge {
            self.announce_expunged(&gone);
        }
        let Some(selected) = self.state.selected_mut() else {
            return Ok(());
        };
        let by_uid: HashMap<i64, &StoredMessage> = current.iter().map(|m| (m.uid, m)).collect();
        let mut changed: Vec<(usize, i64, Vec<String>, bool)> = Vec::new();
        for (index, message) in selected.messages.iter_mut().enumerate() {
            if let Some(now) = by_uid.get(&message.uid) {
                if now.flags != message.flags {
                    message.flags = now.flags.clone();
                    changed.push((
                        index,
                        message.uid,
                        message.flags.clone(),
                        selected.recent.contains(&message.uid),
                    ));
                }
            }
        }
        let mut announce_new = None;
        if let Some(range) = claimed {
            for message in current.into_iter().filter(|m| m.uid > last_known) {
                if range.contains(&message.uid) {
                    selected.recent.insert(message.uid);
                }
                selected.messages.push(message);
            }
            announce_new = Some((selected.messages.len(), selected.recent.len()));
        }
        if allow_expunge || gone.is_empty() {
            selected.uid_next = folder.uid_next;
            selected.modseq = folder.highest_modseq;
        }
        for (index, uid, flags, recent) in changed {
            let items = vec![
                MessageDataItem::Uid(nz(uid)),
                MessageDataItem::Flags(flag_fetch(&flags, recent)),
            ];
            self.push(&Response::Data(Data::Fetch {
                seq: nz(index as i64 + 1),
                items: Vec1::try_from(items).expect("not empty"),
            }));
        }
        if let Some((exists, recent)) = announce_new {
            self.push(&Response::Data(Data::Exists(exists as u32)));
            self.push(&Response::Data(Data::Recent(recent as u32)));
        }
        Ok(())
    }

    /// Puts flags the store changed into the session's view; returns the UIDs changed.
    pub(super) fn apply_flags(&mut self, changed: Vec<StoredMessage>) -> HashSet<i64> {
        let mut uids = HashSet::new();
        if let Some(selected) = self.state.selected_mut() {
            for message in changed {
                if let Some(index) = selected.index_of(message.uid) {
                    uids.insert(message.uid);
                    selected.messages[index].flags = message.flags;
                }
            }
        }
        uids
    }
}
