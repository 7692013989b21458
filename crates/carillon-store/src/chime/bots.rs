//! Chat bots, their events configuration, and incoming webhooks. Spec: chime-zh.md §1.16–§1.18.
//!
//! Tables: `chime_bots` (0016) and `chime_webhooks` (0019); a bot or a webhook in a room is a
//! `chime_room_memberships` row (member type `Bot` with the bot's user ID, `Webhook` with the
//! webhook ID). Every tenant-owned query filters on `account_id`; the two lookups by URL
//! ([`Store::chime_webhook_by_url`]) and by bot user ID for event delivery take the tenant
//! from the caller too. The rules (limits, who may post) live in carillon-chime.

use crate::error::StoreResult;
use crate::sql::{self, Arg};
use crate::Store;

/// A chat bot as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct BotRecord {
    /// The bot ID (UUID).
    pub bot_id: String,
    /// Its member ID in rooms (UUID).
    pub user_id: String,
    /// The tenant.
    pub account_id: String,
    /// The Enterprise Chime account.
    pub chime_account_id: String,
    /// `DisplayName` (≤ 55 characters, immutable).
    pub display_name: String,
    /// `<display name>-chimebot@<domain>`, immutable, unique.
    pub bot_email: String,
    /// Disabled by UpdateBot.
    pub disabled: bool,
    /// The SecurityToken as sealed by carillon-chime (never the plaintext).
    pub security_token: String,
    /// The events configuration's HTTPS endpoint, if any.
    pub outbound_events_endpoint: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub updated_at: i64,
}

impl std::fmt::Debug for BotRecord {
    /// Everything but the sealed token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotRecord")
            .field("bot_id", &self.bot_id)
            .field("user_id", &self.user_id)
            .field("account_id", &self.account_id)
            .field("chime_account_id", &self.chime_account_id)
            .field("display_name", &self.display_name)
            .field("bot_email", &self.bot_email)
            .field("disabled", &self.disabled)
            .field("outbound_events_endpoint", &self.outbound_events_endpoint)
            .finish_non_exhaustive()
    }
}

/// What [`Store::create_chime_bot`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotCreation {
    /// The bot was stored.
    Created,
    /// The Chime account already has the maximum number of bots.
    LimitReached,
    /// Another bot already has this email.
    EmailTaken,
    /// The Chime account does not exist in the tenant (or is deleted).
    AccountGone,
}

/// An incoming webhook as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    /// The webhook ID (UUID), its member ID in the room.
    pub webhook_id: String,
    /// The tenant.
    pub account_id: String,
    /// The Chime account of the room.
    pub chime_account_id: String,
    /// Its room.
    pub room_id: String,
    /// The name shown (followed by " (Webhook)").
    pub name: String,
    /// The ID in the current URL.
    pub url_id: String,
    /// SHA-256 (hex) of the current URL's token.
    pub token_hash: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub updated_at: i64,
}

/// What [`Store::create_chime_webhook`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookCreation {
    /// The webhook and its membership were stored.
    Created,
    /// The room already has the maximum number of webhooks.
    LimitReached,
    /// No such room in the tenant's Chime account.
    RoomGone,
}

type BotRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    Option<String>,
    i64,
    i64,
);

const BOT_COLUMNS: &str = "bot_id, user_id, account_id, chime_account_id, display_name, \
     bot_email, disabled, security_token, outbound_events_endpoint, created_at, updated_at";

fn bot(row: BotRow) -> BotRecord {
    let (
        bot_id,
        user_id,
        account_id,
        chime_account_id,
        display_name,
        bot_email,
        disabled,
        security_token,
        outbound_events_endpoint,
        created_at,
        updated_at,
    ) = row;
    BotRecord {
        bot_id,
        user_id,
        account_id,
        chime_account_id,
        display_name,
        bot_email,
        disabled: disabled != 0,
        security_token,
        outbound_events_endpoint,
        created_at,
        updated_at,
    }
}

type WebhookRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
);

