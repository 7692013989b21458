//! Mail-domain verification by real DNS lookups against a local stub server: ownership TXT
//! and DKIM TXT statuses moving between PENDING, VERIFIED and FAILED, and what a verified
//! domain unlocks.

mod common;

use carillon_awsapi::generated::workmail::*;
use carillon_core::RequestContext;
use carillon_mail::directory::DnsVerifier;
use carillon_store::testing::unique_name;
use common::{code, envs, Env, MAIL_HOST};

async fn get(env: &Env, ctx: &RequestContext, org: &str, domain: &str) -> GetMailDomainResponse {
    env.wm
        .get_mail_domain(
            ctx,
            GetMailDomainRequest {
                organization_id: org.to_string(),
                domain_name: domain.to_string(),
            },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn statuses_follow_what_dns_publishes() {
    let env = envs().await.remove(0);
    let ctx = env.account().await;
    let (org, _) = env.organization(&ctx).await;
    let domain = format!("{}.example", unique_name("v"));
    env.wm
        .register_mail_domain(
            &ctx,
            RegisterMailDomainRequest {
                organization_id: org.clone(),
                domain_name: domain.to_uppercase(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let first = get(&env, &ctx, &org, &domain).await;
    assert_eq!(
        first.ownership_verification_status.as_deref(),
        Some("PENDING")
    );
    assert_eq!(first.dkim_verification_status.as_deref(), Some("PENDING"));
    let records = first.records.unwrap();
    let by_type = |t: &str| {
        records
            .iter()
            .filter(|r| r.r#type.as_deref() == Some(t))
            .count()
    };
    // Ownership, SPF, DMARC and one DKIM key record per selector (Ed25519, RSA).
    assert_eq!((by_type("TXT"), by_type("MX"), by_type("CNAME")), (5, 1, 0));
    let mx = records
        .iter()
        .find(|r| r.r#type.as_deref() == Some("MX"))
        .unwrap();
    assert_eq!(mx.hostname.as_deref(), Some(format!("{domain}.").as_str()));
    assert_eq!(
        mx.value.as_deref(),
        Some(format!("10 {MAIL_HOST}.").as_str())
    );
    let ownership = records
        .iter()
        .find(|r| r.hostname.as_deref() == Some(format!("_amazonses.{domain}.").as_str()))
        .unwrap()
        .clone();

    // A wrong ownership value fails; an unverified domain cannot be the default.
    let ownership_name = ownership.hostname.clone().unwrap();
    env.dns.zone.txt(&ownership_name, "someone-elses-token");
    assert_eq!(
        get(&env, &ctx, &org, &domain)
            .await
            .ownership_verification_status
            .as_deref(),
        Some("FAILED")
    );
    let refused = env
        .wm
        .update_default_mail_domain(
            &ctx,
            UpdateDefaultMailDomainRequest {
                organization_id: org.clone(),
                domain_name: domain.clone(),
            },
        )
        .await;
    assert_eq!(code(refused), "MailDomainStateException");

    // The right value (beside another) verifies ownership; DKIM waits for its key records.
    env.dns
        .zone
        .txt(&ownership_name, ownership.value.as_deref().unwrap());
    let owned = get(&env, &ctx, &org, &domain).await;
    assert_eq!(
        owned.ownership_verification_status.as_deref(),
        Some("VERIFIED")
    );
    assert_eq!(owned.dkim_verification_status.as_deref(), Some("PENDING"));
    let dkim: Vec<_> = records
        .iter()
        .filter(|r| r.hostname.as_deref().unwrap().contains("._domainkey."))
        .collect();
    assert_eq!(dkim.len(), 2);
    assert!(dkim.iter().any(|r| r
        .value
        .as_deref()
        .unwrap()
        .starts_with("v=DKIM1; k=ed25519; p=")));
    assert!(dkim.iter().any(|r| r
        .value
        .as_deref()
        .unwrap()
        .starts_with("v=DKIM1; k=rsa; p=")));
    env.dns.zone.txt(
        dkim[0].hostname.as_deref().unwrap(),
        "v=DKIM1; k=rsa; p=c29tZW9uZSBlbHNl",
    );
    assert_eq!(
        get(&env, &ctx, &org, &domain)
            .await
            .dkim_verification_status
            .as_deref(),
        Some("FAILED")
    );
    for record in &dkim {
        let host = record.hostname.as_deref().unwrap();
        env.dns.zone.remove(host);
        env.dns.zone.txt(host, record.value.as_deref().unwrap());
    }
    let verified = get(&env, &ctx, &org, &domain).await;
    assert_eq!(
        verified.dkim_verification_status.as_deref(),
        Some("VERIFIED")
    );

    // Verified: usable for addresses and as the default.
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
    assert_eq!(get(&env, &ctx, &org, &domain).await.is_default, Some(true));
    let user = env.user(&ctx, &org, "dana").await;
    env.register(&ctx, &org, &user, &format!("dana@{domain}"))
        .await
        .unwrap();

    // A removed ownership record is noticed again by the next check.
    env.dns.zone.remove(&ownership_name);
    assert_eq!(
        get(&env, &ctx, &org, &domain)
            .await
            .ownership_verification_status
            .as_deref(),
        Some("PENDING")
    );
}

#[tokio::test]
async fn an_unreachable_resolver_fails_verification() {
    let env = envs().await.remove(0);
    let ctx = env.account().await;
    let (org, _) = env.organization(&ctx).await;
    let domain = format!("{}.example", unique_name("u"));
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
    // A port nobody answers on: every lookup times out.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let verifier = DnsVerifier::new(MAIL_HOST, Some(silent.local_addr().unwrap())).unwrap();
    let wm = carillon_mail::directory::WorkMail::with_verifier(
        env.store.clone(),
        "us-east-1",
        "localhost",
        verifier,
    )
    .await
    .unwrap();
    let got = wm
        .get_mail_domain(
            &ctx,
            GetMailDomainRequest {
                organization_id: org,
                domain_name: domain,
            },
        )
        .await
        .unwrap();
    assert_eq!(got.ownership_verification_status.as_deref(), Some("FAILED"));
    assert_eq!(got.dkim_verification_status.as_deref(), Some("FAILED"));
}

#[tokio::test]
async fn domain_names_are_ascii_and_outside_the_test_base() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, _) = env.organization(&ctx).await;
        for bad in [
            "exämple.com",
            "nodot",
            "-bad.example",
            "a..b.example",
            "x.localhost",
        ] {
            let refused = env
                .wm
                .register_mail_domain(
                    &ctx,
                    RegisterMailDomainRequest {
                        organization_id: org.clone(),
                        domain_name: bad.to_string(),
                        ..Default::default()
                    },
                )
                .await;
            assert_eq!(code(refused), "InvalidParameterException", "{bad}");
        }
        let domain = format!("{}.example", unique_name("t"));
        let register = || RegisterMailDomainRequest {
            organization_id: org.clone(),
            domain_name: domain.clone(),
            ..Default::default()
        };
        env.wm.register_mail_domain(&ctx, register()).await.unwrap();
        assert_eq!(
            code(env.wm.register_mail_domain(&ctx, register()).await),
            "MailDomainInUseException"
        );
    }
}
