//! Folder commands of the authenticated state (RFC 3501 §6.3): SELECT and EXAMINE (which
//! build the session's `Selected` view), CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE,
//! LIST/LSUB with SPECIAL-USE attributes (RFC 6154) and STATUS.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use carillon_mail::login::MailUser;
use carillon_net::{Handshake, Io};
use carillon_store::StoreError;
use imap_codec::imap_types::core::{Atom, QuotedChar};
use imap_codec::imap_types::flag::{Flag, FlagNameAttribute, FlagPerm};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::response::{Code, Data, Response};
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};

use super::response::{code, Reply};
use super::{mailbox_name, nz, to_flag, Connection, Fail, Selected, State, DELIMITER};
use crate::flags::SystemFlag;

impl<S: Io, H: Handshake<S>> Connection<S, H> {
    pub(super) async fn select(
        &mut self,
        user: &Arc<MailUser>,
        mailbox: &Mailbox<'_>,
        read_only: bool,
    ) -> Result<Reply, Fail> {
        self.state.deselect();
        let user_id = &user.user_id;
        let name = mailbox_name(mailbox);
        let Some(folder) = self.store.folder(user_id, &name).await? else {
            return Ok(Reply::no(Some(code("NONEXISTENT")), "No such mailbox"));
        };
        let recent_range: Range<i64> = if read_only {
            folder.first_recent_uid..folder.uid_next
        } else {
            self.store.claim_recent(user_id, &folder.folder_id).await?
        };
        let messages = self.store.list_messages(user_id, &folder.folder_id).await?;
        let recent: HashSet<i64> = messages
            .iter()
            .map(|m| m.uid)
            .filter(|uid| recent_range.contains(uid))
            .collect();
        let mut keywords: Vec<String> = Vec::new();
        for flag in messages.iter().flat_map(|m| &m.flags) {
            if !flag.starts_with('\\') && !keywords.contains(flag) {
                keywords.push(flag.clone());
            }
        }
        let mut flags: Vec<Flag<'static>> = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        flags.extend(keywords.iter().filter_map(|k| to_flag(k)));
        self.push(&Response::Data(Data::Flags(flags.clone())));
        let permanent: Vec<FlagPerm<'static>> = if read_only {
            Vec::new()
        } else {
            flags
                .into_iter()
                .map(FlagPerm::Flag)
                .chain([FlagPerm::Asterisk])
                .collect()
        };
        self.push_untagged(Code::PermanentFlags(permanent), "Limited");
        self.push(&Response::Data(Data::Exists(messages.len() as u32)));
        self.push(&Response::Data(Data::Recent(recent.len() as u32)));
        if let Some(first) = messages
            .iter()
            .position(|m| !SystemFlag::Seen.is_in(&m.flags))
        {
            self.push_untagged(Code::Unseen(nz(first as i64 + 1)), "First unseen");
        }
        let uid_next = folder
            .uid_next
            .max(messages.last().map_or(1, |m| m.uid + 1));
        self.push_untagged(Code::UidValidity(nz(folder.uid_validity)), "UIDs valid");
        self.push_untagged(Code::UidNext(nz(uid_next)), "Predicted next UID");
        let folder = Selected {
            folder_id: folder.folder_id,
            read_only,
            messages,
            recent,
            uid_next: folder.uid_next,
            modseq: folder.highest_modseq,
        };
        self.state = State::Selected {
            user: user.clone(),
            folder,
        };
        Ok(if read_only {
            Reply::ok_with(Code::ReadOnly, "EXAMINE completed")
        } else {
            Reply::ok_with(Code::ReadWrite, "SELECT completed")
        })
    }

    pub(super) async fn create(
        &mut self,
        user: &MailUser,
        mailbox: &Mailbox<'_>,
    ) -> Result<Reply, Fail> {
        let name = mailbox_name(mailbox);
        // RFC 3501 §6.3.3: a trailing delimiter only says the name will have inferiors.
        let name = name.trim_end_matches(DELIMITER);
        if name.is_empty() || name.contains(['*', '%']) || name.contains("//") {
            return Ok(Reply::no(Some(code("CANNOT")), "Invalid mailbox name"));
        }
        match self.store.create_folder(&user.user_id, name).await {
            Ok(_) => Ok(Reply::ok("CREATE completed")),
            Err(StoreError::Conflict(_)) => Ok(Reply::no(
                Some(code("ALREADYEXISTS")),
                "Mailbox already exists",
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn delete(
        &mut self,
        user: &MailUser,
        mailbox: &Mailbox<'_>,
    ) -> Result<Reply, Fail> {
        let name = mailbox_name(mailbox);
        let user_id = &user.user_id;
        let folder = self.store.folder(user_id, &name).await?;
        match self.store.delete_folder(user_id, &name).await {
            Ok(()) => {
                if let (Some(folder), Some(selected)) = (folder, self.state.selected()) {
                    if selected.folder_id == folder.folder_id {
                        self.state.deselect();
                    }
                }
                Ok(Reply::ok("DELETE completed"))
            }
            Err(StoreError::NotFound(_)) => {
                Ok(Reply::no(Some(code("NONEXISTENT")), "No such mailbox"))
            }
            Err(StoreError::Conflict(_)) => Ok(Reply::no(
                Some(code("CANNOT")),
                "Default folders cannot be deleted",
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn rename(
        &mut self,
        user: &MailUser,
        from: &Mailbox<'_>,
        to: &Mailbox<'_>,
    ) -> Result<Reply, Fail> {
        let (from, to) = (mailbox_name(from), mailbox_name(to));
        let to = to.trim_end_matches(DELIMITER);
        if to.is_empty() || to.contains(['*', '%']) {
            return Ok(Reply::no(Some(code("CANNOT")), "Invalid mailbox name"));
        }
        match self.store.rename_folder(&user.user_id, &from, to).await {
            Ok(()) => Ok(Reply::ok("RENAME completed")),
            Err(StoreError::NotFound(_)) => {
                Ok(Reply::no(Some(code("NONEXISTENT")), "No such mailbox"))
            }
            Err(StoreError::Conflict(message)) if message.contains("default folder") => Ok(
                Reply::no(Some(code("CANNOT")), "Default folders cannot be renamed"),
            ),
            Err(StoreError::Conflict(_)) => Ok(Reply::no(
                Some(code("ALREADYEXISTS")),
                "Target mailbox exists",
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn subscribe(
        &mut self,
        user: &MailUser,
        mailbox: &Mailbox<'_>,
        on: bool,
    ) -> Result<Reply, Fail> {
        let name = mailbox_name(mailbox);
        match self.store.set_subscribed(&user.user_id, &name, on).await {
            Ok(()) => Ok(Reply::ok(if on {
                "SUBSCRIBE completed"
            } else {
                "UNSUBSCRIBE completed"
            })),
            Err(StoreError::NotFound(_)) => {
                Ok(Reply::no(Some(code("NONEXISTENT")), "No such mailbox"))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn list(
        &mut self,
        user: &MailUser,
        reference: &Mailbox<'_>,
        pattern: &ListMailbox<'_>,
        subscribed_only: bool,
    ) -> Result<Reply, Fail> {
        let reference = match reference {
            Mailbox::Inbox => "INBOX".to_string(),
            Mailbox::Other(other) => String::from_utf8_lossy(other.as_ref()).into_owned(),
        };
        let pattern = match pattern {
            ListMailbox::Token(token) => String::from_utf8_lossy(token.as_ref()).into_owned(),
            ListMailbox::String(string) => String::from_utf8_lossy(string.as_ref()).into_owned(),
        };
        let done = if subscribed_only {
            "LSUB completed"
        } else {
            "LIST completed"
        };
        if pattern.is_empty() && !subscribed_only {
            // RFC 3501 §6.3.8: the hierarchy delimiter and root name.
            self.push(&Response::Data(Data::List {
                items: vec![FlagNameAttribute::Noselect],
                delimiter: Some(QuotedChar::try_from(DELIMITER).expect("static")),
                mailbox: Mailbox::try_from("").expect("static"),
            }));
            return Ok(Reply::ok(done));
        }
        let full = carillon_store::canonical_folder_name(&format!("{reference}{pattern}"));
        let folders = self.store.list_folders(&user.user_id).await?;
        let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
        for folder in &folders {
            if !wildcard(full.as_bytes(), folder.name.as_bytes())
                || (subscribed_only && !folder.subscribed)
            {
                continue;
            }
            let prefix = format!("{}{DELIMITER}", folder.name);
            let children = names.iter().any(|n| n.starts_with(&prefix));
            let mut items = vec![attribute(if children {
                "HasChildren"
            } else {
                "HasNoChildren"
            })];
            if let Some(special) = &folder.special_use {
                items.push(attribute(special.trim_start_matches('\\')));
            }
            let Ok(mailbox) = Mailbox::try_from(folder.name.as_str()) else {
                continue;
            };
            let delimiter = Some(QuotedChar::try_from(DELIMITER).expect("static"));
            self.push(&Response::Data(if subscribed_only {
                Data::Lsub {
                    items,
                    delimiter,
                    mailbox,
                }
            } else {
                Data::List {
                    items,
                    delimiter,
                    mailbox,
                }
            }));
        }
        Ok(Reply::ok(done))
    }

    pub(super) async fn status(
        &mut self,
        user: &MailUser,
        mailbox: &Mailbox<'_>,
        names: &[StatusDataItemName],
    ) -> Result<Reply, Fail> {
        let name = mailbox_name(mailbox);
        let Some(status) = self.store.folder_status(&user.user_id, &name).await? else {
            return Ok(Reply::no(Some(code("NONEXISTENT")), "No such mailbox"));
        };
        let items: Vec<StatusDataItem> = names
            .iter()
            .filter_map(|item| match item {
                StatusDataItemName::Messages => {
                    Some(StatusDataItem::Messages(status.exists as u32))
                }
                StatusDataItemName::Recent => Some(StatusDataItem::Recent(status.recent as u32)),
                StatusDataItemName::UidNext => {
                    Some(StatusDataItem::UidNext(nz(status.folder.uid_next)))
                }
                StatusDataItemName::UidValidity => {
                    Some(StatusDataItem::UidValidity(nz(status.folder.uid_validity)))
                }
                StatusDataItemName::Unseen => Some(StatusDataItem::Unseen(status.unseen as u32)),
                _ => None,
            })
            .collect();
        self.push(&Response::Data(Data::Status {
            mailbox: mailbox.clone(),
            items: Cow::Owned(items),
        }));
        Ok(Reply::ok("STATUS completed"))
    }
}

fn attribute(name: &str) -> FlagNameAttribute<'static> {
    FlagNameAttribute::from(
        Atom::try_from(name.to_string())
            .unwrap_or_else(|_| Atom::try_from("Unknown").expect("static")),
    )
}

/// LIST pattern matching (RFC 3501 §6.3.8): `*` matches anything, `%` anything but the
/// hierarchy delimiter.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| wildcard(rest, &name[i..])),
        Some((b'%', rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != DELIMITER as u8)
            .any(|i| wildcard(rest, &name[i..])),
        Some((c, rest)) => name.first() == Some(c) && wildcard(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_wildcards() {
        assert!(wildcard(b"*", b"Sent Items"));
        assert!(wildcard(b"%", b"INBOX"));
        assert!(!wildcard(b"%", b"A/B"));
        assert!(wildcard(b"A/%", b"A/B"));
        assert!(wildcard(b"*B", b"A/B"));
        assert!(!wildcard(b"Drafts", b"Draft"));
    }
}
