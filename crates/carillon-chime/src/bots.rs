//! Chat bots and their events configuration: CreateBot, GetBot, ListBots, UpdateBot,
//! RegenerateSecurityToken, Put/Get/DeleteEventsConfiguration. Spec: chime-zh.md §1.16, §1.17,
//! §2.18, §3.2.
//!
//! A bot belongs to an Enterprise Chime account (at most [`MAX_BOTS`]); its email is
//! `<DisplayName>-chimebot@<domain>` on a verified claimed domain of the account. Its
//! `SecurityToken` (the HMAC key of every request Carillon makes to the bot, and of the reply
//! URLs the bot posts to) is sealed at rest under the tenant's default KMS key, bound to the
//! bot ID; it is returned by CreateBot, GetBot and RegenerateSecurityToken and never logged.
//! Bots cannot be deleted, only disabled. Carillon runs no Lambda functions: the only
//! events configuration is an HTTPS endpoint, verified by the challenge handshake of §3.2
//! before it is saved. Event delivery is [`crate::bot_events`]; bot posts are
//! [`post_as_bot`].

use std::time::Duration;

use base64::Engine;
use carillon_awsapi::generated::chime::*;
use carillon_core::time::{millis_to_datetime, now_millis};
use carillon_core::{ApiError, RequestContext};
use carillon_kms::EncryptionContext;
use carillon_store::chime::bots::{BotCreation, BotRecord};
use carillon_store::StoreError;
use hmac::Mac;
use rand::RngCore;

use crate::errors::{bad_request, codes, error, Error, Result};
use crate::hub::MessageView;
use crate::webhooks::{self, IncomingError};
use crate::Chime;

/// Most bots an Enterprise account may have (§1.16).
pub const MAX_BOTS: i64 = 10;
/// Longest `DisplayName` (§1.16).
pub const MAX_DISPLAY_NAME: usize = 55;
/// `BotType` of every bot.
pub const BOT_TYPE: &str = "ChatBot";
/// Default and largest `MaxResults` of ListBots (model `ResultMax`, 1–99).
const DEFAULT_PAGE: i64 = 10;
const MAX_PAGE: i64 = 99;
/// How long a Mention's reply URL stays valid (§3.2: 2 minutes), in milliseconds.
pub const REPLY_URL_LIFETIME_MS: i64 = 2 * 60 * 1000;
/// How long the endpoint has to answer a request (§3.2: 200 OK within 2 s).
pub const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(2);
/// The header carrying Base64(HMAC-SHA256(SecurityToken, timestamp + "|" + body)) (§3.2).
pub const SIGNATURE_HEADER: &str = "Chime-Signature";
/// The header carrying the signed timestamp, ISO 8601 with milliseconds (§3.2).
pub const TIMESTAMP_HEADER: &str = "Chime-Request-Timestamp";
/// Prefix of a SecurityToken sealed by [`seal_token`] (base64 of a KMS-sealed object).
const SEALED_PREFIX: &str = "kms:v1:";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn bot_not_found(bot_id: &str) -> Error {
    error(codes::NOT_FOUND, format!("Bot {bot_id} was not found"))
}

/// The caller's bot `bot_id` of the live account `chime_account_id`.
///
/// Errors: as `Chime::live_account`; `BadRequestException` naming `BotId` when blank;
/// `NotFoundException` for another account's or an unknown bot.
async fn find_bot(
    chime: &Chime,
    ctx: &RequestContext,
    chime_account_id: &str,
    bot_id: &str,
) -> Result<BotRecord> {
    chime.live_account(ctx, chime_account_id).await?;
    if bot_id.trim().is_empty() {
        return Err(bad_request("BotId must not be empty"));
    }
    chime
        .store
        .chime_bot(&ctx.account_id, chime_account_id, bot_id)
        .await?
        .ok_or_else(|| bot_not_found(bot_id))
}

