//! Mailbox retention (workmail.md §2.12, §1.4): PutRetentionPolicy,
//! GetDefaultRetentionPolicy and DeleteRetentionPolicy (validation, replacement, tenant
//! isolation), and the retention job (aged items moved or expunged, younger ones kept, the
//! purge of mailboxes disabled for more than 30 days, the lease). The job runs with an
//! injected clock, so ageing needs no waiting.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use carillon_awsapi::generated::workmail::*;
use carillon_awsapi::WorkMailApi;
use carillon_core::time::now_millis;
use carillon_core::RequestContext;
use carillon_mail::retention::{RetentionJob, RetentionReport};
use carillon_store::NewMessage;
use common::{code, envs, Env};

const DAY_MS: i64 = 24 * 3600 * 1000;

fn folder(name: &str, action: &str, period: Option<i32>) -> FolderConfiguration {
    FolderConfiguration {
        name: name.to_string(),
        action: action.to_string(),
        period,
    }
}

fn put_request(org: &str, folders: Vec<FolderConfiguration>) -> PutRetentionPolicyRequest {
    PutRetentionPolicyRequest {
        organization_id: org.to_string(),
        name: "default".to_string(),
        description: Some("Deletes old mail".to_string()),
        folder_configurations: folders,
        ..Default::default()
    }
}

async fn get(env: &Env, ctx: &RequestContext, org: &str) -> GetDefaultRetentionPolicyResponse {
    env.wm
        .get_default_retention_policy(
            ctx,
            GetDefaultRetentionPolicyRequest {
                organization_id: org.to_string(),
            },
        )
        .await
        .unwrap()
}

/// A job on the env's store whose clock reads `now`.
fn job(env: &Env, holder: &str, now: i64) -> RetentionJob {
    RetentionJob::new(env.store.clone(), holder, Duration::from_secs(3600))
        .with_clock(Arc::new(move || now))
}

/// An organization with one registered user `alice@<alias>.localhost`; returns (ctx,
/// organization, user, alias).
async fn mailbox_user(env: &Env) -> (RequestContext, String, String, String) {
    let ctx = env.account().await;
    let (org, alias) = env.organization(&ctx).await;
    let user = env.user(&ctx, &org, "alice").await;
    env.register(&ctx, &org, &user, &format!("alice@{alias}.localhost"))
        .await
        .unwrap();
    (ctx, org, user, alias)
}

/// Appends one message per INTERNALDATE to the user's folder, each with its own blob.
async fn append(env: &Env, user: &str, folder: &str, dates: &[i64]) -> Vec<String> {
    let mut keys = Vec::new();
    for date in dates {
        let key = format!("retention-test/{}", carillon_core::ids::new_uuid());
        env.store
            .blobs()
            .put(&key, Bytes::from_static(b"Subject: x\r\n\r\nbody\r\n"))
            .await
            .unwrap();
        env.store
            .append_messages(&[NewMessage {
                user_id: user.to_string(),
                folder: folder.to_string(),
                blob_key: key.clone(),
                size_bytes: 21,
                internal_date: *date,
                flags: Vec::new(),
                message_key: None,
            }])
            .await
            .unwrap();
        keys.push(key);
    }
    keys
}

/// INTERNALDATEs of the messages of the user's folder, by UID.
async fn dates(env: &Env, user: &str, folder: &str) -> Vec<i64> {
    let folder = env.store.folder(user, folder).await.unwrap().unwrap();
    env.store
        .list_messages(user, &folder.folder_id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.internal_date)
        .collect()
}

