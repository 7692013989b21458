//! Usage reports and report figures on SQLite and (when `CARILLON_TEST_DATABASE_URL` is set)
//! PostgreSQL: the Sunday–Saturday UTC week, the object key, the reporting switch with the
//! guide's bucket rules and bucket ownership, the CSV (exact header, one row per user,
//! messages of the week, last login), each past week written once by the job, on-demand
//! reports, the figures and tenant isolation; the room member-list and personal contacts
//! exports (chime-ko.md §2.0.6, §2.0.7). Users and messages with old timestamps are
//! written straight into the core schema (0016). Spec: chime-ko.md §2.0.1, §3.1; chime-zh.md
//! §2.17.

use carillon_adminapi::CarillonOperation;
use carillon_chime::exports;
use carillon_chime::reports::*;
use carillon_chime::sessions::SessionUser;
use carillon_core::time::now_millis;
use carillon_core::{ApiError, RequestContext};
use carillon_store::chime::reports as store;
use carillon_store::chime::users::ChimeUserRecord;
use support::{envs, in_account, user_row, Env};

mod support;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// 2024-11-03T00:00:00Z, a Sunday (the guide's example week).
const NOV_3_2024: i64 = 1_730_592_000_000;

impl Env {
    /// A Chime account named `name`, created `created_at` (epoch ms).
    async fn account_created(&self, ctx: &RequestContext, name: &str, created_at: i64) -> String {
        let id = self.account(ctx, name).await;
        self.test
            .exec(
                "UPDATE chime_accounts SET created_at = CAST($2 AS BIGINT) WHERE chime_account_id = $1",
                &[&id, &created_at.to_string()],
            )
            .await;
        id
    }

    /// A user of `chime_account_id`, created and registered at `created_at`.
    async fn user(
        &self,
        ctx: &RequestContext,
        chime_account_id: &str,
        name: &str,
        status: &str,
        created_at: i64,
    ) -> String {
        let mut user = in_account(
            &ctx.account_id,
            chime_account_id,
            ChimeUserRecord {
                display_name: Some(name.to_string()),
                license_type: None,
                registration_status: status.to_string(),
                registered_at: (status != "Unregistered").then_some(created_at),
                created_at,
                ..user_row("")
            },
        );
        user.primary_email = format!(
            "{}-{}@example.com",
            name.to_lowercase().replace(' ', "."),
            &user.user_id[..8]
        );
        self.insert_user(user).await
    }

    /// A room message of `sender` at `at` (epoch ms).
    async fn message(&self, sender: &str, at: i64) {
        self.insert_message("room", "some-room", sender, at).await;
    }

