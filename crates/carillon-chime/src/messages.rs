//! Chat messages: posting (users, bots, incoming webhooks), editing one's own, history, and
//! the container rules they share. Spec: chime-zh.md §1.10, §1.16–§1.18, §3.3.
//!
//! A message lives in a room or a conversation ([`Container`]). Only a member may post: a
//! room member of the sender's type (a bot or webhook sender is a room membership of type
//! `Bot` or `Webhook`), or a conversation member (users only). Content is Markdown of
//! 1 to [`MAX_CONTENT_BYTES`] bytes (4 KB, the incoming-webhook limit of §3.3, applied to
//! every sender so no client can store what a webhook could not) and not only white space.
//! Mentions are resolved at posting and editing time ([`crate::mentions`]). Every change
//! is published on the hub after it is stored, with the container's members as audience.
//! End users cannot delete messages (§1.10); administrators redact them (`rooms`).
//! Content is sealed at rest ([`crate::chat_crypto`]); what is published and returned is
//! the plaintext.

use carillon_core::time::now_millis;
use carillon_store::chime::chat::{ChatMessageRecord, MessageCursor};

use crate::chat_crypto;
use crate::errors::{bad_request, error, forbidden, not_found, Result};
use crate::hub::{ChatEvent, Container, MessageChange, MessageView};
use crate::mentions::{self, Candidate};
use crate::paging::page_size;
use crate::sessions::SessionUser;
use crate::Chime;

/// Largest message content in bytes (UTF-8).
pub const MAX_CONTENT_BYTES: usize = 4096;
/// Default and largest page of message history.
pub const DEFAULT_HISTORY_PAGE: i64 = 50;
/// Largest page of message history.
pub const MAX_HISTORY_PAGE: i64 = 100;

/// A message to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPost {
    /// Where it goes.
    pub container: Container,
    /// The sender's member ID: user ID, bot user ID or webhook ID.
    pub sender_id: String,
    /// `User`, `Bot` or `Webhook`.
    pub sender_type: String,
    /// How the sender is shown (a webhook's is "<name> (Webhook)").
    pub sender_name: String,
    /// Markdown content.
    pub content: String,
}

/// A room or conversation with what posting and reading need of it.
#[derive(Debug, Clone)]
pub(crate) struct ContainerState {
    /// The tenant events are published under: the room's, or the conversation creator's
    /// (empty for an unmanaged creator).
    pub account_id: String,
    /// Its members (rooms: users, bots and webhooks; conversations: users).
    pub members: Vec<Candidate>,
}

impl ContainerState {
    /// Every member ID: who may read the container.
    pub fn audience(&self) -> Vec<String> {
        self.members.iter().map(|m| m.member_id.clone()).collect()
    }

    /// Whether `member_id` belongs, as a member of `member_type`.
    pub fn has(&self, member_id: &str, member_type: &str) -> bool {
        self.members
            .iter()
            .any(|m| m.member_id == member_id && m.member_type == member_type)
    }
}

/// `room` or `conversation`, the stored container type, and the ID.
pub(crate) fn container_parts(container: &Container) -> (&'static str, &str) {
    match container {
        Container::Room(id) => ("room", id),
        Container::Conversation(id) => ("conversation", id),
    }
}

/// The room or conversation `container` with its members.
///
/// Errors: `NotFoundException` when it does not exist.
pub(crate) async fn container_state(
    chime: &Chime,
    container: &Container,
) -> Result<ContainerState> {
    match container {
        Container::Room(room_id) => {
            let room = chime
                .store
                .chat_room_any(room_id)
                .await?
                .ok_or_else(|| not_found(format!("Room {room_id} was not found")))?;
            let members = chime.store.list_room_memberships(room_id, "", None).await?;
            Ok(ContainerState {
                account_id: room.account_id,
                members: members
                    .into_iter()
                    .map(|m| Candidate {
                        member_id: m.member_id,
                        member_type: m.member_type,
                        email: m.email,
                        display_name: m.full_name,
                    })
                    .collect(),
            })
        }
        Container::Conversation(conversation_id) => {
            let conversation = chime
                .store
                .conversation(conversation_id)
                .await?
                .ok_or_else(|| {
                    not_found(format!("Conversation {conversation_id} was not found"))
                })?;
            let members = chime.store.conversation_members(conversation_id).await?;
            let account_id = members
                .iter()
                .find(|m| m.user_id == conversation.created_by)
                .and_then(|m| m.account_id.clone())
                .unwrap_or_default();
            Ok(ContainerState {
                account_id,
                members: members
                    .into_iter()
                    .map(|m| Candidate {
                        member_id: m.user_id,
                        member_type: "User".to_string(),
                        email: Some(m.email),
                        display_name: m.display_name,
                    })
                    .collect(),
            })
        }
    }
}

