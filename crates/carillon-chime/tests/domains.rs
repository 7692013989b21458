//! Domain claims (Carillon operations) against a local DNS stub, on SQLite and (when
//! `CARILLON_TEST_DATABASE_URL` is set) PostgreSQL: TXT verification on GetDomain and by the
//! polling job, the account becoming Enterprise, conflicts, suspension in an Enterprise
//! account, joining the claiming account at registration, and domain removal releasing
//! users. Spec: chime-zh.md §1.2–§1.4, §2.4, §2.7, §2.12.

mod support;
mod users_env;

use std::time::Duration;

use carillon_adminapi::CarillonOperation;
use carillon_awsapi::generated::chime::*;
use carillon_chime::domains::{
    purge_released_users, verification_job, AccountInput, ClaimDomain, ClaimDomainInput,
    DeleteDomain, DomainInput, GetDomain, ListDomains, RELEASED_PERIOD_MS,
};
use carillon_chime::hub::{ChatEvent, MembershipChange};
use carillon_chime::users::{may_sign_in, register, sign_up};
use carillon_core::{ApiError, RequestContext};
use support::code;
use tokio_util::sync::CancellationToken;
use users_env::{envs, Env};

async fn claim(
    env: &Env,
    ctx: &RequestContext,
    account: &str,
    domain: &str,
) -> Result<carillon_chime::domains::DomainOutput, ApiError> {
    ClaimDomain(env.chime.clone())
        .call(
            ctx,
            ClaimDomainInput {
                account_id: account.to_string(),
                domain_name: domain.to_string(),
            },
        )
        .await
}

/// `op` (GetDomain or DeleteDomain) on `domain` of `account`.
async fn on_domain<O: CarillonOperation<Input = DomainInput>>(
    op: O,
    ctx: &RequestContext,
    account: &str,
    domain: &str,
) -> Result<O::Output, ApiError> {
    op.call(
        ctx,
        DomainInput {
            account_id: account.to_string(),
            domain_name: domain.to_string(),
        },
    )
    .await
}

async fn get(
    env: &Env,
    ctx: &RequestContext,
    account: &str,
    domain: &str,
) -> Result<carillon_chime::domains::DomainOutput, ApiError> {
    on_domain(GetDomain(env.chime.clone()), ctx, account, domain).await
}

async fn delete_domain(
    env: &Env,
    ctx: &RequestContext,
    account: &str,
    domain: &str,
) -> Result<carillon_chime::domains::EmptyOutput, ApiError> {
    on_domain(DeleteDomain(env.chime.clone()), ctx, account, domain).await
}

/// A Chime account of `ctx`'s tenant holding `corp.example` verified, with three registered
/// users: (account, mary@corp.example, sam@corp.example, olga@elsewhere.example).
async fn corp_users(env: &Env, ctx: &RequestContext) -> (String, User, User, User) {
    let account = env.account(ctx, "Corp").await;
    verified(env, ctx, &account, "corp.example").await;
    let mary = env.registered(ctx, &account, "mary@corp.example").await;
    let sam = env.registered(ctx, &account, "sam@corp.example").await;
    let olga = env
        .registered(ctx, &account, "olga@elsewhere.example")
        .await;
    (account, mary, sam, olga)
}

async fn account_type(env: &Env, ctx: &RequestContext, account: &str) -> String {
    env.chime
        .get_account(
            ctx,
            GetAccountRequest {
                account_id: account.to_string(),
            },
        )
        .await
        .unwrap()
        .account
        .unwrap()
        .account_type
        .unwrap()
}

/// Claims `domain` for `account` and publishes its TXT record so it verifies.
async fn verified(env: &Env, ctx: &RequestContext, account: &str, domain: &str) {
    let record = claim(env, ctx, account, domain)
        .await
        .unwrap()
        .domain
        .verification_record;
    env.dns.zone.txt(&record.name, &record.value);
    let domain = get(env, ctx, account, domain).await.unwrap().domain;
    assert_eq!(domain.status, "Verified");
}

