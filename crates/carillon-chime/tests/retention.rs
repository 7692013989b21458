//! Chat retention on SQLite and (when `CARILLON_TEST_DATABASE_URL` is set) PostgreSQL:
//! Put/GetRetentionSettings with the model's errors, the §2.6 decision tables (rooms follow
//! their account, conversations within one Enterprise account follow its setting, mixed ones
//! keep 90 days, others keep everything), hiding, the 30-day restore window, purging, the
//! job's lease and tenant isolation. Messages with old timestamps are written straight into
//! the core schema (0016). Spec: chime-zh.md §1.9, §2.6; chime-ko.md §2.1.7.

use carillon_awsapi::generated::chime::*;
use carillon_chime::retention::{
    apply_all, conversation_period, MemberAccount, RetentionOutcome, RESTORE_WINDOW_MS,
};
use carillon_chime::{Chime, ChimeConfig};
use carillon_core::time::now_millis;
use carillon_core::{ApiError, RequestContext};
use carillon_store::chime::users::ChimeUserRecord;
use support::{envs, in_account, user_row, Env};

mod support;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl Env {
    /// A Chime account of `ctx` of `account_type` (`Team`, `EnterpriseLWA`, …).
    async fn account_of_type(&self, ctx: &RequestContext, account_type: &str) -> String {
        let account = self.create_account(ctx, "Example Sales").await;
        let mut record = self
            .test
            .store
            .chime_account(&ctx.account_id, &account.account_id, 0)
            .await
            .unwrap()
            .unwrap();
        record.account_type = account_type.to_string();
        self.test.store.update_chime_account(&record).await.unwrap();
        account.account_id
    }

    /// A registered user of Chime account `chime_account_id` of tenant `account_id`, or an
    /// unmanaged identity (both `None`).
    async fn user(&self, account: Option<(&str, &str)>) -> String {
        let mut user = ChimeUserRecord {
            license_type: None,
            ..user_row("")
        };
        user.primary_email = format!("{}@example.com", user.user_id);
        if let Some((account_id, chime_account_id)) = account {
            user = in_account(account_id, chime_account_id, user);
        }
        self.insert_user(user).await
    }

    async fn room(&self, account_id: &str, chime_account_id: &str) -> String {
        let room_id = carillon_core::ids::new_uuid();
        self.test
            .exec(
                "INSERT INTO chime_rooms (room_id, account_id, chime_account_id, name, \
                 created_at, updated_at) VALUES ($1, $2, $3, 'room', 0, 0)",
                &[&room_id, account_id, chime_account_id],
            )
            .await;
        room_id
    }

    async fn conversation(&self, members: &[&str]) -> String {
        let id = carillon_core::ids::new_uuid();
        self.test
            .exec(
                "INSERT INTO chime_conversations (conversation_id, is_group, created_by, created_at) \
                 VALUES ($1, 1, $2, 0)",
                &[&id, members[0]],
            )
            .await;
        for member in members {
            self.test
                .exec(
                    "INSERT INTO chime_conversation_members (conversation_id, user_id, joined_at) \
                     VALUES ($1, $2, 0)",
                    &[&id, member],
                )
                .await;
        }
        id
    }

    /// A message of `sender` in container `container_id` sent `age_days` before now.
    async fn message(
        &self,
        container_type: &str,
        container_id: &str,
        sender: &str,
        age_days: i64,
    ) -> String {
        self.insert_message(
            container_type,
            container_id,
            sender,
            now_millis() - age_days * DAY_MS,
        )
        .await
    }

