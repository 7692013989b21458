//! Incoming webhooks of chat rooms, as operations of Carillon's admin API (the original
//! offered them only in its client): `CreateWebhook`, `ListWebhooks`,
//! `RegenerateWebhookUrl` and `DeleteWebhook` under
//! `/carillon/v1/chime/accounts/{AccountId}/rooms/{RoomId}/webhooks…`, IAM actions
//! `chime:<Operation>` on resource `*` (Chime policies name no resources, §1.21); and the
//! posts made to a webhook's URL. Spec: chime-zh.md §1.18, §3.3.
//!
//! A webhook belongs to one room (at most [`MAX_WEBHOOKS_PER_ROOM`]) and is a member of it
//! (type `Webhook`); its messages show as "<name> (Webhook)". Its URL is
//! `<public_url>/incomingwebhooks/<url id>?token=<token>`; the token is shown by
//! CreateWebhook and RegenerateWebhookUrl only (the store keeps its SHA-256). Regenerating
//! replaces the URL ID, so the old URL answers 404 like a deleted webhook's, whereas a
//! known URL with a wrong token answers 403. A post (`{"Content": …}`, Markdown and
//! mentions) is limited to 1 per second per webhook (429, shared by every node through the
//! store), 4 KB (413), and `@All`/`@Present` only in rooms of at most 50 users (400).
//! Bots post to their reply URLs through the same checks ([`crate::bots::post_as_bot`]).

use carillon_adminapi::{CarillonOperation, ErrorSpec, OperationSpec, Registry};
use carillon_core::time::{millis_to_datetime, now_millis};
use carillon_core::{ApiResult, RequestContext};
use carillon_store::chime::bots::{WebhookCreation, WebhookRecord};
use carillon_store::StoreError;
use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::errors::{answer, bad_request, codes, error, Result};
use crate::hub::{ChatEvent, Container, MembershipChange, MessageView};
use crate::messages::{self, NewPost};
use crate::Chime;

/// Most webhooks a room may have (§1.18).
pub const MAX_WEBHOOKS_PER_ROOM: i64 = 10;
/// Largest `Content` in bytes (§3.3: a message over 4 KB is refused with 413).
pub const MAX_CONTENT_BYTES: usize = messages::MAX_CONTENT_BYTES;
/// Rooms with more users than this refuse `@All`/`@Present` from a webhook (§3.3).
pub const MAX_ROOM_USERS_FOR_EVERYONE: i64 = 50;
/// The least time between two accepted posts of one webhook (§3.3: 1 request/s), in ms.
pub const MIN_POST_INTERVAL_MS: i64 = 1000;
/// Longest webhook `Name`.
pub const MAX_NAME: usize = 100;
/// Default and largest `MaxResults` of ListWebhooks.
const MAX_PAGE: i64 = 99;
/// Largest request body read before the JSON is parsed (the `Content` wrapper and JSON
/// escapes around 4 KB of content).
pub const MAX_BODY_BYTES: usize = 4 * MAX_CONTENT_BYTES;

const COLLECTION: &str = "/carillon/v1/chime/accounts/{AccountId}/rooms/{RoomId}/webhooks";
const ITEM: &str = "/carillon/v1/chime/accounts/{AccountId}/rooms/{RoomId}/webhooks/{WebhookId}";
const URL_PATH: &str =
    "/carillon/v1/chime/accounts/{AccountId}/rooms/{RoomId}/webhooks/{WebhookId}/url";

const NOT_FOUND: ErrorSpec = ErrorSpec {
    code: codes::NOT_FOUND,
    status: 404,
    doc: "No such Chime account, room or webhook in the caller's account.",
};
const BAD_REQUEST: ErrorSpec = ErrorSpec {
    code: codes::BAD_REQUEST,
    status: 400,
    doc: "A member is not valid (the message names it).",
};
const LIMIT: ErrorSpec = ErrorSpec {
    code: codes::RESOURCE_LIMIT,
    status: 400,
    doc: "The room already has 10 webhooks.",
};

