//! Chat bots driven through `ChimeApi` against a local HTTPS bot (a test CA trusted through
//! `ChimeConfig::trusted_ca_pem`), on SQLite and (when `CARILLON_TEST_DATABASE_URL` is set)
//! PostgreSQL: CreateBot's rules and limit, the sealed SecurityToken, listing, disabling and
//! regenerating, the events configuration's challenge handshake, the signed Invite, Mention
//! and Remove events, the retries, and the bot's replies through its reply URLs. Spec:
//! chime-zh.md §1.16, §1.17, §2.18, §3.2.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use carillon_awsapi::generated::chime::*;
use carillon_chime::ChimeConfig;
use carillon_core::{ApiError, RequestContext};
use carillon_store::testing::test_stores;
use hmac::Mac;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

mod support;

use support::code;

const DOMAIN: &str = "bots.example.com";

/// One request the bot received.
#[derive(Debug, Clone)]
struct Received {
    timestamp: String,
    signature: String,
    body: Vec<u8>,
    at: Instant,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Whether `Chime-Signature` is Base64(HMAC-SHA256(token, timestamp + "|" + body)).
    fn signed_with(&self, token: &str) -> bool {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).unwrap();
        mac.update(format!("{}|", self.timestamp).as_bytes());
        mac.update(&self.body);
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        expected == self.signature
    }
}

/// How the bot answers a request: (status, body, delay before answering).
type Answer = Arc<dyn Fn(usize, &Received) -> (u16, String, Duration) + Send + Sync>;

/// Echoes the challenge of a verification request; answers 200 `{}` to events.
fn echo() -> Answer {
    Arc::new(|_, request| {
        let json = request.json();
        let body = match json.get("Challenge") {
            Some(challenge) => serde_json::json!({ "Challenge": challenge }).to_string(),
            None => "{}".to_string(),
        };
        (200, body, Duration::ZERO)
    })
}

/// A local HTTPS bot endpoint with a certificate of its own, trusted by the Chime under test.
struct BotServer {
    url: String,
    ca_pem: Vec<u8>,
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
}

impl BotServer {
    async fn start() -> BotServer {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Mutex::new(echo()));
        let (log, answers) = (received.clone(), answer.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, log, answers) = (acceptor.clone(), log.clone(), answers.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Some(request) = read_request(&mut tls).await else {
                        return;
                    };
                    let n = {
                        let mut log = log.lock().unwrap();
                        log.push(request.clone());
                        log.len() - 1
                    };
                    let answer = answers.lock().unwrap().clone();
                    let (status, body, delay) = answer(n, &request);
                    tokio::time::sleep(delay).await;
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        BotServer {
            url: format!("https://localhost:{port}/events"),
            ca_pem: certified.cert.pem().into_bytes(),
            received,
            answer,
        }
    }

    fn answer_with(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.received.lock().unwrap().clear();
    }

    /// Waits (up to 5 s) until at least `n` requests arrived; returns them.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let received = self.received();
            if received.len() >= n || Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn read_request<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Option<Received> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while data.len() < header_end + length {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Some(Received {
        timestamp: header("chime-request-timestamp"),
        signature: header("chime-signature"),
        body: data[header_end..header_end + length].to_vec(),
        at: Instant::now(),
    })
}

/// A Chime service over one test store trusting one local bot endpoint.
struct Env {
    service: support::Env,
    bot: BotServer,
}

impl std::ops::Deref for Env {
    type Target = support::Env;

    fn deref(&self) -> &support::Env {
        &self.service
    }
}

async fn envs() -> Vec<Env> {
    let mut out = Vec::new();
    for test in test_stores().await {
        let bot = BotServer::start().await;
        let config = ChimeConfig {
            public_url: "https://chime.test".to_string(),
            trusted_ca_pem: Some(bot.ca_pem.clone()),
            ..ChimeConfig::default()
        };
        let service = support::Env::with_config(test, config).await;
        out.push(Env { service, bot });
    }
    out
}

impl Env {
    /// A Chime account `Bots` of `ctx`; Enterprise with the verified domain `domain` when
    /// given.
    async fn bots_account(&self, ctx: &RequestContext, domain: Option<&str>) -> String {
        let id = self.account(ctx, "Bots").await;
        if let Some(domain) = domain {
            self.test
                .exec(
                    "UPDATE chime_accounts SET account_type = 'EnterpriseLWA' \
                     WHERE chime_account_id = $1",
                    &[&id],
                )
                .await;
            self.test
                .exec(
                    "INSERT INTO chime_domains (chime_account_id, domain_name, account_id, \
                     status, verification_name, verification_value, created_at) \
                     VALUES ($1, $2, $3, 'Verified', 'n', 'v', 0)",
                    &[&id, domain, &ctx.account_id],
                )
                .await;
        }
        id
    }