    /// The visible messages of `container_id`, oldest first.
    async fn visible(&self, container_id: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT message_id FROM chime_messages WHERE container_id = $1 \
             AND hidden_at IS NULL ORDER BY created_at",
        )
        .bind(container_id)
        .fetch_all(self.test.pool())
        .await
        .unwrap()
    }

    /// Every stored message of `container_id`, hidden or not.
    async fn stored(&self, container_id: &str) -> usize {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT message_id FROM chime_messages WHERE container_id = $1")
                .bind(container_id)
                .fetch_all(self.test.pool())
                .await
                .unwrap();
        ids.len()
    }

    async fn put(
        &self,
        ctx: &RequestContext,
        account: &str,
        room: Option<i32>,
        conversation: Option<i32>,
    ) -> Result<PutRetentionSettingsResponse, ApiError> {
        self.chime
            .put_retention_settings(
                ctx,
                PutRetentionSettingsRequest {
                    account_id: account.to_string(),
                    retention_settings: RetentionSettings {
                        room_retention_settings: Some(RoomRetentionSettings {
                            retention_days: room,
                        }),
                        conversation_retention_settings: Some(ConversationRetentionSettings {
                            retention_days: conversation,
                        }),
                    },
                },
            )
            .await
    }

    async fn get(
        &self,
        ctx: &RequestContext,
        account: &str,
    ) -> Result<GetRetentionSettingsResponse, ApiError> {
        self.chime
            .get_retention_settings(
                ctx,
                GetRetentionSettingsRequest {
                    account_id: account.to_string(),
                },
            )
            .await
    }
}

fn days(settings: &RetentionSettings) -> (Option<i32>, Option<i32>) {
    (
        settings
            .room_retention_settings
            .as_ref()
            .and_then(|s| s.retention_days),
        settings
            .conversation_retention_settings
            .as_ref()
            .and_then(|s| s.retention_days),
    )
}

#[tokio::test]
async fn settings_are_for_enterprise_accounts_with_periods_of_1_to_5475_days() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let enterprise = env.account_of_type(&ctx, "EnterpriseLWA").await;
        let team = env.account_of_type(&ctx, "Team").await;

        let fresh = env.get(&ctx, &enterprise).await.unwrap();
        assert_eq!(
            days(fresh.retention_settings.as_ref().unwrap()),
            (None, None),
            "{}",
            env.test.label
        );
        assert!(fresh.initiate_deletion_timestamp.is_none());

        let err = env.put(&ctx, &team, Some(30), None).await.unwrap_err();
        assert_eq!(err.code, "ForbiddenException");
        assert_eq!(
            env.get(&ctx, &team).await.unwrap_err().code,
            "ForbiddenException"
        );

        for bad in [0, 5476, -1] {
            let err = env
                .put(&ctx, &enterprise, Some(bad), None)
                .await
                .unwrap_err();
            assert_eq!(err.code, "BadRequestException");
            assert!(
                err.message.contains("RoomRetentionSettings.RetentionDays"),
                "{}",
                err.message
            );
            let err = env
                .put(&ctx, &enterprise, None, Some(bad))
                .await
                .unwrap_err();
            assert!(err
                .message
                .contains("ConversationRetentionSettings.RetentionDays"));
        }
        assert_eq!(
            env.put(&ctx, "no-such-account", Some(1), None)
                .await
                .unwrap_err()
                .code,
            "NotFoundException"
        );
        assert_eq!(
            env.put(&ctx, " ", Some(1), None).await.unwrap_err().code,
            "BadRequestException"
        );

        let before = now_millis();
        let put = env
            .put(&ctx, &enterprise, Some(1), Some(5475))
            .await
            .unwrap();
        assert_eq!(
            days(put.retention_settings.as_ref().unwrap()),
            (Some(1), Some(5475))
        );
        let got = env.get(&ctx, &enterprise).await.unwrap();
        assert_eq!(
            days(got.retention_settings.as_ref().unwrap()),
            (Some(1), Some(5475))
        );
        let deletion = got.initiate_deletion_timestamp.unwrap();
        let deletion_ms = deletion.0.timestamp_millis();
        assert!(deletion_ms >= before + RESTORE_WINDOW_MS);
        assert!(deletion_ms <= now_millis() + RESTORE_WINDOW_MS);

        // Another tenant sees none of it.
        let other = env.tenant().await;
        assert_eq!(
            env.get(&other, &enterprise).await.unwrap_err().code,
            "NotFoundException"
        );
        assert_eq!(
            env.put(&other, &enterprise, None, None)
                .await
                .unwrap_err()
                .code,
            "NotFoundException"
        );

        // A deleted account is gone for these operations.
        env.chime
            .delete_account(
                &ctx,
                DeleteAccountRequest {
                    account_id: enterprise.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            env.get(&ctx, &enterprise).await.unwrap_err().code,
            "NotFoundException"
        );
    }
}

