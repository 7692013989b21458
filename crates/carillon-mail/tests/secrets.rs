//! Secrets kept for the organization (SMTP gateway passwords, DKIM private keys, the hook
//! signing secret) are sealed under the organization's key in the metadata database
//! (workmail.md §5.3: no customer data in plaintext). SQLite, and PostgreSQL when
//! `CARILLON_TEST_DATABASE_URL` is set.

mod common;

use carillon_mail::crypto;
use carillon_store::StoreError;
use common::envs;

#[tokio::test]
async fn secrets_are_sealed_per_organization_and_open_only_there() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, _) = env.organization(&ctx).await;
        let (other, _) = env.organization(&ctx).await;
        let sealed = crypto::seal_secret(&env.store, &org, "Gateway-Pa55word")
            .await
            .unwrap();
        assert!(sealed.starts_with("sealed:v1:"), "{}", env.backend);
        assert!(!sealed.contains("Gateway-Pa55word"));
        assert_ne!(
            sealed,
            crypto::seal_secret(&env.store, &org, "Gateway-Pa55word")
                .await
                .unwrap(),
            "each sealing is fresh"
        );
        assert_eq!(
            crypto::open_secret(&env.store, &org, &sealed)
                .await
                .unwrap(),
            "Gateway-Pa55word"
        );
        // Another organization's key does not open it.
        assert!(matches!(
            crypto::open_secret(&env.store, &other, &sealed).await,
            Err(StoreError::Encryption(_))
        ));
        // A value stored before secrets were sealed reads as it is.
        assert_eq!(
            crypto::open_secret(&env.store, &org, "legacy-plain")
                .await
                .unwrap(),
            "legacy-plain"
        );
    }
}

#[tokio::test]
async fn dkim_private_keys_are_stored_sealed_and_still_sign() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, alias) = env.organization(&ctx).await;
        let domain = env
            .store
            .list_mail_domains(&org, None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.domain_name)
            .find(|d| d.starts_with(&alias))
            .expect("the test domain");
        let keys = env.store.dkim_keys(&domain).await.unwrap();
        assert_eq!(keys.len(), 2, "{}", env.backend);
        assert!(keys.iter().all(|k| k.private_key.starts_with("sealed:v1:")));
        let message =
            format!("From: a@{domain}\r\nTo: b@remote.test\r\nSubject: s\r\n\r\nbody\r\n");
        let signatures = carillon_mail::dkim::sign(&env.store, &domain, message.as_bytes())
            .await
            .unwrap();
        assert_eq!(signatures.matches("DKIM-Signature:").count(), 2);
    }
}
