//! The Chime user operations and registration driven through `ChimeApi`, on SQLite and
//! (when `CARILLON_TEST_DATABASE_URL` is set) PostgreSQL: invitations through the mail path
//! and registration from their link, creation, listing with filters and tamper-checked
//! pagination, updates, Team removal, logout, PIN reset, settings, licenses (trial, delegate
//! groups), tenant isolation and bad input. Spec: chime-zh.md §1.3, §1.6, §2.12.

mod support;
mod users_env;

use carillon_awsapi::generated::chime::*;
use carillon_chime::hub::ChatEvent;
use carillon_chime::users::{may_sign_in, register, sign_up};
use support::code;
use users_env::{envs, PUBLIC_URL};

#[tokio::test]
async fn an_invitation_mails_a_single_use_registration_link() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Example Team").await;
        let invites = env
            .invite(&ctx, &account, &["Mary@Example.com", "bob@fail.test"])
            .await;
        assert_eq!(invites.len(), 2);
        let failed = invites
            .iter()
            .find(|i| i.email_address.as_deref() == Some("bob@fail.test"))
            .unwrap();
        assert_eq!(failed.status.as_deref(), Some("Failed"));
        assert_eq!(failed.email_status.as_deref(), Some("Failed"));
        let sent = invites
            .iter()
            .find(|i| i.email_address.as_deref() == Some("mary@example.com"))
            .unwrap();
        assert_eq!(sent.status.as_deref(), Some("Pending"));
        assert_eq!(sent.email_status.as_deref(), Some("Sent"));

        let mail = env.mailer.last_to("mary@example.com");
        assert_eq!(mail.from, "no-reply@carillon.test");
        assert!(mail.message.contains("Example Team"), "{}", mail.message);
        assert!(mail
            .message
            .contains(&format!("{PUBLIC_URL}/chat/v1/register?token=")));
        let token = env.mailer.token_for("mary@example.com");
        assert!(token.len() >= 40);
        // The token is kept only hashed.
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM chime_invitations WHERE token_hash = $1")
                .bind(&token)
                .fetch_one(env.test.pool())
                .await
                .unwrap();
        assert_eq!(stored, 0);

        let mary = env.user_by_email(&ctx, &account, "mary@example.com").await;
        assert_eq!(
            mary.user_registration_status.as_deref(),
            Some("Unregistered")
        );
        assert_eq!(mary.user_invitation_status.as_deref(), Some("Pending"));
        assert!(mary.invited_on.is_some() && mary.registered_on.is_none());
        let bob = env.user_by_email(&ctx, &account, "bob@fail.test").await;
        assert_eq!(bob.user_invitation_status.as_deref(), Some("Failed"));
        assert!(!may_sign_in(&env.chime, &mary.user_id).await.unwrap());

        assert_eq!(
            code(register(&env.chime, &token, "short", "Mary").await),
            "BadRequestException"
        );
        assert_eq!(
            code(register(&env.chime, &token, "long enough", "  ").await),
            "BadRequestException"
        );
        assert_eq!(
            code(register(&env.chime, "no-such-token", "long enough", "Mary").await),
            "NotFoundException"
        );
        let done = register(&env.chime, &token, "long enough", "Major, Mary")
            .await
            .unwrap();
        assert_eq!(done.user_id, mary.user_id);
        assert_eq!(done.chime_account_id.as_deref(), Some(account.as_str()));
        assert_eq!(done.account_name.as_deref(), Some("Example Team"));
        assert_eq!(
            code(register(&env.chime, &token, "long enough", "Mary").await),
            "BadRequestException",
            "a link registers once"
        );
        let mary = env.user_by_email(&ctx, &account, "mary@example.com").await;
        assert_eq!(mary.user_registration_status.as_deref(), Some("Registered"));
        assert_eq!(mary.user_invitation_status.as_deref(), Some("Accepted"));
        assert_eq!(mary.license_type.as_deref(), Some("Pro"));
        assert_eq!(mary.display_name.as_deref(), Some("Major, Mary"));
        assert!(mary.registered_on.is_some());
        let hash: String =
            sqlx::query_scalar("SELECT password_hash FROM chime_users WHERE user_id = $1")
                .bind(&mary.user_id)
                .fetch_one(env.test.pool())
                .await
                .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(may_sign_in(&env.chime, &mary.user_id).await.unwrap());

        // Inviting a registered member again sends nothing.
        let again = env.invite(&ctx, &account, &["mary@example.com"]).await;
        assert_eq!(again[0].status.as_deref(), Some("Accepted"));
        assert_eq!(again[0].email_status.as_deref(), Some("NotSent"));

        let bad = env.try_invite(&ctx, &account, &["not-an-address"]).await;
        assert!(code(bad).contains("BadRequest"));
        let empty = env.try_invite(&ctx, &account, &[]).await;
        assert_eq!(code(empty), "BadRequestException");
    }
}

