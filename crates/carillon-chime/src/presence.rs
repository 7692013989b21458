//! Presence of chat users: Online while at least one of their client streams is open on
//! this node, Offline when the last one closes. Spec: chime-zh.md §1.3 (privacy setting),
//! §1.10.
//!
//! Changes are published to the users who share a room or a conversation with the user.
//! A user whose privacy setting is `Private` is never announced (their contacts see no
//! presence for them), though `@Present` still reaches them while they are connected.

use crate::errors::Result;
use crate::hub::ChatEvent;
use crate::Chime;

/// `Online` presence.
pub const ONLINE: &str = "Online";
/// `Offline` presence.
pub const OFFLINE: &str = "Offline";

async fn announce(chime: &Chime, user_id: &str, status: &str) -> Result<()> {
    let private = chime
        .store
        .chat_user(user_id)
        .await?
        .is_none_or(|u| u.privacy == "Private");
    if private {
        return Ok(());
    }
    let audience = chime.store.chat_contacts(user_id).await?;
    chime.hub().publish(ChatEvent::Presence {
        user_id: user_id.to_string(),
        status: status.to_string(),
        audience,
    });
    Ok(())
}

/// Counts a new client stream of `user_id`; announces `Online` when it is the first.
///
/// Errors: store failures (the stream is counted regardless).
pub async fn connected(chime: &Chime, user_id: &str) -> Result<()> {
    if chime.hub().connect(user_id) {
        announce(chime, user_id, ONLINE).await?;
    }
    Ok(())
}

/// Forgets a client stream of `user_id`; announces `Offline` when it was the last.
///
/// Errors: store failures (the stream is forgotten regardless).
pub async fn disconnected(chime: &Chime, user_id: &str) -> Result<()> {
    if chime.hub().disconnect(user_id) {
        announce(chime, user_id, OFFLINE).await?;
    }
    Ok(())
}

/// The contacts of `user_id` (sharing a room or conversation) who are online now and not
/// private: what a new stream is told first.
///
/// Errors: store failures.
pub async fn online_contacts(chime: &Chime, user_id: &str) -> Result<Vec<String>> {
    let contacts = chime.store.chat_contacts(user_id).await?;
    let mut out = Vec::new();
    for contact in contacts {
        if !chime.hub().is_present(&contact) {
            continue;
        }
        let public = chime
            .store
            .chat_user(&contact)
            .await?
            .is_some_and(|u| u.privacy != "Private");
        if public {
            out.push(contact);
        }
    }
    Ok(out)
}
