//! Usage reports and report figures, as operations of Carillon's admin API (the original
//! offered them only in its console). Spec: chime-ko.md §1.13, §2.0.1, §2.4.2, §2.7, §3.1;
//! chime-zh.md §2.17.
//!
//! - `EnableUsageReporting` / `GetUsageReporting` / `DisableUsageReporting`
//!   (`/carillon/v1/chime/usage-reporting`): the Global settings > Usage reporting switch of a
//!   Carillon account, naming a bucket of Carillon's S3 endpoint (created for the account when
//!   nobody owns it: "New S3 bucket"; or one it owns: "Existing S3 bucket").
//! - The weekly report of each Chime account of the Carillon account: a CSV with the header
//!   [`CSV_HEADER`], one row per user (zero activity included), for the Sunday 00:00 –
//!   Saturday 23:59:59.999 UTC week, written to the bucket under [`object_key`]. The report
//!   job ([`UsageReports`], hourly, one node at a time by lease) writes each past week once,
//!   from the first week starting after reporting was turned on ("the first report starts at
//!   the next Sunday midnight UTC"). `WriteUsageReport` writes one past week now (a week before
//!   reporting was turned on, or again).
//! - `GetUsageReportFigures`: the dashboard's figures over a date range.
//!
//! Meetings do not exist in Carillon yet: `meetings_attended`, `meetings_hosted` and
//! `MeetingsHeld` are 0, and "active users" are those who sent a message.
//! IAM: actions `chime:<Operation>`, resource `*` (Chime policies name no resources).

use std::time::Duration;

use carillon_adminapi::{CarillonOperation, ErrorSpec, OperationSpec, Registry};
use carillon_core::time::{millis_to_datetime, now_millis};
use carillon_core::{ApiResult, RequestContext};
use carillon_jobs::{CancellationToken, Job, JobLease, Pass, Trigger};
use carillon_store::chime::reports::{self as store, UsageReportingRecord, UsageRow};
use carillon_store::{ChimeAccountFilter, ChimeAccountRecord, StoreError};
use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::errors::{answer, bad_request, error, Result};
use crate::Chime;

/// The report's header row, verbatim (chime-ko.md §3.1).
pub const CSV_HEADER: &str = "account_name,week_start,display_name,email,registration_status,\
account_creation_date,last_login,meetings_attended,meetings_hosted,chat_sent";
/// The first segments of every report's object key.
pub const KEY_PREFIX: &str = "Amazon-Chime-User-Activity-Reports/csv";
/// Name of the report job's lease in `job_leases`.
pub const LEASE_NAME: &str = "chime-usage-reports";
/// How often the report job looks for weeks to write.
pub const JOB_INTERVAL: Duration = Duration::from_secs(60 * 60);

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// Longest figures range, in days.
const MAX_RANGE_DAYS: i64 = 366;
const REPORTING_PATH: &str = "/carillon/v1/chime/usage-reporting";

const BAD_REQUEST: ErrorSpec = ErrorSpec {
    code: "BadRequestException",
    status: 400,
    doc: "An input member is not valid; the message names it.",
};
const NOT_FOUND: ErrorSpec = ErrorSpec {
    code: "NotFoundException",
    status: 404,
    doc: "No such live Chime account in the caller's account.",
};
const CONFLICT: ErrorSpec = ErrorSpec {
    code: "ConflictException",
    status: 409,
    doc: "The bucket belongs to another account, or usage reporting is off.",
};

/// The Sunday 00:00 UTC starting the week that contains `ms` (epoch ms).
pub fn week_start(ms: i64) -> i64 {
    let days = ms.div_euclid(DAY_MS);
    // 1970-01-01 was a Thursday: four days after a Sunday.
    (days - (days + 4).rem_euclid(7)) * DAY_MS
}

/// The first week reported after reporting is turned on at `enabled_at`: the one starting at
/// the next Sunday midnight UTC (or at `enabled_at` itself when it is one).
pub fn first_week(enabled_at: i64) -> i64 {
    let start = week_start(enabled_at);
    if start == enabled_at {
        start
    } else {
        start + WEEK_MS
    }
}

