//! The Chime system. Spec: chime-zh.md (main), chime-ja.md (phone-number countries, §4),
//! chime-ko.md (2025 edition: usage reports, exports, end-of-service transition).
//!
//! [`Chime`] implements the generated `ChimeApi` trait through the operation table at the end
//! of this file (`impl_chime_api!`): each operation is a function of its object's module that
//! takes its validated input and a [`RequestContext`](carillon_core::RequestContext) naming
//! the tenant, applies the guide's rules and calls the store. One module per object:
//! `accounts` (accounts, settings, sign-in delegate groups), `users`, `rooms` (rooms,
//! memberships, redaction), `bots`, `phone_numbers`, `retention`. What Chime offered only in
//! its console (domain claims, incoming webhooks, porting orders, reports and exports) is
//! added to Carillon's admin API by [`register_carillon_operations`]. Every lookup of a Chime
//! account is scoped to `ctx.account_id`, so another tenant's objects read as
//! `NotFoundException`. `CreateMeetingDialOut` keeps the trait's default answer,
//! `NotImplementedException`, until meetings exist.
//!
//! Every function of the crate fails with [`Error`], the model error shape it is answered
//! with: `?` on a store failure logs it once and answers `ServiceFailureException`, so no
//! operation maps errors by hand; the operation table and the admin-API operations turn it
//! into the wire layer's `ApiError`.
//!
//! Real-time chat events (new, edited and redacted messages, membership changes, presence)
//! are published on the [`hub::Hub`]; the client edge (`carillon-chime-client`) streams them
//! to WebSocket clients and the bot dispatcher turns them into bot events. Background work
//! is listed in [`jobs::all`].
//!
//! Modules, by area:
//! - accounts and users: `accounts` (with the sign-in delegate groups over the tenant's
//!   WorkMail groups and the DeleteAccount preconditions), `users` (InviteUsers …
//!   UpdateUserSettings, registration from an invitation's or sign-up's single-use link,
//!   licenses), `domains` (domain claims verified by TXT record through the configured
//!   resolver; removal releasing users; the verification and released-users purge jobs),
//!   `sessions` (Argon2id sign-in, SHA-256-named 24-hour bearer sessions, the per-email
//!   failed-sign-in throttle);
//! - chat: `rooms` (rooms, memberships, redaction; the same room actions for signed-in
//!   users), `conversations` (1:1 reused by its pair key, groups), `messages` (posting for
//!   users, bots and webhooks: membership, 4 KB, mentions, the hub event; edits; history),
//!   `mentions` (`@alias`, `@All`, `@Present`), `presence` (Online/Offline from the hub's
//!   connection counts), `hub` (the broadcast of `ChatEvent`s; `hub::relay` carries them
//!   between nodes through the store's NOTIFY), `chat_crypto` (content sealed per message
//!   under the room's or conversation's key);
//! - bots and webhooks: `bots` (CreateBot … DeleteEventsConfiguration, the sealed
//!   SecurityToken, the signed challenge and reply URLs), `bot_events` (the job sending
//!   Invite, Mention and Remove with `Chime-Signature`), `webhooks` (incoming webhooks and
//!   their §3.3 limits);
//! - phone numbers: `carrier` (the `Carrier` adapter trait and the built-in `PoolCarrier`,
//!   with the CSV import), `countries` (the chime-ja §4.2 country table as data),
//!   `phone_numbers` (the 18 phone-number operations, orders settled in the background, the
//!   7-day deletion queue), `porting` (porting orders: the eight §4.4 statuses);
//! - retention and reports: `retention` (Put/GetRetentionSettings and the §2.6 decision
//!   tables), `chat_retention_job` (hides, restores within 30 days, purges), `reports`
//!   (usage reporting and the weekly CSV job), `exports` (room member-list and personal
//!   contacts CSV);
//! - shared: `errors` ([`Error`]), `paging` (MaxResults and NextTokens), `jobs`.

mod accounts;
pub mod bot_events;
pub mod bots;
pub mod carrier;
mod chat_crypto;
pub mod chat_retention_job;
pub mod conversations;
pub mod countries;
pub mod domains;
mod errors;
pub mod exports;
pub mod hub;
pub mod jobs;
pub mod mentions;
pub mod messages;
mod paging;
pub mod phone_numbers;
pub mod porting;
pub mod presence;
pub mod reports;
pub mod retention;
pub mod rooms;
pub mod sessions;
pub mod users;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use carillon_core::pagination::TokenCodec;
use carillon_store::{Store, StoreError};

