//! Delivery of bot events: `Invite`, `Mention` and `Remove` to each bot's HTTPS endpoint.
//! Spec: chime-zh.md §3.2 (payloads, signature, delivery contract), §1.16.
//!
//! [`BotEvents`] (one of [`crate::jobs::all`]) follows the events published on this node
//! ([`crate::hub::Hub::subscribe_local`], not those relayed from other nodes): a bot
//! member added to a room gets `Invite` (with the room's persistent reply URL), removed gets
//! `Remove`, and a user's new room message that mentions it (resolved by the chat rules,
//! `@<display name>` or `@<bot email>`) gets `Mention` (with a reply URL valid 2 minutes).
//! Every node runs the job and sees only the events of its own node, so each event is sent
//! once. Disabled bots and bots without an endpoint get nothing.
//!
//! Each request is `POST` with the JSON payload, `Chime-Request-Timestamp` (ISO 8601, new on
//! each attempt) and `Chime-Signature` = Base64(HMAC-SHA256(SecurityToken, timestamp + "|" +
//! body)). The endpoint must answer 2xx within 2 s; a timeout, a connection failure or a
//! 5xx is retried 200 ms later, then 400 ms after that, then given up (logged).

use std::sync::Arc;
use std::time::Duration;

use carillon_jobs::{CancellationToken, Job, Pass, Trigger};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;

use crate::bots::{
    self, ENDPOINT_TIMEOUT, REPLY_URL_LIFETIME_MS, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use crate::hub::{ChatEvent, Container, MembershipChange, MessageChange};
use crate::Chime;
use carillon_store::chime::bots::BotRecord;

/// The pauses before the retries of a failed delivery (§3.2: +200 ms, then +400 ms).
pub const RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(400)];

/// The HTTPS client for bot endpoints: the system's trust roots plus the configured extra CA
/// bundle (`ChimeConfig::trusted_ca_pem`), TLS 1.2 and 1.3, no redirects (a redirect would
/// send a signed payload somewhere the administrator did not configure).
///
/// Errors: the CA bundle is unparsable or empty, or the client cannot be built.
pub fn https_client(chime: &Chime) -> Result<reqwest::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(pem) = &chime.config.trusted_ca_pem {
        let certs: Vec<_> = rustls_pemfile::certs(&mut &pem[..])
            .collect::<Result<_, _>>()
            .map_err(|e| format!("trusted CA bundle: {e}"))?;
        if certs.is_empty() {
            return Err("trusted CA bundle: no PEM certificate".to_string());
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("trusted CA bundle: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(ENDPOINT_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())
}

/// A request failure in words, for an administrator (the URL is the configured endpoint:
/// no secret in it).
pub(crate) fn describe_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "it did not answer within 2 seconds".to_string()
    } else if e.is_connect() {
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
        let mut detail = String::new();
        while let Some(s) = source {
            detail = s.to_string();
            source = s.source();
        }
        format!("it could not be reached ({detail})")
    } else {
        format!("the request failed ({e})")
    }
}

/// `Sender` of an event (§3.2).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Sender {
    sender_id: String,
    sender_id_type: &'static str,
}

/// `Discussion` of an event (§3.2).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Discussion {
    discussion_id: String,
    discussion_type: &'static str,
}

/// `InboundHttpsEndpoint` of an event (§3.2).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct InboundEndpoint {
    endpoint_type: &'static str,
    url: String,
}

/// A bot event as sent (§3.2).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct BotEvent {
    sender: Sender,
    discussion: Discussion,
    event_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    inbound_https_endpoint: Option<InboundEndpoint>,
    event_timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// Follows the hub until `shutdown` (see [`BotEvents`]).
pub async fn dispatch(chime: Chime, shutdown: CancellationToken) {
    carillon_jobs::run(BotEvents(chime), shutdown).await;
}

