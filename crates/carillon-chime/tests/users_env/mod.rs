//! What the users and domains tests add to [`crate::support`]: the Chime service wired to a
//! recording [`Mailer`] and a local DNS stub, invitations, registration from the link a
//! recorded invitation carries, and chat sessions.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use carillon_awsapi::generated::chime::*;
use carillon_chime::{ChimeConfig, Mailer};
use carillon_core::{ApiError, RequestContext};
use carillon_store::testing::{test_stores, TestStore};
use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

use crate::support;

/// The public URL of the service in the tests.
pub const PUBLIC_URL: &str = "https://chime.carillon.test";

/// One message the [`RecordingMailer`] accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    pub from: String,
    pub to: String,
    pub message: String,
}

/// A mail path that records what it is given and refuses recipients of `fail.test`.
#[derive(Default, Clone)]
pub struct RecordingMailer(pub Arc<Mutex<Vec<Sent>>>);

#[async_trait::async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, from: &str, to: &str, message: Vec<u8>) -> Result<(), String> {
        if to.ends_with("@fail.test") {
            return Err("550 5.1.1 no such user".to_string());
        }
        self.0.lock().unwrap().push(Sent {
            from: from.to_string(),
            to: to.to_string(),
            message: String::from_utf8(message).unwrap(),
        });
        Ok(())
    }
}

impl RecordingMailer {
    /// The last message sent to `to`.
    pub fn last_to(&self, to: &str) -> Sent {
        self.0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.to == to)
            .cloned()
            .unwrap_or_else(|| panic!("no message to {to}"))
    }

    /// The registration token of the last invitation to `to`.
    pub fn token_for(&self, to: &str) -> String {
        // The body is quoted-printable (the link line is long): undo soft breaks and `=3D`.
        let message = self
            .last_to(to)
            .message
            .replace("=\r\n", "")
            .replace("=3D", "=");
        let start = message
            .find("/chat/v1/register?token=")
            .expect("registration link in the message")
            + "/chat/v1/register?token=".len();
        message[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

/// TXT records served by [`DnsStub`], by lower-case owner name.
#[derive(Clone, Default)]
pub struct Zone(Arc<Mutex<HashMap<String, Vec<String>>>>);

impl Zone {
    /// Publishes a TXT record.
    pub fn txt(&self, name: &str, value: &str) {
        self.0
            .lock()
            .unwrap()
            .entry(name.trim_end_matches('.').to_ascii_lowercase())
            .or_default()
            .push(value.to_string());
    }
}

/// A tiny authoritative DNS server on 127.0.0.1 UDP answering TXT queries from a [`Zone`].
pub struct DnsStub {
    pub addr: SocketAddr,
    pub zone: Zone,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsStub {
    pub async fn start() -> DnsStub {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let zone = Zone::default();
        let served = zone.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let mut reply = Message::new();
                reply
                    .set_id(query.id())
                    .set_message_type(MessageType::Response)
                    .set_op_code(query.op_code())
                    .set_recursion_desired(query.recursion_desired())
                    .set_recursion_available(true)
                    .set_authoritative(true);
                let records = served.0.lock().unwrap().clone();
                let mut found = false;
                for q in query.queries() {
                    reply.add_query(q.clone());
                    let name = q
                        .name()
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    if let Some(values) = records.get(&name) {
                        found = true;
                        if q.query_type() == RecordType::TXT {
                            for value in values {
                                reply.add_answer(Record::from_rdata(
                                    q.name().clone(),
                                    60,
                                    RData::TXT(TXT::new(vec![value.clone()])),
                                ));
                            }
                        }
                    }
                }
                if !found {
                    reply.set_response_code(ResponseCode::NXDomain);
                }
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
            }
        });
        DnsStub { addr, zone, task }
    }
}

/// A Chime service over one test store, its mailer and DNS stub.
pub struct Env {
    pub service: support::Env,
    pub mailer: RecordingMailer,
    pub dns: DnsStub,
}

impl std::ops::Deref for Env {
    type Target = support::Env;

    fn deref(&self) -> &support::Env {
        &self.service
    }
}

pub async fn envs() -> Vec<Env> {
    let mut out = Vec::new();
    for test in test_stores().await {
        let mailer = RecordingMailer::default();
        let dns = DnsStub::start().await;
        let config = ChimeConfig {
            public_url: PUBLIC_URL.to_string(),
            hostname: "carillon.test".to_string(),
            dns_resolver: Some(dns.addr),
            mailer: Some(Arc::new(mailer.clone())),
            ..ChimeConfig::default()
        };
        out.push(Env {
            service: support::Env::with_config(test, config).await,
            mailer,
            dns,
        });
    }
    out
}

impl Env {
    /// InviteUsers of `emails` to `account`.
    pub async fn try_invite(
        &self,
        ctx: &RequestContext,
        account: &str,
        emails: &[&str],
    ) -> Result<InviteUsersResponse, ApiError> {
        self.chime
            .invite_users(
                ctx,
                InviteUsersRequest {
                    account_id: account.to_string(),
                    user_email_list: emails.iter().map(|e| e.to_string()).collect(),
                    user_type: None,
                },
            )
            .await
    }

    /// Invites `emails` to `account`; returns the invites.
    pub async fn invite(
        &self,
        ctx: &RequestContext,
        account: &str,
        emails: &[&str],
    ) -> Vec<Invite> {
        self.try_invite(ctx, account, emails)
            .await
            .unwrap()
            .invites
            .unwrap()
    }