#[tokio::test]
async fn a_reinvitation_voids_the_earlier_link() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Team").await;
        env.invite(&ctx, &account, &["ann@example.com"]).await;
        let first = env.mailer.token_for("ann@example.com");
        env.invite(&ctx, &account, &["ann@example.com"]).await;
        let second = env.mailer.token_for("ann@example.com");
        assert_ne!(first, second);
        assert_eq!(
            code(register(&env.chime, &first, "long enough", "Ann").await),
            "NotFoundException"
        );
        register(&env.chime, &second, "long enough", "Ann")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn users_are_created_listed_updated_and_paginated() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Team").await;
        let mut ids = Vec::new();
        for (i, email) in ["a@example.com", "b@example.com", "c@example.com"]
            .iter()
            .enumerate()
        {
            let user = env
                .chime
                .create_user(
                    &ctx,
                    CreateUserRequest {
                        account_id: account.clone(),
                        email: Some(email.to_string()),
                        user_type: (i == 2).then(|| "SharedDevice".to_string()),
                        username: Some(format!("User {i}")),
                    },
                )
                .await
                .unwrap()
                .user
                .unwrap();
            assert_eq!(
                user.user_registration_status.as_deref(),
                Some("Unregistered")
            );
            assert_eq!(user.license_type.as_deref(), Some("Pro"));
            let pin = user.personal_pin.unwrap();
            assert!(pin.len() == 10 && pin.chars().all(|c| c.is_ascii_digit()));
            ids.push(user.user_id);
        }
        let duplicate = env.create_user(&ctx, &account, "A@example.com").await;
        assert_eq!(code(duplicate), "ConflictException");
        let no_email = env
            .chime
            .create_user(
                &ctx,
                CreateUserRequest {
                    account_id: account.clone(),
                    ..CreateUserRequest::default()
                },
            )
            .await;
        assert_eq!(code(no_email), "BadRequestException");

        let list = |request: ListUsersRequest| {
            let chime = env.chime.clone();
            let ctx = ctx.clone();
            async move { chime.list_users(&ctx, request).await }
        };
        let first = list(ListUsersRequest {
            account_id: account.clone(),
            max_results: Some(2),
            ..ListUsersRequest::default()
        })
        .await
        .unwrap();
        assert_eq!(first.users.as_ref().unwrap().len(), 2);
        let token = first.next_token.clone().unwrap();
        let second = list(ListUsersRequest {
            account_id: account.clone(),
            max_results: Some(2),
            next_token: Some(token.clone()),
            ..ListUsersRequest::default()
        })
        .await
        .unwrap();
        assert_eq!(second.users.as_ref().unwrap().len(), 1);
        assert!(second.next_token.is_none());
        let tampered = list(ListUsersRequest {
            account_id: account.clone(),
            next_token: Some(format!("{token}x")),
            ..ListUsersRequest::default()
        })
        .await;
        assert_eq!(code(tampered), "BadRequestException");
        let other_filter = list(ListUsersRequest {
            account_id: account.clone(),
            max_results: Some(2),
            user_type: Some("PrivateUser".to_string()),
            next_token: Some(token),
            ..ListUsersRequest::default()
        })
        .await;
        assert_eq!(code(other_filter), "BadRequestException");
        let shared = list(ListUsersRequest {
            account_id: account.clone(),
            user_type: Some("SharedDevice".to_string()),
            ..ListUsersRequest::default()
        })
        .await
        .unwrap();
        assert_eq!(shared.users.unwrap().len(), 1);
        let bad_type = list(ListUsersRequest {
            account_id: account.clone(),
            user_type: Some("Robot".to_string()),
            ..ListUsersRequest::default()
        })
        .await;
        assert_eq!(code(bad_type), "BadRequestException");
        let bad_page = list(ListUsersRequest {
            account_id: account.clone(),
            max_results: Some(201),
            ..ListUsersRequest::default()
        })
        .await;
        assert_eq!(code(bad_page), "BadRequestException");

        let updated = env
            .set_license(&ctx, &account, &ids[0], "Basic")
            .await
            .unwrap();
        assert_eq!(updated.license_type.as_deref(), Some("Basic"));
        let trial = env.set_license(&ctx, &account, &ids[0], "ProTrial").await;
        assert_eq!(code(trial), "BadRequestException");

        let batch = env
            .chime
            .batch_update_user(
                &ctx,
                BatchUpdateUserRequest {
                    account_id: account.clone(),
                    update_user_request_items: vec![
                        UpdateUserRequestItem {
                            user_id: ids[1].clone(),
                            license_type: Some("Basic".to_string()),
                            ..UpdateUserRequestItem::default()
                        },
                        UpdateUserRequestItem {
                            user_id: "no-such-user".to_string(),
                            license_type: Some("Basic".to_string()),
                            ..UpdateUserRequestItem::default()
                        },
                        UpdateUserRequestItem {
                            user_id: ids[2].clone(),
                            license_type: Some("Gold".to_string()),
                            ..UpdateUserRequestItem::default()
                        },
                    ],
                },
            )
            .await
            .unwrap();
        let errors = batch.user_errors.unwrap();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].user_id.as_deref(), Some("no-such-user"));
        assert_eq!(errors[0].error_code.as_deref(), Some("NotFound"));
        assert_eq!(errors[1].error_code.as_deref(), Some("BadRequest"));
        let b = env.user_by_email(&ctx, &account, "b@example.com").await;
        assert_eq!(b.license_type.as_deref(), Some("Basic"));
    }
}