#[tokio::test]
async fn a_claim_verifies_through_dns_and_makes_the_account_enterprise() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Corp").await;
        let claimed = claim(&env, &ctx, &account, "Example.COM.")
            .await
            .unwrap()
            .domain;
        assert_eq!(claimed.domain_name, "example.com");
        assert_eq!(claimed.status, "PendingVerification");
        assert_eq!(
            claimed.verification_record.name,
            "_carillon-chime.example.com"
        );
        assert_eq!(claimed.verification_record.r#type, "TXT");
        assert!(claimed
            .verification_record
            .value
            .starts_with("carillon-chime-verification="));
        assert_eq!(
            code(claim(&env, &ctx, &account, "example.com").await),
            "ConflictException"
        );
        assert_eq!(
            code(claim(&env, &ctx, &account, "not a domain").await),
            "BadRequestException"
        );
        assert_eq!(
            code(claim(&env, &ctx, &account, "localhost").await),
            "BadRequestException"
        );

        // Nothing published yet, or a wrong value: still pending, still Team.
        env.dns.zone.txt(
            &claimed.verification_record.name,
            "carillon-chime-verification=wrong",
        );
        let pending = get(&env, &ctx, &account, "example.com")
            .await
            .unwrap()
            .domain;
        assert_eq!(pending.status, "PendingVerification");
        assert_eq!(account_type(&env, &ctx, &account).await, "Team");

        env.dns.zone.txt(
            &claimed.verification_record.name,
            &claimed.verification_record.value,
        );
        let done = get(&env, &ctx, &account, "example.com")
            .await
            .unwrap()
            .domain;
        assert_eq!(done.status, "Verified");
        assert!(done.verified_timestamp.is_some());
        assert_eq!(account_type(&env, &ctx, &account).await, "EnterpriseLWA");

        let listed = ListDomains(env.chime.clone())
            .call(
                &ctx,
                AccountInput {
                    account_id: account.clone(),
                },
            )
            .await
            .unwrap()
            .domains;
        assert_eq!(listed.len(), 1);

        // Another tenant can neither see the claim nor claim the verified domain.
        let other = env.tenant().await;
        let theirs = env.account(&other, "Theirs").await;
        assert_eq!(
            code(get(&env, &other, &account, "example.com").await),
            "NotFoundException"
        );
        assert_eq!(
            code(get(&env, &other, &theirs, "example.com").await),
            "NotFoundException"
        );
        assert_eq!(
            code(claim(&env, &other, &theirs, "example.com").await),
            "ConflictException"
        );
        // A subdomain is a claim of its own.
        claim(&env, &other, &theirs, "sub.example.com")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_job_verifies_pending_claims() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Corp").await;
        let record = claim(&env, &ctx, &account, "polled.example")
            .await
            .unwrap()
            .domain
            .verification_record;
        env.dns.zone.txt(&record.name, &record.value);
        let shutdown = CancellationToken::new();
        let job = tokio::spawn(verification_job(env.chime.clone(), shutdown.clone()));
        let mut verified = false;
        for _ in 0..100 {
            let domains = env
                .test
                .store
                .list_chime_domains(&ctx.account_id, &account)
                .await
                .unwrap();
            if domains[0].status == "Verified" {
                verified = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown.cancel();
        job.await.unwrap();
        assert!(verified, "the job verified the claim");
        assert_eq!(account_type(&env, &ctx, &account).await, "EnterpriseLWA");
    }
}

#[tokio::test]
async fn enterprise_users_are_suspended_and_unsuspended() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account(&ctx, "Corp").await;
        verified(&env, &ctx, &account, "corp.example").await;
        let user = env.registered(&ctx, &account, "mary@corp.example").await;
        env.session(&user.user_id).await;
        let mut events = env.chime.hub().subscribe();
        let errors = env
            .suspend(
                &ctx,
                &account,
                vec![user.user_id.clone(), "nobody".to_string()],
            )
            .await
            .unwrap()
            .user_errors
            .unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].error_code.as_deref(), Some("NotFound"));
        assert_eq!(env.sessions(&user.user_id).await, 0);
        assert_eq!(
            *events.recv().await.unwrap(),
            ChatEvent::SessionsRevoked {
                user_id: user.user_id.clone()
            }
        );
        let suspended = env.user_by_email(&ctx, &account, "mary@corp.example").await;
        assert_eq!(
            suspended.user_registration_status.as_deref(),
            Some("Suspended")
        );
        assert!(!may_sign_in(&env.chime, &user.user_id).await.unwrap());
        let again = env
            .suspend(&ctx, &account, vec![user.user_id.clone()])
            .await
            .unwrap()
            .user_errors
            .unwrap();
        assert_eq!(again[0].error_code.as_deref(), Some("Conflict"));

        let errors = env
            .unsuspend(&ctx, &account, vec![user.user_id.clone()])
            .await
            .unwrap()
            .user_errors
            .unwrap();
        assert!(errors.is_empty());
        let back = env.user_by_email(&ctx, &account, "mary@corp.example").await;
        assert_eq!(back.user_registration_status.as_deref(), Some("Registered"));
        assert!(may_sign_in(&env.chime, &user.user_id).await.unwrap());
        let not_suspended = env
            .unsuspend(&ctx, &account, vec![user.user_id.clone()])
            .await
            .unwrap()
            .user_errors
            .unwrap();
        assert_eq!(not_suspended[0].error_code.as_deref(), Some("BadRequest"));
        let too_many = env
            .suspend(&ctx, &account, (0..51).map(|i| i.to_string()).collect())
            .await;
        assert_eq!(code(too_many), "BadRequestException");
    }
}