fn yyyymmdd(ms: i64) -> String {
    millis_to_datetime(ms).format("%Y%m%d").to_string()
}

/// Days since the epoch of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The 00:00 UTC (epoch ms) of a date given as `yyyymmdd` or `YYYY-MM-DD` in `member`.
///
/// Errors: `BadRequestException` naming `member`.
fn parse_date(member: &str, value: &str) -> Result<i64> {
    let digits: String = match value.as_bytes() {
        [_, _, _, _, b'-', _, _, b'-', _, _] => value.replace('-', ""),
        _ => value.to_string(),
    };
    let invalid = || bad_request(format!("{member} must be a date as yyyymmdd or YYYY-MM-DD"));
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let number = |range: std::ops::Range<usize>| digits[range].parse::<i64>().unwrap_or(0);
    let ms = days_from_civil(number(0..4), number(4..6), number(6..8)) * DAY_MS;
    // A day or month out of range comes back as another date.
    if yyyymmdd(ms) != digits {
        return Err(invalid());
    }
    Ok(ms)
}

/// The account-name segment of a report's file name: the name with every character but
/// ASCII letters, digits, `-`, `_`, `.` and `~` removed (`Example Sales` → `ExampleSales`,
/// the guide's first example). Keys of these characters only need no escaping anywhere,
/// so `aws s3 cp` and every SDK fetch them as they are.
fn key_name(account_name: &str) -> String {
    account_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
        .collect()
}

/// The object key of Chime account `account`'s report for the week starting at `week` (epoch
/// ms): `Amazon-Chime-User-Activity-Reports/csv/<AWSaccountID>/<yyyy>/<mm>/<dd>/
/// <AccountName>_<AccountId>_<yyyymmdd>.csv`, the folder date and the file date both the
/// week's Sunday (chime-ko.md §3.1's recommendation).
pub fn object_key(account: &ChimeAccountRecord, week: i64) -> String {
    format!(
        "{KEY_PREFIX}/{}/{}/{}_{}_{}.csv",
        account.account_id,
        millis_to_datetime(week).format("%Y/%m/%d"),
        key_name(&account.name),
        account.chime_account_id,
        yyyymmdd(week)
    )
}