/// Why a post to a webhook or bot reply URL is refused, with its HTTP status (§3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncomingError {
    /// 403: the URL is malformed, its token is wrong, or the bot is disabled.
    Invalid,
    /// 404: the URL was regenerated or its webhook deleted, a reply URL expired, or the bot
    /// or webhook is no longer in the room.
    Gone,
    /// 413: the content is over 4 KB.
    TooLarge,
    /// 400: the body is not `{"Content": "<text>"}` or the content is not acceptable.
    BadBody(String),
    /// 400: `@All`/`@Present` in a room of more than 50 users.
    EveryoneInLargeRoom,
    /// 429: more than 1 request per second to this webhook.
    Throttled,
    /// 503: the store failed (detail in the server log).
    Unavailable,
}

impl IncomingError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            IncomingError::Invalid => 403,
            IncomingError::Gone => 404,
            IncomingError::TooLarge => 413,
            IncomingError::BadBody(_) | IncomingError::EveryoneInLargeRoom => 400,
            IncomingError::Throttled => 429,
            IncomingError::Unavailable => 503,
        }
    }

    /// A human-readable reason for the response body.
    pub fn message(&self) -> String {
        match self {
            IncomingError::Invalid => "The URL is not a valid webhook URL".to_string(),
            IncomingError::Gone => {
                "The URL is no longer valid (regenerated, deleted or expired)".to_string()
            }
            IncomingError::TooLarge => {
                format!("The message is larger than {MAX_CONTENT_BYTES} bytes")
            }
            IncomingError::BadBody(why) => why.clone(),
            IncomingError::EveryoneInLargeRoom => format!(
                "@All and @Present cannot be used in rooms of more than \
                 {MAX_ROOM_USERS_FOR_EVERYONE} members"
            ),
            IncomingError::Throttled => {
                "At most one request per second may be sent to a webhook".to_string()
            }
            IncomingError::Unavailable => "The service is unavailable".to_string(),
        }
    }

    /// A store failure: logged, answered as 503.
    pub(crate) fn store(e: StoreError) -> IncomingError {
        tracing::error!(error = %e, "Chime incoming post store failure");
        IncomingError::Unavailable
    }
}

/// The `Content` of an incoming post's `body` for room `room_id` of tenant `account_id`:
/// a JSON object whose only member is the string `Content`, non-blank, at most 4 KB, and
/// with `@All`/`@Present` only if the room has at most 50 users.
///
/// Errors: `TooLarge`, `BadBody`, `EveryoneInLargeRoom`, `Unavailable`.
pub(crate) async fn incoming_content(
    chime: &Chime,
    account_id: &str,
    room_id: &str,
    body: &[u8],
) -> Result<String, IncomingError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(IncomingError::TooLarge);
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(rename = "Content")]
        content: String,
    }
    let parsed: Body = serde_json::from_slice(body).map_err(|_| {
        IncomingError::BadBody(
            "The body must be a JSON object with the single string member Content".to_string(),
        )
    })?;
    if parsed.content.len() > MAX_CONTENT_BYTES {
        return Err(IncomingError::TooLarge);
    }
    if parsed.content.trim().is_empty() {
        return Err(IncomingError::BadBody(
            "Content must not be empty".to_string(),
        ));
    }
    if crate::mentions::mentions_everyone(&parsed.content) {
        let users = chime
            .store
            .chime_room_user_count(account_id, room_id)
            .await
            .map_err(IncomingError::store)?;
        if users > MAX_ROOM_USERS_FOR_EVERYONE {
            return Err(IncomingError::EveryoneInLargeRoom);
        }
    }
    Ok(parsed.content)
}

