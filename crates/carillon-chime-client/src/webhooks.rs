//! Incoming-webhook posts: `POST /incomingwebhooks/{UrlId}?token=<token>` with
//! `{"Content": "<Markdown>"}`. Spec: chime-zh.md §3.3.
//!
//! Answers `200 {"MessageId", "RoomId"}` once the message is posted, else the §3.3 status
//! with `{"Message": <why>}`: 403 invalid URL or token, 404 regenerated or deleted, 413 over
//! 4 KB, 400 bad body or `@All`/`@Present` in a room of more than 50 members, 429 more than
//! 1 request/s, 503 store failure. No CORS headers (§3.3: CORS is not enabled).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use carillon_chime::hub::{Container, MessageView};
use carillon_chime::webhooks::{self, IncomingError};
use carillon_chime::Chime;

/// The webhook route over `chime`.
pub fn routes(chime: Chime) -> Router {
    Router::new()
        .route("/incomingwebhooks/{url_id}", post(incoming))
        // Larger bodies get 413 from the limit itself, like content over 4 KB.
        .layer(DefaultBodyLimit::max(webhooks::MAX_BODY_BYTES))
        .with_state(chime)
}

async fn incoming(
    State(chime): State<Chime>,
    Path(url_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let token = query.get("token").map(String::as_str);
    answer(webhooks::post_to_webhook(&chime, &url_id, token, &body).await)
}

/// The HTTP answer to an incoming post (a webhook's or a bot's).
pub(crate) fn answer(result: Result<MessageView, IncomingError>) -> Response {
    match result {
        Ok(message) => {
            let room_id = match &message.container {
                Container::Room(id) | Container::Conversation(id) => id.clone(),
            };
            Json(serde_json::json!({ "MessageId": message.message_id, "RoomId": room_id }))
                .into_response()
        }
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            (status, Json(serde_json::json!({ "Message": e.message() }))).into_response()
        }
    }
}