    async fn create_bot(
        &self,
        ctx: &RequestContext,
        account: &str,
        name: &str,
        domain: Option<&str>,
    ) -> Result<Bot, ApiError> {
        self.chime
            .create_bot(
                ctx,
                CreateBotRequest {
                    account_id: account.to_string(),
                    display_name: name.to_string(),
                    domain: domain.map(str::to_string),
                },
            )
            .await
            .map(|r| r.bot.unwrap())
    }

    async fn get_bot(
        &self,
        ctx: &RequestContext,
        account: &str,
        bot_id: &str,
    ) -> Result<Bot, ApiError> {
        self.chime
            .get_bot(
                ctx,
                GetBotRequest {
                    account_id: account.to_string(),
                    bot_id: bot_id.to_string(),
                },
            )
            .await
            .map(|r| r.bot.unwrap())
    }

    async fn list_bots(
        &self,
        ctx: &RequestContext,
        account: &str,
        max: Option<i32>,
        next: Option<String>,
    ) -> Result<ListBotsResponse, ApiError> {
        self.chime
            .list_bots(
                ctx,
                ListBotsRequest {
                    account_id: account.to_string(),
                    max_results: max,
                    next_token: next,
                },
            )
            .await
    }

    /// UpdateBot to disabled.
    async fn disable(&self, ctx: &RequestContext, account: &str, bot_id: &str) -> Bot {
        self.chime
            .update_bot(
                ctx,
                UpdateBotRequest {
                    account_id: account.to_string(),
                    bot_id: bot_id.to_string(),
                    disabled: Some(true),
                },
            )
            .await
            .unwrap()
            .bot
            .unwrap()
    }

    async fn regenerate_token(&self, ctx: &RequestContext, account: &str, bot_id: &str) -> Bot {
        self.chime
            .regenerate_security_token(
                ctx,
                RegenerateSecurityTokenRequest {
                    account_id: account.to_string(),
                    bot_id: bot_id.to_string(),
                },
            )
            .await
            .unwrap()
            .bot
            .unwrap()
    }

    async fn events_configuration(
        &self,
        ctx: &RequestContext,
        account: &str,
        bot_id: &str,
    ) -> Result<EventsConfiguration, ApiError> {
        self.chime
            .get_events_configuration(
                ctx,
                GetEventsConfigurationRequest {
                    account_id: account.to_string(),
                    bot_id: bot_id.to_string(),
                },
            )
            .await
            .map(|r| r.events_configuration.unwrap())
    }

    async fn put_endpoint(
        &self,
        ctx: &RequestContext,
        account: &str,
        bot_id: &str,
        endpoint: &str,
    ) -> Result<PutEventsConfigurationResponse, ApiError> {
        self.chime
            .put_events_configuration(
                ctx,
                PutEventsConfigurationRequest {
                    account_id: account.to_string(),
                    bot_id: bot_id.to_string(),
                    lambda_function_arn: None,
                    outbound_events_https_endpoint: Some(endpoint.to_string()),
                },
            )
            .await
    }

    async fn room(&self, ctx: &RequestContext, account: &str) -> String {
        self.create_room(ctx, account, "Ops").await.room_id.unwrap()
    }

    async fn remove_member(&self, ctx: &RequestContext, account: &str, room: &str, member: &str) {
        self.chime
            .delete_room_membership(
                ctx,
                DeleteRoomMembershipRequest {
                    account_id: account.to_string(),
                    member_id: member.to_string(),
                    room_id: room.to_string(),
                },
            )
            .await
            .unwrap();
    }

    async fn add_member(&self, ctx: &RequestContext, account: &str, room: &str, member: &str) {
        self.chime
            .create_room_membership(
                ctx,
                CreateRoomMembershipRequest {
                    account_id: account.to_string(),
                    member_id: member.to_string(),
                    role: None,
                    room_id: room.to_string(),
                },
            )
            .await
            .unwrap();
    }
}

fn message(result: Result<impl std::fmt::Debug, ApiError>) -> String {
    result.unwrap_err().message
}

#[tokio::test]
async fn create_bot_follows_the_guide() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let team = env.bots_account(&ctx, None).await;
        let account = env.bots_account(&ctx, Some(DOMAIN)).await;

