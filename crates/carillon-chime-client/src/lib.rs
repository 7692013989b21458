//! The Chime client edge: HTTP endpoints for what is not an admin call. Spec: chime-zh.md
//! §1.10, §1.16–§1.18, §3.2, §3.3.
//!
//! Owns the wire (paths, JSON bodies, bearer sessions, WebSocket frames) and nothing else:
//! every rule is an operation of `carillon-chime`, every row goes through its store. The
//! binary merges [`router`] into its HTTP listener beside the admin APIs.
//!
//! Modules: `chat` (`/chat/v1/` REST for signed-in users: sign-in, conversations, rooms,
//! memberships, messages), `stream` (the `/chat/v1/stream` WebSocket: frames filtered to
//! each event's audience, `Resync` on lag, closed when the session is revoked), `register`
//! (registration and self sign-up from single-use links), `bots` (a bot's signed reply URLs),
//! `webhooks` (`/incomingwebhooks/{UrlId}` posts and their limits), `exports` (room
//! member-list and personal contacts CSV).

mod bots;
mod chat;
mod exports;
pub mod register;
mod stream;
mod webhooks;

use axum::Router;
use carillon_chime::Chime;

/// The client routes, each over `chime`.
pub fn router(chime: Chime) -> Router {
    Router::new()
        .merge(register::routes(chime.clone()))
        .merge(bots::routes(chime.clone()))
        .merge(webhooks::routes(chime.clone()))
        .merge(chat::routes(chime.clone()))
        .merge(stream::routes(chime.clone()))
        .merge(exports::routes(chime.clone()))
}