/// A fresh SecurityToken: 32 random bytes, base64url without padding (43 characters).
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `token` sealed for the `chime_bots` row of `bot_id`: a KMS-sealed object under the
/// tenant's default key whose plaintext is `<bot_id>\n<token>`, so a sealed value copied
/// to another bot's row does not open as that bot's token.
///
/// Errors: `Config` without a keyring; the provider's.
async fn seal_token(
    chime: &Chime,
    account_id: &str,
    bot_id: &str,
    token: &str,
) -> Result<String, StoreError> {
    let keyring = chime.store.keyring()?;
    let key = keyring
        .provider()
        .default_key(account_id, keyring.region())
        .await?;
    let sealed = carillon_kms::object::seal_object(
        keyring.provider(),
        &key.arn,
        &EncryptionContext::default(),
        format!("{bot_id}\n{token}").as_bytes(),
    )
    .await?;
    Ok(format!(
        "{SEALED_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(sealed)
    ))
}

/// The SecurityToken of `bot` (opened from its sealed column).
///
/// Errors: `Encryption` when the value is not a sealed token of this bot; `Config`, the
/// provider's.
pub(crate) async fn open_token(chime: &Chime, bot: &BotRecord) -> Result<String, StoreError> {
    let invalid = || StoreError::Encryption(format!("sealed token of bot {}", bot.bot_id));
    let encoded = bot
        .security_token
        .strip_prefix(SEALED_PREFIX)
        .ok_or_else(invalid)?;
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| invalid())?;
    let keyring = chime.store.keyring()?;
    let plain = carillon_kms::object::open_object(
        keyring.provider(),
        &EncryptionContext::default(),
        &sealed,
    )
    .await?;
    let plain = String::from_utf8(plain).map_err(|_| invalid())?;
    match plain.split_once('\n') {
        Some((bot_id, token)) if bot_id == bot.bot_id => Ok(token.to_string()),
        _ => Err(invalid()),
    }
}

/// Base64(HMAC-SHA256(key = `token` as UTF-8, `timestamp` + "|" + `body`)), the
/// `Chime-Signature` of a request to a bot (§3.2).
pub fn signature(token: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.update(b"|");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `Chime-Request-Timestamp` for now: ISO 8601 UTC with milliseconds
/// (`2019-04-04T21:30:43.181Z`).
pub(crate) fn request_timestamp() -> String {
    millis_to_datetime(now_millis()).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The model's `Bot`; `token` is the SecurityToken when the operation returns it.
fn bot_shape(bot: &BotRecord, token: Option<String>) -> Bot {
    Bot {
        bot_email: Some(bot.bot_email.clone()),
        bot_id: Some(bot.bot_id.clone()),
        bot_type: Some(BOT_TYPE.to_string()),
        created_timestamp: Some(millis_to_datetime(bot.created_at).into()),
        disabled: Some(bot.disabled),
        display_name: Some(bot.display_name.clone()),
        security_token: token,
        updated_timestamp: Some(millis_to_datetime(bot.updated_at).into()),
        user_id: Some(bot.user_id.clone()),
    }
}

/// Checks a `DisplayName`: 1–55 characters, each an ASCII letter or digit or one of the
/// specials an email local part takes unquoted (`+ - % _ . ! # $ & ' * / = ? ^ { | } ~`),
/// since it becomes the start of the bot's email; no leading, trailing or doubled dot.
///
/// Errors: `BadRequestException` naming `DisplayName`.
fn check_display_name(name: &str) -> Result<()> {
    const SPECIALS: &str = "+-%_.!#$&'*/=?^{|}~`";
    let length = name.chars().count();
    if length == 0 || length > MAX_DISPLAY_NAME {
        return Err(bad_request(format!(
            "DisplayName must be 1 to {MAX_DISPLAY_NAME} characters"
        )));
    }
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c));
    if !valid_chars || name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return Err(bad_request(
            "DisplayName may hold only letters, digits and the characters +-%_.!#$&'*/=?^{|}~` \
             (it begins the bot's email address), with no leading, trailing or doubled dot",
        ));
    }
    Ok(())
}

