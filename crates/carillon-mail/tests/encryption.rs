//! Encryption at rest through the WorkMail service and the delivery pipeline
//! (workmail.md §5.3, §2.6 `KmsKeyArn`): the organization's key chosen and fixed at
//! creation, the key operations, blobs sealed with a key per message wrapped per mailbox,
//! a wrapped key bound to its blob, pre-migration plaintext copies readable, and queue rows
//! under the transit key. SQLite, and PostgreSQL when `CARILLON_TEST_DATABASE_URL` is set.

mod common;

use bytes::Bytes;
use carillon_adminapi::CarillonOperation;
use carillon_awsapi::generated::workmail::*;
use carillon_awsapi::WorkMailApi;
use carillon_mail::crypto;
use carillon_mail::delivery::{self, Envelope};
use carillon_mail::directory::keys::{
    CreateKey, CreateKeyInput, DescribeKey, DescribeKeyInput, ListKeys, ListKeysInput,
};
use carillon_store::{NewMessage, StoreError, KEY_KIND_MAILBOX};
use common::{envs, Env};

async fn create_key(env: &Env, ctx: &carillon_core::RequestContext) -> String {
    CreateKey(env.wm.clone())
        .call(
            ctx,
            CreateKeyInput {
                description: Some("mail".to_string()),
            },
        )
        .await
        .unwrap()
        .key_metadata
        .arn
}

async fn organization_with(
    env: &Env,
    ctx: &carillon_core::RequestContext,
    kms_key_arn: Option<String>,
) -> Result<String, carillon_core::ApiError> {
    env.wm
        .create_organization(
            ctx,
            CreateOrganizationRequest {
                alias: carillon_store::testing::unique_name("enc"),
                kms_key_arn,
                ..Default::default()
            },
        )
        .await
        .map(|r| r.organization_id.unwrap())
}

