//! The hub relay across nodes: two `Chime` services over two stores opened on one
//! PostgreSQL database and schema (two `carillon serve` nodes), each running the relay job.
//! A message posted on one node reaches the other node's every-event subscribers within a
//! second and never its local-only ones (what bot events follow), the origin does not hear
//! its own event twice, an event over NOTIFY's 8,000 bytes goes through the payload table,
//! and the relay stops at shutdown. On SQLite the relay does nothing. The PostgreSQL tests
//! are skipped (with a printed note) when `CARILLON_TEST_DATABASE_URL` is unset.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use carillon_awsapi::generated::chime::*;
use carillon_chime::hub::{relay, ChatEvent, Container, MessageChange, MessageView};
use carillon_chime::messages::{post, NewPost};
use carillon_chime::Chime;
use carillon_core::time::now_millis;
use carillon_store::testing::{test_stores, TestStore};
use carillon_store::Store;
use support::Env;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::broadcast::Receiver;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How soon another node must see an event.
const WITHIN: Duration = Duration::from_secs(1);

/// Two nodes over one PostgreSQL test store: A on its store, B on a store of its own opened
/// on the same database and schema; each running its relay job.
struct Cluster {
    a: Env,
    b: Chime,
    relays: Vec<JoinHandle<()>>,
    shutdown: CancellationToken,
}