/// Posts `content` to room `room_id` as the member `sender_id` of `sender_type` (`Bot` or
/// `Webhook`) shown as `sender_name`, through [`messages::post`].
///
/// Errors: `Gone` when the room or the membership is gone; `BadBody` for content the chat
/// rules refuse; `Unavailable` otherwise.
pub(crate) async fn post(
    chime: &Chime,
    room_id: &str,
    sender_id: &str,
    sender_type: &str,
    sender_name: &str,
    content: String,
) -> Result<MessageView, IncomingError> {
    messages::post(
        chime,
        NewPost {
            container: Container::Room(room_id.to_string()),
            sender_id: sender_id.to_string(),
            sender_type: sender_type.to_string(),
            sender_name: sender_name.to_string(),
            content,
        },
    )
    .await
    .map_err(|e| match e.code.as_ref() {
        codes::NOT_FOUND | codes::FORBIDDEN => IncomingError::Gone,
        codes::BAD_REQUEST => IncomingError::BadBody(e.message.clone()),
        _ => IncomingError::Unavailable,
    })
}

/// A post to a webhook URL (`/incomingwebhooks/<url_id>?token=<token>`): checks the URL
/// (403 malformed or wrong token, 404 unknown: regenerated or deleted), the body
/// ([`incoming_content`]) and the 1 request/s limit (429), then posts the content to the
/// webhook's room as "<name> (Webhook)". Spec: chime-zh.md §3.3.
///
/// Errors: the [`IncomingError`] to answer with.
pub async fn post_to_webhook(
    chime: &Chime,
    url_id: &str,
    token: Option<&str>,
    body: &[u8],
) -> Result<MessageView, IncomingError> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(IncomingError::Invalid)?;
    if uuid_shape(url_id).is_none() {
        return Err(IncomingError::Invalid);
    }
    let webhook = chime
        .store
        .chime_webhook_by_url(url_id)
        .await
        .map_err(IncomingError::store)?
        .ok_or(IncomingError::Gone)?;
    if token_hash(token) != webhook.token_hash {
        return Err(IncomingError::Invalid);
    }
    let content = incoming_content(chime, &webhook.account_id, &webhook.room_id, body).await?;
    let slot = chime
        .store
        .take_chime_webhook_slot(&webhook.webhook_id, now_millis(), MIN_POST_INTERVAL_MS)
        .await
        .map_err(IncomingError::store)?;
    if !slot {
        return Err(IncomingError::Throttled);
    }
    post(
        chime,
        &webhook.room_id,
        &webhook.webhook_id,
        "Webhook",
        &format!("{} (Webhook)", webhook.name),
        content,
    )
    .await
}

/// `Some(())` when `s` looks like a UUID (8-4-4-4-12 hexadecimal digits).
fn uuid_shape(s: &str) -> Option<()> {
    let parts: Vec<&str> = s.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    (parts.len() == 5
        && parts
            .iter()
            .zip(lengths)
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit())))
    .then_some(())
}

/// SHA-256 (hex) of a URL token, what the store keeps.
fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A fresh URL ID and token with the token's hash.
fn new_url() -> (String, String, String) {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (carillon_core::ids::new_uuid(), token, hash)
}

fn webhook_url(chime: &Chime, url_id: &str, token: &str) -> String {
    format!(
        "{}/incomingwebhooks/{url_id}?token={token}",
        chime.config.public_url
    )
}

/// Adds the webhook operations over `chime` to `registry`.
pub fn register(registry: &mut Registry, chime: &Chime) {
    registry
        .register(CreateWebhook(chime.clone()))
        .register(ListWebhooks(chime.clone()))
        .register(RegenerateWebhookUrl(chime.clone()))
        .register(DeleteWebhook(chime.clone()));
}

/// An incoming webhook as the admin API shows it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Webhook {
    /// The webhook ID (UUID), its member ID in the room.
    pub webhook_id: String,
    /// Its room.
    pub room_id: String,
    /// Its name; messages show "<Name> (Webhook)".
    pub name: String,
    /// The URL to POST `{"Content": …}` to, with its token: returned by CreateWebhook and
    /// RegenerateWebhookUrl only (Carillon keeps only a hash of the token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Creation, RFC 3339.
    pub created_timestamp: String,
    /// Last change (URL regenerated), RFC 3339.
    pub updated_timestamp: String,
}

