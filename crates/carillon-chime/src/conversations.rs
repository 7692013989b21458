//! Conversations: 1:1 and group chats between signed-in users. Spec: chime-zh.md §1.10,
//! §2.6 (conversations may include people outside the account).
//!
//! A conversation's members are registered users, of any Chime account (a conversation
//! with someone outside the account is allowed; retention then keeps it 90 days, §2.6).
//! Creating a 1:1 conversation with someone the user already has one with returns that
//! one; a group has the creator and 2 to [`MAX_GROUP_MEMBERS`]` - 1` others. Members are
//! named by user ID or email.

use carillon_core::time::now_millis;
use carillon_store::chime::chat::{ConversationMemberRecord, ConversationRecord};

use crate::errors::{bad_request, not_found, Result};
use crate::paging::page_size;
use crate::sessions::SessionUser;
use crate::Chime;

/// Most members of a group conversation, the creator included.
pub const MAX_GROUP_MEMBERS: usize = 100;
/// Default and largest page of a user's conversation list.
const MAX_PAGE: i64 = 99;

/// A conversation with its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationView {
    /// The conversation.
    pub conversation: ConversationRecord,
    /// Its members by user ID.
    pub members: Vec<ConversationMemberRecord>,
}

/// Starts a conversation of `user` with `others` (user IDs or emails): 1:1 with one other
/// user (the pair's existing conversation when there is one), a group with more. Returns
/// the conversation and whether it is new.
///
/// Errors: `BadRequestException` naming `Members` when empty, too many, or naming only the
/// user; `NotFoundException` for a member who is not a registered user.
pub async fn create(
    chime: &Chime,
    user: &SessionUser,
    others: &[String],
) -> Result<(ConversationView, bool)> {
    let mut members: Vec<(String, Option<String>)> =
        vec![(user.user_id.clone(), user.chime_account_id.clone())];
    for reference in others {
        let reference = reference.trim();
        let found = if reference.contains('@') {
            chime.store.chat_user_by_email(reference).await
        } else {
            chime.store.chat_user(reference).await
        }?
        .filter(|u| u.registration_status == "Registered")
        .ok_or_else(|| not_found(format!("No registered user {reference} was found")))?;
        if !members.iter().any(|(id, _)| *id == found.user_id) {
            members.push((found.user_id, found.chime_account_id));
        }
    }
    if members.len() < 2 {
        return Err(bad_request(
            "Members must name at least one user other than yourself",
        ));
    }
    if members.len() > MAX_GROUP_MEMBERS {
        return Err(bad_request(format!(
            "Members must name at most {} other users",
            MAX_GROUP_MEMBERS - 1
        )));
    }
    let is_group = members.len() > 2;
    let pair_key = (!is_group).then(|| {
        let (a, b) = (&members[0].0, &members[1].0);
        if a < b {
            format!("{a}|{b}")
        } else {
            format!("{b}|{a}")
        }
    });
    let record = ConversationRecord {
        conversation_id: carillon_core::ids::new_uuid(),
        is_group,
        created_by: user.user_id.clone(),
        created_at: now_millis(),
        pair_key,
    };
    let (conversation, created) = chime.store.create_conversation(&record, &members).await?;
    let members = chime
        .store
        .conversation_members(&conversation.conversation_id)
        .await?;
    Ok((
        ConversationView {
            conversation,
            members,
        },
        created,
    ))
}

/// The conversation `conversation_id` with its members, when `user` is one of them.
///
/// Errors: `NotFoundException` when it does not exist or the user is not a member.
pub async fn get(
    chime: &Chime,
    user: &SessionUser,
    conversation_id: &str,
) -> Result<ConversationView> {
    let missing = || {
        not_found(format!(
            "No conversation {conversation_id} of yours was found"
        ))
    };
    let conversation = chime
        .store
        .conversation(conversation_id)
        .await?
        .ok_or_else(missing)?;
    let members = chime.store.conversation_members(conversation_id).await?;
    if !members.iter().any(|m| m.user_id == user.user_id) {
        return Err(missing());
    }
    Ok(ConversationView {
        conversation,
        members,
    })
}

/// The conversations `user` belongs to by ID, with members, `limit` (1–99, default 99)
/// per page after `next_token`.
///
/// Errors: `BadRequestException` naming `MaxResults` or `NextToken`.
pub async fn list(
    chime: &Chime,
    user: &SessionUser,
    limit: Option<i32>,
    next_token: Option<&str>,
) -> Result<(Vec<ConversationView>, Option<String>)> {
    let limit = page_size(limit, MAX_PAGE, MAX_PAGE)?;
    let scope = format!("MyConversations\0{}", user.user_id);
    let after = chime.resume_after(&scope, next_token)?.unwrap_or_default();
    let mut conversations = chime
        .store
        .conversations_of_user(&user.user_id, &after, limit + 1)
        .await?;
    let next = chime.next_page(&scope, &mut conversations, limit, |c| &c.conversation_id);
    let mut out = Vec::with_capacity(conversations.len());
    for conversation in conversations {
        let members = chime
            .store
            .conversation_members(&conversation.conversation_id)
            .await?;
        out.push(ConversationView {
            conversation,
            members,
        });
    }
    Ok((out, next))
}
