//! The real-time chat event hub of one node. Spec: chime-zh.md §1.10, §3.2.
//!
//! Every change a chat client must see (new, edited and redacted messages, membership
//! changes, presence, a room deleted, a user's sessions revoked) is published here after its
//! transaction commits. Subscribers — the WebSocket connections of the client edge and the
//! bot event dispatcher — filter what concerns them. A subscriber that falls more than
//! [`CAPACITY`] events behind is told it lagged and must resynchronise over REST.
//!
//! The hub also counts each user's live client connections on this node (presence): a
//! user is present while at least one of their WebSocket streams is open. `@Present`
//! mentions and Online/Offline events read it. Presence is per node: a deployment of
//! several nodes sees only the connections each node holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

/// Events buffered per subscriber before it lags.
pub const CAPACITY: usize = 4096;

/// Where a message lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Container {
    /// A chat room (`room_id`).
    Room(String),
    /// A 1:1 or group conversation (`conversation_id`).
    Conversation(String),
}

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageChange {
    /// Posted.
    Created,
    /// Its content was replaced by its sender.
    Edited,
    /// Its content was removed for good by an administrator.
    Redacted,
}

/// A message as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    /// The message ID (UUID).
    pub message_id: String,
    /// Its room or conversation.
    pub container: Container,
    /// The sender's member ID (user ID, bot user ID or webhook ID).
    pub sender_id: String,
    /// `User`, `Bot` or `Webhook`.
    pub sender_type: String,
    /// The sender as shown (a webhook's is "<name> (Webhook)").
    pub sender_name: String,
    /// The Markdown content; `None` once redacted.
    pub content: Option<String>,
    /// User IDs the message mentions (`@alias`, `@All` and `@Present` resolved).
    pub mentions: Vec<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds of the last edit.
    pub edited_at: Option<i64>,
}

/// A membership change of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    /// The member was added.
    Added,
    /// The member's role changed.
    RoleChanged,
    /// The member was removed.
    Removed,
}

/// One event of the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// A message was posted, edited or redacted. `audience` is every user ID that may read
    /// the container (room or conversation members), so a subscriber filters without a
    /// query.
    Message {
        /// The Carillon account (tenant) of the room, or of the conversation's creator.
        account_id: String,
        /// The change.
        change: MessageChange,
        /// The message after the change.
        message: MessageView,
        /// Who may read it.
        audience: Vec<String>,
    },
    /// A room's membership changed.
    Membership {
        /// The tenant.
        account_id: String,
        /// The Chime account of the room.
        chime_account_id: String,
        /// The room.
        room_id: String,
        /// The member (user ID, bot user ID or webhook ID).
        member_id: String,
        /// `User`, `Bot` or `Webhook`.
        member_type: String,
        /// `Administrator` or `Member` (the role after the change).
        role: String,
        /// The change.
        change: MembershipChange,
        /// The user who made it (`None`: an administrator through the admin API).
        actor: Option<String>,
        /// Who may see it: the room's members after the change, and the removed member.
        audience: Vec<String>,
    },
    /// A user's presence changed (`Online` when a first client connects, `Offline` when the
    /// last one leaves).
    Presence {
        /// The user.
        user_id: String,
        /// `Online` or `Offline`.
        status: String,
        /// Who may see it (users sharing a room or conversation with them).
        audience: Vec<String>,
    },
    /// A room was deleted with its messages.
    RoomDeleted {
        /// The tenant.
        account_id: String,
        /// The room.
        room_id: String,
        /// Its members before deletion.
        audience: Vec<String>,
    },
    /// Every session of the user was revoked (LogoutUser, suspension): open connections
    /// close.
    SessionsRevoked {
        /// The user.
        user_id: String,
    },
}

/// The broadcast of [`ChatEvent`]s on this node. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<ChatEvent>>,
    /// Open client connections per user ID (users with none are absent).
    connections: Arc<Mutex<HashMap<String, usize>>>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub::new()
    }
}

impl Hub {
    /// A hub with no subscriber.
    pub fn new() -> Hub {
        let (sender, _) = broadcast::channel(CAPACITY);
        Hub {
            sender,
            connections: Arc::default(),
        }
    }

    /// Publishes `event` to every current subscriber (none is not an error).
    pub fn publish(&self, event: ChatEvent) {
        let _ = self.sender.send(Arc::new(event));
    }

    /// A new subscription receiving every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ChatEvent>> {
        self.sender.subscribe()
    }

    /// Counts a new client connection of `user_id`; returns whether it is the user's first
    /// (the user just came online).
    pub fn connect(&self, user_id: &str) -> bool {
        let mut connections = self.lock();
        let count = connections.entry(user_id.to_string()).or_default();
        *count += 1;
        *count == 1
    }

    /// Forgets one client connection of `user_id`; returns whether it was the user's last
    /// (the user just went offline).
    pub fn disconnect(&self, user_id: &str) -> bool {
        let mut connections = self.lock();
        match connections.get_mut(user_id) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                connections.remove(user_id);
                true
            }
            None => false,
        }
    }

    /// Whether `user_id` has a live client connection on this node.
    pub fn is_present(&self, user_id: &str) -> bool {
        self.lock().contains_key(user_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // The map stays consistent across a panic in another holder (each step is one
        // insert or remove), so a poisoned lock is still usable.
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
