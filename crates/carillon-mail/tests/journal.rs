//! Journaling (workmail.md §2.24) through the Carillon operations and the delivery pipeline:
//! one record per message whatever the recipients and groups, inbound and submission paths,
//! records never journaled themselves, foreign journaling addresses queued from the report
//! address, failures reported, the reserved sender, and tenant isolation.

mod common;

use std::time::Duration;

use bytes::Bytes;
use carillon_adminapi::CarillonOperation;
use carillon_awsapi::generated::workmail::*;
use carillon_awsapi::WorkMailApi;
use carillon_core::RequestContext;
use carillon_mail::delivery::{self, Envelope, RecipientStatus};
use carillon_mail::directory::journaling::{
    DeleteJournalingConfiguration, GetJournalingConfiguration, OrganizationJournalingInput,
    PutJournalingConfiguration, PutJournalingConfigurationInput,
};
use carillon_mail::login::MailUser;
use common::{code, envs, Env};

/// An organization with users alice, bob, carol, journal (the journaling mailbox) and
/// admin (the report address), and group team = {bob, carol}; all on the test domain.
struct Org {
    ctx: RequestContext,
    id: String,
    domain: String,
    users: std::collections::HashMap<&'static str, String>,
}

impl Org {
    fn addr(&self, local: &str) -> String {
        format!("{local}@{}", self.domain)
    }

    fn user(&self, name: &str) -> &str {
        &self.users[name]
    }

    fn mail_user(&self, name: &'static str) -> MailUser {
        MailUser {
            account_id: self.ctx.account_id.clone(),
            organization_id: self.id.clone(),
            user_id: self.users[name].clone(),
            email: self.addr(name),
            addresses: vec![self.addr(name)],
        }
    }
}

