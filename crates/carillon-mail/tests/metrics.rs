//! The WorkMail metrics (workmail.md §4.3) as Prometheus text, scraped in-process from the
//! exporter the binary installs: counts after a delivery and after logins. Each test uses its
//! own organization, so the global recorder shared by the tests stays unambiguous.

use std::sync::OnceLock;

use bytes::Bytes;
use carillon_mail::delivery::{self, Envelope};
use carillon_mail::{login, metrics};
use carillon_store::testing::TestStore;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .expect("recorder installed");
        metrics::describe();
        handle
    })
}

/// The value of the sample line `name{organization_id="org"}` in `text`, if present.
fn sample(text: &str, name: &str, organization: &str) -> Option<f64> {
    let prefix = format!("{name}{{organization_id=\"{organization}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.trim().parse().expect("numeric sample"))
}

#[tokio::test]
async fn a_delivery_counts_once_per_message_per_mailbox_and_per_refused_recipient() {
    let handle = handle();
    let org = "m-metricsdelivery";
    let f = TestStore::sqlite().await;
    f.insert_account("111122223333").await;
    f.insert_organization("111122223333", org, "metrics", "Active")
        .await;
    f.insert_mail_domain(org, "metrics.test").await;
    for name in ["alice", "bob"] {
        let address = format!("{name}@metrics.test");
        f.insert_entity(org, name, "USER", "ENABLED", Some(&address), None)
            .await;
        f.insert_address(org, name, &address, false).await;
        f.store.create_mailbox(org, name).await.unwrap();
    }
    let envelope = Envelope {
        mail_from: "sender@remote.test".to_string(),
        recipients: vec![
            "alice@metrics.test".to_string(),
            "bob@metrics.test".to_string(),
            "nobody@metrics.test".to_string(),
            "someone@foreign.test".to_string(),
        ],
    };
    let message = Bytes::from_static(b"From: sender@remote.test\r\nSubject: hi\r\n\r\nbody\r\n");
    let outcome = delivery::deliver_inbound(&f.store, &envelope, message)
        .await
        .unwrap();
    assert!(outcome.accepted());

    let text = handle.render();
    assert_eq!(
        sample(&text, metrics::ORGANIZATION_EMAIL_RECEIVED, org),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, metrics::MAILBOX_EMAIL_DELIVERED, org),
        Some(2.0)
    );
    // The unknown local address bounces; the foreign domain belongs to no organization.
    assert_eq!(
        sample(&text, metrics::INCOMING_EMAIL_BOUNCED, org),
        Some(1.0)
    );
    assert!(text.contains("AWS/WorkMail OrganizationEmailReceived"));
    for name in [
        metrics::AVAILABILITY_PROVIDER_FAILURE,
        metrics::ACCESS_DENIED,
        metrics::ACTION_DENIED,
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} registered:\n{text}"
        );
    }
}

#[tokio::test]
async fn authentication_failure_samples_each_attempt() {
    let handle = handle();
    let f = TestStore::sqlite().await;
    let hash = login::hash_password("Corr3ct-horse").unwrap();
    f.insert_test_mail_user("dana@metrics-auth.test", &hash)
        .await;
    let user = login::authenticate(
        &f.store,
        "dana@metrics-auth.test",
        "Corr3ct-horse",
        &imap_client(),
    )
    .await
    .unwrap()
    .expect("authenticated");
    for wrong in ["wrong", "also wrong"] {
        let refused =
            login::authenticate(&f.store, "dana@metrics-auth.test", wrong, &imap_client())
                .await
                .unwrap();
        assert!(refused.is_none());
    }

    let text = handle.render();
    let sum = format!("{}_sum", metrics::AUTHENTICATION_FAILURE);
    let count = format!("{}_count", metrics::AUTHENTICATION_FAILURE);
    assert_eq!(sample(&text, &sum, &user.organization_id), Some(2.0));
    assert_eq!(sample(&text, &count, &user.organization_id), Some(3.0));
}

/// The client of the authentications in these tests (an IMAP client on loopback).
fn imap_client() -> carillon_mail::audit::ClientInfo {
    carillon_mail::audit::ClientInfo {
        protocol: "IMAP",
        source_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        user_agent: None,
    }
}
