//! Mailbox-access audit records of IMAP commands (workmail.md §4.2,
//! `WORKMAIL_MAILBOX_ACCESS_LOGS`), through `carillon_mail::audit`.
//!
//! Before a command runs, [`Connection::audit_plan`] notes what it will touch (nothing when
//! the organization does not deliver mailbox-access records: one query per command that
//! touches mail, whose result the records then reuse); after it completed,
//! [`Connection::audit_done`] emits one record per
//! folder or message, with `action_allowed` true for an `OK` completion and false otherwise.
//!
//! Commands → actions: SELECT, EXAMINE, STATUS `read_summary` (folder); LIST, LSUB
//! `read_hierarchy`; CREATE `create`, DELETE `delete`, RENAME `update` (folder); APPEND
//! `create` (message); FETCH `read` when it returns message content (BODY[…], BINARY[…],
//! RFC822…), else `read_summary`; STORE `update_read_state` when only `\Seen` is given, else
//! `update`; COPY `copy` + `copy_to`, MOVE `move` + `move_to` (the messages, then the target
//! folder); EXPUNGE, UID EXPUNGE and CLOSE `delete` (the messages marked `\Deleted`).

use carillon_mail::audit::{self, AuditLogType, ClientInfo, MailboxAction, MailboxItem};
use carillon_net::{Handshake, Io};
use carillon_store::AuditLogDeliveryRecord;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName};
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::ListMailbox;
use imap_codec::imap_types::response::{Code, StatusKind};

use super::response::Reply;
use super::{mailbox_name, Connection, Fail};
use crate::flags::SystemFlag;

/// What a command is about to touch, and where the organization's records go.
pub(super) struct Audit {
    planned: Planned,
    deliveries: Vec<AuditLogDeliveryRecord>,
}

/// What a command is about to touch.
enum Planned {
    /// A folder known by name (its ID is looked up when missing).
    Folder {
        action: MailboxAction,
        name: String,
        folder_id: Option<String>,
    },
    /// The folder list.
    Hierarchy { pattern: String },
    /// A message appended to the folder `name`.
    Append { name: String },
    /// Messages of the selected folder, and the folder they go to for COPY and MOVE.
    Messages {
        action: MailboxAction,
        uids: Vec<i64>,
        target: Option<(MailboxAction, String)>,
    },
}

impl<S: Io, H: Handshake<S>> Connection<S, H> {
    /// The client as audit records name it.
    pub(super) fn client_info(&self) -> ClientInfo {
        ClientInfo {
            protocol: "IMAP",
            source_ip: self.peer.ip(),
            user_agent: self.user_agent.clone(),
        }
    }

    /// What `body` will touch, when the user's organization delivers mailbox-access records.
    pub(super) async fn audit_plan(&self, body: &CommandBody<'_>) -> Result<Option<Audit>, Fail> {
        let Some(user) = self.state.user() else {
            return Ok(None);
        };
        let folder = |action, mailbox| {
            Some(Planned::Folder {
                action,
                name: mailbox_name(mailbox),
                folder_id: None,
            })
        };
        let planned = match body {
            CommandBody::Select { mailbox, .. }
            | CommandBody::Examine { mailbox, .. }
            | CommandBody::Status { mailbox, .. } => folder(MailboxAction::ReadSummary, mailbox),
            CommandBody::Create { mailbox } => folder(MailboxAction::Create, mailbox),
            CommandBody::Delete { mailbox } => folder(MailboxAction::Delete, mailbox),
            CommandBody::Rename { from, .. } => folder(MailboxAction::Update, from),
            CommandBody::List {
                mailbox_wildcard, ..
            }
            | CommandBody::Lsub {
                mailbox_wildcard, ..
            } => Some(Planned::Hierarchy {
                pattern: match mailbox_wildcard {
                    ListMailbox::Token(token) => String::from_utf8_lossy(token.as_ref()),
                    ListMailbox::String(string) => String::from_utf8_lossy(string.as_ref()),
                }
                .into_owned(),
            }),
            CommandBody::Append { mailbox, .. } => Some(Planned::Append {
                name: mailbox_name(mailbox),
            }),
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                ..
            } => {
                let action = if reads_content(macro_or_item_names) {
                    MailboxAction::Read
                } else {
                    MailboxAction::ReadSummary
                };
                self.planned_messages(action, sequence_set, *uid, None)
            }
            CommandBody::Store {
                sequence_set,
                flags,
                uid,
                ..
            } => {
                let action = if flags.len() == 1 && flags[0] == Flag::Seen {
                    MailboxAction::UpdateReadState
                } else {
                    MailboxAction::Update
                };
                self.planned_messages(action, sequence_set, *uid, None)
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.planned_messages(
                MailboxAction::Copy,
                sequence_set,
                *uid,
                Some((MailboxAction::CopyTo, mailbox_name(mailbox))),
            ),
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.planned_messages(
                MailboxAction::Move,
                sequence_set,
                *uid,
                Some((MailboxAction::MoveTo, mailbox_name(mailbox))),
            ),
            CommandBody::Expunge | CommandBody::ExpungeUid { .. } | CommandBody::Close => {
                let set = match body {
                    CommandBody::ExpungeUid { sequence_set } => Some(sequence_set),
                    _ => None,
                };
                self.state.selected().and_then(|selected| {
                    if selected.read_only {
                        return None;
                    }
                    let in_set = match set {
                        Some(set) => self.resolve(set, true).unwrap_or_default(),
                        None => (0..selected.messages.len()).collect(),
                    };
                    let uids = in_set
                        .into_iter()
                        .map(|i| &selected.messages[i])
                        .filter(|m| SystemFlag::Deleted.is_in(&m.flags))
                        .map(|m| m.uid)
                        .collect();
                    Some(Planned::Messages {
                        action: MailboxAction::Delete,
                        uids,
                        target: None,
                    })
                })
            }
            _ => None,
        };
        if planned.is_none() {
            return Ok(None);
        }
        let deliveries = self
            .store
            .audit_log_deliveries(&user.organization_id)
            .await?;
        let audited = deliveries
            .iter()
            .any(|d| d.log_type == AuditLogType::MailboxAccess.name());
        if !audited {
            return Ok(None);
        }
        // A folder that goes away or changes its name is looked up while it still has it.
        let planned = match planned {
            Some(Planned::Folder {
                action: action @ (MailboxAction::Delete | MailboxAction::Update),
                name,
                ..
            }) => {
                let folder_id = self
                    .store
                    .folder(&user.user_id, &name)
                    .await?
                    .map(|f| f.folder_id);
                Some(Planned::Folder {
                    action,
                    name,
                    folder_id,
                })
            }
            other => other,
        };
        Ok(planned.map(|planned| Audit {
            planned,
            deliveries,
        }))
    }