#[tokio::test]
async fn claimed_domain_users_join_the_enterprise_account() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let team = env.account(&ctx, "Team").await;
        let corp = env.account(&ctx, "Corp").await;
        // Invited by the Team account before Corp verified the domain...
        env.invite(&ctx, &team, &["ann@corp.example"]).await;
        let token = env.mailer.token_for("ann@corp.example");
        verified(&env, &ctx, &corp, "corp.example").await;
        // ...a claimed address can no longer be invited or created elsewhere...
        let refused = env.invite(&ctx, &team, &["bob@corp.example"]).await;
        assert_eq!(refused[0].status.as_deref(), Some("Failed"));
        assert_eq!(refused[0].email_status.as_deref(), Some("NotSent"));
        let created = env.create_user(&ctx, &team, "carl@corp.example").await;
        assert_eq!(code(created), "ConflictException");
        // ...and registering joins the Enterprise account.
        let done = register(&env.chime, &token, "long enough", "Ann")
            .await
            .unwrap();
        assert_eq!(done.chime_account_id, Some(corp.clone()));
        env.user_by_email(&ctx, &corp, "ann@corp.example").await;

        // Someone signing up with a claimed address is added to the account at once.
        sign_up(&env.chime, "dee@corp.example").await.unwrap();
        let dee = env.user_by_email(&ctx, &corp, "dee@corp.example").await;
        assert_eq!(
            dee.user_registration_status.as_deref(),
            Some("Unregistered")
        );
        let token = env.mailer.token_for("dee@corp.example");
        let done = register(&env.chime, &token, "long enough", "Dee")
            .await
            .unwrap();
        assert_eq!(done.chime_account_id, Some(corp.clone()));
        assert_eq!(done.license_type.as_deref(), Some("Pro"));
    }
}

#[tokio::test]
async fn removing_a_domain_releases_its_users() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let (account, mary, sam, other) = corp_users(&env, &ctx).await;
        env.suspend(&ctx, &account, vec![sam.user_id.clone()])
            .await
            .unwrap();
        env.session(&mary.user_id).await;

        let blocked = env.delete_account(&ctx, &account).await;
        assert_eq!(code(blocked), "UnprocessableEntityException");

        let mut events = env.chime.hub().subscribe();
        let stranger = env.tenant().await;
        assert_eq!(
            code(delete_domain(&env, &stranger, &account, "corp.example").await),
            "NotFoundException"
        );
        delete_domain(&env, &ctx, &account, "corp.example")
            .await
            .unwrap();
        assert_eq!(
            code(delete_domain(&env, &ctx, &account, "corp.example").await),
            "NotFoundException"
        );
        let mut revoked = Vec::new();
        while let Ok(event) = events.try_recv() {
            if let ChatEvent::SessionsRevoked { user_id } = &*event {
                revoked.push(user_id.clone());
            }
        }
        revoked.sort();
        let mut expected = vec![mary.user_id.clone(), sam.user_id.clone()];
        expected.sort();
        assert_eq!(revoked, expected);
        assert_eq!(env.sessions(&mary.user_id).await, 0);

        let mary = env.user_by_email(&ctx, &account, "mary@corp.example").await;
        assert_eq!(mary.user_registration_status.as_deref(), Some("Released"));
        assert_eq!(mary.license_type, None);
        assert!(!may_sign_in(&env.chime, &mary.user_id).await.unwrap());
        let sam = env.user_by_email(&ctx, &account, "sam@corp.example").await;
        assert_eq!(sam.user_registration_status.as_deref(), Some("Suspended"));
        let olga = env
            .user_by_email(&ctx, &account, "olga@elsewhere.example")
            .await;
        assert_eq!(olga.user_registration_status.as_deref(), Some("Registered"));
        assert_eq!(other.user_id, olga.user_id);
        assert_eq!(account_type(&env, &ctx, &account).await, "EnterpriseLWA");

        // A released user may join another account; a suspended one may not.
        let next = env.account(&ctx, "Next").await;
        let invites = env
            .invite(&ctx, &next, &["mary@corp.example", "sam@corp.example"])
            .await;
        assert_eq!(invites[0].status.as_deref(), Some("Pending"));
        assert_eq!(invites[1].status.as_deref(), Some("Failed"));

        env.delete_account(&ctx, &account).await.unwrap();
        let detached = env
            .test
            .store
            .chime_user_by_email("sam@corp.example")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(detached.chime_account_id, None);
        assert_eq!(detached.registration_status, "Suspended");
    }
}