        // Team accounts have no bots; the domain must be a verified claim of the account.
        assert_eq!(
            code(env.create_bot(&ctx, &team, "teamBot", Some(DOMAIN)).await),
            "ForbiddenException",
            "{}",
            env.test.label
        );
        let unverified = env
            .create_bot(&ctx, &account, "exampleBot", Some("other.example.com"))
            .await;
        assert!(message(unverified).contains("Domain"));
        assert!(
            message(env.create_bot(&ctx, &account, "exampleBot", None).await).contains("Domain")
        );
        let long = "b".repeat(56);
        assert!(
            message(env.create_bot(&ctx, &account, &long, Some(DOMAIN)).await)
                .contains("DisplayName")
        );
        assert!(message(
            env.create_bot(&ctx, &account, "two words", Some(DOMAIN))
                .await
        )
        .contains("DisplayName"));

        let bot = env
            .create_bot(&ctx, &account, "exampleBot", Some("Bots.Example.com"))
            .await
            .unwrap();
        assert_eq!(
            bot.bot_email.as_deref(),
            Some("exampleBot-chimebot@bots.example.com")
        );
        assert_eq!(bot.bot_type.as_deref(), Some("ChatBot"));
        assert_eq!(bot.disabled, Some(false));
        let token = bot.security_token.clone().unwrap();
        assert!(token.len() >= 40);
        let bot_id = bot.bot_id.clone().unwrap();

        // The token is sealed at rest: the row does not hold it.
        let stored = env
            .test
            .store
            .chime_bot(&ctx.account_id, &account, &bot_id)
            .await
            .unwrap()
            .unwrap()
            .security_token;
        assert!(!stored.contains(&token), "token stored in the clear");

        // The same email again is refused (case-insensitively).
        assert!(message(
            env.create_bot(&ctx, &account, "EXAMPLEBOT", Some(DOMAIN))
                .await
        )
        .contains("already exists"));

        // GetBot returns the token; another tenant does not see the bot.
        let got = env.get_bot(&ctx, &account, &bot_id).await.unwrap();
        assert_eq!(got.security_token.as_deref(), Some(token.as_str()));
        let other = env.tenant().await;
        let foreign = env.get_bot(&other, &account, &bot_id).await;
        assert_eq!(code(foreign), "NotFoundException");

        // Ten bots per account, then ResourceLimitExceededException.
        for n in 1..10 {
            env.create_bot(&ctx, &account, &format!("bot{n}"), Some(DOMAIN))
                .await
                .unwrap();
        }
        assert_eq!(
            code(env.create_bot(&ctx, &account, "bot10", Some(DOMAIN)).await),
            "ResourceLimitExceededException"
        );

        // ListBots pages through all ten without their tokens.
        let mut seen = Vec::new();
        let mut next = None;
        loop {
            let page = env.list_bots(&ctx, &account, Some(4), next).await.unwrap();
            let bots = page.bots.unwrap();
            assert!(bots.len() <= 4);
            assert!(bots.iter().all(|b| b.security_token.is_none()));
            seen.extend(bots.into_iter().map(|b| b.bot_id.unwrap()));
            next = page.next_token;
            if next.is_none() {
                break;
            }
        }
        assert_eq!(seen.len(), 10);
        let bad_token = env.list_bots(&other, &account, None, None).await;
        assert_eq!(code(bad_token), "NotFoundException");
        let bad_size = env.list_bots(&ctx, &account, Some(100), None).await;
        assert!(message(bad_size).contains("MaxResults"));

        // UpdateBot disables; RegenerateSecurityToken replaces the token.
        let disabled = env.disable(&ctx, &account, &bot_id).await;
        assert_eq!(disabled.disabled, Some(true));
        let regenerated = env.regenerate_token(&ctx, &account, &bot_id).await;
        let new_token = regenerated.security_token.unwrap();
        assert_ne!(new_token, token);
        let got = env.get_bot(&ctx, &account, &bot_id).await.unwrap();
        assert_eq!(got.security_token, Some(new_token));
        assert_eq!(got.disabled, Some(true));
    }
}