pub use errors::{Error, Result};

/// Sends a message through Carillon's own mail path: into a Carillon mailbox when the
/// recipient is local, out through the outbound queue otherwise. The binary implements it
/// over carillon-mail (service crates do not depend on each other).
#[async_trait::async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends `message` (RFC 5322, CRLF line ends) with envelope sender `envelope_from` to
    /// `recipient`.
    ///
    /// Errors: a human-readable reason the message could not be accepted.
    async fn send(
        &self,
        envelope_from: &str,
        recipient: &str,
        message: Vec<u8>,
    ) -> Result<(), String>;
}

/// What the Chime system needs from its host beyond the store.
#[derive(Clone)]
pub struct ChimeConfig {
    /// Region of ARNs (default `us-east-1`).
    pub region: String,
    /// The base URL clients reach Carillon's HTTP listener at (no trailing slash), used in
    /// invitation links, incoming-webhook URLs and bot reply URLs.
    pub public_url: String,
    /// The mail domain Carillon's own messages (invitations) come from.
    pub hostname: String,
    /// DNS server for domain-claim verification (`None`: the system resolver).
    pub dns_resolver: Option<SocketAddr>,
    /// The mail path of invitations (`None`: invitations cannot be sent and are `Failed`).
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Extra trusted CA certificates (PEM) for outgoing HTTPS (bot endpoints).
    pub trusted_ca_pem: Option<Vec<u8>>,
    /// How often the retention job runs (default daily).
    pub retention_interval: Duration,
    /// This node's stable identity, the holder of the jobs' leases (default: a fresh UUID).
    pub node_id: String,
}

impl std::fmt::Debug for ChimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChimeConfig")
            .field("region", &self.region)
            .field("public_url", &self.public_url)
            .field("hostname", &self.hostname)
            .field("dns_resolver", &self.dns_resolver)
            .field("mailer", &self.mailer.is_some())
            .field("trusted_ca_pem", &self.trusted_ca_pem.is_some())
            .field("retention_interval", &self.retention_interval)
            .field("node_id", &self.node_id)
            .finish()
    }
}

impl Default for ChimeConfig {
    /// Loopback defaults for tests: `us-east-1`, `http://127.0.0.1:8080`, host `localhost`,
    /// the system resolver, no mail path, no extra CA, a daily retention job.
    fn default() -> ChimeConfig {
        ChimeConfig {
            region: "us-east-1".to_string(),
            public_url: "http://127.0.0.1:8080".to_string(),
            hostname: "localhost".to_string(),
            dns_resolver: None,
            mailer: None,
            trusted_ca_pem: None,
            retention_interval: Duration::from_secs(24 * 60 * 60),
            node_id: carillon_core::ids::new_uuid(),
        }
    }
}

/// The Chime admin operations over one store.
#[derive(Debug, Clone)]
pub struct Chime {
    store: Store,
    tokens: TokenCodec,
    config: Arc<ChimeConfig>,
    hub: hub::Hub,
    carrier: Arc<dyn carrier::Carrier>,
}

impl Chime {
    /// Builds the service over `store` with [`ChimeConfig::default`].
    ///
    /// Errors: the store cannot provide the pagination secret.
    pub async fn new(store: Store) -> Result<Chime, StoreError> {
        Chime::with_config(store, ChimeConfig::default()).await
    }

    /// Builds the service over `store` with `config`; pagination tokens are keyed with the
    /// store's `pagination` server secret (the one WorkMail uses, so a token stays
    /// tamper-checked).
    ///
    /// Errors: the store cannot provide the secret.
    pub async fn with_config(store: Store, config: ChimeConfig) -> Result<Chime, StoreError> {
        let tokens = TokenCodec::new(store.server_secret("pagination").await?);
        Ok(Chime {
            carrier: Arc::new(carrier::PoolCarrier::new(store.clone())),
            store,
            tokens,
            config: Arc::new(config),
            hub: hub::Hub::new(),
        })
    }

    /// The same service with phone numbers from `carrier` instead of the built-in pool.
    pub fn with_carrier(mut self, carrier: Arc<dyn carrier::Carrier>) -> Chime {
        self.carrier = carrier;
        self
    }

    /// The store (for the client edge and the binary's jobs).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration the service was built with.
    pub fn config(&self) -> &ChimeConfig {
        &self.config
    }

