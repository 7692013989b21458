//! Mailbox export (workmail.md §2.22, §4.8, §6) through the WorkMail operations and the
//! background runner: the exported files equal the mailbox's messages byte for byte, the
//! output log and checksums, the limits (10 running per organization, one per mailbox per
//! 24 hours), states and progress, cancellation of a running job, a failure's ErrorInfo,
//! restart after a crash, pagination and tenant isolation.

mod common;

use bytes::Bytes;
use carillon_awsapi::generated::workmail::*;
use carillon_awsapi::WorkMailApi;
use carillon_core::RequestContext;
use carillon_mail::delivery::{self, Envelope};
use carillon_mail::export::{
    export_location, folder_path, run_due_jobs, run_job, JobOutcome, CHECKSUMS_FILE,
    OUTPUT_LOG_FILE,
};
use carillon_store::{NewMessage, StoreError};
use common::{code, envs, Env};
use sha2::{Digest, Sha384};

const BUCKET: &str = "export-bucket";
const PREFIX: &str = "backups/2026";

struct Org {
    ctx: RequestContext,
    id: String,
    domain: String,
    /// A Carillon key of the account, for the jobs' KmsKeyArn.
    kms_key_arn: String,
}

async fn organization(env: &Env) -> Org {
    let ctx = env.account().await;
    let (id, alias) = env.organization(&ctx).await;
    let key = env
        .store
        .keyring()
        .unwrap()
        .provider()
        .create_key(&ctx.account_id, "us-east-1", "exports")
        .await
        .unwrap();
    Org {
        ctx,
        id,
        domain: format!("{alias}.localhost"),
        kms_key_arn: key.arn,
    }
}

