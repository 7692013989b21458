//! End-to-end tests of the real binary, driven by clients nobody here wrote (the `aws` CLI,
//! boto3, smtplib, imaplib, aiosmtpd) through the scripts in `tests/e2e/`.
//!
//! They need the Python clients from `scripts/test-env` (`CARILLON_TEST_PYTHON`, set by
//! `scripts/test`). Without them a test says why and skips — except under CI (`CI` set),
//! where that is a failure. The main job runs on the shared real-mail corpus
//! (`../shared/corpora/mail`); on a clone without it, it says so and runs on the messages
//! written for the tests (`tests/corpus/mail`) instead.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// `true` when the test may run; otherwise explains why not (and fails under CI).
fn prerequisite(present: bool, what: &str) -> bool {
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} (required under CI)"
        );
        eprintln!("SKIPPED: {what}");
    }
    present
}

/// Runs `tests/e2e/<script>` with the binary and `args`; fails with its output unless every
/// check in it passed.
fn run_script(script: &str, args: &[OsString]) {
    let Some(python) = std::env::var_os("CARILLON_TEST_PYTHON") else {
        prerequisite(false, "CARILLON_TEST_PYTHON is not set; run scripts/test");
        return;
    };
    // The scripts' temporary data directories go under one directory per run, removed when
    // the script passes (kept to look at when it fails).
    // Unique per call: two tests may run the same script at once (SQLite and PostgreSQL).
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let scratch = std::env::temp_dir().join(format!(
        "carillon-e2e-{}-{}-{}",
        script.trim_end_matches(".py"),
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let output = Command::new(python)
        .env("TMPDIR", &scratch)
        .arg(workspace_root().join("tests/e2e").join(script))
        .arg("--carillon")
        .arg(env!("CARGO_BIN_EXE_carillon"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running tests/e2e/{script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // Best effort: a process the script started may still be closing a file in it.
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Issue 2 §8: organization provisioned with the aws CLI, 263 real messages in over SMTP and
/// out over IMAP, the external peer, flags/MOVE/EXPUNGE, tenant isolation, read-only key,
/// wrong signature, boto3.
#[test]
fn main_job_on_real_input() {
    run_script("main_job.py", &mail_corpus());
}

/// `main_job.py`'s corpus arguments: the shared real-mail corpus and its 263 messages, or,
/// where it is absent (a failure under CI), the repository's own messages.
fn mail_corpus() -> Vec<OsString> {
    let shared = workspace_root().join("../shared/corpora/mail");
    let (corpus, count) = if shared.join("default").is_dir() {
        (shared, 263)
    } else {
        prerequisite(
            false,
            &format!(
                "the shared corpus is not at {}; running on tests/corpus/mail instead",
                shared.display()
            ),
        );
        (workspace_root().join("tests/corpus/mail"), 12)
    };
    vec![
        "--corpus".into(),
        corpus.into_os_string(),
        "--count".into(),
        count.to_string().into(),
    ]
}

/// Runs `script` with `args` and the metadata in a fresh PostgreSQL schema, when
/// `CARILLON_TEST_DATABASE_URL` names a server (skipped otherwise: the SQLite run covers the
/// rest). The schema lives until the script ends.
async fn run_script_on_postgresql(script: &'static str, mut args: Vec<OsString>) {
    if std::env::var_os(carillon_store::testing::TEST_DATABASE_URL_VAR).is_none() {
        eprintln!(
            "SKIPPED: CARILLON_TEST_DATABASE_URL is not set (the SQLite run covers the rest)"
        );
        return;
    }
    let postgres = carillon_store::testing::test_stores()
        .await
        .into_iter()
        .find(|s| s.label == "postgres")
        .expect("a PostgreSQL test store");
    args.extend(["--database-url".into(), postgres.database_url().into()]);
    tokio::task::spawn_blocking(move || run_script(script, &args))
        .await
        .unwrap_or_else(|e| panic!("{script} on PostgreSQL: {e}"));
}

/// The main job again with the metadata in PostgreSQL (the scale-out store): the binary, its
/// subcommands and migrations on a fresh schema.
#[tokio::test(flavor = "multi_thread")]
async fn main_job_on_postgresql() {
    run_script_on_postgresql("main_job.py", mail_corpus()).await;
}

/// Issue 9 §9: the README's walkthroughs (WorkMail, then Chime), pasted block by block into a
/// shell beside `carillon serve` on its embedded defaults, work to the end without DNS.
#[test]
fn readme_walkthroughs_work_as_written() {
    run_script("readme.py", &[]);
}

/// Issue 2 §9: kill -9 during delivery, restart: nothing acknowledged lost, nothing partial
/// visible, the outbound queue resumes.
#[test]
fn kill_during_delivery_loses_nothing_acknowledged() {
    run_script("crash.py", &[]);
}

/// Issue 2 §9: constraint violations name the member, malformed JSON, malformed SMTP and IMAP
/// commands leave the session usable, an oversize message is refused.
#[test]
fn bad_input_gets_clear_errors() {
    run_script("bad_input.py", &[]);
}

/// Issue 3 §5 (workmail.md §2.24): journaling configured through Carillon's own admin API
/// (SigV4 service `carillon`); one journal record per message, inbound and submitted.
#[test]
fn journaling_records_every_message_once() {
    run_script("journaling.py", &[]);
}

/// Issue 3 §3 (workmail.md §2.8, §2.9): email flow rules and SMTP gateways through Carillon's
/// admin API; every inbound and outbound action (a TLS + AUTH gateway, an unreachable one
/// bouncing), precedence on overlapping patterns, TestEmailFlowRules agreeing with delivery,
/// and bad input answered with the model's errors.
#[test]
fn flow_rules_apply_every_action() {
    run_script("flow_rules.py", &[]);
}

/// The flow rules script again with the metadata in PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
async fn flow_rules_on_postgresql() {
    run_script_on_postgresql("flow_rules.py", Vec::new()).await;
}

/// Issue 3 §8 (workmail.md §2.22, §4.8): a mailbox exported through the aws CLI; every
/// exported message equals what IMAP returns, with the output log, checksums and limits.
#[test]
fn mailbox_export_matches_the_mailbox() {
    run_script("export.py", &[]);
}

/// Issue 3 §9 (workmail.md §5.3, §2.6): keys through Carillon's admin API, an organization
/// created with one (bogus KmsKeyArns refused), messages in by the MX, submission (local and
/// foreign), IMAP APPEND and journaling read back unchanged with imaplib (also after a
/// restart), an export sealed under the key; then no marker of any message in any file of
/// the data directory.
#[test]
fn encryption_at_rest_leaves_no_plaintext() {
    run_script("encryption.py", &[]);
}

/// Issue 3 §6 (workmail.md §2.12): a retention policy put with the aws CLI; the retention job
/// (every second here) moves aged INBOX items to Deleted Items and expunges aged junk over
/// IMAP, while younger items stay.
#[test]
fn retention_deletes_aged_items() {
    run_script("retention.py", &[]);
}

/// Issue 3 §1–2 (workmail.md §1.3, §2.25): outbound mail carries a DKIM signature dkimpy
/// verifies against the record GetMailDomain lists; forged mail under DMARC p=reject gets
/// 550 5.7.1, under p=quarantine lands in Junk E-mail, and in INBOX once enforcement is off.
#[test]
fn mail_authentication() {
    run_script("mail_auth.py", &[]);
}

/// Issue 3 §7 (workmail.md §4.1, §4.3): email monitoring put with the aws CLI; the event log
/// lines of inbound, refused, submitted and sent mail (one traceId per message) and the
/// Prometheus metrics on `/metrics` after the same traffic and a failed IMAP login.
#[test]
fn email_event_log_and_metrics() {
    run_script("monitoring.py", &[]);
}

/// Issue 3 §7 (workmail.md §4.2, §5.4): audit-log deliveries through the Carillon API;
/// AUTHENTICATION_LOGS and WORKMAIL_MAILBOX_ACCESS_LOGS as JSON lines for imaplib logins,
/// IMAP operations and an smtplib submission; ACCESS_CONTROL_LOGS POSTed to an HTTP sink; bad
/// deliveries refused naming the field; nothing after Delete.
#[test]
fn audit_logs_to_files_and_http() {
    run_script("audit_logs.py", &[]);
}

/// Issue 3 §4 (workmail.md §2.10, §4.5, §4.10): flow-rule hooks over HTTPS with signed §4.5
/// events; a synchronous hook rewriting the subject through boto3 GetRawMessageContent,
/// s3.put_object and PutRawMessageContent; slow, oversize and malformed hooks falling back;
/// an asynchronous hook alongside delivery; message-flow and S3 errors and tenant isolation.
#[test]
fn flow_hooks_and_message_flow() {
    run_script("hooks.py", &[]);
}

/// Issue 4 §1 (chime-zh.md §1.2, §2.3–§2.5): Chime accounts with the real `aws chime` CLI:
/// create (Team, Active, Pro), get, list with the Name filter paged by the CLI, update,
/// settings, bad input, tenant isolation, a read-only key, and the delete lifecycle.
#[test]
fn chime_accounts_with_the_aws_cli() {
    run_script("chime_accounts.py", &[]);
}

/// Issue 4 §1–§2 (chime-zh.md §1.2–§1.4, §2.7, §2.12): `aws chime invite-users` mails an
/// invitation into a Carillon mailbox (imaplib), registration from its link (urllib: the
/// form, a weak password refused, single use), `get-user` Registered; create/list/update
/// users, chat sign-in ended by `logout-user`, PIN reset, settings; a domain claimed and
/// verified through the DNS stub makes an account Enterprise, whose invitee joins it and is
/// suspended (sign-in refused) and unsuspended; domain removal releases; another tenant
/// sees none of it.
#[test]
fn chime_users_with_the_aws_cli_imap_and_registration() {
    run_script("chime_users.py", &[]);
}

/// The users end to end again with the metadata in PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
async fn chime_users_on_postgresql() {
    run_script_on_postgresql("chime_users.py", vec![]).await;
}

/// Issue 4 §7 (chime-zh.md §1.12, §2.13, §2.14, §4): phone numbers imported with
/// `carillon phone-numbers import` (bad lines refused with their line numbers), then with
/// the real `aws chime` CLI searched, ordered (polled to Successful), listed, renamed (the
/// 7-day throttle), assigned to a user and unassigned, deleted and restored; settings; a
/// port-in through the Carillon API; another tenant sees none of it.
#[test]
fn chime_phone_numbers_with_the_aws_cli() {
    run_script("chime_phone_numbers.py", &[]);
}

/// Issue 4 §3 (chime-zh.md §1.10, §2.6): two users invited with `aws chime invite-users`
/// register from their mailed links and chat in a room the administrator made with
/// `aws chime create-room` / `create-room-membership`, in real time over the
/// `/chat/v1/stream` WebSocket (the PyPI `websockets` client): a message within 100 ms, an
/// @mention, an edit, `redact-room-message` and `redact-conversation-message` seen by the
/// clients, membership changes, presence, `logout-user` closing a stream, `delete-room`
/// purging the room; another tenant sees none of it.
#[test]
fn chime_chat_in_real_time() {
    run_script("chime_chat.py", &[]);
}

/// Issue 4 §5–§6 (chime-zh.md §1.16–§1.18, §2.18, §3.2, §3.3): a bot written with the
/// standard library (HTTPS, its certificate trusted with `--trusted-ca-file`, checking
/// `Chime-Signature` itself) registered with `aws chime create-bot` and
/// `put-events-configuration` on an Enterprise account, receiving Invite, an @mention from a
/// registered user and Remove, its reply through the reply URL in the room's history; and
/// each incoming-webhook limit answered with its code.
#[test]
fn chime_bots_and_webhooks() {
    run_script("chime_bots.py", &[]);
}

/// The bots and webhooks end to end again with the metadata in PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
async fn chime_bots_and_webhooks_on_postgresql() {
    run_script_on_postgresql("chime_bots.py", vec![]).await;
}

/// Issue 4 §4 and §8 (chime-zh.md §2.6, §2.17; chime-ko.md §2.0.1, §2.0.6, §2.0.7, §3.1):
/// `aws chime put-retention-settings` on an Enterprise account hides old room history at
/// once, the job (every second here) hides what ages out, extending or turning retention off
/// restores it within the 30-day window; the room member-list and contacts CSV exports; a
/// weekly usage report with the documented header and key read back with boto3 from the S3
/// endpoint, and the report figures. The old messages are written into the SQLite database
/// (a message's time is the server's clock when posted; see the script).
#[test]
fn chime_retention_reports_and_exports() {
    run_script("chime_retention_reports.py", &[]);
}

/// The phone-number run again with the metadata in PostgreSQL (the import subcommand and
/// the server on one fresh schema).
#[tokio::test(flavor = "multi_thread")]
async fn chime_phone_numbers_on_postgresql() {
    run_script_on_postgresql("chime_phone_numbers.py", vec![]).await;
}

/// The chat end to end again with the metadata in PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
async fn chime_chat_in_real_time_on_postgresql() {
    run_script_on_postgresql("chime_chat.py", vec![]).await;
}
