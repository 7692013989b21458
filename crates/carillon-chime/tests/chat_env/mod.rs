//! The environment the chat and room tests share: a Chime service per test store (SQLite,
//! and PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set), tenants, Chime accounts
//! through CreateAccount, and registered users and bots written through the store (the
//! users and bots operations have tests of their own).

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use carillon_awsapi::generated::chime::*;
use carillon_chime::hub::ChatEvent;
use carillon_chime::sessions::SessionUser;
use carillon_chime::Chime;
use carillon_core::time::now_millis;
use carillon_core::RequestContext;
use carillon_store::chime::bots::{BotCreation, BotRecord};
use carillon_store::chime::users::ChimeUserRecord;
use carillon_store::testing::{create_account, test_stores, TestStore};
use tokio::sync::broadcast::Receiver;

/// The password of every user [`Env::user`] makes.
pub const PASSWORD: &str = "correct horse battery";

/// A Chime service over one test store (kept alive alongside).
pub struct Env {
    pub chime: Chime,
    pub test: TestStore,
}

pub async fn envs() -> Vec<Env> {
    let mut out = Vec::new();
    for test in test_stores().await {
        let chime = Chime::new(test.store.clone()).await.unwrap();
        out.push(Env { chime, test });
    }
    out
}

/// [`PASSWORD`] hashed once per test binary (Argon2 is slow in debug builds).
fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        Argon2::default()
            .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string()
    })
    .clone()
}

/// A user the tests act as.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub user_id: String,
    pub email: String,
    pub session: SessionUser,
}

impl Env {
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

    /// A new Chime account of `ctx`'s tenant; its ID.
    pub async fn account(&self, ctx: &RequestContext, name: &str) -> String {
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
            .account_id
    }

    /// A registered Pro user of `account` with [`PASSWORD`] and a display name, and a
    /// session value for calling the chat functions directly.
    pub async fn user(
        &self,
        ctx: &RequestContext,
        account: &str,
        email: &str,
        display_name: &str,
    ) -> TestUser {
        self.user_with(ctx, account, email, display_name, "Registered")
            .await
    }

    /// A registered unmanaged identity (no account, no license: a user removed from a Team
    /// account, §1.3) with [`PASSWORD`]; its user ID.
    pub async fn unmanaged(&self, email: &str) -> String {
        let now = now_millis();
        let user_id = carillon_core::ids::new_uuid();
        self.test
            .store
            .insert_chime_user(&ChimeUserRecord {
                license_type: None,
                ..user_record(&user_id, email, "Unmanaged", "Registered", now)
            })
            .await
            .unwrap();
        user_id
    }

    /// A user of `account` in `registration_status`.
    pub async fn user_with(
        &self,
        ctx: &RequestContext,
        account: &str,
        email: &str,
        display_name: &str,
        registration_status: &str,
    ) -> TestUser {
        let now = now_millis();
        let user_id = carillon_core::ids::new_uuid();
        let email = email.to_lowercase();
        self.test
            .store
            .insert_chime_user(&ChimeUserRecord {
                account_id: Some(ctx.account_id.clone()),
                chime_account_id: Some(account.to_string()),
                ..user_record(&user_id, &email, display_name, registration_status, now)
            })
            .await
            .unwrap();
        TestUser {
            session: SessionUser {
                user_id: user_id.clone(),
                account_id: Some(ctx.account_id.clone()),
                chime_account_id: Some(account.to_string()),
                email: email.clone(),
                display_name: Some(display_name.to_string()),
                expires_at: now + 3_600_000,
            },
            user_id,
            email,
        }
    }

    /// A bot of `account` (Enterprise rules are the bots tests'); its `(bot_id, user_id)`.
    pub async fn bot(
        &self,
        ctx: &RequestContext,
        account: &str,
        name: &str,
        endpoint: Option<&str>,
        disabled: bool,
    ) -> (String, String) {
        let now = now_millis();
        let bot = BotRecord {
            bot_id: carillon_core::ids::new_uuid(),
            user_id: carillon_core::ids::new_uuid(),
            account_id: ctx.account_id.clone(),
            chime_account_id: account.to_string(),
            display_name: name.to_string(),
            bot_email: format!("{name}-chimebot@example.com").to_lowercase(),
            disabled,
            security_token: "sealed-token".to_string(),
            outbound_events_endpoint: endpoint.map(str::to_string),
            created_at: now,
            updated_at: now,
        };
        let made = self.test.store.create_chime_bot(&bot, 10).await.unwrap();
        assert_eq!(made, BotCreation::Created);
        (bot.bot_id, bot.user_id)
    }

    /// A subscription to the hub from now on.
    pub fn events(&self) -> Receiver<Arc<ChatEvent>> {
        self.chime.hub().subscribe()
    }
}

/// Every event already published on `events`.
pub fn drain(events: &mut Receiver<Arc<ChatEvent>>) -> Vec<ChatEvent> {
    let mut out = Vec::new();
    while let Ok(event) = events.try_recv() {
        out.push((*event).clone());
    }
    out
}

/// The error code of `result`, which must be an error.
pub fn code<T: std::fmt::Debug>(result: Result<T, carillon_core::ApiError>) -> String {
    result.expect_err("an error").code.to_string()
}

/// A Pro user row with [`PASSWORD`], of no account until the caller sets one.
fn user_record(
    user_id: &str,
    email: &str,
    display_name: &str,
    registration_status: &str,
    now: i64,
) -> ChimeUserRecord {
    ChimeUserRecord {
        user_id: user_id.to_string(),
        account_id: None,
        chime_account_id: None,
        primary_email: email.to_lowercase(),
        display_name: Some(display_name.to_string()),
        user_type: "PrivateUser".to_string(),
        license_type: Some("Pro".to_string()),
        registration_status: registration_status.to_string(),
        invitation_status: None,
        invited_at: None,
        registered_at: Some(now),
        trial_started_at: None,
        personal_pin: "0123456789".to_string(),
        password_hash: Some(password_hash()),
        privacy: "Public".to_string(),
        alexa_enabled: false,
        alexa_room_arn: None,
        inbound_calling: true,
        outbound_calling: true,
        sms: true,
        primary_provisioned_number: None,
        created_at: now,
        updated_at: now,
    }
}