/// The bot events job: follows the node's own hub events until shutdown, sending each bot
/// event in a task of its own (a slow endpoint delays only its own events); at shutdown,
/// waits for the deliveries under way.
#[derive(Clone)]
pub struct BotEvents(pub Chime);

#[async_trait::async_trait]
impl Job for BotEvents {
    fn name(&self) -> &'static str {
        "chime-bot-events"
    }

    fn trigger(&self) -> Trigger {
        Trigger::Stream
    }

    async fn pass(&self, shutdown: &CancellationToken) -> Pass {
        let chime = &self.0;
        let client = match https_client(chime) {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "bot events: no HTTPS client, bot events are not sent");
                return Pass::Idle;
            }
        };
        // Local events only: the node where an event happened sends its bot events, once.
        let mut events = chime.hub().subscribe_local();
        let mut deliveries = JoinSet::new();
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => break,
                event = events.recv() => event,
            };
            match event {
                Ok(event) => {
                    let (chime, client) = (chime.clone(), client.clone());
                    deliveries.spawn(async move { handle(&chime, &client, &event).await });
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "bot events: fell behind the hub, events lost");
                }
                Err(RecvError::Closed) => break,
            }
            while deliveries.try_join_next().is_some() {}
        }
        while deliveries.join_next().await.is_some() {}
        Pass::Idle
    }
}

/// Sends what `event` means to bots, if anything.
async fn handle(chime: &Chime, client: &reqwest::Client, event: &ChatEvent) {
    match event {
        ChatEvent::Membership {
            account_id,
            room_id,
            member_id,
            member_type,
            change,
            actor,
            ..
        } if member_type == "Bot" && *change != MembershipChange::RoleChanged => {
            let Some((bot, token)) = active_bot(chime, account_id, member_id).await else {
                return;
            };
            let sender = event_sender(chime, account_id, room_id, actor.as_deref(), &bot).await;
            let invite = *change == MembershipChange::Added;
            let payload = BotEvent {
                sender,
                discussion: room(room_id),
                event_type: if invite { "Invite" } else { "Remove" },
                inbound_https_endpoint: invite.then(|| InboundEndpoint {
                    endpoint_type: "Persistent",
                    url: bots::reply_url(chime, &token, &bot.bot_id, room_id, None),
                }),
                event_timestamp: bots::request_timestamp(),
                message: None,
            };
            send(client, &bot, &token, &payload).await;
        }
        ChatEvent::Message {
            account_id,
            change: MessageChange::Created,
            message,
            ..
        } if message.sender_type == "User" => {
            let Container::Room(room_id) = &message.container else {
                return;
            };
            // Most messages mention no one: no bot to look up.
            if message.mentions.is_empty() {
                return;
            }
            let bots = match chime.store.chime_bots_in_room(account_id, room_id).await {
                Ok(bots) => bots,
                Err(e) => {
                    tracing::error!(error = %e, "bot events: bots of a room");
                    return;
                }
            };
            let mentioned: Vec<BotRecord> = bots
                .into_iter()
                .filter(|b| message.mentions.contains(&b.user_id))
                .collect();
            if mentioned.is_empty() {
                return;
            }
            let sender_id = match chime.store.chime_user_email(&message.sender_id).await {
                Ok(Some(email)) => email,
                Ok(None) => message.sender_id.clone(),
                Err(e) => {
                    tracing::error!(error = %e, "bot events: sender of a mention");
                    return;
                }
            };
            for bot in mentioned {
                let Some(token) = usable_token(chime, &bot).await else {
                    continue;
                };
                let expires = carillon_core::time::now_millis() + REPLY_URL_LIFETIME_MS;
                let payload = BotEvent {
                    sender: Sender {
                        sender_id: sender_id.clone(),
                        sender_id_type: "EmailId",
                    },
                    discussion: room(room_id),
                    event_type: "Mention",
                    inbound_https_endpoint: Some(InboundEndpoint {
                        endpoint_type: "ShortLived",
                        url: bots::reply_url(chime, &token, &bot.bot_id, room_id, Some(expires)),
                    }),
                    event_timestamp: bots::request_timestamp(),
                    message: message.content.clone(),
                };
                send(client, &bot, &token, &payload).await;
            }
        }
        _ => {}
    }
}