#[tokio::test]
async fn organizations_get_a_fixed_key_and_refuse_foreign_ones() {
    for env in envs().await {
        let ctx = env.account().await;
        let other = env.account().await;
        let key = create_key(&env, &ctx).await;
        let foreign = create_key(&env, &other).await;
        let org = organization_with(&env, &ctx, Some(key.clone()))
            .await
            .unwrap();
        let stored = env.store.organization_key_facts(&org).await.unwrap();
        assert_eq!(stored, Some((ctx.account_id.clone(), Some(key.clone()))));

        // Without a KmsKeyArn: the account default key, listed beside the created one.
        let plain = organization_with(&env, &ctx, None).await.unwrap();
        let default = env
            .store
            .organization_key_facts(&plain)
            .await
            .unwrap()
            .unwrap()
            .1
            .unwrap();
        let listed = ListKeys(env.wm.clone())
            .call(&ctx, ListKeysInput {})
            .await
            .unwrap();
        let arns: Vec<&str> = listed.keys.iter().map(|k| k.key_arn.as_str()).collect();
        assert_eq!(
            arns,
            vec![key.as_str(), default.as_str()],
            "{}",
            env.backend
        );
        let key_id = default.rsplit('/').next().unwrap().to_string();
        let described = DescribeKey(env.wm.clone())
            .call(
                &ctx,
                DescribeKeyInput {
                    key_id: key_id.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(described.key_metadata.key_manager, "AWS");
        assert_eq!(
            described.key_metadata.alias.as_deref(),
            Some("alias/aws/workmail")
        );
        let not_found = DescribeKey(env.wm.clone())
            .call(&other, DescribeKeyInput { key_id })
            .await
            .unwrap_err();
        assert_eq!(not_found.code, "NotFoundException");

        for bogus in [
            foreign,
            "arn:aws:kms:us-east-1:111122223333:key/not-a-uuid".to_string(),
            key.replace("us-east-1", "eu-west-1"),
            format!(
                "arn:aws:kms:us-east-1:{}:key/00000000-0000-4000-8000-000000000000",
                ctx.account_id
            ),
        ] {
            let refused = organization_with(&env, &ctx, Some(bogus.clone()))
                .await
                .unwrap_err();
            assert_eq!(refused.code, "InvalidParameterException", "{bogus}");
            assert!(
                refused.message.starts_with("KmsKeyArn: "),
                "{}",
                refused.message
            );
        }
    }
}

#[tokio::test]
async fn messages_are_sealed_per_message_and_opened_per_copy() {
    for env in envs().await {
        let ctx = env.account().await;
        let key = create_key(&env, &ctx).await;
        let org = organization_with(&env, &ctx, Some(key.clone()))
            .await
            .unwrap();
        let alias = env
            .wm
            .describe_organization(
                &ctx,
                DescribeOrganizationRequest {
                    organization_id: org.clone(),
                },
            )
            .await
            .unwrap()
            .alias
            .unwrap();
        let mut users = Vec::new();
        for name in ["alice", "bob"] {
            let user = env.user(&ctx, &org, name).await;
            env.register(&ctx, &org, &user, &format!("{name}@{alias}.localhost"))
                .await
                .unwrap();
            users.push(user);
        }
        let deliver = |marker: &'static str| {
            let store = env.store.clone();
            let alias = alias.clone();
            async move {
                let message =
                    format!("From: p@remote.test\r\nSubject: {marker}\r\n\r\n{marker}\r\n");
                delivery::deliver_inbound(
                    &store,
                    &Envelope {
                        mail_from: "p@remote.test".to_string(),
                        recipients: vec![
                            format!("alice@{alias}.localhost"),
                            format!("bob@{alias}.localhost"),
                        ],
                    },
                    Bytes::from(message),
                )
                .await
                .unwrap()
                .blob_key
                .unwrap()
            }
        };
        let first = deliver("MARKER-ONE-7f3a").await;
        let second = deliver("MARKER-TWO-9c1b").await;
        for blob in [&first, &second] {
            let stored = env.store.blobs().get(blob).await.unwrap();
            assert!(
                !stored.windows(6).any(|w| w == b"MARKER"),
                "{}",
                env.backend
            );
        }
        let inbox = |user: String| {
            let store = env.store.clone();
            async move {
                let folder = store.folder(&user, "INBOX").await.unwrap().unwrap();
                store.list_messages(&user, &folder.folder_id).await.unwrap()
            }
        };
        let alice = inbox(users[0].clone()).await;
        let bob = inbox(users[1].clone()).await;
        assert_ne!(
            alice[0].message_key, bob[0].message_key,
            "wrapped per mailbox"
        );
        for (user, copies) in [(&users[0], &alice), (&users[1], &bob)] {
            let text = crypto::read_mailbox_copy(
                &env.store,
                user,
                &copies[0].blob_key,
                copies[0].message_key.as_deref(),
            )
            .await
            .unwrap();
            assert!(text.ends_with(b"MARKER-ONE-7f3a\r\n"));
        }
        // A wrapped key opens only its own blob, and only with its own mailbox key.
        let swapped = crypto::read_mailbox_copy(
            &env.store,
            &users[0],
            &alice[1].blob_key,
            alice[0].message_key.as_deref(),
        )
        .await;
        assert!(
            matches!(swapped, Err(StoreError::Encryption(_))),
            "{swapped:?}"
        );
        let other_mailbox = crypto::read_mailbox_copy(
            &env.store,
            &users[1],
            &alice[0].blob_key,
            alice[0].message_key.as_deref(),
        )
        .await;
        assert!(matches!(other_mailbox, Err(StoreError::Encryption(_))));
        let mailbox_key = env.store.encryption_key(&users[0]).await.unwrap().unwrap();
        assert_eq!(mailbox_key.kind, KEY_KIND_MAILBOX);
        assert_eq!(
            mailbox_key.kms_key_arn, key,
            "wrapped by the organization's key"
        );

        // A copy stored before encryption at rest (no wrapped key) reads as stored.
        env.store
            .blobs()
            .put(
                "messages/legacy",
                Bytes::from_static(b"Subject: old\r\n\r\nold\r\n"),
            )
            .await
            .unwrap();
        env.store
            .append_messages(&[NewMessage {
                user_id: users[0].clone(),
                folder: "INBOX".to_string(),
                blob_key: "messages/legacy".to_string(),
                size_bytes: 22,
                internal_date: 0,
                flags: Vec::new(),
                message_key: None,
            }])
            .await
            .unwrap();
        let legacy = inbox(users[0].clone()).await.pop().unwrap();
        assert_eq!(
            crypto::read_mailbox_copy(&env.store, &users[0], &legacy.blob_key, None)
                .await
                .unwrap(),
            Bytes::from_static(b"Subject: old\r\n\r\nold\r\n")
        );
    }
}

#[tokio::test]
async fn queued_mail_is_sealed_under_the_transit_key() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, _) = env.organization(&ctx).await;
        let sealed = crypto::put_sealed(&env.store, b"Subject: away\r\n\r\nbody\r\n")
            .await
            .unwrap();
        let wrapped = sealed
            .wrap_for_organization(&env.store, &org)
            .await
            .unwrap();
        let plain = crypto::read_organization_blob(&env.store, &org, &sealed.key, Some(&wrapped))
            .await
            .unwrap();
        assert_eq!(plain, Bytes::from_static(b"Subject: away\r\n\r\nbody\r\n"));
        let transit = env.store.encryption_key(&org).await.unwrap().unwrap();
        assert_eq!(transit.kind, "transit");
        assert!(matches!(
            crypto::read_organization_blob(&env.store, &org, "messages/none", None).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            sealed.wrap_for_organization(&env.store, "m-unknown").await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn an_export_whose_key_is_gone_fails_naming_it() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, alias) = env.organization(&ctx).await;
        let user = env.user(&ctx, &org, "alice").await;
        env.register(&ctx, &org, &user, &format!("alice@{alias}.localhost"))
            .await
            .unwrap();
        // A job recorded before keys were checked at StartMailboxExportJob.
        let missing = format!(
            "arn:aws:kms:us-east-1:{}:key/00000000-0000-4000-8000-000000000000",
            ctx.account_id
        );
        let job_id = carillon_core::ids::new_uuid();
        let admission = env
            .store
            .start_export_job(
                &carillon_store::NewExportJob {
                    job_id: job_id.clone(),
                    account_id: ctx.account_id.clone(),
                    organization_id: org.clone(),
                    entity_id: user,
                    description: None,
                    role_arn: "arn:aws:iam::111122223333:role/r".to_string(),
                    kms_key_arn: missing.clone(),
                    s3_bucket_name: "b".to_string(),
                    s3_prefix: "p".to_string(),
                    s3_path: format!("p/{job_id}"),
                    client_token: job_id.clone(),
                    start_time: carillon_core::time::now_millis(),
                },
                10,
                0,
            )
            .await
            .unwrap();
        assert_eq!(admission, carillon_store::ExportAdmission::Started);
        carillon_mail::export::run_due_jobs(&env.store, "node-1").await;
        let job = env
            .store
            .export_job(&ctx.account_id, &org, &job_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.state, "FAILED", "{}", env.backend);
        assert_eq!(
            job.error_info,
            Some(format!(
                "KmsKeyArn {missing} is not a key of account {}",
                ctx.account_id
            ))
        );
    }
}