#[tokio::test]
async fn put_get_delete_round_trip_and_put_replaces() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, _) = env.organization(&ctx).await;
        assert_eq!(
            code(
                env.wm
                    .get_default_retention_policy(
                        &ctx,
                        GetDefaultRetentionPolicyRequest {
                            organization_id: org.clone(),
                        },
                    )
                    .await
            ),
            "EntityNotFoundException",
            "{}: no policy yet",
            env.backend
        );

        env.wm
            .put_retention_policy(
                &ctx,
                put_request(
                    &org,
                    vec![
                        folder("INBOX", "DELETE", Some(30)),
                        folder("JUNK_EMAIL", "PERMANENTLY_DELETE", Some(7)),
                        folder("DRAFTS", "NONE", None),
                    ],
                ),
            )
            .await
            .unwrap();
        let first = get(&env, &ctx, &org).await;
        let id = first.id.clone().unwrap();
        assert_eq!(first.name.as_deref(), Some("default"));
        assert_eq!(first.description.as_deref(), Some("Deletes old mail"));
        let folders = first.folder_configurations.unwrap();
        assert_eq!(folders.len(), 3);
        assert!(folders.contains(&folder("INBOX", "DELETE", Some(30))));
        assert!(folders.contains(&folder("DRAFTS", "NONE", None)));

        // Without Id, Put keeps the policy's ID and replaces everything else.
        let mut replacement = put_request(&org, vec![folder("SENT_ITEMS", "DELETE", Some(1))]);
        replacement.name = "second".to_string();
        replacement.description = None;
        env.wm
            .put_retention_policy(&ctx, replacement)
            .await
            .unwrap();
        let second = get(&env, &ctx, &org).await;
        assert_eq!(second.id.as_deref(), Some(id.as_str()));
        assert_eq!(second.name.as_deref(), Some("second"));
        assert_eq!(second.description, None);
        assert_eq!(
            second.folder_configurations.unwrap(),
            vec![folder("SENT_ITEMS", "DELETE", Some(1))]
        );

        // An explicit Id is taken as given.
        let mut named = put_request(&org, vec![]);
        named.id = Some("policy-7".to_string());
        env.wm.put_retention_policy(&ctx, named).await.unwrap();
        assert_eq!(get(&env, &ctx, &org).await.id.as_deref(), Some("policy-7"));

        // Deleting another ID changes nothing; deleting the policy's ID removes it.
        for (id, remains) in [("other", true), ("policy-7", false), ("policy-7", false)] {
            env.wm
                .delete_retention_policy(
                    &ctx,
                    DeleteRetentionPolicyRequest {
                        organization_id: org.clone(),
                        id: id.to_string(),
                    },
                )
                .await
                .unwrap();
            let found = env
                .wm
                .get_default_retention_policy(
                    &ctx,
                    GetDefaultRetentionPolicyRequest {
                        organization_id: org.clone(),
                    },
                )
                .await
                .is_ok();
            assert_eq!(found, remains, "after deleting {id}");
        }
    }
}

#[tokio::test]
async fn put_refuses_duplicate_folders_and_missing_periods() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, _) = env.organization(&ctx).await;
        let bad = [
            vec![
                folder("INBOX", "DELETE", Some(3)),
                folder("INBOX", "NONE", None),
            ],
            vec![folder("INBOX", "DELETE", None)],
            vec![folder("JUNK_EMAIL", "PERMANENTLY_DELETE", None)],
            vec![folder("Archive", "DELETE", Some(3))],
        ];
        for folders in bad {
            assert_eq!(
                code(
                    env.wm
                        .put_retention_policy(&ctx, put_request(&org, folders.clone()))
                        .await
                ),
                "InvalidParameterException",
                "{}: {folders:?}",
                env.backend
            );
        }
        assert_eq!(
            code(
                env.wm
                    .get_default_retention_policy(
                        &ctx,
                        GetDefaultRetentionPolicyRequest {
                            organization_id: org.clone(),
                        },
                    )
                    .await
            ),
            "EntityNotFoundException",
            "nothing was stored"
        );
    }
}

