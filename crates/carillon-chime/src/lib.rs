//! The Chime system. Spec: chime-zh.md.
//!
//! [`Chime`] implements the generated `ChimeApi` trait: each operation takes its validated
//! input and a [`RequestContext`] naming the tenant, applies the guide's rules and calls the
//! store. Built so far: Chime accounts and their settings (`accounts`). Every lookup of a
//! Chime account is scoped to `ctx.account_id`, so another tenant's account reads as
//! `NotFoundException`. The operations not built yet keep the trait's default answer,
//! `NotImplementedException`.

mod accounts;

use carillon_awsapi::generated::chime::*;
use carillon_core::pagination::TokenCodec;
use carillon_core::{ApiResult, RequestContext};
use carillon_store::{Store, StoreError};

/// The Chime admin operations over one store.
#[derive(Debug, Clone)]
pub struct Chime {
    store: Store,
    tokens: TokenCodec,
}

impl Chime {
    /// Builds the service over `store`; pagination tokens are keyed with the store's
    /// `pagination` server secret (the one WorkMail uses, so a token stays tamper-checked).
    ///
    /// Errors: the store cannot provide the secret.
    pub async fn new(store: Store) -> Result<Chime, StoreError> {
        let tokens = TokenCodec::new(store.server_secret("pagination").await?);
        Ok(Chime { store, tokens })
    }
}

#[async_trait::async_trait]
impl ChimeApi for Chime {
    async fn create_account(
        &self,
        ctx: &RequestContext,
        input: CreateAccountRequest,
    ) -> ApiResult<CreateAccountResponse> {
        accounts::create(self, ctx, input).await
    }

    async fn get_account(
        &self,
        ctx: &RequestContext,
        input: GetAccountRequest,
    ) -> ApiResult<GetAccountResponse> {
        accounts::get(self, ctx, input).await
    }

    async fn list_accounts(
        &self,
        ctx: &RequestContext,
        input: ListAccountsRequest,
    ) -> ApiResult<ListAccountsResponse> {
        accounts::list(self, ctx, input).await
    }

    async fn update_account(
        &self,
        ctx: &RequestContext,
        input: UpdateAccountRequest,
    ) -> ApiResult<UpdateAccountResponse> {
        accounts::update(self, ctx, input).await
    }

    async fn delete_account(
        &self,
        ctx: &RequestContext,
        input: DeleteAccountRequest,
    ) -> ApiResult<DeleteAccountResponse> {
        accounts::delete(self, ctx, input).await
    }

    async fn get_account_settings(
        &self,
        ctx: &RequestContext,
        input: GetAccountSettingsRequest,
    ) -> ApiResult<GetAccountSettingsResponse> {
        accounts::get_settings(self, ctx, input).await
    }

    async fn update_account_settings(
        &self,
        ctx: &RequestContext,
        input: UpdateAccountSettingsRequest,
    ) -> ApiResult<UpdateAccountSettingsResponse> {
        accounts::update_settings(self, ctx, input).await
    }
}
