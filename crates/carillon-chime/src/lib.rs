//! The Chime system. Spec: chime-zh.md (main), chime-ja.md (phone-number countries, §4),
//! chime-ko.md (2025 edition: usage reports, exports, end-of-service transition).
//!
//! [`Chime`] implements the generated `ChimeApi` trait: each operation takes its validated
//! input and a [`RequestContext`] naming the tenant, applies the guide's rules and calls the
//! store. One module per object: `accounts` (accounts, settings, sign-in delegate groups),
//! `users`, `rooms` (rooms, memberships, redaction), `bots`, `phone_numbers`, `retention`.
//! What Chime offered only in its console (domain claims, incoming webhooks, porting orders,
//! reports and exports) is added to Carillon's admin API by [`register_carillon_operations`].
//! Every lookup of a Chime account is scoped to `ctx.account_id`, so another tenant's
//! objects read as `NotFoundException`. `CreateMeetingDialOut` keeps the trait's default
//! answer, `NotImplementedException`, until meetings exist.
//!
//! Real-time chat events (new, edited and redacted messages, membership changes, presence)
//! are published on the [`hub::Hub`]; the client edge (`carillon-chime-client`) streams them
//! to WebSocket clients and the bot dispatcher turns them into bot events. Background work
//! is listed in [`jobs::all`].

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

use carillon_awsapi::generated::chime::*;
use carillon_core::pagination::TokenCodec;
use carillon_core::{ApiResult, RequestContext};
use carillon_store::{Store, StoreError};

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

#[async_trait::async_trait]
impl ChimeApi for Chime {
    async fn associate_phone_number_with_user(
        &self,
        ctx: &RequestContext,
        input: AssociatePhoneNumberWithUserRequest,
    ) -> ApiResult<AssociatePhoneNumberWithUserResponse> {
        phone_numbers::associate_phone_number_with_user(self, ctx, input).await
    }

    async fn associate_signin_delegate_groups_with_account(
        &self,
        ctx: &RequestContext,
        input: AssociateSigninDelegateGroupsWithAccountRequest,
    ) -> ApiResult<AssociateSigninDelegateGroupsWithAccountResponse> {
        accounts::associate_signin_delegate_groups_with_account(self, ctx, input).await
    }

    async fn batch_create_room_membership(
        &self,
        ctx: &RequestContext,
        input: BatchCreateRoomMembershipRequest,
    ) -> ApiResult<BatchCreateRoomMembershipResponse> {
        rooms::batch_create_room_membership(self, ctx, input).await
    }

    async fn batch_delete_phone_number(
        &self,
        ctx: &RequestContext,
        input: BatchDeletePhoneNumberRequest,
    ) -> ApiResult<BatchDeletePhoneNumberResponse> {
        phone_numbers::batch_delete_phone_number(self, ctx, input).await
    }

    async fn batch_suspend_user(
        &self,
        ctx: &RequestContext,
        input: BatchSuspendUserRequest,
    ) -> ApiResult<BatchSuspendUserResponse> {
        users::batch_suspend_user(self, ctx, input).await
    }

    async fn batch_unsuspend_user(
        &self,
        ctx: &RequestContext,
        input: BatchUnsuspendUserRequest,
    ) -> ApiResult<BatchUnsuspendUserResponse> {
        users::batch_unsuspend_user(self, ctx, input).await
    }

    async fn batch_update_phone_number(
        &self,
        ctx: &RequestContext,
        input: BatchUpdatePhoneNumberRequest,
    ) -> ApiResult<BatchUpdatePhoneNumberResponse> {
        phone_numbers::batch_update_phone_number(self, ctx, input).await
    }

    async fn batch_update_user(
        &self,
        ctx: &RequestContext,
        input: BatchUpdateUserRequest,
    ) -> ApiResult<BatchUpdateUserResponse> {
        users::batch_update_user(self, ctx, input).await
    }

    async fn create_account(
        &self,
        ctx: &RequestContext,
        input: CreateAccountRequest,
    ) -> ApiResult<CreateAccountResponse> {
        accounts::create(self, ctx, input).await
    }

    async fn create_bot(
        &self,
        ctx: &RequestContext,
        input: CreateBotRequest,
    ) -> ApiResult<CreateBotResponse> {
        bots::create_bot(self, ctx, input).await
    }