fn room(room_id: &str) -> Discussion {
    Discussion {
        discussion_id: room_id.to_string(),
        discussion_type: "Room",
    }
}

/// The tenant's bot with room member ID `user_id` and its SecurityToken, if it is enabled
/// and has an endpoint.
async fn active_bot(chime: &Chime, account_id: &str, user_id: &str) -> Option<(BotRecord, String)> {
    let bot = match chime.store.chime_bot_by_user(account_id, user_id).await {
        Ok(bot) => bot?,
        Err(e) => {
            tracing::error!(error = %e, "bot events: bot lookup");
            return None;
        }
    };
    let token = usable_token(chime, &bot).await?;
    Some((bot, token))
}

/// `bot`'s SecurityToken when the bot is enabled and has an endpoint.
async fn usable_token(chime: &Chime, bot: &BotRecord) -> Option<String> {
    if bot.disabled || bot.outbound_events_endpoint.is_none() {
        return None;
    }
    match bots::open_token(chime, bot).await {
        Ok(token) => Some(token),
        Err(e) => {
            tracing::error!(error = %e, bot_id = %bot.bot_id, "bot events: SecurityToken");
            None
        }
    }
}

/// The `Sender` of an Invite or Remove: the user who added or removed the bot; for a change
/// made through the admin API (no user), the room's creator, else the bot itself.
async fn event_sender(
    chime: &Chime,
    account_id: &str,
    room_id: &str,
    actor: Option<&str>,
    bot: &BotRecord,
) -> Sender {
    let user = match actor {
        Some(actor) => Some(actor.to_string()),
        None => chime
            .store
            .chat_room_any(room_id)
            .await
            .ok()
            .flatten()
            .filter(|r| r.account_id == account_id)
            .and_then(|r| r.created_by),
    };
    let email = match user {
        Some(user) => chime.store.chime_user_email(&user).await.ok().flatten(),
        None => None,
    };
    Sender {
        sender_id: email.unwrap_or_else(|| bot.bot_email.clone()),
        sender_id_type: "EmailId",
    }
}

/// POSTs `payload` to the bot's endpoint with the §3.2 signature, retrying a timeout,
/// connection failure or 5xx after 200 ms and then 400 ms.
async fn send(client: &reqwest::Client, bot: &BotRecord, token: &str, payload: &BotEvent) {
    let Some(endpoint) = &bot.outbound_events_endpoint else {
        return;
    };
    let body = serde_json::to_vec(payload).expect("JSON");
    let mut delays = RETRY_DELAYS.iter();
    loop {
        let timestamp = bots::request_timestamp();
        let result = client
            .post(endpoint)
            .timeout(ENDPOINT_TIMEOUT)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, bots::signature(token, &timestamp, &body))
            .body(body.clone())
            .send()
            .await;
        let why = match result {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(bot_id = %bot.bot_id, event = payload.event_type, "bot event sent");
                return;
            }
            Ok(response) if !response.status().is_server_error() => {
                tracing::warn!(
                    bot_id = %bot.bot_id,
                    event = payload.event_type,
                    status = response.status().as_u16(),
                    "bot event refused by the endpoint"
                );
                return;
            }
            Ok(response) => format!("HTTP {}", response.status()),
            Err(e) => describe_error(&e),
        };
        let Some(delay) = delays.next() else {
            tracing::warn!(bot_id = %bot.bot_id, event = payload.event_type, why, "bot event not delivered after 3 attempts");
            return;
        };
        tracing::debug!(bot_id = %bot.bot_id, why, "bot event attempt failed, retrying");
        tokio::time::sleep(*delay).await;
    }
}
