//! What every Chime service test shares: a Chime service per test store (SQLite, and
//! PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set), tenants with their admin's request
//! context, Chime accounts through CreateAccount, and users written straight through the
//! store (the users operations have tests of their own). Fixtures of one test file stay in
//! that file or in a thin module of its own (`chat_env`, `phone_env`, `users_env`).

// Each test binary uses a part of this module.
#![allow(dead_code)]

use carillon_awsapi::generated::chime::*;
use carillon_chime::{Chime, ChimeConfig};
use carillon_core::{ApiError, RequestContext};
use carillon_store::chime::users::ChimeUserRecord;
use carillon_store::testing::{create_account, test_stores, TestStore};

/// A Chime service over one test store (kept alive alongside).
pub struct Env {
    pub chime: Chime,
    pub test: TestStore,
}

/// One [`Env`] with the default configuration per configured backend.
pub async fn envs() -> Vec<Env> {
    let mut out = Vec::new();
    for test in test_stores().await {
        out.push(Env::new(test).await);
    }
    out
}

/// One [`Env`] configured by `config` per configured backend.
pub async fn envs_with(config: impl Fn() -> ChimeConfig) -> Vec<Env> {
    let mut out = Vec::new();
    for test in test_stores().await {
        out.push(Env::with_config(test, config()).await);
    }
    out
}

/// The error code of `result`, which must be an error.
pub fn code<T: std::fmt::Debug, E: Into<ApiError> + std::fmt::Debug>(
    result: Result<T, E>,
) -> String {
    result.expect_err("an error").into().code.into_owned()
}

/// A registered Pro user row `email` (not lower-cased) with a new ID, created at 0, of no
/// account and without a display name or password until the caller sets them.
pub fn user_row(email: &str) -> ChimeUserRecord {
    ChimeUserRecord {
        user_id: carillon_core::ids::new_uuid(),
        account_id: None,
        chime_account_id: None,
        primary_email: email.to_string(),
        display_name: None,
        user_type: "PrivateUser".to_string(),
        license_type: Some("Pro".to_string()),
        registration_status: "Registered".to_string(),
        invitation_status: None,
        invited_at: None,
        registered_at: None,
        trial_started_at: None,
        personal_pin: "0123456789".to_string(),
        password_hash: None,
        privacy: "Public".to_string(),
        alexa_enabled: false,
        alexa_room_arn: None,
        inbound_calling: true,
        outbound_calling: true,
        sms: true,
        primary_provisioned_number: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// `user` moved into Chime account `chime_account_id` of tenant `account_id`.
pub fn in_account(
    account_id: &str,
    chime_account_id: &str,
    user: ChimeUserRecord,
) -> ChimeUserRecord {
    ChimeUserRecord {
        account_id: Some(account_id.to_string()),
        chime_account_id: Some(chime_account_id.to_string()),
        ..user
    }
}

impl Env {
    /// A Chime service with the default configuration over `test`.
    pub async fn new(test: TestStore) -> Env {
        Env::with_config(test, ChimeConfig::default()).await
    }

    /// A Chime service configured by `config` over `test`.
    pub async fn with_config(test: TestStore, config: ChimeConfig) -> Env {
        let chime = Chime::with_config(test.store.clone(), config)
            .await
            .unwrap();
        Env { chime, test }
    }

    /// A new Carillon account (tenant) and a request context of its admin.
    pub async fn tenant(&self) -> RequestContext {
        let account_id = create_account(&self.test.store).await;
        RequestContext {
            principal_arn: format!("arn:aws:iam::{account_id}:user/admin"),
            account_id,
            access_key_id: "AKIATEST".to_string(),
            region: "us-east-1".to_string(),
            request_id: carillon_core::ids::new_uuid(),
            source_ip: "127.0.0.1".to_string(),
        }
    }

    /// CreateAccount of a (Team) Chime account `name` of `ctx`'s tenant.
    pub async fn create_account(&self, ctx: &RequestContext, name: &str) -> Account {
        self.chime
            .create_account(
                ctx,
                CreateAccountRequest {
                    name: name.to_string(),
                },
            )
            .await
            .unwrap()
            .account
            .unwrap()
    }

    /// A new (Team) Chime account `name` of `ctx`'s tenant; its ID.
    pub async fn account(&self, ctx: &RequestContext, name: &str) -> String {
        self.create_account(ctx, name).await.account_id
    }

    /// DeleteAccount.
    pub async fn delete_account(
        &self,
        ctx: &RequestContext,
        account: &str,
    ) -> Result<(), ApiError> {
        self.chime
            .delete_account(
                ctx,
                DeleteAccountRequest {
                    account_id: account.to_string(),
                },
            )
            .await
            .map(|_| ())
    }

    /// CreateRoom `name` (no client request token) in Chime account `account`.
    pub async fn create_room(&self, ctx: &RequestContext, account: &str, name: &str) -> Room {
        self.chime
            .create_room(
                ctx,
                CreateRoomRequest {
                    account_id: account.to_string(),
                    client_request_token: None,
                    name: name.to_string(),
                },
            )
            .await
            .unwrap()
            .room
            .unwrap()
    }

    /// Writes `user` to `chime_users` through the store; its user ID.
    pub async fn insert_user(&self, user: ChimeUserRecord) -> String {
        self.test.store.insert_chime_user(&user).await.unwrap();
        user.user_id
    }

    /// A registered Pro user `email` (also its display name) of Chime account
    /// `chime_account_id` of `ctx`'s tenant; its user ID.
    pub async fn member(
        &self,
        ctx: &RequestContext,
        chime_account_id: &str,
        email: &str,
    ) -> String {
        self.insert_user(in_account(
            &ctx.account_id,
            chime_account_id,
            ChimeUserRecord {
                display_name: Some(email.to_string()),
                ..user_row(email)
            },
        ))
        .await
    }

    /// A user's message `hello` from `sender` in container `container_id` (`room` or
    /// `conversation`) written straight to `chime_messages` at `created_at` (epoch ms); its
    /// message ID.
    pub async fn insert_message(
        &self,
        container_type: &str,
        container_id: &str,
        sender: &str,
        created_at: i64,
    ) -> String {
        let id = carillon_core::ids::new_uuid();
        self.test
            .exec(
                "INSERT INTO chime_messages (message_id, container_type, container_id, sender_id, \
                 sender_type, sender_name, content, created_at) \
                 VALUES ($1, $2, $3, $4, 'User', 'someone', 'hello', CAST($5 AS BIGINT))",
                &[
                    &id,
                    container_type,
                    container_id,
                    sender,
                    &created_at.to_string(),
                ],
            )
            .await;
        id
    }
}