    async fn create_phone_number_order(
        &self,
        ctx: &RequestContext,
        input: CreatePhoneNumberOrderRequest,
    ) -> ApiResult<CreatePhoneNumberOrderResponse> {
        phone_numbers::create_phone_number_order(self, ctx, input).await
    }

    async fn create_room(
        &self,
        ctx: &RequestContext,
        input: CreateRoomRequest,
    ) -> ApiResult<CreateRoomResponse> {
        rooms::create_room(self, ctx, input).await
    }

    async fn create_room_membership(
        &self,
        ctx: &RequestContext,
        input: CreateRoomMembershipRequest,
    ) -> ApiResult<CreateRoomMembershipResponse> {
        rooms::create_room_membership(self, ctx, input).await
    }

    async fn create_user(
        &self,
        ctx: &RequestContext,
        input: CreateUserRequest,
    ) -> ApiResult<CreateUserResponse> {
        users::create_user(self, ctx, input).await
    }

    async fn delete_account(
        &self,
        ctx: &RequestContext,
        input: DeleteAccountRequest,
    ) -> ApiResult<DeleteAccountResponse> {
        accounts::delete(self, ctx, input).await
    }

    async fn delete_events_configuration(
        &self,
        ctx: &RequestContext,
        input: DeleteEventsConfigurationRequest,
    ) -> ApiResult<carillon_awsapi::types::Unit> {
        bots::delete_events_configuration(self, ctx, input).await
    }

    async fn delete_phone_number(
        &self,
        ctx: &RequestContext,
        input: DeletePhoneNumberRequest,
    ) -> ApiResult<carillon_awsapi::types::Unit> {
        phone_numbers::delete_phone_number(self, ctx, input).await
    }

    async fn delete_room(
        &self,
        ctx: &RequestContext,
        input: DeleteRoomRequest,
    ) -> ApiResult<carillon_awsapi::types::Unit> {
        rooms::delete_room(self, ctx, input).await
    }

    async fn delete_room_membership(
        &self,
        ctx: &RequestContext,
        input: DeleteRoomMembershipRequest,
    ) -> ApiResult<carillon_awsapi::types::Unit> {
        rooms::delete_room_membership(self, ctx, input).await
    }

    async fn disassociate_phone_number_from_user(
        &self,
        ctx: &RequestContext,
        input: DisassociatePhoneNumberFromUserRequest,
    ) -> ApiResult<DisassociatePhoneNumberFromUserResponse> {
        phone_numbers::disassociate_phone_number_from_user(self, ctx, input).await
    }

    async fn disassociate_signin_delegate_groups_from_account(
        &self,
        ctx: &RequestContext,
        input: DisassociateSigninDelegateGroupsFromAccountRequest,
    ) -> ApiResult<DisassociateSigninDelegateGroupsFromAccountResponse> {
        accounts::disassociate_signin_delegate_groups_from_account(self, ctx, input).await
    }

    async fn get_account(
        &self,
        ctx: &RequestContext,
        input: GetAccountRequest,
    ) -> ApiResult<GetAccountResponse> {
        accounts::get(self, ctx, input).await
    }

    async fn get_account_settings(
        &self,
        ctx: &RequestContext,
        input: GetAccountSettingsRequest,
    ) -> ApiResult<GetAccountSettingsResponse> {
        accounts::get_settings(self, ctx, input).await
    }

    async fn get_bot(
        &self,
        ctx: &RequestContext,
        input: GetBotRequest,
    ) -> ApiResult<GetBotResponse> {
        bots::get_bot(self, ctx, input).await
    }

    async fn get_events_configuration(
        &self,
        ctx: &RequestContext,
        input: GetEventsConfigurationRequest,
    ) -> ApiResult<GetEventsConfigurationResponse> {
        bots::get_events_configuration(self, ctx, input).await
    }

    async fn get_global_settings(
        &self,
        ctx: &RequestContext,
        input: carillon_awsapi::types::Unit,
    ) -> ApiResult<GetGlobalSettingsResponse> {
        phone_numbers::get_global_settings(self, ctx, input).await
    }

    async fn get_phone_number(
        &self,
        ctx: &RequestContext,
        input: GetPhoneNumberRequest,
    ) -> ApiResult<GetPhoneNumberResponse> {
        phone_numbers::get_phone_number(self, ctx, input).await
    }

