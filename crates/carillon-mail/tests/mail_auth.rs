//! Mail authentication (workmail.md §1.3, §2.25): outbound DKIM signatures verified by
//! `mail-auth` against the records GetMailDomain lists, published in a stub DNS zone; inbound
//! SPF/DKIM/DMARC verdicts; and the DMARC disposition delivery applies (reject, quarantine,
//! pass, enforcement off).

mod common;

use bytes::Bytes;
use carillon_awsapi::generated::workmail::*;
use carillon_core::RequestContext;
use carillon_mail::delivery::{self, Envelope, RecipientStatus};
use carillon_mail::sender_authentication::{DmarcDisposition, SenderAuthenticator};
use carillon_store::testing::unique_name;
use common::{envs, Env, MAIL_HOST};

const CLIENT: &str = "127.0.0.1";

fn message(from: &str, to: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: quarterly figures\r\n\
         Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{}@test>\r\n\r\n\
         Please find the figures below.\r\n",
        unique_name("m")
    )
    .into_bytes()
}

/// An organization with a user `u` with a mailbox; returns (context, organization, address).
async fn recipient(env: &Env) -> (RequestContext, String, String) {
    let ctx = env.account().await;
    let (org, alias) = env.organization(&ctx).await;
    let user = env.user(&ctx, &org, "u").await;
    let address = format!("u@{alias}.localhost");
    env.register(&ctx, &org, &user, &address).await.unwrap();
    (ctx, org, address)
}

/// Publishes SPF allowing only 192.0.2.1 and DMARC with `policy` for `domain`.
fn sender_policy(env: &Env, domain: &str, policy: &str) {
    env.dns.zone.txt(domain, "v=spf1 ip4:192.0.2.1 -all");
    env.dns.zone.txt(
        &format!("_dmarc.{domain}"),
        &format!("v=DMARC1; p={policy}"),
    );
}

fn authenticator(env: &Env) -> SenderAuthenticator {
    SenderAuthenticator::new(MAIL_HOST, Some(env.dns.addr)).unwrap()
}

#[tokio::test]
async fn outbound_signatures_verify_against_the_published_records() {
    let env = envs().await.remove(0);
    let ctx = env.account().await;
    let (org, _) = env.organization(&ctx).await;
    let domain = format!("{}.example", unique_name("sig"));
    env.verified_domain(&ctx, &org, &domain).await;
    let got = env
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
    assert_eq!(got.dkim_verification_status.as_deref(), Some("VERIFIED"));
    // The envelope sender's domain allows this client, and DMARC asks for rejection.
    env.dns.zone.remove(&domain);
    env.dns.zone.remove(&format!("_dmarc.{domain}"));
    env.dns
        .zone
        .txt(&domain, &format!("v=spf1 ip4:{CLIENT} -all"));
    env.dns
        .zone
        .txt(&format!("_dmarc.{domain}"), "v=DMARC1; p=reject");

    let original = message(&format!("ceo@{domain}"), "partner@remote.example");
    let signatures = carillon_mail::dkim::sign(&env.store, &domain, &original)
        .await
        .unwrap();
    assert_eq!(signatures.matches("DKIM-Signature:").count(), 2);
    assert!(signatures.contains("a=rsa-sha256") && signatures.contains("a=ed25519-sha256"));
    let signed = [signatures.as_bytes(), &original].concat();
    let verdict = authenticator(&env)
        .evaluate(
            CLIENT.parse().unwrap(),
            "mta.remote.example",
            &format!("ceo@{domain}"),
            &signed,
        )
        .await;
    assert!(verdict.header.starts_with("Authentication-Results: "));
    assert_eq!(
        verdict.header.matches("dkim=pass").count(),
        2,
        "{}",
        verdict.header
    );
    assert!(verdict.header.contains("spf=pass"), "{}", verdict.header);
    assert!(verdict.header.contains("dmarc=pass"), "{}", verdict.header);
    assert_eq!(verdict.disposition, DmarcDisposition::Deliver);

    // A body changed after signing no longer verifies, and DMARC then fails on DKIM; SPF
    // from another client fails too, so the sender's p=reject applies.
    let mut tampered = signed.clone();
    let at = tampered.len() - 3;
    tampered[at] = b'X';
    let verdict = authenticator(&env)
        .evaluate(
            "192.0.2.99".parse().unwrap(),
            "mta.remote.example",
            &format!("ceo@{domain}"),
            &tampered,
        )
        .await;
    assert!(!verdict.header.contains("dkim=pass"), "{}", verdict.header);
    assert!(verdict.header.contains("dmarc=fail"), "{}", verdict.header);
    assert_eq!(verdict.disposition, DmarcDisposition::Reject);
}