    fn planned_messages(
        &self,
        action: MailboxAction,
        set: &imap_codec::imap_types::sequence::SequenceSet,
        uid: bool,
        target: Option<(MailboxAction, String)>,
    ) -> Option<Planned> {
        let selected = self.state.selected()?;
        let indexes = self.resolve(set, uid).ok()?;
        Some(Planned::Messages {
            action,
            uids: indexes.iter().map(|&i| selected.messages[i].uid).collect(),
            target,
        })
    }

    /// Emits the records of `planned` now that the command completed with `reply`.
    pub(super) async fn audit_done(&self, audit: Audit, reply: &Reply) -> Result<(), Fail> {
        let Audit {
            planned,
            deliveries,
        } = audit;
        let Some(user) = self.state.user() else {
            return Ok(());
        };
        let allowed = reply.kind() == StatusKind::Ok;
        let mut batches: Vec<(MailboxAction, Vec<MailboxItem>)> = Vec::new();
        match planned {
            Planned::Folder {
                action,
                name,
                folder_id,
            } => {
                let folder_id = match folder_id {
                    Some(id) => Some(id),
                    None => self
                        .store
                        .folder(&user.user_id, &name)
                        .await?
                        .map(|f| f.folder_id),
                };
                let folder_id = folder_id.unwrap_or_default();
                batches.push((action, vec![MailboxItem::folder(&folder_id, &name)]));
            }
            Planned::Hierarchy { pattern } => {
                batches.push((
                    MailboxAction::ReadHierarchy,
                    vec![MailboxItem::folder("", &pattern)],
                ));
            }
            Planned::Append { name } => {
                let folder = self.store.folder(&user.user_id, &name).await?;
                let folder_id = folder.map(|f| f.folder_id).unwrap_or_default();
                let item = match reply.code() {
                    Some(Code::AppendUid { uid, .. }) => {
                        MailboxItem::message(&folder_id, &name, i64::from(uid.get()))
                    }
                    _ => MailboxItem::folder(&folder_id, &name),
                };
                batches.push((MailboxAction::Create, vec![item]));
            }
            Planned::Messages {
                action,
                uids,
                target,
            } => {
                let Some(selected) = self.state.selected() else {
                    return Ok(());
                };
                let path = self
                    .store
                    .folder_by_id(&user.user_id, &selected.folder_id)
                    .await?
                    .map(|f| f.name)
                    .unwrap_or_default();
                let items = uids
                    .iter()
                    .map(|&uid| MailboxItem::message(&selected.folder_id, &path, uid))
                    .collect();
                batches.push((action, items));
                if let Some((target_action, name)) = target {
                    let folder_id = self
                        .store
                        .folder(&user.user_id, &name)
                        .await?
                        .map(|f| f.folder_id)
                        .unwrap_or_default();
                    batches.push((target_action, vec![MailboxItem::folder(&folder_id, &name)]));
                }
            }
        }
        let client = self.client_info();
        let records = batches
            .into_iter()
            .flat_map(|(action, items)| {
                audit::mailbox_records(
                    &client,
                    &user.user_id,
                    &user.user_id,
                    action,
                    &items,
                    allowed,
                )
            })
            .collect();
        audit::emit_to(&deliveries, &user.organization_id, records);
        Ok(())
    }
}

/// Whether a FETCH returns message content (not only flags, sizes, dates and structure).
fn reads_content(items: &MacroOrMessageDataItemNames<'_>) -> bool {
    match items {
        MacroOrMessageDataItemNames::Macro(_) => false,
        MacroOrMessageDataItemNames::MessageDataItemNames(names) => names.iter().any(|n| {
            matches!(
                n,
                MessageDataItemName::BodyExt { .. }
                    | MessageDataItemName::Binary { .. }
                    | MessageDataItemName::Rfc822
                    | MessageDataItemName::Rfc822Header
                    | MessageDataItemName::Rfc822Text
            )
        }),
    }
}