#[tokio::test]
async fn another_account_cannot_see_set_or_delete_the_policy() {
    for env in envs().await {
        let ctx = env.account().await;
        let (org, _) = env.organization(&ctx).await;
        let intruder = env.account().await;
        env.wm
            .put_retention_policy(
                &ctx,
                put_request(&org, vec![folder("INBOX", "DELETE", Some(9))]),
            )
            .await
            .unwrap();
        let id = get(&env, &ctx, &org).await.id.unwrap();

        assert_eq!(
            code(
                env.wm
                    .put_retention_policy(&intruder, put_request(&org, vec![]))
                    .await
            ),
            "OrganizationNotFoundException"
        );
        assert_eq!(
            code(
                env.wm
                    .get_default_retention_policy(
                        &intruder,
                        GetDefaultRetentionPolicyRequest {
                            organization_id: org.clone(),
                        },
                    )
                    .await
            ),
            "OrganizationNotFoundException"
        );
        assert_eq!(
            code(
                env.wm
                    .delete_retention_policy(
                        &intruder,
                        DeleteRetentionPolicyRequest {
                            organization_id: org.clone(),
                            id: id.clone(),
                        },
                    )
                    .await
            ),
            "OrganizationNotFoundException"
        );
        let kept = get(&env, &ctx, &org).await;
        assert_eq!(kept.id, Some(id), "{}", env.backend);
        assert_eq!(
            kept.folder_configurations.unwrap(),
            vec![folder("INBOX", "DELETE", Some(9))]
        );
    }
}

#[tokio::test]
async fn job_moves_or_expunges_aged_items_and_keeps_younger_ones() {
    for env in envs().await {
        let (ctx, org, user, _) = mailbox_user(&env).await;
        env.wm
            .put_retention_policy(
                &ctx,
                put_request(
                    &org,
                    vec![
                        folder("INBOX", "DELETE", Some(30)),
                        folder("JUNK_EMAIL", "PERMANENTLY_DELETE", Some(10)),
                        folder("DRAFTS", "NONE", Some(1)),
                    ],
                ),
            )
            .await
            .unwrap();
        let now = 1_800_000_000_000;
        let (old, young) = (now - 31 * DAY_MS, now - 29 * DAY_MS);
        append(&env, &user, "INBOX", &[old, young, old - 1]).await;
        let junk_keys = append(
            &env,
            &user,
            "Junk E-mail",
            &[now - 11 * DAY_MS, now - DAY_MS],
        )
        .await;
        append(&env, &user, "Drafts", &[old]).await;
        let inbox_before = env.store.folder(&user, "INBOX").await.unwrap().unwrap();

        let report = job(&env, "node-a", now).run_once().await.unwrap().unwrap();
        assert_eq!(
            report,
            RetentionReport {
                moved: 2,
                expunged: 1,
                purged_mailboxes: 0
            },
            "{}",
            env.backend
        );
        assert_eq!(dates(&env, &user, "INBOX").await, vec![young]);
        assert_eq!(
            dates(&env, &user, "Deleted Items").await,
            vec![old, old - 1],
            "moved with their INTERNALDATE"
        );
        assert_eq!(dates(&env, &user, "Junk E-mail").await, vec![now - DAY_MS]);
        assert_eq!(dates(&env, &user, "Drafts").await, vec![old], "NONE keeps");
        assert!(
            env.store.blobs().get(&junk_keys[0]).await.is_err(),
            "blob collected"
        );
        assert!(env.store.blobs().get(&junk_keys[1]).await.is_ok());

        // UIDs are never reused and the folder's MODSEQ moved on, as for an IMAP MOVE.
        let inbox_after = env.store.folder(&user, "INBOX").await.unwrap().unwrap();
        assert_eq!(inbox_after.uid_next, inbox_before.uid_next);
        assert!(inbox_after.highest_modseq > inbox_before.highest_modseq);
        assert_eq!(
            env.store.mailbox_size(&user).await.unwrap(),
            Some(21 * 5),
            "the expunged copy no longer counts"
        );

        // A second pass at the same instant finds nothing more to do.
        let again = job(&env, "node-a", now).run_once().await.unwrap().unwrap();
        assert_eq!(again, RetentionReport::default());
    }
}