#[tokio::test]
async fn dmarc_reject_refuses_forged_mail_for_enforcing_organizations() {
    let env = envs().await.remove(0);
    let (_, _, to) = recipient(&env).await;
    let forged = format!("{}.example", unique_name("forged"));
    sender_policy(&env, &forged, "reject");
    let raw = message(&format!("ceo@{forged}"), &to);
    let verdict = authenticator(&env)
        .evaluate(
            CLIENT.parse().unwrap(),
            "mx.elsewhere.example",
            &format!("ceo@{forged}"),
            &raw,
        )
        .await;
    assert!(verdict.header.contains("spf=fail"), "{}", verdict.header);
    assert!(verdict.header.contains("dkim=none"), "{}", verdict.header);
    assert!(verdict.header.contains("dmarc=fail"), "{}", verdict.header);
    assert_eq!(verdict.disposition, DmarcDisposition::Reject);
    let outcome = delivery::deliver_inbound_authenticated(
        &env.store,
        &Envelope {
            mail_from: format!("ceo@{forged}"),
            recipients: vec![to.clone()],
        },
        Bytes::from(raw),
        verdict.disposition,
    )
    .await
    .unwrap();
    assert!(!outcome.accepted());
    assert_eq!(outcome.recipients[0].status, RecipientStatus::DmarcRejected);
}

/// Delivers `disposition` to a fresh user and returns the folder the copy landed in.
async fn landing_folder(env: &Env, enforced: bool, disposition: DmarcDisposition) -> String {
    let (ctx, org, to) = recipient(env).await;
    let describe = || {
        env.wm.describe_inbound_dmarc_settings(
            &ctx,
            DescribeInboundDmarcSettingsRequest {
                organization_id: org.clone(),
            },
        )
    };
    assert_eq!(describe().await.unwrap().enforced, Some(true));
    if !enforced {
        env.wm
            .put_inbound_dmarc_settings(
                &ctx,
                PutInboundDmarcSettingsRequest {
                    organization_id: org.clone(),
                    enforced: false,
                },
            )
            .await
            .unwrap();
        assert_eq!(describe().await.unwrap().enforced, Some(false));
    }
    let outcome = delivery::deliver_inbound_authenticated(
        &env.store,
        &Envelope {
            mail_from: "ceo@sender.example".to_string(),
            recipients: vec![to.clone()],
        },
        Bytes::from(message("ceo@sender.example", &to)),
        disposition,
    )
    .await
    .unwrap();
    assert_eq!(outcome.recipients[0].status, RecipientStatus::Delivered);
    let user = env.store.resolve_recipient(&to).await.unwrap();
    let carillon_store::Resolution::Mailboxes(mailboxes) = user else {
        panic!("{to} reaches no mailbox");
    };
    let user_id = &mailboxes[0].user_id;
    let mut landed = Vec::new();
    for folder in ["INBOX", "Junk E-mail"] {
        let f = env.store.folder(user_id, folder).await.unwrap().unwrap();
        let n = env
            .store
            .list_messages(user_id, &f.folder_id)
            .await
            .unwrap()
            .len();
        landed.extend(std::iter::repeat_n(folder.to_string(), n));
    }
    assert_eq!(landed.len(), 1, "{landed:?}");
    landed.remove(0)
}

#[tokio::test]
async fn dmarc_quarantine_files_in_junk_and_enforcement_off_delivers_to_inbox() {
    let env = envs().await.remove(0);
    assert_eq!(
        landing_folder(&env, true, DmarcDisposition::Quarantine).await,
        "Junk E-mail"
    );
    assert_eq!(
        landing_folder(&env, true, DmarcDisposition::Deliver).await,
        "INBOX"
    );
    assert_eq!(
        landing_folder(&env, false, DmarcDisposition::Quarantine).await,
        "INBOX"
    );
    assert_eq!(
        landing_folder(&env, false, DmarcDisposition::Reject).await,
        "INBOX"
    );
}

#[tokio::test]
async fn dmarc_settings_belong_to_their_account() {
    let env = envs().await.remove(0);
    let (_, org, _) = recipient(&env).await;
    let stranger = env.account().await;
    let describe = env
        .wm
        .describe_inbound_dmarc_settings(
            &stranger,
            DescribeInboundDmarcSettingsRequest {
                organization_id: org.clone(),
            },
        )
        .await;
    assert_eq!(common::code(describe), "OrganizationNotFoundException");
    let put = env
        .wm
        .put_inbound_dmarc_settings(
            &stranger,
            PutInboundDmarcSettingsRequest {
                organization_id: org.clone(),
                enforced: false,
            },
        )
        .await;
    assert_eq!(common::code(put), "OrganizationNotFoundException");
    assert!(env.store.inbound_dmarc_enforced(&org).await.unwrap());
}

#[tokio::test]
async fn a_domain_without_keys_gets_them_at_get_mail_domain() {
    let env = envs().await.remove(0);
    let ctx = env.account().await;
    let (org, _) = env.organization(&ctx).await;
    let domain = format!("{}.example", unique_name("old"));
    env.verified_domain(&ctx, &org, &domain).await;
    // As registered before DKIM signing existed.
    env.store.replace_dkim_keys(&domain, &[]).await.unwrap();
    let got = env
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
    let dkim: Vec<_> = got
        .records
        .unwrap()
        .into_iter()
        .filter(|r| r.hostname.as_deref().unwrap().contains("._domainkey."))
        .collect();
    assert_eq!(dkim.len(), 2);
    assert_eq!(env.store.dkim_keys(&domain).await.unwrap().len(), 2);
    // The new selectors' records are not published yet.
    assert_eq!(got.dkim_verification_status.as_deref(), Some("PENDING"));
}
