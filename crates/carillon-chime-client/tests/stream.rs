//! The `/chat/v1/stream` WebSocket served by the real router on a loopback port, with a
//! WebSocket client: a bad session is refused before the upgrade, a stream that falls more
//! than the hub's buffer behind is told to resynchronise, and revoked or expired sessions
//! end the stream. On SQLite, and on PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set.
//! Spec: chime-zh.md §1.10.

use std::time::Duration;

use carillon_chime::hub::{ChatEvent, CAPACITY};
use carillon_chime::Chime;
use carillon_core::time::now_millis;
use carillon_store::chime::chat::ChatSessionRecord;
use carillon_store::testing::{create_account, test_stores, TestStore};
use carillon_store::ChimeAccountRecord;
use futures::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A registered user of a live Chime account with a session of `token` ending at
/// `expires_at`; returns the user ID.
async fn signed_in_user(t: &TestStore, token: &str, expires_at: i64) -> String {
    let tenant = create_account(&t.store).await;
    let account = carillon_core::ids::new_uuid();
    t.store
        .create_chime_account(&ChimeAccountRecord {
            chime_account_id: account.clone(),
            account_id: tenant.clone(),
            name: "Stream".to_string(),
            account_type: "Team".to_string(),
            account_status: "Active".to_string(),
            default_license: "Pro".to_string(),
            disable_remote_control: false,
            enable_dial_out: true,
            created_at: 1,
            deleted_at: None,
        })
        .await
        .unwrap();
    let user_id = carillon_core::ids::new_uuid();
    t.exec(
        "INSERT INTO chime_users (user_id, account_id, chime_account_id, primary_email, \
         license_type, registration_status, personal_pin, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'Pro', 'Registered', '0123456789', 'unused', 1, 1)",
        &[
            &user_id,
            &tenant,
            &account,
            &format!("{user_id}@example.com"),
        ],
    )
    .await;
    t.store
        .create_chat_session(&ChatSessionRecord {
            session_hash: hex::encode(Sha256::digest(token.as_bytes())),
            user_id: user_id.clone(),
            created_at: now_millis(),
            expires_at,
        })
        .await
        .unwrap();
    user_id
}

/// The client router on a loopback port; its `ws://` stream URL.
async fn serve(chime: &Chime) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = carillon_chime_client::router(chime.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("ws://{addr}/chat/v1/stream")
}

async fn connect(url: &str, token: &str) -> Result<Client, WsError> {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

/// The next JSON frame, or `None` when the server closed the stream.
async fn next_frame(ws: &mut Client) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Frames until one whose `Type` is `kind`.
async fn until(ws: &mut Client, kind: &str) -> Value {
    loop {
        let frame = next_frame(ws).await.expect("the stream stays open");
        if frame["Type"] == kind {
            return frame;
        }
    }
}

#[tokio::test]
async fn a_lagging_stream_is_told_to_resync_and_a_revoked_session_ends_it() {
    for t in test_stores().await {
        let chime = Chime::new(t.store.clone()).await.unwrap();
        let url = serve(&chime).await;
        let token = "a1".repeat(32);
        let user = signed_in_user(&t, &token, now_millis() + 3_600_000).await;

        match connect(&url, "not-a-session").await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("a bad session must be refused before the upgrade: {other:?}"),
        }
        let mut query_url = url.clone();
        query_url.push_str(&format!("?token={token}"));
        let (mut by_query, _) = tokio_tungstenite::connect_async(query_url.as_str())
            .await
            .expect("?token= is accepted for browsers");
        assert_eq!(until(&mut by_query, "Ready").await["UserId"], user.as_str());

        let mut ws = connect(&url, &token).await.unwrap();
        assert_eq!(until(&mut ws, "Ready").await["UserId"], user.as_str());

        // Published without yielding, more events than the buffer holds: the stream lags.
        let burst = CAPACITY + 100;
        for i in 0..burst {
            chime.hub().publish(ChatEvent::Presence {
                user_id: format!("contact-{i}"),
                status: "Online".to_string(),
                audience: vec![user.clone()],
            });
        }
        let resync = until(&mut ws, "Resync").await;
        assert!(resync["Missed"].as_u64().unwrap() >= 100, "{resync}");
        // What the buffer kept still arrives, up to the newest.
        let newest = format!("contact-{}", burst - 1);
        let mut kept = 0;
        loop {
            kept += 1;
            if until(&mut ws, "Presence").await["UserId"] == newest.as_str() {
                break;
            }
        }
        assert!(kept <= CAPACITY, "{kept} frames after the resync");

        // Another user's revocation does not touch this stream; the user's own ends it.
        chime.hub().publish(ChatEvent::SessionsRevoked {
            user_id: "someone-else".to_string(),
        });
        chime.hub().publish(ChatEvent::Presence {
            user_id: "still-here".to_string(),
            status: "Online".to_string(),
            audience: vec![user.clone()],
        });
        assert_eq!(until(&mut ws, "Presence").await["UserId"], "still-here");
        chime.hub().publish(ChatEvent::SessionsRevoked {
            user_id: user.clone(),
        });
        let ended = until(&mut ws, "SessionEnded").await;
        assert_eq!(ended["Reason"], "Revoked");
        assert_eq!(next_frame(&mut ws).await, None, "then the stream closes");
    }
}

#[tokio::test]
async fn an_expiring_session_ends_its_stream() {
    for t in test_stores().await {
        let chime = Chime::new(t.store.clone()).await.unwrap();
        let url = serve(&chime).await;
        let token = "b2".repeat(32);
        signed_in_user(&t, &token, now_millis() + 1_500).await;
        let mut ws = connect(&url, &token).await.unwrap();
        until(&mut ws, "Ready").await;
        let ended = until(&mut ws, "SessionEnded").await;
        assert_eq!(ended["Reason"], "Expired");
        assert_eq!(next_frame(&mut ws).await, None);
    }
}