impl Cluster {
    /// The nodes with their relays listening; `None` (with a note) when no PostgreSQL
    /// server is configured.
    async fn start() -> Option<Cluster> {
        let Some(t) = test_stores()
            .await
            .into_iter()
            .find(|t| t.label == "postgres")
        else {
            eprintln!(
                "skipped: CARILLON_TEST_DATABASE_URL is not set (the hub relay needs PostgreSQL)"
            );
            return None;
        };
        // Node B shares the database, its schema, the blob directory and the keys, as a
        // second `carillon serve` would.
        let blobs = url::Url::from_directory_path(t.dir().join("blobs")).unwrap();
        let keys = carillon_kms::LocalKeyProvider::open(t.dir().join("keys")).unwrap();
        let b_store = Store::open(t.database_url(), blobs.as_str())
            .await
            .unwrap()
            .with_keyring(Arc::new(carillon_kms::Keyring::new(
                Arc::new(keys),
                "us-east-1",
            )));
        let a = Env::new(t).await;
        let b = Chime::new(b_store).await.unwrap();
        let shutdown = CancellationToken::new();
        let relays = [&a.chime, &b]
            .into_iter()
            .map(|chime| tokio::spawn(relay::run(chime.clone(), shutdown.clone())))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(a.chime.hub().is_relayed() && b.hub().is_relayed()) {
            assert!(Instant::now() < deadline, "relays listening within 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_ne!(a.chime.hub().node_id(), b.hub().node_id());
        Some(Cluster {
            a,
            b,
            relays,
            shutdown,
        })
    }

    /// Stops both relays, which must end promptly and detach from their hubs.
    async fn stop(self) {
        self.shutdown.cancel();
        for relay in self.relays {
            tokio::time::timeout(Duration::from_secs(5), relay)
                .await
                .expect("the relay stops at shutdown")
                .unwrap();
        }
        assert!(!self.a.chime.hub().is_relayed() && !self.b.hub().is_relayed());
    }
}

/// A room of a new tenant, made on node A, with two user members; `(room, mary, john)`.
async fn room_with_two_members(a: &Env) -> (String, String, String) {
    let ctx = a.tenant().await;
    let account = a.account(&ctx, "Relay").await;
    let mary = a.member(&ctx, &account, "mary@example.com").await;
    let john = a.member(&ctx, &account, "john@example.com").await;
    let room = a.create_room(&ctx, &account, "Ops").await.room_id.unwrap();
    for member in [&mary, &john] {
        a.chime
            .create_room_membership(
                &ctx,
                CreateRoomMembershipRequest {
                    account_id: account.clone(),
                    room_id: room.clone(),
                    member_id: member.clone(),
                    role: None,
                },
            )
            .await
            .unwrap();
    }
    (room, mary, john)
}

fn said(sender: &str, room: &str, content: &str) -> NewPost {
    NewPost {
        container: Container::Room(room.to_string()),
        sender_id: sender.to_string(),
        sender_type: "User".to_string(),
        sender_name: sender.to_string(),
        content: content.to_string(),
    }
}

/// Waits (at most [`WITHIN`]) for the event of message `message_id` on `events`, skipping
/// others (such as the room set-up's membership events).
async fn message_event(events: &mut Receiver<Arc<ChatEvent>>, message_id: &str) -> ChatEvent {
    tokio::time::timeout(WITHIN, async {
        loop {
            let event = events.recv().await.expect("the hub is open");
            if let ChatEvent::Message { message, .. } = &*event {
                if message.message_id == message_id {
                    return (*event).clone();
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("message {message_id} seen within {WITHIN:?}"))
}

/// How many events of message `message_id` are already waiting on `events`.
fn count_of(events: &mut Receiver<Arc<ChatEvent>>, message_id: &str) -> usize {
    let mut count = 0;
    while let Ok(event) = events.try_recv() {
        if matches!(&*event, ChatEvent::Message { message, .. } if message.message_id == message_id)
        {
            count += 1;
        }
    }
    count
}

#[tokio::test]
async fn a_message_posted_on_one_node_reaches_the_other_once() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let (a, b) = (&cluster.a.chime, &cluster.b);
    let (room, mary, john) = room_with_two_members(&cluster.a).await;
    let mut a_all = a.hub().subscribe();
    let mut a_local = a.hub().subscribe_local();
    let mut b_all = b.hub().subscribe();
    let mut b_local = b.hub().subscribe_local();

    let posted = post(a, said(&mary, &room, "deploy at noon")).await.unwrap();
    let on_a = message_event(&mut a_all, &posted.message_id).await;
    let on_b = message_event(&mut b_all, &posted.message_id).await;
    assert_eq!(on_b, on_a, "the relayed event is the one published");
    let ChatEvent::Message {
        change,
        message,
        audience,
        ..
    } = on_b
    else {
        unreachable!()
    };
    assert_eq!(change, MessageChange::Created);
    assert_eq!(message.content.as_deref(), Some("deploy at noon"));
    assert!(audience.contains(&mary) && audience.contains(&john));
    assert_eq!(message_event(&mut a_local, &posted.message_id).await, on_a);
    // B's local subscribers (its bot event dispatcher) hear nothing of A's events.
    assert!(matches!(b_local.try_recv(), Err(TryRecvError::Empty)));

    // John answers on B. A's listener hears B's reply after its own echo of Mary's message
    // (both notifications in commit order), so once A has the reply, every echo is in.
    let reply = post(b, said(&john, &room, "ok")).await.unwrap();
    message_event(&mut a_all, &reply.message_id).await;
    message_event(&mut b_local, &reply.message_id).await;
    assert_eq!(
        count_of(&mut a_all, &posted.message_id),
        0,
        "A got its own message only once"
    );
    assert_eq!(count_of(&mut a_local, &reply.message_id), 0);
    assert_eq!(count_of(&mut b_all, &posted.message_id), 0);

    cluster.stop().await;
}

#[tokio::test]
async fn an_event_over_the_notify_limit_goes_through_the_payload_table() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let (a, b) = (&cluster.a.chime, &cluster.b);
    let mut b_all = b.hub().subscribe();
    // A message to a room of 3,000 readers: about 120 KB of JSON.
    let audience: Vec<String> = (0..3000).map(|_| carillon_core::ids::new_uuid()).collect();
    let message_id = carillon_core::ids::new_uuid();
    let event = ChatEvent::Message {
        account_id: "123456789012".to_string(),
        change: MessageChange::Created,
        message: MessageView {
            message_id: message_id.clone(),
            container: Container::Room(carillon_core::ids::new_uuid()),
            sender_id: audience[0].clone(),
            sender_type: "User".to_string(),
            sender_name: "Mary Major".to_string(),
            content: Some("all hands at noon".to_string()),
            mentions: audience.clone(),
            created_at: now_millis(),
            edited_at: None,
        },
        audience,
    };
    a.hub().publish(event.clone());
    assert_eq!(message_event(&mut b_all, &message_id).await, event);
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notify_payloads")
        .fetch_one(cluster.a.test.pool())
        .await
        .unwrap();
    assert_eq!(stored, 1, "the event went through notify_payloads");
    cluster.stop().await;
}

#[tokio::test]
async fn on_sqlite_the_relay_does_nothing_and_events_stay_local() {
    let t = TestStore::sqlite().await;
    let chime = Chime::new(t.store.clone()).await.unwrap();
    let shutdown = CancellationToken::new();
    tokio::time::timeout(
        Duration::from_secs(1),
        relay::run(chime.clone(), shutdown.clone()),
    )
    .await
    .expect("the relay returns at once on SQLite");
    assert!(!chime.hub().is_relayed());
    let mut all = chime.hub().subscribe();
    let mut local = chime.hub().subscribe_local();
    chime.hub().publish(ChatEvent::SessionsRevoked {
        user_id: "u".to_string(),
    });
    for events in [&mut all, &mut local] {
        assert_eq!(
            *events.try_recv().unwrap(),
            ChatEvent::SessionsRevoked {
                user_id: "u".to_string()
            }
        );
    }
}
