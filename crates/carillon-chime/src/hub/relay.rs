//! The hub relay: the job that carries chat events between the nodes sharing one PostgreSQL
//! database (PRODUCT.md "Runtime shape", scale-out).
//!
//! [`HubRelay`] listens on the store's notification channel [`CHANNEL`], then attaches to the
//! node's [`Hub`]: from then on every event published on the node is sent to the database as
//! JSON (`{"origin": <hub node ID>, "event": <ChatEvent>}`, large ones through the store's
//! payload table), and every event another node sent is republished on this node's
//! every-event broadcast only ([`Hub::subscribe`], never [`Hub::subscribe_local`]). The
//! node's own events come back to it and are recognised by their origin and dropped.
//!
//! Events are delivered at most once: one sent while a node's listener is reconnecting, or
//! one its sender could not write, does not reach the other nodes (a warning is logged).
//! On SQLite the job returns at once (one node).

use std::sync::Arc;
use std::time::Duration;

use carillon_jobs::{CancellationToken, Job, Pass, Trigger};
use carillon_store::{Listener, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{ChatEvent, Hub};
use crate::Chime;

/// The store notification channel of chat events.
pub const CHANNEL: &str = "chime_hub";

/// How long the payload rows of large events are kept: other nodes read them within moments.
const KEEP_PAYLOADS: Duration = Duration::from_secs(5 * 60);
/// How often old payload rows are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// Waits between attempts to start listening: doubled from the first up to the last.
const LISTEN_RETRY_FIRST: Duration = Duration::from_secs(1);
const LISTEN_RETRY_MAX: Duration = Duration::from_secs(30);

/// An event as it crosses nodes.
#[derive(Serialize)]
struct Outgoing<'a> {
    origin: &'a str,
    event: &'a ChatEvent,
}

/// An event as it arrives from a node (possibly this one).
#[derive(Deserialize)]
struct Incoming {
    origin: String,
    event: ChatEvent,
}

/// Relays the node's chat events to and from the other nodes until `shutdown` (see
/// [`HubRelay`]). Returns at once on SQLite.
pub async fn run(chime: Chime, shutdown: CancellationToken) {
    carillon_jobs::run(HubRelay(chime), shutdown).await;
}

/// The hub relay job (one of [`crate::jobs::all`]): follows the node's hub and the store's
/// notification channel until shutdown; ends at once on SQLite. At shutdown, the events
/// already queued are still sent.
#[derive(Clone)]
pub struct HubRelay(pub Chime);

#[async_trait::async_trait]
impl Job for HubRelay {
    fn name(&self) -> &'static str {
        "chime-hub-relay"
    }

    fn trigger(&self) -> Trigger {
        Trigger::Stream
    }

    async fn pass(&self, shutdown: &CancellationToken) -> Pass {
        let store = self.0.store();
        if !store.notifies_across_nodes() {
            return Pass::Idle;
        }
        let hub = self.0.hub();
        let Some(listener) = listen(store, shutdown).await else {
            return Pass::Idle;
        };
        let outbox = hub.attach_relay();
        tracing::info!(
            node_id = hub.node_id(),
            "chat hub: relaying events across nodes"
        );
        tokio::join!(
            send(store, hub, outbox, shutdown),
            receive(hub, listener, shutdown),
        );
        Pass::Idle
    }
}

/// Starts listening on [`CHANNEL`], retrying while the database cannot be reached; `None`
/// when `shutdown` comes first.
async fn listen(store: &Store, shutdown: &CancellationToken) -> Option<Listener> {
    let mut wait = LISTEN_RETRY_FIRST;
    loop {
        match store.listen(CHANNEL).await {
            Ok(listener) => return listener,
            Err(error) => {
                tracing::warn!(%error, retry_in_s = wait.as_secs(), "chat hub: cannot listen for other nodes' events");
                tokio::select! {
                    () = shutdown.cancelled() => return None,
                    () = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(LISTEN_RETRY_MAX);
            }
        }
    }
}

/// Sends the node's events from `outbox` in publication order, and deletes old payload rows
/// every [`PURGE_EVERY`]; at shutdown, detaches from the hub and sends what is queued.
async fn send(
    store: &Store,
    hub: &Hub,
    mut outbox: mpsc::Receiver<Arc<ChatEvent>>,
    shutdown: &CancellationToken,
) {
    let mut purge = tokio::time::interval(PURGE_EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            event = outbox.recv() => match event {
                Some(event) => send_one(store, hub, &event).await,
                None => break,
            },
            _ = purge.tick() => purge_payloads(store).await,
        }
    }
    hub.detach_relay();
    while let Ok(event) = outbox.try_recv() {
        send_one(store, hub, &event).await;
    }
}

async fn send_one(store: &Store, hub: &Hub, event: &ChatEvent) {
    let payload = match serde_json::to_string(&Outgoing {
        origin: hub.node_id(),
        event,
    }) {
        Ok(payload) => payload,
        Err(error) => {
            tracing::error!(%error, "chat hub: event not serialisable; not sent to other nodes");
            return;
        }
    };
    if let Err(error) = store.notify(CHANNEL, &payload).await {
        tracing::warn!(%error, "chat hub: event not sent to the other nodes");
    }
}

async fn purge_payloads(store: &Store) {
    let before = carillon_core::time::now_millis() - KEEP_PAYLOADS.as_millis() as i64;
    if let Err(error) = store.delete_notify_payloads_before(before).await {
        tracing::warn!(%error, "chat hub: old event payloads not deleted");
    }
}

/// Republishes the other nodes' events on the hub's every-event broadcast until `shutdown`.
async fn receive(hub: &Hub, mut listener: Listener, shutdown: &CancellationToken) {
    loop {
        let received = tokio::select! {
            () = shutdown.cancelled() => return,
            received = listener.recv() => received,
        };
        let payload = match received {
            Ok(payload) => payload,
            Err(error) => {
                tracing::warn!(%error, "chat hub: another node's event lost");
                continue;
            }
        };
        match serde_json::from_str::<Incoming>(&payload) {
            Ok(incoming) if incoming.origin == hub.node_id() => {}
            Ok(incoming) => hub.publish_relayed(incoming.event),
            // A node of another version may send what this one does not know.
            Err(error) => tracing::warn!(%error, "chat hub: another node's event not understood"),
        }
    }
}