    async fn email_of(&self, user_id: &str) -> String {
        sqlx::query_scalar("SELECT primary_email FROM chime_users WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(self.test.pool())
            .await
            .unwrap()
    }

    /// The plaintext of a report object, as the S3 endpoint's GetObject opens it.
    async fn object(&self, bucket: &str, key: &str) -> String {
        let sealed = self
            .test
            .store
            .s3_object(bucket, key)
            .await
            .unwrap()
            .unwrap();
        let keyring = self.test.store.keyring().unwrap();
        let context = carillon_kms::EncryptionContext::s3(&format!("arn:aws:s3:::{bucket}/{key}"));
        let plain = carillon_kms::object::open_object(keyring.provider(), &context, &sealed)
            .await
            .unwrap();
        String::from_utf8(plain).unwrap()
    }

    async fn enable(
        &self,
        ctx: &RequestContext,
        bucket: &str,
    ) -> Result<UsageReportingOutput, ApiError> {
        EnableUsageReporting(self.chime.clone())
            .call(
                ctx,
                EnableUsageReportingInput {
                    bucket: bucket.to_string(),
                },
            )
            .await
    }

    async fn write(
        &self,
        ctx: &RequestContext,
        account: &str,
        week: &str,
    ) -> Result<WriteUsageReportOutput, ApiError> {
        WriteUsageReport(self.chime.clone())
            .call(
                ctx,
                WriteUsageReportInput {
                    account_id: account.to_string(),
                    week_start: week.to_string(),
                },
            )
            .await
    }

    async fn figures(
        &self,
        ctx: &RequestContext,
        account: &str,
        start: Option<&str>,
        end: Option<&str>,
    ) -> Result<UsageReportFiguresOutput, ApiError> {
        GetUsageReportFigures(self.chime.clone())
            .call(
                ctx,
                UsageReportFiguresInput {
                    account_id: account.to_string(),
                    start_date: start.map(str::to_string),
                    end_date: end.map(str::to_string),
                },
            )
            .await
    }
}

fn bucket_name() -> String {
    carillon_store::testing::unique_name("reports-")
}

#[test]
fn weeks_run_from_sunday_midnight_utc() {
    assert_eq!(week_start(NOV_3_2024), NOV_3_2024);
    assert_eq!(week_start(NOV_3_2024 + 7 * DAY_MS - 1), NOV_3_2024);
    assert_eq!(week_start(NOV_3_2024 - 1), NOV_3_2024 - 7 * DAY_MS);
    assert_eq!(week_start(NOV_3_2024 + 3 * DAY_MS + 5), NOV_3_2024);
    // The first week reported starts at the next Sunday midnight.
    assert_eq!(first_week(NOV_3_2024 + 1), NOV_3_2024 + 7 * DAY_MS);
    assert_eq!(first_week(NOV_3_2024), NOV_3_2024);
}

#[test]
fn bucket_names_follow_the_guides_rules() {
    for good in ["abc", "my-reports.2024", "0reports", &"a".repeat(63)] {
        assert!(valid_bucket(good), "{good}");
    }
    for bad in [
        "ab",
        &"a".repeat(64),
        "Reports",
        "-reports",
        ".reports",
        "reports-",
        "reports.",
        "re..ports",
        "re.-ports",
        "re-.ports",
        "192.168.1.1",
        "re_ports",
    ] {
        assert!(!valid_bucket(bad), "{bad}");
    }
}

#[tokio::test]
async fn the_weekly_csv_has_the_documented_header_key_and_rows() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env
            .account_created(&ctx, "Example Sales", NOV_3_2024 - 400 * DAY_MS)
            .await;
        let early = NOV_3_2024 - 300 * DAY_MS;
        let alejandro = env
            .user(&ctx, &account, "Alejandro Rosalez", "Registered", early)
            .await;
        env.user(&ctx, &account, "Akua Mansa", "Suspended", early)
            .await;
        env.user(
            &ctx,
            &account,
            "Later, Person",
            "Registered",
            NOV_3_2024 + 8 * DAY_MS,
        )
        .await;
        // In the week: two messages; before and after it: not counted.
        env.message(&alejandro, NOV_3_2024).await;
        env.message(&alejandro, NOV_3_2024 + 7 * DAY_MS - 1).await;
        env.message(&alejandro, NOV_3_2024 - 1).await;
        env.message(&alejandro, NOV_3_2024 + 7 * DAY_MS).await;
        // 2024-10-19T07:04:40Z, the guide's sample last login.
        store::record_sign_in(&env.test.store, &alejandro, 1_729_321_480_000)
            .await
            .unwrap();

        // Off: nothing to write to.
        let err = env.write(&ctx, &account, "20241103").await.unwrap_err();
        assert_eq!(err.code, "ConflictException", "{}", env.test.label);

        let bucket = bucket_name();
        let on = env.enable(&ctx, &bucket).await.unwrap();
        assert!(on.enabled);
        assert_eq!(on.bucket.as_deref(), Some(bucket.as_str()));
        for (week, problem) in [
            ("20241104", "Sunday"),
            ("2024-11-31", "date"),
            ("nov 3", "date"),
        ] {
            let err = env.write(&ctx, &account, week).await.unwrap_err();
            assert_eq!(err.code, "BadRequestException", "{week}");
            assert!(
                err.message.contains("WeekStart") && err.message.contains(problem),
                "{}",
                err.message
            );
        }
        // This week (and any later one) has not ended.
        let err = env
            .write(&ctx, &account, &chrono_date(week_start(now_millis())))
            .await
            .unwrap_err();
        assert!(err.message.contains("not ended"), "{}", err.message);

