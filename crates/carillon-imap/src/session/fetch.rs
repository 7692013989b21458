//! FETCH (RFC 3501 §6.4.5): message data items rendered from the stored message and its
//! MIME structure, `\Seen` set by non-PEEK body reads, and literals that carry message bytes.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use carillon_mail::login::MailUser;
use carillon_net::{Handshake, Io};
use carillon_store::{FlagOp, StoreError, StoredMessage};
use futures::StreamExt;
use imap_codec::imap_types::core::{NString, Vec1};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section,
};
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::imap_types::IntoStatic;

use super::response::Reply;
use super::{flag_fetch, nz, Connection, Fail, FLUSH_THRESHOLD};
use crate::flags::SystemFlag;

/// Messages whose blobs a FETCH reads ahead of the one it renders: bounds the memory of one
/// FETCH to this many messages (each at most 40 MB) while hiding the read and decrypt latency.
const READ_AHEAD: usize = 4;
use crate::mime;

impl<S: Io, H: Handshake<S>> Connection<S, H> {
    pub(super) async fn fetch(
        &mut self,
        user: &MailUser,
        set: &SequenceSet,
        items: MacroOrMessageDataItemNames<'_>,
        uid: bool,
    ) -> Result<Reply, Fail> {
        let indexes = match self.resolve(set, uid) {
            Ok(indexes) => indexes,
            Err(reply) => return Ok(reply),
        };
        let mut names: Vec<MessageDataItemName<'_>> = match items {
            MacroOrMessageDataItemNames::Macro(m) => m
                .expand()
                .into_iter()
                .map(IntoStatic::into_static)
                .collect(),
            MacroOrMessageDataItemNames::MessageDataItemNames(names) => names,
        };
        if uid && !names.contains(&MessageDataItemName::Uid) {
            names.insert(0, MessageDataItemName::Uid);
        }
        if names.iter().any(|n| {
            matches!(
                n,
                MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. }
            )
        }) {
            return Ok(Reply::bad("BINARY is not supported"));
        }
        let needs_blob = names.iter().any(|n| {
            !matches!(
                n,
                MessageDataItemName::Flags
                    | MessageDataItemName::Uid
                    | MessageDataItemName::InternalDate
                    | MessageDataItemName::Rfc822Size
            )
        });
        let Some(selected) = self.state.selected() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        let folder_id = selected.folder_id.clone();
        // Reading a body without PEEK sets \Seen (RFC 3501 §6.4.5), reported with the FETCH.
        let marks_seen = !selected.read_only
            && names.iter().any(|n| {
                matches!(
                    n,
                    MessageDataItemName::BodyExt { peek: false, .. }
                        | MessageDataItemName::Rfc822
                        | MessageDataItemName::Rfc822Text
                )
            });
        let mut newly_seen = HashSet::new();
        if marks_seen {
            let unseen: Vec<i64> = indexes
                .iter()
                .map(|&i| &selected.messages[i])
                .filter(|m| !SystemFlag::Seen.is_in(&m.flags))
                .map(|m| m.uid)
                .collect();
            if !unseen.is_empty() {
                let changed = self
                    .store
                    .store_flags(
                        &user.user_id,
                        &folder_id,
                        &unseen,
                        FlagOp::Add,
                        &[SystemFlag::Seen.as_str().to_string()],
                    )
                    .await?;
                newly_seen = self.apply_flags(changed);
            }
        }
        // The blobs are read (and decrypted) READ_AHEAD messages ahead of the one being
        // rendered, in order; a message that is not needed is never read.
        // The mailbox key is looked up once per FETCH, not once per message.
        let mut bodies = {
            let store = self.store.clone();
            let wanted: Vec<StoredMessage> = match (self.state.selected(), needs_blob) {
                (Some(selected), true) => indexes
                    .iter()
                    .map(|&i| selected.messages[i].clone())
                    .collect(),
                _ => Vec::new(),
            };
            let key = if wanted.iter().any(|m| m.message_key.is_some()) {
                Some(Arc::new(
                    carillon_mail::crypto::mailbox_key(&self.store, &user.user_id).await?,
                ))
            } else {
                None
            };
            futures::stream::iter(wanted.into_iter().map(move |message| {
                let (store, key) = (store.clone(), key.clone());
                async move {
                    match (&key, message.message_key.as_deref()) {
                        (Some(key), wrapped) => {
                            carillon_mail::crypto::read_mailbox_copy_with(
                                &store,
                                key,
                                &message.blob_key,
                                wrapped,
                            )
                            .await
                        }
                        (None, _) => store.blobs().get(&message.blob_key).await,
                    }
                }
            }))
            .buffered(READ_AHEAD)
        };
        for index in indexes {
            let Some(selected) = self.state.selected() else {
                break;
            };
            let message = selected.messages[index].clone();
            let recent = selected.recent.contains(&message.uid);
            let raw: Option<Bytes> = if needs_blob {
                let read = bodies.next().await;
                match read.unwrap_or(Err(StoreError::NotFound(message.blob_key.clone()))) {
                    Ok(raw) => Some(raw),
                    // Expunged by another session while the EXPUNGE cannot be announced
                    // (RFC 3501 §7.4.1): the message has no data left to send.
                    Err(StoreError::NotFound(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            } else {
                None
            };
            let raw_bytes: &[u8] = raw.as_deref().unwrap_or_default();
            let mut root = None;
            let mut items: Vec<MessageDataItem<'_>> = Vec::with_capacity(names.len() + 1);
            for name in &names {
                let item = match name {
                    MessageDataItemName::Uid => MessageDataItem::Uid(nz(message.uid)),
                    MessageDataItemName::Flags => {
                        MessageDataItem::Flags(flag_fetch(&message.flags, recent))
                    }
                    MessageDataItemName::InternalDate => {
                        MessageDataItem::InternalDate(internal_date(message.internal_date))
                    }
                    MessageDataItemName::Rfc822Size => {
                        MessageDataItem::Rfc822Size(message.size_bytes as u32)
                    }
                    MessageDataItemName::Rfc822 => MessageDataItem::Rfc822(literal(raw_bytes)),
                    MessageDataItemName::Rfc822Header => {
                        let root = root.get_or_insert_with(|| mime::structure(raw_bytes));
                        let header = mime::section(raw_bytes, root, Some(&Section::Header(None)))
                            .unwrap_or_default();
                        MessageDataItem::Rfc822Header(literal_owned(header))
                    }
                    MessageDataItemName::Rfc822Text => {
                        let root = root.get_or_insert_with(|| mime::structure(raw_bytes));
                        let text = mime::section(raw_bytes, root, Some(&Section::Text(None)))
                            .unwrap_or_default();
                        MessageDataItem::Rfc822Text(literal_owned(text))
                    }
                    MessageDataItemName::Envelope => {
                        MessageDataItem::Envelope(mime::envelope(raw_bytes))
                    }
                    MessageDataItemName::Body => {
                        let root = root.get_or_insert_with(|| mime::structure(raw_bytes));
                        MessageDataItem::Body(mime::body_structure(raw_bytes, root, false))
                    }
                    MessageDataItemName::BodyStructure => {
                        let root = root.get_or_insert_with(|| mime::structure(raw_bytes));
                        MessageDataItem::BodyStructure(mime::body_structure(raw_bytes, root, true))
                    }
                    MessageDataItemName::BodyExt {
                        section, partial, ..
                    } => {
                        let root = root.get_or_insert_with(|| mime::structure(raw_bytes));
                        let bytes =
                            mime::section(raw_bytes, root, section.as_ref()).unwrap_or_default();
                        let (origin, bytes) = match partial {
                            Some((start, length)) => {
                                let start_at = (*start as usize).min(bytes.len());
                                let end = start_at
                                    .saturating_add(length.get() as usize)
                                    .min(bytes.len());
                                (Some(*start), slice_cow(bytes, start_at..end))
                            }
                            None => (None, bytes),
                        };
                        MessageDataItem::BodyExt {
                            section: section.clone(),
                            origin,
                            data: literal_owned(bytes),
                        }
                    }
                    _ => continue,
                };
                items.push(item);
            }
            if newly_seen.contains(&message.uid) && !names.contains(&MessageDataItemName::Flags) {
                items.push(MessageDataItem::Flags(flag_fetch(&message.flags, recent)));
            }
            if let Ok(items) = Vec1::try_from(items) {
                self.push(&Response::Data(Data::Fetch {
                    seq: nz(index as i64 + 1),
                    items,
                }));
            }
            if self.out.len() >= FLUSH_THRESHOLD {
                self.flush().await?;
            }
        }
        Ok(Reply::ok("FETCH completed"))
    }
}

fn internal_date(millis: i64) -> DateTime {
    let seconds = millis.div_euclid(1000);
    let date = chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .fixed_offset();
    DateTime::try_from(date).unwrap_or_else(|_| {
        DateTime::try_from(chrono::DateTime::UNIX_EPOCH.fixed_offset()).expect("epoch is valid")
    })
}

/// Message bytes as a literal, exactly as stored. A literal cannot carry NUL (RFC 3501
/// CHAR8), so a message containing one is sent with its NULs removed.
fn literal(bytes: &[u8]) -> NString<'_> {
    match imap_codec::imap_types::core::Literal::try_from(bytes) {
        Ok(literal) => NString::from(literal),
        Err(_) => literal_owned(Cow::Owned(bytes.to_vec())),
    }
}

fn literal_owned(bytes: Cow<'_, [u8]>) -> NString<'_> {
    let bytes = match bytes {
        Cow::Borrowed(b) if !b.contains(&0) => Cow::Borrowed(b),
        other => Cow::Owned(other.iter().copied().filter(|&b| b != 0).collect()),
    };
    let literal = match bytes {
        Cow::Borrowed(b) => imap_codec::imap_types::core::Literal::try_from(b),
        Cow::Owned(v) => imap_codec::imap_types::core::Literal::try_from(v),
    };
    literal.map(NString::from).unwrap_or(NString::NIL)
}

fn slice_cow(bytes: Cow<'_, [u8]>, range: Range<usize>) -> Cow<'_, [u8]> {
    match bytes {
        Cow::Borrowed(b) => Cow::Borrowed(&b[range]),
        Cow::Owned(v) => Cow::Owned(v[range].to_vec()),
    }
}
