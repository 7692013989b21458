//! APPEND (RFC 3501 §6.3.11) with APPENDUID (RFC 4315): stores the message blob, then the
//! message row, within the user's mailbox quota.

use carillon_mail::login::MailUser;
use carillon_net::{Handshake, Io};
use carillon_store::{NewMessage, StoreError};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::Code;

use super::response::Reply;
use super::{mailbox_name, nz, Connection, Fail};

impl<S: Io, H: Handshake<S>> Connection<S, H> {
    pub(super) async fn append(
        &mut self,
        user: &MailUser,
        mailbox: &Mailbox<'_>,
        flags: &[Flag<'_>],
        date: Option<&DateTime>,
        message: LiteralOrLiteral8<'_>,
    ) -> Result<Reply, Fail> {
        let user_id = &user.user_id;
        let name = mailbox_name(mailbox);
        let Some(folder) = self.store.folder(user_id, &name).await? else {
            return Ok(Reply::no(Some(Code::TryCreate), "No such mailbox"));
        };
        let data: Vec<u8> = match message {
            LiteralOrLiteral8::Literal(literal) => literal.into_inner().into_owned(),
            LiteralOrLiteral8::Literal8(literal) => literal.data.into_owned(),
        };
        if data.is_empty() {
            return Ok(Reply::no(None, "Empty message"));
        }
        let size = data.len() as i64;
        if !self.has_room(user, size).await? {
            return Ok(Reply::no(Some(Code::OverQuota), "Mailbox quota exceeded"));
        }
        let sealed = carillon_mail::crypto::put_sealed(&self.store, &data).await?;
        let blob_key = sealed.key.clone();
        let message_key = match sealed.wrap_for_mailbox(&self.store, user_id).await {
            Ok(wrapped) => wrapped,
            Err(error) => {
                if let Err(cleanup) = self.store.blobs().delete(&blob_key).await {
                    tracing::warn!(%cleanup, blob_key, "could not remove blob of failed APPEND");
                }
                return Err(error.into());
            }
        };
        let copy = NewMessage {
            user_id: user_id.clone(),
            folder: folder.name.clone(),
            blob_key: blob_key.clone(),
            size_bytes: size,
            internal_date: date
                .map(|d| d.as_ref().timestamp_millis())
                .unwrap_or_else(carillon_core::time::now_millis),
            flags: flags.iter().map(ToString::to_string).collect(),
            message_key: Some(message_key),
        };
        match self.store.append_messages(&[copy]).await {
            Ok(appended) => Ok(Reply::ok_with(
                Code::AppendUid {
                    uid_validity: nz(folder.uid_validity),
                    uid: nz(appended[0].uid),
                },
                "APPEND completed",
            )),
            Err(error) => {
                // Nothing references the blob: do not leave it behind.
                if let Err(cleanup) = self.store.blobs().delete(&blob_key).await {
                    tracing::warn!(%cleanup, blob_key, "could not remove blob of failed APPEND");
                }
                match error {
                    StoreError::NotFound(_) => {
                        Ok(Reply::no(Some(Code::TryCreate), "No such mailbox"))
                    }
                    other => Err(other.into()),
                }
            }
        }
    }

    /// Whether `size` more bytes fit in the user's mailbox quota (workmail.md
    /// UpdateMailboxQuota; the default quota when none is set).
    async fn has_room(&self, user: &MailUser, size: i64) -> Result<bool, Fail> {
        let quota_mb = self
            .store
            .find_entity(&user.organization_id, &user.user_id, &["USER"])
            .await?
            .and_then(|entity| entity.mailbox_quota_mb)
            .unwrap_or(carillon_store::DEFAULT_MAILBOX_QUOTA_MB);
        let used = self.store.mailbox_size(&user.user_id).await?.unwrap_or(0);
        Ok(used.saturating_add(size) <= quota_mb.saturating_mul(1024 * 1024))
    }
}