/// `CreateBot`: a new enabled `ChatBot` of an Enterprise account, email
/// `<DisplayName>-chimebot@<Domain>`, with a fresh SecurityToken (returned). Spec:
/// chime-zh.md §1.16, §2.18 step 1.
///
/// Errors: `BadRequestException` naming `DisplayName` or `Domain` (missing, not a verified
/// claimed domain of the account, or the email already a bot's); `ForbiddenException` for a
/// Team account; `ResourceLimitExceededException` past [`MAX_BOTS`]; `NotFoundException`.
pub(crate) async fn create_bot(
    chime: &Chime,
    ctx: &RequestContext,
    input: CreateBotRequest,
) -> Result<CreateBotResponse> {
    check_display_name(&input.display_name)?;
    let domain = input
        .domain
        .as_deref()
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            bad_request("Domain is required: a verified claimed domain of the account")
        })?;
    let account = chime.live_account(ctx, &input.account_id).await?;
    if account.account_type == crate::accounts::TEAM {
        return Err(error(
            codes::FORBIDDEN,
            "Bots are available to Enterprise accounts only; claim and verify a domain first",
        ));
    }
    let verified = chime
        .store
        .chime_domain_verified(&ctx.account_id, &account.chime_account_id, &domain)
        .await?;
    if !verified {
        return Err(bad_request(format!(
            "Domain {domain} is not a verified claimed domain of account {}",
            account.chime_account_id
        )));
    }
    let now = now_millis();
    let bot_id = carillon_core::ids::new_uuid();
    let token = new_token();
    let sealed = seal_token(chime, &ctx.account_id, &bot_id, &token).await?;
    let bot = BotRecord {
        bot_email: format!("{}-chimebot@{domain}", input.display_name),
        bot_id,
        user_id: carillon_core::ids::new_uuid(),
        account_id: ctx.account_id.clone(),
        chime_account_id: account.chime_account_id.clone(),
        display_name: input.display_name,
        disabled: false,
        security_token: sealed,
        outbound_events_endpoint: None,
        created_at: now,
        updated_at: now,
    };
    match chime.store.create_chime_bot(&bot, MAX_BOTS).await? {
        BotCreation::Created => Ok(CreateBotResponse {
            bot: Some(bot_shape(&bot, Some(token))),
        }),
        BotCreation::LimitReached => Err(error(
            codes::RESOURCE_LIMIT,
            format!(
                "Account {} already has {MAX_BOTS} bots, the most allowed",
                bot.chime_account_id
            ),
        )),
        BotCreation::EmailTaken => Err(bad_request(format!(
            "DisplayName: a bot with the email {} already exists",
            bot.bot_email
        ))),
        BotCreation::AccountGone => Err(error(
            codes::NOT_FOUND,
            format!("Chime account {} was not found", bot.chime_account_id),
        )),
    }
}

/// `GetBot`: the bot with its SecurityToken. Spec: chime-zh.md §2.18 "Update".
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId` or `BotId`.
pub(crate) async fn get_bot(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetBotRequest,
) -> Result<GetBotResponse> {
    let bot = find_bot(chime, ctx, &input.account_id, &input.bot_id).await?;
    let token = open_token(chime, &bot).await?;
    Ok(GetBotResponse {
        bot: Some(bot_shape(&bot, Some(token))),
    })
}

/// `ListBots`: the account's bots by ID, `MaxResults` 1–99 (default 10), `NextToken` bound
/// to the tenant and the account. Listed bots leave out the SecurityToken (GetBot has it).
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId`, `MaxResults` or
/// `NextToken`.
pub(crate) async fn list_bots(
    chime: &Chime,
    ctx: &RequestContext,
    input: ListBotsRequest,
) -> Result<ListBotsResponse> {
    let account = chime.live_account(ctx, &input.account_id).await?;
    let scope = format!("ListBots\0{}\0{}", ctx.account_id, account.chime_account_id);
    let limit = crate::paging::page_size(input.max_results, DEFAULT_PAGE, MAX_PAGE)?;
    let after = chime.resume_after(&scope, input.next_token.as_deref())?;
    let mut bots = chime
        .store
        .list_chime_bots(
            &ctx.account_id,
            &account.chime_account_id,
            after.as_deref(),
            limit + 1,
        )
        .await?;
    let next_token = chime.next_page(&scope, &mut bots, limit, |b| &b.bot_id);
    Ok(ListBotsResponse {
        bots: Some(bots.iter().map(|b| bot_shape(b, None)).collect()),
        next_token,
    })
}