    /// CreateUser `email` (no type, no name) in `account`.
    pub async fn create_user(
        &self,
        ctx: &RequestContext,
        account: &str,
        email: &str,
    ) -> Result<User, ApiError> {
        self.chime
            .create_user(
                ctx,
                CreateUserRequest {
                    account_id: account.to_string(),
                    email: Some(email.to_string()),
                    ..CreateUserRequest::default()
                },
            )
            .await
            .map(|r| r.user.unwrap())
    }

    /// GetUser.
    pub async fn get_user(
        &self,
        ctx: &RequestContext,
        account: &str,
        user_id: &str,
    ) -> Result<User, ApiError> {
        self.chime
            .get_user(
                ctx,
                GetUserRequest {
                    account_id: account.to_string(),
                    user_id: user_id.to_string(),
                },
            )
            .await
            .map(|r| r.user.unwrap())
    }

    /// UpdateUser of the license only.
    pub async fn set_license(
        &self,
        ctx: &RequestContext,
        account: &str,
        user_id: &str,
        license: &str,
    ) -> Result<User, ApiError> {
        self.chime
            .update_user(
                ctx,
                UpdateUserRequest {
                    account_id: account.to_string(),
                    user_id: user_id.to_string(),
                    license_type: Some(license.to_string()),
                    ..UpdateUserRequest::default()
                },
            )
            .await
            .map(|r| r.user.unwrap())
    }

    /// LogoutUser.
    pub async fn logout(
        &self,
        ctx: &RequestContext,
        account: &str,
        user_id: &str,
    ) -> Result<(), ApiError> {
        self.chime
            .logout_user(
                ctx,
                LogoutUserRequest {
                    account_id: account.to_string(),
                    user_id: user_id.to_string(),
                },
            )
            .await
            .map(|_| ())
    }

    /// ResetPersonalPIN.
    pub async fn reset_pin(
        &self,
        ctx: &RequestContext,
        account: &str,
        user_id: &str,
    ) -> Result<User, ApiError> {
        self.chime
            .reset_personal_pin(
                ctx,
                ResetPersonalPINRequest {
                    account_id: account.to_string(),
                    user_id: user_id.to_string(),
                },
            )
            .await
            .map(|r| r.user.unwrap())
    }

    /// UpdateAccount of the default license only.
    pub async fn set_default_license(&self, ctx: &RequestContext, account: &str, license: &str) {
        self.chime
            .update_account(
                ctx,
                UpdateAccountRequest {
                    account_id: account.to_string(),
                    default_license: Some(license.to_string()),
                    ..UpdateAccountRequest::default()
                },
            )
            .await
            .unwrap();
    }

    /// BatchSuspendUser of `user_ids`.
    pub async fn suspend(
        &self,
        ctx: &RequestContext,
        account: &str,
        user_ids: Vec<String>,
    ) -> Result<BatchSuspendUserResponse, ApiError> {
        self.chime
            .batch_suspend_user(
                ctx,
                BatchSuspendUserRequest {
                    account_id: account.to_string(),
                    user_id_list: user_ids,
                },
            )
            .await
    }

    /// BatchUnsuspendUser of `user_ids`.
    pub async fn unsuspend(
        &self,
        ctx: &RequestContext,
        account: &str,
        user_ids: Vec<String>,
    ) -> Result<BatchUnsuspendUserResponse, ApiError> {
        self.chime
            .batch_unsuspend_user(
                ctx,
                BatchUnsuspendUserRequest {
                    account_id: account.to_string(),
                    user_id_list: user_ids,
                },
            )
            .await
    }

    /// The user of `account` with `email`.
    pub async fn user_by_email(&self, ctx: &RequestContext, account: &str, email: &str) -> User {
        let users = self
            .chime
            .list_users(
                ctx,
                ListUsersRequest {
                    account_id: account.to_string(),
                    user_email: Some(email.to_string()),
                    ..ListUsersRequest::default()
                },
            )
            .await
            .unwrap()
            .users
            .unwrap();
        assert_eq!(users.len(), 1, "one user {email}");
        users.into_iter().next().unwrap()
    }

    /// Invites `email` to `account` and registers it from the link; returns the user.
    pub async fn registered(&self, ctx: &RequestContext, account: &str, email: &str) -> User {
        self.invite(ctx, account, &[email]).await;
        let token = self.mailer.token_for(email);
        carillon_chime::users::register(&self.chime, &token, "correct horse battery", "Mary Major")
            .await
            .unwrap();
        self.user_by_email(ctx, account, email).await
    }

    /// Adds a chat session row for `user_id` (what sign-in would store).
    pub async fn session(&self, user_id: &str) -> String {
        let hash = carillon_core::ids::new_uuid();
        self.test
            .exec(
                "INSERT INTO chime_sessions (session_hash, user_id, created_at, expires_at) \
                 VALUES ($1, $2, 0, 9999999999999)",
                &[&hash, user_id],
            )
            .await;
        hash
    }

    /// How many chat sessions `user_id` has.
    pub async fn sessions(&self, user_id: &str) -> i64 {
        sqlx_count(&self.test, user_id).await
    }
}

async fn sqlx_count(test: &TestStore, user_id: &str) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) AS n FROM chime_sessions WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(test.pool())
        .await
        .unwrap()
        .try_get::<i64, _>("n")
        .unwrap()
}
