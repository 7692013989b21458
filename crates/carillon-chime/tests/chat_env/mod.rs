//! What the chat and room tests add to [`crate::support`]: users with a password and a
//! session value to act as, and bots written through the store (the users and bots
//! operations have tests of their own), and the hub's events.

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use carillon_chime::hub::ChatEvent;
use carillon_chime::sessions::SessionUser;
use carillon_core::time::now_millis;
use carillon_core::RequestContext;
use carillon_store::chime::bots::{BotCreation, BotRecord};
use carillon_store::chime::users::ChimeUserRecord;
use tokio::sync::broadcast::Receiver;

use crate::support::{in_account, user_row, Env};

/// The password of every user [`Env::user`] makes.
pub const PASSWORD: &str = "correct horse battery";

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
        self.insert_user(ChimeUserRecord {
            license_type: None,
            ..user_record(email, "Unmanaged", "Registered", now_millis())
        })
        .await
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
        let email = email.to_lowercase();
        let user_id = self
            .insert_user(in_account(
                &ctx.account_id,
                account,
                user_record(&email, display_name, registration_status, now),
            ))
            .await;
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

/// A Pro user row with [`PASSWORD`], created and registered `now`, of no account until the
/// caller sets one.
fn user_record(
    email: &str,
    display_name: &str,
    registration_status: &str,
    now: i64,
) -> ChimeUserRecord {
    ChimeUserRecord {
        display_name: Some(display_name.to_string()),
        registration_status: registration_status.to_string(),
        registered_at: Some(now),
        password_hash: Some(password_hash()),
        created_at: now,
        updated_at: now,
        ..user_row(&email.to_lowercase())
    }
}