/// The hub's view of a stored message.
pub(crate) fn view(record: ChatMessageRecord) -> MessageView {
    let container = if record.container_type == "room" {
        Container::Room(record.container_id)
    } else {
        Container::Conversation(record.container_id)
    };
    MessageView {
        message_id: record.message_id,
        container,
        sender_id: record.sender_id,
        sender_type: record.sender_type,
        sender_name: record.sender_name,
        content: record.content,
        mentions: record.mentions,
        created_at: record.created_at,
        edited_at: record.edited_at,
    }
}

/// Checks message content: 1 to [`MAX_CONTENT_BYTES`] bytes, not only white space.
///
/// Errors: `BadRequestException` naming `Content`.
pub fn check_content(content: &str) -> Result<()> {
    if content.trim().is_empty() {
        return Err(bad_request("Content must not be empty"));
    }
    if content.len() > MAX_CONTENT_BYTES {
        return Err(bad_request(format!(
            "Content must be at most {MAX_CONTENT_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Refuses a message that @mentions a disabled bot of the room: the sender is told at once
/// instead of the bot silently getting nothing. Spec: chime-zh.md §1.16 ("@mentioning it
/// returns an error to the user").
///
/// Errors: `ForbiddenException` naming the bot.
async fn refuse_disabled_bots(
    chime: &Chime,
    state: &ContainerState,
    mentions: &[String],
) -> Result<()> {
    for member in &state.members {
        if member.member_type != "Bot" || !mentions.contains(&member.member_id) {
            continue;
        }
        let bot = chime
            .store
            .chime_bot_by_user(&state.account_id, &member.member_id)
            .await?;
        if let Some(bot) = bot.filter(|bot| bot.disabled) {
            return Err(forbidden(format!(
                "The bot {} is disabled and cannot be mentioned",
                bot.bot_email
            )));
        }
    }
    Ok(())
}

/// Posts `post`: checks the sender may post there, resolves its mentions, stores it and
/// publishes `ChatEvent::Message{Created}` to the container's members. Returns the message.
///
/// Errors: `BadRequestException` naming `Content` or `SenderType`; `NotFoundException`
/// when the room or conversation does not exist; `ForbiddenException` when the sender is
/// not a member of it (as a member of its type; bots and webhooks post only in rooms), or
/// when it mentions a disabled bot.
pub async fn post(chime: &Chime, post: NewPost) -> Result<MessageView> {
    check_content(&post.content)?;
    if !matches!(post.sender_type.as_str(), "User" | "Bot" | "Webhook") {
        return Err(bad_request("SenderType must be User, Bot or Webhook"));
    }
    let state = container_state(chime, &post.container).await?;
    if !state.has(&post.sender_id, &post.sender_type) {
        return Err(forbidden(
            "The sender is not a member of this room or conversation",
        ));
    }
    let hub = chime.hub();
    let mentions = mentions::resolve(&post.content, &state.members, &post.sender_id, |id| {
        hub.is_present(id)
    });
    refuse_disabled_bots(chime, &state, &mentions).await?;
    let (container_type, container_id) = container_parts(&post.container);
    let message_id = carillon_core::ids::new_uuid();
    let sealed = chat_crypto::seal_content(
        chime,
        &state.account_id,
        container_id,
        &message_id,
        &post.content,
    )
    .await?;
    let mut record = ChatMessageRecord {
        message_id,
        container_type: container_type.to_string(),
        container_id: container_id.to_string(),
        sender_id: post.sender_id,
        sender_type: post.sender_type,
        sender_name: post.sender_name,
        content: Some(sealed),
        mentions,
        redacted: false,
        created_at: now_millis(),
        edited_at: None,
    };
    chime.store.insert_chat_message(&record).await?;
    record.content = Some(post.content);
    let message = view(record);
    hub.publish(ChatEvent::Message {
        account_id: state.account_id.clone(),
        change: MessageChange::Created,
        message: message.clone(),
        audience: state.audience(),
    });
    Ok(message)
}

/// Posts `content` as `user` in `container` (the client edge's post).
///
/// Errors: as [`post`].
pub async fn post_as_user(
    chime: &Chime,
    user: &SessionUser,
    container: Container,
    content: String,
) -> Result<MessageView> {
    post(
        chime,
        NewPost {
            container,
            sender_id: user.user_id.clone(),
            sender_type: "User".to_string(),
            sender_name: user.shown_name(),
            content,
        },
    )
    .await
}

/// Replaces the content of `user`'s own message `message_id` in `container`, resolving
/// its mentions again, and publishes `ChatEvent::Message{Edited}`.
///
/// Errors: `BadRequestException` naming `Content`; `NotFoundException` when the container
/// or the message does not exist or the user is not a member; `ForbiddenException` when
/// the message is someone else's; `ConflictException` when it was redacted.
pub async fn edit(
    chime: &Chime,
    user: &SessionUser,
    container: Container,
    message_id: &str,
    content: String,
) -> Result<MessageView> {
    check_content(&content)?;
    let state = member_state(chime, user, &container).await?;
    let (_, container_id) = container_parts(&container);
    let current = chime
        .store
        .chat_message(container_id, message_id)
        .await?
        .ok_or_else(|| not_found(format!("Message {message_id} was not found")))?;
    if current.sender_id != user.user_id || current.sender_type != "User" {
        return Err(forbidden("Only the sender of a message may edit it"));
    }
    if current.redacted {
        return Err(error(
            "ConflictException",
            "The message was redacted and cannot be edited",
        ));
    }
    let hub = chime.hub();
    let mentions = mentions::resolve(&content, &state.members, &user.user_id, |id| {
        hub.is_present(id)
    });
    refuse_disabled_bots(chime, &state, &mentions).await?;
    let edited_at = now_millis();
    let sealed =
        chat_crypto::seal_content(chime, &state.account_id, container_id, message_id, &content)
            .await?;
    let changed = chime
        .store
        .edit_chat_message(container_id, message_id, &sealed, &mentions, edited_at)
        .await?;
    if !changed {
        return Err(error(
            "ConflictException",
            "The message was redacted and cannot be edited",
        ));
    }
    let message = view(ChatMessageRecord {
        content: Some(content),
        mentions,
        edited_at: Some(edited_at),
        ..current
    });
    hub.publish(ChatEvent::Message {
        account_id: state.account_id.clone(),
        change: MessageChange::Edited,
        message: message.clone(),
        audience: state.audience(),
    });
    Ok(message)
}

/// The container's state when `user` is one of its user members.
///
/// Errors: `NotFoundException` when it does not exist or the user is not a member (a
/// non-member learns nothing about it).
pub(crate) async fn member_state(
    chime: &Chime,
    user: &SessionUser,
    container: &Container,
) -> Result<ContainerState> {
    let state = container_state(chime, container).await?;
    if !state.has(&user.user_id, "User") {
        let (kind, id) = container_parts(container);
        return Err(not_found(format!("No {kind} {id} of yours was found")));
    }
    Ok(state)
}

/// One page of history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// Messages, newest first; redacted ones keep their place with no content.
    pub messages: Vec<MessageView>,
    /// The cursor of the next (older) page; `None` at the oldest message.
    pub next_token: Option<String>,
}

/// The messages of `container` `user` belongs to, newest first, `limit` per page (1–100,
/// default 50), resuming after `next_token` (tamper-checked, bound to the user and the
/// container). Messages hidden by retention are not shown.
///
/// Errors: `NotFoundException` when the container does not exist or the user is not a
/// member; `BadRequestException` naming `MaxResults` or `NextToken`.
pub async fn history(
    chime: &Chime,
    user: &SessionUser,
    container: Container,
    limit: Option<i32>,
    next_token: Option<&str>,
) -> Result<HistoryPage> {
    let limit = page_size(limit, DEFAULT_HISTORY_PAGE, MAX_HISTORY_PAGE)?;
    member_state(chime, user, &container).await?;
    let (kind, container_id) = container_parts(&container);
    let scope = format!("ChatHistory\0{}\0{kind}\0{container_id}", user.user_id);
    // The token names the last message shown; the page resumes strictly before it.
    let before = match chime.resume_after(&scope, next_token)? {
        None => None,
        Some(message_id) => {
            let created_at = chime
                .store
                .chat_message_created_at(container_id, &message_id)
                .await?
                .ok_or_else(|| bad_request("NextToken names a message that no longer exists"))?;
            Some(MessageCursor {
                created_at,
                message_id,
            })
        }
    };
    let mut records = chime
        .store
        .list_chat_messages(container_id, before.as_ref(), limit + 1)
        .await?;
    let next_token = chime.next_page(&scope, &mut records, limit, |m| &m.message_id);
    let mut messages = Vec::with_capacity(records.len());
    for mut record in records {
        if let Some(stored) = &record.content {
            record.content = Some(
                chat_crypto::open_content(chime, container_id, &record.message_id, stored).await?,
            );
        }
        messages.push(view(record));
    }
    Ok(HistoryPage {
        messages,
        next_token,
    })
}