#[tokio::test]
async fn a_purged_mailbox_gets_a_new_key_even_while_the_old_one_is_cached() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, alias) = env.organization(&ctx).await;
        let user = env.user(&ctx, &org, "carol").await;
        let address = format!("carol@{alias}.localhost");
        env.register(&ctx, &org, &user, &address).await.unwrap();
        let deliver = |body: &'static str| {
            let (store, address) = (env.store.clone(), address.clone());
            async move {
                delivery::deliver_inbound(
                    &store,
                    &Envelope {
                        mail_from: "p@remote.test".to_string(),
                        recipients: vec![address],
                    },
                    Bytes::from(format!("Subject: x\r\n\r\n{body}\r\n")),
                )
                .await
                .unwrap();
            }
        };
        deliver("before").await;
        let old = env.store.encryption_key(&user).await.unwrap().unwrap();
        env.wm
            .deregister_from_work_mail(
                &ctx,
                DeregisterFromWorkMailRequest {
                    organization_id: org.clone(),
                    entity_id: user.clone(),
                },
            )
            .await
            .unwrap();
        let later = carillon_core::time::now_millis() + 1;
        assert!(env
            .store
            .purge_mailbox(&user, later)
            .await
            .unwrap()
            .is_some());
        assert_eq!(env.store.encryption_key(&user).await.unwrap(), None);
        env.register(&ctx, &org, &user, &address).await.unwrap();
        deliver("after").await;
        let new = env.store.encryption_key(&user).await.unwrap().unwrap();
        assert_ne!(new.wrapped_key, old.wrapped_key, "{}", env.backend);
        let folder = env.store.folder(&user, "INBOX").await.unwrap().unwrap();
        let copies = env
            .store
            .list_messages(&user, &folder.folder_id)
            .await
            .unwrap();
        assert_eq!(copies.len(), 1);
        let text = crypto::read_mailbox_copy(
            &env.store,
            &user,
            &copies[0].blob_key,
            copies[0].message_key.as_deref(),
        )
        .await
        .unwrap();
        assert!(text.ends_with(b"after\r\n"));
    }
}