#[tokio::test]
async fn removing_a_domain_takes_its_users_out_of_the_accounts_rooms() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let (account, mary, sam, olga) = corp_users(&env, &ctx).await;
        let room = env.create_room(&ctx, &account, "Launch").await;
        let room_id = room.room_id.unwrap();
        for (user, role) in [
            (&mary, "Administrator"),
            (&sam, "Member"),
            (&olga, "Member"),
        ] {
            env.chime
                .create_room_membership(
                    &ctx,
                    CreateRoomMembershipRequest {
                        account_id: account.clone(),
                        member_id: user.user_id.clone(),
                        role: Some(role.to_string()),
                        room_id: room_id.clone(),
                    },
                )
                .await
                .unwrap();
        }
        env.suspend(&ctx, &account, vec![sam.user_id.clone()])
            .await
            .unwrap();

        let mut events = env.chime.hub().subscribe();
        delete_domain(&env, &ctx, &account, "corp.example")
            .await
            .unwrap();

        let mut removed = Vec::new();
        let mut revoked_before_removal = false;
        while let Ok(event) = events.try_recv() {
            match &*event {
                ChatEvent::Membership {
                    account_id,
                    room_id: event_room,
                    member_id,
                    role,
                    change,
                    actor,
                    audience,
                    ..
                } => {
                    assert_eq!(account_id, &ctx.account_id);
                    assert_eq!(event_room, &room_id);
                    assert_eq!(*change, MembershipChange::Removed);
                    assert_eq!(actor, &None);
                    assert!(audience.contains(member_id));
                    assert!(audience.contains(&olga.user_id));
                    removed.push((member_id.clone(), role.clone()));
                }
                ChatEvent::SessionsRevoked { .. } => revoked_before_removal = removed.is_empty(),
                _ => {}
            }
        }
        assert!(!revoked_before_removal);
        removed.sort();
        let mut expected = vec![
            (mary.user_id.clone(), "Administrator".to_string()),
            (sam.user_id.clone(), "Member".to_string()),
        ];
        expected.sort();
        assert_eq!(removed, expected);

        let left = env
            .chime
            .list_room_memberships(
                &ctx,
                ListRoomMembershipsRequest {
                    account_id: account.clone(),
                    room_id: room_id.clone(),
                    max_results: None,
                    next_token: None,
                },
            )
            .await
            .unwrap()
            .room_memberships
            .unwrap();
        let members: Vec<_> = left
            .iter()
            .map(|m| m.member.as_ref().unwrap().member_id.clone().unwrap())
            .collect();
        assert_eq!(members, vec![olga.user_id.clone()]);
    }
}

#[tokio::test]
async fn released_users_leave_the_account_after_ninety_days() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let (account, mary, sam, olga) = corp_users(&env, &ctx).await;
        env.suspend(&ctx, &account, vec![sam.user_id.clone()])
            .await
            .unwrap();
        delete_domain(&env, &ctx, &account, "corp.example")
            .await
            .unwrap();
        let removed_at = carillon_core::time::now_millis();

        // Within the 90 days the released user stays in the account.
        let early = purge_released_users(&env.chime, removed_at + RELEASED_PERIOD_MS - 60_000)
            .await
            .unwrap();
        assert!(!early.contains(&mary.user_id));
        let still = env.user_by_email(&ctx, &account, "mary@corp.example").await;
        assert_eq!(still.user_registration_status.as_deref(), Some("Released"));

        let later = removed_at + RELEASED_PERIOD_MS + 60_000;
        let moved = purge_released_users(&env.chime, later).await.unwrap();
        assert!(moved.contains(&mary.user_id));
        assert!(!moved.contains(&sam.user_id));
        assert!(!moved.contains(&olga.user_id));
        assert!(purge_released_users(&env.chime, later)
            .await
            .unwrap()
            .is_empty());

        let gone = env
            .test
            .store
            .chime_user_by_id(&mary.user_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(gone.account_id, None);
        assert_eq!(gone.chime_account_id, None);
        assert_eq!(gone.license_type, None);
        assert_eq!(gone.registration_status, "Released");
        assert!(!may_sign_in(&env.chime, &mary.user_id).await.unwrap());
        let listed = env
            .chime
            .get_user(
                &ctx,
                GetUserRequest {
                    account_id: account.clone(),
                    user_id: mary.user_id.clone(),
                },
            )
            .await;
        assert_eq!(code(listed), "NotFoundException");
        let sam_now = env.user_by_email(&ctx, &account, "sam@corp.example").await;
        assert_eq!(
            sam_now.user_registration_status.as_deref(),
            Some("Suspended")
        );

        // The identity may sign up again, now outside any account.
        sign_up(&env.chime, "mary@corp.example").await.unwrap();
        let token = env.mailer.token_for("mary@corp.example");
        let again = register(&env.chime, &token, "another good password", "Mary")
            .await
            .unwrap();
        assert_eq!(again.user_id, mary.user_id);
        assert_eq!(again.chime_account_id, None);
        assert!(may_sign_in(&env.chime, &mary.user_id).await.unwrap());
    }
}