/// `UpdateBot`: enables or disables the bot (`Disabled`; absent changes nothing). A disabled
/// bot receives no events and cannot post. Spec: chime-zh.md §1.16.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId` or `BotId`.
pub(crate) async fn update_bot(
    chime: &Chime,
    ctx: &RequestContext,
    input: UpdateBotRequest,
) -> Result<UpdateBotResponse> {
    let mut bot = find_bot(chime, ctx, &input.account_id, &input.bot_id).await?;
    if let Some(disabled) = input.disabled {
        if disabled != bot.disabled {
            bot.disabled = disabled;
            bot.updated_at = now_millis();
            save(chime, &bot).await?;
        }
    }
    Ok(UpdateBotResponse {
        bot: Some(bot_shape(&bot, None)),
    })
}

async fn save(chime: &Chime, bot: &BotRecord) -> Result<()> {
    if !chime.store.update_chime_bot(bot).await? {
        return Err(bot_not_found(&bot.bot_id));
    }
    Ok(())
}

/// `RegenerateSecurityToken`: replaces the bot's SecurityToken (returned). Requests are
/// signed with the new one from now on, and every reply URL made with the old one stops.
///
/// Errors: `NotFoundException`; `BadRequestException` naming `AccountId` or `BotId`.
pub(crate) async fn regenerate_security_token(
    chime: &Chime,
    ctx: &RequestContext,
    input: RegenerateSecurityTokenRequest,
) -> Result<RegenerateSecurityTokenResponse> {
    let mut bot = find_bot(chime, ctx, &input.account_id, &input.bot_id).await?;
    let token = new_token();
    bot.security_token = seal_token(chime, &ctx.account_id, &bot.bot_id, &token).await?;
    bot.updated_at = now_millis();
    save(chime, &bot).await?;
    Ok(RegenerateSecurityTokenResponse {
        bot: Some(bot_shape(&bot, Some(token))),
    })
}

/// Checks an `OutboundEventsHTTPSEndpoint`: an absolute `https` URL with a host, no user
/// information and no fragment, at most 2,048 characters.
///
/// Errors: `BadRequestException` naming `OutboundEventsHTTPSEndpoint`.
fn check_endpoint(endpoint: &str) -> Result<url::Url> {
    let invalid = |why: &str| {
        bad_request(format!(
            "OutboundEventsHTTPSEndpoint must be an https URL (e.g. https://example.com:8000): {why}"
        ))
    };
    if endpoint.len() > 2048 {
        return Err(invalid("longer than 2,048 characters"));
    }
    let url = url::Url::parse(endpoint).map_err(|e| invalid(&e.to_string()))?;
    if url.scheme() != "https" {
        return Err(invalid("the scheme is not https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("user information is not allowed"));
    }
    if url.fragment().is_some() {
        return Err(invalid("a fragment is not allowed"));
    }
    Ok(url)
}

/// Sends the §3.2 verification challenge to `endpoint`, signed with `token`, and checks the
/// answer: `200 OK` within 2 s with a JSON body echoing `Challenge`.
///
/// Errors: a human-readable reason.
async fn verify_endpoint(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
) -> Result<(), String> {
    let challenge = new_token();
    let body = serde_json::to_vec(&serde_json::json!({
        "Challenge": challenge,
        "EventType": "HTTPSEndpointVerification",
    }))
    .expect("JSON");
    let timestamp = request_timestamp();
    let response = client
        .post(endpoint)
        .timeout(ENDPOINT_TIMEOUT)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, &timestamp)
        .header(SIGNATURE_HEADER, signature(token, &timestamp, &body))
        .body(body)
        .send()
        .await
        .map_err(|e| crate::bot_events::describe_error(&e))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("it answered HTTP {status} instead of 200 OK"));
    }
    let answer = response
        .bytes()
        .await
        .map_err(|e| crate::bot_events::describe_error(&e))?;
    let answer: serde_json::Value = serde_json::from_slice(&answer)
        .map_err(|_| "its answer is not a JSON object".to_string())?;
    if answer.get("Challenge").and_then(|v| v.as_str()) != Some(challenge.as_str()) {
        return Err("its answer does not echo the Challenge".to_string());
    }
    Ok(())
}