/// One CSV field: quoted (RFC 4180) when it holds a comma, a quote or a line break.
pub(crate) fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// The report CSV of Chime account `account_name` for the week starting at `week`: the
/// header, then one line per row (LF line ends).
pub fn render_csv(account_name: &str, week: i64, rows: &[UsageRow]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for row in rows {
        let last_login = row
            .last_login
            .map(|ms| {
                millis_to_datetime(ms)
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string()
            })
            .unwrap_or_default();
        let fields = [
            csv_field(account_name),
            yyyymmdd(week),
            csv_field(row.display_name.as_deref().unwrap_or_default()),
            csv_field(&row.email),
            csv_field(&row.registration_status),
            yyyymmdd(row.created_at),
            last_login,
            "0".to_string(),
            "0".to_string(),
            row.chat_sent.to_string(),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// Writes the report of `account` for the week starting at `week` to `bucket` and records
/// it; returns the object key. Users created after the week are left out.
///
/// Errors: store, key provider and blob store failures.
pub async fn write_report(
    chime: &Chime,
    account: &ChimeAccountRecord,
    bucket: &str,
    week: i64,
) -> Result<String, StoreError> {
    let rows: Vec<UsageRow> = store::usage_rows(
        &chime.store,
        &account.account_id,
        &account.chime_account_id,
        week,
        week + WEEK_MS,
    )
    .await?
    .into_iter()
    .filter(|row| row.created_at < week + WEEK_MS)
    .collect();
    let key = object_key(account, week);
    let csv = render_csv(&account.name, week, &rows);
    store::put_report_object(
        &chime.store,
        &account.account_id,
        bucket,
        &key,
        csv.as_bytes(),
    )
    .await?;
    store::record_report(
        &chime.store,
        &account.account_id,
        &account.chime_account_id,
        week,
        (bucket, &key),
        now_millis(),
    )
    .await?;
    Ok(key)
}

/// The live Chime accounts of tenant `account_id`.
async fn live_accounts(
    chime: &Chime,
    account_id: &str,
) -> Result<Vec<ChimeAccountRecord>, StoreError> {
    let mut out: Vec<ChimeAccountRecord> = Vec::new();
    loop {
        let page = chime
            .store
            .list_chime_accounts(
                account_id,
                &ChimeAccountFilter {
                    name_prefix: None,
                    after: out.last().map(|a| a.chime_account_id.clone()),
                    limit: 200,
                },
            )
            .await?;
        let done = page.len() < 200;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// Writes every week of `reporting` that ended by `now` and is not written yet, for each
/// live Chime account of the tenant (weeks that ended before an account was created are
/// skipped); returns how many reports were written. A report that fails is logged and
/// tried again at the next pass.
///
/// Errors: the tenant's accounts cannot be read.
pub async fn write_due_reports(
    chime: &Chime,
    reporting: &UsageReportingRecord,
    now: i64,
) -> Result<u64, StoreError> {
    let mut written = 0;
    for account in live_accounts(chime, &reporting.account_id).await? {
        let mut week = first_week(reporting.enabled_at);
        while week + WEEK_MS <= now {
            let due = week + WEEK_MS > account.created_at
                && !store::report_written(&chime.store, &account.chime_account_id, week).await?;
            if due {
                match write_report(chime, &account, &reporting.bucket, week).await {
                    Ok(key) => {
                        tracing::info!(bucket = reporting.bucket, key, "usage report written");
                        written += 1;
                    }
                    Err(error) => tracing::warn!(
                        chime_account_id = account.chime_account_id,
                        %error,
                        "usage report not written"
                    ),
                }
            }
            week += WEEK_MS;
        }
    }
    Ok(written)
}

/// The report job: every [`JOB_INTERVAL`] (the first pass at once), on the node holding the
/// lease [`LEASE_NAME`] (two intervals long), writes the due reports of every tenant with
/// reporting on. A pass stops where it is at shutdown: a week not yet written is written by
/// the next pass.
#[derive(Clone)]
pub struct UsageReports {
    chime: Chime,
    lease: JobLease,
}

impl UsageReports {
    /// The job of the node `chime.config().node_id`.
    pub fn new(chime: Chime) -> Self {
        let lease = JobLease::new(
            chime.store.clone(),
            LEASE_NAME,
            chime.config().node_id.clone(),
            JOB_INTERVAL * 2,
        );
        UsageReports { chime, lease }
    }
}

#[async_trait::async_trait]
impl Job for UsageReports {
    fn name(&self) -> &'static str {
        LEASE_NAME
    }

    fn trigger(&self) -> Trigger {
        Trigger::Every(JOB_INTERVAL)
    }

    fn lease(&self) -> Option<&JobLease> {
        Some(&self.lease)
    }

    async fn pass(&self, shutdown: &CancellationToken) -> Pass {
        let pass = write_all_due_reports(&self.chime);
        if let Some(Err(error)) = shutdown.run_until_cancelled(pass).await {
            tracing::warn!(%error, "usage report pass failed");
        }
        Pass::Idle
    }
}

/// One pass of the report job at the current time, the lease held: how many reports were
/// written.
///
/// Errors: the reporting settings cannot be read.
async fn write_all_due_reports(chime: &Chime) -> Result<u64, StoreError> {
    let now = now_millis();
    let mut written = 0;
    for reporting in store::all_reporting(&chime.store).await? {
        match write_due_reports(chime, &reporting, now).await {
            Ok(n) => written += n,
            Err(error) => {
                tracing::warn!(account_id = reporting.account_id, %error, "usage reports not written")
            }
        }
    }
    Ok(written)
}

/// Adds the report operations of `chime` to `registry`.
pub fn register(registry: &mut Registry, chime: &Chime) {
    registry
        .register(EnableUsageReporting(chime.clone()))
        .register(GetUsageReporting(chime.clone()))
        .register(DisableUsageReporting(chime.clone()))
        .register(WriteUsageReport(chime.clone()))
        .register(GetUsageReportFigures(chime.clone()));
}

/// Whether `name` is a bucket name the guide's form accepts (chime-ko.md §2.0.1): 3–63
/// characters of lower-case letters, digits, `.` and `-`; starting with a letter or digit;
/// not ending with `-` or `.`; no `..`, `.-` or `-.`; not shaped like an IP address.
pub fn valid_bucket(name: &str) -> bool {
    let allowed = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let starts = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ip_like = name.parse::<std::net::Ipv4Addr>().is_ok();
    (3..=63).contains(&name.len())
        && allowed
        && starts
        && !name.ends_with(['-', '.'])
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && !ip_like
}

/// Input of EnableUsageReporting.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EnableUsageReportingInput {
    /// The bucket of Carillon's S3 endpoint the reports go to: a new one (created for the
    /// caller's account) or one the account owns. 3–63 characters, see the guide's rules.
    pub bucket: String,
}

/// Input of the operations on the account-wide switch (none).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

/// The usage-reporting state of a Carillon account.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UsageReportingOutput {
    /// Whether weekly reports are written.
    pub enabled: bool,
    /// Their bucket, when on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// When reporting was turned on (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled_at: Option<String>,
    /// The Sunday (yyyymmdd) starting the first week reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_week_start: Option<String>,
}

fn rfc3339(ms: i64) -> String {
    millis_to_datetime(ms)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn reporting_output(record: Option<UsageReportingRecord>) -> UsageReportingOutput {
    match record {
        Some(r) => UsageReportingOutput {
            enabled: true,
            bucket: Some(r.bucket),
            enabled_at: Some(rfc3339(r.enabled_at)),
            first_week_start: Some(yyyymmdd(first_week(r.enabled_at))),
        },
        None => UsageReportingOutput {
            enabled: false,
            bucket: None,
            enabled_at: None,
            first_week_start: None,
        },
    }
}

/// EnableUsageReporting: turns weekly usage reports on (or moves them to another bucket).
pub struct EnableUsageReporting(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for EnableUsageReporting {
    type Input = EnableUsageReportingInput;
    type Output = UsageReportingOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "EnableUsageReporting",
            method: Method::PUT,
            path: REPORTING_PATH,
            action: "chime:EnableUsageReporting",
            resource: "*",
            summary: "Turns on the weekly Chime usage reports of the caller's account, written to a bucket of Carillon's S3 endpoint.",
            docs: "Each Chime account of the caller gets one CSV per Sunday-Saturday UTC week (header account_name,week_start,display_name,email,registration_status,account_creation_date,last_login,meetings_attended,meetings_hosted,chat_sent) under Amazon-Chime-User-Activity-Reports/csv/<AWSaccountID>/<yyyy>/<mm>/<dd>/<AccountName>_<AccountId>_<yyyymmdd>.csv. The first week reported starts at the next Sunday midnight UTC; each report is written after its week ends. A bucket nobody owns is created for the caller; another account's bucket is ConflictException. Spec: chime-ko.md §2.0.1, §3.1.",
            errors: &[BAD_REQUEST, CONFLICT],
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: EnableUsageReportingInput,
    ) -> ApiResult<UsageReportingOutput> {
        answer(async move {
        let chime = &self.0;
        if !valid_bucket(&input.bucket) {
            return Err(bad_request(
                "Bucket must be 3-63 characters of lower-case letters, numbers, periods and dashes, start with a letter or number, not end with a dash or period, have no consecutive periods or dash next to a period, and not look like an IP address",
            ));
        }
        let now = now_millis();
        let owner = chime
            .store
            .claim_s3_bucket(&input.bucket, &ctx.account_id, now)
            .await?;
        if owner != ctx.account_id {
            return Err(error(
                CONFLICT.code,
                format!("Bucket {} belongs to another account", input.bucket),
            ));
        }
        let record = UsageReportingRecord {
            account_id: ctx.account_id.clone(),
            bucket: input.bucket,
            enabled_at: now,
        };
        store::put_reporting(&chime.store, &record)
            .await?;
        Ok(reporting_output(Some(record)))
    }).await
    }
}

/// GetUsageReporting: whether weekly usage reports are on, and where they go.
pub struct GetUsageReporting(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for GetUsageReporting {
    type Input = NoInput;
    type Output = UsageReportingOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "GetUsageReporting",
            method: Method::GET,
            path: REPORTING_PATH,
            action: "chime:GetUsageReporting",
            resource: "*",
            summary: "Returns whether the caller's weekly Chime usage reports are on, their bucket and first week.",
            docs: "Spec: chime-ko.md §2.0.1.",
            errors: &[],
        }
    }

    async fn call(&self, ctx: &RequestContext, _input: NoInput) -> ApiResult<UsageReportingOutput> {
        answer(async move {
            let record = store::reporting(&self.0.store, &ctx.account_id).await?;
            Ok(reporting_output(record))
        })
        .await
    }
}

/// DisableUsageReporting: turns weekly usage reports off; reports written stay in the bucket.
pub struct DisableUsageReporting(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for DisableUsageReporting {
    type Input = NoInput;
    type Output = UsageReportingOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "DisableUsageReporting",
            method: Method::DELETE,
            path: REPORTING_PATH,
            action: "chime:DisableUsageReporting",
            resource: "*",
            summary: "Turns the caller's weekly Chime usage reports off.",
            docs: "Reports already written stay in the bucket for the customer to delete. Turning reporting off when it is off is not an error. Spec: chime-ko.md §2.0.1.",
            errors: &[],
        }
    }

    async fn call(&self, ctx: &RequestContext, _input: NoInput) -> ApiResult<UsageReportingOutput> {
        answer(async move {
            store::delete_reporting(&self.0.store, &ctx.account_id).await?;
            Ok(reporting_output(None))
        })
        .await
    }
}

/// Input of WriteUsageReport.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct WriteUsageReportInput {
    /// The Chime account.
    #[schemars(length(min = 1))]
    pub account_id: String,
    /// The Sunday starting the week, `yyyymmdd` (or `YYYY-MM-DD`); the week must have ended.
    pub week_start: String,
}

