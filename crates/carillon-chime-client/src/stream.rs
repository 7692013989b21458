//! The chat event stream: `GET /chat/v1/stream`, a WebSocket for a signed-in user.
//! Spec: chime-zh.md §1.10.
//!
//! The session is checked before the upgrade, from `Authorization: Bearer <token>` or, for
//! browsers (which cannot set headers on a WebSocket), `?token=<token>`; a bad one is
//! answered 401 `{"Code","Message"}` without upgrading. The server then sends JSON text
//! frames, each with a `Type`:
//! - `Ready` `{"UserId"}` once subscribed: every later change reaches this stream;
//! - `Presence` `{"UserId","Status":"Online"|"Offline"}`, first for each contact online
//!   now, then as contacts come and go;
//! - `Message` `{"Change":"Created"|"Edited"|"Redacted","Message":{…}}` (the REST message
//!   shape; a redacted one has `"Content": null`, `"Redacted": true`);
//! - `Membership` `{"Change":"Added"|"RoleChanged"|"Removed","RoomId","MemberId",
//!   "MemberType","Role","Actor"}`;
//! - `RoomDeleted` `{"RoomId"}`;
//! - `Resync` `{"Missed"}` when the stream fell more than the hub's buffer behind: the
//!   client reloads over REST;
//! - `SessionEnded` `{"Reason":"Revoked"|"Expired"}`, then a close frame (1008), when the
//!   user's sessions are revoked (LogoutUser, suspension), the session stops being valid
//!   (checked every [`RECHECK`]) or it expires.
//!
//! Only events whose audience includes the user are sent. Memory per connection is
//! bounded: the hub's receiver holds at most its capacity, and a client that does not
//! read a frame within [`SEND_TIMEOUT`] is disconnected. The server pings every
//! [`RECHECK`]; frames the client sends are ignored.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use carillon_chime::hub::{ChatEvent, MembershipChange, MessageChange};
use carillon_chime::sessions::{self, SessionUser};
use carillon_chime::{presence, Chime};
use carillon_core::time::now_millis;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use http::HeaderMap;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::chat::{bearer, error, message_json};

/// How often the session is checked again and the client pinged.
pub const RECHECK: Duration = Duration::from_secs(30);
/// How long a frame may wait for the client to take it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// WebSocket close code of an ended session (policy violation).
const CLOSE_SESSION_ENDED: u16 = 1008;

/// The stream route over `chime`.
pub fn routes(chime: Chime) -> Router {
    Router::new()
        .route("/chat/v1/stream", get(upgrade))
        .with_state(chime)
}

async fn upgrade(
    State(chime): State<Chime>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let token = bearer(&headers)
        .map(str::to_string)
        .or_else(|| query.get("token").cloned())
        .unwrap_or_default();
    match sessions::authenticate(&chime, &token).await {
        Ok(user) => ws.on_upgrade(move |socket| run(chime, user, token, socket)),
        Err(e) => error(&e),
    }
}

/// Why a stream stops.
enum End {
    /// The client left or the connection failed.
    Gone,
    /// The session ended; the client is told why.
    Session(&'static str),
}

async fn run(chime: Chime, user: SessionUser, token: String, socket: WebSocket) {
    // Subscribe before anything else so no event published from now on is missed.
    let mut events = chime.hub().subscribe();
    let (mut sink, mut incoming) = socket.split();
    if let Err(e) = presence::connected(&chime, &user.user_id).await {
        tracing::warn!(user_id = %user.user_id, error = %e, "chat presence not announced");
    }
    let end = serve(&chime, &user, &token, &mut events, &mut sink, &mut incoming).await;
    if let End::Session(reason) = end {
        let _ = send(
            &mut sink,
            json!({ "Type": "SessionEnded", "Reason": reason }),
        )
        .await;
        let close = CloseFrame {
            code: CLOSE_SESSION_ENDED,
            reason: "session ended".into(),
        };
        let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(close)))).await;
    }
    if let Err(e) = presence::disconnected(&chime, &user.user_id).await {
        tracing::warn!(user_id = %user.user_id, error = %e, "chat presence not announced");
    }
}

type Sink = SplitSink<WebSocket, Message>;