/// `PutEventsConfiguration`: sets the bot's HTTPS endpoint after it answered the §3.2
/// verification challenge (a signed POST of `{"Challenge": …, "EventType":
/// "HTTPSEndpointVerification"}`, echoed back within 2 s). Spec: chime-zh.md §1.17, §2.18
/// step 2.
///
/// Errors: `BadRequestException` naming `LambdaFunctionArn` (Carillon runs no Lambda) or
/// `OutboundEventsHTTPSEndpoint` (missing, not an https URL, or the handshake failed, with
/// why); `NotFoundException`.
pub(crate) async fn put_events_configuration(
    chime: &Chime,
    ctx: &RequestContext,
    input: PutEventsConfigurationRequest,
) -> Result<PutEventsConfigurationResponse> {
    if input.lambda_function_arn.is_some() {
        return Err(bad_request(
            "LambdaFunctionArn is not supported: Carillon runs no Lambda functions. Give the \
             bot an OutboundEventsHTTPSEndpoint instead",
        ));
    }
    let endpoint = input
        .outbound_events_https_endpoint
        .ok_or_else(|| bad_request("OutboundEventsHTTPSEndpoint is required"))?;
    let url = check_endpoint(&endpoint)?;
    let mut bot = find_bot(chime, ctx, &input.account_id, &input.bot_id).await?;
    let token = open_token(chime, &bot).await?;
    let client = crate::bot_events::https_client(chime).map_err(|e| {
        tracing::error!(error = %e, "bot HTTPS client");
        ApiError::internal("The HTTPS client could not be set up; see the server log")
    })?;
    if let Err(why) = verify_endpoint(&client, url.as_str(), &token).await {
        return Err(bad_request(format!(
            "OutboundEventsHTTPSEndpoint failed the endpoint verification challenge: {why}"
        )));
    }
    bot.outbound_events_endpoint = Some(endpoint.clone());
    bot.updated_at = now_millis();
    save(chime, &bot).await?;
    Ok(PutEventsConfigurationResponse {
        events_configuration: Some(EventsConfiguration {
            bot_id: Some(bot.bot_id),
            lambda_function_arn: None,
            outbound_events_https_endpoint: Some(endpoint),
        }),
    })
}

/// `GetEventsConfiguration`: the bot's HTTPS endpoint.
///
/// Errors: `NotFoundException` (also when the bot has no events configuration);
/// `BadRequestException` naming `AccountId` or `BotId`.
pub(crate) async fn get_events_configuration(
    chime: &Chime,
    ctx: &RequestContext,
    input: GetEventsConfigurationRequest,
) -> Result<GetEventsConfigurationResponse> {
    let bot = find_bot(chime, ctx, &input.account_id, &input.bot_id).await?;
    let Some(endpoint) = bot.outbound_events_endpoint else {
        return Err(error(
            codes::NOT_FOUND,
            format!("Bot {} has no events configuration", bot.bot_id),
        ));
    };
    Ok(GetEventsConfigurationResponse {
        events_configuration: Some(EventsConfiguration {
            bot_id: Some(bot.bot_id),
            lambda_function_arn: None,
            outbound_events_https_endpoint: Some(endpoint),
        }),
    })
}

/// `DeleteEventsConfiguration`: removes the bot's endpoint (the bot then receives nothing);
/// deleting an absent configuration changes nothing. The model declares no
/// `NotFoundException` here, so an unknown bot or account is a `BadRequestException`.
///
/// Errors: `BadRequestException` naming `AccountId` or `BotId`.
pub(crate) async fn delete_events_configuration(
    chime: &Chime,
    ctx: &RequestContext,
    input: DeleteEventsConfigurationRequest,
) -> Result<carillon_awsapi::types::Unit> {
    let mut bot = find_bot(chime, ctx, &input.account_id, &input.bot_id)
        .await
        .map_err(|e| {
            if e.code == codes::NOT_FOUND {
                bad_request(format!("AccountId/BotId: {}", e.message))
            } else {
                e
            }
        })?;
    if bot.outbound_events_endpoint.is_some() {
        bot.outbound_events_endpoint = None;
        bot.updated_at = now_millis();
        save(chime, &bot).await?;
    }
    Ok(carillon_awsapi::types::Unit {})
}

/// Which reply URL a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyKind {
    /// The Invite's URL: valid while the bot is in the room with the same SecurityToken.
    Persistent,
    /// A Mention's URL: valid until the epoch-millisecond expiry as well.
    ShortLived(i64),
}

