//! The WorkMail directory operations driven through `WorkMailApi`, on SQLite and (when
//! `CARILLON_TEST_DATABASE_URL` is set) PostgreSQL: the getting-started sequence of the guide,
//! organization lifecycle, tenant isolation and pagination.

mod common;

use carillon_awsapi::generated::workmail::*;
use carillon_mail::login::authenticate;
use carillon_store::testing::unique_name;
use common::{code, envs, PASSWORD};

#[tokio::test]
async fn getting_started_sequence() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, alias) = env.organization(&ctx).await;
        let described = env
            .wm
            .describe_organization(
                &ctx,
                DescribeOrganizationRequest {
                    organization_id: org.clone(),
                },
            )
            .await
            .unwrap();
        let test_domain = format!("{alias}.localhost");
        assert_eq!(
            described.state.as_deref(),
            Some("Active"),
            "{}",
            env.backend
        );
        assert_eq!(described.alias.as_deref(), Some(alias.as_str()));
        assert_eq!(
            described.default_mail_domain.as_deref(),
            Some(test_domain.as_str())
        );
        assert_eq!(
            described.arn.as_deref(),
            Some(
                format!(
                    "arn:aws:workmail:us-east-1:{}:organization/{org}",
                    ctx.account_id
                )
                .as_str()
            )
        );
        assert!(described.directory_id.unwrap().starts_with("d-"));
        assert!(described.completed_date.is_some());

        // The test domain is registered, verified and default.
        let test = env
            .wm
            .get_mail_domain(
                &ctx,
                GetMailDomainRequest {
                    organization_id: org.clone(),
                    domain_name: test_domain.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(test.is_test_domain, Some(true));
        assert_eq!(test.is_default, Some(true));
        assert_eq!(
            test.ownership_verification_status.as_deref(),
            Some("VERIFIED")
        );

        // Own domain: pending until DNS has the records, then verified and made default.
        let domain = format!("{}.example", unique_name("d"));
        env.wm
            .register_mail_domain(
                &ctx,
                RegisterMailDomainRequest {
                    organization_id: org.clone(),
                    domain_name: domain.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let pending = env
            .wm
            .get_mail_domain(
                &ctx,
                GetMailDomainRequest {
                    organization_id: org.clone(),
                    domain_name: domain.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            pending.ownership_verification_status.as_deref(),
            Some("PENDING")
        );
        assert_eq!(pending.is_test_domain, Some(false));
        env.publish(&ctx, &org, &domain).await;
        env.wm
            .update_default_mail_domain(
                &ctx,
                UpdateDefaultMailDomainRequest {
                    organization_id: org.clone(),
                    domain_name: domain.clone(),
                },
            )
            .await
            .unwrap();
        let listed = env
            .wm
            .list_mail_domains(
                &ctx,
                ListMailDomainsRequest {
                    organization_id: org.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .mail_domains
            .unwrap();
        assert_eq!(listed.len(), 2);
        let default: Vec<_> = listed
            .iter()
            .filter(|d| d.default_domain == Some(true))
            .map(|d| d.domain_name.clone().unwrap())
            .collect();
        assert_eq!(default, vec![domain.clone()]);

        // A user starts disabled without a mailbox; registering enables it with one.
        let alice = env.user(&ctx, &org, "alice").await;
        let before = env
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
        assert_eq!(before.state.as_deref(), Some("DISABLED"));
        assert_eq!(before.user_role.as_deref(), Some("USER"));
        assert_eq!(before.email, None);
        let alice_email = format!("alice@{domain}");
        env.register(&ctx, &org, &alice, &alice_email.to_uppercase())
            .await
            .unwrap();
        let after = env
            .wm
            .describe_user(
                &ctx,
                DescribeUserRequest {
                    organization_id: org.clone(),
                    user_id: "alice".to_string(),
                },
            )
            .await
            .unwrap();
        assert_eq!(after.state.as_deref(), Some("ENABLED"));
        assert_eq!(after.email.as_deref(), Some(alice_email.as_str()));
        assert!(after.enabled_date.is_some() && after.mailbox_provisioned_date.is_some());

        // Group with members, alias, lookups by address.
        let bob = env.user(&ctx, &org, "bob").await;
        env.register(&ctx, &org, &bob, &format!("bob@{domain}"))
            .await
            .unwrap();
        let team = env
            .wm
            .create_group(
                &ctx,
                CreateGroupRequest {
                    organization_id: org.clone(),
                    name: "team".to_string(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .group_id
            .unwrap();
        env.register(&ctx, &org, &team, &format!("team@{domain}"))
            .await
            .unwrap();
        for member in [&alice, &bob] {
            env.wm
                .associate_member_to_group(
                    &ctx,
                    AssociateMemberToGroupRequest {
                        organization_id: org.clone(),
                        group_id: team.clone(),
                        member_id: member.clone(),
                    },
                )
                .await
                .unwrap();
        }
        let members = env
            .wm
            .list_group_members(
                &ctx,
                ListGroupMembersRequest {
                    organization_id: org.clone(),
                    group_id: format!("team@{domain}"),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .members
            .unwrap();
        let mut names: Vec<_> = members.iter().map(|m| m.name.clone().unwrap()).collect();
        names.sort();
        assert_eq!(names, vec!["alice", "bob"]);
        assert!(members.iter().all(|m| m.r#type.as_deref() == Some("USER")));
        let sales = format!("sales@{domain}");
        env.wm
            .create_alias(
                &ctx,
                CreateAliasRequest {
                    organization_id: org.clone(),
                    entity_id: alice.clone(),
                    alias: sales.clone(),
                },
            )
            .await
            .unwrap();
        let entity = env
            .wm
            .describe_entity(
                &ctx,
                DescribeEntityRequest {
                    organization_id: org.clone(),
                    email: sales.to_uppercase(),
                },
            )
            .await
            .unwrap();
        assert_eq!(entity.entity_id.as_deref(), Some(alice.as_str()));
        assert_eq!(entity.r#type.as_deref(), Some("USER"));
        assert_eq!(entity.name.as_deref(), Some("alice"));
        let groups = env
            .wm
            .list_groups_for_entity(
                &ctx,
                ListGroupsForEntityRequest {
                    organization_id: org.clone(),
                    entity_id: alice.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .groups
            .unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].group_name.as_deref(), Some("team"));

        // The mailbox exists with the default quota; the user can log in by address or alias.
        let details = env
            .wm
            .get_mailbox_details(
                &ctx,
                GetMailboxDetailsRequest {
                    organization_id: org.clone(),
                    user_id: alice_email.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(details.mailbox_quota, Some(51_200));
        assert_eq!(details.mailbox_size, Some(0.0));
        let user = authenticate(&env.store, &sales.to_uppercase(), PASSWORD, &imap_client())
            .await
            .unwrap()
            .expect("alias login");
        assert_eq!(user.user_id, alice);
        assert_eq!(user.organization_id, org);
        assert_eq!(user.account_id, ctx.account_id);
        assert_eq!(user.email, alice_email);
        assert_eq!(user.addresses, vec![alice_email.clone(), sales.clone()]);
        assert!(
            authenticate(&env.store, &alice_email, "Wr0ng-password", &imap_client())
                .await
                .unwrap()
                .is_none()
        );
        assert!(authenticate(
            &env.store,
            &format!("nobody@{domain}"),
            PASSWORD,
            &imap_client()
        )
        .await
        .unwrap()
        .is_none());
    }
}

#[tokio::test]
async fn organization_alias_is_unique_and_freed_by_deletion() {
    for env in envs().await {
        let ctx = env.account().await;
        let other = env.account().await;
        let (org, alias) = env.organization(&ctx).await;
        let again = |ctx: carillon_core::RequestContext, alias: String| {
            let wm = env.wm.clone();
            async move {
                wm.create_organization(
                    &ctx,
                    CreateOrganizationRequest {
                        alias,
                        ..Default::default()
                    },
                )
                .await
            }
        };
        // Unique among live organizations of every account, whatever the case.
        assert_eq!(
            code(again(other.clone(), alias.clone()).await),
            "NameAvailabilityException"
        );
        assert_eq!(
            code(again(ctx.clone(), alias.to_uppercase()).await),
            "NameAvailabilityException"
        );
        // DeleteDirectory is required by the model; enabled users need ForceDelete.
        let user = env.user(&ctx, &org, "alice").await;
        env.register(&ctx, &org, &user, &format!("alice@{alias}.localhost"))
            .await
            .unwrap();
        let delete = |force: Option<bool>| DeleteOrganizationRequest {
            organization_id: org.clone(),
            delete_directory: true,
            force_delete: force,
            ..Default::default()
        };
        assert_eq!(
            code(env.wm.delete_organization(&ctx, delete(None)).await),
            "OrganizationStateException"
        );
        let deleted = env
            .wm
            .delete_organization(&ctx, delete(Some(true)))
            .await
            .unwrap();
        assert_eq!(deleted.state.as_deref(), Some("Deleted"));
        let described = env
            .wm
            .describe_organization(
                &ctx,
                DescribeOrganizationRequest {
                    organization_id: org.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(described.state.as_deref(), Some("Deleted"));
        assert_eq!(
            code(env.wm.delete_organization(&ctx, delete(Some(true))).await),
            "OrganizationStateException"
        );
        assert_eq!(
            code(
                env.wm
                    .list_users(
                        &ctx,
                        ListUsersRequest {
                            organization_id: org.clone(),
                            ..Default::default()
                        },
                    )
                    .await
            ),
            "OrganizationStateException"
        );
        // The user and its addresses are gone; the alias and test domain are free again.
        assert!(authenticate(
            &env.store,
            &format!("alice@{alias}.localhost"),
            PASSWORD,
            &imap_client()
        )
        .await
        .unwrap()
        .is_none());
        let reborn = again(other.clone(), alias.clone()).await.unwrap();
        assert_ne!(reborn.organization_id.as_deref(), Some(org.as_str()));
    }
}

#[tokio::test]
async fn organizations_per_account_are_limited_to_100() {
    // SQLite only: the limit is a count, the backend adds nothing but time.
    let env = envs().await.remove(0);
    let ctx = env.account().await;
    for _ in 0..100 {
        env.organization(&ctx).await;
    }
    let refused = env
        .wm
        .create_organization(
            &ctx,
            CreateOrganizationRequest {
                alias: unique_name("over"),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(code(refused), "LimitExceededException");
}

#[tokio::test]
async fn other_accounts_cannot_see_an_organization() {
    for env in envs().await {
        let a = env.account().await;
        let b = env.account().await;
        let (org, _) = env.organization(&a).await;
        assert_eq!(
            code(
                env.wm
                    .describe_organization(
                        &b,
                        DescribeOrganizationRequest {
                            organization_id: org.clone()
                        }
                    )
                    .await
            ),
            "OrganizationNotFoundException"
        );
        assert_eq!(
            code(
                env.wm
                    .create_user(
                        &b,
                        CreateUserRequest {
                            organization_id: org.clone(),
                            name: "mallory".into(),
                            display_name: "Mallory".into(),
                            ..Default::default()
                        },
                    )
                    .await
            ),
            "OrganizationNotFoundException"
        );
        let listed = env
            .wm
            .list_organizations(&b, ListOrganizationsRequest::default())
            .await
            .unwrap()
            .organization_summaries
            .unwrap();
        assert!(listed.is_empty());
        let arn = format!(
            "arn:aws:workmail:us-east-1:{}:organization/{org}",
            a.account_id
        );
        assert_eq!(
            code(
                env.wm
                    .list_tags_for_resource(
                        &b,
                        ListTagsForResourceRequest {
                            resource_arn: arn.clone()
                        }
                    )
                    .await
            ),
            "ResourceNotFoundException"
        );
        // The same ARN with B's account ID does not reach A's organization either.
        let forged = arn.replace(&a.account_id, &b.account_id);
        assert_eq!(
            code(
                env.wm
                    .list_tags_for_resource(
                        &b,
                        ListTagsForResourceRequest {
                            resource_arn: forged
                        }
                    )
                    .await
            ),
            "ResourceNotFoundException"
        );
    }
}

#[tokio::test]
async fn listings_page_with_tamper_checked_tokens() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, _) = env.organization(&ctx).await;
        let (other_org, _) = env.organization(&ctx).await;
        let mut created: Vec<String> = Vec::new();
        for i in 0..5 {
            let name = format!("user{i}");
            env.user(&ctx, &org, &name).await;
            created.push(name);
        }
        let mut seen = Vec::new();
        let mut token = None;
        let mut pages = 0;
        loop {
            let page = env
                .wm
                .list_users(
                    &ctx,
                    ListUsersRequest {
                        organization_id: org.clone(),
                        max_results: Some(2),
                        next_token: token.clone(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let users = page.users.unwrap();
            assert!(users.len() <= 2);
            seen.extend(users.into_iter().map(|u| u.name.unwrap()));
            pages += 1;
            token = page.next_token;
            if token.is_none() {
                break;
            }
            // A token is bound to its listing: another organization or an altered token is
            // refused.
            let t = token.clone().unwrap();
            let foreign = env
                .wm
                .list_users(
                    &ctx,
                    ListUsersRequest {
                        organization_id: other_org.clone(),
                        next_token: Some(t.clone()),
                        ..Default::default()
                    },
                )
                .await;
            assert_eq!(code(foreign), "InvalidParameterException");
            let mut altered = t.into_bytes();
            altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
            let altered = env
                .wm
                .list_users(
                    &ctx,
                    ListUsersRequest {
                        organization_id: org.clone(),
                        next_token: Some(String::from_utf8(altered).unwrap()),
                        ..Default::default()
                    },
                )
                .await;
            assert_eq!(code(altered), "InvalidParameterException");
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, created);
        let too_many = env
            .wm
            .list_users(
                &ctx,
                ListUsersRequest {
                    organization_id: org.clone(),
                    max_results: Some(101),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(code(too_many), "InvalidParameterException");
        // Organizations page the same way.
        let first = env
            .wm
            .list_organizations(
                &ctx,
                ListOrganizationsRequest {
                    max_results: Some(1),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(first.organization_summaries.unwrap().len(), 1);
        let second = env
            .wm
            .list_organizations(
                &ctx,
                ListOrganizationsRequest {
                    max_results: Some(1),
                    next_token: first.next_token,
                },
            )
            .await
            .unwrap();
        assert_eq!(second.organization_summaries.unwrap().len(), 1);
        assert!(second.next_token.is_none());
    }
}

#[tokio::test]
async fn create_organization_registers_domains_and_honours_client_tokens() {
    for env in envs().await {
        let ctx = env.account().await;
        let alias = unique_name("tok");
        let (d1, d2) = (format!("{alias}-1.example"), format!("{alias}-2.example"));
        let request = |alias: &str, token: &str| CreateOrganizationRequest {
            alias: alias.to_string(),
            client_token: Some(token.to_string()),
            domains: Some(vec![
                Domain {
                    domain_name: d1.to_uppercase(),
                    ..Default::default()
                },
                Domain {
                    domain_name: d2.clone(),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let first = env
            .wm
            .create_organization(&ctx, request(&alias, "retry-1"))
            .await
            .unwrap()
            .organization_id
            .unwrap();
        // A retry answers the same organization and creates nothing.
        let retried = env
            .wm
            .create_organization(&ctx, request(&alias, "retry-1"))
            .await
            .unwrap()
            .organization_id
            .unwrap();
        assert_eq!(retried, first);
        let all = env
            .wm
            .list_organizations(&ctx, ListOrganizationsRequest::default())
            .await
            .unwrap()
            .organization_summaries
            .unwrap();
        assert_eq!(all.len(), 1);
        let domains = env
            .wm
            .list_mail_domains(
                &ctx,
                ListMailDomainsRequest {
                    organization_id: first.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .mail_domains
            .unwrap();
        let mut names: Vec<_> = domains
            .into_iter()
            .map(|d| d.domain_name.unwrap())
            .collect();
        names.sort();
        let mut expected = vec![d1.clone(), d2.clone(), format!("{alias}.localhost")];
        expected.sort();
        assert_eq!(names, expected);
        let d1_state = env
            .wm
            .get_mail_domain(
                &ctx,
                GetMailDomainRequest {
                    organization_id: first.clone(),
                    domain_name: d1.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            d1_state.ownership_verification_status.as_deref(),
            Some("PENDING")
        );
        assert_eq!(d1_state.is_default, Some(false));
        // The same token in another account is another request; its domains are taken.
        let other = env.account().await;
        let taken = env
            .wm
            .create_organization(&other, request(&unique_name("tok"), "retry-1"))
            .await;
        assert_eq!(code(taken), "InvalidParameterException");
        let external = env
            .wm
            .create_organization(
                &other,
                CreateOrganizationRequest {
                    alias: unique_name("ad"),
                    directory_id: Some("d-0123456789".into()),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(code(external), "DirectoryUnavailableException");
    }
}

#[tokio::test]
async fn update_user_changes_only_the_members_given() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, _) = env.organization(&ctx).await;
        let user = env.user(&ctx, &org, "erin").await;
        let describe = || DescribeUserRequest {
            organization_id: org.clone(),
            user_id: user.clone(),
        };
        env.wm
            .update_user(
                &ctx,
                UpdateUserRequest {
                    organization_id: org.clone(),
                    user_id: "erin".into(),
                    display_name: Some("Erin E.".into()),
                    job_title: Some("Engineer".into()),
                    city: Some("Lyon".into()),
                    hidden_from_global_address_list: Some(true),
                    role: Some("REMOTE_USER".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let updated = env.wm.describe_user(&ctx, describe()).await.unwrap();
        assert_eq!(updated.display_name.as_deref(), Some("Erin E."));
        assert_eq!(updated.job_title.as_deref(), Some("Engineer"));
        assert_eq!(updated.city.as_deref(), Some("Lyon"));
        assert_eq!(updated.hidden_from_global_address_list, Some(true));
        assert_eq!(updated.user_role.as_deref(), Some("REMOTE_USER"));
        env.wm
            .update_user(
                &ctx,
                UpdateUserRequest {
                    organization_id: org.clone(),
                    user_id: user.clone(),
                    city: Some(String::new()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let cleared = env.wm.describe_user(&ctx, describe()).await.unwrap();
        assert_eq!(cleared.city, None);
        assert_eq!(cleared.job_title.as_deref(), Some("Engineer"));
        assert_eq!(cleared.display_name.as_deref(), Some("Erin E."));
        let resource_role = env
            .wm
            .update_user(
                &ctx,
                UpdateUserRequest {
                    organization_id: org.clone(),
                    user_id: user.clone(),
                    role: Some("RESOURCE".into()),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(code(resource_role), "InvalidParameterException");
        env.wm
            .delete_user(
                &ctx,
                DeleteUserRequest {
                    organization_id: org.clone(),
                    user_id: user.clone(),
                },
            )
            .await
            .unwrap();
        let deleted = env
            .wm
            .update_user(
                &ctx,
                UpdateUserRequest {
                    organization_id: org.clone(),
                    user_id: user.clone(),
                    city: Some("Paris".into()),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(code(deleted), "EntityStateException");
    }
}

#[tokio::test]
async fn mailbox_size_is_real_and_organization_deletion_removes_the_mail() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, alias) = env.organization(&ctx).await;
        let user = env.user(&ctx, &org, "fred").await;
        env.register(&ctx, &org, &user, &format!("fred@{alias}.localhost"))
            .await
            .unwrap();
        let raw = vec![b'x'; 3 * 1024 * 1024 / 2];
        let key = format!("test/{}", unique_name("blob"));
        env.store
            .blobs()
            .put(&key, raw.clone().into())
            .await
            .unwrap();
        env.store
            .append_messages(&[carillon_store::NewMessage {
                user_id: user.clone(),
                folder: "INBOX".into(),
                blob_key: key.clone(),
                size_bytes: raw.len() as i64,
                internal_date: 0,
                flags: vec![],
                message_key: None,
            }])
            .await
            .unwrap();
        let details = env
            .wm
            .get_mailbox_details(
                &ctx,
                GetMailboxDetailsRequest {
                    organization_id: org.clone(),
                    user_id: user.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(details.mailbox_size, Some(1.5));
        env.wm
            .delete_organization(
                &ctx,
                DeleteOrganizationRequest {
                    organization_id: org.clone(),
                    delete_directory: true,
                    force_delete: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(env.store.mailbox_size(&user).await.unwrap(), None);
        assert!(env.store.blobs().get(&key).await.is_err());
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