#[tokio::test]
async fn events_configuration_needs_the_challenge_answered() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.bots_account(&ctx, Some(DOMAIN)).await;
        let bot = env
            .create_bot(&ctx, &account, "helper", Some(DOMAIN))
            .await
            .unwrap();
        let bot_id = bot.bot_id.unwrap();
        let token = bot.security_token.unwrap();

        let lambda = env
            .chime
            .put_events_configuration(
                &ctx,
                PutEventsConfigurationRequest {
                    account_id: account.clone(),
                    bot_id: bot_id.clone(),
                    lambda_function_arn: Some(
                        "arn:aws:lambda:us-east-1:111122223333:function:f".to_string(),
                    ),
                    outbound_events_https_endpoint: None,
                },
            )
            .await;
        let lambda = lambda.unwrap_err();
        assert_eq!(lambda.code, "BadRequestException");
        assert!(lambda.message.contains("LambdaFunctionArn"));
        let plain = env
            .put_endpoint(&ctx, &account, &bot_id, "http://localhost:1/")
            .await;
        assert!(message(plain).contains("OutboundEventsHTTPSEndpoint"));

        // A wrong echo, an error status and a late answer all fail the handshake.
        env.bot.answer_with(Arc::new(|_, _| {
            (200, r#"{"Challenge":"nope"}"#.to_string(), Duration::ZERO)
        }));
        let wrong = env
            .put_endpoint(&ctx, &account, &bot_id, &env.bot.url)
            .await;
        assert!(message(wrong).contains("does not echo"));
        env.bot
            .answer_with(Arc::new(|_, _| (500, "{}".to_string(), Duration::ZERO)));
        let failing = env
            .put_endpoint(&ctx, &account, &bot_id, &env.bot.url)
            .await;
        assert!(message(failing).contains("500"));
        env.bot.answer_with(Arc::new(|_, request| {
            let body = serde_json::json!({ "Challenge": request.json()["Challenge"] });
            (200, body.to_string(), Duration::from_millis(2500))
        }));
        let slow = env
            .put_endpoint(&ctx, &account, &bot_id, &env.bot.url)
            .await;
        assert!(message(slow).contains("2 seconds"));
        let unconfigured = env.events_configuration(&ctx, &account, &bot_id).await;
        assert_eq!(code(unconfigured), "NotFoundException");

        // A bot echoing the challenge is configured; the challenge was signed.
        env.bot.clear();
        env.bot.answer_with(echo());
        let put = env
            .put_endpoint(&ctx, &account, &bot_id, &env.bot.url)
            .await
            .unwrap()
            .events_configuration
            .unwrap();
        assert_eq!(
            put.outbound_events_https_endpoint.as_deref(),
            Some(env.bot.url.as_str())
        );
        let challenge = &env.bot.received()[0];
        assert_eq!(challenge.json()["EventType"], "HTTPSEndpointVerification");
        assert!(challenge.json()["Challenge"].as_str().is_some());
        assert!(challenge.signed_with(&token), "challenge signature");
        let got = env
            .events_configuration(&ctx, &account, &bot_id)
            .await
            .unwrap();
        assert_eq!(
            got.outbound_events_https_endpoint,
            Some(env.bot.url.clone())
        );
        env.chime
            .delete_events_configuration(
                &ctx,
                DeleteEventsConfigurationRequest {
                    account_id: account.clone(),
                    bot_id: bot_id.clone(),
                },
            )
            .await
            .unwrap();
        let deleted = env.events_configuration(&ctx, &account, &bot_id).await;
        assert_eq!(code(deleted), "NotFoundException");
    }
}

/// The bot's reply URL split into (bot ID, room ID, token).
fn reply_parts(url: &str) -> (String, String, String) {
    let rest = url
        .strip_prefix("https://chime.test/chat/v1/bots/")
        .unwrap();
    let (path, token) = rest.split_once("/messages?token=").unwrap();
    let (bot, room) = path.split_once("/rooms/").unwrap();
    (bot.to_string(), room.to_string(), token.to_string())
}