    /// The real-time event hub of this node.
    pub fn hub(&self) -> &hub::Hub {
        &self.hub
    }
}

/// Adds the Chime operations of Carillon's own admin API (what the original offered only in
/// its console) to `registry`.
pub fn register_carillon_operations(registry: &mut carillon_adminapi::Registry, chime: &Chime) {
    webhooks::register(registry, chime);
    domains::register(registry, chime);
    reports::register(registry, chime);
    porting::register(registry, chime);
}

// The model operations Chime implements, each by the function of its object's module;
// `CreateMeetingDialOut` keeps the trait's answer, `NotImplementedException`.
carillon_awsapi::impl_chime_api!(Chime {
    AssociatePhoneNumberWithUser => phone_numbers::associate_phone_number_with_user,
    AssociateSigninDelegateGroupsWithAccount => accounts::associate_signin_delegate_groups_with_account,
    BatchCreateRoomMembership => rooms::batch_create_room_membership,
    BatchDeletePhoneNumber => phone_numbers::batch_delete_phone_number,
    BatchSuspendUser => users::batch_suspend_user,
    BatchUnsuspendUser => users::batch_unsuspend_user,
    BatchUpdatePhoneNumber => phone_numbers::batch_update_phone_number,
    BatchUpdateUser => users::batch_update_user,
    CreateAccount => accounts::create,
    CreateBot => bots::create_bot,
    CreatePhoneNumberOrder => phone_numbers::create_phone_number_order,
    CreateRoom => rooms::create_room,
    CreateRoomMembership => rooms::create_room_membership,
    CreateUser => users::create_user,
    DeleteAccount => accounts::delete,
    DeleteEventsConfiguration => bots::delete_events_configuration,
    DeletePhoneNumber => phone_numbers::delete_phone_number,
    DeleteRoom => rooms::delete_room,
    DeleteRoomMembership => rooms::delete_room_membership,
    DisassociatePhoneNumberFromUser => phone_numbers::disassociate_phone_number_from_user,
    DisassociateSigninDelegateGroupsFromAccount => accounts::disassociate_signin_delegate_groups_from_account,
    GetAccount => accounts::get,
    GetAccountSettings => accounts::get_settings,
    GetBot => bots::get_bot,
    GetEventsConfiguration => bots::get_events_configuration,
    GetGlobalSettings => phone_numbers::get_global_settings,
    GetPhoneNumber => phone_numbers::get_phone_number,
    GetPhoneNumberOrder => phone_numbers::get_phone_number_order,
    GetPhoneNumberSettings => phone_numbers::get_phone_number_settings,
    GetRetentionSettings => retention::get_retention_settings,
    GetRoom => rooms::get_room,
    GetUser => users::get_user,
    GetUserSettings => users::get_user_settings,
    InviteUsers => users::invite_users,
    ListAccounts => accounts::list,
    ListBots => bots::list_bots,
    ListPhoneNumberOrders => phone_numbers::list_phone_number_orders,
    ListPhoneNumbers => phone_numbers::list_phone_numbers,
    ListRoomMemberships => rooms::list_room_memberships,
    ListRooms => rooms::list_rooms,
    ListSupportedPhoneNumberCountries => phone_numbers::list_supported_phone_number_countries,
    ListUsers => users::list_users,
    LogoutUser => users::logout_user,
    PutEventsConfiguration => bots::put_events_configuration,
    PutRetentionSettings => retention::put_retention_settings,
    RedactConversationMessage => rooms::redact_conversation_message,
    RedactRoomMessage => rooms::redact_room_message,
    RegenerateSecurityToken => bots::regenerate_security_token,
    ResetPersonalPIN => users::reset_personal_pin,
    RestorePhoneNumber => phone_numbers::restore_phone_number,
    SearchAvailablePhoneNumbers => phone_numbers::search_available_phone_numbers,
    UpdateAccount => accounts::update,
    UpdateAccountSettings => accounts::update_settings,
    UpdateBot => bots::update_bot,
    UpdateGlobalSettings => phone_numbers::update_global_settings,
    UpdatePhoneNumber => phone_numbers::update_phone_number,
    UpdatePhoneNumberSettings => phone_numbers::update_phone_number_settings,
    UpdateRoom => rooms::update_room,
    UpdateRoomMembership => rooms::update_room_membership,
    UpdateUser => users::update_user,
    UpdateUserSettings => users::update_user_settings,
});