/// A registered user (with a mailbox, no password); returns its ID.
async fn mail_user(env: &Env, org: &Org, name: &str) -> String {
    let user = env
        .wm
        .create_user(
            &org.ctx,
            CreateUserRequest {
                organization_id: org.id.clone(),
                name: name.to_string(),
                display_name: name.to_string(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .user_id
        .unwrap();
    env.register(&org.ctx, &org.id, &user, &format!("{name}@{}", org.domain))
        .await
        .unwrap();
    user
}

fn request(org: &Org, entity: &str, token: &str) -> StartMailboxExportJobRequest {
    StartMailboxExportJobRequest {
        client_token: token.to_string(),
        organization_id: org.id.clone(),
        entity_id: entity.to_string(),
        description: Some("legal hold".to_string()),
        role_arn: "arn:aws:iam::111122223333:role/WorkMailExportRole".to_string(),
        kms_key_arn: org.kms_key_arn.clone(),
        s3_bucket_name: BUCKET.to_string(),
        s3_prefix: PREFIX.to_string(),
    }
}

async fn start(env: &Env, org: &Org, entity: &str, token: &str) -> String {
    env.wm
        .start_mailbox_export_job(&org.ctx, request(org, entity, token))
        .await
        .unwrap()
        .job_id
        .unwrap()
}

async fn describe(env: &Env, org: &Org, job: &str) -> DescribeMailboxExportJobResponse {
    env.wm
        .describe_mailbox_export_job(
            &org.ctx,
            DescribeMailboxExportJobRequest {
                organization_id: org.id.clone(),
                job_id: job.to_string(),
            },
        )
        .await
        .unwrap()
}

async fn cancel(env: &Env, org: &Org, job: &str) -> Result<(), carillon_core::ApiError> {
    env.wm
        .cancel_mailbox_export_job(
            &org.ctx,
            CancelMailboxExportJobRequest {
                client_token: carillon_core::ids::new_uuid(),
                organization_id: org.id.clone(),
                job_id: job.to_string(),
            },
        )
        .await
        .map(|_| ())
}

/// Delivers `count` inbound messages to `address` (one with 8-bit and binary-looking bytes).
async fn deliver(env: &Env, address: &str, count: usize) {
    for i in 0..count {
        let message = format!(
            "Return-Path: <partner@remote.test>\r\nFrom: partner@remote.test\r\nTo: {address}\r\n\
             Subject: message {i}\r\nMessage-ID: <{i}@remote.test>\r\nContent-Type: text/plain; \
             charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\u{e9} {i}\r\n\tline\r\n"
        );
        let outcome = delivery::deliver_inbound(
            &env.store,
            &Envelope {
                mail_from: "partner@remote.test".to_string(),
                recipients: vec![address.to_string()],
            },
            Bytes::from(message),
        )
        .await
        .unwrap();
        assert!(outcome.accepted());
    }
}

/// Every message of the user's mailbox as (folder name, UID, raw bytes).
async fn mailbox(env: &Env, user: &str) -> Vec<(String, i64, Bytes)> {
    let mut out = Vec::new();
    for folder in env.store.list_folders(user).await.unwrap() {
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
            out.push((folder.name.clone(), m.uid, raw));
        }
    }
    out
}

/// The export file at blob key `key` (`exports/<bucket>/<object key>`), decrypted.
async fn blob(env: &Env, key: &str) -> Option<Bytes> {
    let (bucket, object) = key
        .strip_prefix("exports/")
        .and_then(|k| k.split_once('/'))
        .expect("an export blob key");
    match carillon_mail::export::read_export_object(&env.store, bucket, object).await {
        Ok(data) => Some(data),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => panic!("{key}: {e}"),
    }
}

#[tokio::test]
async fn export_writes_every_message_byte_equal_with_its_output_log() {
    for env in envs().await {
        let org = organization(&env).await;
        let alice = mail_user(&env, &org, "alice").await;
        deliver(&env, &format!("alice@{}", org.domain), 3).await;
        // A nested folder holding a copy of the first message.
        env.store
            .create_folder(&alice, "Projects/2024")
            .await
            .unwrap();
        let inbox = env.store.folder(&alice, "INBOX").await.unwrap().unwrap();
        let first = env
            .store
            .list_messages(&alice, &inbox.folder_id)
            .await
            .unwrap()[0]
            .clone();
        env.store
            .append_messages(&[NewMessage {
                user_id: alice.clone(),
                folder: "Projects/2024".to_string(),
                blob_key: first.blob_key.clone(),
                size_bytes: first.size_bytes,
                internal_date: first.internal_date,
                flags: vec![],
                message_key: None,
            }])
            .await
            .unwrap();

        let job = start(&env, &org, &format!("alice@{}", org.domain), "token-1").await;
        let pending = describe(&env, &org, &job).await;
        assert_eq!(pending.state.as_deref(), Some("RUNNING"), "{}", env.backend);
        assert_eq!(pending.estimated_progress, Some(0));
        assert_eq!(pending.entity_id.as_deref(), Some(alice.as_str()));
        assert_eq!(pending.s3_path, Some(format!("{PREFIX}/{job}")));
        assert_eq!(pending.description.as_deref(), Some("legal hold"));
        assert!(pending.end_time.is_none() && pending.error_info.is_none());

        assert_eq!(run_due_jobs(&env.store, "node-1").await, 1);
        let done = describe(&env, &org, &job).await;
        assert_eq!(done.state.as_deref(), Some("COMPLETED"), "{}", env.backend);
        assert_eq!(done.estimated_progress, Some(100));
        assert!(done.end_time.is_some() && done.error_info.is_none());
        assert_eq!(done.kms_key_arn, Some(org.kms_key_arn.clone()));

        let location = export_location(BUCKET, done.s3_path.as_deref().unwrap());
        let messages = mailbox(&env, &alice).await;
        assert_eq!(messages.len(), 4);
        let mut expected_sums = String::new();
        for (folder, uid, raw) in &messages {
            let name = format!("messages/{}/{uid}.eml", folder_path(folder));
            let exported = blob(&env, &format!("{location}/{name}")).await;
            assert_eq!(exported.as_ref(), Some(raw), "{}: {name}", env.backend);
            // At rest the file is sealed under the job's key (workmail.md §5.3).
            let stored = env
                .store
                .blobs()
                .get(&format!("{location}/{name}"))
                .await
                .unwrap();
            assert!(
                !stored
                    .windows(raw.len().min(40))
                    .any(|w| raw.starts_with(w)),
                "{name} is stored in plaintext"
            );
            expected_sums.push_str(&format!("{}  {name}\n", hex::encode(Sha384::digest(raw))));
        }
        assert!(expected_sums.contains("messages/Projects/2024/1.eml"));
        let sums = blob(&env, &format!("{location}/{CHECKSUMS_FILE}"))
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8(sums.to_vec()).unwrap(),
            expected_sums,
            "{}",
            env.backend
        );

        let log: serde_json::Value = serde_json::from_slice(
            &blob(&env, &format!("{location}/{OUTPUT_LOG_FILE}"))
                .await
                .unwrap(),
        )
        .unwrap();
        let log = log.as_object().unwrap();
        let mut keys: Vec<_> = log.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "endTime",
                "sha384Hash",
                "startTime",
                "totalBytes",
                "totalFolders",
                "totalMessages",
                "totalNonExportableItems"
            ]
        );
        assert!(log.values().all(|v| v.is_string()), "§4.8: all strings");
        let folders = env.store.list_folders(&alice).await.unwrap().len();
        let bytes: usize = messages.iter().map(|(_, _, raw)| raw.len()).sum();
        assert_eq!(log["totalMessages"], "4");
        assert_eq!(log["totalFolders"], folders.to_string());
        assert_eq!(log["totalBytes"], bytes.to_string());
        assert_eq!(log["totalNonExportableItems"], "0");
        assert_eq!(
            log["sha384Hash"],
            hex::encode(Sha384::digest(expected_sums.as_bytes()))
        );
        let start: i64 = log["startTime"].as_str().unwrap().parse().unwrap();
        let end: i64 = log["endTime"].as_str().unwrap().parse().unwrap();
        assert!(start <= end);
    }
}