#[tokio::test]
async fn logout_pin_and_settings() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Team").await;
        let user = env.registered(&ctx, &account, "mary@example.com").await;
        env.session(&user.user_id).await;
        env.session(&user.user_id).await;
        let mut events = env.chime.hub().subscribe();
        env.logout(&ctx, &account, &user.user_id).await.unwrap();
        assert_eq!(env.sessions(&user.user_id).await, 0);
        let event = events.recv().await.unwrap();
        assert_eq!(
            *event,
            ChatEvent::SessionsRevoked {
                user_id: user.user_id.clone()
            }
        );

        let reset = env.reset_pin(&ctx, &account, &user.user_id).await.unwrap();
        let pin = reset.personal_pin.unwrap();
        assert_ne!(Some(pin.clone()), user.personal_pin);
        assert!(pin.len() == 10 && pin.chars().all(|c| c.is_ascii_digit()));

        let settings = |chime: carillon_chime::Chime| {
            let (ctx, account, id) = (ctx.clone(), account.clone(), user.user_id.clone());
            async move {
                chime
                    .get_user_settings(
                        &ctx,
                        GetUserSettingsRequest {
                            account_id: account,
                            user_id: id,
                        },
                    )
                    .await
                    .unwrap()
                    .user_settings
                    .unwrap()
                    .telephony
            }
        };
        let before = settings(env.chime.clone()).await;
        assert!(before.inbound_calling && before.outbound_calling && before.sms);
        env.chime
            .update_user_settings(
                &ctx,
                UpdateUserSettingsRequest {
                    account_id: account.clone(),
                    user_id: user.user_id.clone(),
                    user_settings: UserSettings {
                        telephony: TelephonySettings {
                            inbound_calling: true,
                            outbound_calling: false,
                            sms: false,
                        },
                    },
                },
            )
            .await
            .unwrap();
        let after = settings(env.chime.clone()).await;
        assert!(after.inbound_calling && !after.outbound_calling && !after.sms);

        let unknown = env.logout(&ctx, &account, "no-such-user").await;
        assert_eq!(code(unknown), "NotFoundException");
    }
}

