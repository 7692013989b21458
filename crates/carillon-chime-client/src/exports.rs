//! Client routes of the transition guide's exports and the personal contacts behind one of
//! them, for signed-in users (`Authorization: Bearer <SessionToken>`). Spec: chime-ko.md
//! §2.0.6, §2.0.7.
//!
//! - `GET /chat/v1/rooms/{id}/members/export`: a room administrator's member list,
//!   `text/csv` `name,email,role`, saved as `<room name> members.csv`.
//! - `GET /chat/v1/contacts`: `{"Contacts":[{"UserId","DisplayName","Email","PhoneNumber"}]}`;
//!   `POST /chat/v1/contacts` `{"Email"}` adds one (at most 100) and answers the list;
//!   `DELETE /chat/v1/contacts/{userId}` removes one (204).
//! - `GET /chat/v1/contacts/export`: `text/csv` `name,email,phone_number`, saved as
//!   `contacts.csv`.
//!
//! Errors answer `{"Code","Message"}` with the chat API's statuses.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use carillon_chime::sessions::{self, SessionUser};
use carillon_chime::{exports, Chime};
use carillon_core::ApiError;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::chat::{bearer, error};

/// The export and contact routes over `chime`.
pub fn routes(chime: Chime) -> Router {
    Router::new()
        .route("/chat/v1/rooms/{id}/members/export", get(members_export))
        .route("/chat/v1/contacts", get(list).post(add))
        .route("/chat/v1/contacts/export", get(contacts_export))
        .route("/chat/v1/contacts/{user_id}", delete(remove))
        .with_state(chime)
}

async fn caller(chime: &Chime, headers: &HeaderMap) -> Result<SessionUser, Response> {
    sessions::authenticate(chime, bearer(headers).unwrap_or_default())
        .await
        .map_err(|e| error(&e))
}

/// A CSV download named `filename` (characters other than letters, digits, spaces, `-`,
/// `_` and `.` dropped, so the header needs no escaping).
fn csv_download(filename: &str, body: String) -> Response {
    let safe: String = filename
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
        .collect();
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

async fn members_export(
    State(chime): State<Chime>,
    headers: HeaderMap,
    Path(room_id): Path<String>,
) -> Response {
    let user = match caller(&chime, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match exports::room_members_csv(&chime, &user, &room_id).await {
        Ok((name, csv)) => csv_download(&format!("{name} members.csv"), csv),
        Err(e) => error(&e),
    }
}

async fn contacts_export(State(chime): State<Chime>, headers: HeaderMap) -> Response {
    let user = match caller(&chime, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match exports::contacts_csv(&chime, &user).await {
        Ok(csv) => csv_download("contacts.csv", csv),
        Err(e) => error(&e),
    }
}

async fn list(State(chime): State<Chime>, headers: HeaderMap) -> Response {
    let user = match caller(&chime, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match exports::contacts(&chime, &user).await {
        Ok(contacts) => Json(json!({ "Contacts": contacts })).into_response(),
        Err(e) => error(&e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AddContact {
    email: String,
}

async fn add(State(chime): State<Chime>, headers: HeaderMap, body: Bytes) -> Response {
    let user = match caller(&chime, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let input: AddContact = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(e) => {
            return error(&ApiError::new(
                "BadRequestException",
                format!("The body must be {{\"Email\": …}}: {e}"),
            ))
        }
    };
    match exports::add_contact(&chime, &user, &input.email).await {
        Ok(contacts) => Json(json!({ "Contacts": contacts })).into_response(),
        Err(e) => error(&e),
    }
}

async fn remove(
    State(chime): State<Chime>,
    headers: HeaderMap,
    Path(contact): Path<String>,
) -> Response {
    let user = match caller(&chime, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match exports::remove_contact(&chime, &user, &contact).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(&e),
    }
}