fn rfc3339(millis: i64) -> String {
    millis_to_datetime(millis).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn shape(record: &WebhookRecord, url: Option<String>) -> Webhook {
    Webhook {
        webhook_id: record.webhook_id.clone(),
        room_id: record.room_id.clone(),
        name: record.name.clone(),
        url,
        created_timestamp: rfc3339(record.created_at),
        updated_timestamp: rfc3339(record.updated_at),
    }
}

/// Output of CreateWebhook and RegenerateWebhookUrl.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct WebhookOutput {
    /// The webhook, with its URL.
    pub webhook: Webhook,
}

/// Input of CreateWebhook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateWebhookInput {
    /// The Chime account.
    #[schemars(length(min = 1))]
    pub account_id: String,
    /// The room.
    #[schemars(length(min = 1))]
    pub room_id: String,
    /// The name shown with its messages (1–100 characters).
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
}

/// The tenant's live account's room `room_id`.
///
/// Errors: `NotFoundException` for an unknown account or room; `BadRequestException`
/// naming `AccountId`.
async fn room_account(
    chime: &Chime,
    ctx: &RequestContext,
    account: &str,
    room_id: &str,
) -> Result<String> {
    let account = chime.live_account(ctx, account).await?;
    let owned = chime
        .store
        .chat_room_any(room_id)
        .await?
        .is_some_and(|room| {
            room.account_id == ctx.account_id && room.chime_account_id == account.chime_account_id
        });
    if !owned {
        return Err(error(
            codes::NOT_FOUND,
            format!("Room {room_id} was not found"),
        ));
    }
    Ok(account.chime_account_id)
}

/// CreateWebhook: a new webhook of the room, a member of it, with its URL.
pub struct CreateWebhook(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for CreateWebhook {
    type Input = CreateWebhookInput;
    type Output = WebhookOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "CreateWebhook",
            method: Method::POST,
            path: COLLECTION,
            action: "chime:CreateWebhook",
            resource: "*",
            summary: "Creates an incoming webhook of a chat room and returns its URL.",
            docs: "The webhook joins the room as a member of type Webhook; POST {\"Content\": …} to its Url to post Markdown (with @mentions) shown as '<Name> (Webhook)'. At most 10 per room. The Url (with its token) is shown only here and by RegenerateWebhookUrl. Posts: 1 request/s (429), ≤ 4 KB (413), @All/@Present only in rooms of ≤ 50 members (400), regenerated or deleted URL 404, invalid 403. Spec: chime-zh.md §1.18, §3.3.",
            errors: &[NOT_FOUND, BAD_REQUEST, LIMIT],
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: CreateWebhookInput,
    ) -> ApiResult<WebhookOutput> {
        answer(async move {
            let chime = &self.0;
            let name = input.name.trim();
            if name.is_empty()
                || name.chars().count() > MAX_NAME
                || name.chars().any(char::is_control)
            {
                return Err(bad_request(format!(
                    "Name must be 1 to {MAX_NAME} characters, without control characters"
                )));
            }
            let chime_account_id =
                room_account(chime, ctx, &input.account_id, &input.room_id).await?;
            let (url_id, token, token_hash) = new_url();
            let now = now_millis();
            let record = WebhookRecord {
                webhook_id: carillon_core::ids::new_uuid(),
                account_id: ctx.account_id.clone(),
                chime_account_id: chime_account_id.clone(),
                room_id: input.room_id.clone(),
                name: name.to_string(),
                url_id,
                token_hash,
                created_at: now,
                updated_at: now,
            };
            match chime
                .store
                .create_chime_webhook(&record, MAX_WEBHOOKS_PER_ROOM)
                .await?
            {
                WebhookCreation::Created => {}
                WebhookCreation::LimitReached => {
                    return Err(error(
                        codes::RESOURCE_LIMIT,
                        format!(
                        "Room {} already has {MAX_WEBHOOKS_PER_ROOM} webhooks, the most allowed",
                        record.room_id
                    ),
                    ))
                }
                WebhookCreation::RoomGone => {
                    return Err(error(
                        codes::NOT_FOUND,
                        format!("Room {} was not found", record.room_id),
                    ))
                }
            }
            publish_membership(chime, &record, MembershipChange::Added).await;
            let url = webhook_url(chime, &record.url_id, &token);
            Ok(WebhookOutput {
                webhook: shape(&record, Some(url)),
            })
        })
        .await
    }
}