#[tokio::test]
async fn job_without_policy_or_after_delete_leaves_mail_alone() {
    for env in envs().await {
        let (ctx, org, user, _) = mailbox_user(&env).await;
        let now = now_millis();
        append(&env, &user, "INBOX", &[now - 400 * DAY_MS]).await;
        assert_eq!(
            job(&env, "n", now).run_once().await.unwrap(),
            Some(RetentionReport::default())
        );
        env.wm
            .put_retention_policy(
                &ctx,
                put_request(&org, vec![folder("INBOX", "DELETE", Some(1))]),
            )
            .await
            .unwrap();
        let id = get(&env, &ctx, &org).await.id.unwrap();
        env.wm
            .delete_retention_policy(
                &ctx,
                DeleteRetentionPolicyRequest {
                    organization_id: org.clone(),
                    id,
                },
            )
            .await
            .unwrap();
        job(&env, "n", now).run_once().await.unwrap();
        assert_eq!(
            dates(&env, &user, "INBOX").await.len(),
            1,
            "{}",
            env.backend
        );
    }
}

#[tokio::test]
async fn delete_in_deleted_items_expunges() {
    for env in envs().await {
        let (ctx, org, user, _) = mailbox_user(&env).await;
        env.wm
            .put_retention_policy(
                &ctx,
                put_request(&org, vec![folder("DELETED_ITEMS", "DELETE", Some(5))]),
            )
            .await
            .unwrap();
        let now = now_millis();
        append(
            &env,
            &user,
            "Deleted Items",
            &[now - 6 * DAY_MS, now - 4 * DAY_MS],
        )
        .await;
        let report = job(&env, "n", now).run_once().await.unwrap().unwrap();
        assert_eq!(report.expunged, 1, "{}", env.backend);
        assert_eq!(
            dates(&env, &user, "Deleted Items").await,
            vec![now - 4 * DAY_MS]
        );
    }
}

#[tokio::test]
async fn disabled_mailbox_is_purged_only_after_30_days() {
    for env in envs().await {
        let (ctx, org, user, alias) = mailbox_user(&env).await;
        let keys = append(&env, &user, "INBOX", &[now_millis()]).await;
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
        let disabled = now_millis();

        let early = job(&env, "n", disabled + 29 * DAY_MS)
            .run_once()
            .await
            .unwrap();
        assert_eq!(early.unwrap().purged_mailboxes, 0, "{}", env.backend);
        assert!(env.store.mailbox_size(&user).await.unwrap().is_some());

        let late = job(&env, "n", disabled + 31 * DAY_MS)
            .run_once()
            .await
            .unwrap();
        assert_eq!(late.unwrap().purged_mailboxes, 1);
        assert_eq!(env.store.mailbox_size(&user).await.unwrap(), None);
        assert!(env.store.list_folders(&user).await.unwrap().is_empty());
        assert!(env.store.blobs().get(&keys[0]).await.is_err());

        // Enabled again, the user gets a fresh, empty mailbox.
        env.register(&ctx, &org, &user, &format!("alice@{alias}.localhost"))
            .await
            .unwrap();
        assert_eq!(env.store.mailbox_size(&user).await.unwrap(), Some(0));
        assert_eq!(env.store.list_folders(&user).await.unwrap().len(), 5);
    }
}

#[tokio::test]
async fn enabled_users_are_never_purged() {
    for env in envs().await {
        let (_, _, user, _) = mailbox_user(&env).await;
        let report = job(&env, "n", now_millis() + 400 * DAY_MS)
            .run_once()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.purged_mailboxes, 0, "{}", env.backend);
        assert_eq!(env.store.mailbox_size(&user).await.unwrap(), Some(0));
    }
}

#[tokio::test]
async fn only_the_lease_holder_runs_a_pass() {
    for env in envs().await {
        let now = now_millis();
        assert!(job(&env, "node-a", now).run_once().await.unwrap().is_some());
        assert_eq!(
            job(&env, "node-b", now).run_once().await.unwrap(),
            None,
            "{}: node-b skips while node-a holds the lease",
            env.backend
        );
        assert!(
            job(&env, "node-a", now).run_once().await.unwrap().is_some(),
            "the holder renews"
        );
    }
}
