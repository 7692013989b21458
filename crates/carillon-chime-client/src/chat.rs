//! The chat REST API for signed-in users, under `/chat/v1`. Spec: chime-zh.md §1.10.
//!
//! Sign-in: `POST /chat/v1/sign-in` `{"Email","Password"}` → `200 {"SessionToken",
//! "UserId","AccountId","Email","DisplayName","ExpiresAt"}`; every other route takes
//! `Authorization: Bearer <SessionToken>`. `POST /chat/v1/sign-out` ends the session (204).
//! `GET /chat/v1/me` is the signed-in user.
//!
//! Conversations: `POST /chat/v1/conversations` `{"Members":[user ID or email, …]}` (one
//! other user: 1:1, the pair's existing one answered 200; more: a group, 201);
//! `GET /chat/v1/conversations`; `GET /chat/v1/conversations/{id}`;
//! `GET /chat/v1/conversations/{id}/members`.
//!
//! Rooms: `POST /chat/v1/rooms` `{"Name"}` (the creator becomes Administrator);
//! `GET /chat/v1/rooms` (mine); `GET /chat/v1/rooms/{id}`;
//! `GET /chat/v1/rooms/{id}/memberships`; room administrators:
//! `POST /chat/v1/rooms/{id}/memberships` `{"MemberId","Role"}` (a user ID or email, or a
//! bot's ID or email), `POST /chat/v1/rooms/{id}/memberships/{memberId}` `{"Role"}`,
//! `DELETE /chat/v1/rooms/{id}/memberships/{memberId}`; any member:
//! `POST /chat/v1/rooms/{id}/leave`. Rooms and memberships have the admin API's shapes.
//!
//! Messages of a room or conversation (`{kind}` is `rooms` or `conversations`):
//! `POST /chat/v1/{kind}/{id}/messages` `{"Content"}` (201, at most 4,096 bytes); `GET` the
//! same path for the history, newest first (`max-results` 1–100, default 50;
//! `next-token`); `PATCH /chat/v1/{kind}/{id}/messages/{messageId}` `{"Content"}` edits
//! one's own.
//!
//! Lists take `max-results` and `next-token` and answer `NextToken` when there is more.
//! Members are PascalCase, times RFC 3339. Errors answer `{"Code","Message"}` with the
//! model's status: 400 BadRequest, 401 UnauthorizedClient, 403 Forbidden, 404 NotFound,
//! 409 Conflict, 400 ResourceLimitExceeded, 429 ThrottledClient (sign-in after 10 failures
//! of the email within 15 minutes, see `carillon_chime::sessions`), 500 otherwise.
//! Passwords and tokens are never logged.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use carillon_chime::conversations::{self, ConversationView};
use carillon_chime::hub::{Container, MessageView};
use carillon_chime::sessions::{self, SessionUser};
use carillon_chime::{messages, rooms, Chime};
use carillon_core::time::millis_to_datetime;
use carillon_core::{ApiError, ApiResult};
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// The chat REST routes over `chime`.
pub fn routes(chime: Chime) -> Router {
    Router::new()
        .route("/chat/v1/sign-in", post(sign_in))
        .route("/chat/v1/sign-out", post(sign_out))
        .route("/chat/v1/me", get(me))
        .route(
            "/chat/v1/conversations",
            post(create_conversation).get(list_conversations),
        )
        .route("/chat/v1/conversations/{id}", get(get_conversation))
        .route(
            "/chat/v1/conversations/{id}/members",
            get(conversation_members),
        )
        .route("/chat/v1/rooms", post(create_room).get(list_rooms))
        .route("/chat/v1/rooms/{id}", get(get_room))
        .route(
            "/chat/v1/rooms/{id}/memberships",
            get(room_members).post(add_member),
        )
        .route(
            "/chat/v1/rooms/{id}/memberships/{member}",
            post(set_role).delete(remove_member),
        )
        .route("/chat/v1/rooms/{id}/leave", post(leave))
        .route(
            "/chat/v1/rooms/{id}/messages",
            post(post_message).get(history),
        )
        .route(
            "/chat/v1/conversations/{id}/messages",
            post(post_message).get(history),
        )
        .route(
            "/chat/v1/rooms/{id}/messages/{message}",
            patch(edit_message),
        )
        .route(
            "/chat/v1/conversations/{id}/messages/{message}",
            patch(edit_message),
        )
        .with_state(chime)
}

