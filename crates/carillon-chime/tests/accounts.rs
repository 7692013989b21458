//! The Chime account operations driven through `ChimeApi`, on SQLite and (when
//! `CARILLON_TEST_DATABASE_URL` is set) PostgreSQL: creation defaults, listing with filters
//! and tamper-checked pagination, updates, settings, the delete lifecycle, tenant isolation
//! and bad input. Spec: chime-zh.md §1.2, §2.3–§2.5.

use carillon_awsapi::generated::chime::*;
use carillon_core::{ApiError, RequestContext};
use support::{code, envs, Env};

mod support;

impl Env {
    async fn get(&self, ctx: &RequestContext, id: &str) -> Result<Account, ApiError> {
        self.chime
            .get_account(
                ctx,
                GetAccountRequest {
                    account_id: id.to_string(),
                },
            )
            .await
            .map(|r| r.account.unwrap())
    }

    async fn list(
        &self,
        ctx: &RequestContext,
        request: ListAccountsRequest,
    ) -> Result<(Vec<String>, Option<String>), ApiError> {
        self.chime.list_accounts(ctx, request).await.map(|r| {
            let names = r.accounts.unwrap().into_iter().map(|a| a.name).collect();
            (names, r.next_token)
        })
    }

    async fn settings(&self, ctx: &RequestContext, id: &str) -> Result<AccountSettings, ApiError> {
        self.chime
            .get_account_settings(
                ctx,
                GetAccountSettingsRequest {
                    account_id: id.to_string(),
                },
            )
            .await
            .map(|r| r.account_settings.unwrap())
    }
}

#[tokio::test]
async fn created_account_is_team_active_pro_and_readable() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let created = env.create_account(&ctx, "Example Corp").await;
        assert_eq!(created.name, "Example Corp", "{}", env.test.label);
        assert_eq!(created.aws_account_id, ctx.account_id);
        assert_eq!(created.account_type.as_deref(), Some("Team"));
        assert_eq!(created.account_status.as_deref(), Some("Active"));
        assert_eq!(created.default_license.as_deref(), Some("Pro"));
        assert_eq!(
            created.supported_licenses,
            Some(vec!["Basic".to_string(), "Pro".to_string()])
        );
        assert_eq!(created.signin_delegate_groups, Some(vec![]));
        assert_eq!(created.account_id.len(), 36);
        assert!(created.created_timestamp.is_some());

        let got = env.get(&ctx, &created.account_id).await.unwrap();
        assert_eq!(got, created);
        let settings = env.settings(&ctx, &created.account_id).await.unwrap();
        assert_eq!(settings.disable_remote_control, Some(false));
        assert_eq!(settings.enable_dial_out, Some(true));
    }
}