    async fn get_phone_number_order(
        &self,
        ctx: &RequestContext,
        input: GetPhoneNumberOrderRequest,
    ) -> ApiResult<GetPhoneNumberOrderResponse> {
        phone_numbers::get_phone_number_order(self, ctx, input).await
    }

    async fn get_phone_number_settings(
        &self,
        ctx: &RequestContext,
        input: carillon_awsapi::types::Unit,
    ) -> ApiResult<GetPhoneNumberSettingsResponse> {
        phone_numbers::get_phone_number_settings(self, ctx, input).await
    }

    async fn get_retention_settings(
        &self,
        ctx: &RequestContext,
        input: GetRetentionSettingsRequest,
    ) -> ApiResult<GetRetentionSettingsResponse> {
        retention::get_retention_settings(self, ctx, input).await
    }

    async fn get_room(
        &self,
        ctx: &RequestContext,
        input: GetRoomRequest,
    ) -> ApiResult<GetRoomResponse> {
        rooms::get_room(self, ctx, input).await
    }

    async fn get_user(
        &self,
        ctx: &RequestContext,
        input: GetUserRequest,
    ) -> ApiResult<GetUserResponse> {
        users::get_user(self, ctx, input).await
    }

    async fn get_user_settings(
        &self,
        ctx: &RequestContext,
        input: GetUserSettingsRequest,
    ) -> ApiResult<GetUserSettingsResponse> {
        users::get_user_settings(self, ctx, input).await
    }

    async fn invite_users(
        &self,
        ctx: &RequestContext,
        input: InviteUsersRequest,
    ) -> ApiResult<InviteUsersResponse> {
        users::invite_users(self, ctx, input).await
    }

    async fn list_accounts(
        &self,
        ctx: &RequestContext,
        input: ListAccountsRequest,
    ) -> ApiResult<ListAccountsResponse> {
        accounts::list(self, ctx, input).await
    }

    async fn list_bots(
        &self,
        ctx: &RequestContext,
        input: ListBotsRequest,
    ) -> ApiResult<ListBotsResponse> {
        bots::list_bots(self, ctx, input).await
    }

    async fn list_phone_number_orders(
        &self,
        ctx: &RequestContext,
        input: ListPhoneNumberOrdersRequest,
    ) -> ApiResult<ListPhoneNumberOrdersResponse> {
        phone_numbers::list_phone_number_orders(self, ctx, input).await
    }

    async fn list_phone_numbers(
        &self,
        ctx: &RequestContext,
        input: ListPhoneNumbersRequest,
    ) -> ApiResult<ListPhoneNumbersResponse> {
        phone_numbers::list_phone_numbers(self, ctx, input).await
    }

    async fn list_room_memberships(
        &self,
        ctx: &RequestContext,
        input: ListRoomMembershipsRequest,
    ) -> ApiResult<ListRoomMembershipsResponse> {
        rooms::list_room_memberships(self, ctx, input).await
    }

    async fn list_rooms(
        &self,
        ctx: &RequestContext,
        input: ListRoomsRequest,
    ) -> ApiResult<ListRoomsResponse> {
        rooms::list_rooms(self, ctx, input).await
    }

    async fn list_supported_phone_number_countries(
        &self,
        ctx: &RequestContext,
        input: ListSupportedPhoneNumberCountriesRequest,
    ) -> ApiResult<ListSupportedPhoneNumberCountriesResponse> {
        phone_numbers::list_supported_phone_number_countries(self, ctx, input).await
    }

    async fn list_users(
        &self,
        ctx: &RequestContext,
        input: ListUsersRequest,
    ) -> ApiResult<ListUsersResponse> {
        users::list_users(self, ctx, input).await
    }

    async fn logout_user(
        &self,
        ctx: &RequestContext,
        input: LogoutUserRequest,
    ) -> ApiResult<LogoutUserResponse> {
        users::logout_user(self, ctx, input).await
    }

    async fn put_events_configuration(
        &self,
        ctx: &RequestContext,
        input: PutEventsConfigurationRequest,
    ) -> ApiResult<PutEventsConfigurationResponse> {
        bots::put_events_configuration(self, ctx, input).await
    }

