//! The real-time chat event hub. Spec: chime-zh.md §1.10, §3.2.
//!
//! Every change a chat client must see (new, edited and redacted messages, membership
//! changes, presence, a room deleted, a user's sessions revoked) is published here after its
//! transaction commits. Subscribers — the WebSocket connections of the client edge and the
//! bot event dispatcher — filter what concerns them. A subscriber that falls more than
//! [`CAPACITY`] events behind is told it lagged and must resynchronise over REST.
//!
//! Several nodes over one PostgreSQL database (scale-out) share their events through the
//! [`relay::run`] job: each event published on a node also goes to the database (PostgreSQL
//! `NOTIFY`, tagged with the hub's node ID), and every other node's relay republishes it.
//! So a hub has two broadcasts: [`Hub::subscribe`] gives every event, local and relayed
//! (what WebSocket streams follow), and [`Hub::subscribe_local`] the events published on this
//! node only (what the bot event dispatcher follows, so that each bot event is sent once
//! across the cluster). On SQLite, or without the relay job, events stay on their node.
//!
//! The hub also counts each user's live client connections on this node (presence): a
//! user is present while at least one of their WebSocket streams is open. `@Present`
//! mentions and Online/Offline events read it. These counts are per node and do not cross:
//! `@Present` sees only users connected to the node posting, and a user connected to two
//! nodes is announced Online by each and Offline when either node's last stream closes. The
//! Online/Offline events themselves do cross nodes like every other event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

pub mod relay;

/// Events buffered per subscriber before it lags.
pub const CAPACITY: usize = 4096;

/// Where a message lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Container {
    /// A chat room (`room_id`).
    Room(String),
    /// A 1:1 or group conversation (`conversation_id`).
    Conversation(String),
}

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageChange {
    /// Posted.
    Created,
    /// Its content was replaced by its sender.
    Edited,
    /// Its content was removed for good by an administrator.
    Redacted,
}

/// A message as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// The member was added.
    Added,
    /// The member's role changed.
    RoleChanged,
    /// The member was removed.
    Removed,
}

/// One event of the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The broadcasts of [`ChatEvent`]s on this node. Cloning shares them.
#[derive(Debug, Clone)]
pub struct Hub {
    /// Identifies this hub's events among the relayed ones (its own come back to it).
    node_id: Arc<str>,
    /// Every event: published here or relayed from another node.
    all: broadcast::Sender<Arc<ChatEvent>>,
    /// Events published here only.
    local: broadcast::Sender<Arc<ChatEvent>>,
    /// The relay job's queue of events for the other nodes, while it runs.
    outbox: Arc<Mutex<Option<mpsc::Sender<Arc<ChatEvent>>>>>,
    /// Open client connections per user ID (users with none are absent).
    connections: Arc<Mutex<HashMap<String, usize>>>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub::new()
    }
}

impl Hub {
    /// A hub with no subscriber and no relay. Its node ID is a fresh UUID rather than the
    /// node's configured identity: two hubs never share one, even when two processes were
    /// given the same data directory, so no node mistakes another's events for its own echo.
    pub fn new() -> Hub {
        Hub {
            node_id: carillon_core::ids::new_uuid().into(),
            all: broadcast::channel(CAPACITY).0,
            local: broadcast::channel(CAPACITY).0,
            outbox: Arc::default(),
            connections: Arc::default(),
        }
    }

    /// The ID this hub tags the events it sends to other nodes with (a UUID).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Publishes `event` to every current subscriber of both broadcasts (none is not an
    /// error) and, while the [`relay::run`] job runs, to the other nodes. An event the relay
    /// cannot queue (more than [`CAPACITY`] waiting for the database) is logged and stays
    /// on this node.
    pub fn publish(&self, event: ChatEvent) {
        let event = Arc::new(event);
        let _ = self.local.send(event.clone());
        let _ = self.all.send(event.clone());
        if let Some(outbox) = lock(&self.outbox).as_ref() {
            if let Err(mpsc::error::TrySendError::Full(_)) = outbox.try_send(event) {
                tracing::warn!(
                    "chat hub: the relay fell behind; an event was not sent to the other nodes"
                );
            }
        }
    }

    /// A new subscription receiving every event from now on: those published on this node
    /// and those relayed from the others.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ChatEvent>> {
        self.all.subscribe()
    }

    /// A new subscription receiving the events published on this node from now on (none
    /// relayed from another node): for work that one node must do per event, such as
    /// sending bot events.
    pub fn subscribe_local(&self) -> broadcast::Receiver<Arc<ChatEvent>> {
        self.local.subscribe()
    }

    /// Whether events published here currently go to the other nodes (the [`relay::run`] job
    /// is running on PostgreSQL and listening).
    pub fn is_relayed(&self) -> bool {
        lock(&self.outbox).is_some()
    }

    /// Hands events relayed from another node to the every-event subscribers.
    fn publish_relayed(&self, event: ChatEvent) {
        let _ = self.all.send(Arc::new(event));
    }

    /// Starts queueing published events for the relay; returns the queue's receiving end.
    fn attach_relay(&self) -> mpsc::Receiver<Arc<ChatEvent>> {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        *lock(&self.outbox) = Some(sender);
        receiver
    }

    /// Stops queueing published events for the relay.
    fn detach_relay(&self) {
        *lock(&self.outbox) = None;
    }

    /// Counts a new client connection of `user_id` on this node; returns whether it is the
    /// user's first here (the user just came online).
    pub fn connect(&self, user_id: &str) -> bool {
        let mut connections = lock(&self.connections);
        let count = connections.entry(user_id.to_string()).or_default();
        *count += 1;
        *count == 1
    }

    /// Forgets one client connection of `user_id` on this node; returns whether it was the
    /// user's last here (the user just went offline).
    pub fn disconnect(&self, user_id: &str) -> bool {
        let mut connections = lock(&self.connections);
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

    /// Whether `user_id` has a live client connection on this node (other nodes' are not
    /// counted).
    pub fn is_present(&self, user_id: &str) -> bool {
        lock(&self.connections).contains_key(user_id)
    }
}

/// Locks `mutex`. Each holder makes one insert, remove or replacement, so the value stays
/// consistent across a panic in another holder and a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