        let written = env.write(&ctx, &account, "2024-11-03").await.unwrap();
        assert_eq!(written.bucket, bucket);
        assert_eq!(
            written.key,
            format!(
                "Amazon-Chime-User-Activity-Reports/csv/{}/2024/11/03/ExampleSales_{account}_20241103.csv",
                ctx.account_id
            )
        );
        let csv = env.object(&bucket, &written.key).await;
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "account_name,week_start,display_name,email,registration_status,account_creation_date,last_login,meetings_attended,meetings_hosted,chat_sent"
        );
        assert_eq!(lines.len(), 3, "{csv}");
        let created = chrono_date(early);
        let alejandro_line = lines.iter().find(|l| l.contains("Alejandro")).unwrap();
        assert!(alejandro_line
            .starts_with("Example Sales,20241103,Alejandro Rosalez,alejandro.rosalez-"));
        assert!(alejandro_line.ends_with(&format!(
            ",Registered,{created},2024-10-19T07:04:40.000Z,0,0,2"
        )));
        let akua_line = lines.iter().find(|l| l.contains("Akua")).unwrap();
        assert!(
            akua_line.ends_with(&format!(",Suspended,{created},,0,0,0")),
            "{akua_line}"
        );

        // Another tenant can neither write this account's report nor take the bucket.
        let other = env.tenant().await;
        assert_eq!(
            env.write(&other, &account, "20241103")
                .await
                .unwrap_err()
                .code,
            "NotFoundException"
        );
        assert_eq!(
            env.enable(&other, &bucket).await.unwrap_err().code,
            "ConflictException"
        );
        assert_eq!(
            env.enable(&ctx, "Bad_Bucket").await.unwrap_err().code,
            "BadRequestException"
        );

        // Off again: the report stays.
        let off = DisableUsageReporting(env.chime.clone())
            .call(&ctx, NoInput {})
            .await
            .unwrap();
        assert!(!off.enabled);
        let got = GetUsageReporting(env.chime.clone())
            .call(&ctx, NoInput {})
            .await
            .unwrap();
        assert!(!got.enabled && got.bucket.is_none());
        assert!(env
            .test
            .store
            .s3_object(&bucket, &written.key)
            .await
            .unwrap()
            .is_some());
    }
}

/// `yyyymmdd` of `ms`.
fn chrono_date(ms: i64) -> String {
    carillon_core::time::millis_to_datetime(ms)
        .format("%Y%m%d")
        .to_string()
}

#[tokio::test]
async fn the_job_writes_each_past_week_once_from_the_first_sunday_after_enabling() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let now = now_millis();
        let this_week = week_start(now);
        let account = env
            .account_created(&ctx, "Weekly", this_week - 60 * DAY_MS)
            .await;
        // Created two and a half weeks ago: a brand-new account's past weeks are skipped.
        let young = env
            .account_created(&ctx, "Young", this_week - 10 * DAY_MS)
            .await;
        let bucket = bucket_name();
        env.enable(&ctx, &bucket).await.unwrap();
        // Reporting turned on three and a half weeks ago: its first week started three weeks
        // ago, so three weeks have ended.
        store::put_reporting(
            &env.test.store,
            &store::UsageReportingRecord {
                account_id: ctx.account_id.clone(),
                bucket: bucket.clone(),
                enabled_at: this_week - 24 * DAY_MS,
            },
        )
        .await
        .unwrap();
        let reporting = store::reporting(&env.test.store, &ctx.account_id)
            .await
            .unwrap()
            .unwrap();
        let written = write_due_reports(&env.chime, &reporting, now)
            .await
            .unwrap();
        // Weekly: 3 weeks; Young: the two weeks that ended after it was created.
        assert_eq!(written, 5, "{}", env.test.label);
        assert_eq!(
            write_due_reports(&env.chime, &reporting, now)
                .await
                .unwrap(),
            0
        );
        for weeks_ago in 1..=3 {
            let week = this_week - weeks_ago * 7 * DAY_MS;
            let record = env
                .test
                .store
                .chime_account(&ctx.account_id, &account, 0)
                .await
                .unwrap()
                .unwrap();
            let csv = env.object(&bucket, &object_key(&record, week)).await;
            assert!(csv.starts_with(CSV_HEADER));
        }
        let young_record = env
            .test
            .store
            .chime_account(&ctx.account_id, &young, 0)
            .await
            .unwrap()
            .unwrap();
        assert!(env
            .test
            .store
            .s3_object(&bucket, &object_key(&young_record, this_week - 21 * DAY_MS))
            .await
            .unwrap()
            .is_none());
        // The week in progress is not written.
        assert!(env
            .test
            .store
            .s3_object(&bucket, &object_key(&young_record, this_week))
            .await
            .unwrap()
            .is_none());
    }
}