/// Where a report was written.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct WriteUsageReportOutput {
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
}

/// WriteUsageReport: writes one past week's usage report of a Chime account now.
pub struct WriteUsageReport(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for WriteUsageReport {
    type Input = WriteUsageReportInput;
    type Output = WriteUsageReportOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "WriteUsageReport",
            method: Method::POST,
            path: "/carillon/v1/chime/accounts/{AccountId}/usage-reports",
            action: "chime:WriteUsageReport",
            resource: "*",
            summary: "Writes the usage report of one past Sunday-Saturday UTC week of a Chime account to the reporting bucket now.",
            docs: "For a week before reporting was turned on, or to write a week again (the object is replaced). WeekStart must be a Sunday whose week has ended. Usage reporting must be on (ConflictException otherwise). Spec: chime-ko.md §2.0.1, §3.1.",
            errors: &[BAD_REQUEST, NOT_FOUND, CONFLICT],
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: WriteUsageReportInput,
    ) -> ApiResult<WriteUsageReportOutput> {
        answer(async move {
            let chime = &self.0;
            let week = parse_date("WeekStart", &input.week_start)?;
            if week_start(week) != week {
                return Err(bad_request("WeekStart must be a Sunday"));
            }
            if week + WEEK_MS > now_millis() {
                return Err(bad_request("WeekStart names a week that has not ended yet"));
            }
            let account = chime.live_account(ctx, &input.account_id).await?;
            let reporting = store::reporting(&chime.store, &ctx.account_id)
                .await?
                .ok_or_else(|| {
                    error(
                        CONFLICT.code,
                        "Usage reporting is off; turn it on with EnableUsageReporting first",
                    )
                })?;
            let key = write_report(chime, &account, &reporting.bucket, week).await?;
            Ok(WriteUsageReportOutput {
                bucket: reporting.bucket,
                key,
            })
        })
        .await
    }
}