#[tokio::test]
async fn removing_team_users_keeps_their_identity_and_allows_deletion() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Team").await;
        let mary = env.registered(&ctx, &account, "mary@example.com").await;
        env.invite(&ctx, &account, &["ann@example.com"]).await;
        let ann = env.user_by_email(&ctx, &account, "ann@example.com").await;
        let ann_token = env.mailer.token_for("ann@example.com");

        let blocked = env.delete_account(&ctx, &account).await;
        assert_eq!(code(blocked), "UnprocessableEntityException");

        // A Team account cannot suspend: the batch removes the users.
        let removed = env
            .suspend(
                &ctx,
                &account,
                vec![mary.user_id.clone(), ann.user_id.clone(), "nobody".into()],
            )
            .await
            .unwrap()
            .user_errors
            .unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].error_code.as_deref(), Some("NotFound"));
        let left = env
            .chime
            .list_users(
                &ctx,
                ListUsersRequest {
                    account_id: account.clone(),
                    ..ListUsersRequest::default()
                },
            )
            .await
            .unwrap()
            .users
            .unwrap();
        assert!(left.is_empty());
        let identity = env
            .test
            .store
            .chime_user_by_email("mary@example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(identity.chime_account_id, None);
        assert_eq!(identity.account_id, None);
        assert_eq!(identity.license_type, None);
        assert_eq!(identity.registration_status, "Registered");
        assert!(
            may_sign_in(&env.chime, &mary.user_id).await.unwrap(),
            "an unmanaged user keeps sign-in"
        );
        assert_eq!(
            code(register(&env.chime, &ann_token, "long enough", "Ann").await),
            "NotFoundException",
            "the removed invitee's link is withdrawn"
        );

        env.delete_account(&ctx, &account).await.unwrap();
    }
}

#[tokio::test]
async fn a_trial_user_joining_gets_pro_and_an_identity_moves_on_registration() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let first = env.account(&ctx, "First").await;
        let second = env.account(&ctx, "Second").await;
        let mary = env.registered(&ctx, &first, "mary@example.com").await;
        let trial_start = carillon_core::time::now_millis() - 86_400_000;
        env.test
            .exec(
                "UPDATE chime_users SET license_type = 'ProTrial', \
                 trial_started_at = CAST($2 AS BIGINT) WHERE user_id = $1",
                &[&mary.user_id, &trial_start.to_string()],
            )
            .await;
        let invites = env.invite(&ctx, &second, &["mary@example.com"]).await;
        assert_eq!(invites[0].status.as_deref(), Some("Pending"));
        let token = env.mailer.token_for("mary@example.com");
        let done = register(&env.chime, &token, "another password", "Mary")
            .await
            .unwrap();
        assert_eq!(done.chime_account_id.as_deref(), Some(second.as_str()));
        assert_eq!(
            done.license_type.as_deref(),
            Some("Pro"),
            "the trial ends in Pro"
        );
        let moved = env.user_by_email(&ctx, &second, "mary@example.com").await;
        assert_eq!(moved.user_id, mary.user_id);
        let in_first = env.get_user(&ctx, &first, &mary.user_id).await;
        assert_eq!(code(in_first), "NotFoundException");

        // ListAccounts by UserEmail finds the account the user belongs to.
        let accounts = env
            .chime
            .list_accounts(
                &ctx,
                ListAccountsRequest {
                    user_email: Some("MARY@example.com".to_string()),
                    ..ListAccountsRequest::default()
                },
            )
            .await
            .unwrap()
            .accounts
            .unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].account_id, second);
        let other = env.tenant().await;
        let none = env
            .chime
            .list_accounts(
                &other,
                ListAccountsRequest {
                    user_email: Some("mary@example.com".to_string()),
                    ..ListAccountsRequest::default()
                },
            )
            .await
            .unwrap()
            .accounts
            .unwrap();
        assert!(none.is_empty());
    }
}