const WEBHOOK_COLUMNS: &str = "webhook_id, account_id, chime_account_id, room_id, name, url_id, \
     token_hash, created_at, updated_at";

fn webhook(row: WebhookRow) -> WebhookRecord {
    let (
        webhook_id,
        account_id,
        chime_account_id,
        room_id,
        name,
        url_id,
        token_hash,
        created_at,
        updated_at,
    ) = row;
    WebhookRecord {
        webhook_id,
        account_id,
        chime_account_id,
        room_id,
        name,
        url_id,
        token_hash,
        created_at,
        updated_at,
    }
}

impl Store {
    /// Stores `bot` unless its Chime account (live, in the tenant) already has `limit` bots
    /// or its email is taken. The account row is locked for the count (a no-op update of a
    /// non-key column, so other rows may still reference it meanwhile), so two concurrent
    /// creations cannot both take the last place.
    ///
    /// Errors: `Database`.
    pub async fn create_chime_bot(&self, bot: &BotRecord, limit: i64) -> StoreResult<BotCreation> {
        let mut tx = self.begin_write().await?;
        let account: [Arg; 2] = [(&bot.account_id).into(), (&bot.chime_account_id).into()];
        let locked = sql::changed(
            &mut *tx,
            "UPDATE chime_accounts SET name = name \
             WHERE account_id = $1 AND chime_account_id = $2 AND deleted_at IS NULL",
            &account,
        )
        .await?;
        if !locked {
            return Ok(BotCreation::AccountGone);
        }
        let (count,): (i64,) = sql::fetch_one(
            &mut *tx,
            "SELECT COUNT(*) FROM chime_bots WHERE account_id = $1 AND chime_account_id = $2",
            &account,
        )
        .await?;
        if count >= limit {
            return Ok(BotCreation::LimitReached);
        }
        let (taken,): (i64,) = sql::fetch_one(
            &mut *tx,
            "SELECT COUNT(*) FROM chime_bots WHERE LOWER(bot_email) = LOWER($1)",
            &[(&bot.bot_email).into()],
        )
        .await?;
        if taken > 0 {
            return Ok(BotCreation::EmailTaken);
        }
        sql::execute(
            &mut *tx,
            &format!(
                "INSERT INTO chime_bots ({BOT_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            &[
                (&bot.bot_id).into(),
                (&bot.user_id).into(),
                (&bot.account_id).into(),
                (&bot.chime_account_id).into(),
                (&bot.display_name).into(),
                (&bot.bot_email).into(),
                bot.disabled.into(),
                (&bot.security_token).into(),
                (&bot.outbound_events_endpoint).into(),
                bot.created_at.into(),
                bot.updated_at.into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(BotCreation::Created)
    }

    /// The tenant's bot whose `column` (`bot_id` or `user_id`) is `value`.
    async fn chime_bot_where(
        &self,
        column: &'static str,
        account_id: &str,
        value: &str,
    ) -> StoreResult<Option<BotRecord>> {
        let sql =
            format!("SELECT {BOT_COLUMNS} FROM chime_bots WHERE account_id = $1 AND {column} = $2");
        let row: Option<BotRow> =
            sql::fetch_optional(&self.pool, &sql, &[account_id.into(), value.into()]).await?;
        Ok(row.map(bot))
    }

    /// The bot `bot_id` of the tenant's Chime account.
    ///
    /// Errors: `Database`.
    pub async fn chime_bot(
        &self,
        account_id: &str,
        chime_account_id: &str,
        bot_id: &str,
    ) -> StoreResult<Option<BotRecord>> {
        Ok(self
            .chime_bot_where("bot_id", account_id, bot_id)
            .await?
            .filter(|b| b.chime_account_id == chime_account_id))
    }

    /// The tenant's bot whose room member ID is `user_id` (event delivery).
    ///
    /// Errors: `Database`.
    pub async fn chime_bot_by_user(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<BotRecord>> {
        self.chime_bot_where("user_id", account_id, user_id).await
    }

    /// The tenant's bot `bot_id`, whatever its Chime account (a bot's post names only the
    /// bot and the room).
    ///
    /// Errors: `Database`.
    pub async fn chime_bot_by_id(
        &self,
        account_id: &str,
        bot_id: &str,
    ) -> StoreResult<Option<BotRecord>> {
        self.chime_bot_where("bot_id", account_id, bot_id).await
    }

    /// The bots of the tenant's Chime account with an ID greater than `after`, by ID, at
    /// most `limit`.
    ///
    /// Errors: `Database`.
    pub async fn list_chime_bots(
        &self,
        account_id: &str,
        chime_account_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<BotRecord>> {
        let sql = format!(
            "SELECT {BOT_COLUMNS} FROM chime_bots \
             WHERE account_id = $1 AND chime_account_id = $2 AND bot_id > $3 \
             ORDER BY bot_id LIMIT $4"
        );
        let args = [
            account_id.into(),
            chime_account_id.into(),
            after.unwrap_or_default().into(),
            limit.into(),
        ];
        let rows: Vec<BotRow> = sql::fetch_all(&self.pool, &sql, &args).await?;
        Ok(rows.into_iter().map(bot).collect())
    }

    /// The tenant's bots that are members of `room_id` (the bots a message there may
    /// mention).
    ///
    /// Errors: `Database`.
    pub async fn chime_bots_in_room(
        &self,
        account_id: &str,
        room_id: &str,
    ) -> StoreResult<Vec<BotRecord>> {
        let columns = BOT_COLUMNS
            .split(", ")
            .map(|c| format!("b.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM chime_bots b JOIN chime_room_memberships m \
             ON m.member_id = b.user_id AND m.member_type = 'Bot' \
             WHERE b.account_id = $1 AND m.room_id = $2 ORDER BY b.bot_id"
        );
        let rows: Vec<BotRow> =
            sql::fetch_all(&self.pool, &sql, &[account_id.into(), room_id.into()]).await?;
        Ok(rows.into_iter().map(bot).collect())
    }

    /// Saves the mutable parts of `bot` (disabled, sealed token, endpoint, updated time).
    /// Returns whether the bot exists in the tenant.
    ///
    /// Errors: `Database`.
    pub async fn update_chime_bot(&self, bot: &BotRecord) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "UPDATE chime_bots SET disabled = $1, security_token = $2, \
             outbound_events_endpoint = $3, updated_at = $4 \
             WHERE account_id = $5 AND chime_account_id = $6 AND bot_id = $7",
            &[
                bot.disabled.into(),
                (&bot.security_token).into(),
                (&bot.outbound_events_endpoint).into(),
                bot.updated_at.into(),
                (&bot.account_id).into(),
                (&bot.chime_account_id).into(),
                (&bot.bot_id).into(),
            ],
        )
        .await
    }

    /// Whether `domain_name` (lower-case) is a `Verified` claimed domain of the tenant's
    /// Chime account (table `chime_domains`).
    ///
    /// Errors: `Database`.
    pub async fn chime_domain_verified(
        &self,
        account_id: &str,
        chime_account_id: &str,
        domain_name: &str,
    ) -> StoreResult<bool> {
        let (count,): (i64,) = sql::fetch_one(
            &self.pool,
            "SELECT COUNT(*) FROM chime_domains WHERE account_id = $1 \
             AND chime_account_id = $2 AND domain_name = $3 AND status = 'Verified'",
            &[
                account_id.into(),
                chime_account_id.into(),
                domain_name.into(),
            ],
        )
        .await?;
        Ok(count > 0)
    }

    /// The member type and role of `member_id` in the tenant's room `room_id`, if a member.
    ///
    /// Errors: `Database`.
    pub async fn chime_room_member(
        &self,
        account_id: &str,
        room_id: &str,
        member_id: &str,
    ) -> StoreResult<Option<(String, String)>> {
        sql::fetch_optional(
            &self.pool,
            "SELECT member_type, role FROM chime_room_memberships \
             WHERE account_id = $1 AND room_id = $2 AND member_id = $3",
            &[account_id.into(), room_id.into(), member_id.into()],
        )
        .await
    }

    /// How many users (member type `User`) are members of the tenant's room `room_id`.
    ///
    /// Errors: `Database`.
    pub async fn chime_room_user_count(&self, account_id: &str, room_id: &str) -> StoreResult<i64> {
        let (count,): (i64,) = sql::fetch_one(
            &self.pool,
            "SELECT COUNT(*) FROM chime_room_memberships \
             WHERE account_id = $1 AND room_id = $2 AND member_type = 'User'",
            &[account_id.into(), room_id.into()],
        )
        .await?;
        Ok(count)
    }

    /// The primary email of the Chime user `user_id`, if the user exists.
    ///
    /// Errors: `Database`.
    pub async fn chime_user_email(&self, user_id: &str) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = sql::fetch_optional(
            &self.pool,
            "SELECT primary_email FROM chime_users WHERE user_id = $1",
            &[user_id.into()],
        )
        .await?;
        Ok(row.map(|(email,)| email))
    }

    /// Stores `webhook` and makes it a `Member` of its room (member type `Webhook`), unless
    /// the room (in the tenant's Chime account) is gone or already has `limit` webhooks. The
    /// room row is locked for the count.
    ///
    /// Errors: `Database`.
    pub async fn create_chime_webhook(
        &self,
        webhook: &WebhookRecord,
        limit: i64,
    ) -> StoreResult<WebhookCreation> {
        let mut tx = self.begin_write().await?;
        let locked = sql::changed(
            &mut *tx,
            "UPDATE chime_rooms SET name = name \
             WHERE account_id = $1 AND chime_account_id = $2 AND room_id = $3",
            &[
                (&webhook.account_id).into(),
                (&webhook.chime_account_id).into(),
                (&webhook.room_id).into(),
            ],
        )
        .await?;
        if !locked {
            return Ok(WebhookCreation::RoomGone);
        }
        let (count,): (i64,) = sql::fetch_one(
            &mut *tx,
            "SELECT COUNT(*) FROM chime_webhooks WHERE account_id = $1 AND room_id = $2",
            &[(&webhook.account_id).into(), (&webhook.room_id).into()],
        )
        .await?;
        if count >= limit {
            return Ok(WebhookCreation::LimitReached);
        }
        sql::execute(
            &mut *tx,
            &format!(
                "INSERT INTO chime_webhooks ({WEBHOOK_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
            &[
                (&webhook.webhook_id).into(),
                (&webhook.account_id).into(),
                (&webhook.chime_account_id).into(),
                (&webhook.room_id).into(),
                (&webhook.name).into(),
                (&webhook.url_id).into(),
                (&webhook.token_hash).into(),
                webhook.created_at.into(),
                webhook.updated_at.into(),
            ],
        )
        .await?;
        sql::execute(
            &mut *tx,
            "INSERT INTO chime_room_memberships \
             (room_id, member_id, account_id, member_type, role, invited_by, updated_at) \
             VALUES ($1, $2, $3, 'Webhook', 'Member', NULL, $4)",
            &[
                (&webhook.room_id).into(),
                (&webhook.webhook_id).into(),
                (&webhook.account_id).into(),
                webhook.created_at.into(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(WebhookCreation::Created)
    }

    /// The webhooks of the tenant's room with an ID greater than `after`, by ID, at most
    /// `limit`.
    ///
    /// Errors: `Database`.
    pub async fn list_chime_webhooks(
        &self,
        account_id: &str,
        chime_account_id: &str,
        room_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<WebhookRecord>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM chime_webhooks \
             WHERE account_id = $1 AND chime_account_id = $2 AND room_id = $3 \
             AND webhook_id > $4 ORDER BY webhook_id LIMIT $5"
        );
        let args = [
            account_id.into(),
            chime_account_id.into(),
            room_id.into(),
            after.unwrap_or_default().into(),
            limit.into(),
        ];
        let rows: Vec<WebhookRow> = sql::fetch_all(&self.pool, &sql, &args).await?;
        Ok(rows.into_iter().map(webhook).collect())
    }

    /// The tenant's webhook `webhook_id` of room `room_id`.
    ///
    /// Errors: `Database`.
    pub async fn chime_webhook(
        &self,
        account_id: &str,
        chime_account_id: &str,
        room_id: &str,
        webhook_id: &str,
    ) -> StoreResult<Option<WebhookRecord>> {
        self.chime_webhook_where(
            "account_id = $1 AND chime_account_id = $2 AND room_id = $3 AND webhook_id = $4",
            &[
                account_id.into(),
                chime_account_id.into(),
                room_id.into(),
                webhook_id.into(),
            ],
        )
        .await
    }

    /// The webhook whose current URL carries `url_id` (an incoming post; the token in the
    /// URL is the credential, checked by the caller).
    ///
    /// Errors: `Database`.
    pub async fn chime_webhook_by_url(&self, url_id: &str) -> StoreResult<Option<WebhookRecord>> {
        self.chime_webhook_where("url_id = $1", &[url_id.into()])
            .await
    }

    /// The webhook matching `condition`, its placeholders bound to `args` in order.
    async fn chime_webhook_where(
        &self,
        condition: &str,
        args: &[Arg<'_>],
    ) -> StoreResult<Option<WebhookRecord>> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM chime_webhooks WHERE {condition}");
        let row: Option<WebhookRow> = sql::fetch_optional(&self.pool, &sql, args).await?;
        Ok(row.map(webhook))
    }

    /// Gives the tenant's webhook a new URL (`url_id`, `token_hash`); the old one stops at
    /// once. Returns whether the webhook exists.
    ///
    /// Errors: `Database`.
    pub async fn regenerate_chime_webhook_url(&self, webhook: &WebhookRecord) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "UPDATE chime_webhooks SET url_id = $1, token_hash = $2, updated_at = $3 \
             WHERE account_id = $4 AND chime_account_id = $5 AND room_id = $6 \
             AND webhook_id = $7",
            &[
                (&webhook.url_id).into(),
                (&webhook.token_hash).into(),
                webhook.updated_at.into(),
                (&webhook.account_id).into(),
                (&webhook.chime_account_id).into(),
                (&webhook.room_id).into(),
                (&webhook.webhook_id).into(),
            ],
        )
        .await
    }

    /// Deletes the tenant's webhook and its room membership. Returns whether it existed.
    ///
    /// Errors: `Database`.
    pub async fn delete_chime_webhook(
        &self,
        account_id: &str,
        chime_account_id: &str,
        room_id: &str,
        webhook_id: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let deleted = sql::changed(
            &mut *tx,
            "DELETE FROM chime_webhooks WHERE account_id = $1 AND chime_account_id = $2 \
             AND room_id = $3 AND webhook_id = $4",
            &[
                account_id.into(),
                chime_account_id.into(),
                room_id.into(),
                webhook_id.into(),
            ],
        )
        .await?;
        if !deleted {
            return Ok(false);
        }
        sql::execute(
            &mut *tx,
            "DELETE FROM chime_room_memberships WHERE account_id = $1 AND room_id = $2 \
             AND member_id = $3 AND member_type = 'Webhook'",
            &[account_id.into(), room_id.into(), webhook_id.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Takes the webhook's posting slot at `now` (epoch ms) unless a post was accepted less
    /// than `min_interval_ms` ago; one atomic update, so the limit holds across nodes.
    /// Returns whether the slot was taken.
    ///
    /// Errors: `Database`.
    pub async fn take_chime_webhook_slot(
        &self,
        webhook_id: &str,
        now: i64,
        min_interval_ms: i64,
    ) -> StoreResult<bool> {
        sql::changed(
            &self.pool,
            "UPDATE chime_webhooks SET last_post_at = $1 WHERE webhook_id = $2 \
             AND (last_post_at IS NULL OR last_post_at <= $3 OR last_post_at > $1)",
            &[
                now.into(),
                webhook_id.into(),
                (now - min_interval_ms).into(),
            ],
        )
        .await
    }
}