/// Input of GetUsageReportFigures.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UsageReportFiguresInput {
    /// The Chime account.
    #[schemars(length(min = 1))]
    pub account_id: String,
    /// First day (UTC) of the range, `YYYY-MM-DD` or `yyyymmdd`; default 29 days before
    /// `EndDate` (30 days in all).
    #[serde(default)]
    pub start_date: Option<String>,
    /// Last day (UTC) of the range, included; default today. At most 366 days in all.
    #[serde(default)]
    pub end_date: Option<String>,
}

/// The dashboard figures of a Chime account over a date range (chime-zh.md §2.17).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UsageReportFiguresOutput {
    /// The Chime account.
    pub account_id: String,
    /// First day of the range (`YYYY-MM-DD`, UTC).
    pub start_date: String,
    /// Last day of the range, included.
    pub end_date: String,
    /// Users registered (or since suspended) by the end of the range.
    pub registered_users: i64,
    /// Users active in the range: who sent a chat message (meetings do not exist yet).
    pub active_users: i64,
    /// Chat messages (rooms, 1:1 and group conversations) the account's users sent in the
    /// range.
    pub chat_messages_sent: i64,
    /// Meetings held: always 0, Carillon has no meetings yet.
    pub meetings_held: i64,
}

/// GetUsageReportFigures: the usage dashboard's figures of a Chime account.
pub struct GetUsageReportFigures(pub Chime);