#[tokio::test]
async fn bot_events_are_signed_and_replies_post_as_the_bot() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.bots_account(&ctx, Some(DOMAIN)).await;
        let alice = env.member(&ctx, &account, "alice@bots.example.com").await;
        let bot = env
            .create_bot(&ctx, &account, "helper", Some(DOMAIN))
            .await
            .unwrap();
        let bot_id = bot.bot_id.clone().unwrap();
        let token = bot.security_token.clone().unwrap();
        env.put_endpoint(&ctx, &account, &bot_id, &env.bot.url)
            .await
            .unwrap();
        env.bot.clear();
        let shutdown = CancellationToken::new();
        let job = tokio::spawn(carillon_chime::bot_events::dispatch(
            env.chime.clone(),
            shutdown.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;

        let room = env.room(&ctx, &account).await;
        env.add_member(&ctx, &account, &room, &alice).await;
        env.add_member(&ctx, &account, &room, bot.bot_email.as_deref().unwrap())
            .await;

        // Invite, signed, with the persistent reply URL.
        let received = env.bot.wait_for(1).await;
        assert_eq!(received.len(), 1, "{}", env.test.label);
        let invite = received[0].json();
        assert!(received[0].signed_with(&token), "invite signature");
        assert_eq!(invite["EventType"], "Invite");
        assert_eq!(invite["Discussion"]["DiscussionId"], room.as_str());
        assert_eq!(invite["Discussion"]["DiscussionType"], "Room");
        assert_eq!(invite["Sender"]["SenderIdType"], "EmailId");
        assert_eq!(invite["InboundHttpsEndpoint"]["EndpointType"], "Persistent");
        assert!(invite.get("Message").is_none());
        let persistent = invite["InboundHttpsEndpoint"]["Url"]
            .as_str()
            .unwrap()
            .to_string();

        // A message not naming the bot sends nothing; one that does sends Mention.
        let post = |content: &str| carillon_chime::messages::NewPost {
            container: carillon_chime::hub::Container::Room(room.clone()),
            sender_id: alice.clone(),
            sender_type: "User".to_string(),
            sender_name: "alice".to_string(),
            content: content.to_string(),
        };
        carillon_chime::messages::post(&env.chime, post("hello everyone"))
            .await
            .unwrap();
        carillon_chime::messages::post(&env.chime, post("@helper what is the status?"))
            .await
            .unwrap();
        let received = env.bot.wait_for(2).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(env.bot.received().len(), 2);
        let mention = received[1].json();
        assert!(received[1].signed_with(&token), "mention signature");
        assert_eq!(mention["EventType"], "Mention");
        assert_eq!(mention["Sender"]["SenderId"], "alice@bots.example.com");
        assert_eq!(mention["Message"], "@helper what is the status?");
        assert_eq!(
            mention["InboundHttpsEndpoint"]["EndpointType"],
            "ShortLived"
        );
        let short = mention["InboundHttpsEndpoint"]["Url"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(mention["EventTimestamp"].as_str().unwrap().ends_with('Z'));

        // The bot replies through both URLs; the messages are the bot's.
        for url in [&short, &persistent] {
            let (b, r, t) = reply_parts(url);
            let message = carillon_chime::bots::post_as_bot(
                &env.chime,
                &b,
                &r,
                &t,
                br#"{"Content":"All systems go"}"#,
            )
            .await
            .unwrap();
            assert_eq!(message.sender_type, "Bot");
            assert_eq!(message.sender_name, "helper");
            assert_eq!(message.sender_id, bot.user_id.clone().unwrap());
        }
        // A forged token is 403, a body without Content 400, an expired URL 404.
        let (b, r, t) = reply_parts(&short);
        let forged = format!("{}x", &t[..t.len() - 1]);
        let err = carillon_chime::bots::post_as_bot(&env.chime, &b, &r, &forged, b"{}").await;
        assert_eq!(err.unwrap_err().status(), 403);
        let err =
            carillon_chime::bots::post_as_bot(&env.chime, &b, &r, &t, br#"{"Text":"x"}"#).await;
        assert_eq!(err.unwrap_err().status(), 400);
        let expired_url = {
            let (_, _, persistent_token) = reply_parts(&persistent);
            // Same signature scheme, an expiry in the past: signed with the real token.
            let expires = carillon_core::time::now_millis() - 1;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).unwrap();
            mac.update(format!("shortlived\n{b}\n{r}\n{expires}").as_bytes());
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(mac.finalize().into_bytes());
            assert!(persistent_token.starts_with("p."));
            format!("s.{expires}.{sig}")
        };
        let err = carillon_chime::bots::post_as_bot(
            &env.chime,
            &b,
            &r,
            &expired_url,
            br#"{"Content":"late"}"#,
        )
        .await;
        assert_eq!(err.unwrap_err().status(), 404);

        // A regenerated SecurityToken revokes the old URLs.
        env.regenerate_token(&ctx, &account, &bot_id).await;
        let (b, r, t) = reply_parts(&persistent);
        let err =
            carillon_chime::bots::post_as_bot(&env.chime, &b, &r, &t, br#"{"Content":"x"}"#).await;
        assert_eq!(err.unwrap_err().status(), 403);

        // Removing the bot sends Remove (no endpoint) signed with the new token.
        let token = env
            .get_bot(&ctx, &account, &bot_id)
            .await
            .unwrap()
            .security_token
            .unwrap();
        env.bot.clear();
        env.remove_member(&ctx, &account, &room, bot.user_id.as_deref().unwrap())
            .await;
        let received = env.bot.wait_for(1).await;
        assert_eq!(received.len(), 1);
        let remove = received[0].json();
        assert!(received[0].signed_with(&token), "remove signature");
        assert_eq!(remove["EventType"], "Remove");
        assert!(remove.get("InboundHttpsEndpoint").is_none());

        // A disabled bot gets nothing.
        env.disable(&ctx, &account, &bot_id).await;
        env.test
            .exec(
                "INSERT INTO chime_room_memberships (room_id, member_id, account_id, \
                 member_type, role, updated_at) VALUES ($1, $2, $3, 'Bot', 'Member', 0)",
                &[&room, bot.user_id.as_deref().unwrap(), &ctx.account_id],
            )
            .await;
        env.bot.clear();
        // Mentioning it is refused to the sender (§1.16); other messages still post.
        let refused = carillon_chime::messages::post(&env.chime, post("@helper are you there?"))
            .await
            .unwrap_err();
        assert_eq!(refused.code, "ForbiddenException");
        assert!(refused.message.contains("disabled"), "{refused:?}");
        carillon_chime::messages::post(&env.chime, post("no mention here"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(env.bot.received().is_empty(), "a disabled bot got an event");

        shutdown.cancel();
        job.await.unwrap();
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_at_200_and_400_ms() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.bots_account(&ctx, Some(DOMAIN)).await;
        let bot = env
            .create_bot(&ctx, &account, "retry", Some(DOMAIN))
            .await
            .unwrap();
        let bot_id = bot.bot_id.clone().unwrap();
        let token = bot.security_token.clone().unwrap();
        env.put_endpoint(&ctx, &account, &bot_id, &env.bot.url)
            .await
            .unwrap();
        let shutdown = CancellationToken::new();
        let job = tokio::spawn(carillon_chime::bot_events::dispatch(
            env.chime.clone(),
            shutdown.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;

        // Two 5xx answers, then success: three signed attempts, new timestamp each time.
        env.bot.clear();
        env.bot.answer_with(Arc::new(|n, _| {
            let status = if n < 2 { 503 } else { 200 };
            (status, "{}".to_string(), Duration::ZERO)
        }));
        let room = env.room(&ctx, &account).await;
        env.add_member(&ctx, &account, &room, &bot_id).await;
        let attempts = env.bot.wait_for(3).await;
        assert_eq!(attempts.len(), 3, "{}", env.test.label);
        assert!(attempts.iter().all(|a| a.signed_with(&token)));
        assert!(attempts.iter().all(|a| a.body == attempts[0].body));
        let first_gap = attempts[1].at - attempts[0].at;
        let second_gap = attempts[2].at - attempts[1].at;
        assert!(first_gap >= Duration::from_millis(200), "{first_gap:?}");
        assert!(second_gap >= Duration::from_millis(400), "{second_gap:?}");
        assert_ne!(attempts[0].timestamp, attempts[2].timestamp);
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(env.bot.received().len(), 3, "no attempt after success");

        // A 4xx is not retried; a bot always failing gets exactly three attempts.
        env.bot.clear();
        env.bot
            .answer_with(Arc::new(|_, _| (400, "{}".to_string(), Duration::ZERO)));
        env.remove_member(&ctx, &account, &room, bot.user_id.as_deref().unwrap())
            .await;
        env.bot.wait_for(1).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(env.bot.received().len(), 1, "a 4xx was retried");
        env.bot.clear();
        env.bot
            .answer_with(Arc::new(|_, _| (500, "{}".to_string(), Duration::ZERO)));
        env.add_member(&ctx, &account, &room, &bot_id).await;
        env.bot.wait_for(3).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(env.bot.received().len(), 3, "gave up after three attempts");

        shutdown.cancel();
        job.await.unwrap();
    }
}