/// The HTTP status of a model error code.
pub(crate) fn status_of(code: &str) -> StatusCode {
    match code {
        "BadRequestException" | "ResourceLimitExceededException" => StatusCode::BAD_REQUEST,
        "UnauthorizedClientException" => StatusCode::UNAUTHORIZED,
        "ForbiddenException" => StatusCode::FORBIDDEN,
        "NotFoundException" => StatusCode::NOT_FOUND,
        "ConflictException" => StatusCode::CONFLICT,
        "UnprocessableEntityException" => StatusCode::UNPROCESSABLE_ENTITY,
        "ThrottledClientException" => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error as `{"Code","Message"}` with its status.
pub(crate) fn error(err: &ApiError) -> Response {
    (
        status_of(&err.code),
        Json(json!({ "Code": err.code, "Message": err.message })),
    )
        .into_response()
}

type Answer = Result<Response, ApiError>;

/// The bearer token of `Authorization: Bearer <token>`, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn caller(chime: &Chime, headers: &HeaderMap) -> ApiResult<SessionUser> {
    let token = bearer(headers).unwrap_or_default();
    Ok(sessions::authenticate(chime, token).await?)
}

fn body<T: DeserializeOwned>(bytes: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            "BadRequestException",
            format!("The body is not the expected JSON: {e}"),
        )
    })
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds.
pub(crate) fn time(ms: i64) -> String {
    millis_to_datetime(ms)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// `max-results` and `next-token` of a list.
struct Page {
    limit: Option<i32>,
    token: Option<String>,
}

fn page(query: &HashMap<String, String>) -> ApiResult<Page> {
    let limit =
        match query.get("max-results") {
            None => None,
            Some(text) => Some(text.parse::<i32>().map_err(|_| {
                ApiError::new("BadRequestException", "max-results must be an integer")
            })?),
        };
    Ok(Page {
        limit,
        token: query.get("next-token").cloned(),
    })
}

/// A message as clients see it.
pub(crate) fn message_json(message: &MessageView) -> Value {
    let mut out = json!({
        "MessageId": message.message_id,
        "SenderId": message.sender_id,
        "SenderType": message.sender_type,
        "SenderName": message.sender_name,
        "Content": message.content,
        "Redacted": message.content.is_none(),
        "Mentions": message.mentions,
        "CreatedTimestamp": time(message.created_at),
        "LastEditedTimestamp": message.edited_at.map(time),
    });
    let (key, id) = match &message.container {
        Container::Room(id) => ("RoomId", id),
        Container::Conversation(id) => ("ConversationId", id),
    };
    out[key] = json!(id);
    out
}

fn conversation_json(view: &ConversationView) -> Value {
    json!({
        "ConversationId": view.conversation.conversation_id,
        "IsGroup": view.conversation.is_group,
        "CreatedBy": view.conversation.created_by,
        "CreatedTimestamp": time(view.conversation.created_at),
        "Members": view.members.iter().map(|m| json!({
            "UserId": m.user_id,
            "Email": m.email,
            "DisplayName": m.display_name,
        })).collect::<Vec<_>>(),
    })
}

/// The room or conversation a message route names (its pattern says which).
fn container(route: &MatchedPath, id: String) -> Container {
    if route.as_str().starts_with("/chat/v1/rooms/") {
        Container::Room(id)
    } else {
        Container::Conversation(id)
    }
}

fn ok(status: StatusCode, value: Value) -> Answer {
    Ok((status, Json(value)).into_response())
}

/// A page of a list: `{<key>: [...], "NextToken"}`.
fn listed<T: serde::Serialize>(
    key: &str,
    items: impl Iterator<Item = T>,
    next: Option<String>,
) -> Answer {
    let items: Vec<Value> = items.map(|item| json!(item)).collect();
    ok(StatusCode::OK, json!({ key: items, "NextToken": next }))
}

fn no_content() -> Answer {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn flatten(answer: Answer) -> Response {
    answer.unwrap_or_else(|e| error(&e))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SignInBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn sign_in(State(chime): State<Chime>, bytes: Bytes) -> Response {
    flatten(
        async {
            let request: SignInBody = body(&bytes)?;
            let signed = sessions::sign_in(&chime, &request.email, &request.password).await?;
            ok(
                StatusCode::OK,
                json!({
                    "SessionToken": signed.token,
                    "UserId": signed.user.user_id,
                    "AccountId": signed.user.chime_account_id,
                    "Email": signed.user.email,
                    "DisplayName": signed.user.display_name,
                    "ExpiresAt": time(signed.user.expires_at),
                }),
            )
        }
        .await,
    )
}

async fn sign_out(State(chime): State<Chime>, headers: HeaderMap) -> Response {
    flatten(
        async {
            let token = bearer(&headers).unwrap_or_default();
            sessions::sign_out(&chime, token).await?;
            no_content()
        }
        .await,
    )
}

async fn me(State(chime): State<Chime>, headers: HeaderMap) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            ok(
                StatusCode::OK,
                json!({
                    "UserId": user.user_id,
                    "AccountId": user.chime_account_id,
                    "Email": user.email,
                    "DisplayName": user.display_name,
                    "ExpiresAt": time(user.expires_at),
                }),
            )
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MembersBody {
    #[serde(default)]
    members: Vec<String>,
}

async fn create_conversation(
    State(chime): State<Chime>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let request: MembersBody = body(&bytes)?;
            let (view, created) = conversations::create(&chime, &user, &request.members).await?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            ok(status, json!({ "Conversation": conversation_json(&view) }))
        }
        .await,
    )
}

async fn list_conversations(
    State(chime): State<Chime>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let page = page(&query)?;
            let (views, next) =
                conversations::list(&chime, &user, page.limit, page.token.as_deref()).await?;
            listed("Conversations", views.iter().map(conversation_json), next)
        }
        .await,
    )
}