#[tokio::test]
async fn figures_count_registered_and_active_users_and_messages() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env
            .account_created(&ctx, "Figures", NOV_3_2024 - 100 * DAY_MS)
            .await;
        let early = NOV_3_2024 - 50 * DAY_MS;
        let a = env.user(&ctx, &account, "A", "Registered", early).await;
        let b = env.user(&ctx, &account, "B", "Suspended", early).await;
        env.user(&ctx, &account, "C", "Unregistered", early).await;
        env.user(&ctx, &account, "D", "Registered", NOV_3_2024 + 20 * DAY_MS)
            .await;
        env.message(&a, NOV_3_2024 + DAY_MS).await;
        env.message(&a, NOV_3_2024 + 2 * DAY_MS).await;
        env.message(&b, NOV_3_2024 + 6 * DAY_MS).await;
        env.message(&b, NOV_3_2024 + 7 * DAY_MS).await;

        let figures = env
            .figures(&ctx, &account, Some("2024-11-03"), Some("2024-11-09"))
            .await
            .unwrap();
        assert_eq!(figures.registered_users, 2, "{}", env.test.label);
        assert_eq!(figures.active_users, 2);
        assert_eq!(figures.chat_messages_sent, 3);
        assert_eq!(figures.meetings_held, 0);
        assert_eq!(
            (figures.start_date.as_str(), figures.end_date.as_str()),
            ("2024-11-03", "2024-11-09")
        );
        let one_day = env
            .figures(&ctx, &account, Some("20241104"), Some("20241104"))
            .await
            .unwrap();
        assert_eq!((one_day.active_users, one_day.chat_messages_sent), (1, 1));
        // Defaults: the 30 days to today.
        let recent = env.figures(&ctx, &account, None, None).await.unwrap();
        assert_eq!(recent.chat_messages_sent, 0);
        assert_eq!(recent.registered_users, 3);

        for (start, end, member) in [
            (Some("2024-11-10"), Some("2024-11-09"), "StartDate"),
            (Some("2023-01-01"), Some("2024-11-09"), "366"),
            (Some("2024-13-01"), None, "StartDate"),
            (None, Some("tomorrow"), "EndDate"),
        ] {
            let err = env.figures(&ctx, &account, start, end).await.unwrap_err();
            assert_eq!(err.code, "BadRequestException");
            assert!(err.message.contains(member), "{}", err.message);
        }
        let other = env.tenant().await;
        assert_eq!(
            env.figures(&other, &account, None, None)
                .await
                .unwrap_err()
                .code,
            "NotFoundException"
        );
    }
}

fn session(user_id: &str, ctx: &RequestContext, chime_account_id: &str) -> SessionUser {
    SessionUser {
        user_id: user_id.to_string(),
        account_id: Some(ctx.account_id.clone()),
        chime_account_id: Some(chime_account_id.to_string()),
        email: format!("{user_id}@example.com"),
        display_name: None,
        expires_at: i64::MAX,
    }
}