#[test]
fn conversation_periods_follow_the_decision_tables() {
    let member = |id: Option<&str>, enterprise: bool, days: Option<i64>| MemberAccount {
        chime_account_id: id.map(str::to_string),
        enterprise,
        conversation_days: days,
    };
    let e1 = member(Some("e1"), true, Some(30));
    let e1_again = e1.clone();
    let e2_off = member(Some("e2"), true, None);
    let team = member(Some("t"), false, None);
    let unmanaged = member(None, false, None);
    // Only members of one Enterprise account: its setting.
    assert_eq!(conversation_period(&[e1.clone(), e1_again]), Some(30));
    assert_eq!(conversation_period(&[e2_off.clone(), e2_off.clone()]), None);
    // With anyone outside it: 90 days, once an Enterprise account involved uses retention.
    assert_eq!(conversation_period(&[e1.clone(), team.clone()]), Some(90));
    assert_eq!(
        conversation_period(&[e1.clone(), unmanaged.clone()]),
        Some(90)
    );
    assert_eq!(conversation_period(&[e1.clone(), e2_off.clone()]), Some(90));
    assert_eq!(conversation_period(&[e2_off.clone(), team.clone()]), None);
    // No Enterprise member: not applicable.
    assert_eq!(
        conversation_period(&[team.clone(), unmanaged.clone()]),
        None
    );
    assert_eq!(conversation_period(&[team.clone(), team]), None);
}

#[tokio::test]
async fn messages_past_the_period_are_hidden_and_restored_within_the_window() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let enterprise = env.account_of_type(&ctx, "EnterpriseOIDC").await;
        let a = env.user(Some((&ctx.account_id, &enterprise))).await;
        let b = env.user(Some((&ctx.account_id, &enterprise))).await;
        let room = env.room(&ctx.account_id, &enterprise).await;
        let room_old = env.message("room", &room, &a, 10).await;
        let room_new = env.message("room", &room, &b, 2).await;
        let conversation = env.conversation(&[&a, &b]).await;
        let conv_old = env.message("conversation", &conversation, &a, 40).await;
        let conv_new = env.message("conversation", &conversation, &b, 5).await;

        // Put applies at once: what is past the new periods is hidden.
        env.put(&ctx, &enterprise, Some(7), Some(30)).await.unwrap();
        assert_eq!(
            env.visible(&room).await,
            vec![room_new.clone()],
            "{}",
            env.test.label
        );
        assert_eq!(env.visible(&conversation).await, vec![conv_new.clone()]);

        // Extending the room period restores what it no longer covers.
        env.put(&ctx, &enterprise, Some(15), Some(30))
            .await
            .unwrap();
        assert_eq!(
            env.visible(&room).await,
            vec![room_old.clone(), room_new.clone()]
        );
        // Shortening hides again; turning retention off restores everything.
        env.put(&ctx, &enterprise, Some(1), Some(1)).await.unwrap();
        assert!(env.visible(&room).await.is_empty());
        assert!(env.visible(&conversation).await.is_empty());
        env.put(&ctx, &enterprise, None, None).await.unwrap();
        assert_eq!(env.visible(&room).await, vec![room_old, room_new]);
        assert_eq!(env.visible(&conversation).await, vec![conv_old, conv_new]);
        assert!(env
            .get(&ctx, &enterprise)
            .await
            .unwrap()
            .initiate_deletion_timestamp
            .is_none());
    }
}

