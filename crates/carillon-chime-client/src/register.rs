//! Registration from an invitation or sign-up link: `GET /chat/v1/register?token=…`
//! answers a small HTML form; `POST /chat/v1/register` registers, from JSON
//! `{"Token","Password","DisplayName"}` (answered in JSON) or from the form
//! (`application/x-www-form-urlencoded` with `token`, `password`, `display_name`, answered
//! in HTML). Self sign-up: `GET /chat/v1/sign-up` answers a form; `POST /chat/v1/sign-up`
//! with JSON `{"Email"}` (202 `{"Email","Status":"Sent"}`) or the form (`email`) mails the
//! address a registration link. The rules are `carillon_chime::users::register`'s and
//! `sign_up`'s. Spec: chime-zh.md §1.3, §2.12.
//!
//! Status codes: 200 registered; 202 sign-up link sent; 400 blank or already used or
//! expired link, weak password (under 8 characters), bad display name or address,
//! unreadable body; 404 unknown link; 403 suspended user; 409 address already registered;
//! 415 another content type; 500 store or mail failure. The password is never logged.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use carillon_chime::users::{html_escape, invited_email, register, sign_up};
use carillon_chime::Chime;
use carillon_core::ApiError;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

/// The registration path.
pub const PATH: &str = "/chat/v1/register";
/// The sign-up path.
pub const SIGN_UP_PATH: &str = "/chat/v1/sign-up";

/// The registration and sign-up routes over `chime`.
pub fn routes(chime: Chime) -> Router {
    Router::new()
        .route(PATH, get(form).post(submit))
        .route(SIGN_UP_PATH, get(sign_up_form).post(sign_up_submit))
        .with_state(chime)
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The JSON body of a registration.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterBody {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    display_name: String,
}

fn status_of(err: &ApiError) -> StatusCode {
    match err.code.as_ref() {
        "NotFoundException" => StatusCode::NOT_FOUND,
        "ForbiddenException" => StatusCode::FORBIDDEN,
        "ConflictException" => StatusCode::CONFLICT,
        "BadRequestException" => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>{body}</body></html>",
        title = html_escape(title)
    );
    (status, Html(html)).into_response()
}

fn error_page(err: &ApiError) -> Response {
    page(
        status_of(err),
        "Registration failed",
        &format!("<p>{}</p>", html_escape(&err.message)),
    )
}

fn json_error(err: &ApiError) -> Response {
    (
        status_of(err),
        Json(serde_json::json!({ "Code": err.code, "Message": err.message })),
    )
        .into_response()
}

/// `GET /chat/v1/register?token=…`: the form for a link that can still register.
async fn form(State(chime): State<Chime>, Query(query): Query<TokenQuery>) -> Response {
    let token = query.token.unwrap_or_default();
    let email = match invited_email(&chime, &token).await {
        Ok(email) => email,
        Err(e) => return error_page(&e),
    };
    let body = format!(
        "<p>Register {email} with Amazon Chime on Carillon.</p>\
         <form method=\"post\" action=\"{PATH}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <p><label>Display name <input name=\"display_name\" required maxlength=\"100\"></label></p>\
         <p><label>Password (at least 8 characters) \
         <input type=\"password\" name=\"password\" required minlength=\"8\"></label></p>\
         <p><button type=\"submit\">Register</button></p></form>",
        email = html_escape(&email),
        token = html_escape(&token),
    );
    page(StatusCode::OK, "Amazon Chime registration", &body)
}

/// `POST /chat/v1/register`: JSON or form.
async fn submit(State(chime): State<Chime>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = content_type(&headers);
    if content_type.starts_with("application/json") {
        let Ok(input) = serde_json::from_slice::<RegisterBody>(&body) else {
            return json_error(&ApiError::new(
                "BadRequestException",
                "The body must be a JSON object with Token, Password and DisplayName",
            ));
        };
        return match register(&chime, &input.token, &input.password, &input.display_name).await {
            Ok(done) => Json(serde_json::json!({
                "UserId": done.user_id,
                "Email": done.email,
                "AccountId": done.chime_account_id,
                "AccountName": done.account_name,
                "LicenseType": done.license_type,
                "UserRegistrationStatus": "Registered",
            }))
            .into_response(),
            Err(e) => json_error(&e),
        };
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let (mut token, mut password, mut display_name) =
            (String::new(), String::new(), String::new());
        for (key, value) in url::form_urlencoded::parse(&body) {
            match key.as_ref() {
                "token" => token = value.into_owned(),
                "password" => password = value.into_owned(),
                "display_name" => display_name = value.into_owned(),
                _ => {}
            }
        }
        return match register(&chime, &token, &password, &display_name).await {
            Ok(done) => {
                let joined = match &done.account_name {
                    Some(name) => format!("with the Amazon Chime account {}", html_escape(name)),
                    None => "with Amazon Chime".to_string(),
                };
                page(
                    StatusCode::OK,
                    "Registered",
                    &format!(
                        "<p>{} is registered {joined}. You can sign in now.</p>",
                        html_escape(&done.email)
                    ),
                )
            }
            Err(e) => error_page(&e),
        };
    }
    unsupported()
}

/// The request's lower-cased `Content-Type`.
fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn unsupported() -> Response {
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Json(serde_json::json!({
            "Code": "UnsupportedMediaType",
            "Message": "Send application/json or application/x-www-form-urlencoded",
        })),
    )
        .into_response()
}

/// `GET /chat/v1/sign-up`: the sign-up form.
async fn sign_up_form() -> Response {
    let body = format!(
        "<form method=\"post\" action=\"{SIGN_UP_PATH}\">\
         <p><label>Email address <input type=\"email\" name=\"email\" required></label></p>\
         <p><button type=\"submit\">Send me a registration link</button></p></form>"
    );
    page(StatusCode::OK, "Create an Amazon Chime account", &body)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SignUpBody {
    #[serde(default)]
    email: String,
}

/// `POST /chat/v1/sign-up`: JSON or form.
async fn sign_up_submit(State(chime): State<Chime>, headers: HeaderMap, body: Bytes) -> Response {
    let (json, email) = match content_type(&headers).as_str() {
        t if t.starts_with("application/json") => {
            match serde_json::from_slice::<SignUpBody>(&body) {
                Ok(input) => (true, input.email),
                Err(_) => {
                    return json_error(&ApiError::new(
                        "BadRequestException",
                        "The body must be a JSON object with Email",
                    ))
                }
            }
        }
        t if t.starts_with("application/x-www-form-urlencoded") => (
            false,
            url::form_urlencoded::parse(&body)
                .find(|(key, _)| key == "email")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default(),
        ),
        _ => return unsupported(),
    };
    match (sign_up(&chime, &email).await, json) {
        (Ok(()), true) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "Email": email.to_lowercase(), "Status": "Sent" })),
        )
            .into_response(),
        (Ok(()), false) => page(
            StatusCode::ACCEPTED,
            "Check your email",
            &format!(
                "<p>A registration link is on its way to {}.</p>",
                html_escape(&email)
            ),
        ),
        (Err(e), true) => json_error(&e),
        (Err(e), false) => error_page(&e),
    }
}