/// Sends one JSON frame, giving up after [`SEND_TIMEOUT`].
async fn send(sink: &mut Sink, frame: Value) -> Result<(), ()> {
    let text = frame.to_string();
    match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn serve(
    chime: &Chime,
    user: &SessionUser,
    token: &str,
    events: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<ChatEvent>>,
    sink: &mut Sink,
    incoming: &mut SplitStream<WebSocket>,
) -> End {
    if send(sink, json!({ "Type": "Ready", "UserId": user.user_id }))
        .await
        .is_err()
    {
        return End::Gone;
    }
    match presence::online_contacts(chime, &user.user_id).await {
        Ok(online) => {
            for contact in online {
                let frame =
                    json!({ "Type": "Presence", "UserId": contact, "Status": presence::ONLINE });
                if send(sink, frame).await.is_err() {
                    return End::Gone;
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "chat presence snapshot failed"),
    }
    let left = u64::try_from(user.expires_at - now_millis()).unwrap_or(0);
    let expiry = tokio::time::sleep(Duration::from_millis(left));
    tokio::pin!(expiry);
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    loop {
        tokio::select! {
            () = &mut expiry => return End::Session("Expired"),
            _ = recheck.tick() => {
                if sessions::authenticate(chime, token).await.is_err() {
                    return End::Session("Revoked");
                }
                let ping = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Ping(Vec::new().into())));
                if !matches!(ping.await, Ok(Ok(()))) {
                    return End::Gone;
                }
            }
            frame = incoming.next() => match frame {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return End::Gone,
                Some(Ok(_)) => {}
            },
            event = events.recv() => match event {
                Ok(event) => {
                    if matches!(&*event, ChatEvent::SessionsRevoked { user_id } if *user_id == user.user_id) {
                        return End::Session("Revoked");
                    }
                    if let Some(frame) = frame_for(&event, &user.user_id) {
                        if send(sink, frame).await.is_err() {
                            return End::Gone;
                        }
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    if send(sink, json!({ "Type": "Resync", "Missed": missed })).await.is_err() {
                        return End::Gone;
                    }
                }
                Err(RecvError::Closed) => return End::Gone,
            },
        }
    }
}

/// The frame `event` gives `user_id`, if it is in its audience.
fn frame_for(event: &ChatEvent, user_id: &str) -> Option<Value> {
    let sees = |audience: &[String]| audience.iter().any(|id| id == user_id);
    match event {
        ChatEvent::Message {
            change,
            message,
            audience,
            ..
        } if sees(audience) => {
            let change = match change {
                MessageChange::Created => "Created",
                MessageChange::Edited => "Edited",
                MessageChange::Redacted => "Redacted",
            };
            Some(json!({ "Type": "Message", "Change": change, "Message": message_json(message) }))
        }
        ChatEvent::Membership {
            room_id,
            member_id,
            member_type,
            role,
            change,
            actor,
            audience,
            ..
        } if sees(audience) => {
            let change = match change {
                MembershipChange::Added => "Added",
                MembershipChange::RoleChanged => "RoleChanged",
                MembershipChange::Removed => "Removed",
            };
            Some(json!({
                "Type": "Membership",
                "Change": change,
                "RoomId": room_id,
                "MemberId": member_id,
                "MemberType": member_type,
                "Role": role,
                "Actor": actor,
            }))
        }
        ChatEvent::Presence {
            user_id: subject,
            status,
            audience,
        } if sees(audience) => {
            Some(json!({ "Type": "Presence", "UserId": subject, "Status": status }))
        }
        ChatEvent::RoomDeleted {
            room_id, audience, ..
        } if sees(audience) => Some(json!({ "Type": "RoomDeleted", "RoomId": room_id })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use carillon_chime::hub::{Container, MessageView};

    use super::*;

    fn message(audience: &[&str], change: MessageChange) -> ChatEvent {
        ChatEvent::Message {
            account_id: "111122223333".to_string(),
            change,
            message: MessageView {
                message_id: "m1".to_string(),
                container: Container::Room("r1".to_string()),
                sender_id: "u1".to_string(),
                sender_type: "User".to_string(),
                sender_name: "Mary".to_string(),
                content: None,
                mentions: vec![],
                created_at: 0,
                edited_at: None,
            },
            audience: audience.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn frames_go_only_to_their_audience() {
        let redacted = message(&["u1", "u2"], MessageChange::Redacted);
        let frame = frame_for(&redacted, "u2").expect("u2 is in the audience");
        assert_eq!(frame["Type"], "Message");
        assert_eq!(frame["Change"], "Redacted");
        assert_eq!(frame["Message"]["RoomId"], "r1");
        assert_eq!(frame["Message"]["Content"], Value::Null);
        assert_eq!(frame["Message"]["Redacted"], true);
        assert_eq!(frame_for(&redacted, "u3"), None);

        let removed = ChatEvent::Membership {
            account_id: "111122223333".to_string(),
            chime_account_id: "c1".to_string(),
            room_id: "r1".to_string(),
            member_id: "u3".to_string(),
            member_type: "User".to_string(),
            role: "Member".to_string(),
            change: MembershipChange::Removed,
            actor: None,
            audience: vec!["u1".to_string(), "u3".to_string()],
        };
        let frame = frame_for(&removed, "u3").expect("the removed member is told");
        assert_eq!(frame["Change"], "Removed");
        assert_eq!(frame["Actor"], Value::Null);
        assert_eq!(frame_for(&removed, "u2"), None);

        let online = ChatEvent::Presence {
            user_id: "u1".to_string(),
            status: "Online".to_string(),
            audience: vec!["u2".to_string()],
        };
        assert_eq!(
            frame_for(&online, "u2"),
            Some(json!({ "Type": "Presence", "UserId": "u1", "Status": "Online" }))
        );
        let deleted = ChatEvent::RoomDeleted {
            account_id: "111122223333".to_string(),
            room_id: "r1".to_string(),
            audience: vec!["u2".to_string()],
        };
        assert_eq!(
            frame_for(&deleted, "u2"),
            Some(json!({ "Type": "RoomDeleted", "RoomId": "r1" }))
        );
        let revoked = ChatEvent::SessionsRevoked {
            user_id: "u2".to_string(),
        };
        assert_eq!(
            frame_for(&revoked, "u2"),
            None,
            "revocation ends the stream instead"
        );
    }
}