#[async_trait::async_trait]
impl CarillonOperation for GetUsageReportFigures {
    type Input = UsageReportFiguresInput;
    type Output = UsageReportFiguresOutput;

    fn spec(&self) -> OperationSpec {
        OperationSpec {
            name: "GetUsageReportFigures",
            method: Method::POST,
            path: "/carillon/v1/chime/accounts/{AccountId}/usage-report-figures",
            action: "chime:GetUsageReportFigures",
            resource: "*",
            summary: "Returns the usage dashboard's figures of a Chime account over a UTC date range: registered users, active users, chat messages sent.",
            docs: "Counted from live data when asked (no 48-hour delay). Meetings do not exist in Carillon: MeetingsHeld is 0, meeting satisfaction is not given, and active users are those who sent a message. Messages purged by retention or with their room are no longer counted. Spec: chime-zh.md §2.17, chime-ko.md §2.7.",
            errors: &[BAD_REQUEST, NOT_FOUND],
        }
    }

    async fn call(
        &self,
        ctx: &RequestContext,
        input: UsageReportFiguresInput,
    ) -> ApiResult<UsageReportFiguresOutput> {
        answer(async move {
            let chime = &self.0;
            let end = match &input.end_date {
                Some(date) => parse_date("EndDate", date)?,
                None => now_millis().div_euclid(DAY_MS) * DAY_MS,
            };
            let start = match &input.start_date {
                Some(date) => parse_date("StartDate", date)?,
                None => end - 29 * DAY_MS,
            };
            if start > end {
                return Err(bad_request("StartDate must not be after EndDate"));
            }
            if (end - start) / DAY_MS + 1 > MAX_RANGE_DAYS {
                return Err(bad_request(format!(
                    "The range from StartDate to EndDate must be at most {MAX_RANGE_DAYS} days"
                )));
            }
            let account = chime.live_account(ctx, &input.account_id).await?;
            let figures = store::figures(
                &chime.store,
                &ctx.account_id,
                &account.chime_account_id,
                start,
                end + DAY_MS,
            )
            .await?;
            let date = |ms: i64| millis_to_datetime(ms).format("%Y-%m-%d").to_string();
            Ok(UsageReportFiguresOutput {
                account_id: account.chime_account_id,
                start_date: date(start),
                end_date: date(end),
                registered_users: figures.registered_users,
                active_users: figures.active_users,
                chat_messages_sent: figures.chat_messages_sent,
                meetings_held: 0,
            })
        })
        .await
    }
}