#[tokio::test]
async fn list_filters_by_name_prefix_and_pages_with_checked_tokens() {
    for env in envs().await {
        let ctx = env.tenant().await;
        for name in ["Sales 1", "Sales 2", "Sales 3", "sales lower", "Ops"] {
            env.create_account(&ctx, name).await;
        }
        let (all, token) = env
            .list(&ctx, ListAccountsRequest::default())
            .await
            .unwrap();
        assert_eq!(all.len(), 5, "{}", env.test.label);
        assert_eq!(token, None);

        let sales = ListAccountsRequest {
            name: Some("Sales".to_string()),
            max_results: Some(2),
            ..Default::default()
        };
        let (first, token) = env.list(&ctx, sales.clone()).await.unwrap();
        assert_eq!(first.len(), 2);
        let token = token.expect("a second page");
        let (second, last) = env
            .list(
                &ctx,
                ListAccountsRequest {
                    next_token: Some(token.clone()),
                    ..sales.clone()
                },
            )
            .await
            .unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(last, None);
        let mut seen: Vec<String> = first.into_iter().chain(second).collect();
        seen.sort();
        assert_eq!(seen, ["Sales 1", "Sales 2", "Sales 3"]);

        // A token is bound to its filters and tenant, and checked against tampering.
        let other_filter = ListAccountsRequest {
            next_token: Some(token.clone()),
            max_results: Some(2),
            ..Default::default()
        };
        assert_eq!(
            code(env.list(&ctx, other_filter).await),
            "BadRequestException"
        );
        let mut altered = token.clone().into_bytes();
        altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
        let altered = ListAccountsRequest {
            next_token: Some(String::from_utf8(altered).unwrap()),
            ..sales.clone()
        };
        assert_eq!(code(env.list(&ctx, altered).await), "BadRequestException");
        let stranger = env.tenant().await;
        let replay = ListAccountsRequest {
            next_token: Some(token),
            ..sales
        };
        assert_eq!(
            code(env.list(&stranger, replay).await),
            "BadRequestException"
        );

        // No Chime user exists yet, so no account has a user with this email.
        let (by_email, _) = env
            .list(
                &ctx,
                ListAccountsRequest {
                    user_email: Some("someone@example.com".to_string()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(by_email.is_empty());
    }
}

#[tokio::test]
async fn update_renames_sets_license_and_settings() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let id = env.create_account(&ctx, "Before").await.account_id;
        let updated = env
            .chime
            .update_account(
                &ctx,
                UpdateAccountRequest {
                    account_id: id.clone(),
                    name: Some("After".to_string()),
                    default_license: Some("Basic".to_string()),
                },
            )
            .await
            .unwrap()
            .account
            .unwrap();
        assert_eq!(updated.name, "After", "{}", env.test.label);
        assert_eq!(updated.default_license.as_deref(), Some("Basic"));
        assert_eq!(env.get(&ctx, &id).await.unwrap(), updated);

        env.chime
            .update_account_settings(
                &ctx,
                UpdateAccountSettingsRequest {
                    account_id: id.clone(),
                    account_settings: AccountSettings {
                        disable_remote_control: Some(true),
                        enable_dial_out: None,
                    },
                },
            )
            .await
            .unwrap();
        let settings = env.settings(&ctx, &id).await.unwrap();
        assert_eq!(settings.disable_remote_control, Some(true));
        assert_eq!(
            settings.enable_dial_out,
            Some(true),
            "absent member unchanged"
        );
        env.chime
            .update_account_settings(
                &ctx,
                UpdateAccountSettingsRequest {
                    account_id: id.clone(),
                    account_settings: AccountSettings {
                        disable_remote_control: None,
                        enable_dial_out: Some(false),
                    },
                },
            )
            .await
            .unwrap();
        let settings = env.settings(&ctx, &id).await.unwrap();
        assert_eq!(settings.disable_remote_control, Some(true));
        assert_eq!(settings.enable_dial_out, Some(false));
    }
}

#[tokio::test]
async fn deleted_account_is_disabled_unlisted_and_unchangeable() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let kept = env.create_account(&ctx, "Kept").await.account_id;
        let id = env.create_account(&ctx, "Doomed").await.account_id;
        env.delete_account(&ctx, &id).await.unwrap();

        let disabled = env.get(&ctx, &id).await.unwrap();
        assert_eq!(
            disabled.account_status.as_deref(),
            Some("Suspended"),
            "{}",
            env.test.label
        );
        let (listed, _) = env
            .list(&ctx, ListAccountsRequest::default())
            .await
            .unwrap();
        assert_eq!(listed, ["Kept"]);
        let rename = UpdateAccountRequest {
            account_id: id.clone(),
            name: Some("Revived".to_string()),
            default_license: None,
        };
        assert_eq!(
            code(env.chime.update_account(&ctx, rename).await),
            "NotFoundException"
        );
        assert_eq!(code(env.settings(&ctx, &id).await), "NotFoundException");
        // Deleting a disabled account again changes nothing.
        env.delete_account(&ctx, &id).await.unwrap();
        assert_eq!(env.get(&ctx, &id).await.unwrap(), disabled);
        assert_eq!(
            env.get(&ctx, &kept)
                .await
                .unwrap()
                .account_status
                .as_deref(),
            Some("Active")
        );
    }
}

