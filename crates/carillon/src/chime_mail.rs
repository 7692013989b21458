//! The Chime system's mail path (`carillon_chime::Mailer`) over carillon-mail: how
//! invitation emails reach their recipients. Spec: chime-zh.md §2.12 "Invite users".
//!
//! A recipient of a Carillon mail domain gets the message through the inbound delivery path
//! (`delivery::deliver_inbound`, as a bounce to a local sender is delivered), with a
//! `Return-Path` and a `Received` trace field. A foreign recipient is queued for outbound
//! delivery like a bounce to a foreign sender (`delivery::dsn::send_bounce`): the queued
//! blob is sealed under an organization's transit key, so the message is queued under the
//! organization owning the envelope sender's domain (the `--hostname` domain, when an
//! organization has it as a mail domain). Without such an organization a foreign recipient
//! is refused with an error that says so, and the invitation is `Failed`.

use bytes::Bytes;
// A queued invitation is retried as long as other queued mail.
use carillon_core::mail::QUEUE_LIFETIME;
use carillon_mail::delivery::{self, Envelope, RecipientStatus};
use carillon_store::{NewOutbound, Resolution, Store};

/// Delivers Chime's messages through carillon-mail.
#[derive(Debug, Clone)]
pub struct ChimeMailer {
    store: Store,
    hostname: String,
}

impl ChimeMailer {
    /// A mail path over `store`; `hostname` names this host in `Received` fields.
    pub fn new(store: Store, hostname: String) -> ChimeMailer {
        ChimeMailer { store, hostname }
    }

    /// Queues `message` for the foreign `recipient` under the organization owning the
    /// envelope sender's domain.
    async fn queue(
        &self,
        envelope_from: &str,
        recipient: &str,
        message: &[u8],
    ) -> Result<(), String> {
        let sender_domain = envelope_from.rsplit_once('@').map_or("", |(_, d)| d);
        let organization_id = self
            .store
            .mail_domain_owner(&sender_domain.to_ascii_lowercase())
            .await
            .map_err(|e| format!("looking up the sender domain: {e}"))?
            .ok_or_else(|| {
                format!(
                    "{recipient} is not in a Carillon mail domain, and a message for another \
                     domain can only be queued under an organization (its transit key seals \
                     queued mail): add {sender_domain} as a mail domain of an organization"
                )
            })?;
        let store_error = |e: carillon_store::StoreError| format!("queueing the message: {e}");
        let sealed = carillon_mail::crypto::put_sealed(&self.store, message)
            .await
            .map_err(store_error)?;
        let message_key = sealed
            .wrap_for_organization(&self.store, &organization_id)
            .await
            .map_err(store_error)?;
        let now = carillon_core::time::now_millis();
        let lifetime = i64::try_from(QUEUE_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        self.store
            .enqueue_outbound(&[NewOutbound {
                organization_id,
                envelope_from: envelope_from.to_string(),
                recipient: recipient.to_string(),
                blob_key: sealed.key.clone(),
                next_attempt_at: now,
                expires_at: now.saturating_add(lifetime),
                gateway_id: None,
                message_key: Some(message_key),
            }])
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl carillon_chime::Mailer for ChimeMailer {
    async fn send(
        &self,
        envelope_from: &str,
        recipient: &str,
        message: Vec<u8>,
    ) -> Result<(), String> {
        let resolution = self
            .store
            .resolve_recipient(recipient)
            .await
            .map_err(|e| format!("resolving {recipient}: {e}"))?;
        if resolution == Resolution::NoSuchDomain {
            let queued = self.queue(envelope_from, recipient, &message).await;
            if queued.is_ok() {
                tracing::info!(recipient, "Chime message queued for outbound delivery");
            }
            return queued;
        }
        let date = chrono::Utc::now().to_rfc2822();
        let mut raw = format!(
            "Return-Path: <{envelope_from}>\r\nReceived: from localhost by {host} with local \
             (Carillon Chime); {date}\r\n",
            host = self.hostname
        )
        .into_bytes();
        raw.extend_from_slice(&message);
        let envelope = Envelope {
            mail_from: envelope_from.to_string(),
            recipients: vec![recipient.to_string()],
        };
        let outcome = delivery::deliver_inbound(&self.store, &envelope, Bytes::from(raw))
            .await
            .map_err(|e| format!("delivering to {recipient}: {e}"))?;
        match outcome.recipients.first().map(|r| r.status) {
            Some(RecipientStatus::Delivered) => Ok(()),
            Some(status) => Err(format!("{recipient} was not delivered: {status:?}")),
            None => Err(format!("{recipient} was not delivered")),
        }
    }
}

#[cfg(test)]
mod tests {
    use carillon_chime::Mailer;
    use carillon_store::testing::test_stores;

    use super::*;

    const MESSAGE: &[u8] = b"From: <no-reply@acme.test>\r\nSubject: Invitation\r\n\r\nJoin us.\r\n";

    async fn count(pool: &sqlx::AnyPool, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
    }

    #[tokio::test]
    async fn local_recipients_get_a_copy_and_foreign_ones_are_queued_under_the_sender_domain() {
        for t in test_stores().await {
            let account = carillon_core::ids::new_account_id();
            let org = carillon_core::ids::new_organization_id();
            t.insert_account(&account).await;
            t.insert_organization(&account, &org, &org, "Active").await;
            t.insert_mail_domain(&org, "acme.test").await;
            let user = carillon_core::ids::new_uuid();
            t.insert_entity(&org, &user, "USER", "ENABLED", Some("mary@acme.test"), None)
                .await;
            t.insert_address(&org, &user, "mary@acme.test", true).await;
            t.store.create_mailbox(&org, &user).await.unwrap();
            let mailer = ChimeMailer::new(t.store.clone(), "mail.acme.test".to_string());

            mailer
                .send("no-reply@acme.test", "Mary@acme.test", MESSAGE.to_vec())
                .await
                .unwrap();
            assert_eq!(count(t.pool(), "SELECT COUNT(*) FROM messages").await, 1);

            mailer
                .send(
                    "no-reply@acme.test",
                    "bob@foreign.example",
                    MESSAGE.to_vec(),
                )
                .await
                .unwrap();
            assert_eq!(
                count(t.pool(), "SELECT COUNT(*) FROM outbound_queue").await,
                1,
                "queued under the organization owning acme.test"
            );

            let unowned = mailer
                .send(
                    "no-reply@localhost",
                    "bob@foreign.example",
                    MESSAGE.to_vec(),
                )
                .await
                .unwrap_err();
            assert!(unowned.contains("organization"), "{unowned}");
            let unknown = mailer
                .send("no-reply@acme.test", "nobody@acme.test", MESSAGE.to_vec())
                .await
                .unwrap_err();
            assert!(unknown.contains("not delivered"), "{unknown}");
        }
    }
}