async fn organization(env: &Env) -> Org {
    let ctx = env.account().await;
    let (id, alias) = env.organization(&ctx).await;
    let domain = format!("{alias}.localhost");
    let mut users = std::collections::HashMap::new();
    for name in ["alice", "bob", "carol", "journal", "admin"] {
        let user = env.user(&ctx, &id, name).await;
        env.register(&ctx, &id, &user, &format!("{name}@{domain}"))
            .await
            .unwrap();
        users.insert(name, user);
    }
    let team = env
        .wm
        .create_group(
            &ctx,
            CreateGroupRequest {
                organization_id: id.clone(),
                name: "team".to_string(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .group_id
        .unwrap();
    env.register(&ctx, &id, &team, &format!("team@{domain}"))
        .await
        .unwrap();
    for member in ["bob", "carol"] {
        env.wm
            .associate_member_to_group(
                &ctx,
                AssociateMemberToGroupRequest {
                    organization_id: id.clone(),
                    group_id: team.clone(),
                    member_id: users[member].clone(),
                },
            )
            .await
            .unwrap();
    }
    Org {
        ctx,
        id,
        domain,
        users,
    }
}

async fn journal_to(env: &Env, org: &Org, journaling: &str, report: &str) {
    PutJournalingConfiguration(env.wm.clone())
        .call(
            &org.ctx,
            PutJournalingConfigurationInput {
                organization_id: org.id.clone(),
                journaling_email_address: journaling.to_string(),
                report_email_address: report.to_string(),
            },
        )
        .await
        .unwrap();
}

/// The raw messages in a user's folder, oldest first.
async fn messages(env: &Env, user: &str, folder: &str) -> Vec<String> {
    let folder = env.store.folder(user, folder).await.unwrap().unwrap();
    let mut out = Vec::new();
    for m in env
        .store
        .list_messages(user, &folder.folder_id)
        .await
        .unwrap()
    {
        let raw = carillon_mail::crypto::read_mailbox_copy(
            &env.store,
            user,
            &m.blob_key,
            m.message_key.as_deref(),
        )
        .await
        .unwrap();
        out.push(String::from_utf8(raw.to_vec()).unwrap());
    }
    out
}

fn envelope(from: &str, to: &[String]) -> Envelope {
    Envelope {
        mail_from: from.to_string(),
        recipients: to.to_vec(),
    }
}

/// The report body part of a journal record (between the part headers and the next
/// boundary).
fn report_lines(record: &str) -> Vec<String> {
    let parsed = mail_parser::MessageParser::default()
        .parse(record.as_bytes())
        .unwrap();
    parsed
        .body_text(0)
        .unwrap()
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The MIME boundary of a journal record.
fn boundary(record: &str) -> &str {
    let start = record.find("boundary=\"").unwrap() + "boundary=\"".len();
    let end = start + record[start..].find('"').unwrap();
    &record[start..end]
}

#[tokio::test]
async fn one_record_per_inbound_message_whatever_the_groups_and_recipients() {
    for env in envs().await {
        let org = organization(&env).await;
        journal_to(&env, &org, &org.addr("journal"), &org.addr("admin")).await;
        let original = format!(
            "From: Partner <partner@remote.test>\r\nTo: {team}, {bob}\r\nCc: {alice}\r\nSubject: Plans\r\nMessage-ID: <plans-1@remote.test>\r\n\r\nSee attached.\r\n",
            team = org.addr("team"),
            bob = org.addr("bob"),
            alice = org.addr("alice"),
        );
        let recipients = [org.addr("team"), org.addr("bob"), org.addr("alice")];
        let outcome = delivery::deliver_inbound(
            &env.store,
            &envelope("partner@remote.test", &recipients),
            Bytes::from(original.clone()),
        )
        .await
        .unwrap();
        assert!(outcome
            .recipients
            .iter()
            .all(|r| r.status == RecipientStatus::Delivered));
        let journal = messages(&env, org.user("journal"), "INBOX").await;
        assert_eq!(journal.len(), 1, "{}: exactly one record", env.backend);
        let record = &journal[0];
        assert!(record.starts_with(&format!(
            "From: <amazonjournaling@{}>\r\nTo: <{}>\r\nSubject: Plans\r\n",
            org.domain,
            org.addr("journal")
        )));
        assert!(record.contains("\r\nX-MS-Journal-Report: \r\n"));
        assert_eq!(
            report_lines(record),
            [
                "Sender: partner@remote.test".to_string(),
                "Subject: Plans".to_string(),
                "Message-Id: <plans-1@remote.test>".to_string(),
                format!("To: {}, Expanded: {}", org.addr("bob"), org.addr("team")),
                format!("To: {}, Expanded: {}", org.addr("carol"), org.addr("team")),
                format!("To: {}", org.addr("bob")),
                format!("Cc: {}", org.addr("alice")),
            ]
        );
        assert!(
            record.contains(&format!(
                "Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n{original}"
            )),
            "the original is attached unaltered"
        );
        for user in ["alice", "bob", "carol"] {
            assert_eq!(
                messages(&env, org.user(user), "INBOX").await,
                std::slice::from_ref(&original)
            );
        }
    }
}

#[tokio::test]
async fn submitted_messages_are_journaled_once_with_every_recipient() {
    for env in envs().await {
        let org = organization(&env).await;
        journal_to(&env, &org, &org.addr("journal"), &org.addr("admin")).await;
        let original = format!(
            "From: {alice}\r\nTo: p@remote.test\r\nCc: {team}\r\nSubject: Out\r\nMessage-ID: <out-1@x>\r\n\r\nx\r\n",
            alice = org.addr("alice"),
            team = org.addr("team"),
        );
        let recipients = [
            "p@remote.test".to_string(),
            org.addr("team"),
            org.addr("carol"),
        ];
        let outcome = delivery::submit(
            &env.store,
            &org.mail_user("alice"),
            &envelope(&org.addr("alice"), &recipients),
            Bytes::from(original.clone()),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        assert_eq!(outcome.recipients[0].status, RecipientStatus::Queued);
        let journal = messages(&env, org.user("journal"), "INBOX").await;
        assert_eq!(journal.len(), 1, "{}", env.backend);
        assert_eq!(
            report_lines(&journal[0])[3..],
            [
                "To: p@remote.test".to_string(),
                format!("Cc: {}, Expanded: {}", org.addr("bob"), org.addr("team")),
                format!("Cc: {}, Expanded: {}", org.addr("carol"), org.addr("team")),
                format!("Bcc: {}", org.addr("carol")),
            ]
        );
        // The foreign recipient is queued; the journal record, local, is not.
        let queued = env.store.list_outbound(&org.id).await.unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].recipient, "p@remote.test");
        assert_eq!(
            messages(&env, org.user("alice"), "Sent Items").await.len(),
            1
        );
    }
}

#[tokio::test]
async fn journal_records_are_never_journaled_and_deletion_stops_journaling() {
    for env in envs().await {
        let org = organization(&env).await;
        journal_to(&env, &org, &org.addr("journal"), &org.addr("admin")).await;
        for n in 0..3 {
            delivery::deliver_inbound(
                &env.store,
                &envelope("x@remote.test", &[org.addr("bob")]),
                Bytes::from(format!("Subject: m{n}\r\n\r\nbody\r\n")),
            )
            .await
            .unwrap();
        }
        // Three messages, three records: the records delivered to the journaling mailbox
        // (a user of the journaled organization) produced none of their own.
        let journal = messages(&env, org.user("journal"), "INBOX").await;
        assert_eq!(journal.len(), 3, "{}", env.backend);
        for (n, record) in journal.iter().enumerate() {
            assert!(record.ends_with(&format!(
                "Content-Disposition: attachment\r\n\r\nSubject: m{n}\r\n\r\nbody\r\n--{}--\r\n",
                boundary(record)
            )));
            assert_eq!(record.matches("X-MS-Journal-Report").count(), 1);
        }
        DeleteJournalingConfiguration(env.wm.clone())
            .call(
                &org.ctx,
                OrganizationJournalingInput {
                    organization_id: org.id.clone(),
                },
            )
            .await
            .unwrap();
        delivery::deliver_inbound(
            &env.store,
            &envelope("x@remote.test", &[org.addr("bob")]),
            Bytes::from_static(b"Subject: after\r\n\r\nbody\r\n"),
        )
        .await
        .unwrap();
        assert_eq!(messages(&env, org.user("journal"), "INBOX").await.len(), 3);
        assert_eq!(messages(&env, org.user("bob"), "INBOX").await.len(), 4);
    }
}

#[tokio::test]
async fn a_foreign_journaling_address_is_queued_from_the_report_address() {
    for env in envs().await {
        let org = organization(&env).await;
        journal_to(&env, &org, "vault@archive.test", &org.addr("admin")).await;
        delivery::deliver_inbound(
            &env.store,
            &envelope("x@remote.test", &[org.addr("bob"), org.addr("carol")]),
            Bytes::from_static(b"Subject: kept\r\n\r\nbody\r\n"),
        )
        .await
        .unwrap();
        let queued = env.store.list_outbound(&org.id).await.unwrap();
        assert_eq!(
            queued.len(),
            1,
            "{}: one record for two recipients",
            env.backend
        );
        assert_eq!(queued[0].recipient, "vault@archive.test");
        // A refusal by the archive bounces to the report address.
        assert_eq!(queued[0].envelope_from, org.addr("admin"));
        let record = carillon_mail::crypto::read_organization_blob(
            &env.store,
            &org.id,
            &queued[0].blob_key,
            queued[0].message_key.as_deref(),
        )
        .await
        .unwrap();
        let record = String::from_utf8(record.to_vec()).unwrap();
        assert!(record.contains("X-MS-Journal-Report: \r\n"));
        assert!(record.contains("Subject: kept\r\n\r\nbody\r\n"));
    }
}

#[tokio::test]
async fn a_message_that_cannot_be_journaled_is_reported() {
    for env in envs().await {
        let org = organization(&env).await;
        journal_to(&env, &org, &org.addr("nobody"), &org.addr("admin")).await;
        let outcome = delivery::deliver_inbound(
            &env.store,
            &envelope("x@remote.test", &[org.addr("bob")]),
            Bytes::from_static(b"Subject: lost?\r\nMessage-ID: <l@x>\r\n\r\nsecret body\r\n"),
        )
        .await
        .unwrap();
        assert!(outcome.accepted(), "journaling never blocks delivery");
        assert_eq!(messages(&env, org.user("bob"), "INBOX").await.len(), 1);
        let reports = messages(&env, org.user("admin"), "INBOX").await;
        assert_eq!(reports.len(), 1, "{}", env.backend);
        assert!(reports[0].contains("Subject: Message could not be journaled\r\n"));
        assert!(reports[0].contains(&format!(
            "could not be journaled to {}: the address does not take mail",
            org.addr("nobody")
        )));
        assert!(reports[0].contains("Message-Id: <l@x>"));
        assert!(!reports[0].contains("secret body"));
    }
}

#[tokio::test]
async fn configuration_is_tenant_isolated_and_validated() {
    for env in envs().await {
        let org = organization(&env).await;
        let other = env.account().await;
        let put = PutJournalingConfiguration(env.wm.clone());
        let get = GetJournalingConfiguration(env.wm.clone());
        let input = |journaling: &str| PutJournalingConfigurationInput {
            organization_id: org.id.clone(),
            journaling_email_address: journaling.to_string(),
            report_email_address: "Admin@Corp.Test".to_string(),
        };
        let org_input = || OrganizationJournalingInput {
            organization_id: org.id.clone(),
        };
        assert_eq!(
            code(put.call(&other, input("j@archive.test")).await),
            "OrganizationNotFoundException"
        );
        assert_eq!(
            code(get.call(&org.ctx, org_input()).await),
            "ResourceNotFoundException"
        );
        put.call(&org.ctx, input("J@Archive.Test")).await.unwrap();
        assert_eq!(
            code(get.call(&other, org_input()).await),
            "OrganizationNotFoundException"
        );
        assert_eq!(
            code(
                DeleteJournalingConfiguration(env.wm.clone())
                    .call(&other, org_input())
                    .await
            ),
            "OrganizationNotFoundException"
        );
        let got = get.call(&org.ctx, org_input()).await.unwrap();
        assert_eq!(got.journaling_email_address, "j@archive.test");
        assert_eq!(got.report_email_address, "admin@corp.test");
        assert_eq!(got.journal_sender_address, org.addr("amazonjournaling"));
        assert_eq!(
            code(
                put.call(&org.ctx, input(&org.addr("AmazonJournaling")))
                    .await
            ),
            "InvalidParameterException"
        );
        // Another tenant's messages are not journaled by this configuration.
        let stranger = organization(&env).await;
        delivery::deliver_inbound(
            &env.store,
            &envelope("x@remote.test", &[stranger.addr("bob")]),
            Bytes::from_static(b"Subject: theirs\r\n\r\nbody\r\n"),
        )
        .await
        .unwrap();
        assert!(env.store.list_outbound(&org.id).await.unwrap().is_empty());
        assert!(env
            .store
            .list_outbound(&stranger.id)
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn the_reserved_sender_cannot_be_a_mailbox_or_an_alias() {
    for env in envs().await {
        let org = organization(&env).await;
        let reserved = org.addr("amazonjournaling");
        let user = env.user(&org.ctx, &org.id, "archivist").await;
        assert_eq!(
            code(env.register(&org.ctx, &org.id, &user, &reserved).await),
            "EmailAddressInUseException"
        );
        let alias = env
            .wm
            .create_alias(
                &org.ctx,
                CreateAliasRequest {
                    organization_id: org.id.clone(),
                    entity_id: org.user("alice").to_string(),
                    alias: reserved.to_uppercase(),
                },
            )
            .await;
        assert_eq!(code(alias), "EmailAddressInUseException");
        let primary = env
            .wm
            .update_primary_email_address(
                &org.ctx,
                UpdatePrimaryEmailAddressRequest {
                    organization_id: org.id.clone(),
                    entity_id: org.user("alice").to_string(),
                    email: reserved.clone(),
                },
            )
            .await;
        assert_eq!(code(primary), "EmailAddressInUseException");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_journaling_operations() {
    let env = envs().await.remove(0);
    let mut registry = carillon_adminapi::Registry::new();
    carillon_mail::directory::journaling::register(&mut registry, &env.wm);
    let doc = carillon_adminapi::openapi::document(&registry);
    let path =
        &doc["paths"]["/carillon/v1/organizations/{OrganizationId}/journaling-configuration"];
    for (method, name, action) in [
        (
            "put",
            "PutJournalingConfiguration",
            "workmail:PutJournalingConfiguration",
        ),
        (
            "get",
            "GetJournalingConfiguration",
            "workmail:GetJournalingConfiguration",
        ),
        (
            "delete",
            "DeleteJournalingConfiguration",
            "workmail:DeleteJournalingConfiguration",
        ),
    ] {
        assert_eq!(path[method]["operationId"], name);
        assert_eq!(path[method]["x-carillon-iam-action"], action);
        assert!(
            path[method]["responses"]["200"]["content"]["application/json"]["schema"].is_object()
        );
    }
    let body = &doc["components"]["schemas"]["PutJournalingConfigurationRequestBody"];
    assert_eq!(
        body["properties"]["JournalingEmailAddress"]["format"],
        "email"
    );
    assert_eq!(body["properties"]["ReportEmailAddress"]["maxLength"], 254);
    assert!(body["properties"].get("OrganizationId").is_none());
    let get = &doc["components"]["schemas"]["GetJournalingConfigurationOutput"];
    assert!(get["properties"]["JournalSenderAddress"].is_object());
}