/// Tells the room's members a webhook joined or left (after the change is stored).
async fn publish_membership(chime: &Chime, record: &WebhookRecord, change: MembershipChange) {
    let mut audience = match chime
        .store
        .list_room_memberships(&record.room_id, "", None)
        .await
    {
        Ok(members) => members.into_iter().map(|m| m.member_id).collect(),
        Err(e) => {
            tracing::error!(error = %e, "room members for a webhook membership event");
            Vec::new()
        }
    };
    if change == MembershipChange::Removed {
        audience.push(record.webhook_id.clone());
    }
    chime.hub.publish(ChatEvent::Membership {
        account_id: record.account_id.clone(),
        chime_account_id: record.chime_account_id.clone(),
        room_id: record.room_id.clone(),
        member_id: record.webhook_id.clone(),
        member_type: "Webhook".to_string(),
        role: "Member".to_string(),
        change,
        actor: None,
        audience,
    });
}

/// Input of ListWebhooks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListWebhooksInput {
    /// The Chime account.
    #[schemars(length(min = 1))]
    pub account_id: String,
    /// The room.
    #[schemars(length(min = 1))]
    pub room_id: String,
    /// Page size, 1–99 (default 99).
    #[schemars(range(min = 1, max = 99))]
    pub max_results: Option<i32>,
    /// The previous page's `NextToken`.
    pub next_token: Option<String>,
}

/// Output of ListWebhooks.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ListWebhooksOutput {
    /// The room's webhooks by ID, without URLs.
    pub webhooks: Vec<Webhook>,
    /// Resumes after this page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListWebhooks: the room's webhooks.
pub struct ListWebhooks(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for ListWebhooks {
    type Input = ListWebhooksInput;
    type Output = ListWebhooksOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "ListWebhooks",
            method: Method::GET,
            path: COLLECTION,
            action: "chime:ListWebhooks",
            resource: "*",
            summary: "Lists the incoming webhooks of a chat room.",
            docs: "Webhooks by ID, without their URLs (regenerate one to get a new URL). MaxResults 1–99, NextToken from the previous page. Spec: chime-zh.md §1.18.",
            errors: &[NOT_FOUND, BAD_REQUEST],
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: ListWebhooksInput,
    ) -> ApiResult<ListWebhooksOutput> {
        answer(async move {
            let chime = &self.0;
            let chime_account_id =
                room_account(chime, ctx, &input.account_id, &input.room_id).await?;
            let scope = format!("ListWebhooks\0{}\0{}", ctx.account_id, input.room_id);
            let limit = crate::paging::page_size(input.max_results, MAX_PAGE, MAX_PAGE)?;
            let after = chime.resume_after(&scope, input.next_token.as_deref())?;
            let mut webhooks = chime
                .store
                .list_chime_webhooks(
                    &ctx.account_id,
                    &chime_account_id,
                    &input.room_id,
                    after.as_deref(),
                    limit + 1,
                )
                .await?;
            let next_token = chime.next_page(&scope, &mut webhooks, limit, |w| &w.webhook_id);
            Ok(ListWebhooksOutput {
                webhooks: webhooks.iter().map(|w| shape(w, None)).collect(),
                next_token,
            })
        })
        .await
    }
}