#[tokio::test]
async fn delegate_groups_give_licenses_from_the_directory() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Directory").await;
        let org = carillon_core::ids::new_organization_id();
        env.test
            .insert_organization(&ctx.account_id, &org, &org, "Active")
            .await;
        for group in ["chime-pro", "chime-basic"] {
            env.test
                .insert_entity(&org, group, "GROUP", "ENABLED", None, None)
                .await;
        }
        let mut users = Vec::new();
        for (name, groups) in [
            ("both", vec!["chime-pro", "chime-basic"]),
            ("basic", vec!["chime-basic"]),
            ("none", vec![]),
        ] {
            let email = format!("{name}@corp.example");
            let entity = carillon_core::ids::new_uuid();
            env.test
                .insert_entity(&org, &entity, "USER", "ENABLED", Some(&email), None)
                .await;
            env.test.insert_address(&org, &entity, &email, true).await;
            for group in groups {
                env.test.insert_group_member(&org, group, &entity).await;
            }
            users.push(env.registered(&ctx, &account, &email).await);
        }
        // Pro groups are associated while the default license is Pro, Basic ones after it
        // became Basic.
        let associate = |names: &[&str]| {
            let (chime, ctx, account) = (env.chime.clone(), ctx.clone(), account.clone());
            let groups = names
                .iter()
                .map(|n| SigninDelegateGroup {
                    group_name: Some(n.to_string()),
                })
                .collect();
            async move {
                chime
                    .associate_signin_delegate_groups_with_account(
                        &ctx,
                        AssociateSigninDelegateGroupsWithAccountRequest {
                            account_id: account,
                            signin_delegate_groups: groups,
                        },
                    )
                    .await
            }
        };
        associate(&["chime-pro"]).await.unwrap();
        env.set_default_license(&ctx, &account, "Basic").await;
        associate(&["chime-basic"]).await.unwrap();
        assert_eq!(code(associate(&[]).await), "BadRequestException");

        let shown = env
            .chime
            .get_account(
                &ctx,
                GetAccountRequest {
                    account_id: account.clone(),
                },
            )
            .await
            .unwrap()
            .account
            .unwrap()
            .signin_delegate_groups
            .unwrap();
        let names: Vec<_> = shown.iter().filter_map(|g| g.group_name.clone()).collect();
        assert_eq!(names, ["chime-basic", "chime-pro"]);

        let license = |email: &str| {
            let (env, ctx, account) = (&env, ctx.clone(), account.clone());
            let email = email.to_string();
            async move { env.user_by_email(&ctx, &account, &email).await.license_type }
        };
        assert_eq!(license("both@corp.example").await.as_deref(), Some("Pro"));
        assert_eq!(
            license("basic@corp.example").await.as_deref(),
            Some("Basic")
        );
        assert_eq!(license("none@corp.example").await, None);
        assert!(may_sign_in(&env.chime, &users[0].user_id).await.unwrap());
        assert!(may_sign_in(&env.chime, &users[1].user_id).await.unwrap());
        assert!(
            !may_sign_in(&env.chime, &users[2].user_id).await.unwrap(),
            "no group, no sign-in"
        );

        let assign = env
            .set_license(&ctx, &account, &users[2].user_id, "Pro")
            .await;
        assert_eq!(code(assign), "ForbiddenException");

        env.chime
            .disassociate_signin_delegate_groups_from_account(
                &ctx,
                DisassociateSigninDelegateGroupsFromAccountRequest {
                    account_id: account.clone(),
                    group_names: vec!["chime-pro".to_string(), "chime-basic".to_string()],
                },
            )
            .await
            .unwrap();
        assert_eq!(license("none@corp.example").await.as_deref(), Some("Basic"));
        assert!(may_sign_in(&env.chime, &users[2].user_id).await.unwrap());
    }
}