#[tokio::test]
async fn limits_ten_running_per_organization_and_one_per_mailbox_per_day() {
    for env in envs().await {
        let org = organization(&env).await;
        let mut users = Vec::new();
        for i in 0..11 {
            users.push(mail_user(&env, &org, &format!("user{i}")).await);
        }
        let first = start(&env, &org, &users[0], "t0").await;
        assert_eq!(
            start(&env, &org, &users[0], "t0").await,
            first,
            "{}: a repeated ClientToken answers the same job",
            env.backend
        );
        assert_eq!(
            code(
                env.wm
                    .start_mailbox_export_job(&org.ctx, request(&org, &users[0], "again"))
                    .await
            ),
            "LimitExceededException",
            "{}: one export per mailbox per 24 hours",
            env.backend
        );
        let mut jobs = vec![first];
        for (i, user) in users.iter().enumerate().take(10).skip(1) {
            jobs.push(start(&env, &org, user, &format!("t{i}")).await);
        }
        assert_eq!(
            code(
                env.wm
                    .start_mailbox_export_job(&org.ctx, request(&org, &users[10], "t10"))
                    .await
            ),
            "LimitExceededException",
            "{}: ten jobs running in the organization",
            env.backend
        );
        cancel(&env, &org, &jobs[3]).await.unwrap();
        start(&env, &org, &users[10], "t10").await;
        // A cancelled job still counts for its mailbox.
        assert_eq!(
            code(
                env.wm
                    .start_mailbox_export_job(&org.ctx, request(&org, &users[3], "t3b"))
                    .await
            ),
            "LimitExceededException"
        );
    }
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_model_errors() {
    for env in envs().await {
        let org = organization(&env).await;
        let alice = mail_user(&env, &org, "alice").await;
        let no_mailbox = env
            .wm
            .create_user(
                &org.ctx,
                CreateUserRequest {
                    organization_id: org.id.clone(),
                    name: "nomail".to_string(),
                    display_name: "No mail".to_string(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .user_id
            .unwrap();
        let cases = [
            (
                StartMailboxExportJobRequest {
                    s3_prefix: "a/../b".to_string(),
                    ..request(&org, &alice, "a")
                },
                "InvalidParameterException",
            ),
            (
                StartMailboxExportJobRequest {
                    s3_bucket_name: "..".to_string(),
                    ..request(&org, &alice, "b")
                },
                "InvalidParameterException",
            ),
            (
                StartMailboxExportJobRequest {
                    kms_key_arn: "arn:aws:kms:eu-west-1:111122223333:key/k".to_string(),
                    ..request(&org, &alice, "c")
                },
                "InvalidParameterException",
            ),
            (request(&org, "nobody", "d"), "EntityNotFoundException"),
            (request(&org, &no_mailbox, "e"), "EntityNotFoundException"),
        ];
        for (input, expected) in cases {
            let what = format!("{input:?}");
            assert_eq!(
                code(env.wm.start_mailbox_export_job(&org.ctx, input).await),
                expected,
                "{}: {what}",
                env.backend
            );
        }
        assert_eq!(
            code(
                env.wm
                    .describe_mailbox_export_job(
                        &org.ctx,
                        DescribeMailboxExportJobRequest {
                            organization_id: org.id.clone(),
                            job_id: "00000000-0000-0000-0000-000000000000".to_string(),
                        },
                    )
                    .await
            ),
            "EntityNotFoundException"
        );
        assert_eq!(
            code(cancel(&env, &org, "00000000-0000-0000-0000-000000000000").await),
            "EntityNotFoundException"
        );
        // Nothing was started by the refused requests: alice can still be exported.
        start(&env, &org, &alice, "ok").await;
    }
}

#[tokio::test]
async fn cancelling_a_running_job_stops_it_and_removes_its_output() {
    for env in envs().await {
        let org = organization(&env).await;
        let alice = mail_user(&env, &org, "alice").await;
        deliver(&env, &format!("alice@{}", org.domain), 2).await;
        let job = start(&env, &org, &alice, "t").await;
        let leased = env
            .store
            .lease_export_job("node-1", carillon_core::time::now_millis(), 60_000)
            .await
            .unwrap()
            .expect("the job");
        assert_eq!(leased.job_id, job);
        assert_eq!(
            describe(&env, &org, &job).await.state.as_deref(),
            Some("RUNNING")
        );
        cancel(&env, &org, &job).await.unwrap();
        let cancelled = describe(&env, &org, &job).await;
        assert_eq!(
            cancelled.state.as_deref(),
            Some("CANCELLED"),
            "{}",
            env.backend
        );
        assert!(cancelled.end_time.is_some());
        // The runner holding the job notices at its first progress report and cleans up.
        assert_eq!(
            run_job(&env.store, "node-1", &leased).await,
            JobOutcome::Stopped
        );
        let location = export_location(BUCKET, &leased.s3_path);
        assert!(blob(&env, &format!("{location}/messages/INBOX/1.eml"))
            .await
            .is_none());
        assert!(blob(&env, &format!("{location}/{OUTPUT_LOG_FILE}"))
            .await
            .is_none());
        assert_eq!(
            describe(&env, &org, &job).await.state.as_deref(),
            Some("CANCELLED")
        );
        cancel(&env, &org, &job)
            .await
            .expect("cancelling twice is idempotent");

        // A completed job can no longer be cancelled.
        let bob = mail_user(&env, &org, "bob").await;
        let finished = start(&env, &org, &bob, "b").await;
        run_due_jobs(&env.store, "node-1").await;
        assert_eq!(
            code(cancel(&env, &org, &finished).await),
            "InvalidParameterException"
        );
        assert_eq!(
            describe(&env, &org, &finished).await.state.as_deref(),
            Some("COMPLETED")
        );
    }
}

#[tokio::test]
async fn a_job_whose_mailbox_is_gone_fails_with_error_info() {
    for env in envs().await {
        let org = organization(&env).await;
        let alice = mail_user(&env, &org, "alice").await;
        let job = start(&env, &org, &alice, "t").await;
        env.wm
            .delete_organization(
                &org.ctx,
                DeleteOrganizationRequest {
                    organization_id: org.id.clone(),
                    delete_directory: true,
                    force_delete: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        run_due_jobs(&env.store, "node-1").await;
        let record = env
            .store
            .export_job(&org.ctx.account_id, &org.id, &job)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.state, "FAILED", "{}", env.backend);
        assert!(record
            .error_info
            .as_deref()
            .unwrap()
            .contains("no longer exists"));
        assert!(record.end_time.is_some());
    }
}

#[tokio::test]
async fn a_job_interrupted_by_a_crash_is_redone_in_full() {
    for env in envs().await {
        let org = organization(&env).await;
        let alice = mail_user(&env, &org, "alice").await;
        deliver(&env, &format!("alice@{}", org.domain), 2).await;
        let job = start(&env, &org, &alice, "t").await;
        // node-1 takes the job and dies after writing a damaged first file.
        let leased = env
            .store
            .lease_export_job("node-1", carillon_core::time::now_millis(), 60_000)
            .await
            .unwrap()
            .unwrap();
        let location = export_location(BUCKET, &leased.s3_path);
        let first = format!("{location}/messages/INBOX/1.eml");
        env.store
            .blobs()
            .put(&first, Bytes::from_static(b"torn"))
            .await
            .unwrap();
        let during = describe(&env, &org, &job).await;
        assert_eq!(during.state.as_deref(), Some("RUNNING"));
        assert!(blob(&env, &format!("{location}/{OUTPUT_LOG_FILE}"))
            .await
            .is_none());
        // The restarted node releases its stale lease and redoes the job.
        env.store
            .release_export_leases("node-1", carillon_core::time::now_millis())
            .await
            .unwrap();
        assert_eq!(run_due_jobs(&env.store, "node-1").await, 1);
        assert_eq!(
            describe(&env, &org, &job).await.state.as_deref(),
            Some("COMPLETED"),
            "{}",
            env.backend
        );
        let messages = mailbox(&env, &alice).await;
        let inbox_first = messages
            .iter()
            .find(|(f, uid, _)| f == "INBOX" && *uid == 1)
            .unwrap();
        assert_eq!(blob(&env, &first).await.as_ref(), Some(&inbox_first.2));
    }
}

#[tokio::test]
async fn listing_pages_through_the_jobs_and_tenants_stay_apart() {
    for env in envs().await {
        let org = organization(&env).await;
        let mut jobs = Vec::new();
        for i in 0..5 {
            let user = mail_user(&env, &org, &format!("u{i}")).await;
            jobs.push(start(&env, &org, &user, &format!("t{i}")).await);
        }
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let page = env
                .wm
                .list_mailbox_export_jobs(
                    &org.ctx,
                    ListMailboxExportJobsRequest {
                        organization_id: org.id.clone(),
                        max_results: Some(2),
                        next_token: token.clone(),
                    },
                )
                .await
                .unwrap();
            let listed = page.jobs.unwrap();
            assert!(listed.len() <= 2);
            for j in &listed {
                assert_eq!(j.state.as_deref(), Some("RUNNING"));
                assert_eq!(j.s3_bucket_name.as_deref(), Some(BUCKET));
            }
            seen.extend(listed.into_iter().map(|j| j.job_id.unwrap()));
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        let mut expected = jobs.clone();
        expected.sort();
        seen.sort();
        assert_eq!(seen, expected, "{}", env.backend);
        assert_eq!(
            code(
                env.wm
                    .list_mailbox_export_jobs(
                        &org.ctx,
                        ListMailboxExportJobsRequest {
                            organization_id: org.id.clone(),
                            max_results: None,
                            next_token: Some("forged".to_string()),
                        },
                    )
                    .await
            ),
            "InvalidParameterException"
        );

        // Another account's caller does not see the organization at all.
        let intruder = Org {
            ctx: env.account().await,
            id: org.id.clone(),
            domain: org.domain.clone(),
            kms_key_arn: org.kms_key_arn.clone(),
        };
        let not_found = "OrganizationNotFoundException";
        assert_eq!(
            code(
                env.wm
                    .list_mailbox_export_jobs(
                        &intruder.ctx,
                        ListMailboxExportJobsRequest {
                            organization_id: org.id.clone(),
                            ..Default::default()
                        },
                    )
                    .await
            ),
            not_found
        );
        assert_eq!(
            code(
                env.wm
                    .describe_mailbox_export_job(
                        &intruder.ctx,
                        DescribeMailboxExportJobRequest {
                            organization_id: org.id.clone(),
                            job_id: jobs[0].clone(),
                        },
                    )
                    .await
            ),
            not_found
        );
        assert_eq!(code(cancel(&env, &intruder, &jobs[0]).await), not_found);
        assert_eq!(
            code(
                env.wm
                    .start_mailbox_export_job(&intruder.ctx, request(&org, "u0", "x"))
                    .await
            ),
            not_found
        );
        assert_eq!(
            describe(&env, &org, &jobs[0]).await.state.as_deref(),
            Some("RUNNING"),
            "{}: the intruder's cancel changed nothing",
            env.backend
        );
    }
}