#[tokio::test]
async fn another_tenants_account_is_not_found() {
    for env in envs().await {
        let owner = env.tenant().await;
        let stranger = env.tenant().await;
        let id = env.create_account(&owner, "Private").await.account_id;

        assert_eq!(
            code(env.get(&stranger, &id).await),
            "NotFoundException",
            "{}",
            env.test.label
        );
        assert_eq!(
            code(env.settings(&stranger, &id).await),
            "NotFoundException"
        );
        let rename = UpdateAccountRequest {
            account_id: id.clone(),
            name: Some("Stolen".to_string()),
            default_license: None,
        };
        assert_eq!(
            code(env.chime.update_account(&stranger, rename).await),
            "NotFoundException"
        );
        let settings = UpdateAccountSettingsRequest {
            account_id: id.clone(),
            account_settings: AccountSettings {
                disable_remote_control: Some(true),
                enable_dial_out: Some(false),
            },
        };
        assert_eq!(
            code(env.chime.update_account_settings(&stranger, settings).await),
            "NotFoundException"
        );
        assert_eq!(
            code(env.delete_account(&stranger, &id).await),
            "NotFoundException"
        );
        let (listed, _) = env
            .list(&stranger, ListAccountsRequest::default())
            .await
            .unwrap();
        assert!(listed.is_empty());
        let owned = env.get(&owner, &id).await.unwrap();
        assert_eq!(owned.name, "Private");
        assert_eq!(owned.account_status.as_deref(), Some("Active"));
    }
}

#[tokio::test]
async fn bad_input_is_a_bad_request_naming_the_member() {
    for env in envs().await {
        let ctx = env.tenant().await;
        for name in ["", "   ", &"x".repeat(101)] {
            let err = env
                .chime
                .create_account(
                    &ctx,
                    CreateAccountRequest {
                        name: name.to_string(),
                    },
                )
                .await
                .unwrap_err();
            assert_eq!(err.code, "BadRequestException", "{}", env.test.label);
            assert!(err.message.contains("Name"), "{}", err.message);
        }
        let id = env.create_account(&ctx, "Valid").await.account_id;
        for license in ["Plus", "ProTrial", "Gold"] {
            let err = env
                .chime
                .update_account(
                    &ctx,
                    UpdateAccountRequest {
                        account_id: id.clone(),
                        name: None,
                        default_license: Some(license.to_string()),
                    },
                )
                .await
                .unwrap_err();
            assert_eq!(err.code, "BadRequestException");
            assert!(err.message.contains("DefaultLicense"), "{}", err.message);
        }
        for max in [0, 201] {
            let err = env
                .chime
                .list_accounts(
                    &ctx,
                    ListAccountsRequest {
                        max_results: Some(max),
                        ..Default::default()
                    },
                )
                .await
                .unwrap_err();
            assert!(err.message.contains("MaxResults"), "{}", err.message);
        }
        let err = env
            .chime
            .list_accounts(
                &ctx,
                ListAccountsRequest {
                    user_email: Some("not-an-address".to_string()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(err.message.contains("UserEmail"), "{}", err.message);
        let err = env.get(&ctx, " ").await.unwrap_err();
        assert_eq!(err.code, "BadRequestException");
        assert!(err.message.contains("AccountId"), "{}", err.message);
        assert_eq!(
            code(env.get(&ctx, "00000000-0000-0000-0000-000000000000").await),
            "NotFoundException"
        );
    }
}

#[tokio::test]
async fn deleted_account_is_gone_for_good_after_90_days() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let id = env.create_account(&ctx, "Old").await.account_id;
        env.delete_account(&ctx, &id).await.unwrap();
        // Back-date the deletion past the 90-day disabled window (90 days + 1 ms).
        env.test
            .exec(
                "UPDATE chime_accounts SET deleted_at = deleted_at - 7776000001 \
                 WHERE chime_account_id = $1",
                &[&id],
            )
            .await;
        assert_eq!(
            code(env.get(&ctx, &id).await),
            "NotFoundException",
            "{}",
            env.test.label
        );
        assert_eq!(
            code(env.delete_account(&ctx, &id).await),
            "NotFoundException"
        );
        let (listed, _) = env
            .list(&ctx, ListAccountsRequest::default())
            .await
            .unwrap();
        assert!(listed.is_empty());
    }
}