#[tokio::test]
async fn another_tenant_sees_none_of_it() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Team").await;
        let user = env.registered(&ctx, &account, "mary@example.com").await;
        let other = env.tenant().await;
        let get = env.get_user(&other, &account, &user.user_id).await;
        assert_eq!(code(get), "NotFoundException");
        let list = env
            .chime
            .list_users(
                &other,
                ListUsersRequest {
                    account_id: account.clone(),
                    ..ListUsersRequest::default()
                },
            )
            .await;
        assert_eq!(code(list), "NotFoundException");
        let invite = env.try_invite(&other, &account, &["x@example.com"]).await;
        assert_eq!(code(invite), "NotFoundException");
        let suspend = env
            .suspend(&other, &account, vec![user.user_id.clone()])
            .await;
        assert_eq!(code(suspend), "NotFoundException");
        // The other tenant's own account does not reach the user either.
        let own = env.account(&other, "Mine").await;
        let get = env.reset_pin(&other, &own, &user.user_id).await;
        assert_eq!(code(get), "NotFoundException");
    }
}

#[tokio::test]
async fn a_sign_up_outside_any_account_starts_a_pro_trial() {
    for env in envs().await {
        sign_up(&env.chime, "Solo@Example.org").await.unwrap();
        let mail = env.mailer.last_to("solo@example.org");
        assert!(mail.message.contains("Confirm your Amazon Chime sign-up"));
        let token = env.mailer.token_for("solo@example.org");
        let done = register(&env.chime, &token, "long enough", "Solo")
            .await
            .unwrap();
        assert_eq!(done.chime_account_id, None);
        assert_eq!(done.license_type.as_deref(), Some("ProTrial"));
        let identity = env
            .test
            .store
            .chime_user_by_email("solo@example.org")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(identity.registration_status, "Registered");
        assert!(identity.trial_started_at.is_some());
        assert!(may_sign_in(&env.chime, &identity.user_id).await.unwrap());
        assert_eq!(
            code(sign_up(&env.chime, "solo@example.org").await),
            "ConflictException"
        );
        assert_eq!(
            code(sign_up(&env.chime, "nope").await),
            "BadRequestException"
        );
        assert_eq!(
            code(sign_up(&env.chime, "x@fail.test").await),
            "ServiceFailureException"
        );

        // Invited to a Team account, the trial user joins it with Pro.
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Team").await;
        env.set_default_license(&ctx, &account, "Basic").await;
        env.invite(&ctx, &account, &["solo@example.org"]).await;
        let token = env.mailer.token_for("solo@example.org");
        let joined = register(&env.chime, &token, "long enough", "Solo")
            .await
            .unwrap();
        assert_eq!(
            joined.license_type.as_deref(),
            Some("Pro"),
            "the trial ends in Pro"
        );
    }
}

#[tokio::test]
async fn a_created_user_registers_by_signing_up() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Team").await;
        let created = env
            .create_user(&ctx, &account, "kim@example.net")
            .await
            .unwrap();
        sign_up(&env.chime, "kim@example.net").await.unwrap();
        let token = env.mailer.token_for("kim@example.net");
        let done = register(&env.chime, &token, "long enough", "Kim")
            .await
            .unwrap();
        assert_eq!(done.user_id, created.user_id);
        assert_eq!(done.chime_account_id.as_deref(), Some(account.as_str()));
        let kim = env.user_by_email(&ctx, &account, "kim@example.net").await;
        assert_eq!(kim.user_registration_status.as_deref(), Some("Registered"));
        assert_eq!(kim.license_type.as_deref(), Some("Pro"));
    }
}