fn reply_mac(token: &str, bot_id: &str, room_id: &str, kind: ReplyKind) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
    match kind {
        ReplyKind::Persistent => mac.update(format!("persistent\n{bot_id}\n{room_id}").as_bytes()),
        ReplyKind::ShortLived(expires) => {
            mac.update(format!("shortlived\n{bot_id}\n{room_id}\n{expires}").as_bytes())
        }
    }
    mac
}

/// The URL a bot posts `{"Content": …}` to in `room_id` (§3.2 `InboundHttpsEndpoint.Url`):
/// `<public_url>/chat/v1/bots/<bot_id>/rooms/<room_id>/messages?token=<t>`, where `t` is
/// `p.<sig>` (persistent, the Invite's) or `s.<expires ms>.<sig>` (a Mention's, valid
/// [`REPLY_URL_LIFETIME_MS`]), `sig` being base64url(HMAC-SHA256(SecurityToken, what the URL
/// names)). Regenerating the SecurityToken revokes every URL made before.
pub(crate) fn reply_url(
    chime: &Chime,
    token: &str,
    bot_id: &str,
    room_id: &str,
    expires: Option<i64>,
) -> String {
    let kind = expires.map_or(ReplyKind::Persistent, ReplyKind::ShortLived);
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        reply_mac(token, bot_id, room_id, kind)
            .finalize()
            .into_bytes(),
    );
    let token = match kind {
        ReplyKind::Persistent => format!("p.{sig}"),
        ReplyKind::ShortLived(expires) => format!("s.{expires}.{sig}"),
    };
    format!(
        "{}/chat/v1/bots/{bot_id}/rooms/{room_id}/messages?token={token}",
        chime.config.public_url
    )
}

/// Parses a reply-URL token into its kind and signature bytes.
fn parse_reply_token(token: &str) -> Option<(ReplyKind, Vec<u8>)> {
    let decode = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()
    };
    if let Some(sig) = token.strip_prefix("p.") {
        return Some((ReplyKind::Persistent, decode(sig)?));
    }
    let (expires, sig) = token.strip_prefix("s.")?.split_once('.')?;
    Some((ReplyKind::ShortLived(expires.parse().ok()?), decode(sig)?))
}

/// A bot's post to a reply URL: checks the URL's token (403 when malformed, not signed with
/// the bot's current SecurityToken, or the bot is disabled; 404 when a short-lived URL
/// expired or the bot is no longer in the room) and the body (as an incoming webhook's:
/// `{"Content": …}`, < 4 KB, `@All`/`@Present` only in rooms of at most 50 users), then
/// posts it to the room as the bot (sender type `Bot`, its display name). Spec: chime-zh.md
/// §3.2 (`InboundHttpsEndpoint`), §3.3.
///
/// Errors: the [`IncomingError`] to answer with.
pub async fn post_as_bot(
    chime: &Chime,
    bot_id: &str,
    room_id: &str,
    url_token: &str,
    body: &[u8],
) -> Result<MessageView, IncomingError> {
    let (kind, sig) = parse_reply_token(url_token).ok_or(IncomingError::Invalid)?;
    let account_id = chime
        .store
        .chat_room_any(room_id)
        .await
        .map_err(IncomingError::store)?
        .ok_or(IncomingError::Gone)?
        .account_id;
    let bot = chime
        .store
        .chime_bot_by_id(&account_id, bot_id)
        .await
        .map_err(IncomingError::store)?
        .ok_or(IncomingError::Invalid)?;
    let token = open_token(chime, &bot)
        .await
        .map_err(IncomingError::store)?;
    reply_mac(&token, bot_id, room_id, kind)
        .verify_slice(&sig)
        .map_err(|_| IncomingError::Invalid)?;
    if bot.disabled {
        return Err(IncomingError::Invalid);
    }
    if let ReplyKind::ShortLived(expires) = kind {
        if now_millis() > expires {
            return Err(IncomingError::Gone);
        }
    }
    let member = chime
        .store
        .chime_room_member(&account_id, room_id, &bot.user_id)
        .await
        .map_err(IncomingError::store)?;
    if member.is_none() {
        return Err(IncomingError::Gone);
    }
    let content = webhooks::incoming_content(chime, &account_id, room_id, body).await?;
    webhooks::post(
        chime,
        room_id,
        &bot.user_id,
        "Bot",
        &bot.display_name,
        content,
    )
    .await
}
