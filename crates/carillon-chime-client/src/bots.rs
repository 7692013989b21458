//! Bot posts: `POST /chat/v1/bots/{BotId}/rooms/{RoomId}/messages?token=<token>` with
//! `{"Content": "<Markdown>"}`, the `InboundHttpsEndpoint.Url` of the bot events (the
//! Invite's persistent URL, a Mention's URL valid 2 minutes). Spec: chime-zh.md §3.2, §3.3.
//!
//! The token is signed with the bot's SecurityToken (see `carillon_chime::bots::reply_url`);
//! the message is posted to the room as the bot. Answers as an incoming webhook does: 200
//! `{"MessageId", "RoomId"}`, 403 invalid token or disabled bot, 404 expired URL or the bot
//! no longer in the room, 413, 400, 503.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use carillon_chime::{bots, webhooks, Chime};

/// The bot post route over `chime`.
pub fn routes(chime: Chime) -> Router {
    Router::new()
        .route(
            "/chat/v1/bots/{bot_id}/rooms/{room_id}/messages",
            post(reply),
        )
        .layer(DefaultBodyLimit::max(webhooks::MAX_BODY_BYTES))
        .with_state(chime)
}

async fn reply(
    State(chime): State<Chime>,
    Path((bot_id, room_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    crate::webhooks::answer(bots::post_as_bot(&chime, &bot_id, &room_id, token, &body).await)
}