/// Input of RegenerateWebhookUrl and DeleteWebhook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct WebhookInput {
    /// The Chime account.
    #[schemars(length(min = 1))]
    pub account_id: String,
    /// The room.
    #[schemars(length(min = 1))]
    pub room_id: String,
    /// The webhook.
    #[schemars(length(min = 1))]
    pub webhook_id: String,
}

/// The tenant's webhook named by `input`.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId`.
async fn find_webhook(
    chime: &Chime,
    ctx: &RequestContext,
    input: &WebhookInput,
) -> Result<WebhookRecord> {
    let chime_account_id = room_account(chime, ctx, &input.account_id, &input.room_id).await?;
    chime
        .store
        .chime_webhook(
            &ctx.account_id,
            &chime_account_id,
            &input.room_id,
            &input.webhook_id,
        )
        .await?
        .ok_or_else(|| {
            error(
                codes::NOT_FOUND,
                format!("Webhook {} was not found", input.webhook_id),
            )
        })
}

/// RegenerateWebhookUrl: a new URL for the webhook; the old one answers 404 from now on.
pub struct RegenerateWebhookUrl(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for RegenerateWebhookUrl {
    type Input = WebhookInput;
    type Output = WebhookOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "RegenerateWebhookUrl",
            method: Method::POST,
            path: URL_PATH,
            action: "chime:RegenerateWebhookUrl",
            resource: "*",
            summary: "Gives an incoming webhook a new URL; the old URL stops at once (404).",
            docs: "Returns the webhook with its new Url. Spec: chime-zh.md §1.18, §3.3.",
            errors: &[NOT_FOUND, BAD_REQUEST],
        }
    }

    async fn call(&self, ctx: &RequestContext, input: WebhookInput) -> ApiResult<WebhookOutput> {
        answer(async move {
            let chime = &self.0;
            let mut record = find_webhook(chime, ctx, &input).await?;
            let (url_id, token, token_hash) = new_url();
            record.url_id = url_id;
            record.token_hash = token_hash;
            record.updated_at = now_millis();
            if !chime.store.regenerate_chime_webhook_url(&record).await? {
                return Err(error(
                    codes::NOT_FOUND,
                    format!("Webhook {} was not found", input.webhook_id),
                ));
            }
            let url = webhook_url(chime, &record.url_id, &token);
            Ok(WebhookOutput {
                webhook: shape(&record, Some(url)),
            })
        })
        .await
    }
}

/// The empty output of DeleteWebhook.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EmptyOutput {}

/// DeleteWebhook: removes the webhook from its room; its URL answers 404 from now on.
pub struct DeleteWebhook(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for DeleteWebhook {
    type Input = WebhookInput;
    type Output = EmptyOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "DeleteWebhook",
            method: Method::DELETE,
            path: ITEM,
            action: "chime:DeleteWebhook",
            resource: "*",
            summary: "Deletes an incoming webhook; its URL answers 404 from now on.",
            docs: "The webhook leaves the room's members; its messages stay. Spec: chime-zh.md §1.18, §3.3.",
            errors: &[NOT_FOUND, BAD_REQUEST],
        }
    }

    async fn call(&self, ctx: &RequestContext, input: WebhookInput) -> ApiResult<EmptyOutput> {
        answer(async move {
            let chime = &self.0;
            let record = find_webhook(chime, ctx, &input).await?;
            let deleted = chime
                .store
                .delete_chime_webhook(
                    &ctx.account_id,
                    &record.chime_account_id,
                    &record.room_id,
                    &record.webhook_id,
                )
                .await?;
            if !deleted {
                return Err(error(
                    codes::NOT_FOUND,
                    format!("Webhook {} was not found", input.webhook_id),
                ));
            }
            publish_membership(chime, &record, MembershipChange::Removed).await;
            Ok(EmptyOutput {})
        })
        .await
    }
}