    async fn put_retention_settings(
        &self,
        ctx: &RequestContext,
        input: PutRetentionSettingsRequest,
    ) -> ApiResult<PutRetentionSettingsResponse> {
        retention::put_retention_settings(self, ctx, input).await
    }

    async fn redact_conversation_message(
        &self,
        ctx: &RequestContext,
        input: RedactConversationMessageRequest,
    ) -> ApiResult<RedactConversationMessageResponse> {
        rooms::redact_conversation_message(self, ctx, input).await
    }

    async fn redact_room_message(
        &self,
        ctx: &RequestContext,
        input: RedactRoomMessageRequest,
    ) -> ApiResult<RedactRoomMessageResponse> {
        rooms::redact_room_message(self, ctx, input).await
    }

    async fn regenerate_security_token(
        &self,
        ctx: &RequestContext,
        input: RegenerateSecurityTokenRequest,
    ) -> ApiResult<RegenerateSecurityTokenResponse> {
        bots::regenerate_security_token(self, ctx, input).await
    }

    async fn reset_personal_pin(
        &self,
        ctx: &RequestContext,
        input: ResetPersonalPINRequest,
    ) -> ApiResult<ResetPersonalPINResponse> {
        users::reset_personal_pin(self, ctx, input).await
    }

    async fn restore_phone_number(
        &self,
        ctx: &RequestContext,
        input: RestorePhoneNumberRequest,
    ) -> ApiResult<RestorePhoneNumberResponse> {
        phone_numbers::restore_phone_number(self, ctx, input).await
    }

    async fn search_available_phone_numbers(
        &self,
        ctx: &RequestContext,
        input: SearchAvailablePhoneNumbersRequest,
    ) -> ApiResult<SearchAvailablePhoneNumbersResponse> {
        phone_numbers::search_available_phone_numbers(self, ctx, input).await
    }

    async fn update_account(
        &self,
        ctx: &RequestContext,
        input: UpdateAccountRequest,
    ) -> ApiResult<UpdateAccountResponse> {
        accounts::update(self, ctx, input).await
    }

    async fn update_account_settings(
        &self,
        ctx: &RequestContext,
        input: UpdateAccountSettingsRequest,
    ) -> ApiResult<UpdateAccountSettingsResponse> {
        accounts::update_settings(self, ctx, input).await
    }

    async fn update_bot(
        &self,
        ctx: &RequestContext,
        input: UpdateBotRequest,
    ) -> ApiResult<UpdateBotResponse> {
        bots::update_bot(self, ctx, input).await
    }

    async fn update_global_settings(
        &self,
        ctx: &RequestContext,
        input: UpdateGlobalSettingsRequest,
    ) -> ApiResult<carillon_awsapi::types::Unit> {
        phone_numbers::update_global_settings(self, ctx, input).await
    }

    async fn update_phone_number(
        &self,
        ctx: &RequestContext,
        input: UpdatePhoneNumberRequest,
    ) -> ApiResult<UpdatePhoneNumberResponse> {
        phone_numbers::update_phone_number(self, ctx, input).await
    }

    async fn update_phone_number_settings(
        &self,
        ctx: &RequestContext,
        input: UpdatePhoneNumberSettingsRequest,
    ) -> ApiResult<carillon_awsapi::types::Unit> {
        phone_numbers::update_phone_number_settings(self, ctx, input).await
    }

    async fn update_room(
        &self,
        ctx: &RequestContext,
        input: UpdateRoomRequest,
    ) -> ApiResult<UpdateRoomResponse> {
        rooms::update_room(self, ctx, input).await
    }

    async fn update_room_membership(
        &self,
        ctx: &RequestContext,
        input: UpdateRoomMembershipRequest,
    ) -> ApiResult<UpdateRoomMembershipResponse> {
        rooms::update_room_membership(self, ctx, input).await
    }

    async fn update_user(
        &self,
        ctx: &RequestContext,
        input: UpdateUserRequest,
    ) -> ApiResult<UpdateUserResponse> {
        users::update_user(self, ctx, input).await
    }

    async fn update_user_settings(
        &self,
        ctx: &RequestContext,
        input: UpdateUserSettingsRequest,
    ) -> ApiResult<carillon_awsapi::types::Unit> {
        users::update_user_settings(self, ctx, input).await
    }
}