#[tokio::test]
async fn room_administrators_export_the_member_list() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account_created(&ctx, "Exports", 0).await;
        let admin = env
            .user(&ctx, &account, "Ada, Admin", "Registered", 0)
            .await;
        let member = env.user(&ctx, &account, "", "Registered", 0).await;
        let outsider = env.user(&ctx, &account, "Outsider", "Registered", 0).await;
        let room = carillon_core::ids::new_uuid();
        env.test
            .exec(
                "INSERT INTO chime_rooms (room_id, account_id, chime_account_id, name, created_at, \
                 updated_at) VALUES ($1, $2, $3, 'Sales team', 0, 0)",
                &[&room, &ctx.account_id, &account],
            )
            .await;
        for (id, role) in [(&admin, "Administrator"), (&member, "Member")] {
            env.test
                .exec(
                    "INSERT INTO chime_room_memberships (room_id, member_id, account_id, \
                     member_type, role, updated_at) VALUES ($1, $2, $3, 'User', $4, 0)",
                    &[&room, id, &ctx.account_id, role],
                )
                .await;
        }
        let (name, csv) =
            exports::room_members_csv(&env.chime, &session(&admin, &ctx, &account), &room)
                .await
                .unwrap();
        assert_eq!(name, "Sales team", "{}", env.test.label);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "name,email,role");
        assert_eq!(lines.len(), 3);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("\"Ada, Admin\",\"ada,.admin-")
                    && l.ends_with(",Administrator")),
            "{csv}"
        );
        // A member without a display name is shown by email.
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("-") && l.ends_with(",Member")),
            "{csv}"
        );

        let err = exports::room_members_csv(&env.chime, &session(&member, &ctx, &account), &room)
            .await
            .unwrap_err();
        assert_eq!(err.code, "ForbiddenException");
        for (who, room_id) in [(&outsider, room.as_str()), (&admin, "no-such-room")] {
            let err = exports::room_members_csv(&env.chime, &session(who, &ctx, &account), room_id)
                .await
                .unwrap_err();
            assert_eq!(err.code, "NotFoundException");
        }
    }
}

#[tokio::test]
async fn personal_contacts_hold_100_and_export_as_csv() {
    for env in envs().await {
        let ctx = env.tenant().await;
        let account = env.account_created(&ctx, "Contacts", 0).await;
        let me = env.user(&ctx, &account, "Me", "Registered", 0).await;
        let diego = env
            .user(&ctx, &account, "Diego Ramirez", "Registered", 0)
            .await;
        env.test
            .exec(
                "UPDATE chime_users SET primary_provisioned_number = '+12065550100' WHERE user_id = $1",
                &[&diego],
            )
            .await;
        let caller = session(&me, &ctx, &account);
        let diego_email = env.email_of(&diego).await;
        let listed = exports::add_contact(&env.chime, &caller, &diego_email.to_uppercase())
            .await
            .unwrap();
        assert_eq!(listed.len(), 1, "{}", env.test.label);
        assert_eq!(
            exports::add_contact(&env.chime, &caller, &diego_email)
                .await
                .unwrap()
                .len(),
            1
        );
        let csv = exports::contacts_csv(&env.chime, &caller).await.unwrap();
        assert_eq!(
            csv,
            format!("name,email,phone_number\nDiego Ramirez,{diego_email},+12065550100\n")
        );
        assert_eq!(
            exports::add_contact(&env.chime, &caller, &env.email_of(&me).await)
                .await
                .unwrap_err()
                .code,
            "BadRequestException"
        );
        assert_eq!(
            exports::add_contact(&env.chime, &caller, "nobody@example.com")
                .await
                .unwrap_err()
                .code,
            "NotFoundException"
        );
        for _ in 0..99 {
            let other = env.user(&ctx, &account, "Other", "Registered", 0).await;
            exports::add_contact(&env.chime, &caller, &env.email_of(&other).await)
                .await
                .unwrap();
        }
        let one_more = env.user(&ctx, &account, "One more", "Registered", 0).await;
        let err = exports::add_contact(&env.chime, &caller, &env.email_of(&one_more).await)
            .await
            .unwrap_err();
        assert_eq!(err.code, "ResourceLimitExceededException");
        exports::remove_contact(&env.chime, &caller, &diego)
            .await
            .unwrap();
        assert_eq!(
            exports::remove_contact(&env.chime, &caller, &diego)
                .await
                .unwrap_err()
                .code,
            "NotFoundException"
        );
        assert_eq!(
            exports::contacts(&env.chime, &caller).await.unwrap().len(),
            99
        );
    }
}