async fn get_conversation(
    State(chime): State<Chime>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let view = conversations::get(&chime, &user, &id).await?;
            ok(
                StatusCode::OK,
                json!({ "Conversation": conversation_json(&view) }),
            )
        }
        .await,
    )
}

async fn conversation_members(
    State(chime): State<Chime>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let view = conversations::get(&chime, &user, &id).await?;
            let conversation = conversation_json(&view);
            ok(
                StatusCode::OK,
                json!({ "Members": conversation["Members"] }),
            )
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoomBody {
    #[serde(default)]
    name: String,
}

async fn create_room(State(chime): State<Chime>, headers: HeaderMap, bytes: Bytes) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let request: RoomBody = body(&bytes)?;
            let room = rooms::create_for_user(&chime, &user, request.name).await?;
            ok(
                StatusCode::CREATED,
                json!({ "Room": rooms::room_shape(&room) }),
            )
        }
        .await,
    )
}

async fn list_rooms(
    State(chime): State<Chime>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let page = page(&query)?;
            let (found, next) =
                rooms::rooms_of_user(&chime, &user, page.limit, page.token.as_deref()).await?;
            listed("Rooms", found.iter().map(rooms::room_shape), next)
        }
        .await,
    )
}

async fn get_room(
    State(chime): State<Chime>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let room = rooms::room_for_user(&chime, &user, &id).await?;
            ok(StatusCode::OK, json!({ "Room": rooms::room_shape(&room) }))
        }
        .await,
    )
}

async fn room_members(
    State(chime): State<Chime>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let page = page(&query)?;
            let (members, next) =
                rooms::members_for_user(&chime, &user, &id, page.limit, page.token.as_deref())
                    .await?;
            listed(
                "RoomMemberships",
                members.iter().map(rooms::membership_shape),
                next,
            )
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MembershipBody {
    #[serde(default)]
    member_id: String,
    role: Option<String>,
}

async fn add_member(
    State(chime): State<Chime>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let request: MembershipBody = body(&bytes)?;
            let added = rooms::add_member_by_user(
                &chime,
                &user,
                &id,
                &request.member_id,
                request.role.as_deref(),
            )
            .await?;
            ok(
                StatusCode::CREATED,
                json!({ "RoomMembership": rooms::membership_shape(&added) }),
            )
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleBody {
    #[serde(default)]
    role: String,
}

async fn set_role(
    State(chime): State<Chime>,
    headers: HeaderMap,
    Path((id, member)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let request: RoleBody = body(&bytes)?;
            let updated =
                rooms::set_role_by_user(&chime, &user, &id, &member, &request.role).await?;
            ok(
                StatusCode::OK,
                json!({ "RoomMembership": rooms::membership_shape(&updated) }),
            )
        }
        .await,
    )
}

async fn remove_member(
    State(chime): State<Chime>,
    headers: HeaderMap,
    Path((id, member)): Path<(String, String)>,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            rooms::remove_member_by_user(&chime, &user, &id, &member).await?;
            no_content()
        }
        .await,
    )
}

async fn leave(State(chime): State<Chime>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            rooms::remove_member_by_user(&chime, &user, &id, &user.user_id).await?;
            no_content()
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContentBody {
    #[serde(default)]
    content: String,
}

async fn post_message(
    State(chime): State<Chime>,
    headers: HeaderMap,
    route: MatchedPath,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let target = container(&route, id);
            let request: ContentBody = body(&bytes)?;
            let message = messages::post_as_user(&chime, &user, target, request.content).await?;
            ok(
                StatusCode::CREATED,
                json!({ "Message": message_json(&message) }),
            )
        }
        .await,
    )
}

async fn history(
    State(chime): State<Chime>,
    headers: HeaderMap,
    route: MatchedPath,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let target = container(&route, id);
            let page = page(&query)?;
            let found =
                messages::history(&chime, &user, target, page.limit, page.token.as_deref()).await?;
            listed(
                "Messages",
                found.messages.iter().map(message_json),
                found.next_token,
            )
        }
        .await,
    )
}

async fn edit_message(
    State(chime): State<Chime>,
    headers: HeaderMap,
    route: MatchedPath,
    Path((id, message_id)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    flatten(
        async {
            let user = caller(&chime, &headers).await?;
            let target = container(&route, id);
            let request: ContentBody = body(&bytes)?;
            let message =
                messages::edit(&chime, &user, target, &message_id, request.content).await?;
            ok(StatusCode::OK, json!({ "Message": message_json(&message) }))
        }
        .await,
    )
}