#[tokio::test]
async fn rooms_follow_their_account_and_mixed_conversations_keep_90_days() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let e1 = env.account_of_type(&ctx, "EnterpriseLWA").await;
        let e2 = env.account_of_type(&ctx, "EnterpriseAD").await;
        let team = env.account_of_type(&ctx, "Team").await;
        let e1_user = env.user(Some((&ctx.account_id, &e1))).await;
        let e2_user = env.user(Some((&ctx.account_id, &e2))).await;
        let team_user = env.user(Some((&ctx.account_id, &team))).await;
        let unmanaged = env.user(None).await;

        // A room of e2 with an e1 member follows e2 (off); a Team room keeps everything.
        let e2_room = env.room(&ctx.account_id, &e2).await;
        env.message("room", &e2_room, &e1_user, 400).await;
        let team_room = env.room(&ctx.account_id, &team).await;
        env.message("room", &team_room, &e1_user, 400).await;
        let e1_room = env.room(&ctx.account_id, &e1).await;
        env.message("room", &e1_room, &e2_user, 400).await;
        let e1_room_kept = env.message("room", &e1_room, &e2_user, 100).await;

        let with_team = env.conversation(&[&e1_user, &team_user]).await;
        env.message("conversation", &with_team, &team_user, 100)
            .await;
        let with_team_kept = env
            .message("conversation", &with_team, &team_user, 50)
            .await;
        let with_unmanaged = env.conversation(&[&e1_user, &unmanaged]).await;
        env.message("conversation", &with_unmanaged, &unmanaged, 91)
            .await;
        let with_e2 = env.conversation(&[&e1_user, &e2_user]).await;
        env.message("conversation", &with_e2, &e2_user, 95).await;
        let only_outside = env.conversation(&[&team_user, &unmanaged]).await;
        let outside_kept = env
            .message("conversation", &only_outside, &team_user, 4000)
            .await;
        let e2_colleague = env.user(Some((&ctx.account_id, &e2))).await;
        let only_e2 = env.conversation(&[&e2_user, &e2_colleague]).await;
        let e2_kept = env.message("conversation", &only_e2, &e2_user, 4000).await;

        // e1 keeps rooms 365 days and its own conversations 3,650: mixed ones keep 90.
        env.put(&ctx, &e1, Some(365), Some(3650)).await.unwrap();
        assert_eq!(env.visible(&e2_room).await.len(), 1, "{}", env.test.label);
        assert_eq!(env.visible(&team_room).await.len(), 1);
        assert_eq!(env.visible(&e1_room).await, vec![e1_room_kept]);
        assert_eq!(env.visible(&with_team).await, vec![with_team_kept]);
        assert!(env.visible(&with_unmanaged).await.is_empty());
        assert!(env.visible(&with_e2).await.is_empty());
        assert_eq!(env.visible(&only_outside).await, vec![outside_kept]);
        assert_eq!(env.visible(&only_e2).await, vec![e2_kept]);

        // The job's pass finds the same and changes nothing more.
        let outcome = apply_all(&env.test.store, now_millis()).await.unwrap();
        assert_eq!(outcome.hidden, 0);
        assert_eq!(outcome.restored, 0);
    }
}

#[tokio::test]
async fn hidden_messages_are_purged_after_30_days_and_cannot_come_back() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let enterprise = env.account_of_type(&ctx, "EnterpriseLWA").await;
        let a = env.user(Some((&ctx.account_id, &enterprise))).await;
        let room = env.room(&ctx.account_id, &enterprise).await;
        env.message("room", &room, &a, 20).await;
        let recent = env.message("room", &room, &a, 0).await;
        env.put(&ctx, &enterprise, Some(10), None).await.unwrap();
        assert_eq!(env.visible(&room).await, vec![recent.clone()]);

        // 29 days on, the hidden message is still there to restore; the recent one is now
        // past 10 days and hidden too.
        let outcome = apply_all(&env.test.store, now_millis() + 29 * DAY_MS)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            RetentionOutcome {
                hidden: 1,
                restored: 0,
                purged: 0
            },
            "{}",
            env.test.label
        );
        assert_eq!(env.stored(&room).await, 2);
        // 31 days on, the first is gone for good; the second has a day of its window left.
        let outcome = apply_all(&env.test.store, now_millis() + 31 * DAY_MS)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            RetentionOutcome {
                hidden: 0,
                restored: 0,
                purged: 1
            }
        );
        assert_eq!(env.stored(&room).await, 1);
        env.put(&ctx, &enterprise, None, None).await.unwrap();
        assert_eq!(env.visible(&room).await, vec![recent]);
    }
}

#[tokio::test]
async fn one_node_at_a_time_runs_the_job() {
    for env in envs().await {
        let other = Chime::with_config(
            env.test.store.clone(),
            ChimeConfig {
                node_id: "another-node".to_string(),
                ..ChimeConfig::default()
            },
        )
        .await
        .unwrap();
        let first = carillon_chime::chat_retention_job::run_once(&env.chime)
            .await
            .unwrap();
        assert!(first.is_some(), "{}", env.test.label);
        assert!(carillon_chime::chat_retention_job::run_once(&other)
            .await
            .unwrap()
            .is_none());
        assert!(carillon_chime::chat_retention_job::run_once(&env.chime)
            .await
            .unwrap()
            .is_some());
    }
}
