//! The guide's rules behind the directory operations: address uniqueness and alias limits,
//! domains in use, user and group lifecycles, mailbox quota bounds, group cycles, tag limits
//! and the password policy. SQLite, and PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set.

mod common;

use carillon_awsapi::generated::workmail::*;
use carillon_core::RequestContext;
use carillon_mail::login::authenticate;
use carillon_store::testing::unique_name;
use common::{code, envs, Env, PASSWORD};

fn alias(org: &str, entity: &str, address: &str) -> CreateAliasRequest {
    CreateAliasRequest {
        organization_id: org.to_string(),
        entity_id: entity.to_string(),
        alias: address.to_string(),
    }
}

/// An organization with a verified domain and an enabled user `alice`; returns
/// (organization, domain, alice's ID).
async fn org_with_alice(env: &Env, ctx: &RequestContext) -> (String, String, String) {
    let (org, _) = env.organization(ctx).await;
    let domain = format!("{}.example", unique_name("d"));
    env.verified_domain(ctx, &org, &domain).await;
    let alice = env.user(ctx, &org, "alice").await;
    env.register(ctx, &org, &alice, &format!("alice@{domain}"))
        .await
        .unwrap();
    (org, domain, alice)
}

#[tokio::test]
async fn aliases_are_unique_on_own_verified_domains_and_limited() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, domain, alice) = org_with_alice(&env, &ctx).await;
        let bob = env.user(&ctx, &org, "bob").await;
        env.register(&ctx, &org, &bob, &format!("bob@{domain}"))
            .await
            .unwrap();

        env.wm
            .create_alias(&ctx, alias(&org, &alice, &format!("sales@{domain}")))
            .await
            .unwrap();
        // Taken (in any case), by another entity or as someone's primary address.
        let again = env
            .wm
            .create_alias(&ctx, alias(&org, &bob, &format!("SALES@{domain}")))
            .await;
        assert_eq!(code(again), "EmailAddressInUseException");
        let primary = env
            .wm
            .create_alias(&ctx, alias(&org, &alice, &format!("bob@{domain}")))
            .await;
        assert_eq!(code(primary), "EmailAddressInUseException");
        // The domain must be one of the organization's, and verified.
        let foreign = env
            .wm
            .create_alias(&ctx, alias(&org, &alice, "x@elsewhere.example"))
            .await;
        assert_eq!(code(foreign), "MailDomainNotFoundException");
        let pending = format!("{}.example", unique_name("p"));
        env.wm
            .register_mail_domain(
                &ctx,
                RegisterMailDomainRequest {
                    organization_id: org.clone(),
                    domain_name: pending.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let unverified = env
            .wm
            .create_alias(&ctx, alias(&org, &alice, &format!("x@{pending}")))
            .await;
        assert_eq!(code(unverified), "MailDomainStateException");
        // Aliases of another organization's domain are refused even if verified there.
        let other_ctx = env.account().await;
        let (_, other_domain, _) = org_with_alice(&env, &other_ctx).await;
        let cross = env
            .wm
            .create_alias(&ctx, alias(&org, &alice, &format!("x@{other_domain}")))
            .await;
        assert_eq!(code(cross), "MailDomainNotFoundException");

        // 100 aliases per entity.
        for i in 1..100 {
            env.wm
                .create_alias(&ctx, alias(&org, &alice, &format!("a{i}@{domain}")))
                .await
                .unwrap();
        }
        let over = env
            .wm
            .create_alias(&ctx, alias(&org, &alice, &format!("a100@{domain}")))
            .await;
        assert_eq!(code(over), "LimitExceededException");
        let listed = env
            .wm
            .list_aliases(
                &ctx,
                ListAliasesRequest {
                    organization_id: org.clone(),
                    entity_id: alice.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(listed.aliases.unwrap().len(), 100);
        assert!(listed.next_token.is_none());

        // A disabled entity has no addresses and takes no alias.
        let carol = env.user(&ctx, &org, "carol").await;
        let disabled = env
            .wm
            .create_alias(&ctx, alias(&org, &carol, &format!("c@{domain}")))
            .await;
        assert_eq!(code(disabled), "EntityStateException");
    }
}

#[tokio::test]
async fn a_domain_in_use_cannot_be_deregistered() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, domain, alice) = org_with_alice(&env, &ctx).await;
        let deregister = |name: &str| DeregisterMailDomainRequest {
            organization_id: org.clone(),
            domain_name: name.to_string(),
        };
        assert_eq!(
            code(
                env.wm
                    .deregister_mail_domain(&ctx, deregister(&domain))
                    .await
            ),
            "MailDomainInUseException"
        );
        // Still in use through an alias after the primary address moves away.
        let test_domain = env
            .wm
            .describe_organization(
                &ctx,
                DescribeOrganizationRequest {
                    organization_id: org.clone(),
                },
            )
            .await
            .unwrap()
            .default_mail_domain
            .unwrap();
        env.wm
            .update_primary_email_address(
                &ctx,
                UpdatePrimaryEmailAddressRequest {
                    organization_id: org.clone(),
                    entity_id: alice.clone(),
                    email: format!("alice@{test_domain}"),
                },
            )
            .await
            .unwrap();
        let described = env
            .wm
            .describe_user(
                &ctx,
                DescribeUserRequest {
                    organization_id: org.clone(),
                    user_id: alice.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(described.email, Some(format!("alice@{test_domain}")));
        assert_eq!(
            code(
                env.wm
                    .deregister_mail_domain(&ctx, deregister(&domain))
                    .await
            ),
            "MailDomainInUseException"
        );
        env.wm
            .delete_alias(
                &ctx,
                DeleteAliasRequest {
                    organization_id: org.clone(),
                    entity_id: alice.clone(),
                    alias: format!("alice@{domain}"),
                },
            )
            .await
            .unwrap();
        env.wm
            .deregister_mail_domain(&ctx, deregister(&domain))
            .await
            .unwrap();
        let get = env
            .wm
            .get_mail_domain(
                &ctx,
                GetMailDomainRequest {
                    organization_id: org.clone(),
                    domain_name: domain.clone(),
                },
            )
            .await;
        assert_eq!(code(get), "MailDomainNotFoundException");
        // The test domain stays; a domain registered elsewhere cannot be taken.
        assert_eq!(
            code(
                env.wm
                    .deregister_mail_domain(&ctx, deregister(&test_domain))
                    .await
            ),
            "InvalidParameterException"
        );
        let other = env.account().await;
        let (other_org, _) = env.organization(&other).await;
        let taken = env
            .wm
            .register_mail_domain(
                &other,
                RegisterMailDomainRequest {
                    organization_id: other_org,
                    domain_name: test_domain.to_uppercase(),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(code(taken), "InvalidParameterException");
    }
}

#[tokio::test]
async fn users_are_disabled_before_deletion_and_free_their_name() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, domain, alice) = org_with_alice(&env, &ctx).await;
        let delete = || DeleteUserRequest {
            organization_id: org.clone(),
            user_id: alice.clone(),
        };
        assert_eq!(
            code(env.wm.delete_user(&ctx, delete()).await),
            "EntityStateException"
        );
        env.wm
            .deregister_from_work_mail(
                &ctx,
                DeregisterFromWorkMailRequest {
                    organization_id: org.clone(),
                    entity_id: alice.clone(),
                },
            )
            .await
            .unwrap();
        // Disabled: no login, the address is free, the mailbox is kept.
        assert!(authenticate(
            &env.store,
            &format!("alice@{domain}"),
            PASSWORD,
            &imap_client()
        )
        .await
        .unwrap()
        .is_none());
        assert!(env.store.mailbox_size(&alice).await.unwrap().is_some());
        env.wm.delete_user(&ctx, delete()).await.unwrap();
        let gone = env
            .wm
            .describe_user(
                &ctx,
                DescribeUserRequest {
                    organization_id: org.clone(),
                    user_id: alice.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(gone.state.as_deref(), Some("DELETED"));
        assert_eq!(gone.name.as_deref(), Some("alice"));
        let again = env.user(&ctx, &org, "alice").await;
        assert_ne!(again, alice);
        env.register(&ctx, &org, &again, &format!("alice@{domain}"))
            .await
            .unwrap();
        // Names are unique across users and groups.
        let clash = env
            .wm
            .create_group(
                &ctx,
                CreateGroupRequest {
                    organization_id: org.clone(),
                    name: "alice".into(),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(code(clash), "NameAvailabilityException");
        // Registering a second address on an enabled user is refused; the same one is a no-op.
        let second = env
            .register(&ctx, &org, &again, &format!("alice2@{domain}"))
            .await;
        assert_eq!(code(second), "EntityAlreadyRegisteredException");
        env.register(&ctx, &org, &again, &format!("alice@{domain}"))
            .await
            .unwrap();
        let bob = env.user(&ctx, &org, "bob").await;
        let taken = env
            .register(&ctx, &org, &bob, &format!("ALICE@{domain}"))
            .await;
        assert_eq!(code(taken), "EmailAddressInUseException");
        let elsewhere = env.register(&ctx, &org, &bob, "bob@nowhere.example").await;
        assert_eq!(code(elsewhere), "MailDomainNotFoundException");
    }
}

#[tokio::test]
async fn list_users_filters_are_case_sensitive_prefixes() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, domain, _) = org_with_alice(&env, &ctx).await;
        for name in ["Albert", "bob", "al_x"] {
            env.user(&ctx, &org, name).await;
        }
        let names = |filters: ListUsersFilters| {
            let wm = env.wm.clone();
            let ctx = ctx.clone();
            let org = org.clone();
            async move {
                let mut names: Vec<String> = wm
                    .list_users(
                        &ctx,
                        ListUsersRequest {
                            organization_id: org,
                            filters: Some(filters),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap()
                    .users
                    .unwrap()
                    .into_iter()
                    .map(|u| u.name.unwrap())
                    .collect();
                names.sort();
                names
            }
        };
        let by_name = names(ListUsersFilters {
            username_prefix: Some("al".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(by_name, vec!["al_x", "alice"]);
        let by_display = names(ListUsersFilters {
            display_name_prefix: Some("AL".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(by_display, vec!["Albert", "al_x", "alice"]);
        let capital = names(ListUsersFilters {
            username_prefix: Some("Al".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(capital, vec!["Albert"]);
        let by_email = names(ListUsersFilters {
            primary_email_prefix: Some(format!("alice@{domain}")),
            ..Default::default()
        })
        .await;
        assert_eq!(by_email, vec!["alice"]);
        let enabled = names(ListUsersFilters {
            state: Some("ENABLED".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(enabled, vec!["alice"]);
    }
}

#[tokio::test]
async fn mailbox_quota_is_between_1_and_51200_mb() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, _, alice) = org_with_alice(&env, &ctx).await;
        let set = |quota: i32| UpdateMailboxQuotaRequest {
            organization_id: org.clone(),
            user_id: alice.clone(),
            mailbox_quota: quota,
        };
        for bad in [0, 51_201, -5] {
            assert_eq!(
                code(env.wm.update_mailbox_quota(&ctx, set(bad)).await),
                "InvalidParameterException"
            );
        }
        for good in [1, 51_200, 2_048] {
            env.wm.update_mailbox_quota(&ctx, set(good)).await.unwrap();
        }
        let details = env
            .wm
            .get_mailbox_details(
                &ctx,
                GetMailboxDetailsRequest {
                    organization_id: org.clone(),
                    user_id: "alice".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(details.mailbox_quota, Some(2_048));
        // A user never registered has no mailbox to describe.
        let bob = env.user(&ctx, &org, "bob").await;
        let none = env
            .wm
            .get_mailbox_details(
                &ctx,
                GetMailboxDetailsRequest {
                    organization_id: org.clone(),
                    user_id: bob,
                },
            )
            .await;
        assert_eq!(code(none), "EntityNotFoundException");
    }
}

#[tokio::test]
async fn groups_refuse_cycles_and_must_be_disabled_before_deletion() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, domain, alice) = org_with_alice(&env, &ctx).await;
        let group = |name: &'static str| {
            let wm = env.wm.clone();
            let ctx = ctx.clone();
            let org = org.clone();
            async move {
                wm.create_group(
                    &ctx,
                    CreateGroupRequest {
                        organization_id: org,
                        name: name.into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .group_id
                .unwrap()
            }
        };
        let (a, b, c) = (group("a").await, group("b").await, group("c").await);
        let associate = |g: &str, m: &str| AssociateMemberToGroupRequest {
            organization_id: org.clone(),
            group_id: g.to_string(),
            member_id: m.to_string(),
        };
        env.wm
            .associate_member_to_group(&ctx, associate(&a, &b))
            .await
            .unwrap();
        env.wm
            .associate_member_to_group(&ctx, associate(&b, &c))
            .await
            .unwrap();
        env.wm
            .associate_member_to_group(&ctx, associate(&c, &alice))
            .await
            .unwrap();
        // Twice is a no-op.
        env.wm
            .associate_member_to_group(&ctx, associate(&c, &alice))
            .await
            .unwrap();
        for (g, m) in [(&c, &a), (&b, &a), (&a, &a)] {
            assert_eq!(
                code(
                    env.wm
                        .associate_member_to_group(&ctx, associate(g, m))
                        .await
                ),
                "InvalidParameterException"
            );
        }
        // A diamond is not a cycle.
        env.wm
            .associate_member_to_group(&ctx, associate(&a, &c))
            .await
            .unwrap();
        let nested = env
            .wm
            .list_group_members(
                &ctx,
                ListGroupMembersRequest {
                    organization_id: org.clone(),
                    group_id: "a".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .members
            .unwrap();
        assert_eq!(nested.len(), 2);
        assert!(nested.iter().all(|m| m.r#type.as_deref() == Some("GROUP")));

        env.register(&ctx, &org, &a, &format!("a@{domain}"))
            .await
            .unwrap();
        let delete = |g: &str| DeleteGroupRequest {
            organization_id: org.clone(),
            group_id: g.to_string(),
        };
        assert_eq!(
            code(env.wm.delete_group(&ctx, delete(&a)).await),
            "EntityStateException"
        );
        env.wm
            .deregister_from_work_mail(
                &ctx,
                DeregisterFromWorkMailRequest {
                    organization_id: org.clone(),
                    entity_id: a.clone(),
                },
            )
            .await
            .unwrap();
        env.wm.delete_group(&ctx, delete(&a)).await.unwrap();
        // Its memberships went with it.
        let of_b = env
            .wm
            .list_groups_for_entity(
                &ctx,
                ListGroupsForEntityRequest {
                    organization_id: org.clone(),
                    entity_id: b.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .groups
            .unwrap();
        assert!(of_b.is_empty());
        let not_member = env
            .wm
            .disassociate_member_from_group(
                &ctx,
                DisassociateMemberFromGroupRequest {
                    organization_id: org.clone(),
                    group_id: b.clone(),
                    member_id: alice.clone(),
                },
            )
            .await;
        assert_eq!(code(not_member), "EntityNotFoundException");
        env.wm
            .disassociate_member_from_group(
                &ctx,
                DisassociateMemberFromGroupRequest {
                    organization_id: org.clone(),
                    group_id: c.clone(),
                    member_id: format!("alice@{domain}"),
                },
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn organizations_carry_at_most_50_tags() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, _) = env.organization(&ctx).await;
        let arn = format!(
            "arn:aws:workmail:us-east-1:{}:organization/{org}",
            ctx.account_id
        );
        let tags = |range: std::ops::Range<usize>| -> Vec<Tag> {
            range
                .map(|i| Tag {
                    key: format!("k{i:02}"),
                    value: format!("v{i}"),
                })
                .collect()
        };
        let tag = |tags: Vec<Tag>| TagResourceRequest {
            resource_arn: arn.clone(),
            tags,
        };
        env.wm.tag_resource(&ctx, tag(tags(0..50))).await.unwrap();
        // Overwriting keeps the count; one more is refused and nothing of it is written.
        env.wm
            .tag_resource(
                &ctx,
                tag(vec![Tag {
                    key: "k00".into(),
                    value: "changed".into(),
                }]),
            )
            .await
            .unwrap();
        assert_eq!(
            code(env.wm.tag_resource(&ctx, tag(tags(49..51))).await),
            "TooManyTagsException"
        );
        let listed = env
            .wm
            .list_tags_for_resource(
                &ctx,
                ListTagsForResourceRequest {
                    resource_arn: arn.clone(),
                },
            )
            .await
            .unwrap()
            .tags
            .unwrap();
        assert_eq!(listed.len(), 50);
        assert_eq!(listed[0].value, "changed");
        assert_eq!(listed[49].value, "v49");
        env.wm
            .untag_resource(
                &ctx,
                UntagResourceRequest {
                    resource_arn: arn.clone(),
                    tag_keys: vec!["k00".into(), "absent".into()],
                },
            )
            .await
            .unwrap();
        env.wm.tag_resource(&ctx, tag(tags(50..51))).await.unwrap();
        let reserved = env
            .wm
            .tag_resource(
                &ctx,
                tag(vec![Tag {
                    key: "aws:owner".into(),
                    value: "x".into(),
                }]),
            )
            .await;
        assert_eq!(code(reserved), "InvalidParameterException");
        let unknown = arn.replace(&org, &format!("m-{}", "0".repeat(32)));
        assert_eq!(
            code(
                env.wm
                    .list_tags_for_resource(
                        &ctx,
                        ListTagsForResourceRequest {
                            resource_arn: unknown
                        }
                    )
                    .await
            ),
            "ResourceNotFoundException"
        );
    }
}

#[tokio::test]
async fn passwords_follow_the_directory_policy() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, domain, alice) = org_with_alice(&env, &ctx).await;
        let weak = env
            .wm
            .create_user(
                &ctx,
                CreateUserRequest {
                    organization_id: org.clone(),
                    name: "weak".into(),
                    display_name: "Weak".into(),
                    password: Some("alllowercase".into()),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(code(weak), "InvalidPasswordException");
        let reset = |password: &str| ResetPasswordRequest {
            organization_id: org.clone(),
            user_id: alice.clone(),
            password: password.to_string(),
        };
        for bad in [
            "Sh0rt!",
            "NoDigitsOrSigns",
            &format!("Aa1{}", "x".repeat(61)),
        ] {
            assert_eq!(
                code(env.wm.reset_password(&ctx, reset(bad)).await),
                "InvalidPasswordException"
            );
        }
        env.wm
            .reset_password(&ctx, reset("Nouveau-mot-de-passé"))
            .await
            .unwrap();
        let login = format!("alice@{domain}");
        assert!(authenticate(&env.store, &login, PASSWORD, &imap_client())
            .await
            .unwrap()
            .is_none());
        assert!(
            authenticate(&env.store, &login, "Nouveau-mot-de-passé", &imap_client())
                .await
                .unwrap()
                .is_some()
        );
        // Roles an administrator cannot give.
        let system = env
            .wm
            .create_user(
                &ctx,
                CreateUserRequest {
                    organization_id: org.clone(),
                    name: "sys".into(),
                    display_name: "Sys".into(),
                    role: Some("SYSTEM_USER".into()),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(code(system), "InvalidParameterException");
    }
}

#[tokio::test]
async fn remote_users_are_listed_but_have_no_mailbox_or_login() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, domain, _) = org_with_alice(&env, &ctx).await;
        let remote = env
            .wm
            .create_user(
                &ctx,
                CreateUserRequest {
                    organization_id: org.clone(),
                    name: "remote".into(),
                    display_name: "Remote".into(),
                    password: Some(PASSWORD.into()),
                    role: Some("REMOTE_USER".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .user_id
            .unwrap();
        let email = format!("remote@{domain}");
        env.register(&ctx, &org, &remote, &email).await.unwrap();
        let described = env
            .wm
            .describe_user(
                &ctx,
                DescribeUserRequest {
                    organization_id: org.clone(),
                    user_id: email.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(described.state.as_deref(), Some("ENABLED"));
        assert_eq!(described.user_role.as_deref(), Some("REMOTE_USER"));
        assert_eq!(described.mailbox_provisioned_date, None);
        let details = env
            .wm
            .get_mailbox_details(
                &ctx,
                GetMailboxDetailsRequest {
                    organization_id: org.clone(),
                    user_id: remote.clone(),
                },
            )
            .await;
        assert_eq!(code(details), "EntityNotFoundException");
        assert!(authenticate(&env.store, &email, PASSWORD, &imap_client())
            .await
            .unwrap()
            .is_none());
    }
}

#[tokio::test]
async fn groups_are_described_listed_and_updated() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, domain, _) = org_with_alice(&env, &ctx).await;
        for name in ["Sales", "sales-eu", "support"] {
            env.wm
                .create_group(
                    &ctx,
                    CreateGroupRequest {
                        organization_id: org.clone(),
                        name: name.into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
        }
        env.register(&ctx, &org, "support", &format!("support@{domain}"))
            .await
            .unwrap();
        env.wm
            .update_group(
                &ctx,
                UpdateGroupRequest {
                    organization_id: org.clone(),
                    group_id: format!("support@{domain}"),
                    hidden_from_global_address_list: Some(true),
                },
            )
            .await
            .unwrap();
        let support = env
            .wm
            .describe_group(
                &ctx,
                DescribeGroupRequest {
                    organization_id: org.clone(),
                    group_id: "support".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(support.state.as_deref(), Some("ENABLED"));
        assert_eq!(support.email, Some(format!("support@{domain}")));
        assert_eq!(support.hidden_from_global_address_list, Some(true));
        assert!(support.enabled_date.is_some());
        let list = |filters: ListGroupsFilters| {
            let wm = env.wm.clone();
            let ctx = ctx.clone();
            let org = org.clone();
            async move {
                wm.list_groups(
                    &ctx,
                    ListGroupsRequest {
                        organization_id: org,
                        filters: Some(filters),
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .groups
                .unwrap()
                .into_iter()
                .map(|g| g.name.unwrap())
                .collect::<Vec<_>>()
            }
        };
        let sales = list(ListGroupsFilters {
            name_prefix: Some("sales".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(sales, vec!["sales-eu"]);
        let enabled = list(ListGroupsFilters {
            state: Some("ENABLED".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(enabled, vec!["support"]);
        let by_email = list(ListGroupsFilters {
            primary_email_prefix: Some("supp".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(by_email, vec!["support"]);
        // A user is not a group.
        let not_group = env
            .wm
            .describe_group(
                &ctx,
                DescribeGroupRequest {
                    organization_id: org.clone(),
                    group_id: "alice".into(),
                },
            )
            .await;
        assert_eq!(code(not_group), "EntityNotFoundException");
    }
}

/// The client of the authentications in these tests (an IMAP client on loopback).
fn imap_client() -> carillon_mail::audit::ClientInfo {
    carillon_mail::audit::ClientInfo {
        protocol: "IMAP",
        source_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        user_agent: None,
    }
}
